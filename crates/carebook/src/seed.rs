//! The demo clinic (`carebook seed-demo`): users in identity (verified; the
//! admin with TOTP of [`DEMO_ADMIN_TOTP_SECRET`]), their profiles in
//! directory, calendars and appointment types in scheduling. Idempotent.

use anyhow::Context;

/// The demo admin's TOTP secret (base32, RFC 4648; SHA-1, 6 digits, 30 s):
/// add it to an authenticator app to sign in as `admin@demo.carebook.test`.
/// Fixed so the README can print it; a demo clinic only — real admins enrol
/// their own secret at first sign-in.
pub const DEMO_ADMIN_TOTP_SECRET: &str = "INQXEZLCN5XWWRDFNVXUCZDNNFXCCMRW";

/// Seed the demo clinic through each service's own store.
pub async fn demo(
    identity: &identity::Config,
    keys: identity::SigningKeys,
    directory: &directory::Config,
    scheduling: &scheduling::Config,
) -> anyhow::Result<()> {
    let (state, broker) = identity::connect(identity, keys).await?;
    let created = identity::seed::demo_users(&state, DEMO_ADMIN_TOTP_SECRET).await;
    broker.close().await;
    let created = created.context("seeding demo users")?;
    tracing::info!(created, "demo users seeded");

    let (state, broker) = directory::connect(directory).await?;
    let profiles = directory::seed::demo(&state).await;
    broker.close().await;
    tracing::info!(
        changed = profiles.context("seeding demo profiles")?,
        "demo profiles seeded"
    );

    let verifier = platform::auth::Verifier::from_config(&scheduling.common.auth);
    let (state, broker) = scheduling::connect(scheduling, verifier).await?;
    let calendars = scheduling::seed::demo(&state).await;
    broker.close().await;
    tracing::info!(
        changed = calendars.context("seeding demo calendars")?,
        "demo calendars seeded"
    );
    Ok(())
}
