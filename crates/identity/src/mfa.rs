//! The second factor: enrolling an authenticator app (a secret, confirmed by
//! its first code, and ten recovery codes shown once), turning it off, and
//! checking a code at sign-in. Wrong codes count as failed sign-ins.
//!
//! The TOTP secret is stored base32 in identity's database (the app and the
//! server must share it; it is never logged and never shown again after
//! enrolment); recovery codes only as SHA-256 hashes.

use sha2::{Digest, Sha256};

use crate::{
    domain::totp::{self, SecondFactor, TotpSecret},
    error::Error,
    guard::{self, Attempt},
    sessions::Client,
    store::{self, UserRow},
    AppState,
};

/// A pending enrolment: add `secret` to an authenticator app (or scan
/// `otpauth_uri` as a QR code), then confirm with its first code.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Enrolment {
    /// Base32 (RFC 4648, no padding); SHA-1, 6 digits, 30 s.
    pub secret: String,
    pub otpauth_uri: String,
}

/// Shown once: each code signs in once in place of an app code.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

fn recovery_hash(normalized: &str) -> Vec<u8> {
    Sha256::digest(format!("recovery-code:{normalized}").as_bytes()).to_vec()
}

/// Start (or restart) an enrolment for an account without TOTP.
pub async fn enrol(state: &AppState, user: &UserRow) -> Result<Enrolment, Error> {
    if user.mfa_enabled() {
        return Err(Error::MfaAlreadyEnabled);
    }
    let secret = TotpSecret::generate();
    store::set_pending_totp(&state.db, user.id, secret.base32()).await?;
    tracing::info!(user_id = %user.id, "TOTP enrolment started");
    Ok(Enrolment {
        otpauth_uri: secret.otpauth_uri(&user.email),
        secret: secret.base32().to_owned(),
    })
}

/// Confirm the pending secret with a code from the app: TOTP is on, and the
/// account gets ten new recovery codes.
pub async fn confirm(
    state: &AppState,
    user: &UserRow,
    code: &str,
    client: &Client,
) -> Result<RecoveryCodes, Error> {
    if user.mfa_enabled() {
        return Err(Error::MfaAlreadyEnabled);
    }
    let pending = user
        .totp_pending_secret
        .as_deref()
        .ok_or(Error::MfaNotEnabled)?;
    let secret = TotpSecret::parse(pending).map_err(|e| Error::Internal(e.to_string()))?;
    let attempt = Attempt::new(&user.email, client.addr);
    guard::check(state, &attempt).await?;
    let now = state.clock.now();
    let Some(step) = secret.matching_step(code, now.timestamp().max(0) as u64) else {
        guard::failed(state, &attempt, Some(user)).await?;
        return Err(Error::InvalidMfaCode);
    };
    let codes = totp::recovery_codes();
    let hashes: Vec<Vec<u8>> = codes
        .iter()
        .map(|c| recovery_hash(&totp::normalize_recovery(c)))
        .collect();
    let mut tx = state.db.begin().await?;
    let current = store::user_for_update(&mut tx, user.id)
        .await?
        .ok_or(Error::UserNotFound)?;
    // The secret confirmed must still be the one pending (no enrolment restarted meanwhile).
    if current.mfa_enabled() {
        return Err(Error::MfaAlreadyEnabled);
    }
    if current.totp_pending_secret.as_deref() != Some(pending) {
        return Err(Error::MfaNotEnabled);
    }
    store::enable_totp(&mut tx, user.id, step, now).await?;
    store::replace_recovery_codes(&mut tx, user.id, &hashes).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "TOTP enabled");
    Ok(RecoveryCodes {
        recovery_codes: codes,
    })
}

/// Turn TOTP off with a current code (or a recovery code); not for roles that
/// must sign in with it.
pub async fn disable(
    state: &AppState,
    user: &UserRow,
    code: &str,
    client: &Client,
) -> Result<(), Error> {
    if state.policy.mfa_required(user.role()) {
        return Err(Error::MfaRequiredForRole);
    }
    if !user.mfa_enabled() {
        return Err(Error::MfaNotEnabled);
    }
    let attempt = Attempt::new(&user.email, client.addr);
    guard::check(state, &attempt).await?;
    if !check_second_factor(state, user, code).await? {
        guard::failed(state, &attempt, Some(user)).await?;
        return Err(Error::InvalidMfaCode);
    }
    let mut tx = state.db.begin().await?;
    store::disable_totp(&mut tx, user.id).await?;
    store::delete_recovery_codes(&mut tx, user.id).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "TOTP disabled");
    Ok(())
}

/// Whether `code` is a current TOTP code of the account not used before, or
/// one of its unused recovery codes (which it then uses up).
pub async fn check_second_factor(
    state: &AppState,
    user: &UserRow,
    code: &str,
) -> Result<bool, Error> {
    let now = state.clock.now();
    match SecondFactor::parse(code) {
        SecondFactor::Totp(code) => {
            let Some(stored) = user.totp_secret.as_deref() else {
                return Ok(false);
            };
            let secret = TotpSecret::parse(stored).map_err(|e| Error::Internal(e.to_string()))?;
            let Some(step) = secret.matching_step(&code, now.timestamp().max(0) as u64) else {
                return Ok(false);
            };
            if !totp::fresh(step, user.last_step()) {
                return Ok(false);
            }
            Ok(store::claim_totp_step(&state.db, user.id, step).await?)
        }
        SecondFactor::Recovery(code) => {
            if code.is_empty() || user.totp_secret.is_none() {
                return Ok(false);
            }
            let mut conn = state.db.acquire().await?;
            let used =
                store::use_recovery_code(&mut conn, user.id, &recovery_hash(&code), now).await?;
            if used {
                tracing::info!(user_id = %user.id, "recovery code used");
            }
            Ok(used)
        }
    }
}
