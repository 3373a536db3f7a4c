//! The demo clinic's accounts (idempotent: existing accounts are left alone,
//! except that every demo account is made verified and the demo admin is
//! given the demo TOTP secret if it has none).

use platform::{
    auth::Role,
    demo::{DEMO_PASSWORD, DEMO_USERS},
};

use crate::{
    accounts::{self, AccountRequest},
    domain::totp::TotpSecret,
    error::Error,
    store, AppState,
};

/// Create the demo users that do not exist yet; returns how many were created.
/// The demo admin signs in with TOTP of `admin_totp_secret` (base32).
pub async fn demo_users(state: &AppState, admin_totp_secret: &str) -> anyhow::Result<usize> {
    let secret = TotpSecret::parse(admin_totp_secret)
        .map_err(|e| anyhow::anyhow!("the demo admin's TOTP secret: {e}"))?;
    let now = state.clock.now();
    let mut created = 0;
    for user in &DEMO_USERS {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 OR email = $2)")
                .bind(user.id)
                .bind(user.email)
                .fetch_one(&state.db)
                .await?;
        if !exists {
            let request = AccountRequest {
                email: user.email,
                password: DEMO_PASSWORD,
                name: user.name,
                role: user.role,
                time_zone: None,
            };
            match accounts::create_with_id(state, user.id, request).await {
                Ok(_) => created += 1,
                Err(Error::EmailTaken) => {}
                Err(e) => return Err(anyhow::anyhow!("seeding {}: {e}", user.role.as_str())),
            }
        }
        // Accounts seeded before addresses were verified.
        store::mark_verified(&state.db, user.id, now).await?;
        if user.role == Role::Admin {
            store::set_totp_secret(&state.db, user.id, secret.base32(), now).await?;
        }
    }
    // Publish the new accounts' events now rather than at the service's next start.
    while state.relay.relay_once().await? > 0 {}
    Ok(created)
}
