//! My appointments: upcoming and past, one appointment's details, cancelling
//! (with the type's policy spelled out before it applies) and rescheduling to
//! another free slot of the same type.

use axum::{http::StatusCode, response::Response};
use chrono::{DateTime, Duration, Utc};
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    booking::{slot_week, WeekOf},
    policy, zone_of, Directory, TypeView,
};
use crate::{
    api::{
        models::{
            Appointment, AppointmentStatus, AppointmentType, Cancellation, Page, Reschedule,
            Rescheduled,
        },
        ApiRequest,
    },
    domain::{
        feedback::{self, Feedback},
        money,
        policy::{self as terms},
        time::{self, When, Zones},
    },
    session::Flash,
    web::{see_other, CallError, Ctx, Form, PageError, Path, Query},
};

/// One appointment in a list or on its page.
#[derive(Serialize)]
struct AppointmentView {
    id: Uuid,
    when: When,
    provider_id: Uuid,
    provider: String,
    kind: String,
    status: AppointmentStatus,
    status_label: &'static str,
}

async fn view(
    ctx: &mut Ctx,
    dir: &mut Directory,
    a: &Appointment,
) -> Result<AppointmentView, CallError> {
    let provider = dir.provider(ctx, a.provider_id).await?;
    let kind = dir
        .type_of(ctx, a.provider_id, a.appointment_type_id)
        .await?;
    let zone = provider.as_ref().map(zone_of).unwrap_or(chrono_tz::Tz::UTC);
    Ok(AppointmentView {
        id: a.id,
        when: time::when(a.start, a.end, Zones::new(zone, ctx.visit.viewer_tz)),
        provider_id: a.provider_id,
        provider: provider
            .map(|p| p.name)
            .unwrap_or_else(|| "Unknown provider".to_owned()),
        kind: kind
            .map(|t| t.name)
            .unwrap_or_else(|| "Appointment".to_owned()),
        status: a.status,
        status_label: a.status.label(),
    })
}

pub async fn list(mut ctx: Ctx) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    let now = Utc::now();
    // Started up to 12 h ago and not yet over still counts as upcoming.
    let recent: Page<Appointment> = ctx
        .call(
            ApiRequest::get("/api/v1/appointments")
                .query("from", (now - Duration::hours(12)).to_rfc3339())
                .query("limit", 100),
        )
        .await?;
    let earlier: Page<Appointment> = ctx
        .call(
            ApiRequest::get("/api/v1/appointments")
                .query("from", (now - Duration::days(365)).to_rfc3339())
                .query("to", now.to_rfc3339())
                .query("limit", 100),
        )
        .await?;
    let (ahead, mut history): (Vec<&Appointment>, Vec<&Appointment>) = recent
        .items
        .iter()
        .filter(|a| a.end > now)
        .chain(earlier.items.iter().filter(|a| a.end <= now))
        .partition(|a| is_upcoming(a, now));
    history.sort_by_key(|a| std::cmp::Reverse(a.start));
    let mut dir = Directory::default();
    let mut upcoming = Vec::new();
    for a in ahead {
        upcoming.push(view(&mut ctx, &mut dir, a).await?);
    }
    let mut past = Vec::new();
    for a in history {
        past.push(view(&mut ctx, &mut dir, a).await?);
    }
    Ok(ctx.render("patient/appointments.html", crate::page! { upcoming, past }))
}

/// Still ahead and still on: booked or checked in, not yet over. Everything
/// else (over, cancelled, completed, missed) is history.
fn is_upcoming(a: &Appointment, now: DateTime<Utc>) -> bool {
    a.end > now
        && matches!(
            a.status,
            AppointmentStatus::Booked | AppointmentStatus::CheckedIn
        )
}

/// What the page says about cancelling now.
#[derive(Serialize)]
struct CancelInfo {
    allowed: bool,
    policy: String,
    /// Set when cancelling now is late and costs a fee.
    late_fee: Option<String>,
}

fn cancel_info(
    a: &Appointment,
    kind: Option<&AppointmentType>,
    role: Role,
    now: DateTime<Utc>,
) -> CancelInfo {
    let allowed = a.status == AppointmentStatus::Booked && a.start > now;
    let late_fee = kind.and_then(|t| {
        let window = Duration::minutes(i64::from(t.cancellation_window_minutes));
        let fee = t.late_cancel_fee.as_ref().filter(|f| f.amount_minor > 0)?;
        // Only patients are charged (scheduling's cancellation policy).
        (role == Role::Patient && now > a.start - window).then(|| money::format(fee))
    });
    CancelInfo {
        allowed,
        policy: kind.map(policy).unwrap_or_default(),
        late_fee: if allowed { late_fee } else { None },
    }
}

async fn appointment_page(
    ctx: &mut Ctx,
    id: Uuid,
    feedback: Feedback,
    status: StatusCode,
) -> Result<Response, PageError> {
    let a: Appointment = ctx.get(format!("/api/v1/appointments/{id}")).await?;
    let mut dir = Directory::default();
    let appointment = view(ctx, &mut dir, &a).await?;
    let kind = dir
        .type_of(ctx, a.provider_id, a.appointment_type_id)
        .await?;
    let cancel = cancel_info(&a, kind.as_ref(), ctx.user.role, Utc::now());
    Ok(ctx.render_with(
        status,
        "patient/appointment.html",
        crate::page! {
            appointment, cancel, feedback,
            kind => kind.as_ref().map(TypeView::from),
            cancel_reason => a.cancel_reason,
            late_cancellation => a.late_cancellation,
        },
    ))
}

pub async fn show(mut ctx: Ctx, Path(id): Path<Uuid>) -> Result<Response, PageError> {
    appointment_page(&mut ctx, id, Feedback::default(), StatusCode::OK).await
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
    let req = ApiRequest::post(
        format!("/api/v1/appointments/{id}/cancel"),
        &Cancellation {
            reason: form.reason.trim(),
        },
    );
    match ctx.call::<Appointment>(req).await {
        Ok(a) => {
            let text = if a.late_cancellation {
                "Appointment cancelled. A late-cancellation fee applies; it will appear under Invoices."
            } else {
                "Appointment cancelled."
            };
            ctx.flash(Flash::success(text)).await?;
            Ok(see_other(&format!("/appointments/{id}")))
        }
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && s.as_u16() != 404) =>
        {
            let status = e.status().unwrap_or(StatusCode::CONFLICT);
            let fb = feedback::from_api(&e).for_form(&["reason"]);
            appointment_page(&mut ctx, id, fb, status).await
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
    let a: Appointment = ctx.get(format!("/api/v1/appointments/{id}")).await?;
    let mut dir = Directory::default();
    let appointment = view(ctx, &mut dir, &a).await?;
    if a.status != AppointmentStatus::Booked || a.start <= Utc::now() {
        ctx.flash(Flash::info("This appointment can no longer be moved."))
            .await?;
        return Ok(see_other(&format!("/appointments/{id}")));
    }
    let provider = dir
        .provider(ctx, a.provider_id)
        .await?
        .ok_or(PageError::NotFound)?;
    let kind = dir
        .type_of(ctx, a.provider_id, a.appointment_type_id)
        .await?
        .ok_or(PageError::NotFound)?;
    let base = format!("/appointments/{id}/reschedule");
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
    let late_fee = late_move_fee(&a, Utc::now());
    Ok(ctx.render_with(
        status,
        "patient/reschedule.html",
        crate::page! { appointment, week, feedback, late_fee, kind => TypeView::from(&kind) },
    ))
}

/// What moving `a` at `now` costs the patient: inside the cancellation window a
/// move counts as a late cancellation (scheduling's rule), so its fee.
fn late_move_fee(a: &Appointment, now: DateTime<Utc>) -> Option<String> {
    let p = a.cancellation_policy.as_ref()?;
    terms::of_appointment(p)
        .late_cancel_fee
        .filter(|_| terms::inside_window(a.start, p.window_minutes, now))
}

/// What the page says once a move is done, fee included.
pub(crate) fn moved_text(r: &Rescheduled, zone: chrono_tz::Tz) -> String {
    let when = time::span(r.appointment.start, r.appointment.end, zone);
    match (&r.fee, r.late) {
        (Some(fee), _) => format!(
            "Appointment moved to {when}. It was moved inside the cancellation window, so it counts as a late cancellation: a fee of {} applies (see Invoices).",
            money::format(fee)
        ),
        (None, true) => format!(
            "Appointment moved to {when}. It was moved inside the cancellation window; no fee is charged."
        ),
        (None, false) => format!("Appointment moved to {when}."),
    }
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
    /// One per slot button, so a double click or a retried POST moves once.
    #[serde(default)]
    idempotency_key: Option<Uuid>,
}

pub async fn reschedule(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<RescheduleForm>,
) -> Result<Response, PageError> {
    let mut req = ApiRequest::post(
        format!("/api/v1/appointments/{id}/reschedule"),
        &Reschedule {
            start: form.start,
            waive_fee_reason: None,
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
            let zone = provider.as_ref().map(zone_of).unwrap_or(chrono_tz::Tz::UTC);
            ctx.flash(Flash::success(moved_text(&r, zone))).await?;
            Ok(see_other(&format!("/appointments/{id}")))
        }
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && s.as_u16() != 404) =>
        {
            let status = e.status().unwrap_or(StatusCode::CONFLICT);
            let fb = feedback::from_api(&e).for_form(&[]);
            reschedule_page(&mut ctx, id, WeekOf::Slot(form.start), fb, status).await
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::{CancellationPolicy, Money};

    fn appointment(start: &str, status: AppointmentStatus) -> Appointment {
        let start: DateTime<Utc> = start.parse().unwrap();
        Appointment {
            id: Uuid::nil(),
            patient_id: Uuid::nil(),
            provider_id: Uuid::nil(),
            appointment_type_id: Uuid::nil(),
            start,
            end: start + Duration::minutes(30),
            status,
            cancel_reason: None,
            late_cancellation: false,
            cancellation_policy: Some(CancellationPolicy {
                window_minutes: 1440,
                late_cancel_fee: Some(eur(2250)),
                no_show_fee: Some(eur(2250)),
            }),
        }
    }

    fn eur(minor: i64) -> Money {
        Money {
            amount_minor: minor,
            currency: "EUR".into(),
        }
    }

    fn kind() -> AppointmentType {
        AppointmentType {
            id: Uuid::nil(),
            provider_id: Uuid::nil(),
            name: "Consultation".into(),
            duration_minutes: 30,
            price: Money {
                amount_minor: 4500,
                currency: "EUR".into(),
            },
            mode: "in_person".into(),
            min_notice_minutes: 60,
            horizon_days: 90,
            cancellation_window_minutes: 1440,
            late_cancel_fee: Some(eur(2250)),
            no_show_fee: Some(eur(2250)),
        }
    }

    #[test]
    fn moving_inside_the_window_warns_of_the_fee_and_says_it_applied() {
        let now: DateTime<Utc> = "2026-05-04T09:00:00Z".parse().unwrap();
        let far = appointment("2026-05-06T09:00:00Z", AppointmentStatus::Booked);
        assert_eq!(late_move_fee(&far, now), None);
        let soon = appointment("2026-05-04T20:00:00Z", AppointmentStatus::Booked);
        assert_eq!(late_move_fee(&soon, now).as_deref(), Some("22.50 EUR"));
        let moved = |late, fee| Rescheduled {
            appointment: appointment("2026-05-07T09:00:00Z", AppointmentStatus::Booked),
            late,
            fee,
        };
        let tz = chrono_tz::Tz::UTC;
        assert_eq!(
            moved_text(&moved(false, None), tz),
            "Appointment moved to Thu 7 May 2026, 09:00–09:30 UTC."
        );
        assert!(
            moved_text(&moved(true, Some(eur(2250))), tz).contains("a fee of 22.50 EUR applies")
        );
        assert!(moved_text(&moved(true, None), tz).contains("no fee is charged"));
    }

    #[test]
    fn a_patient_is_warned_of_the_fee_only_inside_the_window() {
        let now: DateTime<Utc> = "2026-05-04T09:00:00Z".parse().unwrap();
        let early = cancel_info(
            &appointment("2026-05-06T09:00:00Z", AppointmentStatus::Booked),
            Some(&kind()),
            Role::Patient,
            now,
        );
        assert!(early.allowed);
        assert_eq!(early.late_fee, None);
        let late = cancel_info(
            &appointment("2026-05-04T20:00:00Z", AppointmentStatus::Booked),
            Some(&kind()),
            Role::Patient,
            now,
        );
        assert_eq!(late.late_fee.as_deref(), Some("22.50 EUR"));
        let by_staff = cancel_info(
            &appointment("2026-05-04T20:00:00Z", AppointmentStatus::Booked),
            Some(&kind()),
            Role::Staff,
            now,
        );
        assert_eq!(by_staff.late_fee, None);
    }

    #[test]
    fn cancelled_and_finished_visits_are_history() {
        let now: DateTime<Utc> = "2026-05-04T09:00:00Z".parse().unwrap();
        assert!(is_upcoming(
            &appointment("2026-05-06T09:00:00Z", AppointmentStatus::Booked),
            now
        ));
        assert!(is_upcoming(
            &appointment("2026-05-04T08:45:00Z", AppointmentStatus::CheckedIn),
            now
        ));
        assert!(!is_upcoming(
            &appointment("2026-05-06T09:00:00Z", AppointmentStatus::Cancelled),
            now
        ));
        assert!(!is_upcoming(
            &appointment("2026-05-06T09:00:00Z", AppointmentStatus::Completed),
            now
        ));
        assert!(!is_upcoming(
            &appointment("2026-05-04T08:00:00Z", AppointmentStatus::Booked),
            now
        ));
    }

    #[test]
    fn only_future_booked_appointments_can_be_cancelled() {
        let now: DateTime<Utc> = "2026-05-04T09:00:00Z".parse().unwrap();
        for (start, status) in [
            ("2026-05-06T09:00:00Z", AppointmentStatus::Cancelled),
            ("2026-05-06T09:00:00Z", AppointmentStatus::CheckedIn),
            ("2026-05-04T08:00:00Z", AppointmentStatus::Booked),
        ] {
            let info = cancel_info(
                &appointment(start, status),
                Some(&kind()),
                Role::Patient,
                now,
            );
            assert!(!info.allowed, "{start} {status:?}");
            assert_eq!(info.late_fee, None);
        }
    }
}
