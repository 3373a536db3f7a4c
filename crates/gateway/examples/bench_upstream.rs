//! A trivial upstream for `scripts/bench-gateway`: answers every path and method
//! with the same small JSON body, so a benchmark measures the proxy in front of
//! it rather than the service behind it.
//!
//! `bench_upstream [ADDR]` (default `127.0.0.1:9901`, or `BENCH_UPSTREAM_BIND`);
//! `BENCH_UPSTREAM_THREADS` sets the runtime's worker threads (default 1).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark stops at its first failure

use axum::{http::header, response::IntoResponse, Router};

/// About 100 bytes, shaped like a small API answer.
const BODY: &str = r#"{"id":"0190c1d2-7a3b-7c4d-8e5f-6a7b8c9d0e1f","status":"booked","slot":"2026-11-25T09:30:00Z"}"#;

async fn answer() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], BODY)
}

fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("BENCH_UPSTREAM_BIND").ok())
        .unwrap_or_else(|| "127.0.0.1:9901".to_owned());
    let threads = std::env::var("BENCH_UPSTREAM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?
        .block_on(async {
            let listener = tokio::net::TcpListener::bind(&bind).await?;
            eprintln!("bench_upstream listening on {}", listener.local_addr()?);
            axum::serve(listener, Router::new().fallback(answer)).await
        })
}
