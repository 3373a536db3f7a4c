//! The pages of the cancel and reschedule links in appointment emails. The
//! link's token is the whole authority: no sign-in, no session (none is
//! started, and a signed-in visitor's is never used), and the API applies
//! the policy and fees exactly as for the patient. Opening a link (GET) only
//! shows what it would do, to which appointment, and what that costs now
//! (and, for a reschedule link, the free times found by the link), because
//! mail scanners open links too; pressing the button (POST) does it, once.
//! Tokens are in the path: the request log replaces them
//! (`platform::http::loggable_path`), and only a token of the shape the API
//! issues is put into an API path.

use axum::{extract::State, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    patient::{
        appointments::moved_text,
        booking::{SlotWeek, WeekPlan},
    },
    Form, Path, Query, Visit,
};
use crate::{
    api::{
        models::{
            Appointment, Cancellation, LinkAction, LinkPreview, Page, Reschedule, Rescheduled, Slot,
        },
        ApiError, ApiRequest,
    },
    domain::{
        feedback::{self, Feedback},
        link_token::LinkToken,
        money, policy,
        time::{self, parse_zone, When, Zones},
        week::Week,
    },
    AppState,
};

/// How far ahead the reschedule page pages through free times (the API
/// refuses anything past the type's own horizon).
const HORIZON_DAYS: i32 = 90;

#[derive(Deserialize)]
pub struct WeekQuery {
    week: Option<String>,
}

/// What the page says about the link.
#[derive(Serialize)]
struct LinkView {
    /// `cancel` or `reschedule`.
    action: LinkAction,
    kind: String,
    provider: String,
    when: When,
    /// The appointment type's policy in a sentence.
    policy: String,
    /// Done now, the action is inside the cancellation window.
    late: bool,
    /// What it would cost now.
    fee: Option<String>,
}

fn zone(p: &LinkPreview) -> chrono_tz::Tz {
    parse_zone(&p.time_zone).unwrap_or(chrono_tz::Tz::UTC)
}

fn view(p: &LinkPreview, viewer: Option<chrono_tz::Tz>) -> LinkView {
    let a = &p.appointment;
    LinkView {
        action: p.action,
        kind: p.appointment_type_name.clone(),
        provider: p.provider_name.clone(),
        when: time::when(a.start, a.end, Zones::new(zone(p), viewer)),
        policy: a
            .cancellation_policy
            .as_ref()
            .map(|c| policy::of_appointment(c).summary)
            .unwrap_or_default(),
        late: p.late,
        fee: p
            .fee
            .as_ref()
            .filter(|f| f.amount_minor > 0)
            .map(money::format),
    }
}

async fn preview(
    state: &AppState,
    visit: &Visit,
    token: &LinkToken,
) -> Result<LinkPreview, ApiError> {
    let req = ApiRequest::get(format!("/api/v1/appointment-links/{}", token.as_str()));
    state.api.json(&req, None, &visit.origin).await
}

/// The page for a link that does not work (any more), or when the API is away.
fn gone(state: &AppState, visit: &Visit, e: &ApiError) -> Response {
    let status = match e.status() {
        Some(s) if s.is_client_error() => s,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    let message = match e.status() {
        Some(s) if s.is_client_error() && !matches!(s.as_u16(), 404 | 410) => {
            "This link no longer works. Log in to see your appointments, or contact the clinic."
                .to_owned()
        }
        _ => feedback::from_api(e).message.unwrap_or_default(),
    };
    visit.render(state, status, "links/gone.html", crate::page! { message })
}

fn not_a_link(state: &AppState, visit: &Visit) -> Response {
    gone(
        state,
        visit,
        &ApiError::Status {
            status: reqwest::StatusCode::NOT_FOUND,
            problem: Some(crate::api::ProblemBody {
                kind: "link-not-found".to_owned(),
                ..Default::default()
            }),
            retry_after: None,
        },
    )
}

/// The week of free times a reschedule link may move to, from the link's own
/// slot search (`GET /api/v1/appointment-links/{token}/slots`): asked with
/// the token alone, so nobody signs in for it and a signed-in visitor's
/// session is never used. The week is the one [`WeekPlan`] shows.
async fn free_times(
    state: &AppState,
    visit: &Visit,
    p: &LinkPreview,
    token: &LinkToken,
    week_param: Option<&str>,
) -> Result<SlotWeek, ApiError> {
    let base = format!("/appointment-links/{}", token.as_str());
    let now = state.clock.now();
    let plan = WeekPlan::new(
        zone(p),
        visit.viewer_tz,
        HORIZON_DAYS,
        week_param,
        &base,
        now,
    );
    let (from, to) = Week::from_param(week_param, time::today(now, zone(p))).bounds(zone(p));
    let req = ApiRequest::get(format!(
        "/api/v1/appointment-links/{}/slots",
        token.as_str()
    ))
    .query("from", from.to_rfc3339())
    .query("to", to.to_rfc3339());
    let slots = state
        .api
        .json::<Page<Slot>>(&req, None, &visit.origin)
        .await?;
    Ok(plan.grid(&slots.items))
}

async fn link_page(
    state: &AppState,
    visit: &Visit,
    token: &LinkToken,
    p: &LinkPreview,
    week_param: Option<&str>,
    feedback: Feedback,
    status: StatusCode,
) -> Response {
    let week = match p.action {
        LinkAction::Cancel => None,
        LinkAction::Reschedule => match free_times(state, visit, p, token, week_param).await {
            Ok(week) => Some(week),
            Err(e) => return gone(state, visit, &e),
        },
    };
    visit.render(
        state,
        status,
        "links/show.html",
        crate::page! {
            link => view(p, visit.viewer_tz),
            week, feedback,
            cancel => p.action == LinkAction::Cancel,
            action => format!("/appointment-links/{}", token.as_str()),
        },
    )
}

/// `GET /appointment-links/{token}`: what the link would do. Spends nothing.
pub async fn show(
    State(state): State<AppState>,
    visit: Visit,
    Path(raw): Path<String>,
    Query(q): Query<WeekQuery>,
) -> Response {
    let Some(token) = LinkToken::parse(&raw) else {
        return not_a_link(&state, &visit);
    };
    match preview(&state, &visit, &token).await {
        Ok(p) => {
            link_page(
                &state,
                &visit,
                &token,
                &p,
                q.week.as_deref(),
                Feedback::default(),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => gone(&state, &visit, &e),
    }
}

#[derive(Deserialize)]
pub struct ActForm {
    /// Reschedule: the new time picked.
    #[serde(default)]
    start: Option<String>,
    /// Cancel: why (optional).
    #[serde(default)]
    reason: String,
}

/// `POST /appointment-links/{token}`: cancel, or move to the time picked.
pub async fn act(
    State(state): State<AppState>,
    visit: Visit,
    Path(raw): Path<String>,
    Form(form): Form<ActForm>,
) -> Response {
    let Some(token) = LinkToken::parse(&raw) else {
        return not_a_link(&state, &visit);
    };
    let p = match preview(&state, &visit, &token).await {
        Ok(p) => p,
        Err(e) => return gone(&state, &visit, &e),
    };
    let base = format!("/api/v1/appointment-links/{}", token.as_str());
    let result = match p.action {
        LinkAction::Cancel => {
            let req = ApiRequest::post(
                format!("{base}/cancel"),
                &Cancellation {
                    reason: form.reason.trim(),
                },
            );
            state
                .api
                .json::<Appointment>(&req, None, &visit.origin)
                .await
                .map(|a| cancelled_text(&p, &a))
        }
        LinkAction::Reschedule => {
            let start = form
                .start
                .as_deref()
                .and_then(|s| s.trim().parse::<DateTime<Utc>>().ok());
            let Some(start) = start else {
                let fb = Feedback::message("Pick the new time from the free times below.");
                return link_page(
                    &state,
                    &visit,
                    &token,
                    &p,
                    None,
                    fb,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            };
            let req = ApiRequest::post(
                format!("{base}/reschedule"),
                &Reschedule {
                    start,
                    waive_fee_reason: None,
                },
            );
            state
                .api
                .json::<Rescheduled>(&req, None, &visit.origin)
                .await
                .map(|r| moved_text(&r, zone(&p)))
        }
    };
    match result {
        Ok(done) => visit.render(
            &state,
            StatusCode::OK,
            "links/done.html",
            crate::page! {
                done,
                cancel => p.action == LinkAction::Cancel,
                signed_in => visit.user().is_some(),
            },
        ),
        Err(e) if matches!(e.code(), Some("link-expired" | "link-not-found")) => {
            gone(&state, &visit, &e)
        }
        Err(e) if e.status().is_some_and(|s| s.is_client_error()) => {
            let status = e.status().unwrap_or(StatusCode::CONFLICT);
            let fb = feedback::from_api(&e).for_form(&["reason"]);
            let week = form
                .start
                .as_deref()
                .and_then(|s| s.trim().parse::<DateTime<Utc>>().ok())
                .map(|s| time::today(s, zone(&p)).format("%Y-%m-%d").to_string());
            link_page(&state, &visit, &token, &p, week.as_deref(), fb, status).await
        }
        Err(e) => gone(&state, &visit, &e),
    }
}

/// What the page says once the link cancelled the appointment.
fn cancelled_text(p: &LinkPreview, a: &Appointment) -> String {
    let when = time::span(a.start, a.end, zone(p));
    let fee = p
        .fee
        .as_ref()
        .filter(|f| f.amount_minor > 0)
        .map(money::format);
    match (a.late_cancellation, fee) {
        (true, Some(fee)) => format!(
            "Your appointment on {when} is cancelled. It was cancelled inside the cancellation window, so a late-cancellation fee of {fee} applies."
        ),
        _ => format!("Your appointment on {when} is cancelled. Nothing is charged."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::{AppointmentStatus, CancellationPolicy, Money};
    use uuid::Uuid;

    fn eur(minor: i64) -> Money {
        Money {
            amount_minor: minor,
            currency: "EUR".into(),
        }
    }

    fn preview(late: bool, fee: Option<Money>) -> LinkPreview {
        let start: DateTime<Utc> = "2026-05-04T07:00:00Z".parse().unwrap();
        LinkPreview {
            action: LinkAction::Cancel,
            expires_at: start,
            appointment: Appointment {
                id: Uuid::nil(),
                patient_id: Uuid::nil(),
                provider_id: Uuid::nil(),
                appointment_type_id: Uuid::nil(),
                start,
                end: start + chrono::Duration::minutes(30),
                status: AppointmentStatus::Booked,
                cancel_reason: None,
                late_cancellation: late,
                cancellation_policy: Some(CancellationPolicy {
                    window_minutes: 1440,
                    late_cancel_fee: Some(eur(2500)),
                    no_show_fee: None,
                }),
            },
            appointment_type_name: "Consultation".into(),
            provider_name: "Dr. Lena Vogel".into(),
            time_zone: "Europe/Berlin".into(),
            late,
            fee,
        }
    }

    #[test]
    fn the_page_names_the_fee_only_when_one_is_owed() {
        let v = view(&preview(true, Some(eur(2500))), None);
        assert_eq!(v.fee.as_deref(), Some("25.00 EUR"));
        assert_eq!(v.when.local, "Mon 4 May 2026, 09:00–09:30 CEST");
        assert!(v
            .policy
            .starts_with("Free cancellation and rescheduling until 24 hours"));
        assert_eq!(view(&preview(true, Some(eur(0))), None).fee, None);
        assert_eq!(view(&preview(false, None), None).fee, None);
    }

    #[test]
    fn a_late_cancellation_says_its_fee() {
        let p = preview(true, Some(eur(2500)));
        assert_eq!(
            cancelled_text(&p, &p.appointment),
            "Your appointment on Mon 4 May 2026, 09:00–09:30 CEST is cancelled. It was cancelled inside the cancellation window, so a late-cancellation fee of 25.00 EUR applies."
        );
        let p = preview(false, None);
        assert!(cancelled_text(&p, &p.appointment).ends_with("Nothing is charged."));
    }
}
