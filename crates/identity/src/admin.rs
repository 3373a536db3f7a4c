//! Administrators' account management: the account list, and disabling and
//! enabling accounts — audited, and a disabled account's access tokens refused
//! everywhere within a minute through the Redis set of revoked users.
//!
//! The set `<redis_prefix>identity:revoked` (`platform::auth::RevocationSource`)
//! holds user ids (members) scored with the unix second after which the entry
//! may be dropped: by then every access token issued before the disable has
//! expired. Every service's verifier polls it; identity itself checks
//! `disabled` on each request.

use chrono::{DateTime, Utc};
use platform::auth::{RevocationSource, Role};
use uuid::Uuid;

use crate::{
    domain::admin::{AuditReason, Cursor, UserSearch},
    error::Error,
    store::{self, AuditAction, Purpose, UserRow},
    AppState,
};

/// An account as the administrator's list shows it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AdminUser {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub verified: bool,
    pub disabled: bool,
    pub mfa_enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&UserRow> for AdminUser {
    fn from(r: &UserRow) -> Self {
        Self {
            id: r.id,
            email: r.email.clone(),
            name: r.name.clone(),
            role: r.role(),
            verified: r.verified(),
            disabled: r.disabled(),
            mfa_enabled: r.mfa_enabled(),
            created_at: r.created_at,
        }
    }
}

/// One page of the account list, in email order.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct UserPage {
    pub items: Vec<AdminUser>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

pub async fn list(state: &AppState, search: &UserSearch) -> Result<UserPage, Error> {
    let mut rows = store::search_users(&state.db, search).await?;
    let limit = usize::try_from(search.limit).unwrap_or(usize::MAX);
    let next_cursor = platform::page::next_page(&mut rows, limit, |last| {
        Cursor {
            email: last.email.clone(),
            id: last.id,
        }
        .encode()
    });
    Ok(UserPage {
        items: rows.iter().map(AdminUser::from).collect(),
        next_cursor,
    })
}

/// Disable an account: it cannot sign in or refresh (every session ends), and
/// its access tokens are refused everywhere within a minute. Needs Redis: if
/// the revocation cannot be published, nothing changes (503).
pub async fn disable(
    state: &AppState,
    admin_id: Uuid,
    user_id: Uuid,
    reason: &AuditReason,
) -> Result<AdminUser, Error> {
    if admin_id == user_id {
        return Err(Error::CannotDisableSelf);
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let user = store::user_for_update(&mut tx, user_id)
        .await?
        .ok_or(Error::UserNotFound)?;
    let disabled_at = user.disabled_at.unwrap_or(now);
    store::set_disabled(&mut tx, user_id, Some(disabled_at)).await?;
    store::append_audit(
        &mut tx,
        admin_id,
        user_id,
        AuditAction::Disable,
        reason.as_str(),
        now,
    )
    .await?;
    let ended = store::revoke_user_sessions(&mut tx, user_id, None, now).await?;
    store::expire_tokens(&mut tx, user_id, Purpose::Mfa, now).await?;
    store::expire_tokens(&mut tx, user_id, Purpose::PasswordReset, now).await?;
    let drop_after =
        now.timestamp() + i64::try_from(state.settings.access_ttl.as_secs()).unwrap_or(3600) + 60;
    revoke_access(state, user_id, drop_after, now).await?;
    tx.commit().await?;
    tracing::info!(admin_id = %admin_id, user_id = %user_id, sessions_ended = ended, "account disabled");
    Ok(AdminUser::from(&store::UserRow {
        disabled_at: Some(disabled_at),
        ..user
    }))
}

/// Enable a disabled account again (its owner logs in anew).
pub async fn enable(
    state: &AppState,
    admin_id: Uuid,
    user_id: Uuid,
    reason: &AuditReason,
) -> Result<AdminUser, Error> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let user = store::user_for_update(&mut tx, user_id)
        .await?
        .ok_or(Error::UserNotFound)?;
    store::set_disabled(&mut tx, user_id, None).await?;
    store::append_audit(
        &mut tx,
        admin_id,
        user_id,
        AuditAction::Enable,
        reason.as_str(),
        now,
    )
    .await?;
    restore_access(state, user_id, now).await?;
    tx.commit().await?;
    tracing::info!(admin_id = %admin_id, user_id = %user_id, "account enabled");
    Ok(AdminUser::from(&store::UserRow {
        disabled_at: None,
        ..user
    }))
}

fn redis(state: &AppState) -> Result<(redis::aio::ConnectionManager, String), Error> {
    let cache = state.redis.get().ok_or(Error::Unavailable(
        "Account changes are briefly unavailable; try again shortly.",
    ))?;
    Ok((
        cache.conn(),
        RevocationSource::key_for(&state.settings.redis_prefix),
    ))
}

fn unavailable(e: redis::RedisError) -> Error {
    tracing::warn!(error = %e, "revoked-users set not updated");
    Error::Unavailable("Account changes are briefly unavailable; try again shortly.")
}

/// List the user in the revoked set until `drop_after` (unix seconds); drop
/// entries past theirs while at it.
async fn revoke_access(
    state: &AppState,
    user_id: Uuid,
    drop_after: i64,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let (mut conn, key) = redis(state)?;
    redis::pipe()
        .cmd("ZADD")
        .arg(&key)
        .arg(drop_after)
        .arg(user_id.to_string())
        .ignore()
        .cmd("ZREMRANGEBYSCORE")
        .arg(&key)
        .arg("-inf")
        .arg(format!("({}", now.timestamp()))
        .ignore()
        .query_async::<()>(&mut conn)
        .await
        .map_err(unavailable)
}

async fn restore_access(state: &AppState, user_id: Uuid, now: DateTime<Utc>) -> Result<(), Error> {
    let (mut conn, key) = redis(state)?;
    redis::pipe()
        .cmd("ZREM")
        .arg(&key)
        .arg(user_id.to_string())
        .ignore()
        .cmd("ZREMRANGEBYSCORE")
        .arg(&key)
        .arg("-inf")
        .arg(format!("({}", now.timestamp()))
        .ignore()
        .query_async::<()>(&mut conn)
        .await
        .map_err(unavailable)
}
