//! The provider's weekly availability (a few windows per weekday, in their
//! time zone; saving replaces the week) and time off (a stretch of absence;
//! the API keeps no list of it to show, so the page confirms what was added).

use std::collections::HashMap;

use axum::{http::StatusCode, response::Response};
use chrono_tz::Tz;
use serde::Deserialize;

use super::me;
use crate::{
    api::{models::TimeOff, ApiRequest},
    domain::{
        availability::{self, AvailabilityBody, EditorDay},
        feedback::{self, Feedback},
        local_time, time,
    },
    session::Flash,
    web::{see_other, CallError, Ctx, Form, PageError},
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
}

/// What the page shows besides the week's windows.
#[derive(Default)]
struct PageState {
    week: Feedback,
    off: Feedback,
    typed_off: TimeOffForm,
}

fn render(
    ctx: &Ctx,
    status: StatusCode,
    zone: Tz,
    days: Vec<EditorDay>,
    state: PageState,
) -> Response {
    let off = state.typed_off;
    ctx.render_with(
        status,
        "provider/availability.html",
        crate::page! {
            days,
            feedback => state.week,
            off_feedback => state.off,
            off_start => off.off_start,
            off_end => off.off_end,
            off_reason => off.off_reason,
            zone => zone.name(),
        },
    )
}

async fn current_week(ctx: &mut Ctx, provider_id: uuid::Uuid) -> Result<Vec<EditorDay>, CallError> {
    let body: AvailabilityBody = ctx
        .get(format!("/api/v1/providers/{provider_id}/availability"))
        .await?;
    Ok(availability::editor(&body.weekly))
}

pub async fn edit(mut ctx: Ctx) -> Result<Response, PageError> {
    let (provider, zone) = me(&mut ctx).await?;
    let days = current_week(&mut ctx, provider.id).await?;
    Ok(render(
        &ctx,
        StatusCode::OK,
        zone,
        days,
        PageState::default(),
    ))
}

pub async fn save(
    mut ctx: Ctx,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let (provider, zone) = me(&mut ctx).await?;
    let refused = |week: Feedback| PageState {
        week,
        ..Default::default()
    };
    let weekly = match availability::parse(&form) {
        Ok(weekly) => weekly,
        Err(fb) => {
            let days = availability::editor_from_form(&form);
            return Ok(render(
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                zone,
                days,
                refused(fb),
            ));
        }
    };
    let windows = weekly.len();
    let req = ApiRequest::put(
        format!("/api/v1/providers/{}/availability", provider.id),
        &AvailabilityBody { weekly },
    );
    match ctx.call_for_effect(req).await {
        Ok(()) => {
            let text = match windows {
                0 => "Availability saved: no weekly hours, so no one can book you until you add some.".to_owned(),
                1 => "Availability saved: 1 weekly window.".to_owned(),
                n => format!("Availability saved: {n} weekly windows."),
            };
            ctx.flash(Flash::success(text)).await?;
            Ok(see_other("/availability"))
        }
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && s.as_u16() != 401) =>
        {
            let status = e.status().unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let fb = feedback::from_api(&e).for_form(&[]);
            let days = availability::editor_from_form(&form);
            Ok(render(&ctx, status, zone, days, refused(fb)))
        }
        Err(e) => Err(e.into()),
    }
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
        let days = current_week(&mut ctx, provider.id).await?;
        let state = PageState {
            off: fb.for_form(&["off_start", "off_end"]),
            typed_off: form,
            ..Default::default()
        };
        return Ok(render(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            zone,
            days,
            state,
        ));
    };
    let reason = form.off_reason.trim();
    let req = ApiRequest::post(
        format!("/api/v1/providers/{}/time-off", provider.id),
        &TimeOff {
            start,
            end,
            reason: (!reason.is_empty()).then_some(reason),
        },
    );
    match ctx.call_for_effect(req).await {
        Ok(()) => {
            ctx.flash(Flash::success(format!(
                "Time off added from {} to {}. No one can book you then; appointments already booked in that time stay (see your schedule).",
                time::date_time(start, zone),
                time::date_time(end, zone)
            )))
            .await?;
            Ok(see_other("/availability"))
        }
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && s.as_u16() != 401) =>
        {
            let status = e.status().unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let fb = feedback::from_api_mapped(&e, |path| {
                Some(format!(
                    "off_{}",
                    path.split(['.', '[']).next().unwrap_or(path)
                ))
            })
            .for_form(&["off_start", "off_end", "off_reason"]);
            let days = current_week(&mut ctx, provider.id).await?;
            let state = PageState {
                off: fb,
                typed_off: form,
                ..Default::default()
            };
            Ok(render(&ctx, status, zone, days, state))
        }
        Err(e) => Err(e.into()),
    }
}
