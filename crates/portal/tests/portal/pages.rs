//! What the portal does on its own: cookies, headers, CSRF, redirects, error
//! pages. The API behind it is unreachable here (port 9), which is also how
//! the pages must behave when the gateway is down.

use std::time::Duration;

use chrono::Utc;
use platform::auth::Role;
use portal::session::{Flash, SessionData, SignedIn, Tokens};
use reqwest::{header, StatusCode};

use crate::helpers::{browser, contains, csrf_of, Portal};

const NO_API: &str = "http://127.0.0.1:9";

#[tokio::test]
async fn the_login_page_starts_a_session_with_a_strict_cookie_and_csp() {
    let portal = Portal::start(NO_API).await;
    let r = browser().get(portal.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("carebook_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP in tests: {cookie}");
    assert_eq!(r.headers()[header::CONTENT_SECURITY_POLICY], portal::CSP);
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline scripts");
    assert!(!html.contains("style="), "no inline styles");
    let csrf = csrf_of(&html);
    assert_eq!(csrf.len(), 43);
    assert_eq!(portal.redis.keys().await.len(), 1, "one anonymous session");
    let stored = &portal.redis.session_values().await[0];
    assert!(!contains(stored, &csrf), "Redis holds ciphertext only");
}

#[tokio::test]
async fn a_signed_in_session_keeps_working_across_requests_while_redis_holds_ciphertext() {
    let portal = Portal::start(NO_API).await;
    // Signed in as the login page would: same Redis prefix, same key as the portal.
    let store = portal
        .redis
        .store(Duration::from_secs(600), Duration::from_secs(3600))
        .await;
    let now = Utc::now();
    let mut data = SessionData::signed_in(
        SignedIn {
            user_id: uuid::Uuid::now_v7(),
            name: "Paula Patient".into(),
            email: "paula@example.test".into(),
            role: Role::Patient,
            patient_id: Some(uuid::Uuid::now_v7()),
            provider_id: None,
            tokens: Tokens {
                access: "the-access-token".into(),
                refresh: "the-refresh-token".into(),
                access_expires_at: now + chrono::Duration::minutes(10),
            },
        },
        now,
    );
    data.flash = Some(Flash::success("Welcome back."));
    let id = store.create(&data).await.unwrap();
    let client = browser();
    let get = |path: &str| {
        client
            .get(portal.url(path))
            .header(header::COOKIE, format!("carebook_session={}", id.as_str()))
            .send()
    };

    // The flash is shown once: the portal opened the session, then sealed it again.
    let page = get("/no/such/page").await.unwrap().text().await.unwrap();
    assert!(page.contains("Paula Patient"), "{page}");
    assert!(page.contains("Welcome back."), "{page}");
    let r = get("/").await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[header::LOCATION], "/appointments", "signed in");
    let r = get("/no/such/page").await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let page = r.text().await.unwrap();
    assert!(page.contains("Paula Patient"), "still signed in: {page}");
    assert!(!page.contains("Welcome back."), "{page}");
    assert_eq!(csrf_of(&page), data.csrf);

    let values = portal.redis.session_values().await;
    assert_eq!(values.len(), 1);
    for secret in [
        "the-access-token",
        "the-refresh-token",
        data.csrf.as_str(),
        "Paula Patient",
        "paula@example.test",
    ] {
        assert!(!contains(&values[0], secret), "{secret:?} is in Redis");
    }

    let r = client
        .post(portal.url("/logout"))
        .header(header::COOKIE, format!("carebook_session={}", id.as_str()))
        .form(&[("csrf_token", data.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(portal.redis.keys().await.is_empty(), "the session is gone");
}

#[tokio::test]
async fn posts_without_the_sessions_csrf_token_get_a_403_page() {
    let portal = Portal::start(NO_API).await;
    let client = browser();
    let html = client
        .get(portal.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_of(&html);

    for form in [
        vec![("email", "a@b.test"), ("password", "x")],
        vec![
            ("email", "a@b.test"),
            ("password", "x"),
            ("csrf_token", "forged"),
        ],
    ] {
        let r = client
            .post(portal.url("/login"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let page = r.text().await.unwrap();
        assert!(page.contains("This form has expired"), "{page}");
    }
    // A fresh client has no session at all: refused too.
    let r = browser()
        .post(portal.url("/login"))
        .form(&[
            ("email", "a@b.test"),
            ("password", "x"),
            ("csrf_token", token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The header htmx sends works like the field.
    let r = client
        .post(portal.url("/logout"))
        .header("x-csrf-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn with_the_api_down_login_fails_kindly() {
    let portal = Portal::start(NO_API).await;
    let client = browser();
    let html = client
        .get(portal.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = client
        .post(portal.url("/login"))
        .form(&[
            ("email", "patient1@demo.carebook.test"),
            ("password", "whatever-it-is"),
            ("csrf_token", csrf_of(&html).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = r.text().await.unwrap();
    assert!(page.contains("briefly unavailable"), "{page}");
    assert!(
        page.contains("value=\"patient1@demo.carebook.test\""),
        "the email is kept"
    );
    assert!(!page.contains("127.0.0.1:9"), "no internals");
}

#[tokio::test]
async fn pages_for_signed_in_users_send_visitors_to_login_and_back() {
    let portal = Portal::start(NO_API).await;
    let r = browser()
        .get(portal.url("/appointments?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()[header::LOCATION],
        "/login?next=%2Fappointments%3Fx%3D1"
    );
    let r = browser()
        .get(portal.url("/patients/018f0000-0000-7000-8000-000000000021/record"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn unknown_pages_are_a_friendly_404() {
    let portal = Portal::start(NO_API).await;
    let r = browser()
        .get(portal.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("<h1>Page not found</h1>"), "{page}");
}

#[tokio::test]
async fn static_files_are_served_and_cached() {
    let portal = Portal::start(NO_API).await;
    for (path, kind) in [
        ("/static/portal.css", "text/css"),
        ("/static/portal.js", "text/javascript"),
        ("/static/htmx.min.js", "text/javascript"),
    ] {
        let r = browser().get(portal.url(path)).send().await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{path} (htmx comes from tools/: npm ci)"
        );
        assert!(r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with(kind));
        assert_eq!(r.headers()[header::CACHE_CONTROL], "public, max-age=86400");
    }
}
