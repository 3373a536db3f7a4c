//! A provider's pages: their schedule (the day and the week, in their own
//! time zone) with the visit steps, the charts of the patients in their care
//! (break-glass when there is no care relationship), and their weekly
//! availability, date overrides and time off.

mod availability;
mod chart;
mod patients;
mod schedule;

use axum::{
    routing::{get, post},
    Router,
};
use chrono_tz::Tz;
use platform::auth::Role;

use super::{
    patient::{zone_of, Directory},
    Ctx, PageError,
};
use crate::{api::models::Provider, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/schedule", get(schedule::day))
        .route("/schedule/week", get(schedule::week))
        .route("/patients", get(patients::list))
        .route("/patients/open", get(patients::open))
        .route("/patients/{id}/chart", get(chart::show))
        .route("/patients/{id}/chart/break-glass", post(chart::break_glass))
        .route("/patients/{id}/chart/{kind}", post(chart::create))
        .route("/patients/{id}/chart/{kind}/new", get(chart::new_entry))
        .route(
            "/patients/{id}/chart/{kind}/{entry_id}",
            get(chart::entry).post(chart::amend),
        )
        .route(
            "/patients/{id}/chart/{kind}/{entry_id}/entered-in-error",
            post(chart::enter_in_error),
        )
        .route(
            "/availability",
            get(availability::edit).post(availability::save),
        )
        .route("/availability/time-off", post(availability::time_off))
        .route(
            "/availability/time-off/{id}/delete",
            post(availability::remove_time_off),
        )
        .route("/availability/overrides", post(availability::set_override))
        .route(
            "/availability/overrides/{date}/delete",
            post(availability::remove_override),
        )
}

/// The signed-in provider's own profile and time zone (their schedule,
/// availability and the times they type are all in it).
async fn me(ctx: &mut Ctx) -> Result<(Provider, Tz), PageError> {
    ctx.require(&[Role::Provider])?;
    let id = ctx.user.provider_id.ok_or(PageError::Forbidden)?;
    let provider = Directory::default()
        .provider(ctx, id)
        .await?
        .ok_or(PageError::NotFound)?;
    let zone = zone_of(&provider);
    Ok((provider, zone))
}
