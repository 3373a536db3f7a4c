//! Logging in (password, then a second factor where the account has one or
//! its role needs one), refreshing (RFC 9700 rotation within a session that
//! ends a fixed time after the login), logging out, and a user's view of
//! their own sessions.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use platform::auth::Role;
use uuid::Uuid;

use crate::{
    domain::{client::coarse_network, Email},
    error::Error,
    guard::{self, Attempt},
    mfa,
    store::{self, NewSession, Purpose, UserRow},
    tokens::{self, hash_refresh_token, hash_secret},
    AppState,
};

/// How long the second step of a login may take.
pub const MFA_STEP_TTL: chrono::Duration = chrono::Duration::minutes(5);
/// Longest user agent a session keeps.
const MAX_USER_AGENT_CHARS: usize = 200;

/// Where a request comes from, as far as sign-in cares.
#[derive(Clone, Debug)]
pub struct Client {
    /// The client's address (see `domain::client::client_address`).
    pub addr: IpAddr,
    pub user_agent: Option<String>,
}

/// What a successful login or refresh returns.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The SMART scopes the access token grants, space-separated (as its
    /// `scope` claim; OAuth 2 token response).
    #[schema(example = "openid fhirUser launch/patient patient/*.rs patient/Appointment.cu")]
    pub scope: String,
}

/// The right password of an account that signs in with a second factor: send
/// `mfa_token` with a code to `POST /api/v1/auth/mfa/verify`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct MfaChallenge {
    /// Always `true`.
    pub mfa_required: bool,
    /// Single use, bound to the account, valid for `expires_in` seconds.
    pub mfa_token: String,
    /// The account's role needs a second factor and none is set up: the
    /// `mfa_token` also enrols one (`POST /api/v1/auth/mfa/totp`, then
    /// `/confirm`, each with `{"mfa_token"}` in the body) before the verify.
    pub enrolment_required: bool,
    pub expires_in: u64,
}

/// What the password step of a login gives.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum LoginOutcome {
    Tokens(TokenPair),
    Mfa(MfaChallenge),
}

/// One of the caller's sessions.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    /// The session ends then, however often it is refreshed.
    pub expires_at: DateTime<Utc>,
    /// The session of the access token that asked.
    pub current: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Where the login came from, coarsely (an IPv4 /24 or an IPv6 /48).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

pub async fn login(
    state: &AppState,
    raw_email: &str,
    password: &str,
    client: &Client,
) -> Result<LoginOutcome, Error> {
    let email = Email::parse(raw_email).ok();
    let attempt = Attempt::new(
        email.as_ref().map(Email::as_str).unwrap_or(raw_email),
        client.addr,
    );
    guard::check(state, &attempt).await?;
    let user = match &email {
        Some(e) => store::user_by_email(&state.db, e).await?,
        None => None,
    };
    let hash = user.as_ref().map(|u| u.password_hash.as_str());
    // Unknown emails are verified against a dummy hash: the same time either way.
    let matched = state.hasher.verify(password, hash).await?;
    let user = match user {
        Some(u) if matched => u,
        other => {
            guard::failed(state, &attempt, other.as_ref()).await?;
            return Err(Error::InvalidCredentials);
        }
    };
    // Only someone with the password learns any of this.
    if user.disabled() {
        return Err(Error::AccountDisabled);
    }
    if !user.verified() {
        return Err(Error::EmailUnverified);
    }
    if user.mfa_enabled() || state.policy.mfa_required(user.role()) {
        return mfa_challenge(state, &user).await.map(LoginOutcome::Mfa);
    }
    guard::succeeded(state, &attempt).await?;
    let pair = open_session(state, &user, client).await?;
    tracing::info!(user_id = %user.id, "logged in");
    Ok(LoginOutcome::Tokens(pair))
}

async fn mfa_challenge(state: &AppState, user: &UserRow) -> Result<MfaChallenge, Error> {
    let now = state.clock.now();
    let secret = tokens::new_secret_token();
    let mut conn = state.db.acquire().await?;
    store::insert_token(
        &mut conn,
        &secret.hash,
        user.id,
        Purpose::Mfa,
        now,
        now + MFA_STEP_TTL,
    )
    .await?;
    Ok(MfaChallenge {
        mfa_required: true,
        mfa_token: secret.token,
        enrolment_required: !user.mfa_enabled(),
        expires_in: MFA_STEP_TTL.num_seconds().unsigned_abs(),
    })
}

/// The account an unused, unexpired MFA step token belongs to.
pub async fn mfa_step_user(state: &AppState, mfa_token: &str) -> Result<UserRow, Error> {
    let now = state.clock.now();
    let user_id = store::token_user(&state.db, &hash_secret(mfa_token), Purpose::Mfa, now)
        .await?
        .ok_or(Error::InvalidMfaToken)?;
    store::user_by_id(&state.db, user_id)
        .await?
        .ok_or(Error::InvalidMfaToken)
}

/// The second step of a login: a TOTP code or a recovery code with the
/// `mfa_token` the password step gave. Wrong codes count as failed sign-ins.
pub async fn verify_mfa(
    state: &AppState,
    mfa_token: &str,
    code: &str,
    client: &Client,
) -> Result<TokenPair, Error> {
    let user = mfa_step_user(state, mfa_token).await?;
    let attempt = Attempt::new(&user.email, client.addr);
    guard::check(state, &attempt).await?;
    if user.disabled() {
        return Err(Error::AccountDisabled);
    }
    if !user.mfa_enabled() {
        return Err(Error::MfaEnrolmentRequired);
    }
    if !mfa::check_second_factor(state, &user, code).await? {
        guard::failed(state, &attempt, Some(&user)).await?;
        return Err(Error::InvalidMfaCode);
    }
    let now = state.clock.now();
    store::consume_token(&state.db, &hash_secret(mfa_token), Purpose::Mfa, now)
        .await?
        .ok_or(Error::InvalidMfaToken)?;
    guard::succeeded(state, &attempt).await?;
    let pair = open_session(state, &user, client).await?;
    tracing::info!(user_id = %user.id, "logged in with a second factor");
    Ok(pair)
}

/// A new session for `user`, ending `IDENTITY_SESSION_MAX_DAYS` from now.
async fn open_session(
    state: &AppState,
    user: &UserRow,
    client: &Client,
) -> Result<TokenPair, Error> {
    let now = state.clock.now();
    let id = Uuid::now_v7();
    let expires_at = now + state.policy.session_max;
    let user_agent: Option<String> = client.user_agent.as_deref().map(|ua| {
        ua.chars()
            .filter(|c| !c.is_control())
            .take(MAX_USER_AGENT_CHARS)
            .collect()
    });
    let network = coarse_network(client.addr);
    let mut tx = state.db.begin().await?;
    store::insert_session(
        &mut tx,
        &NewSession {
            id,
            user_id: user.id,
            created_at: now,
            expires_at,
            user_agent: user_agent.as_deref(),
            client_network: Some(&network),
        },
    )
    .await?;
    let pair = issue(state, &mut tx, user.id, user.role(), id, expires_at).await?;
    tx.commit().await?;
    Ok(pair)
}

/// Rotate a refresh token. A token presented a second time means it leaked:
/// the whole family (every token descended from that login) is revoked. A
/// session past its end is revoked and refused.
pub async fn refresh(state: &AppState, presented: &str) -> Result<TokenPair, Error> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let row = store::refresh_for_update(&mut tx, &hash_refresh_token(presented))
        .await?
        .ok_or(Error::InvalidRefreshToken)?;
    if row.used_at.is_some() || row.revoked_at.is_some() {
        let revoked = store::revoke_family(&mut tx, row.family_id, now).await?;
        tx.commit().await?;
        if revoked > 0 {
            tracing::warn!(user_id = %row.user_id, family_id = %row.family_id, revoked, "refresh token reuse; family revoked");
        }
        return Err(Error::RefreshTokenReused);
    }
    let session = store::session_for_update(&mut tx, row.family_id)
        .await?
        .ok_or(Error::InvalidRefreshToken)?;
    if session.expires_at <= now {
        store::revoke_family(&mut tx, session.id, now).await?;
        tx.commit().await?;
        tracing::info!(user_id = %row.user_id, session_id = %session.id, "session ended");
        return Err(Error::SessionExpired);
    }
    if row.expires_at <= now {
        return Err(Error::InvalidRefreshToken);
    }
    let user = store::user_by_id(&mut *tx, row.user_id)
        .await?
        .filter(|u| !u.disabled())
        .ok_or(Error::InvalidRefreshToken)?;
    store::mark_used(&mut tx, row.id, now).await?;
    store::touch_session(&mut tx, session.id, now).await?;
    let pair = issue(
        state,
        &mut tx,
        user.id,
        user.role(),
        session.id,
        session.expires_at,
    )
    .await?;
    tx.commit().await?;
    Ok(pair)
}

/// Revoke the presented token's family. Unknown tokens are ignored: logging out
/// twice is not an error.
pub async fn logout(state: &AppState, presented: &str) -> Result<(), Error> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    if let Some(row) = store::refresh_for_update(&mut tx, &hash_refresh_token(presented)).await? {
        store::revoke_family(&mut tx, row.family_id, now).await?;
        tracing::info!(user_id = %row.user_id, "logged out");
    }
    tx.commit().await?;
    Ok(())
}

/// The caller's sessions still usable, newest first; `current` is the one
/// their access token belongs to.
pub async fn list(
    state: &AppState,
    user_id: Uuid,
    current: Option<Uuid>,
) -> Result<Vec<SessionView>, Error> {
    let rows = store::active_sessions(&state.db, user_id, state.clock.now()).await?;
    Ok(rows
        .into_iter()
        .map(|s| SessionView {
            current: Some(s.id) == current,
            id: s.id,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            user_agent: s.user_agent,
            network: s.client_network,
        })
        .collect())
}

/// End one of the caller's own sessions (someone else's is not found).
pub async fn revoke_one(state: &AppState, user_id: Uuid, session_id: Uuid) -> Result<(), Error> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let session = store::session_for_update(&mut tx, session_id)
        .await?
        .filter(|s| s.user_id == user_id)
        .ok_or(Error::SessionNotFound)?;
    store::revoke_family(&mut tx, session.id, now).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user_id, session_id = %session_id, "session revoked by its owner");
    Ok(())
}

/// End every session of the caller but `keep` (all of them with `None`).
pub async fn revoke_all(state: &AppState, user_id: Uuid, keep: Option<Uuid>) -> Result<u64, Error> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let ended = store::revoke_user_sessions(&mut tx, user_id, keep, now).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user_id, ended, "sessions revoked by their owner");
    Ok(ended)
}

async fn issue(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    role: Role,
    session_id: Uuid,
    session_ends: DateTime<Utc>,
) -> Result<TokenPair, Error> {
    let s = &state.settings;
    let now = state.clock.now();
    let claims = tokens::session_claims(
        user_id,
        role,
        &s.issuer,
        &s.audience,
        now,
        s.access_ttl.as_secs() as i64,
        session_id,
    );
    let access_token = state
        .keys
        .sign(&claims)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let refresh = tokens::new_refresh_token();
    let idle_end =
        now + chrono::Duration::from_std(s.refresh_ttl).unwrap_or(chrono::Duration::days(30));
    store::insert_refresh(
        tx,
        session_id,
        user_id,
        &refresh.hash,
        now,
        idle_end.min(session_ends),
    )
    .await?;
    Ok(TokenPair {
        access_token,
        refresh_token: refresh.token,
        token_type: "Bearer",
        expires_in: s.access_ttl.as_secs(),
        scope: claims.claims.scope.unwrap_or_default(),
    })
}
