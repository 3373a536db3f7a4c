//! The records service alone (its container's entry point).

use platform::shutdown::{cancel_on_signal, CancellationToken};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init();
    let config = records::Config::from_env()?;
    let cancel = CancellationToken::new();
    cancel_on_signal(cancel.clone());
    records::build(&config)
        .await?
        .bind_and_run(config.common.bind, cancel)
        .await?;
    Ok(())
}
