//! A provider's calendar feed: managed by the provider (or staff and admins)
//! with an access token, read by calendar clients at its secret URL without one.

use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use platform::{
    auth::{Actor, AuthUser},
    extract::{Json, Path},
    problem::ProblemBody,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{calendar_feeds as app, error::Error, AppState};

/// What the feed shows besides each appointment's type and time.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedRequest {
    /// Show the patient's initials (`A. P.`) in each event; default false.
    /// Never names, addresses, notes or reasons.
    #[serde(default)]
    pub patient_initials: bool,
}

/// A feed just created or rotated: its URL is shown only in this answer.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedFeed {
    /// The secret subscription URL (`…/api/v1/calendar-feeds/{token}`): anyone
    /// holding it reads the schedule, so keep it like a password.
    pub url: String,
    pub patient_initials: bool,
    pub created_at: DateTime<Utc>,
}

/// A feed's settings (never its URL).
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeedSettings {
    pub patient_initials: bool,
    /// When the current URL was issued.
    pub created_at: DateTime<Utc>,
}

/// Create the provider's calendar feed, or rotate it: a new secret URL
/// replaces the old one, which stops working at once.
#[utoipa::path(post, path = "/api/v1/providers/{id}/calendar-feed", operation_id = "create_calendar_feed", tag = "calendar-feed", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Provider id")),
    request_body = FeedRequest,
    responses(
        (status = 201, body = CreatedFeed),
        (status = 401, body = ProblemBody),
        (status = 403, description = "forbidden: only the provider themself, staff and admins", body = ProblemBody),
        (status = 422, body = ProblemBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Path(provider_id): Path<Uuid>,
    Json(body): Json<FeedRequest>,
) -> Result<impl IntoResponse, Error> {
    let (url, feed) = app::create(
        &state,
        &Actor::from(&user),
        provider_id,
        body.patient_initials,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedFeed {
            url,
            patient_initials: feed.patient_initials,
            created_at: feed.created_at,
        }),
    ))
}

/// The provider's calendar feed settings.
#[utoipa::path(get, path = "/api/v1/providers/{id}/calendar-feed", operation_id = "calendar_feed", tag = "calendar-feed", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Provider id")),
    responses(
        (status = 200, body = FeedSettings),
        (status = 401, body = ProblemBody),
        (status = 403, description = "forbidden: only the provider themself, staff and admins", body = ProblemBody),
        (status = 404, description = "calendar-feed-not-found", body = ProblemBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    Path(provider_id): Path<Uuid>,
) -> Result<Json<FeedSettings>, Error> {
    let feed = app::settings(&state, &Actor::from(&user), provider_id).await?;
    Ok(Json(FeedSettings {
        patient_initials: feed.patient_initials,
        created_at: feed.created_at,
    }))
}

/// End the provider's calendar feed: its URL answers 404 from now on.
#[utoipa::path(delete, path = "/api/v1/providers/{id}/calendar-feed", operation_id = "delete_calendar_feed", tag = "calendar-feed", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Provider id")),
    responses(
        (status = 204, description = "The feed is gone"),
        (status = 401, body = ProblemBody),
        (status = 403, description = "forbidden: only the provider themself, staff and admins", body = ProblemBody),
        (status = 404, description = "calendar-feed-not-found", body = ProblemBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(provider_id): Path<Uuid>,
) -> Result<StatusCode, Error> {
    app::delete(&state, &Actor::from(&user), provider_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The provider's schedule as iCalendar, for calendar clients to subscribe
/// to: booked, checked-in and completed appointments from 30 days ago to 180
/// days ahead, in UTC, each with its type (and the patient's initials when the
/// provider opted in). No access token: the secret token in the path is the
/// authority. Not stored by any cache (`Cache-Control: no-store`); clients poll.
#[utoipa::path(get, path = "/api/v1/calendar-feeds/{token}", operation_id = "read_calendar_feed", tag = "calendar-feed",
    params(("token" = String, Path, description = "The secret token of the feed's URL")),
    responses(
        (status = 200, content_type = "text/calendar", body = String),
        (status = 404, description = "calendar-feed-not-found: unknown, replaced or deleted", body = ProblemBody),
    ))]
pub async fn read(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, Error> {
    let ics = app::render(&state, &token).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/calendar; charset=utf-8"),
            ),
            // The schedule is personal data: no cache keeps it, each poll asks again.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        ics,
    )
        .into_response())
}
