//! Swagger UI at `/docs`, over the merged `/openapi.json`. The UI's two assets
//! come from the `swagger-ui-dist` npm package (installed in `tools/` by the
//! scripts, copied into the image in production) and are read once at start;
//! the initializer is ours, served as a file so the CSP needs no inline script.

use std::{path::Path, sync::Arc};

use axum::{
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use platform::Problem;

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Carebook API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"#;

const INIT: &str = "window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });\n";

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

struct Assets {
    css: Vec<u8>,
    js: Vec<u8>,
}

/// The `/docs` routes; without the assets `/docs` answers 404 with a hint.
pub fn router<S: Clone + Send + Sync + 'static>(dir: Option<&Path>) -> Router<S> {
    let assets = dir.and_then(|d| {
        let read = |f: &str| std::fs::read(d.join(f)).ok();
        Some(Arc::new(Assets {
            css: read("swagger-ui.css")?,
            js: read("swagger-ui-bundle.js")?,
        }))
    });
    let Some(assets) = assets else {
        if let Some(d) = dir {
            tracing::warn!(dir = %d.display(), "Swagger UI assets not found; /docs disabled");
        }
        return Router::new().route(
            "/docs",
            get(|| async { Problem::not_found("API documentation UI (install tools/ with npm)") }),
        );
    };
    let (css, js) = (assets.clone(), assets);
    Router::new()
        .route(
            "/docs",
            get(|| async { respond("text/html; charset=utf-8", PAGE.as_bytes().to_vec()) }),
        )
        .route(
            "/docs/init.js",
            get(|| async { respond("text/javascript", INIT.as_bytes().to_vec()) }),
        )
        .route(
            "/docs/swagger-ui.css",
            get(move || async move { respond("text/css", css.css.clone()) }),
        )
        .route(
            "/docs/swagger-ui-bundle.js",
            get(move || async move { respond("text/javascript", js.js.clone()) }),
        )
}

fn respond(content_type: &'static str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}
