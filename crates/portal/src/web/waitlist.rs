//! The waitlist: patients join it for an appointment type (with one provider
//! or any of the specialty, between two dates, on chosen weekdays and hours),
//! see their entries and leave; the front desk sees the clinic's list in the
//! order offers go out and sets priorities. When a matching time opens the
//! API holds it for the first entry and emails a one-click link, whose page
//! ([`offer`], [`claim`]) books it; the same slot can also be booked from the
//! waitlist page through its hold.

use std::collections::HashMap;

use axum::{http::StatusCode, response::Response};
use chrono::Duration;
use chrono_tz::Tz;
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    error::safe_next,
    patient::{zone_of, Directory, TypeView},
    see_other,
    visits::Patients,
    CallError, Ctx, Form, PageError, Path, Query,
};
use crate::{
    api::{
        models::{
            AppointmentType, EntryStatus, Page, Provider, WaitlistEntry, WaitlistJoin,
            WaitlistPriority,
        },
        ApiRequest,
    },
    domain::{
        feedback::{self, Feedback},
        link_token::LinkToken,
        time::{self, Zones},
        waitlist::{self, JoinForm, Scope, WEEKDAYS},
    },
    session::Flash,
};

/// The API's field names, as the join form names them.
const JOIN_FIELDS: &[&str] = &["earliest", "latest", "day", "from", "to", "scope"];

/// Where each entry's appointment type lives: its provider's list (for an
/// entry "any provider of a specialty", one of that specialty's providers).
#[derive(Default)]
struct Kinds {
    dir: Directory,
    by_specialty: HashMap<String, Vec<Provider>>,
}

impl Kinds {
    /// The entry's appointment type and the provider who offers it.
    async fn of(
        &mut self,
        ctx: &mut Ctx,
        e: &WaitlistEntry,
    ) -> Result<Option<(AppointmentType, Provider)>, CallError> {
        let candidates = match (&e.provider_id, &e.specialty) {
            (Some(p), _) => self.dir.provider(ctx, *p).await?.into_iter().collect(),
            (None, Some(s)) => self.specialty(ctx, s).await?,
            (None, None) => Vec::new(),
        };
        for p in candidates {
            if let Some(t) = self.dir.type_of(ctx, p.id, e.appointment_type_id).await? {
                return Ok(Some((t, p)));
            }
        }
        Ok(None)
    }

    async fn specialty(&mut self, ctx: &mut Ctx, s: &str) -> Result<Vec<Provider>, CallError> {
        if let Some(known) = self.by_specialty.get(s) {
            return Ok(known.clone());
        }
        let page: Page<Provider> = ctx
            .call(
                ApiRequest::get("/api/v1/providers")
                    .query("specialty", s)
                    .query("limit", 100),
            )
            .await?;
        self.by_specialty.insert(s.to_owned(), page.items.clone());
        Ok(page.items)
    }
}

/// A slot held for an entry now.
#[derive(Serialize)]
struct OfferView {
    hold_id: Uuid,
    when: String,
    provider: String,
    /// "10:42 CEST": until when it is held.
    until: String,
}

/// One entry as the pages show it.
#[derive(Serialize)]
struct EntryView {
    id: Uuid,
    kind: String,
    /// "Dr. Lena Vogel", or "Any Family medicine provider".
    whom: String,
    range: String,
    days: String,
    hours: String,
    status: EntryStatus,
    status_label: &'static str,
    active: bool,
    priority: i32,
    offer: Option<OfferView>,
    /// Staff's list only.
    patient: Option<String>,
}

async fn entry_view(
    ctx: &mut Ctx,
    kinds: &mut Kinds,
    e: &WaitlistEntry,
) -> Result<EntryView, CallError> {
    let home = kinds.of(ctx, e).await?;
    let zone = home.as_ref().map(|(_, p)| zone_of(p)).unwrap_or(Tz::UTC);
    let whom = match (&e.specialty, &home) {
        (Some(s), _) => format!("Any {s} provider"),
        (None, Some((_, p))) => p.name.clone(),
        (None, None) => "Unknown provider".to_owned(),
    };
    let offer = match &e.offer {
        Some(o) => {
            let provider = kinds.dir.provider(ctx, o.provider_id).await?;
            let offer_zone = provider.as_ref().map(zone_of).unwrap_or(zone);
            let viewer = ctx.visit.viewer_tz.unwrap_or(offer_zone);
            Some(OfferView {
                hold_id: o.hold_id,
                when: time::date_time(o.start, offer_zone),
                provider: provider
                    .map(|p| p.name)
                    .unwrap_or_else(|| "Unknown provider".to_owned()),
                until: format!(
                    "{} {}",
                    time::clock(o.expires_at, viewer),
                    o.expires_at.with_timezone(&viewer).format("%Z")
                ),
            })
        }
        None => None,
    };
    Ok(EntryView {
        id: e.id,
        kind: home
            .as_ref()
            .map(|(t, _)| t.name.clone())
            .unwrap_or_else(|| "Appointment".to_owned()),
        whom,
        range: waitlist::range_text(e.earliest, e.latest, zone),
        days: waitlist::days_text(&e.weekdays),
        hours: waitlist::window_text(e.time_of_day.as_ref()),
        status: e.status,
        status_label: e.status.label(),
        active: e.status.is_active(),
        priority: e.priority,
        offer,
        patient: None,
    })
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    provider_id: String,
}

/// `GET /waitlist`: a patient's own entries; the front desk's view of the clinic's.
pub async fn list(mut ctx: Ctx, Query(q): Query<ListQuery>) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient, Role::Staff, Role::Admin])?;
    if ctx.user.role == Role::Patient {
        mine(&mut ctx, Feedback::default(), StatusCode::OK).await
    } else {
        clinic(&mut ctx, &q, Feedback::default(), StatusCode::OK).await
    }
}

async fn mine(
    ctx: &mut Ctx,
    feedback: Feedback,
    status: StatusCode,
) -> Result<Response, PageError> {
    let page: Page<WaitlistEntry> = ctx
        .call(ApiRequest::get("/api/v1/waitlist").query("limit", 100))
        .await?;
    let mut kinds = Kinds::default();
    let (mut active, mut done) = (Vec::new(), Vec::new());
    for e in &page.items {
        let view = entry_view(ctx, &mut kinds, e).await?;
        if view.active {
            active.push(view);
        } else {
            done.push(view);
        }
    }
    done.reverse();
    Ok(ctx.render_with(
        status,
        "waitlist/mine.html",
        crate::page! { active, done, feedback },
    ))
}

async fn clinic(
    ctx: &mut Ctx,
    q: &ListQuery,
    feedback: Feedback,
    status: StatusCode,
) -> Result<Response, PageError> {
    // Without a choice: the entries still waiting, in the order offers go out.
    let wanted = match q.status.as_str() {
        "all" => None,
        s => Some(EntryStatus::parse(s).unwrap_or(EntryStatus::Waiting)),
    };
    let provider = q.provider_id.trim().parse::<Uuid>().ok();
    let mut req = ApiRequest::get("/api/v1/waitlist").query("limit", 100);
    if let Some(s) = wanted {
        req = req.query("status", s.as_str());
    }
    if let Some(p) = provider {
        req = req.query("provider_id", p);
    }
    let mut page: Page<WaitlistEntry> = ctx.call(req).await?;
    waitlist::rank(&mut page.items);
    let mut kinds = Kinds::default();
    let mut patients = Patients::default();
    let mut entries = Vec::new();
    for e in &page.items {
        let mut view = entry_view(ctx, &mut kinds, e).await?;
        view.patient = Some(patients.name(ctx, e.patient_id).await?);
        entries.push(view);
    }
    let providers: Page<Provider> = ctx
        .call(ApiRequest::get("/api/v1/providers").query("limit", 100))
        .await?;
    let provider_choices: Vec<(String, String)> = providers
        .items
        .iter()
        .map(|p| (p.id.to_string(), format!("{} ({})", p.name, p.specialty)))
        .collect();
    let status_choices: Vec<(&str, &str)> = EntryStatus::ALL
        .iter()
        .map(|s| (s.as_str(), s.label()))
        .chain([("all", "All")])
        .collect();
    let here = back_to_list(&ctx.visit.path);
    Ok(ctx.render_with(
        status,
        "waitlist/clinic.html",
        crate::page! {
            entries, feedback, here,
            providers => provider_choices,
            statuses => status_choices,
            status => wanted.map_or("all", EntryStatus::as_str),
            provider_id => provider.map(|p| p.to_string()).unwrap_or_default(),
            more => page.next_cursor.is_some(),
        },
    ))
}

/// The clinic's list (with its filters) to come back to: only ever `/waitlist…`.
fn back_to_list(raw: &str) -> String {
    safe_next(Some(raw))
        .filter(|p| p == "/waitlist" || p.starts_with("/waitlist?"))
        .unwrap_or_else(|| "/waitlist".to_owned())
}

#[derive(Deserialize)]
pub struct JoinQuery {
    provider_id: Uuid,
    type_id: Uuid,
}

/// The join form's values, as typed (or as first offered).
#[derive(Serialize)]
struct JoinValues {
    scope: String,
    earliest: String,
    latest: String,
    days: Vec<String>,
    from: String,
    to: String,
}

async fn join_page(
    ctx: &mut Ctx,
    (provider_id, type_id): (Uuid, Uuid),
    values: JoinValues,
    feedback: Feedback,
    status: StatusCode,
) -> Result<Response, PageError> {
    let mut dir = Directory::default();
    let provider = dir
        .provider(ctx, provider_id)
        .await?
        .ok_or(PageError::NotFound)?;
    let kind = dir
        .type_of(ctx, provider_id, type_id)
        .await?
        .ok_or(PageError::NotFound)?;
    let weekdays: Vec<(&str, &str)> = WEEKDAYS.to_vec();
    let zone = zone_of(&provider).name();
    Ok(ctx.render_with(
        status,
        "waitlist/join.html",
        crate::page! {
            values, feedback, weekdays,
            provider_id, provider => provider.name,
            specialty => provider.specialty,
            zone,
            kind => TypeView::from(&kind),
        },
    ))
}

/// `GET /waitlist/join?provider_id=…&type_id=…`: the form, from a booking page.
pub async fn join_form(mut ctx: Ctx, Query(q): Query<JoinQuery>) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    let provider = Directory::default()
        .provider(&mut ctx, q.provider_id)
        .await?
        .ok_or(PageError::NotFound)?;
    let today = time::today(ctx.now(), zone_of(&provider));
    let values = JoinValues {
        scope: "provider".to_owned(),
        earliest: today.format("%Y-%m-%d").to_string(),
        latest: (today + Duration::days(30)).format("%Y-%m-%d").to_string(),
        days: Vec::new(),
        from: String::new(),
        to: String::new(),
    };
    join_page(
        &mut ctx,
        (q.provider_id, q.type_id),
        values,
        Feedback::default(),
        StatusCode::OK,
    )
    .await
}

/// `POST /waitlist`: join.
pub async fn join(
    mut ctx: Ctx,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.trim().parse::<Uuid>().ok())
    };
    let (Some(provider_id), Some(type_id)) = (field("provider_id"), field("appointment_type_id"))
    else {
        return Err(PageError::BadRequest);
    };
    let form = JoinForm::from_pairs(&pairs);
    let values = JoinValues {
        scope: form.scope.clone(),
        earliest: form.earliest.clone(),
        latest: form.latest.clone(),
        days: form.days.clone(),
        from: form.from.clone(),
        to: form.to.clone(),
    };
    let provider = Directory::default()
        .provider(&mut ctx, provider_id)
        .await?
        .ok_or(PageError::NotFound)?;
    let zone = zone_of(&provider);
    let join = match waitlist::read(&form, zone, time::today(ctx.now(), zone)) {
        Ok(join) => join,
        Err(fb) => {
            return join_page(
                &mut ctx,
                (provider_id, type_id),
                values,
                fb,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };
    let body = WaitlistJoin {
        appointment_type_id: type_id,
        provider_id: (join.scope == Scope::Provider).then_some(provider_id),
        specialty: (join.scope == Scope::Specialty).then_some(provider.specialty.as_str()),
        earliest: join.earliest,
        latest: join.latest,
        weekdays: join.weekdays,
        time_of_day: join.time_of_day,
    };
    match ctx
        .call::<WaitlistEntry>(ApiRequest::post("/api/v1/waitlist", &body))
        .await
    {
        Ok(_) => {
            ctx.flash(Flash::success(
                "You are on the waitlist. When a matching time opens, we hold it for you and email you a link to book it.",
            ))
            .await?;
            Ok(see_other("/waitlist"))
        }
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && s.as_u16() != 401) =>
        {
            let status = e.status().unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let fb = feedback::from_api_mapped(&e, |path| {
                let name = match path {
                    "weekdays" => "day",
                    "time_of_day" => "from",
                    "specialty" | "provider_id" => "scope",
                    other => other,
                };
                JOIN_FIELDS.contains(&name).then(|| name.to_owned())
            });
            join_page(&mut ctx, (provider_id, type_id), values, fb, status).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /waitlist/{id}/leave`.
pub async fn leave(mut ctx: Ctx, Path(id): Path<Uuid>) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient, Role::Staff, Role::Admin])?;
    ctx.call_for_effect(ApiRequest::delete(format!("/api/v1/waitlist/{id}")))
        .await?;
    let text = if ctx.user.role == Role::Patient {
        "You have left the waitlist for that appointment."
    } else {
        "The patient was taken off the waitlist."
    };
    ctx.flash(Flash::success(text)).await?;
    Ok(see_other("/waitlist"))
}

#[derive(Deserialize)]
pub struct PriorityForm {
    #[serde(default)]
    priority: String,
    /// The list's page (with its filters), to come back to.
    #[serde(default)]
    back: String,
}

/// `POST /waitlist/{id}/priority`: staff move an entry up or down the list.
pub async fn set_priority(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<PriorityForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff, Role::Admin])?;
    let back = back_to_list(&form.back);
    let fb = match waitlist::priority(&form.priority) {
        Err(why) => Feedback::message(format!("Priority not changed: {why}")),
        Ok(priority) => {
            let req = ApiRequest::patch(
                format!("/api/v1/waitlist/{id}"),
                &WaitlistPriority { priority },
            );
            match ctx.call::<WaitlistEntry>(req).await {
                Ok(_) => {
                    ctx.flash(Flash::success(format!("Priority set to {priority}.")))
                        .await?;
                    return Ok(see_other(&back));
                }
                Err(CallError::Api(e))
                    if e.status()
                        .is_some_and(|s| s.is_client_error() && s.as_u16() != 401) =>
                {
                    feedback::from_api(&e).for_form(&[])
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let q = ListQuery {
        status: String::new(),
        provider_id: String::new(),
    };
    clinic(&mut ctx, &q, fb, StatusCode::UNPROCESSABLE_ENTITY).await
}

/// The offered slots of the signed-in patient, for the offer page.
async fn open_offers(ctx: &mut Ctx) -> Result<Vec<EntryView>, CallError> {
    let page: Page<WaitlistEntry> = ctx
        .call(
            ApiRequest::get("/api/v1/waitlist")
                .query("status", EntryStatus::Offered.as_str())
                .query("limit", 100),
        )
        .await?;
    let mut kinds = Kinds::default();
    let mut shown = Vec::new();
    for e in page.items.iter().filter(|e| e.offer.is_some()) {
        shown.push(entry_view(ctx, &mut kinds, e).await?);
    }
    Ok(shown)
}

async fn offer_page(
    ctx: &mut Ctx,
    token: &LinkToken,
    feedback: Feedback,
    status: StatusCode,
) -> Result<Response, PageError> {
    let offers = open_offers(ctx).await?;
    Ok(ctx.render_with(
        status,
        "waitlist/offer.html",
        crate::page! {
            offers, feedback,
            action => format!("/waitlist/offers/{}", token.as_str()),
        },
    ))
}

/// `GET /waitlist/offers/{token}`: the "A slot opened" email's link. Shows the
/// slot held for the patient and a button that books it; opening it spends
/// nothing (mail scanners open links too). Not signed in: log in, then back here.
pub async fn offer(mut ctx: Ctx, Path(raw): Path<String>) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    let token = LinkToken::parse(&raw).ok_or(PageError::NotFound)?;
    offer_page(&mut ctx, &token, Feedback::default(), StatusCode::OK).await
}

/// `POST /waitlist/offers/{token}`: "Book this slot".
pub async fn claim(mut ctx: Ctx, Path(raw): Path<String>) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    let token = LinkToken::parse(&raw).ok_or(PageError::NotFound)?;
    let req = ApiRequest::post(
        format!("/api/v1/waitlist/offers/{}/claim", token.as_str()),
        &serde_json::json!({}),
    );
    match ctx.call::<crate::api::models::Appointment>(req).await {
        Ok(a) => {
            let provider = Directory::default()
                .provider(&mut ctx, a.provider_id)
                .await?;
            let zone = provider.as_ref().map(zone_of).unwrap_or(Tz::UTC);
            let when = time::when(a.start, a.end, Zones::new(zone, None)).local;
            ctx.flash(Flash::success(format!(
                "Booked: {when}. You are off the waitlist for it, and a confirmation email is on its way."
            )))
            .await?;
            Ok(see_other(&format!("/appointments/{}", a.id)))
        }
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && s.as_u16() != 401) =>
        {
            let status = e.status().unwrap_or(StatusCode::CONFLICT);
            offer_page(
                &mut ctx,
                &token,
                feedback::from_api(&e).for_form(&[]),
                status,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
