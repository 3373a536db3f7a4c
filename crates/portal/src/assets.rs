//! Static files under `/static/`: our stylesheet and script (compiled in) and
//! htmx, read once at start from the npm package (`PORTAL_HTMX_DIR`). Without
//! htmx the pages still work: every form and link is plain HTML first.

use std::{path::Path, sync::Arc};

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("../static/portal.css");
const JS: &str = include_str!("../static/portal.js");
const ICON: &str = include_str!("../static/favicon.svg");

pub struct Assets {
    htmx: Option<Vec<u8>>,
    /// A short hash of every file, appended to their URLs so a new release is fetched at once.
    pub version: String,
}

impl Assets {
    /// Load htmx from `htmx_dir` (warn and go on without it when missing).
    pub fn load(htmx_dir: &Path) -> Self {
        let htmx = std::fs::read(htmx_dir.join("htmx.min.js")).ok();
        if htmx.is_none() {
            tracing::warn!(dir = %htmx_dir.display(), "htmx.min.js not found; pages work without it (install tools/ with npm)");
        }
        let mut hash = Sha256::new();
        hash.update(CSS);
        hash.update(JS);
        hash.update(ICON);
        hash.update(htmx.as_deref().unwrap_or_default());
        let version = hash
            .finalize()
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect();
        Self { htmx, version }
    }

    pub fn has_htmx(&self) -> bool {
        self.htmx.is_some()
    }
}

pub fn router<S: Clone + Send + Sync + 'static>(assets: Arc<Assets>) -> Router<S> {
    Router::new()
        .route(
            "/static/portal.css",
            get(|| async { respond("text/css; charset=utf-8", CSS.as_bytes().to_vec()) }),
        )
        .route(
            "/static/portal.js",
            get(|| async { respond("text/javascript; charset=utf-8", JS.as_bytes().to_vec()) }),
        )
        .route(
            "/static/favicon.svg",
            get(|| async { respond("image/svg+xml", ICON.as_bytes().to_vec()) }),
        )
        // Browsers ask for it whatever the page says.
        .route(
            "/favicon.ico",
            get(|| async { respond("image/svg+xml", ICON.as_bytes().to_vec()) }),
        )
        .route(
            "/static/htmx.min.js",
            get(move || async move {
                match &assets.htmx {
                    Some(js) => respond("text/javascript; charset=utf-8", js.clone()),
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            }),
        )
}

fn respond(content_type: &'static str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // URLs carry the content hash (`?v=`), so a day's caching is safe.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        body,
    )
        .into_response()
}
