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
        models::{Appointment, AppointmentStatus, Cancellation, Reschedule, Rescheduled},
        ApiRequest,
    },
    domain::{
        feedback::{self, Feedback},
        money, policy,
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
        changeable: changeable(a, ctx.now()),
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

/// The late fee a move may owe, as the reschedule page shows it.
#[derive(Serialize)]
struct FeeView {
    /// The policy in a sentence.
    policy: String,
    /// The late-cancellation fee ("22.50 EUR").
    fee: String,
    /// Moving it now falls inside the cancellation window.
    late_now: bool,
}

fn fee_view(a: &Appointment, now: DateTime<Utc>) -> Option<FeeView> {
    let p = a.cancellation_policy.as_ref()?;
    let terms = policy::of_appointment(p);
    Some(FeeView {
        fee: terms.late_cancel_fee?,
        policy: terms.summary,
        late_now: policy::inside_window(a.start, p.window_minutes, now),
    })
}

/// The waiver as typed (kept when the page comes back with a problem).
#[derive(Default, Serialize)]
struct Waiver {
    waive: bool,
    reason: String,
}

async fn reschedule_page(
    ctx: &mut Ctx,
    id: Uuid,
    week_of: WeekOf,
    (feedback, waiver): (Feedback, Waiver),
    status: StatusCode,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let a: Appointment = ctx.get(format!("/api/v1/appointments/{id}")).await?;
    let now = ctx.now();
    if !changeable(&a, now) {
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
        crate::page! {
            appointment, week, feedback, waiver,
            fee => fee_view(&a, now),
            // One key per page: the page submits one move.
            key => Uuid::new_v4(),
        },
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
        (Feedback::default(), Waiver::default()),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
pub struct RescheduleForm {
    start: DateTime<Utc>,
    #[serde(default)]
    idempotency_key: Option<Uuid>,
    /// The "waive the late fee" box (present when ticked).
    #[serde(default)]
    waive_fee: Option<String>,
    #[serde(default)]
    waive_fee_reason: String,
}

/// The waiver's reason when staff ticked the box: 3 to 500 characters
/// (scheduling's rule), or what to say next to the field.
fn waiver_reason(waive: bool, reason: &str) -> Result<Option<&str>, Feedback> {
    if !waive {
        return Ok(None);
    }
    let reason = reason.trim();
    if (3..=500).contains(&reason.chars().count()) {
        Ok(Some(reason))
    } else {
        Err(Feedback::message("Say why you waive the late fee.").field(
            "waive_fee_reason",
            "Give the reason for waiving the fee (3 to 500 characters), or untick the box.",
        ))
    }
}

/// What the page says once a move is done, fee included.
fn moved_text(r: &Rescheduled, zone: Tz, waived: bool) -> String {
    let when = time::span(r.appointment.start, r.appointment.end, zone);
    let fee = match (&r.fee, r.late) {
        (Some(fee), _) => format!(
            " It was inside the cancellation window: the patient owes the late fee of {}.",
            money::format(fee)
        ),
        (None, true) if waived => {
            " It was inside the cancellation window; the late fee was waived.".to_owned()
        }
        (None, true) => " It was inside the cancellation window; no fee is charged.".to_owned(),
        (None, false) => String::new(),
    };
    format!("Appointment moved to {when}. The patient gets an email.{fee}")
}

pub async fn reschedule(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<RescheduleForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let waive = form.waive_fee.is_some();
    let typed = || Waiver {
        waive,
        reason: form.waive_fee_reason.trim().to_owned(),
    };
    let reason = match waiver_reason(waive, &form.waive_fee_reason) {
        Ok(reason) => reason,
        Err(fb) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            let week = WeekOf::Slot(form.start);
            return reschedule_page(&mut ctx, id, week, (fb, typed()), status).await;
        }
    };
    let mut req = ApiRequest::post(
        format!("/api/v1/appointments/{id}/reschedule"),
        &Reschedule {
            start: form.start,
            waive_fee_reason: reason,
        },
    );
    if let Some(key) = form.idempotency_key {
        req = req.idempotency_key(key.to_string());
    }
    match ctx.call::<Rescheduled>(req).await {
        Ok(r) => {
            let provider = Directory::default()
                .provider(&mut ctx, r.appointment.provider_id)
                .await?;
            let zone = provider.as_ref().map(zone_of).unwrap_or(Tz::UTC);
            ctx.flash(Flash::success(moved_text(&r, zone, reason.is_some())))
                .await?;
            Ok(see_other(&format!("/clinic/appointments/{id}")))
        }
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && !matches!(s.as_u16(), 401 | 404)) =>
        {
            let status = e.status().unwrap_or(StatusCode::CONFLICT);
            let fb = feedback::from_api(&e).for_form(&["waive_fee_reason"]);
            let week = WeekOf::Slot(form.start);
            reschedule_page(&mut ctx, id, week, (fb, typed()), status).await
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::{CancellationPolicy, Money};

    fn eur(minor: i64) -> Money {
        Money {
            amount_minor: minor,
            currency: "EUR".into(),
        }
    }

    fn appointment(start: &str) -> Appointment {
        let start: DateTime<Utc> = start.parse().unwrap();
        Appointment {
            id: Uuid::nil(),
            patient_id: Uuid::nil(),
            provider_id: Uuid::nil(),
            appointment_type_id: Uuid::nil(),
            start,
            end: start + chrono::Duration::minutes(30),
            status: AppointmentStatus::Booked,
            cancel_reason: None,
            late_cancellation: false,
            cancellation_policy: Some(CancellationPolicy {
                window_minutes: 1440,
                late_cancel_fee: Some(eur(2250)),
                no_show_fee: None,
            }),
        }
    }

    #[test]
    fn waiving_needs_a_reason_and_only_a_ticked_box_waives() {
        assert_eq!(waiver_reason(false, "typed but not ticked"), Ok(None));
        assert_eq!(
            waiver_reason(true, "  Clinic moved it  "),
            Ok(Some("Clinic moved it"))
        );
        for bad in ["", "  ", "ok", &"x".repeat(501)] {
            let fb = waiver_reason(true, bad).unwrap_err();
            assert!(fb.fields.contains_key("waive_fee_reason"), "{bad:?}");
        }
    }

    #[test]
    fn the_page_names_the_fee_and_whether_a_move_now_is_late() {
        let now: DateTime<Utc> = "2026-05-04T09:00:00Z".parse().unwrap();
        let soon = fee_view(&appointment("2026-05-04T20:00:00Z"), now).unwrap();
        assert_eq!((soon.fee.as_str(), soon.late_now), ("22.50 EUR", true));
        let far = fee_view(&appointment("2026-05-08T20:00:00Z"), now).unwrap();
        assert!(!far.late_now);
        let mut free = appointment("2026-05-04T20:00:00Z");
        free.cancellation_policy = None;
        assert!(fee_view(&free, now).is_none());
    }

    #[test]
    fn the_flash_says_what_the_move_cost() {
        let moved = |late, fee| Rescheduled {
            appointment: appointment("2026-05-07T09:00:00Z"),
            late,
            fee,
        };
        assert!(moved_text(&moved(true, None), Tz::UTC, true).ends_with("the late fee was waived."));
        assert!(moved_text(&moved(true, Some(eur(2250))), Tz::UTC, false)
            .ends_with("the patient owes the late fee of 22.50 EUR."));
        assert_eq!(
            moved_text(&moved(false, None), Tz::UTC, false),
            "Appointment moved to Thu 7 May 2026, 09:00–09:30 UTC. The patient gets an email."
        );
    }
}
