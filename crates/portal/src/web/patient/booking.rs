//! The week of free slots for one appointment type, and booking one of them
//! with a single click (a form per slot, each with its own Idempotency-Key so
//! a double click or a retried POST books once).

use axum::{http::StatusCode, response::Response};
use chrono::{DateTime, Duration, Utc};
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{zone_of, Directory, TypeView};
use crate::{
    api::{
        models::{Appointment, Booking, Page, Provider, Slot},
        ApiRequest,
    },
    domain::{
        feedback::{self, Feedback},
        time::{self, Zones},
        week::{self, DayColumn, Week},
    },
    session::Flash,
    web::{see_other, CallError, Ctx, Form, PageError, Path, Query},
};

#[derive(Deserialize)]
pub struct WeekQuery {
    week: Option<String>,
}

/// A week of free slots, ready for `week.html`.
#[derive(Serialize)]
pub(crate) struct SlotWeek {
    title: String,
    days: Vec<DayColumn>,
    /// Links to the neighbouring weeks (none before this week or past the horizon).
    previous: Option<String>,
    next: Option<String>,
    provider_zone: String,
    viewer_zone: String,
    two_clocks: bool,
    empty: bool,
    /// A fresh Idempotency-Key per slot button, keyed by the slot's start.
    keys: std::collections::BTreeMap<String, String>,
}

/// Free slots of `type_id` with `provider` in the week `week_param` names;
/// `base` is the page's path, to which `?week=` is added for the neighbours.
pub(crate) async fn slot_week(
    ctx: &mut Ctx,
    provider: &Provider,
    type_id: Uuid,
    horizon_days: i32,
    week_param: Option<&str>,
    base: &str,
) -> Result<SlotWeek, CallError> {
    let zones = Zones::new(zone_of(provider), ctx.visit.viewer_tz);
    let now = Utc::now();
    let today = time::today(now, zones.provider);
    let week = Week::from_param(week_param, today);
    let (from, to) = week.bounds(zones.provider);
    let slots: Page<Slot> = ctx
        .call(
            ApiRequest::get(format!("/api/v1/providers/{}/slots", provider.id))
                .query("appointment_type_id", type_id)
                .query("from", from.to_rfc3339())
                .query("to", to.to_rfc3339()),
        )
        .await?;
    let days = week::grid(week, &slots.items, zones);
    let link = |w: Week| format!("{base}?week={}", w.monday.format("%Y-%m-%d"));
    let last_bookable = today + Duration::days(i64::from(horizon_days.max(1)));
    let keys = days
        .iter()
        .flat_map(|d| d.slots.iter())
        .map(|s| (s.start.clone(), Uuid::new_v4().to_string()))
        .collect();
    Ok(SlotWeek {
        title: week.title(),
        empty: days.iter().all(|d| d.slots.is_empty()),
        days,
        previous: (week.monday > Week::containing(today).monday).then(|| link(week.previous())),
        next: (week.next().monday <= last_bookable).then(|| link(week.next())),
        provider_zone: zones.provider.name().to_owned(),
        viewer_zone: zones.viewer.name().to_owned(),
        two_clocks: zones.differ(),
        keys,
    })
}

pub async fn week(
    mut ctx: Ctx,
    Path((provider_id, type_id)): Path<(Uuid, Uuid)>,
    Query(q): Query<WeekQuery>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    let week = WeekOf::Param(q.week);
    book_page(
        &mut ctx,
        provider_id,
        type_id,
        week,
        Feedback::default(),
        StatusCode::OK,
    )
    .await
}

/// Which week a page shows: the one a link names, or the one a slot is in.
pub(crate) enum WeekOf {
    Param(Option<String>),
    Slot(DateTime<Utc>),
}

impl WeekOf {
    /// As a `?week=` value, the slot's date taken in the provider's zone.
    pub(crate) fn param(self, provider: &Provider) -> Option<String> {
        match self {
            WeekOf::Param(p) => p,
            WeekOf::Slot(at) => Some(
                time::today(at, zone_of(provider))
                    .format("%Y-%m-%d")
                    .to_string(),
            ),
        }
    }
}

async fn book_page(
    ctx: &mut Ctx,
    provider_id: Uuid,
    type_id: Uuid,
    week_of: WeekOf,
    feedback: Feedback,
    status: StatusCode,
) -> Result<Response, PageError> {
    let mut dir = Directory::default();
    let provider = dir
        .provider(ctx, provider_id)
        .await?
        .ok_or(PageError::NotFound)?;
    let week_param = week_of.param(&provider);
    let kind = dir
        .type_of(ctx, provider_id, type_id)
        .await?
        .ok_or(PageError::NotFound)?;
    let base = format!("/providers/{provider_id}/book/{type_id}");
    let week = slot_week(
        ctx,
        &provider,
        type_id,
        kind.horizon_days,
        week_param.as_deref(),
        &base,
    )
    .await?;
    Ok(ctx.render_with(
        status,
        "patient/book.html",
        crate::page! {
            provider_id, provider_name => provider.name,
            kind => TypeView::from(&kind),
            week, feedback,
        },
    ))
}

#[derive(Deserialize)]
pub struct BookForm {
    provider_id: Uuid,
    appointment_type_id: Uuid,
    start: DateTime<Utc>,
    idempotency_key: Uuid,
}

pub async fn book(mut ctx: Ctx, Form(form): Form<BookForm>) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    let req = ApiRequest::post(
        "/api/v1/appointments",
        &Booking {
            provider_id: form.provider_id,
            appointment_type_id: form.appointment_type_id,
            start: form.start,
        },
    )
    .idempotency_key(form.idempotency_key.to_string());
    match ctx.call::<Appointment>(req).await {
        Ok(appointment) => {
            ctx.flash(Flash::success("Your appointment is confirmed."))
                .await?;
            Ok(see_other(&format!("/appointments/{}", appointment.id)))
        }
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && s.as_u16() != 401) =>
        {
            let status = e.status().unwrap_or(StatusCode::CONFLICT);
            book_page(
                &mut ctx,
                form.provider_id,
                form.appointment_type_id,
                WeekOf::Slot(form.start),
                feedback::from_api(&e).for_form(&[]),
                status,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
