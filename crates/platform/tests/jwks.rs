//! The verifier's keys against a real JWKS endpoint (axum on port 0) that
//! rotates, withdraws, fails and stalls: keys follow the JWKS, fetches never
//! pile up, and a token check never waits on a slow fetch past its deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::State,
    http::{header, Request, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ed25519_dalek::{pkcs8::EncodePrivateKey, SigningKey};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use platform::{
    auth::{AuthUser, Claims, JwksPolicy, KeySource, Role, TokenError, Verifier},
    config::{DEFAULT_AUDIENCE, DEFAULT_ISSUER},
    testing::eventually,
};
use rand::rngs::OsRng;
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;

/// One of identity's signing keys, published under `kid`.
struct IssuerKey {
    kid: &'static str,
    key: SigningKey,
}

impl IssuerKey {
    fn new(kid: &'static str) -> Self {
        Self {
            kid,
            key: SigningKey::generate(&mut OsRng),
        }
    }

    fn jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.key.verifying_key().to_bytes()),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }

    /// A patient's token valid for ten minutes, signed by this key.
    fn token(&self) -> String {
        self.token_naming(self.kid)
    }

    /// The same, with any `kid` in its header.
    fn token_naming(&self, kid: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: Uuid::new_v4(),
            role: Role::Patient,
            iss: DEFAULT_ISSUER.to_owned(),
            aud: DEFAULT_AUDIENCE.to_owned(),
            exp: now + 600,
            iat: now,
            jti: Uuid::new_v4(),
            patient_id: Some(Uuid::new_v4()),
            provider_id: None,
            scope: None,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        let der = self.key.to_pkcs8_der().unwrap();
        encode(&header, &claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap()
    }
}

/// What the JWKS endpoint does now.
#[derive(Default)]
struct Behaviour {
    keys: Vec<Value>,
    failing: bool,
    delay: Duration,
}

/// Identity's JWKS endpoint, changeable while the test runs.
#[derive(Clone, Default)]
struct Jwks {
    behaviour: Arc<Mutex<Behaviour>>,
    hits: Arc<AtomicUsize>,
}

impl Jwks {
    async fn start(keys: &[&IssuerKey]) -> (Self, String) {
        let jwks = Self::default();
        jwks.publish(keys);
        let router = Router::new()
            .route("/.well-known/jwks.json", get(serve))
            .with_state(jwks.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        (jwks, url)
    }

    fn publish(&self, keys: &[&IssuerKey]) {
        let mut b = self.behaviour.lock().unwrap();
        b.keys = keys.iter().map(|k| k.jwk()).collect();
        b.failing = false;
    }

    fn fail(&self) {
        self.behaviour.lock().unwrap().failing = true;
    }

    fn stall(&self, delay: Duration) {
        self.behaviour.lock().unwrap().delay = delay;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn serve(State(jwks): State<Jwks>) -> Response {
    jwks.hits.fetch_add(1, Ordering::SeqCst);
    let (keys, failing, delay) = {
        let b = jwks.behaviour.lock().unwrap();
        (b.keys.clone(), b.failing, b.delay)
    };
    tokio::time::sleep(delay).await;
    if failing {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    Json(json!({ "keys": keys })).into_response()
}

/// A policy on a test's time scale: nothing scheduled within a test unless
/// it says so.
fn policy() -> JwksPolicy {
    JwksPolicy {
        refresh_every: Duration::from_secs(3600),
        wait: Duration::from_secs(2),
        min_interval: Duration::from_secs(3600),
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_millis(800),
        fetch_timeout: Duration::from_secs(10),
    }
}

fn verifier(url: &str, policy: JwksPolicy) -> Arc<Verifier> {
    Arc::new(Verifier::with_policy(
        KeySource::Http {
            client: reqwest::Client::new(),
            url: url.to_owned(),
        },
        policy,
        DEFAULT_ISSUER,
        DEFAULT_AUDIENCE,
    ))
}

/// The status a service answers `token` with (through the `AuthUser` extractor).
async fn status_of(verifier: &Arc<Verifier>, token: &str) -> StatusCode {
    let app = Router::new()
        .route("/me", get(|AuthUser(_): AuthUser| async { "ok" }))
        .with_state(verifier.clone());
    let request = Request::get("/me")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    app.oneshot(request).await.unwrap().status()
}

#[tokio::test]
async fn a_rotated_key_is_fetched_when_a_token_first_names_it() {
    let (old, new) = (IssuerKey::new("2026-01"), IssuerKey::new("2026-04"));
    let (jwks, url) = Jwks::start(&[&old]).await;
    let verifier = verifier(
        &url,
        JwksPolicy {
            min_interval: Duration::ZERO,
            ..policy()
        },
    );
    verifier.verify(&old.token()).await.unwrap();
    let fetched = jwks.hits();

    jwks.publish(&[&new, &old]);
    verifier.verify(&new.token()).await.unwrap();

    assert_eq!(jwks.hits(), fetched + 1, "one fetch for the new kid");
    verifier.verify(&old.token()).await.unwrap();
    assert_eq!(jwks.hits(), fetched + 1, "the old key is still held");
}

#[tokio::test]
async fn a_key_withdrawn_from_the_jwks_stops_verifying_at_the_next_refresh() {
    let (leaked, current) = (IssuerKey::new("leaked"), IssuerKey::new("current"));
    let (jwks, url) = Jwks::start(&[&leaked, &current]).await;
    let verifier = verifier(
        &url,
        JwksPolicy {
            refresh_every: Duration::from_millis(200),
            ..policy()
        },
    );
    let remembered = leaked.token();
    verifier.verify(&remembered).await.unwrap();
    verifier.verify(&current.token()).await.unwrap();

    jwks.publish(&[&current]);

    eventually(Duration::from_secs(5), "the withdrawn key refused", || {
        let verifier = verifier.clone();
        let token = remembered.clone();
        async move { (verifier.verify(&token).await == Err(TokenError::UnknownKey)).then_some(()) }
    })
    .await;
    assert_eq!(
        verifier.verify(&leaked.token()).await,
        Err(TokenError::UnknownKey)
    );
    assert_eq!(
        status_of(&verifier, &remembered).await,
        StatusCode::UNAUTHORIZED
    );
    verifier.verify(&current.token()).await.unwrap();
}

#[tokio::test]
async fn forged_kids_after_a_fetch_are_refused_without_another_fetch() {
    let key = IssuerKey::new("real");
    let (jwks, url) = Jwks::start(&[&key]).await;
    let verifier = verifier(&url, policy());
    verifier.verify(&key.token()).await.unwrap();
    let fetched = jwks.hits();

    for n in 0..50 {
        let forged = key.token_naming(&format!("forged-{n}"));
        assert_eq!(verifier.verify(&forged).await, Err(TokenError::UnknownKey));
    }

    assert_eq!(jwks.hits(), fetched, "no fetch within the minimum interval");
    let forged = key.token_naming("forged-again");
    assert_eq!(
        status_of(&verifier, &forged).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn unknown_kids_while_the_jwks_fails_fetch_one_at_a_time_with_growing_pauses() {
    let key = IssuerKey::new("k1");
    let (jwks, url) = Jwks::start(&[]).await;
    jwks.fail();
    jwks.stall(Duration::from_millis(100));
    let verifier = verifier(&url, policy());

    // A burst of checks shares one fetch.
    let token = key.token();
    let burst: Vec<_> = (0..20)
        .map(|_| {
            let (verifier, token) = (verifier.clone(), token.clone());
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for check in burst {
        assert_eq!(check.await.unwrap(), Err(TokenError::KeysUnavailable));
    }
    assert_eq!(jwks.hits(), 1, "one fetch for the whole burst");

    // Checks keep coming for 1.5 s: fetches follow the backoff (200, 400,
    // 800, 800 ms…), not the traffic.
    let started = Instant::now();
    let mut checks = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        assert_eq!(
            verifier.verify(&token).await,
            Err(TokenError::KeysUnavailable)
        );
        checks += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let fetches = jwks.hits();
    assert!(
        (2..=6).contains(&fetches),
        "{fetches} fetches for {checks} checks"
    );
    assert_eq!(
        status_of(&verifier, &token).await,
        StatusCode::SERVICE_UNAVAILABLE
    );

    // Identity is back: its keys arrive within the longest pause.
    jwks.stall(Duration::ZERO);
    jwks.publish(&[&key]);
    eventually(Duration::from_secs(3), "the key after the outage", || {
        let (verifier, token) = (verifier.clone(), token.clone());
        async move { verifier.verify(&token).await.ok() }
    })
    .await;
}

#[tokio::test]
async fn a_slow_jwks_fails_the_check_at_its_deadline_and_its_keys_arrive_later() {
    let key = IssuerKey::new("k1");
    let (jwks, url) = Jwks::start(&[&key]).await;
    jwks.stall(Duration::from_millis(1500));
    let verifier = verifier(
        &url,
        JwksPolicy {
            wait: Duration::from_millis(300),
            ..policy()
        },
    );
    let token = key.token();

    let started = Instant::now();
    assert_eq!(
        verifier.verify(&token).await,
        Err(TokenError::KeysUnavailable)
    );
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "waited {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    assert_eq!(
        status_of(&verifier, &token).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "a 503 problem, not a 401: the token may well be good"
    );
    assert!(started.elapsed() < Duration::from_millis(1000));

    // The fetch was not abandoned with the check: the next checks succeed
    // once it lands, without another fetch.
    eventually(Duration::from_secs(5), "the slow fetch's keys", || {
        let (verifier, token) = (verifier.clone(), token.clone());
        async move { verifier.verify(&token).await.ok() }
    })
    .await;
    assert_eq!(jwks.hits(), 1);
    assert_eq!(status_of(&verifier, &token).await, StatusCode::OK);
}

#[tokio::test]
async fn the_schedule_fetches_at_start_and_then_on_its_interval() {
    let (first, second) = (IssuerKey::new("first"), IssuerKey::new("second"));
    let (jwks, url) = Jwks::start(&[&first]).await;
    let verifier = verifier(
        &url,
        JwksPolicy {
            refresh_every: Duration::from_millis(150),
            ..policy()
        },
    );
    verifier.keep_keys_fresh();
    eventually(Duration::from_secs(2), "the fetch at start", || async {
        (jwks.hits() >= 1).then_some(())
    })
    .await;
    jwks.publish(&[&first, &second]);
    eventually(Duration::from_secs(2), "the scheduled fetch", || async {
        (jwks.hits() >= 2).then_some(())
    })
    .await;
    let fetched = jwks.hits();
    // Both keys are held already: checks cost no fetch.
    verifier.verify(&second.token()).await.unwrap();
    verifier.verify(&first.token()).await.unwrap();
    assert!(
        jwks.hits() <= fetched + 1,
        "at most one more scheduled fetch"
    );
    drop(verifier);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after_drop = jwks.hits();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        jwks.hits(),
        after_drop,
        "the schedule ends with its verifier"
    );
}
