//! The portal's sessions against the real identity service, through the
//! gateway: an expired or rejected access token is refreshed without the user
//! noticing, concurrent requests share one refresh (a refresh token used twice
//! would sign the user out everywhere), and logout revokes the refresh token.
//! Redis holds each session encrypted under the stack's portal key; the tests
//! open and seal values with that key to look at and alter them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use carebook::stack::Stack;
use platform::demo::DEMO_PASSWORD;
use portal::session::{SessionData, SessionId, SessionKeys};
use redis::AsyncCommands;
use reqwest::{header, StatusCode};

/// A browser-like client (cookies, no redirects followed) signed in as `email`.
async fn sign_in(stack: &Stack, email: &str) -> (reqwest::Client, SessionId) {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(stack.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = client
        .post(stack.url("/login"))
        .form(&[
            ("email", email),
            ("password", DEMO_PASSWORD),
            ("csrf_token", &csrf_of(&page)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "login of {email}");
    let cookie = r.headers()[header::SET_COOKIE].to_str().unwrap();
    let id = cookie
        .strip_prefix("carebook_session=")
        .and_then(|rest| rest.split(';').next())
        .and_then(SessionId::parse)
        .expect("a session cookie");
    (client, id)
}

fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("a form") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// The session's Redis key (whatever the stack's prefix) and a connection.
async fn session_key(id: &SessionId) -> (redis::aio::MultiplexedConnection, String) {
    let mut conn = redis::Client::open(platform::testing::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("carebook-test:*portal:session:{}", id.digest()))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "exactly one stored session");
    (conn, keys[0].clone())
}

/// The key the stack's portal seals sessions under.
fn portal_keys() -> SessionKeys {
    SessionKeys::parse(&carebook::stack::PORTAL_SESSION_KEY, "").unwrap()
}

/// The session's bytes as Redis holds them.
async fn raw(id: &SessionId) -> Vec<u8> {
    let (mut conn, key) = session_key(id).await;
    conn.get(&key).await.unwrap()
}

async fn stored(id: &SessionId) -> SessionData {
    let (mut conn, key) = session_key(id).await;
    let raw: Vec<u8> = conn.get(&key).await.unwrap();
    let opened = portal_keys().open(key.as_bytes(), &raw).unwrap();
    serde_json::from_slice(&opened.plaintext).unwrap()
}

async fn overwrite(id: &SessionId, data: &SessionData) {
    let (mut conn, key) = session_key(id).await;
    let sealed = portal_keys()
        .seal(key.as_bytes(), &serde_json::to_vec(data).unwrap())
        .unwrap();
    let _: () = conn.set_ex(&key, sealed, 600).await.unwrap();
}

fn contains(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_refresh_transparently_once_and_logout_revokes_them() {
    let stack = Stack::start().await.unwrap();
    let (browser, id) = sign_in(&stack, "patient1@demo.carebook.test").await;
    let first = stored(&id).await;
    let first_refresh = first.user.as_ref().unwrap().tokens.refresh.clone();
    let at_rest = raw(&id).await;
    let first_tokens = &first.user.as_ref().unwrap().tokens;
    for secret in [&first_tokens.access, &first_tokens.refresh, &first.csrf] {
        assert!(!contains(&at_rest, secret), "Redis holds ciphertext only");
    }

    // An access token about to expire: six pages at once, one refresh among them.
    let mut expiring = first.clone();
    expiring.user.as_mut().unwrap().tokens.access_expires_at = chrono::Utc::now();
    overwrite(&id, &expiring).await;
    let pages = [
        "/appointments",
        "/providers",
        "/invoices",
        "/appointments",
        "/providers",
        "/invoices",
    ];
    let answers =
        futures_util::future::join_all(pages.iter().map(|p| browser.get(stack.url(p)).send()))
            .await;
    for (path, r) in pages.iter().zip(answers) {
        assert_eq!(r.unwrap().status(), StatusCode::OK, "{path}");
    }
    let refreshed = stored(&id).await;
    let tokens = &refreshed.user.as_ref().unwrap().tokens;
    assert_ne!(tokens.refresh, first_refresh, "the tokens were rotated");
    assert!(tokens.access_expires_at > chrono::Utc::now() + chrono::Duration::minutes(5));
    assert_eq!(
        refreshed.csrf, first.csrf,
        "the rest of the session is kept"
    );

    // Had two of them refreshed with the same token, identity would have revoked
    // the whole login and the refresh below would fail.

    // An access token the API rejects (not yet expired by our clock): refreshed after the 401.
    let mut rejected = refreshed.clone();
    rejected.user.as_mut().unwrap().tokens.access = "not-a-token".into();
    overwrite(&id, &rejected).await;
    let r = browser
        .get(stack.url("/appointments"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let again = stored(&id).await;
    assert_ne!(again.user.as_ref().unwrap().tokens.access, "not-a-token");

    // Logout: the session is gone and its refresh token no longer works.
    let refresh_token = again.user.as_ref().unwrap().tokens.refresh.clone();
    let page = browser
        .get(stack.url("/appointments"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = browser
        .post(stack.url("/logout"))
        .form(&[("csrf_token", csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let r = reqwest::Client::new()
        .post(stack.url("/api/v1/auth/refresh"))
        .json(&serde_json::json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "logout revoked the refresh token"
    );
    let r = browser
        .get(stack.url("/appointments"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "back to the login page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_whose_login_was_revoked_ends_with_a_redirect_to_login() {
    let stack = Stack::start().await.unwrap();
    let (browser, id) = sign_in(&stack, "patient2@demo.carebook.test").await;
    let mut data = stored(&id).await;
    // Revoke the login behind the portal's back, then let the access token lapse.
    let refresh = data.user.as_ref().unwrap().tokens.refresh.clone();
    let r = reqwest::Client::new()
        .post(stack.url("/api/v1/auth/logout"))
        .json(&serde_json::json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    data.user.as_mut().unwrap().tokens.access_expires_at = chrono::Utc::now();
    overwrite(&id, &data).await;

    let r = browser.get(stack.url("/invoices")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[header::LOCATION], "/login?next=%2Finvoices");
    let mut conn = redis::Client::open(platform::testing::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("carebook-test:*portal:session:{}", id.digest()))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(left.is_empty(), "the ended session is deleted");
}
