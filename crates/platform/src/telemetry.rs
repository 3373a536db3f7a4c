//! Structured logs: JSON lines with the request id on every line of a request.
//!
//! Never log PHI or secrets: log ids (user, appointment, event), not names,
//! emails, notes or tokens.

use tracing_subscriber::{fmt, prelude::*, EnvFilter};

/// Install the global JSON subscriber once; later calls are no-ops (tests, `serve all`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,lapin=warn,hyper=warn"));
    let json = std::env::var("CAREBOOK_LOG_FORMAT").map_or(true, |v| v != "pretty");
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init()
    } else {
        registry.with(fmt::layer().compact()).try_init()
    };
}
