use std::time::Duration;

use identity::{Config, SigningKeys};
use platform::{shutdown::CancellationToken, testing::TestBacking};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

pub const PASSWORD: &str = "a long enough passphrase";

/// The real identity service on an ephemeral port, with its own database and exchange.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: PgPool,
    /// The key the service signs with (to forge/verify tokens in tests).
    pub key_pem: String,
    pub backing: TestBacking,
    cancel: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.cancel.cancel();
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
    let (addr, cancel) = platform::testing::spawn(service).await;
    let db = platform::db::connect(&config.common.database_url, 2)
        .await
        .unwrap();
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        db,
        key_pem,
        backing,
        cancel,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_as(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_as(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn register(&self, email: &str) -> Response {
        self.post(
            "/api/v1/auth/register",
            &json!({"email": email, "password": PASSWORD, "name": "Test Patient"}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
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
            .bind(uuid::Uuid::now_v7())
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

/// Assert a problem+json response of `status` and `kind`; returns the body.
pub async fn assert_problem(r: Response, status: StatusCode, kind: &str) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["type"],
        format!("https://carebook.dev/problems/{kind}"),
        "{body}"
    );
    assert_eq!(body["status"], status.as_u16());
    body
}
