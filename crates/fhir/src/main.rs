//! The FHIR service alone (its container's entry point).

use platform::shutdown::{cancel_on_signal, CancellationToken};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init();
    let config = fhir::Config::from_env()?;
    let cancel = CancellationToken::new();
    cancel_on_signal(cancel.clone());
    fhir::build(&config)
        .await?
        .bind_and_run(config.bind, cancel)
        .await?;
    Ok(())
}
