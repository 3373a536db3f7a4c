//! One appointment at the front desk: who, with whom, when and where it
//! stands; the visit steps; cancelling with a reason; moving it to another
//! free slot of the same type.

use axum::{http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    api::{
        models::{Appointment, AppointmentStatus, Cancellation, Reschedule},
        ApiRequest,
    },
    domain::{
        feedback::{self, Feedback},
        time::{self, When, Zones},
    },
    session::Flash,
    web::{
        patient::{
            booking::{slot_week, WeekOf},
            zone_of, Directory, TypeView,
        },
        see_other,
        visits::{Patients, Rows, VisitRow},
        CallError, Ctx, Form, PageError, Path, Query,
    },
};

#[derive(Serialize)]
struct Details {
    id: Uuid,
    patient: String,
    patient_email: String,
    patient_id: Uuid,
    provider: String,
    kind: Option<TypeView>,
    when: When,
    status: AppointmentStatus,
    status_label: &'static str,
    cancel_reason: Option<String>,
    late_cancellation: bool,
    /// Still booked and in the future: it can be moved or cancelled.
    changeable: bool,
    /// The clinic day it falls on, to go back to.
    day_link: String,
}

async fn details(ctx: &mut Ctx, a: &Appointment) -> Result<Details, CallError> {
    let mut dir = Directory::default();
    let provider = dir.provider(ctx, a.provider_id).await?;
    let zone = provider.as_ref().map(zone_of).unwrap_or(Tz::UTC);
    let kind = dir
        .type_of(ctx, a.provider_id, a.appointment_type_id)
        .await?;
    let patient = Patients::default().summary(ctx, a.patient_id).await?;
    let (patient, patient_email) = match patient {
        Some(p) => (p.name, p.email),
        None => ("Unknown patient".to_owned(), String::new()),
    };
    Ok(Details {
        id: a.id,
        patient,
        patient_email,
        patient_id: a.patient_id,
        provider: provider
            .map(|p| p.name)
            .unwrap_or_else(|| "Unknown provider".to_owned()),
        kind: kind.as_ref().map(TypeView::from),
        when: time::when(a.start, a.end, Zones::new(zone, ctx.visit.viewer_tz)),
        status: a.status,
        status_label: a.status.label(),
        cancel_reason: a.cancel_reason.clone(),
        late_cancellation: a.late_cancellation,
        changeable: changeable(a, Utc::now()),
        day_link: format!("/clinic?date={}", time::today(a.start, zone)),
    })
}

fn changeable(a: &Appointment, now: DateTime<Utc>) -> bool {
    a.status == AppointmentStatus::Booked && a.start > now
}

async fn page(
    ctx: &mut Ctx,
    id: Uuid,
    feedback: Feedback,
    reason: &str,
    status: StatusCode,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let a: Appointment = ctx.get(format!("/api/v1/appointments/{id}")).await?;
    let appointment = details(ctx, &a).await?;
    let here = ctx.visit.path.clone();
    let row: VisitRow = Rows::default().row(ctx, &a, &here).await?;
    Ok(ctx.render_with(
        status,
        "staff/appointment.html",
        crate::page! { appointment, row, feedback, reason },
    ))
}

pub async fn show(mut ctx: Ctx, Path(id): Path<Uuid>) -> Result<Response, PageError> {
    page(&mut ctx, id, Feedback::default(), "", StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    reason: String,
}

pub async fn cancel(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<CancelForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let reason = form.reason.trim();
    if reason.is_empty() {
        let fb = Feedback::message("Give a reason for the cancellation.")
            .field("reason", "Say why, for example: patient called in sick.");
        return page(&mut ctx, id, fb, reason, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let req = ApiRequest::post(
        format!("/api/v1/appointments/{id}/cancel"),
        &Cancellation { reason },
    );
    match ctx.call::<Appointment>(req).await {
        Ok(_) => {
            ctx.flash(Flash::success(
                "Appointment cancelled. The patient gets an email.",
            ))
            .await?;
            Ok(see_other(&format!("/clinic/appointments/{id}")))
        }
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && !matches!(s.as_u16(), 401 | 404)) =>
        {
            let status = e.status().unwrap_or(StatusCode::CONFLICT);
            let fb = feedback::from_api(&e).for_form(&["reason"]);
            page(&mut ctx, id, fb, reason, status).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct WeekQuery {
    week: Option<String>,
}

async fn reschedule_page(
    ctx: &mut Ctx,
    id: Uuid,
    week_of: WeekOf,
    feedback: Feedback,
    status: StatusCode,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let a: Appointment = ctx.get(format!("/api/v1/appointments/{id}")).await?;
    if !changeable(&a, Utc::now()) {
        ctx.flash(Flash::info("This appointment can no longer be moved."))
            .await?;
        return Ok(see_other(&format!("/clinic/appointments/{id}")));
    }
    let appointment = details(ctx, &a).await?;
    let mut dir = Directory::default();
    let provider = dir
        .provider(ctx, a.provider_id)
        .await?
        .ok_or(PageError::NotFound)?;
    let kind = dir
        .type_of(ctx, a.provider_id, a.appointment_type_id)
        .await?
        .ok_or(PageError::NotFound)?;
    let base = format!("/clinic/appointments/{id}/reschedule");
    let week_param = week_of.param(&provider);
    let week = slot_week(
        ctx,
        &provider,
        kind.id,
        kind.horizon_days,
        week_param.as_deref(),
        &base,
    )
    .await?;
    Ok(ctx.render_with(
        status,
        "staff/reschedule.html",
        crate::page! { appointment, week, feedback },
    ))
}

pub async fn reschedule_week(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    Query(q): Query<WeekQuery>,
) -> Result<Response, PageError> {
    reschedule_page(
        &mut ctx,
        id,
        WeekOf::Param(q.week),
        Feedback::default(),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
pub struct RescheduleForm {
    start: DateTime<Utc>,
}

pub async fn reschedule(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<RescheduleForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let req = ApiRequest::post(
        format!("/api/v1/appointments/{id}/reschedule"),
        &Reschedule { start: form.start },
    );
    match ctx.call::<Appointment>(req).await {
        Ok(a) => {
            let provider = Directory::default()
                .provider(&mut ctx, a.provider_id)
                .await?;
            let zone = provider.as_ref().map(zone_of).unwrap_or(Tz::UTC);
            ctx.flash(Flash::success(format!(
                "Appointment moved to {}. The patient gets an email.",
                time::span(a.start, a.end, zone)
            )))
            .await?;
            Ok(see_other(&format!("/clinic/appointments/{id}")))
        }
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && !matches!(s.as_u16(), 401 | 404)) =>
        {
            let status = e.status().unwrap_or(StatusCode::CONFLICT);
            let fb = feedback::from_api(&e).for_form(&[]);
            reschedule_page(&mut ctx, id, WeekOf::Slot(form.start), fb, status).await
        }
        Err(e) => Err(e.into()),
    }
}
