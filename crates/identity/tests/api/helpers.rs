//! What identity's tests need beyond `platform::testing`: the service built
//! with a signing key and a clock the tests hold, accounts registered,
//! verified and logged in through the API (links' tokens read from the events
//! relayed to the broker — token-bearing events leave the outbox once relayed
//! —, TOTP codes computed here with `totp-rs`), and an admin as the demo seed
//! makes one.

use std::{ops::Deref, sync::Arc, time::Duration};

use contracts::{
    identity::{PasswordResetRequested, VerificationRequested},
    Event,
};
use identity::{testing::TestIssuer, Clock, Config, Policy, SigningKeys};
use platform::{
    events::Envelope,
    testing::{self, Anonymous, EventTap, TestBacking},
};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

pub const PASSWORD: &str = "a long enough passphrase";
/// The TOTP secret of the admins the tests create (base32, 160 bits).
pub const ADMIN_TOTP: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/// The real identity service (`platform::testing::TestApp`), with the key it
/// signs with and the clock it decides by.
pub struct TestApp {
    app: testing::TestApp,
    /// The service's signing key (to forge and verify tokens in tests).
    pub key_pem: String,
    /// The service's clock: `clock.advance(..)` moves its time.
    pub clock: Clock,
    /// The emailed links relayed so far (verification, reset).
    links: tokio::sync::Mutex<(EventTap, Vec<Envelope>)>,
}

impl Deref for TestApp {
    type Target = testing::TestApp;

    fn deref(&self) -> &Self::Target {
        &self.app
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_, _| {}).await
}

/// The service with settings of the test's choosing.
pub async fn spawn_app_with(tune: impl FnOnce(&mut Config, &mut Policy)) -> TestApp {
    let backing = TestBacking::new("identity");
    let mut config = Config {
        common: backing.config.clone(),
        signing_keys_dir: "unused-in-tests".into(),
        access_ttl: Duration::from_secs(600),
        refresh_ttl: Duration::from_secs(3600),
        hash_concurrency: 4,
    };
    let mut policy = Policy::default();
    tune(&mut config, &mut policy);
    let key_pem = SigningKeys::generate_pem().unwrap();
    let keys = SigningKeys::from_pems([("test", key_pem.clone())]).unwrap();
    let clock = Clock::system();
    let service = identity::build_with(&config, policy, keys, clock.clone())
        .await
        .expect("identity starts");
    // Identity consumes no events.
    // Tokens signed with the service's own key, as its login signs them: the
    // users of `app.user(role)` are ones identity trusts (though not in its database).
    let tokens = Arc::new(TestIssuer::from_pem(&key_pem));
    let tap = EventTap::bind(
        &backing,
        &[VerificationRequested::TYPE, PasswordResetRequested::TYPE],
    )
    .await;
    let app = testing::TestApp::spawn(backing, service, &[], tokens).await;
    TestApp {
        app,
        key_pem,
        clock,
        links: tokio::sync::Mutex::new((tap, Vec::new())),
    }
}

/// The current code of `secret` at `unix` seconds, computed independently of
/// identity's own TOTP code.
pub fn totp_at(secret: &str, unix: i64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_owned())
        .to_bytes()
        .unwrap();
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes)
        .unwrap()
        .generate(unix as u64)
}

impl TestApp {
    pub async fn register(&self, email: &str) -> Response {
        self.post(
            &Anonymous,
            "/api/v1/auth/register",
            &json!({"email": email, "password": PASSWORD, "name": "Test Patient"}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            &Anonymous,
            "/api/v1/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// A login from `client` (the gateway's `X-Forwarded-For`; the test runs
    /// on loopback, a trusted proxy).
    pub async fn login_from(&self, client: &str, email: &str, password: &str) -> Response {
        self.request(Method::POST, "/api/v1/auth/login", &Anonymous)
            .header("x-forwarded-for", client)
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    pub async fn refresh(&self, refresh_token: &Value) -> Response {
        self.post(
            &Anonymous,
            "/api/v1/auth/refresh",
            &json!({"refresh_token": refresh_token}),
        )
        .await
    }

    /// The `n`-th (from 0) link of event `E` whose address `email_of` is
    /// `email`, waiting for it to be relayed.
    async fn nth_link<E: Event>(
        &self,
        email: &str,
        n: usize,
        email_of: impl Fn(&E::Payload) -> &str,
    ) -> E::Payload {
        let mut links = self.links.lock().await;
        loop {
            let mut matching: Vec<E::Payload> = links
                .1
                .iter()
                .filter(|e| e.event_type == E::TYPE)
                .map(|e| e.decode::<E>().unwrap())
                .filter(|p| email_of(p) == email)
                .collect();
            if matching.len() > n {
                return matching.swap_remove(n);
            }
            let next = links.0.next().await;
            links.1.push(next);
        }
    }

    /// The `n`-th verification link sent to `email`.
    pub async fn verification_link(&self, email: &str, n: usize) -> VerificationRequested {
        self.nth_link::<VerificationRequested>(email, n, |e| &e.email)
            .await
    }

    /// The token of the first verification link sent to `email`.
    pub async fn verification_token(&self, email: &str) -> String {
        self.verification_link(email, 0).await.token
    }

    /// The `n`-th reset link sent to `email`.
    pub async fn reset_link(&self, email: &str, n: usize) -> PasswordResetRequested {
        self.nth_link::<PasswordResetRequested>(email, n, |e| &e.email)
            .await
    }

    /// The token of the first reset link sent to `email`.
    pub async fn reset_token(&self, email: &str) -> String {
        self.reset_link(email, 0).await.token
    }

    /// How many links of `purpose` (`verify_email`, `password_reset`) were
    /// made, for `email` if given (each link is a stored token hash).
    pub async fn links_made(&self, purpose: &str, email: Option<&str>) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM account_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.purpose = $1 AND ($2::text IS NULL OR u.email = $2)",
        )
        .bind(purpose)
        .bind(email)
        .fetch_one(&self.db)
        .await
        .unwrap()
    }

    /// Confirm `email` with the link it was sent.
    pub async fn verify(&self, email: &str) {
        let token = self.verification_token(email).await;
        let r = self
            .post(
                &Anonymous,
                "/api/v1/auth/verify-email",
                &json!({"token": token}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }

    /// Register, verify and log in; returns the token pair.
    pub async fn patient_tokens(&self, email: &str) -> Value {
        assert_eq!(self.register(email).await.status(), StatusCode::ACCEPTED);
        self.verify(email).await;
        let r = self.login(email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// An account inserted directly (as the demo seed would): verified, with
    /// TOTP of `totp` if given.
    pub async fn insert_user(&self, email: &str, role: &str, totp: Option<&str>) -> Uuid {
        let hasher = identity::passwords::Hasher::new(1).unwrap();
        let hash = hasher.hash(PASSWORD).await.unwrap();
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO users (id, email, name, role, password_hash, email_verified_at, totp_secret, totp_enabled_at)
             VALUES ($1, $2, 'Root', $3, $4, now(), $5, CASE WHEN $5 IS NULL THEN NULL ELSE now() END)",
        )
        .bind(id)
        .bind(email)
        .bind(role)
        .bind(hash)
        .bind(totp)
        .execute(&self.db)
        .await
        .unwrap();
        id
    }

    /// A fresh code of `secret`: the clock moves on a step first, so a code is
    /// never one already used (identity accepts each code once).
    pub fn next_code(&self, secret: &str) -> String {
        self.clock.advance(chrono::Duration::seconds(30));
        totp_at(secret, self.clock.now().timestamp())
    }

    /// Log in with a password and a TOTP code; returns the token pair.
    pub async fn login_with_totp(&self, email: &str, secret: &str) -> Value {
        let r = self.login(email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK);
        let step: Value = r.json().await.unwrap();
        assert_eq!(step["mfa_required"], true, "{step}");
        let r = self
            .post(
                &Anonymous,
                "/api/v1/auth/mfa/verify",
                &json!({"mfa_token": step["mfa_token"], "code": self.next_code(secret)}),
            )
            .await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// An admin with TOTP (as the demo seed makes one), logged in; its access token.
    pub async fn admin_token(&self) -> String {
        self.admin("root@example.org").await.1
    }

    /// An admin of `email` with TOTP, logged in: its id and access token.
    pub async fn admin(&self, email: &str) -> (Uuid, String) {
        let id = self.insert_user(email, "admin", Some(ADMIN_TOTP)).await;
        let pair = self.login_with_totp(email, ADMIN_TOTP).await;
        (id, pair["access_token"].as_str().unwrap().to_owned())
    }

    pub async fn user_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    pub async fn user_id(&self, email: &str) -> Uuid {
        sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(email)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// A DELETE with a JSON body.
    pub async fn delete_with(
        &self,
        who: &(impl testing::Credentials + ?Sized),
        path: &str,
        body: &Value,
    ) -> Response {
        self.request(Method::DELETE, path, who)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// The score of `user` in the revoked-users set, if listed.
    pub async fn revoked_score(&self, user: Uuid) -> Option<f64> {
        let client = redis::Client::open(testing::redis_url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let key = platform::auth::RevocationSource::key_for(&self.backing.config.redis_prefix);
        redis::cmd("ZSCORE")
            .arg(key)
            .arg(user.to_string())
            .query_async(&mut conn)
            .await
            .unwrap()
    }
}

/// The claims of a JWT, unverified (tests read what the service signed).
pub fn claims_of(token: &str) -> Value {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}
