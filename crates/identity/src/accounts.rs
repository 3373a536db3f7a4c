//! Accounts: creating them (an administrator's, verified at once; a patient's
//! own registration, which never says whether the address has an account),
//! confirming the address, resetting and changing the password. Each change
//! and the events it announces are stored in one transaction.

use chrono::{DateTime, Utc};
use contracts::identity::{
    PasswordChanged, PasswordResetRequested, RegistrationAttempted, UserRegistered,
    VerificationRequested,
};
use platform::auth::Role;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    domain::{mail, Email, NewPassword, PersonName, TimeZone},
    error::Error,
    events,
    guard::{self, Attempt},
    sessions::Client,
    store::{self, InsertUserError, NewUser, Purpose, UserRow},
    tokens::{self, hash_secret},
    AppState,
};

/// A request to create an account, as received.
pub struct AccountRequest<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub name: &'a str,
    pub role: Role,
    /// The person's IANA time zone, when known (a patient's browser sends it).
    pub time_zone: Option<&'a str>,
}

/// The account as shown to its owner (and to the admin who created it).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Uuid>,
    /// The address was confirmed (or an administrator vouched for it).
    pub verified: bool,
    /// Sign-in asks for a code from an authenticator app.
    pub mfa_enabled: bool,
}

impl Account {
    pub fn new(id: Uuid, email: String, name: String, role: Role) -> Self {
        Self {
            id,
            email,
            name,
            role,
            patient_id: (role == Role::Patient).then_some(id),
            provider_id: (role == Role::Provider).then_some(id),
            verified: false,
            mfa_enabled: false,
        }
    }

    pub fn from_row(row: &UserRow) -> Self {
        Self {
            verified: row.verified(),
            mfa_enabled: row.mfa_enabled(),
            ..Self::new(row.id, row.email.clone(), row.name.clone(), row.role())
        }
    }
}

/// The answer to a registration, whether or not the address had an account.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// `verification_sent` or `reset_sent`.
    pub status: &'static str,
}

impl Accepted {
    pub const VERIFICATION_SENT: Accepted = Accepted {
        status: "verification_sent",
    };
    pub const RESET_SENT: Accepted = Accepted {
        status: "reset_sent",
    };
}

/// A request that passed validation.
struct Valid {
    email: Email,
    name: PersonName,
    password: NewPassword,
    time_zone: Option<TimeZone>,
}

fn validate(req: &AccountRequest<'_>) -> Result<Valid, Error> {
    let email = Email::parse(req.email).map_err(|_| Error::InvalidEmail)?;
    let name = PersonName::parse(req.name)?;
    let password = NewPassword::parse(req.password, &email)?;
    let time_zone = req.time_zone.map(TimeZone::parse).transpose()?;
    Ok(Valid {
        email,
        name,
        password,
        time_zone,
    })
}

/// An administrator creates an account of any role; the admin vouches for the
/// address, so it is verified at once.
pub async fn create(state: &AppState, req: AccountRequest<'_>) -> Result<Account, Error> {
    create_with_id(state, Uuid::now_v7(), req).await
}

/// Create a verified account with a chosen id (the demo clinic's fixed ids).
pub async fn create_with_id(
    state: &AppState,
    id: Uuid,
    req: AccountRequest<'_>,
) -> Result<Account, Error> {
    let valid = validate(&req)?;
    let password_hash = state.hasher.hash(valid.password.expose()).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    insert_account(
        &mut tx,
        id,
        &valid,
        req.role,
        &password_hash,
        now,
        Some(now),
    )
    .await?;
    tx.commit().await?;
    state.relay.wake();
    tracing::info!(user_id = %id, role = req.role.as_str(), "account created");
    let mut account = Account::new(
        id,
        valid.email.to_string(),
        valid.name.as_str().to_owned(),
        req.role,
    );
    account.verified = true;
    Ok(account)
}

/// Insert the user and its `user.registered` (unchanged since v1: directory,
/// scheduling and records need the account at once, verified or not). The
/// time zone is not kept here: the directory owns it from then on.
/// `EmailTaken` when the address has an account.
async fn insert_account(
    conn: &mut PgConnection,
    id: Uuid,
    valid: &Valid,
    role: Role,
    password_hash: &str,
    now: DateTime<Utc>,
    verified_at: Option<DateTime<Utc>>,
) -> Result<(), Error> {
    store::insert_user(
        conn,
        &NewUser {
            id,
            email: &valid.email,
            name: valid.name.as_str(),
            role,
            password_hash,
            created_at: now,
            verified_at,
        },
    )
    .await
    .map_err(|e| match e {
        InsertUserError::EmailTaken => Error::EmailTaken,
        InsertUserError::Db(e) => e.into(),
    })?;
    let registered = UserRegistered {
        user_id: id,
        role,
        name: valid.name.as_str().to_owned(),
        email: valid.email.as_str().to_owned(),
        time_zone: valid.time_zone.map(|tz| tz.name().to_owned()),
    };
    events::publish::<UserRegistered>(conn, &registered).await
}

/// A patient registers. The answer is the same whether or not the address has
/// an account, and takes the same time (the password is hashed either way):
/// a new address gets an unverified account and a verification link; an
/// address with an account gets an email saying someone tried, and nothing
/// else changes.
pub async fn register(state: &AppState, req: AccountRequest<'_>) -> Result<Accepted, Error> {
    let valid = validate(&req)?;
    let existing = store::user_by_email(&state.db, &valid.email).await?;
    let password_hash = state.hasher.hash(valid.password.expose()).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let holder = match existing {
        Some(holder) => Some(holder),
        None => {
            let id = Uuid::now_v7();
            // A savepoint: a concurrent registration of the same address is
            // answered as an existing account.
            let mut sp = sqlx::Connection::begin(&mut *tx).await?;
            match insert_account(&mut sp, id, &valid, req.role, &password_hash, now, None).await {
                Ok(()) => {
                    sp.commit().await?;
                    send_verification(&mut tx, id, &valid.email, valid.name.as_str(), now).await?;
                    tracing::info!(user_id = %id, "patient registered");
                    None
                }
                Err(Error::EmailTaken) => {
                    sp.rollback().await?;
                    store::user_by_email(&mut *tx, &valid.email).await?
                }
                Err(e) => return Err(e),
            }
        }
    };
    if let Some(holder) = holder {
        events::publish::<RegistrationAttempted>(
            &mut tx,
            &RegistrationAttempted {
                user_id: holder.id,
                email: holder.email.clone(),
                name: holder.name.clone(),
                at: now,
            },
        )
        .await?;
        tracing::info!(user_id = %holder.id, "registration attempted for an existing account");
    }
    tx.commit().await?;
    state.relay.wake();
    Ok(Accepted::VERIFICATION_SENT)
}

/// A new single-use verification link (24 h) for the account, and the event
/// that has it emailed.
async fn send_verification(
    conn: &mut PgConnection,
    user_id: Uuid,
    email: &Email,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let secret = tokens::new_secret_token();
    let expires_at = now + mail::VERIFICATION_TTL;
    store::insert_token(
        conn,
        &secret.hash,
        user_id,
        Purpose::VerifyEmail,
        now,
        expires_at,
    )
    .await?;
    events::publish::<VerificationRequested>(
        conn,
        &VerificationRequested {
            user_id,
            email: email.as_str().to_owned(),
            name: name.to_owned(),
            token: secret.token,
            expires_at,
        },
    )
    .await
}

/// Confirm an address with the token of its link (single use).
pub async fn verify_email(state: &AppState, token: &str) -> Result<(), Error> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let user_id = store::consume_token(&mut *tx, &hash_secret(token), Purpose::VerifyEmail, now)
        .await?
        .ok_or(Error::InvalidToken)?;
    store::mark_verified(&mut *tx, user_id, now).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user_id, "email verified");
    Ok(())
}

/// Send a new verification link if the address has an unverified account
/// (at most one a minute and five an hour); the answer is the same either way.
pub async fn resend_verification(state: &AppState, raw_email: &str) -> Result<Accepted, Error> {
    let email = Email::parse(raw_email).map_err(|_| Error::InvalidEmail)?;
    let now = state.clock.now();
    let Some(user) = store::user_by_email(&state.db, &email).await? else {
        return Ok(Accepted::VERIFICATION_SENT);
    };
    if user.verified() || user.disabled() {
        return Ok(Accepted::VERIFICATION_SENT);
    }
    let mut tx = state.db.begin().await?;
    // Serialize links to one account, so the rate holds under concurrency.
    store::user_for_update(&mut tx, user.id).await?;
    let earlier =
        store::tokens_made_since(&mut *tx, user.id, Purpose::VerifyEmail, now - mail::PERIOD)
            .await?;
    if mail::may_send(&earlier, now) {
        send_verification(&mut tx, user.id, &email, &user.name, now).await?;
        tx.commit().await?;
        state.relay.wake();
        tracing::info!(user_id = %user.id, "verification link sent again");
    }
    Ok(Accepted::VERIFICATION_SENT)
}

/// Email a password-reset link (30 minutes, single use) if the address has an
/// enabled account (at most one a minute and five an hour); the answer is the
/// same either way.
pub async fn request_reset(state: &AppState, raw_email: &str) -> Result<Accepted, Error> {
    let email = Email::parse(raw_email).map_err(|_| Error::InvalidEmail)?;
    let now = state.clock.now();
    let Some(user) = store::user_by_email(&state.db, &email).await? else {
        return Ok(Accepted::RESET_SENT);
    };
    if user.disabled() {
        return Ok(Accepted::RESET_SENT);
    }
    let mut tx = state.db.begin().await?;
    store::user_for_update(&mut tx, user.id).await?;
    let earlier = store::tokens_made_since(
        &mut *tx,
        user.id,
        Purpose::PasswordReset,
        now - mail::PERIOD,
    )
    .await?;
    if mail::may_send(&earlier, now) {
        let secret = tokens::new_secret_token();
        let expires_at = now + mail::RESET_TTL;
        store::insert_token(
            &mut tx,
            &secret.hash,
            user.id,
            Purpose::PasswordReset,
            now,
            expires_at,
        )
        .await?;
        events::publish::<PasswordResetRequested>(
            &mut tx,
            &PasswordResetRequested {
                user_id: user.id,
                email: user.email.clone(),
                name: user.name.clone(),
                token: secret.token,
                expires_at,
            },
        )
        .await?;
        tx.commit().await?;
        state.relay.wake();
        tracing::info!(user_id = %user.id, "password reset requested");
    }
    Ok(Accepted::RESET_SENT)
}

/// Set a new password with a reset link's token: every session of the account
/// ends, and the address counts as verified (its holder received the link).
pub async fn confirm_reset(state: &AppState, token: &str, new_password: &str) -> Result<(), Error> {
    let now = state.clock.now();
    let hash = hash_secret(token);
    let user_id = store::token_user(&state.db, &hash, Purpose::PasswordReset, now)
        .await?
        .ok_or(Error::InvalidToken)?;
    let user = store::user_by_id(&state.db, user_id)
        .await?
        .filter(|u| !u.disabled())
        .ok_or(Error::InvalidToken)?;
    let password = new_password_for(&user, new_password)?;
    let password_hash = state.hasher.hash(password.expose()).await?;
    let mut tx = state.db.begin().await?;
    store::consume_token(&mut *tx, &hash, Purpose::PasswordReset, now)
        .await?
        .ok_or(Error::InvalidToken)?;
    store::set_password_hash(&mut tx, user.id, &password_hash).await?;
    store::mark_verified(&mut *tx, user.id, now).await?;
    store::expire_tokens(&mut tx, user.id, Purpose::PasswordReset, now).await?;
    let ended = store::revoke_user_sessions(&mut tx, user.id, None, now).await?;
    password_changed(&mut tx, &user, now, true).await?;
    tx.commit().await?;
    state.relay.wake();
    tracing::info!(user_id = %user.id, sessions_ended = ended, "password reset");
    Ok(())
}

/// The holder changes their password: the current one must be right (wrong
/// ones count as failed sign-ins); every other session ends, `keep` (the
/// caller's) stays.
pub async fn change_password(
    state: &AppState,
    user_id: Uuid,
    keep: Option<Uuid>,
    current_password: &str,
    new_password: &str,
    client: &Client,
) -> Result<(), Error> {
    let user = store::user_by_id(&state.db, user_id)
        .await?
        .ok_or(Error::UserNotFound)?;
    let attempt = Attempt::new(&user.email, client.addr);
    guard::check(state, &attempt).await?;
    if !state
        .hasher
        .verify(current_password, Some(&user.password_hash))
        .await?
    {
        guard::failed(state, &attempt, Some(&user)).await?;
        return Err(Error::WrongCurrentPassword);
    }
    let password = new_password_for(&user, new_password)?;
    let password_hash = state.hasher.hash(password.expose()).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    store::set_password_hash(&mut tx, user.id, &password_hash).await?;
    store::expire_tokens(&mut tx, user.id, Purpose::PasswordReset, now).await?;
    let ended = store::revoke_user_sessions(&mut tx, user.id, keep, now).await?;
    password_changed(&mut tx, &user, now, false).await?;
    tx.commit().await?;
    state.relay.wake();
    tracing::info!(user_id = %user.id, sessions_ended = ended, "password changed");
    Ok(())
}

fn new_password_for(user: &UserRow, raw: &str) -> Result<NewPassword, Error> {
    // Stored emails are normalized already; parsing cannot fail for them.
    let email = Email::parse(&user.email).map_err(|_| Error::Internal("stored email".into()))?;
    NewPassword::parse(raw, &email).map_err(Error::WeakNewPassword)
}

async fn password_changed(
    conn: &mut PgConnection,
    user: &UserRow,
    at: DateTime<Utc>,
    by_reset: bool,
) -> Result<(), Error> {
    events::publish::<PasswordChanged>(
        conn,
        &PasswordChanged {
            user_id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
            at,
            by_reset,
        },
    )
    .await
}

/// Mark the account of `raw_email` verified (operators, scripts); its id, or
/// `None` when no account has the address.
pub async fn mark_verified_by_email(
    db: &PgPool,
    raw_email: &str,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, Error> {
    let email = Email::parse(raw_email).map_err(|_| Error::InvalidEmail)?;
    let Some(user) = store::user_by_email(db, &email).await? else {
        return Ok(None);
    };
    store::mark_verified(db, user.id, now).await?;
    Ok(Some(user.id))
}
