use std::{sync::Arc, time::Duration};

use directory::Config;
use futures_util::StreamExt;
use identity::testing::TestIssuer;
use lapin::{
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions,
        QueueBindOptions, QueueDeclareOptions,
    },
    types::FieldTable,
    BasicProperties, Consumer,
};
use platform::{
    auth::{Role, Verifier},
    events::{Broker, ConsumerSpec, Envelope},
    shutdown::CancellationToken,
    testing::{eventually, wait_for_consumer, TestBacking},
};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// Long enough for a loaded CI machine; polls end as soon as the condition holds.
pub const WAIT: Duration = Duration::from_secs(15);

/// The real directory service on an ephemeral port, with its own database,
/// Redis prefix and exchange, verifying tokens signed by a test identity key.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: PgPool,
    pub config: Config,
    pub keys: Arc<TestIssuer>,
    /// Deletes the database, queues and exchanges when the test ends.
    _backing: TestBacking,
    cancel: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Another replica of the same service (same database and exchange).
pub struct Replica {
    pub base: String,
    cancel: CancellationToken,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Start the service with its configuration adjusted by `adjust`.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let backing = TestBacking::new("directory");
    let mut config = Config {
        common: backing.config.clone(),
        cache_ttl: Duration::from_secs(300),
    };
    adjust(&mut config);
    for spec in consumer_specs(&config) {
        backing.track_queue(&spec.queue);
    }
    let keys = Arc::new(TestIssuer::new());
    let service = directory::build_with_verifier(&config, verifier(&keys))
        .await
        .expect("directory starts");
    let (addr, cancel) = platform::testing::spawn(service).await;
    let db = platform::db::connect(&config.common.database_url, 2)
        .await
        .unwrap();
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        db,
        config,
        keys,
        _backing: backing,
        cancel,
    }
}

/// The queues the directory consumes from.
fn consumer_specs(config: &Config) -> [ConsumerSpec; 2] {
    let prefix = &config.common.queue_prefix;
    [
        directory::events::registrations_spec(prefix),
        directory::events::care_spec(prefix),
    ]
}

pub fn verifier(keys: &TestIssuer) -> Arc<Verifier> {
    keys.verifier()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An access token as identity would issue it to user `id` with `role`.
    pub fn token(&self, role: Role, id: Uuid) -> String {
        self.keys.token(id, role)
    }

    pub fn staff(&self) -> String {
        self.token(Role::Staff, Uuid::now_v7())
    }

    pub async fn get_as(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn put_as(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .put(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// PUT a raw body with `Content-Type: application/json`.
    pub async fn put_raw(&self, path: &str, token: &str, body: &str) -> Response {
        self.client
            .put(self.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    pub async fn delete_as(&self, path: &str, token: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// GET expecting 200; the JSON body.
    pub async fn get_ok(&self, path: &str, token: &str) -> Value {
        let r = self.get_as(path, token).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.json().await.unwrap()
    }

    /// A provider profile inserted straight into the database.
    pub async fn insert_provider(&self, name: &str, specialty: &str, bio: &str) -> Uuid {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO providers (id, name, specialty, bio, time_zone) VALUES ($1, $2, $3, $4, 'UTC')",
        )
        .bind(id)
        .bind(name)
        .bind(specialty)
        .bind(bio)
        .execute(&self.db)
        .await
        .unwrap();
        id
    }

    /// A patient profile inserted straight into the database (as after registration).
    pub async fn insert_patient(&self, name: &str) -> Uuid {
        let id = Uuid::now_v7();
        sqlx::query("INSERT INTO patients (id, name, email) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(name)
            .bind(format!("{}@example.org", id.simple()))
            .execute(&self.db)
            .await
            .unwrap();
        id
    }

    /// A patient with a token of their own.
    pub async fn patient(&self, name: &str) -> (Uuid, String) {
        let id = self.insert_patient(name).await;
        (id, self.token(Role::Patient, id))
    }

    /// Start a second replica of this service, its configuration adjusted by `adjust`.
    pub async fn replica(&self, adjust: impl FnOnce(&mut Config)) -> Replica {
        let mut config = self.config.clone();
        adjust(&mut config);
        let service = directory::build_with_verifier(&config, verifier(&self.keys))
            .await
            .expect("replica starts");
        let (addr, cancel) = platform::testing::spawn(service).await;
        Replica {
            base: format!("http://{addr}"),
            cancel,
        }
    }

    pub async fn broker(&self) -> Broker {
        let c = &self.config.common;
        Broker::connect(&c.amqp_url, &c.events_exchange)
            .await
            .unwrap()
    }

    /// Publish `event` to the exchange as identity's or scheduling's relay
    /// would, once the directory consumes from its queues (a queue is declared,
    /// then bound, then consumed: before that, an event would be dropped unrouted).
    pub async fn publish(&self, event: &Envelope) {
        let broker = self.broker().await;
        for spec in consumer_specs(&self.config) {
            wait_for_consumer(&broker, &spec.queue, WAIT).await;
        }
        let channel = broker.channel().await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        let confirm = channel
            .basic_publish(
                broker.exchange(),
                &event.event_type,
                BasicPublishOptions::default(),
                &serde_json::to_vec(event).unwrap(),
                BasicProperties::default()
                    .with_message_id(event.id.to_string().into())
                    .with_content_type("application/json".into()),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(confirm.is_ack());
        broker.close().await;
    }

    /// Count of outbox rows of `event_type`.
    pub async fn outbox_count(&self, event_type: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE event_type = $1")
            .bind(event_type)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// A direct Redis connection, and the key the service caches `entity` `id` under.
    pub async fn redis_key(
        &self,
        entity: &str,
        id: Uuid,
    ) -> (redis::aio::MultiplexedConnection, String) {
        let client = redis::Client::open(platform::testing::redis_url()).unwrap();
        let conn = client.get_multiplexed_async_connection().await.unwrap();
        let key = format!("{}directory:{entity}:{id}", self.config.common.redis_prefix);
        (conn, key)
    }

    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Replica {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// `user.registered` as identity publishes it.
pub fn user_registered(user_id: Uuid, role: Role, name: &str) -> Envelope {
    Envelope::new(
        "user.registered",
        1,
        "identity",
        &json!({
            "user_id": user_id,
            "role": role,
            "name": name,
            "email": format!("{}@example.org", user_id.simple()),
        }),
    )
    .unwrap()
}

/// A booking's `appointment.*` event as scheduling publishes it, two days ahead.
pub fn appointment_event(
    kind: &str,
    appointment_id: Uuid,
    patient: Uuid,
    provider: Uuid,
) -> Envelope {
    let start = chrono::Utc::now() + chrono::Duration::days(2);
    platform::testing::appointment_event(
        kind,
        appointment_id,
        patient,
        provider,
        start,
        "booked",
        1,
    )
}

/// A queue of our own bound to the events exchange, to see what the service publishes.
pub struct EventTap {
    consumer: Consumer,
}

impl EventTap {
    pub async fn bind(app: &TestApp, routing_keys: &[&str]) -> Self {
        let broker = app.broker().await;
        let channel = broker.channel().await.unwrap();
        let queue = channel
            .queue_declare(
                "",
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        for key in routing_keys {
            channel
                .queue_bind(
                    queue.name().as_str(),
                    broker.exchange(),
                    key,
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .unwrap();
        }
        let consumer = channel
            .basic_consume(
                queue.name().as_str(),
                "tap",
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        Self { consumer }
    }

    /// The next event, within [`WAIT`].
    pub async fn next(&mut self) -> Envelope {
        let delivery = tokio::time::timeout(WAIT, self.consumer.next())
            .await
            .expect("an event in time")
            .unwrap()
            .unwrap();
        delivery.ack(BasicAckOptions::default()).await.unwrap();
        serde_json::from_slice(&delivery.data).unwrap()
    }

    /// Nothing more arrives within half a second.
    pub async fn assert_quiet(&mut self) {
        if let Ok(Some(Ok(d))) =
            tokio::time::timeout(Duration::from_millis(500), self.consumer.next()).await
        {
            panic!("unexpected event: {}", String::from_utf8_lossy(&d.data));
        }
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

/// The fields named in a validation problem's `errors`.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

pub use platform::testing::RedisProxy;

/// Read `/patients/me` until Redis holds the profile under `key` with `name`.
pub async fn eventually_cached(app: &TestApp, token: &str, key: &str, name: &str) {
    let (redis, _) = app.redis_key("patient", Uuid::nil()).await;
    eventually(WAIT, "the profile to be cached again", || {
        let mut redis = redis.clone();
        async move {
            let me = app.get_ok("/api/v1/patients/me", token).await;
            assert_eq!(me["name"], name);
            let cached: Option<String> = redis::AsyncCommands::get(&mut redis, key).await.ok()?;
            cached.filter(|c| c.contains(name)).map(|_| ())
        }
    })
    .await;
}
