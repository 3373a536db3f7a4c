//! The provider's availability page, in their time zone: the weekly hours (a
//! few windows per weekday; saving replaces the week), different hours on one
//! date (or a day closed), and time off (a stretch of absence). Upcoming
//! date overrides and time off are listed, each with a button to remove it.
//! A change that would leave booked appointments outside the hours comes
//! back with them listed next to its form, the change kept as typed, and two
//! buttons that send it again: cancel them (with a reason the patients are
//! told) or keep them as exceptions.

use std::collections::HashMap;

use axum::{http::StatusCode, response::Response};
use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::me;
use crate::{
    api::{
        models::{
            DateOverride, OnConflict, OverrideWindows, Page, Resolved, Stranded, TimeOff,
            TimeOffEntry,
        },
        ApiError, ApiRequest,
    },
    domain::{
        availability::{self, AvailabilityBody, ConflictView, EditorDay},
        feedback::{self, Feedback},
        local_time, time,
    },
    session::Flash,
    web::{patient::Directory, see_other, CallError, Ctx, Form, PageError, Path},
};

/// The time-off form as typed.
#[derive(Default, Deserialize)]
pub struct TimeOffForm {
    #[serde(default)]
    off_start: String,
    #[serde(default)]
    off_end: String,
    #[serde(default)]
    off_reason: String,
    /// The conflicts panel's choice (see [`availability::on_conflict`]).
    #[serde(default)]
    on_conflict: Option<String>,
    #[serde(default)]
    conflict_reason: String,
}

/// The booked appointments a change would strand, shown next to its form
/// with the buttons that send the change again.
#[derive(Serialize)]
struct ConflictPanel {
    /// The form the change came from: `week`, `override` or `off`.
    form: &'static str,
    /// Where the buttons send it.
    action: String,
    /// The change as posted, sent again as hidden fields.
    fields: Vec<(String, String)>,
    items: Vec<ConflictView>,
    /// About the reason for cancelling.
    feedback: Feedback,
    reason: String,
}

/// How to send a change again from the conflicts panel.
struct Resend {
    form: &'static str,
    action: String,
    fields: Vec<(String, String)>,
    /// The reason typed for cancelling, and what was wrong with it.
    reason: String,
    reason_feedback: Feedback,
}

impl Resend {
    /// A change posted to `action` with `form` (the panel's own fields set
    /// aside); `choice` is what [`availability::on_conflict`] made of them.
    fn new(
        form: &'static str,
        action: impl Into<String>,
        posted: &HashMap<String, String>,
        choice: &Result<Option<OnConflict>, Feedback>,
    ) -> Self {
        Self {
            form,
            action: action.into(),
            fields: availability::resend_fields(posted),
            reason: posted.get("conflict_reason").cloned().unwrap_or_default(),
            reason_feedback: choice.clone().err().unwrap_or_default(),
        }
    }
}

/// What the panel's buttons posted: cancel with a reason, keep, or nothing
/// chosen (also when the reason is missing: the change is sent without a
/// choice, so the API lists what is in the way as it is now).
fn chosen(form: &HashMap<String, String>) -> Result<Option<OnConflict>, Feedback> {
    availability::on_conflict(
        form.get("on_conflict").map(String::as_str),
        form.get("conflict_reason").map_or("", String::as_str),
    )
}

/// What the page shows besides the lists: the week's editor as stored or as
/// typed, and each form's messages and typed values after a refusal.
#[derive(Default)]
struct PageState {
    days: Option<Vec<EditorDay>>,
    week: Feedback,
    off: Feedback,
    typed_off: TimeOffForm,
    overrides: Feedback,
    typed_override: HashMap<String, String>,
    conflicts: Option<ConflictPanel>,
}

/// How far ahead the page lists date overrides and time off.
const LISTED_DAYS: i64 = 365;

async fn page(
    ctx: &mut Ctx,
    status: StatusCode,
    provider_id: Uuid,
    zone: Tz,
    state: PageState,
) -> Result<Response, PageError> {
    let days = match state.days {
        Some(days) => days,
        None => current_week(ctx, provider_id).await?,
    };
    let now = ctx.now();
    let today = time::today(now, zone);
    let overrides: Page<DateOverride> = ctx
        .call(
            ApiRequest::get(format!(
                "/api/v1/providers/{provider_id}/availability/overrides"
            ))
            .query("from", today)
            .query("to", today + Duration::days(LISTED_DAYS)),
        )
        .await?;
    let time_off: Page<TimeOffEntry> = ctx
        .call(
            ApiRequest::get(format!("/api/v1/providers/{provider_id}/time-off"))
                .query("from", now.to_rfc3339())
                .query("to", (now + Duration::days(LISTED_DAYS)).to_rfc3339())
                .query("limit", 100),
        )
        .await?;
    let overrides: Vec<_> = overrides
        .items
        .iter()
        .map(availability::override_view)
        .collect();
    let time_off: Vec<_> = time_off
        .items
        .iter()
        .map(|t| availability::time_off_view(t, zone, now))
        .collect();
    let off = state.typed_off;
    let typed = |name: &str| state.typed_override.get(name).cloned().unwrap_or_default();
    let override_rows: Vec<(String, String, String, String)> = availability::override_fields()
        .into_iter()
        .map(|(sf, ef)| (typed(&sf), typed(&ef), sf, ef))
        .collect();
    Ok(ctx.render_with(
        status,
        "provider/availability.html",
        crate::page! {
            days, overrides, time_off, override_rows,
            conflicts => state.conflicts,
            feedback => state.week,
            off_feedback => state.off,
            off_start => off.off_start,
            off_end => off.off_end,
            off_reason => off.off_reason,
            ov_feedback => state.overrides,
            ov_date => typed("ov_date"),
            today => today.to_string(),
            zone => zone.name(),
        },
    ))
}

async fn current_week(ctx: &mut Ctx, provider_id: Uuid) -> Result<Vec<EditorDay>, CallError> {
    let body: AvailabilityBody = ctx
        .get(format!("/api/v1/providers/{provider_id}/availability"))
        .await?;
    Ok(availability::editor(&body.weekly))
}

/// A refusal the page can explain next to a form (not a lost session, not an outage).
fn refusal(e: &ApiError) -> bool {
    e.status()
        .is_some_and(|s| s.is_client_error() && s.as_u16() != 401)
}

pub async fn edit(mut ctx: Ctx) -> Result<Response, PageError> {
    let (provider, zone) = me(&mut ctx).await?;
    let state = PageState::default();
    page(&mut ctx, StatusCode::OK, provider.id, zone, state).await
}

/// One of the page's changes: the request, what to say when it is done (and
/// when what it removes was gone already), and how to send it again.
struct Change {
    req: ApiRequest,
    done: String,
    gone: Option<String>,
    resend: Resend,
}

/// Send one of the page's changes: done, flash `done` (with what became of
/// any appointments in the way) and show the page anew; refused, the page
/// again with the state `refused` builds from the API's answer, next to the
/// form it came from, and the appointments in the way listed there.
async fn send(
    ctx: &mut Ctx,
    (provider_id, zone): (Uuid, Tz),
    change: Change,
    refused: impl FnOnce(&ApiError) -> PageState,
) -> Result<Response, PageError> {
    match ctx.call_or_default::<Resolved>(change.req).await {
        Ok(resolved) => {
            let text = match availability::resolved_note(&resolved) {
                Some(note) => format!("{} {note}", change.done),
                None => change.done,
            };
            ctx.flash(Flash::success(text)).await?;
            Ok(see_other("/availability"))
        }
        Err(CallError::Api(e))
            if e.status().is_some_and(|s| s.as_u16() == 404) && change.gone.is_some() =>
        {
            ctx.flash(Flash::info(change.gone.unwrap_or_default()))
                .await?;
            Ok(see_other("/availability"))
        }
        Err(CallError::Api(e)) if refusal(&e) => {
            let status = e.status().unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let mut state = refused(&e);
            if e.code() == Some("availability-conflicts") {
                let stranded: Vec<Stranded> = e
                    .problem()
                    .and_then(|p| p.member("conflicts"))
                    .unwrap_or_default();
                let types = Directory::default().types(ctx, provider_id).await?;
                let r = change.resend;
                state.conflicts = Some(ConflictPanel {
                    form: r.form,
                    action: r.action,
                    fields: r.fields,
                    items: availability::conflict_views(&stranded, zone, &types),
                    feedback: r.reason_feedback,
                    reason: r.reason,
                });
            }
            page(ctx, status, provider_id, zone, state).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn save(
    mut ctx: Ctx,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let (provider, zone) = me(&mut ctx).await?;
    let refused = |week: Feedback| PageState {
        days: Some(availability::editor_from_form(&form)),
        week,
        ..Default::default()
    };
    let weekly = match availability::parse(&form) {
        Ok(weekly) => weekly,
        Err(fb) => {
            let state = refused(fb);
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return page(&mut ctx, status, provider.id, zone, state).await;
        }
    };
    let done = match weekly.len() {
        0 => "Availability saved: no weekly hours, so no one can book you until you add some."
            .to_owned(),
        1 => "Availability saved: 1 weekly window.".to_owned(),
        n => format!("Availability saved: {n} weekly windows."),
    };
    let choice = chosen(&form);
    let req = ApiRequest::put(
        format!("/api/v1/providers/{}/availability", provider.id),
        &AvailabilityBody {
            weekly,
            on_conflict: choice.clone().unwrap_or_default(),
        },
    );
    let resend = Resend::new("week", "/availability", &form, &choice);
    let change = Change {
        req,
        done,
        gone: None,
        resend,
    };
    send(&mut ctx, (provider.id, zone), change, |e| {
        refused(feedback::from_api(e).for_form(&[]))
    })
    .await
}

/// `POST /availability/overrides`: set one date's hours (none: closed).
pub async fn set_override(
    mut ctx: Ctx,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let (provider, zone) = me(&mut ctx).await?;
    let today = time::today(ctx.now(), zone);
    let (date, windows) = match availability::parse_override(&form, today) {
        Ok(parsed) => parsed,
        Err(overrides) => {
            let state = PageState {
                overrides,
                typed_override: form,
                ..Default::default()
            };
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return page(&mut ctx, status, provider.id, zone, state).await;
        }
    };
    let done = format!(
        "{}: {}. Your weekly hours do not apply that day; appointments already booked stay.",
        date.format("%a %-d %b %Y"),
        availability::hours(&windows)
    );
    let choice = chosen(&form);
    let req = ApiRequest::put(
        format!(
            "/api/v1/providers/{}/availability/overrides/{date}",
            provider.id
        ),
        &OverrideWindows {
            windows: &windows,
            on_conflict: choice.clone().unwrap_or_default(),
        },
    );
    let resend = Resend::new("override", "/availability/overrides", &form, &choice);
    let change = Change {
        req,
        done,
        gone: None,
        resend,
    };
    send(&mut ctx, (provider.id, zone), change, |e| PageState {
        overrides: feedback::from_api(e).for_form(&[]),
        typed_override: form,
        ..Default::default()
    })
    .await
}

/// `POST /availability/overrides/{date}/delete`: the weekly hours apply again
/// (which may strand appointments booked in the date's own hours).
pub async fn remove_override(
    mut ctx: Ctx,
    Path(date): Path<NaiveDate>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let (provider, zone) = me(&mut ctx).await?;
    let choice = chosen(&form);
    let mut req = ApiRequest::delete(format!(
        "/api/v1/providers/{}/availability/overrides/{date}",
        provider.id
    ));
    if let Ok(Some(resolution)) = &choice {
        let (on_conflict, reason) = resolution.params();
        req = req
            .query("on_conflict", on_conflict)
            .query("reason", reason);
    }
    let label = date.format("%a %-d %b %Y");
    let action = format!("/availability/overrides/{date}/delete");
    let change = Change {
        req,
        done: format!("{label}: your weekly hours apply again."),
        gone: Some(format!("{label} had no different hours any more.")),
        resend: Resend::new("override", action, &form, &choice),
    };
    send(&mut ctx, (provider.id, zone), change, |e| PageState {
        overrides: feedback::from_api(e).for_form(&[]),
        ..Default::default()
    })
    .await
}

/// `POST /availability/time-off/{id}/delete`: those hours can be booked again.
pub async fn remove_time_off(mut ctx: Ctx, Path(id): Path<Uuid>) -> Result<Response, PageError> {
    let (provider, _) = me(&mut ctx).await?;
    let req = ApiRequest::delete(format!("/api/v1/providers/{}/time-off/{id}", provider.id));
    removed(
        &mut ctx,
        req,
        "Time off removed: those hours can be booked again.".to_owned(),
        "That time off was already removed.".to_owned(),
    )
    .await
}

/// Send a removal and come back to the page saying how it went (a 404 means
/// it was gone already, say from another tab).
async fn removed(
    ctx: &mut Ctx,
    req: ApiRequest,
    done: String,
    gone: String,
) -> Result<Response, PageError> {
    match ctx.call_for_effect(req).await {
        Ok(()) => ctx.flash(Flash::success(done)).await?,
        Err(CallError::Api(e)) if e.status().is_some_and(|s| s.as_u16() == 404) => {
            ctx.flash(Flash::info(gone)).await?
        }
        Err(e) => return Err(e.into()),
    }
    Ok(see_other("/availability"))
}

pub async fn time_off(mut ctx: Ctx, Form(form): Form<TimeOffForm>) -> Result<Response, PageError> {
    let (provider, zone) = me(&mut ctx).await?;
    let mut fb = Feedback::default();
    let checked = match (
        local_time::parse(&form.off_start, zone),
        local_time::parse(&form.off_end, zone),
    ) {
        (Some(start), Some(end)) if end > start => Some((start, end)),
        (Some(_), Some(_)) => {
            fb = fb.field("off_end", "Must be after the start.");
            None
        }
        (start, end) => {
            if start.is_none() {
                fb = fb.field("off_start", "Enter when the time off starts.");
            }
            if end.is_none() {
                fb = fb.field("off_end", "Enter when it ends.");
            }
            None
        }
    };
    let Some((start, end)) = checked else {
        let state = PageState {
            off: fb.for_form(&["off_start", "off_end"]),
            typed_off: form,
            ..Default::default()
        };
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return page(&mut ctx, status, provider.id, zone, state).await;
    };
    let choice = availability::on_conflict(form.on_conflict.as_deref(), &form.conflict_reason);
    let reason = form.off_reason.trim();
    let req = ApiRequest::post(
        format!("/api/v1/providers/{}/time-off", provider.id),
        &TimeOff {
            start,
            end,
            reason: (!reason.is_empty()).then_some(reason),
            on_conflict: choice.clone().unwrap_or_default(),
        },
    );
    let posted: HashMap<String, String> = [
        ("off_start", &form.off_start),
        ("off_end", &form.off_end),
        ("off_reason", &form.off_reason),
        ("conflict_reason", &form.conflict_reason),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.clone()))
    .collect();
    let resend = Resend::new("off", "/availability/time-off", &posted, &choice);
    let done = format!(
        "Time off added from {} to {}. No one can book you then.",
        time::date_time(start, zone),
        time::date_time(end, zone)
    );
    let change = Change {
        req,
        done,
        gone: None,
        resend,
    };
    send(&mut ctx, (provider.id, zone), change, |e| {
        let off = feedback::from_api_mapped(e, |path| {
            Some(format!(
                "off_{}",
                path.split(['.', '[']).next().unwrap_or(path)
            ))
        })
        .for_form(&["off_start", "off_end", "off_reason"]);
        PageState {
            off,
            typed_off: form,
            ..Default::default()
        }
    })
    .await
}
