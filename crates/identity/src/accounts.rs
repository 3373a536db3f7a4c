//! Creating accounts: validate at the edge, hash, store the user and its
//! `user.registered` event in one transaction.

use contracts::identity::UserRegistered;
use platform::{
    auth::Role,
    events::{outbox, Envelope},
};
use uuid::Uuid;

use crate::{
    domain::{Email, NewPassword, PersonName},
    error::Error,
    store::{self, InsertUserError, NewUser},
    AppState,
};

/// A validated request to create an account.
pub struct AccountRequest<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub name: &'a str,
    pub role: Role,
}

/// The account as shown to its owner.
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
        }
    }
}

pub async fn create(state: &AppState, req: AccountRequest<'_>) -> Result<Account, Error> {
    create_with_id(state, Uuid::now_v7(), req).await
}

/// Create an account with a chosen id (the demo clinic's fixed ids).
pub async fn create_with_id(
    state: &AppState,
    id: Uuid,
    req: AccountRequest<'_>,
) -> Result<Account, Error> {
    let email = Email::parse(req.email).map_err(|_| Error::InvalidEmail)?;
    let name = PersonName::parse(req.name)?;
    let password = NewPassword::parse(req.password, &email)?;
    let password_hash = state.hasher.hash(password.expose()).await?;

    let event = Envelope::of::<UserRegistered>(&UserRegistered {
        user_id: id,
        role: req.role,
        name: name.as_str().to_owned(),
        email: email.as_str().to_owned(),
    })
    .map_err(|e| Error::Internal(e.to_string()))?;

    let mut tx = state.db.begin().await?;
    let new_user = NewUser {
        id,
        email: &email,
        name: name.as_str(),
        role: req.role,
        password_hash: &password_hash,
    };
    store::insert_user(&mut tx, &new_user)
        .await
        .map_err(|e| match e {
            InsertUserError::EmailTaken => Error::EmailTaken,
            InsertUserError::Db(e) => e.into(),
        })?;
    outbox::enqueue(&mut tx, &event).await?;
    tx.commit().await?;
    state.relay.wake();
    tracing::info!(user_id = %id, role = req.role.as_str(), "account created");
    Ok(Account::new(
        id,
        email.to_string(),
        name.as_str().to_owned(),
        req.role,
    ))
}
