//! Logging in, refreshing and logging out (RFC 9700 refresh-token rotation).

use chrono::Utc;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    domain::{lockout, Email},
    error::Error,
    store,
    tokens::{self, hash_refresh_token},
    AppState,
};

/// What a successful login or refresh returns.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// The throttle key for an email: a hash, so the table holds no addresses.
fn throttle_key(email: &str) -> Vec<u8> {
    Sha256::digest(format!("login-throttle:{email}").as_bytes()).to_vec()
}

pub async fn login(state: &AppState, raw_email: &str, password: &str) -> Result<TokenPair, Error> {
    // An unparsable email cannot match an account; answer as for a wrong password.
    let email = Email::parse(raw_email).map_err(|_| Error::InvalidCredentials)?;
    let key = throttle_key(email.as_str());
    let now = Utc::now();
    if let Some(until) = store::locked_until(&state.db, &key).await? {
        if until > now {
            let retry_after = (until - now).num_seconds().max(1) as u64;
            return Err(Error::LoginLocked { retry_after });
        }
    }
    let user = store::user_by_email(&state.db, &email).await?;
    let hash = user.as_ref().map(|u| u.password_hash.as_str());
    let matched = state.hasher.verify(password, hash).await?;
    let user = match user {
        Some(u) if matched && u.disabled_at.is_none() => u,
        _ => {
            let failures = store::record_failure(&state.db, &key).await?;
            if let Some(lock) = lockout::lock_after(failures) {
                let until = now + chrono::Duration::from_std(lock).unwrap_or_default();
                store::lock(&state.db, &key, until).await?;
            }
            return Err(Error::InvalidCredentials);
        }
    };
    store::clear_failures(&state.db, &key).await?;
    let mut tx = state.db.begin().await?;
    let pair = issue(state, &mut tx, user.id, user.role(), Uuid::now_v7()).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "logged in");
    Ok(pair)
}

/// Rotate a refresh token. A token presented a second time means it leaked:
/// the whole family (every token descended from that login) is revoked.
pub async fn refresh(state: &AppState, presented: &str) -> Result<TokenPair, Error> {
    let mut tx = state.db.begin().await?;
    let row = store::refresh_for_update(&mut tx, &hash_refresh_token(presented))
        .await?
        .ok_or(Error::InvalidRefreshToken)?;
    if row.used_at.is_some() || row.revoked_at.is_some() {
        let revoked = store::revoke_family(&mut tx, row.family_id).await?;
        tx.commit().await?;
        tracing::warn!(user_id = %row.user_id, family_id = %row.family_id, revoked, "refresh token reuse; family revoked");
        return Err(Error::RefreshTokenReused);
    }
    if row.expires_at <= Utc::now() {
        return Err(Error::InvalidRefreshToken);
    }
    let user = store::user_by_id(&mut tx, row.user_id)
        .await?
        .filter(|u| u.disabled_at.is_none())
        .ok_or(Error::InvalidRefreshToken)?;
    store::mark_used(&mut tx, row.id).await?;
    let pair = issue(state, &mut tx, user.id, user.role(), row.family_id).await?;
    tx.commit().await?;
    Ok(pair)
}

/// Revoke the presented token's family. Unknown tokens are ignored: logging out
/// twice is not an error.
pub async fn logout(state: &AppState, presented: &str) -> Result<(), Error> {
    let mut tx = state.db.begin().await?;
    if let Some(row) = store::refresh_for_update(&mut tx, &hash_refresh_token(presented)).await? {
        store::revoke_family(&mut tx, row.family_id).await?;
        tracing::info!(user_id = %row.user_id, "logged out");
    }
    tx.commit().await?;
    Ok(())
}

async fn issue(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    role: platform::auth::Role,
    family_id: Uuid,
) -> Result<TokenPair, Error> {
    let s = &state.settings;
    let now = Utc::now();
    let claims = tokens::access_claims(
        user_id,
        role,
        &s.issuer,
        &s.audience,
        now,
        s.access_ttl.as_secs() as i64,
    );
    let access_token = state
        .keys
        .sign(&claims)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let refresh = tokens::new_refresh_token();
    let expires =
        now + chrono::Duration::from_std(s.refresh_ttl).unwrap_or(chrono::Duration::days(30));
    store::insert_refresh(tx, family_id, user_id, &refresh.hash, expires).await?;
    Ok(TokenPair {
        access_token,
        refresh_token: refresh.token,
        token_type: "Bearer",
        expires_in: s.access_ttl.as_secs(),
    })
}
