//! The gateway alone (its container's entry point).

use platform::shutdown::{cancel_on_signal, CancellationToken};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init();
    // ring for every TLS client built from the process default (as `carebook` does).
    platform::tls::install_crypto_provider();
    let config = gateway::Config::from_env()?;
    let cancel = CancellationToken::new();
    cancel_on_signal(cancel.clone());
    gateway::server(&config)
        .await?
        .bind_and_run(config.bind, cancel)
        .await?;
    Ok(())
}
