use axum::extract::State;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use platform::{
    auth::AuthUser,
    extract::{Json, Query},
    problem::ProblemBody,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{error::Error, store::deliveries, AppState};

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// One email to the caller.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notification {
    pub id: Uuid,
    /// The appointment the email is about; for `break-glass`, the grant; for
    /// an account email, the identity event that asked for it; for
    /// `waitlist-offer`, the offer.
    pub appointment_id: Uuid,
    /// `booked`, `rescheduled`, `cancelled`, `reminder-<minutes before>`,
    /// `break-glass` (someone opened your record in an emergency, or, to an
    /// admin, someone's record), `waitlist-offer` (a slot opened for you), and
    /// about your account: `verify-email`, `registration-attempted`,
    /// `password-reset`, `password-changed`, `signin-alert`.
    pub kind: String,
    /// The appointment's version the email describes (1 for `break-glass`,
    /// `waitlist-offer` and account emails).
    pub version: i32,
    /// `pending`, `sending`, `sent`, `failed`, `cancelled` (no longer needed:
    /// the appointment changed again before it went out, or the link or offer
    /// expired).
    pub status: String,
    pub subject: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotificationList {
    pub items: Vec<Notification>,
    pub next_cursor: Option<String>,
}

fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(c: &str) -> Result<Uuid, Error> {
    let bad = || Error::invalid("cursor", "not a cursor from a previous page");
    let bytes = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
    Uuid::from_slice(&bytes).map_err(|_| bad())
}

impl From<deliveries::DeliveryRow> for Notification {
    fn from(r: deliveries::DeliveryRow) -> Self {
        Self {
            id: r.id,
            appointment_id: r.appointment_id,
            kind: r.kind,
            version: r.version,
            status: r.status,
            subject: r.subject,
            attempts: r.attempts,
            created_at: r.created_at,
            sent_at: r.sent_at,
        }
    }
}

/// The caller's own emails, newest first, with what became of each.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = NotificationList), (status = 401, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(p): Query<ListParams>,
) -> Result<Json<NotificationList>, Error> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid("limit", "between 1 and 100"));
    }
    let before = p.cursor.as_deref().map(decode_cursor).transpose()?;
    let rows = deliveries::list_for(&state.db, user.claims().sub, before, limit + 1).await?;
    let mut items: Vec<Notification> = rows.into_iter().map(Notification::from).collect();
    let next_cursor =
        platform::page::next_page(&mut items, limit as usize, |n| encode_cursor(n.id));
    Ok(Json(NotificationList { items, next_cursor }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        assert!(decode_cursor("not-a-cursor!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("short")).is_err());
    }
}
