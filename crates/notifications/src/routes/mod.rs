//! Notifications' HTTP API (thin handlers: extract, call, map).

mod notifications;

use axum::{routing::get, Router};
use utoipa::OpenApi;

use crate::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/notifications", get(notifications::list))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Carebook notifications", description = "The emails sent to you about your appointments and about emergency access to records, and what became of them."),
    paths(notifications::list),
    components(schemas(
        notifications::Notification, notifications::NotificationList,
        platform::problem::ProblemBody,
    )),
    tags((name = "notifications", description = "Appointment emails and reminders"))
)]
pub struct ApiDoc;
