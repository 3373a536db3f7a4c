//! Practitioner, PractitionerRole and Patient, from the directory.

use serde_json::Value;
use uuid::Uuid;

use super::{searching::Search, Caller};
use crate::{
    api::Call,
    domain::{
        bundle::Page,
        ids::{referenced, uuid_of},
        models::{PatientSummary, Provider},
        outcome::Outcome,
        people::{self, identifier_value},
        scheduling::{practitioner, practitioner_role},
    },
    AppState,
};

async fn provider(state: &AppState, caller: &Caller, id: Uuid) -> Result<Provider, Outcome> {
    state
        .api
        .read(Call::get(format!("/api/v1/providers/{id}")), &caller.origin)
        .await
}

fn id_or_404(id: &str, what: &str) -> Result<Uuid, Outcome> {
    uuid_of(id).ok_or_else(|| Outcome::not_found(what))
}

pub async fn read_practitioner(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Value, Outcome> {
    let id = id_or_404(id, "Practitioner")?;
    Ok(practitioner(&provider(state, caller, id).await?))
}

pub async fn read_role(state: &AppState, caller: &Caller, id: &str) -> Result<Value, Outcome> {
    let id = id_or_404(id, "PractitionerRole")?;
    Ok(practitioner_role(&provider(state, caller, id).await?))
}

/// Providers by name words, specialty or id, keyset-paged like the directory.
async fn providers(
    ctx: &Search<'_>,
    id: Option<Uuid>,
) -> Result<(Vec<Provider>, Option<String>, Option<usize>), Outcome> {
    if let Some(id) = id {
        return match provider(ctx.state, ctx.caller, id).await {
            Ok(p) => Ok((vec![p], None, Some(1))),
            Err(o) if o.status == 404 => Ok((Vec::new(), None, Some(0))),
            Err(o) => Err(o),
        };
    }
    let q = ctx.one("name")?.map(str::to_owned);
    let specialty = ctx.one("specialty")?.map(str::to_owned);
    ctx.rest_page(|limit, cursor| {
        Call::get("/api/v1/providers")
            .query("q", q.clone())
            .query("specialty", specialty.clone())
            .query("limit", Some(limit))
            .query("cursor", cursor)
    })
    .await
}

pub async fn search_practitioners(ctx: Search<'_>) -> Result<Value, Outcome> {
    let id = match ctx.one("_id")? {
        Some(v) => {
            Some(uuid_of(v).ok_or_else(|| Outcome::invalid("`_id` must be a Practitioner id"))?)
        }
        None => None,
    };
    let (items, next_cursor, total) = providers(&ctx, id).await?;
    Ok(ctx.bundle(
        &["_id", "name"],
        Page {
            resources: items.iter().map(practitioner).collect(),
            total,
            next_cursor,
        },
    ))
}

pub async fn search_roles(ctx: Search<'_>) -> Result<Value, Outcome> {
    let id = match ctx.one("practitioner")? {
        Some(v) => Some(referenced(v, "Practitioner").ok_or_else(|| {
            Outcome::invalid("`practitioner` must reference a Practitioner (`Practitioner/{id}`)")
        })?),
        None => None,
    };
    let (items, next_cursor, total) = providers(&ctx, id).await?;
    Ok(ctx.bundle(
        &["practitioner", "specialty"],
        Page {
            resources: items.iter().map(practitioner_role).collect(),
            total,
            next_cursor,
        },
    ))
}

async fn summary(state: &AppState, caller: &Caller, id: Uuid) -> Result<PatientSummary, Outcome> {
    state
        .api
        .read(
            Call::get(format!("/api/v1/patients/{id}/summary")),
            &caller.origin,
        )
        .await
}

pub async fn read_patient(state: &AppState, caller: &Caller, id: &str) -> Result<Value, Outcome> {
    let id = id_or_404(id, "Patient")?;
    Ok(people::patient(&summary(state, caller, id).await?))
}

/// By id or identifier (whoever the directory lets read that patient), by
/// name (staff among everyone, providers among their care); a patient with
/// neither finds themselves.
pub async fn search_patients(ctx: Search<'_>) -> Result<Value, Outcome> {
    let by_id = match (ctx.one("_id")?, ctx.one("identifier")?) {
        (Some(v), _) => {
            Some(uuid_of(v).ok_or_else(|| Outcome::invalid("`_id` must be a Patient id"))?)
        }
        (None, Some(v)) => Some(identifier_value(v).ok_or_else(|| {
            Outcome::invalid(format!(
                "`identifier` must be `{}|{{id}}` or a Patient id",
                people::PATIENT_ID_SYSTEM
            ))
        })?),
        (None, None) => None,
    };
    let name = ctx.one("name")?.map(str::to_owned);
    let by_id = by_id.or(match (&name, ctx.caller.patient_id()) {
        (None, Some(me)) => Some(me),
        _ => None,
    });
    let (items, next_cursor, total) = match (by_id, name) {
        (Some(id), _) => match summary(ctx.state, ctx.caller, id).await {
            Ok(p) => (vec![p], None, Some(1)),
            Err(o) if o.status == 404 => (Vec::new(), None, Some(0)),
            Err(o) => return Err(o),
        },
        (None, Some(name)) => {
            ctx.rest_page(|limit, cursor| {
                Call::get("/api/v1/patients")
                    .query("q", Some(name.clone()))
                    .query("limit", Some(limit))
                    .query("cursor", cursor)
            })
            .await?
        }
        (None, None) => {
            return Err(Outcome::invalid(
                "search patients by `name`, `identifier` or `_id`",
            ))
        }
    };
    Ok(ctx.bundle(
        &["_id", "identifier", "name"],
        Page {
            resources: items.iter().map(people::patient).collect(),
            total,
            next_cursor,
        },
    ))
}
