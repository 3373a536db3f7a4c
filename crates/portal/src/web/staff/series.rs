//! Recurring series at the front desk: a held time booked again every few
//! weeks for the patient ("Or make it recurring" on the hold's page), the
//! series' page listing each visit (booked, with its appointment, or why it
//! could not be booked), and cancelling a visit and all following.

use axum::{http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use platform::auth::Role;
use serde::Deserialize;
use uuid::Uuid;

use super::booking::{desk_feedback, hold_page, week_page};
use crate::{
    api::{
        models::{Occurrence, Series, SeriesCancel, SeriesRequest},
        ApiError, ApiRequest,
    },
    domain::{
        feedback::{self, Feedback},
        series::{self, RepeatForm},
        time,
    },
    session::Flash,
    web::{
        hold as holding,
        patient::{booking::WeekOf, zone_of, Directory},
        see_other,
        visits::{patient_reference, Patients},
        CallError, Ctx, Form, PageError, Path,
    },
};

/// The hold page's series form: the held time and how it repeats.
#[derive(Deserialize)]
pub struct SeriesPost {
    hold_id: Uuid,
    /// Makes a second press of "Book the series" answer with the first series.
    #[serde(default)]
    series_key: Option<Uuid>,
    patient_id: Uuid,
    provider_id: Uuid,
    appointment_type_id: Uuid,
    start: DateTime<Utc>,
    #[serde(default)]
    every_weeks: String,
    #[serde(default)]
    ends: String,
    #[serde(default)]
    count: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    all_or_nothing: Option<String>,
}

impl SeriesPost {
    fn repeat(&self) -> RepeatForm {
        RepeatForm {
            every_weeks: self.every_weeks.clone(),
            ends: self.ends.clone(),
            count: self.count.clone(),
            until: self.until.clone(),
            all_or_nothing: self.all_or_nothing.clone(),
        }
    }
}

/// A refusal the page can explain (not a lost session, not an outage).
fn refusal(e: &ApiError) -> bool {
    e.status()
        .is_some_and(|s| s.is_client_error() && !matches!(s.as_u16(), 401 | 404))
}

/// `POST /bookings/series`: book the held time as the first of a series.
pub async fn book(mut ctx: Ctx, Form(form): Form<SeriesPost>) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let provider = Directory::default()
        .provider(&mut ctx, form.provider_id)
        .await?
        .ok_or(PageError::NotFound)?;
    let typed = form.repeat();
    let first_day = time::today(form.start, zone_of(&provider));
    let repeat = match series::parse(&typed, first_day) {
        Ok(repeat) => repeat,
        Err(fb) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return hold_page(&mut ctx, form.hold_id, (typed, fb), status).await;
        }
    };
    // The series books its first visit itself: the hold would stand in its way.
    match holding::release(&mut ctx, form.hold_id).await {
        Ok(()) => {}
        Err(CallError::Api(e)) if e.code() == Some("hold-converted") => {
            return Ok(see_other(&format!("/clinic/appointments/{}", form.hold_id)));
        }
        Err(e) => return Err(e.into()),
    }
    let req = ApiRequest::post(
        "/api/v1/appointment-series",
        &SeriesRequest {
            provider_id: form.provider_id,
            appointment_type_id: form.appointment_type_id,
            patient_id: form.patient_id,
            first_start: form.start,
            every_weeks: repeat.every_weeks,
            count: repeat.count,
            until: repeat.until,
            all_or_nothing: repeat.all_or_nothing,
        },
    );
    let req = match form.series_key {
        Some(key) => req.idempotency_key(key.to_string()),
        None => req,
    };
    let ids = (form.patient_id, form.provider_id, form.appointment_type_id);
    match ctx.call::<Series>(req).await {
        Ok(s) => {
            let views = series::views(&s.occurrences, zone_of(&provider), ctx.now());
            ctx.flash(Flash::success(format!(
                "Series booked: {} The patient gets a confirmation for each visit.",
                series::booked_summary(&views)
            )))
            .await?;
            Ok(see_other(&format!("/clinic/series/{}", s.id)))
        }
        Err(CallError::Api(e)) if e.code() == Some("series-conflicts") => {
            let occurrences: Vec<Occurrence> = e
                .problem()
                .and_then(|p| p.member("occurrences"))
                .unwrap_or_default();
            let shown = Shown {
                series_id: None,
                ids,
                every_weeks: repeat.every_weeks,
            };
            let fb = feedback::from_api(&e).for_form(&[]);
            series_page(
                &mut ctx,
                shown,
                &occurrences,
                (fb, None, ""),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(CallError::Api(e)) if refusal(&e) => {
            let status = e.status().unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let fb = desk_feedback(&e);
            week_page(&mut ctx, ids, WeekOf::Slot(form.start), fb, status).await
        }
        Err(e) => Err(e.into()),
    }
}

/// What the series page is about: the series (none when nothing was booked)
/// and its patient, provider and type.
struct Shown {
    series_id: Option<Uuid>,
    /// Patient, provider, appointment type.
    ids: (Uuid, Uuid, Uuid),
    every_weeks: u32,
}

/// The series page: each occurrence, and a "cancel this and all following"
/// form on each booked one to come (`cancel`: what was wrong with the one
/// sent, its `from`, the reason typed).
async fn series_page(
    ctx: &mut Ctx,
    shown: Shown,
    occurrences: &[Occurrence],
    (feedback, cancel_from, reason): (Feedback, Option<Uuid>, &str),
    status: StatusCode,
) -> Result<Response, PageError> {
    let (patient_id, provider_id, type_id) = shown.ids;
    let mut dir = Directory::default();
    let provider = dir
        .provider(ctx, provider_id)
        .await?
        .ok_or(PageError::NotFound)?;
    let kind = dir.type_of(ctx, provider_id, type_id).await?;
    let patient = Patients::default()
        .summary(ctx, patient_id)
        .await?
        .map_or_else(|| patient_reference(patient_id), |p| p.name);
    let zone = zone_of(&provider);
    let occurrences = series::views(occurrences, zone, ctx.now());
    let summary = series::booked_summary(&occurrences);
    Ok(ctx.render_with(
        status,
        "staff/series.html",
        crate::page! {
            occurrences, summary, patient, feedback, cancel_from, reason,
            series_id => shown.series_id,
            nothing_booked => shown.series_id.is_none(),
            provider => provider.name,
            zone => zone.name(),
            kind => kind.map_or_else(|| "Appointment".to_owned(), |k| k.name),
            cadence => series::cadence(shown.every_weeks),
            again => format!("/bookings/{patient_id}/{provider_id}/{type_id}"),
        },
    ))
}

async fn show_page(
    ctx: &mut Ctx,
    id: Uuid,
    cancel: (Feedback, Option<Uuid>, &str),
    status: StatusCode,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let s: Series = ctx.get(format!("/api/v1/appointment-series/{id}")).await?;
    let shown = Shown {
        series_id: Some(s.id),
        ids: (s.patient_id, s.provider_id, s.appointment_type_id),
        every_weeks: s.every_weeks,
    };
    series_page(ctx, shown, &s.occurrences, cancel, status).await
}

/// `GET /clinic/series/{id}`: the series and each visit as it is now.
pub async fn show(mut ctx: Ctx, Path(id): Path<Uuid>) -> Result<Response, PageError> {
    let cancel = (Feedback::default(), None, "");
    show_page(&mut ctx, id, cancel, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct CancelFollowing {
    /// The first appointment to cancel.
    from: Uuid,
    #[serde(default)]
    reason: String,
}

/// `POST /clinic/series/{id}/cancel`: cancel this visit and all following.
pub async fn cancel(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<CancelFollowing>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let reason = form.reason.trim();
    if reason.is_empty() {
        let fb = Feedback::message("Give a reason for the cancellation.")
            .field("reason", "Say why, for example: treatment finished early.");
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return show_page(&mut ctx, id, (fb, Some(form.from), reason), status).await;
    }
    let req = ApiRequest::post(
        format!("/api/v1/appointment-series/{id}/cancel"),
        &SeriesCancel {
            from: form.from,
            reason,
        },
    );
    match ctx.call::<Series>(req).await {
        Ok(_) => {
            ctx.flash(Flash::success(
                "This visit and all following are cancelled. The patient gets an email for each.",
            ))
            .await?;
            Ok(see_other(&format!("/clinic/series/{id}")))
        }
        Err(CallError::Api(e)) if refusal(&e) => {
            let status = e.status().unwrap_or(StatusCode::CONFLICT);
            let fb = feedback::from_api(&e).for_form(&["reason"]);
            show_page(&mut ctx, id, (fb, Some(form.from), reason), status).await
        }
        Err(e) => Err(e.into()),
    }
}
