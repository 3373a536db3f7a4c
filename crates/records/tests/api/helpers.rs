use std::{sync::Arc, time::Duration};

use chrono::Utc;
use identity::testing::TestIssuer;
use lapin::{options::BasicPublishOptions, BasicProperties};
use platform::{
    auth::{Role, Verifier},
    events::{Broker, Envelope},
    shutdown::CancellationToken,
    testing::{eventually, wait_for_consumer, TestBacking},
};
use records::{keys::MasterKeys, Config};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// Long enough for a loaded CI machine; polls end as soon as the condition holds.
pub const WAIT: Duration = Duration::from_secs(15);

/// The real records service on an ephemeral port, with its own database, Redis
/// prefix, exchange and master key, verifying tokens signed by a test identity key.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: PgPool,
    pub config: Config,
    pub signing: Arc<TestIssuer>,
    _backing: TestBacking,
    cancel: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Another instance of the service on the same database (other keys, say).
pub struct Replica {
    pub base: String,
    cancel: CancellationToken,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Replica {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// A fresh master key entry `id:base64`.
pub fn master_key(id: &str) -> String {
    records::keys::generate(id).unwrap()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Start the service with its configuration adjusted by `adjust`.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let backing = TestBacking::new("records");
    let mut config = Config {
        common: backing.config.clone(),
        master_keys: MasterKeys::parse(&master_key("test-a")).unwrap(),
        cache_ttl: Duration::from_secs(300),
        break_glass: chrono::Duration::minutes(60),
    };
    config.common.max_body_bytes = 256 * 1024;
    adjust(&mut config);
    let prefix = &config.common.queue_prefix;
    backing.track_queue(&records::consumers::care_spec(prefix).queue);
    backing.track_queue(&records::consumers::patients_spec(prefix).queue);
    let signing = Arc::new(TestIssuer::new());
    let service = records::build_with_verifier(&config, verifier(&signing))
        .await
        .expect("records starts");
    let (addr, cancel) = platform::testing::spawn(service).await;
    let db = platform::db::connect(&config.common.database_url, 4)
        .await
        .unwrap();
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        db,
        config,
        signing,
        _backing: backing,
        cancel,
    }
}

pub fn verifier(keys: &TestIssuer) -> Arc<Verifier> {
    keys.verifier()
}

/// A user as the tests see them: id and a valid token.
#[derive(Clone, Debug)]
pub struct User {
    pub id: Uuid,
    pub token: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A user with `role` and a token as identity would issue it.
    pub fn user_with_id(&self, role: Role, id: Uuid) -> User {
        User {
            id,
            token: self.signing.token(id, role),
        }
    }

    pub fn user(&self, role: Role) -> User {
        self.user_with_id(role, Uuid::now_v7())
    }

    /// A patient records knows of (as after `user.registered`).
    pub async fn patient(&self) -> User {
        let user = self.user(Role::Patient);
        let mut conn = self.db.acquire().await.unwrap();
        records::store::care::ensure_patient(&mut conn, user.id)
            .await
            .unwrap();
        user
    }

    /// A provider with a booked appointment with `patient`, learned the way
    /// production learns it: an `appointment.booked` event on the exchange.
    pub async fn provider_caring_for(&self, patient: &User) -> (User, Uuid) {
        let provider = self.user(Role::Provider);
        let appointment_id = Uuid::now_v7();
        let start = Utc::now() + chrono::Duration::days(2);
        let event = appointment_event(
            "appointment.booked",
            appointment_id,
            patient.id,
            provider.id,
            start,
            "booked",
            1,
        );
        self.publish(&event).await;
        self.wait_for_relationship(appointment_id).await;
        (provider, appointment_id)
    }

    pub async fn wait_for_relationship(&self, appointment_id: Uuid) {
        let db = self.db.clone();
        eventually(WAIT, "the care relationship", || {
            let db = db.clone();
            async move {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM care_relationships WHERE appointment_id = $1",
                )
                .bind(appointment_id)
                .fetch_one(&db)
                .await
                .ok()?;
                (n == 1).then_some(())
            }
        })
        .await;
    }

    pub async fn broker(&self) -> Broker {
        let c = &self.config.common;
        Broker::connect(&c.amqp_url, &c.events_exchange)
            .await
            .unwrap()
    }

    /// Publish `event` as another service's relay would, once records consumes
    /// the queue it is routed to (before that it would go unrouted).
    pub async fn publish(&self, event: &Envelope) {
        let broker = self.broker().await;
        let prefix = &self.config.common.queue_prefix;
        let queue = if event.event_type.starts_with("appointment.") {
            records::consumers::care_spec(prefix).queue
        } else {
            records::consumers::patients_spec(prefix).queue
        };
        wait_for_consumer(&broker, &queue, WAIT).await;
        let channel = broker.channel().await.unwrap();
        channel
            .basic_publish(
                broker.exchange(),
                &event.event_type,
                BasicPublishOptions::default(),
                &serde_json::to_vec(event).unwrap(),
                BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        broker.close().await;
    }

    /// A validator for component schema `name` of the document this service
    /// serves at `/openapi.json`: responses must match what it promises.
    pub async fn schema(&self, name: &str) -> jsonschema::Validator {
        let doc: Value = reqwest::get(format!("{}/openapi.json", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let root = serde_json::json!({
            "$ref": format!("#/components/schemas/{name}"),
            "components": doc["components"],
        });
        jsonschema::draft202012::new(&root).expect("the document's schemas compile")
    }

    pub async fn get(&self, user: &User, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, user: &User, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&user.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, user: &User, path: &str, body: &Value) -> Response {
        self.client
            .put(self.url(path))
            .bearer_auth(&user.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Write a note as `author` for `patient`; the created entry.
    pub async fn note(&self, author: &User, patient: Uuid, text: &str) -> Value {
        let r = self
            .post(author, &notes(patient), &json!({ "text": text }))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }

    /// The patient's access log, as the patient sees it.
    pub async fn access_log(&self, patient: &User) -> Vec<Value> {
        let r = self
            .get(
                patient,
                &format!(
                    "/api/v1/patients/{}/records/access-log?limit=100",
                    patient.id
                ),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        body["items"].as_array().unwrap().clone()
    }

    pub async fn outbox(&self, event_type: &str) -> Vec<Value> {
        sqlx::query_scalar("SELECT payload FROM outbox WHERE event_type = $1 ORDER BY id")
            .bind(event_type)
            .fetch_all(&self.db)
            .await
            .unwrap()
    }

    pub async fn audit_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_log")
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// Start another instance on the same database with its configuration adjusted.
    pub async fn replica(&self, adjust: impl FnOnce(&mut Config)) -> Replica {
        let mut config = self.config.clone();
        adjust(&mut config);
        let service = records::build_with_verifier(&config, verifier(&self.signing))
            .await
            .expect("replica starts");
        let (addr, cancel) = platform::testing::spawn(service).await;
        Replica {
            base: format!("http://{addr}"),
            cancel,
        }
    }

    /// The database name of this test.
    pub fn database_name(&self) -> String {
        self.config
            .common
            .database_url
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    }
}

pub fn notes(patient: Uuid) -> String {
    format!("/api/v1/patients/{patient}/records/notes")
}

pub use platform::testing::appointment_event;

pub async fn assert_problem(r: Response, status: StatusCode, kind: &str) -> Value {
    let got = r.status();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = r.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    assert_eq!(
        body["type"],
        format!("https://carebook.dev/problems/{kind}"),
        "{body}"
    );
    body
}

pub use platform::testing::RedisProxy;
