//! The demo clinic's accounts (idempotent: existing accounts are left alone).

use platform::demo::{DEMO_PASSWORD, DEMO_USERS};

use crate::{
    accounts::{self, AccountRequest},
    error::Error,
    AppState,
};

/// Create the demo users that do not exist yet; returns how many were created.
pub async fn demo_users(state: &AppState) -> anyhow::Result<usize> {
    let mut created = 0;
    for user in &DEMO_USERS {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 OR email = $2)")
                .bind(user.id)
                .bind(user.email)
                .fetch_one(&state.db)
                .await?;
        if exists {
            continue;
        }
        let request = AccountRequest {
            email: user.email,
            password: DEMO_PASSWORD,
            name: user.name,
            role: user.role,
        };
        match accounts::create_with_id(state, user.id, request).await {
            Ok(_) => created += 1,
            Err(Error::EmailTaken) => {}
            Err(e) => return Err(anyhow::anyhow!("seeding {}: {e}", user.role.as_str())),
        }
    }
    // Publish the new accounts' events now rather than at the service's next start.
    while state.relay.relay_once().await? > 0 {}
    Ok(created)
}
