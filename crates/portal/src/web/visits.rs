//! The clinic's side of appointments, shared by providers' and staff pages:
//! an appointment as a schedule row, the visit steps on it (check in,
//! complete, no-show), and who the patient is. A step's button updates its
//! row in place with htmx, and is a plain form POST without it.

use std::collections::HashMap;

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    error::{login_url, safe_next},
    nav,
    patient::{zone_of, Directory},
    see_other, CallError, Ctx, Form, PageError, Path,
};
use crate::{
    api::{
        models::{Appointment, AppointmentStatus, Page, PatientSummary},
        ApiRequest,
    },
    domain::{
        feedback,
        schedule::{self, VisitStep},
        time,
    },
    session::Flash,
};

/// How many pages of 100 a schedule reads at most (a clinic's day is far fewer).
const MAX_PAGES: usize = 10;

/// Every appointment the user may see that starts in `[from, to)`, oldest
/// first, optionally one provider's.
pub(crate) async fn appointments_between(
    ctx: &mut Ctx,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    provider_id: Option<Uuid>,
) -> Result<Vec<Appointment>, CallError> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut req = ApiRequest::get("/api/v1/appointments")
            .query("from", from.to_rfc3339())
            .query("to", to.to_rfc3339())
            .query("limit", 100);
        if let Some(id) = provider_id {
            req = req.query("provider_id", id);
        }
        if let Some(c) = &cursor {
            req = req.query("cursor", c);
        }
        let page: Page<Appointment> = ctx.call(req).await?;
        all.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(all)
}

/// What the clinic's pages call a patient whose summary they may not read (a
/// provider with no appointment with them, a profile not there yet): a short
/// reference of the patient's id.
pub(crate) fn patient_reference(id: Uuid) -> String {
    let hex = id.simple().to_string();
    format!("Patient #{}", &hex[hex.len() - 6..])
}

/// Patients' summaries, looked up once per page. The directory shares them
/// with staff and with the providers the patient has or had an appointment
/// with; for anyone else (403) or a profile not there yet (404) there is none.
#[derive(Default)]
pub(crate) struct Patients {
    known: HashMap<Uuid, Option<PatientSummary>>,
}

impl Patients {
    pub async fn summary(
        &mut self,
        ctx: &mut Ctx,
        id: Uuid,
    ) -> Result<Option<PatientSummary>, CallError> {
        if let Some(known) = self.known.get(&id) {
            return Ok(known.clone());
        }
        let found = match ctx
            .get::<PatientSummary>(format!("/api/v1/patients/{id}/summary"))
            .await
        {
            Ok(p) => Some(p),
            Err(CallError::Api(e))
                if e.status().is_some_and(|s| matches!(s.as_u16(), 403 | 404)) =>
            {
                None
            }
            Err(e) => return Err(e),
        };
        self.known.insert(id, found.clone());
        Ok(found)
    }

    /// The patient's name, or their reference when the summary is not ours to read.
    pub async fn name(&mut self, ctx: &mut Ctx, id: Uuid) -> Result<String, CallError> {
        Ok(self
            .summary(ctx, id)
            .await?
            .map_or_else(|| patient_reference(id), |p| p.name))
    }
}

#[derive(Serialize)]
struct StepView {
    segment: &'static str,
    label: &'static str,
    step: VisitStep,
}

/// One appointment in a schedule.
#[derive(Serialize)]
pub(crate) struct VisitRow {
    id: Uuid,
    /// "09:00–09:30" on the provider's clock.
    time: String,
    /// The viewer's clock when their zone differs ("07:00–07:30 UTC").
    viewer_time: Option<String>,
    /// The whole date and time, for screen readers and the staff pages.
    label: String,
    patient: String,
    /// The provider's way to the chart; staff's to the appointment page.
    patient_href: String,
    kind: String,
    status: AppointmentStatus,
    status_label: &'static str,
    steps: Vec<StepView>,
    /// When the next step opens, while it cannot be taken yet ("Check-in from 08:00").
    waiting: Option<String>,
    /// Staff: where to reschedule or cancel.
    manage_href: Option<String>,
    /// Said after a step worked ("Checked in.").
    notice: Option<String>,
    /// Said after a step was refused.
    problem: Option<String>,
    /// The page the row is on, to come back to without JavaScript.
    return_to: String,
}

/// Builds rows, remembering providers, types and patients across a page.
#[derive(Default)]
pub(crate) struct Rows {
    dir: Directory,
    patients: Patients,
}

impl Rows {
    pub async fn row(
        &mut self,
        ctx: &mut Ctx,
        a: &Appointment,
        return_to: &str,
    ) -> Result<VisitRow, CallError> {
        let provider = self.dir.provider(ctx, a.provider_id).await?;
        let zone = provider.as_ref().map(zone_of).unwrap_or(Tz::UTC);
        let kind = self
            .dir
            .type_of(ctx, a.provider_id, a.appointment_type_id)
            .await?;
        let patient = self.patients.name(ctx, a.patient_id).await?;
        let staff = ctx.user.role != Role::Provider;
        let viewer = ctx.visit.viewer_tz.unwrap_or(Tz::UTC);
        let now = ctx.now();
        Ok(VisitRow {
            id: a.id,
            time: format!(
                "{}–{}",
                time::clock(a.start, zone),
                time::clock(a.end, zone)
            ),
            viewer_time: (viewer != zone).then(|| viewer_span(a.start, a.end, zone, viewer)),
            label: time::span(a.start, a.end, zone),
            patient,
            patient_href: if staff {
                format!("/clinic/appointments/{}", a.id)
            } else {
                format!("/patients/{}/chart", a.patient_id)
            },
            kind: kind
                .map(|t| t.name)
                .unwrap_or_else(|| "Appointment".to_owned()),
            status: a.status,
            status_label: a.status.label(),
            steps: schedule::steps(a.status, a.start, now)
                .into_iter()
                .map(|step| StepView {
                    segment: step.segment(),
                    label: step.label(),
                    step,
                })
                .collect(),
            waiting: schedule::next_step_waiting(a.status, a.start, now)
                .map(|(step, at)| schedule::waiting_note(step, at, zone)),
            manage_href: (staff && a.status == AppointmentStatus::Booked)
                .then(|| format!("/clinic/appointments/{}", a.id)),
            notice: None,
            problem: None,
            return_to: return_to.to_owned(),
        })
    }
}

/// "07:00–07:30 UTC", with the viewer's weekday when it is not the provider's.
fn viewer_span(start: DateTime<Utc>, end: DateTime<Utc>, zone: Tz, viewer: Tz) -> String {
    let s = start.with_timezone(&viewer);
    let day = if time::today(start, viewer) == time::today(start, zone) {
        String::new()
    } else {
        format!(" ({})", s.format("%a"))
    };
    format!(
        "{}–{} {}{day}",
        s.format("%H:%M"),
        end.with_timezone(&viewer).format("%H:%M"),
        s.format("%Z")
    )
}

#[derive(Deserialize)]
pub struct StepForm {
    #[serde(default)]
    return_to: Option<String>,
}

/// An htmx request for a fragment (not a boosted page load).
fn wants_fragment(headers: &HeaderMap) -> bool {
    headers.get("hx-request").is_some() && headers.get("hx-boosted").is_none()
}

/// `POST /visits/{id}/{step}`: check in, complete or mark a no-show.
pub async fn step(
    mut ctx: Ctx,
    headers: HeaderMap,
    Path((id, segment)): Path<(Uuid, String)>,
    Form(form): Form<StepForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Provider, Role::Staff])?;
    let step = VisitStep::from_segment(&segment).ok_or(PageError::NotFound)?;
    let back =
        safe_next(form.return_to.as_deref()).unwrap_or_else(|| nav::home(ctx.user.role).to_owned());
    let fragment = wants_fragment(&headers);
    let req = ApiRequest::post(
        format!("/api/v1/appointments/{id}/{}", step.segment()),
        &serde_json::json!({}),
    );
    let outcome = ctx.call::<Appointment>(req).await;
    if !fragment {
        match outcome {
            Ok(_) => ctx.flash(Flash::success(step.done())).await?,
            Err(CallError::Api(e)) if refusal(&e) => {
                let (_, text) = refused(&mut ctx, id, step, &e).await?;
                ctx.flash(Flash::info(text)).await?;
            }
            Err(e) => return Err(e.into()),
        }
        return Ok(see_other(&back));
    }
    let (appointment, status, notice, problem) = match outcome {
        Ok(a) => (a, StatusCode::OK, Some(step.done().to_owned()), None),
        Err(CallError::Api(e)) if refusal(&e) => {
            let status = e.status().unwrap_or(StatusCode::CONFLICT);
            match refused(&mut ctx, id, step, &e).await {
                Ok((Some(a), text)) => (a, status, None, Some(text)),
                Ok((None, _)) => return Ok(reload_instead(None)),
                Err(e) => return Ok(reload_instead(Some(e))),
            }
        }
        Err(e) => return Ok(reload_instead(Some(e))),
    };
    let mut r = match Rows::default().row(&mut ctx, &appointment, &back).await {
        Ok(r) => r,
        Err(e) => return Ok(reload_instead(Some(e))),
    };
    r.notice = notice;
    r.problem = problem;
    Ok(ctx.state.pages.respond(
        status,
        "visits/row.html",
        &ctx.visit.layout(),
        crate::page! { r },
    ))
}

/// After scheduling refused `step`: the appointment as it stands now (when it
/// can still be read) and what to tell the clinic; a step taken too early says
/// when it opens, on the provider's clock.
async fn refused(
    ctx: &mut Ctx,
    id: Uuid,
    step: VisitStep,
    e: &crate::api::ApiError,
) -> Result<(Option<Appointment>, String), CallError> {
    let mut text = feedback::from_api(e).message.unwrap_or_default();
    let appointment = match ctx
        .get::<Appointment>(format!("/api/v1/appointments/{id}"))
        .await
    {
        Ok(a) => Some(a),
        Err(CallError::Api(e)) if refusal(&e) => None,
        Err(e) => return Err(e),
    };
    if let Some(a) = &appointment {
        if e.problem().is_some_and(|p| p.code() == "too-early") {
            let provider = Directory::default().provider(ctx, a.provider_id).await?;
            let zone = provider.as_ref().map(zone_of).unwrap_or(Tz::UTC);
            text = schedule::too_early(step, a.start, zone);
        }
    }
    Ok((appointment, text))
}

/// A refusal the row can explain (not a lost session, not an outage).
fn refusal(e: &crate::api::ApiError) -> bool {
    e.status()
        .is_some_and(|s| s.is_client_error() && s.as_u16() != 401)
}

/// When a row cannot be redrawn (the session ended, the API is down), have
/// htmx load a whole page instead: the login page, or the page again with
/// its own error.
fn reload_instead(e: Option<CallError>) -> Response {
    let mut response = StatusCode::OK.into_response();
    let (name, value) = match e {
        Some(CallError::SessionEnded { next }) => ("hx-redirect", login_url(&next)),
        _ => ("hx-refresh", "true".to_owned()),
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(name, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patient_without_a_summary_has_a_short_stable_reference() {
        let id: Uuid = "018f0000-0000-7000-8000-000000000021".parse().unwrap();
        assert_eq!(patient_reference(id), "Patient #000021");
    }

    #[test]
    fn the_viewers_clock_names_its_day_when_it_differs() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            viewer_span(
                at("2026-05-04T07:00:00Z"),
                at("2026-05-04T07:30:00Z"),
                Tz::Europe__Berlin,
                Tz::UTC
            ),
            "07:00–07:30 UTC"
        );
        assert_eq!(
            viewer_span(
                at("2026-05-04T03:30:00Z"),
                at("2026-05-04T04:00:00Z"),
                Tz::Asia__Kolkata,
                Tz::America__New_York
            ),
            "23:30–00:00 EDT (Sun)"
        );
    }

    #[test]
    fn only_htmx_fragment_requests_get_a_row() {
        let mut h = HeaderMap::new();
        assert!(!wants_fragment(&h));
        h.insert("hx-request", HeaderValue::from_static("true"));
        assert!(wants_fragment(&h));
        h.insert("hx-boosted", HeaderValue::from_static("true"));
        assert!(!wants_fragment(&h));
    }
}
