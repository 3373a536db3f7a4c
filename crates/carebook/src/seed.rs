//! The demo clinic (`carebook seed-demo`): users in identity, their profiles in
//! directory, calendars and appointment types in scheduling. Idempotent.

use anyhow::Context;

/// Seed the demo clinic through each service's own store.
pub async fn demo(
    identity: &identity::Config,
    keys: identity::SigningKeys,
    directory: &directory::Config,
    scheduling: &scheduling::Config,
) -> anyhow::Result<()> {
    let (state, broker) = identity::connect(identity, keys).await?;
    let created = identity::seed::demo_users(&state).await;
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
