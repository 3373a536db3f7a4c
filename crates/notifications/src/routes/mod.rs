//! Notifications' HTTP API (thin handlers: extract, call, map).

mod calendar_feed;
mod notifications;

use axum::{routing::get, Router};
use utoipa::OpenApi;

use crate::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/notifications", get(notifications::list))
        .route(
            "/api/v1/providers/{id}/calendar-feed",
            get(calendar_feed::get)
                .post(calendar_feed::create)
                .delete(calendar_feed::delete),
        )
        .route("/api/v1/calendar-feeds/{token}", get(calendar_feed::read))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Carebook notifications", description = "The emails sent to you about your appointments and about emergency access to records, and what became of them; a provider's calendar feed."),
    paths(
        notifications::list,
        calendar_feed::create, calendar_feed::get, calendar_feed::delete, calendar_feed::read,
    ),
    components(schemas(
        notifications::Notification, notifications::NotificationList,
        calendar_feed::FeedRequest, calendar_feed::CreatedFeed, calendar_feed::FeedSettings,
        platform::problem::ProblemBody,
    )),
    tags(
        (name = "notifications", description = "Appointment emails and reminders"),
        (name = "calendar-feed", description = "A provider's schedule as an iCalendar subscription"),
    )
)]
pub struct ApiDoc;
