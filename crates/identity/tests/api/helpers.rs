//! What identity's tests need beyond `platform::testing`: the service built
//! with a signing key the tests know, accounts registered and logged in through
//! the API, and an admin as the demo seed makes one.

use std::{ops::Deref, sync::Arc, time::Duration};

use identity::{testing::TestIssuer, Config, SigningKeys};
use platform::testing::{self, Anonymous, TestBacking};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

pub const PASSWORD: &str = "a long enough passphrase";

/// The real identity service (`platform::testing::TestApp`), with the key it signs with.
pub struct TestApp {
    app: testing::TestApp,
    /// The service's signing key (to forge and verify tokens in tests).
    pub key_pem: String,
}

impl Deref for TestApp {
    type Target = testing::TestApp;

    fn deref(&self) -> &Self::Target {
        &self.app
    }
}

pub async fn spawn_app() -> TestApp {
    let backing = TestBacking::new("identity");
    let config = Config {
        common: backing.config.clone(),
        signing_keys_dir: "unused-in-tests".into(),
        access_ttl: Duration::from_secs(600),
        refresh_ttl: Duration::from_secs(3600),
        hash_concurrency: 4,
    };
    let key_pem = SigningKeys::generate_pem().unwrap();
    let keys = SigningKeys::from_pems([("test", key_pem.clone())]).unwrap();
    let service = identity::build_with_keys(&config, keys)
        .await
        .expect("identity starts");
    // Identity consumes no events.
    // Tokens signed with the service's own key, as its login signs them: the
    // users of `app.user(role)` are ones identity trusts (though not in its database).
    let tokens = Arc::new(TestIssuer::from_pem(&key_pem));
    let app = testing::TestApp::spawn(backing, service, &[], tokens).await;
    TestApp { app, key_pem }
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

    /// Register and log in; returns the token pair.
    pub async fn patient_tokens(&self, email: &str) -> Value {
        assert_eq!(self.register(email).await.status(), StatusCode::CREATED);
        let r = self.login(email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// An admin account created directly in the database (as the demo seed would).
    pub async fn admin_token(&self) -> String {
        let hasher = identity::passwords::Hasher::new(1).unwrap();
        let hash = hasher.hash(PASSWORD).await.unwrap();
        sqlx::query("INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, 'root@example.org', 'Root', 'admin', $2)")
            .bind(Uuid::now_v7())
            .bind(hash)
            .execute(&self.db)
            .await
            .unwrap();
        let r: Value = self
            .login("root@example.org", PASSWORD)
            .await
            .json()
            .await
            .unwrap();
        r["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn user_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&self.db)
            .await
            .unwrap()
    }
}
