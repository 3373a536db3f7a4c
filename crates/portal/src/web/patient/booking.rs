//! The week of free slots for one appointment type, and booking one of them:
//! picking a time holds it while the patient confirms (see [`crate::web::hold`]),
//! confirming books the hold (with its own Idempotency-Key, so a double click
//! or a retried POST books once), choosing another time lets it go.

use axum::{http::StatusCode, response::Response};
use chrono::{DateTime, Duration, Utc};
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{zone_of, Directory, TypeView};
use crate::{
    api::{
        models::{Appointment, Booking, Hold, Page, Provider, Slot},
        ApiRequest,
    },
    domain::{
        feedback::{self, Feedback},
        hold::HoldState,
        time::{self, Zones},
        week::{self, DayColumn, Week},
    },
    session::Flash,
    web::{
        hold::{self as holding, HoldView, SlotChoice},
        see_other, CallError, Ctx, Form, PageError, Path, Query,
    },
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

/// Which week of free slots a page shows, and how it links to its neighbours.
pub(crate) struct WeekPlan {
    week: Week,
    today: chrono::NaiveDate,
    zones: Zones,
    horizon_days: i32,
    base: String,
}

impl WeekPlan {
    /// The week `week_param` names for a provider in `provider_zone`; `base`
    /// is the page's path, to which `?week=` is added for the neighbours.
    pub(crate) fn new(
        provider_zone: chrono_tz::Tz,
        viewer: Option<chrono_tz::Tz>,
        horizon_days: i32,
        week_param: Option<&str>,
        base: &str,
        now: DateTime<Utc>,
    ) -> Self {
        let zones = Zones::new(provider_zone, viewer);
        let today = time::today(now, zones.provider);
        Self {
            week: Week::from_param(week_param, today),
            today,
            zones,
            horizon_days,
            base: base.to_owned(),
        }
    }

    /// The API request for the week's free slots of `type_id` with `provider_id`.
    pub(crate) fn request(&self, provider_id: Uuid, type_id: Uuid) -> ApiRequest {
        let (from, to) = self.week.bounds(self.zones.provider);
        ApiRequest::get(format!("/api/v1/providers/{provider_id}/slots"))
            .query("appointment_type_id", type_id)
            .query("from", from.to_rfc3339())
            .query("to", to.to_rfc3339())
    }

    /// The week's grid of `slots`.
    pub(crate) fn grid(&self, slots: &[Slot]) -> SlotWeek {
        let days = week::grid(self.week, slots, self.zones);
        let link = |w: Week| format!("{}?week={}", self.base, w.monday.format("%Y-%m-%d"));
        let last_bookable = self.today + Duration::days(i64::from(self.horizon_days.max(1)));
        let keys = days
            .iter()
            .flat_map(|d| d.slots.iter())
            .map(|s| (s.start.clone(), Uuid::new_v4().to_string()))
            .collect();
        SlotWeek {
            title: self.week.title(),
            empty: days.iter().all(|d| d.slots.is_empty()),
            days,
            previous: (self.week.monday > Week::containing(self.today).monday)
                .then(|| link(self.week.previous())),
            next: (self.week.next().monday <= last_bookable).then(|| link(self.week.next())),
            provider_zone: self.zones.provider.name().to_owned(),
            viewer_zone: self.zones.viewer.name().to_owned(),
            two_clocks: self.zones.differ(),
            keys,
        }
    }
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
    let plan = WeekPlan::new(
        zone_of(provider),
        ctx.visit.viewer_tz,
        horizon_days,
        week_param,
        base,
        ctx.now(),
    );
    let slots: Page<Slot> = ctx.call(plan.request(provider.id, type_id)).await?;
    Ok(plan.grid(&slots.items))
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

/// `POST /holds`: a slot button pressed; hold it and show the confirmation.
pub async fn hold(mut ctx: Ctx, Form(choice): Form<SlotChoice>) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    let me = ctx.user.user_id;
    match holding::hold_slot(&mut ctx, &choice, me).await {
        Ok(id) => Ok(see_other(&format!("/holds/{id}"))),
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && s.as_u16() != 401) =>
        {
            let status = e.status().unwrap_or(StatusCode::CONFLICT);
            book_page(
                &mut ctx,
                choice.provider_id,
                choice.appointment_type_id,
                WeekOf::Slot(choice.start),
                feedback::from_api(&e).for_form(&[]),
                status,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /holds/{id}`: the held time, until when it is kept, and the buttons
/// to confirm it or choose another; an ended hold shows the free times again.
pub async fn held(mut ctx: Ctx, Path(id): Path<Uuid>) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    let hold: Hold = ctx.get(format!("/api/v1/holds/{id}")).await?;
    let mut dir = Directory::default();
    let provider = dir
        .provider(&mut ctx, hold.provider_id)
        .await?
        .ok_or(PageError::NotFound)?;
    match holding::state_of(&hold, ctx.now()) {
        HoldState::Booked => Ok(see_other(&format!("/appointments/{}", hold.id))),
        HoldState::Ended => {
            holding::forget(&ctx, hold.id).await?;
            book_page(
                &mut ctx,
                hold.provider_id,
                hold.appointment_type_id,
                WeekOf::Slot(hold.start),
                Feedback::message(holding::ended_message(&hold, &provider)),
                StatusCode::OK,
            )
            .await
        }
        HoldState::Live => {
            let kind = dir
                .type_of(&mut ctx, hold.provider_id, hold.appointment_type_id)
                .await?
                .ok_or(PageError::NotFound)?;
            let view = HoldView::of(&hold, &provider, &kind, ctx.visit.viewer_tz, ctx.now());
            Ok(ctx.render(
                "hold.html",
                crate::page! {
                    hold => view,
                    patient => None::<String>,
                    confirm_action => "/appointments",
                    release_action => format!("/holds/{id}/release"),
                    feedback => Feedback::default(),
                },
            ))
        }
    }
}

/// `POST /holds/{id}/release`: "Choose another time". Back to the week of free times.
pub async fn release(mut ctx: Ctx, Path(id): Path<Uuid>) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    holding::release_to(&mut ctx, id, "/appointments", |hold| {
        format!(
            "/providers/{}/book/{}",
            hold.provider_id, hold.appointment_type_id
        )
    })
    .await
}

#[derive(Deserialize)]
pub struct BookForm {
    provider_id: Uuid,
    appointment_type_id: Uuid,
    start: DateTime<Utc>,
    idempotency_key: Uuid,
    /// The hold the confirmation page books.
    #[serde(default)]
    hold_id: Option<Uuid>,
}

/// `POST /appointments`: "Confirm booking" on the hold's page (or a slot
/// booked at once, without a hold).
pub async fn book(mut ctx: Ctx, Form(form): Form<BookForm>) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    let req = ApiRequest::post(
        "/api/v1/appointments",
        &Booking {
            provider_id: form.provider_id,
            appointment_type_id: form.appointment_type_id,
            start: form.start,
            hold_id: form.hold_id,
        },
    )
    .idempotency_key(form.idempotency_key.to_string());
    match ctx.call::<Appointment>(req).await {
        Ok(appointment) => {
            if let Some(hold) = form.hold_id {
                holding::forget(&ctx, hold).await?;
            }
            ctx.flash(Flash::success("Your appointment is confirmed."))
                .await?;
            Ok(see_other(&format!("/appointments/{}", appointment.id)))
        }
        // Confirmed twice (a reload between): the first press booked it.
        Err(CallError::Api(e)) if form.hold_id.is_some() && e.code() == Some("hold-converted") => {
            let id = form.hold_id.unwrap_or_default();
            holding::forget(&ctx, id).await?;
            Ok(see_other(&format!("/appointments/{id}")))
        }
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && s.as_u16() != 401) =>
        {
            if let Some(hold) = form.hold_id.filter(|_| holding::hold_ended(&e)) {
                holding::forget(&ctx, hold).await?;
            }
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
