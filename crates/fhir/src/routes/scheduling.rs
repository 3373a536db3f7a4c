//! Schedule and Slot: a provider's appointment types and the free times the
//! scheduling service computes (never stored twice).

use chrono::{Duration, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{searching::Search, Caller};
use crate::{
    api::Call,
    domain::{
        bundle::Page,
        ids::{referenced, uuid_of, SlotId},
        models::{AppointmentType, Provider, RestPage, Slot},
        outcome::Outcome,
        scheduling::{schedule, slot, SERVICE_TYPE_SYSTEM},
        search::Range,
    },
    AppState,
};

/// The longest stretch one slot search covers (the REST API's limit).
const MAX_SLOT_DAYS: i64 = 31;
/// What a slot search without `start` covers.
const DEFAULT_SLOT_DAYS: i64 = 7;

pub async fn appointment_type(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<AppointmentType, Outcome> {
    state
        .api
        .read(
            Call::get(format!("/api/v1/appointment-types/{id}")),
            &caller.origin,
        )
        .await
}

async fn provider_types(
    state: &AppState,
    caller: &Caller,
    provider: Uuid,
) -> Result<Vec<AppointmentType>, Outcome> {
    let page: RestPage<AppointmentType> = state
        .api
        .read(
            Call::get(format!("/api/v1/providers/{provider}/appointment-types")),
            &caller.origin,
        )
        .await?;
    Ok(page.items)
}

async fn zone_of(state: &AppState, caller: &Caller, provider: Uuid) -> Result<String, Outcome> {
    let p: Provider = state
        .api
        .read(
            Call::get(format!("/api/v1/providers/{provider}")),
            &caller.origin,
        )
        .await?;
    Ok(p.time_zone)
}

pub async fn read_schedule(state: &AppState, caller: &Caller, id: &str) -> Result<Value, Outcome> {
    let id = uuid_of(id).ok_or_else(|| Outcome::not_found("Schedule"))?;
    let t = appointment_type(state, caller, id).await?;
    let zone = zone_of(state, caller, t.provider_id).await?;
    Ok(schedule(&t, &zone, Utc::now()))
}

/// `service-type` codes (our system, or no system) as type ids.
fn service_types(ctx: &Search<'_>) -> Result<Option<Vec<Uuid>>, Outcome> {
    let values = ctx.params.all("service-type");
    if values.is_empty() {
        return Ok(None);
    }
    values
        .iter()
        .map(|v| {
            let code = match v.split_once('|') {
                Some((system, code)) if system.is_empty() || system == SERVICE_TYPE_SYSTEM => code,
                Some(_) => return Ok(None),
                None => v,
            };
            Ok(Uuid::try_parse(code).ok())
        })
        .collect::<Result<Vec<_>, Outcome>>()
        .map(|ids| Some(ids.into_iter().flatten().collect()))
}

fn keep(types: Vec<AppointmentType>, wanted: &Option<Vec<Uuid>>) -> Vec<AppointmentType> {
    match wanted {
        Some(ids) => types.into_iter().filter(|t| ids.contains(&t.id)).collect(),
        None => types,
    }
}

pub async fn search_schedules(ctx: Search<'_>) -> Result<Value, Outcome> {
    let actor = ctx
        .one("actor")?
        .ok_or_else(|| Outcome::invalid("search schedules by `actor` (`Practitioner/{id}`)"))?;
    let provider = referenced(actor, "Practitioner")
        .or_else(|| referenced(actor, "PractitionerRole"))
        .ok_or_else(|| Outcome::invalid("`actor` must reference a Practitioner"))?;
    let wanted = service_types(&ctx)?;
    let types = keep(
        provider_types(ctx.state, ctx.caller, provider).await?,
        &wanted,
    );
    let zone = if types.is_empty() {
        String::new()
    } else {
        zone_of(ctx.state, ctx.caller, provider).await?
    };
    let now = Utc::now();
    let resources: Vec<Value> = types.iter().map(|t| schedule(t, &zone, now)).collect();
    let page = paged(resources, &ctx, |r| {
        r["id"].as_str().unwrap_or_default().to_owned()
    });
    Ok(ctx.bundle(&["actor", "service-type"], page))
}

/// Page a list computed whole: sorted by `key`, the cursor is the last key shown.
fn paged(mut resources: Vec<Value>, ctx: &Search<'_>, key: impl Fn(&Value) -> String) -> Page {
    resources.sort_by_key(&key);
    let total = resources.len();
    let after = ctx.params.cursor().map(str::to_owned);
    let rest: Vec<Value> = resources
        .into_iter()
        .filter(|r| after.as_ref().is_none_or(|a| key(r) > *a))
        .collect();
    let more = rest.len() > ctx.count;
    let shown: Vec<Value> = rest.into_iter().take(ctx.count).collect();
    let next_cursor = more.then(|| shown.last().map(&key)).flatten();
    Page {
        resources: shown,
        total: Some(total),
        next_cursor,
    }
}

/// The free slots of `t` starting in `range`.
async fn free_slots(
    state: &AppState,
    caller: &Caller,
    t: &AppointmentType,
    range: Range,
) -> Result<Vec<Slot>, Outcome> {
    let (Some(from), Some(to)) = (range.from, range.to) else {
        return Ok(Vec::new());
    };
    let page: RestPage<Slot> = state
        .api
        .read(
            Call::get(format!("/api/v1/providers/{}/slots", t.provider_id))
                .query("appointment_type_id", Some(t.id))
                .query("from", Some(from.to_rfc3339()))
                .query("to", Some(to.to_rfc3339())),
            &caller.origin,
        )
        .await?;
    Ok(page.items)
}

pub async fn search_slots(ctx: Search<'_>) -> Result<Value, Outcome> {
    let wanted = service_types(&ctx)?;
    let types = match (ctx.one("schedule")?, ctx.one("schedule.actor")?) {
        (Some(schedule), _) => {
            let id = referenced(schedule, "Schedule")
                .ok_or_else(|| Outcome::invalid("`schedule` must reference a Schedule"))?;
            match appointment_type(ctx.state, ctx.caller, id).await {
                Ok(t) => vec![t],
                Err(o) if o.status == 404 => Vec::new(),
                Err(o) => return Err(o),
            }
        }
        (None, Some(actor)) => {
            let provider = referenced(actor, "Practitioner").ok_or_else(|| {
                Outcome::invalid("`schedule.actor` must reference a Practitioner")
            })?;
            provider_types(ctx.state, ctx.caller, provider).await?
        }
        (None, None) => {
            return Err(Outcome::invalid(
                "search slots by `schedule` or `schedule.actor`",
            ))
        }
    };
    let types = keep(types, &wanted);
    let now = Utc::now();
    let mut range = Range::of(&ctx.params.all("start")).map_err(Outcome::invalid)?;
    let from = *range.from.get_or_insert(now);
    let to = *range
        .to
        .get_or_insert(from + Duration::days(DEFAULT_SLOT_DAYS));
    if to - from > Duration::days(MAX_SLOT_DAYS) {
        return Err(Outcome::new(
            413,
            format!("search at most {MAX_SLOT_DAYS} days of slots at a time"),
        ));
    }
    // Only free slots exist here; asking for busy ones finds none.
    let free_wanted = ctx.params.all("status").iter().all(|s| *s == "free");
    let mut resources = Vec::new();
    if free_wanted && !range.is_empty() {
        for t in &types {
            for s in free_slots(ctx.state, ctx.caller, t, range).await? {
                resources.push(slot(t, s.start, s.end));
            }
        }
    }
    // Sorted by start, then type: the slot id's parts in that order.
    let page = paged(resources, &ctx, |r| {
        let id = r["id"].as_str().and_then(SlotId::parse);
        id.map(|s| format!("{:012}.{}", s.start.timestamp(), s.type_id.simple()))
            .unwrap_or_default()
    });
    Ok(ctx.bundle(
        &[
            "schedule",
            "schedule.actor",
            "start",
            "service-type",
            "status",
        ],
        page,
    ))
}

pub async fn read_slot(state: &AppState, caller: &Caller, id: &str) -> Result<Value, Outcome> {
    let id = SlotId::parse(id).ok_or_else(|| Outcome::not_found("Slot"))?;
    let t = match appointment_type(state, caller, id.type_id).await {
        Err(o) if o.status == 404 => return Err(Outcome::not_found("Slot")),
        other => other?,
    };
    let range = Range {
        from: Some(id.start),
        to: Some(id.start + Duration::minutes(1)),
    };
    free_slots(state, caller, &t, range)
        .await?
        .into_iter()
        .find(|s| s.start == id.start)
        .map(|s| slot(&t, s.start, s.end))
        .ok_or_else(|| Outcome::new(404, "That slot is not free (or never was)."))
}
