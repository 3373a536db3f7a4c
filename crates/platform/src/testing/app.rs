//! The one `TestApp`: a real service on port 0 with its own slice of the backing
//! services, a client, typed requests as any user, and the event helpers every
//! service's integration tests use. A crate's `tests/api/helpers.rs` builds its
//! service and adds only what is its own.

use std::{sync::Arc, time::Duration};

use contracts::Event;
use lapin::{
    options::{BasicGetOptions, BasicPublishOptions},
    BasicProperties,
};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{eventually, TestBacking};
use crate::{
    auth::Role,
    events::{ConsumerSpec, Envelope},
    service::Service,
};

/// How long tests wait for something asynchronous (an event consumed, an email
/// sent): long enough for a loaded CI machine; polls end as soon as it holds.
pub const WAIT: Duration = Duration::from_secs(15);

/// Signs access tokens as identity would (identity's `testing::TestIssuer`).
pub trait IssueTokens: Send + Sync {
    fn token(&self, user_id: Uuid, role: Role) -> String;
}

/// Who a request is sent as.
pub trait Credentials {
    /// The bearer token, if any.
    fn bearer(&self) -> Option<&str>;
}

/// A user as the tests see them: id, role and a valid access token.
#[derive(Clone, Debug)]
pub struct User {
    pub id: Uuid,
    pub role: Role,
    pub token: String,
}

/// No `Authorization` header at all.
pub struct Anonymous;

impl Credentials for User {
    fn bearer(&self) -> Option<&str> {
        Some(&self.token)
    }
}

impl Credentials for str {
    fn bearer(&self) -> Option<&str> {
        Some(self)
    }
}

impl Credentials for String {
    fn bearer(&self) -> Option<&str> {
        Some(self)
    }
}

impl Credentials for Anonymous {
    fn bearer(&self) -> Option<&str> {
        None
    }
}

/// A running service under test. Dropping it stops the service; the backing
/// (database, queues, exchange, Redis keys) is deleted after.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub client: reqwest::Client,
    /// A small pool on the service's own database, for setting up and checking state.
    pub db: PgPool,
    tokens: Arc<dyn IssueTokens>,
    cancel: CancellationToken,
    /// Declared last: dropped after the service was told to stop.
    pub backing: TestBacking,
}

/// Another instance of the service under test on the same backing (a second
/// replica); dropping it stops that instance only.
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

impl Drop for TestApp {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl TestApp {
    /// Run `service` (built on `backing.config`) on an ephemeral port. The
    /// queues of `consumers` are declared first and deleted with the backing,
    /// so events the test publishes at once are routed, never dropped.
    pub async fn spawn(
        backing: TestBacking,
        service: Service,
        consumers: &[ConsumerSpec],
        tokens: Arc<dyn IssueTokens>,
    ) -> Self {
        for spec in consumers {
            backing.declare_consumer(spec).await;
        }
        let (addr, cancel) = super::spawn(service).await;
        let db = crate::db::connect(&backing.config.database_url, 4)
            .await
            .expect("connect to the test database");
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            db,
            tokens,
            cancel,
            backing,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Run `service` (built on this app's backing) as a second replica.
    pub async fn replica(&self, service: Service) -> Replica {
        let (addr, cancel) = super::spawn(service).await;
        Replica {
            base: format!("http://{addr}"),
            cancel,
        }
    }

    /// The name of the test's database (for `pg_dump` and the like).
    pub fn database_name(&self) -> String {
        let url = &self.backing.config.database_url;
        url.rsplit('/').next().unwrap_or(url).to_owned()
    }

    /// The service's Prometheus text.
    pub async fn metrics(&self) -> String {
        self.get(&Anonymous, "/metrics")
            .await
            .text()
            .await
            .expect("metrics text")
    }

    /// A new user of `role` with a valid token.
    pub fn user(&self, role: Role) -> User {
        self.user_with_id(Uuid::now_v7(), role)
    }

    /// The user `id` in `role` with a valid token.
    pub fn user_with_id(&self, id: Uuid, role: Role) -> User {
        User {
            id,
            role,
            token: self.tokens.token(id, role),
        }
    }

    /// A request to `path` as `who`, to finish and send.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        who: &(impl Credentials + ?Sized),
    ) -> RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match who.bearer() {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn get(&self, who: &(impl Credentials + ?Sized), path: &str) -> Response {
        send(self.request(Method::GET, path, who)).await
    }

    pub async fn delete(&self, who: &(impl Credentials + ?Sized), path: &str) -> Response {
        send(self.request(Method::DELETE, path, who)).await
    }

    pub async fn post(
        &self,
        who: &(impl Credentials + ?Sized),
        path: &str,
        body: &Value,
    ) -> Response {
        send(self.request(Method::POST, path, who).json(body)).await
    }

    pub async fn put(
        &self,
        who: &(impl Credentials + ?Sized),
        path: &str,
        body: &Value,
    ) -> Response {
        send(self.request(Method::PUT, path, who).json(body)).await
    }

    pub async fn patch(
        &self,
        who: &(impl Credentials + ?Sized),
        path: &str,
        body: &Value,
    ) -> Response {
        send(self.request(Method::PATCH, path, who).json(body)).await
    }

    /// GET expecting 200; the JSON body.
    pub async fn get_ok(&self, who: &(impl Credentials + ?Sized), path: &str) -> Value {
        let r = self.get(who, path).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    /// The payloads of the outbox rows of `event_type`, oldest first.
    pub async fn outbox(&self, event_type: &str) -> Vec<Value> {
        sqlx::query_scalar("SELECT payload FROM outbox WHERE event_type = $1 ORDER BY id")
            .bind(event_type)
            .fetch_all(&self.db)
            .await
            .expect("read the outbox")
    }

    /// The outbox rows of event `E` as envelopes, each checked against its
    /// contract (producer, type, version) and decoded.
    pub async fn published<E: Event>(&self) -> Vec<E::Payload> {
        self.outbox(E::TYPE)
            .await
            .into_iter()
            .map(|row| {
                let event: Envelope = serde_json::from_value(row).expect("an outbox envelope");
                assert_eq!(event.source, E::PRODUCER.as_str(), "{event:?}");
                event
                    .decode::<E>()
                    .expect("a payload of the contract's shape")
            })
            .collect()
    }

    /// Publish `body` as is under `routing_key` (a message no envelope describes).
    pub async fn publish_raw(&self, routing_key: &str, body: &[u8]) {
        let broker = self.backing.broker().await;
        let channel = broker.channel().await.expect("a channel");
        channel
            .basic_publish(
                &self.backing.config.events_exchange,
                routing_key,
                BasicPublishOptions::default(),
                body,
                BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_user_id(broker.user().into()),
            )
            .await
            .expect("publish")
            .await
            .expect("publisher confirm");
        broker.close().await;
    }

    /// Take the next message from `queue` (a dead-letter queue), if any.
    pub async fn take(&self, queue: &str) -> Option<Vec<u8>> {
        let broker = self.backing.broker().await;
        let channel = broker.channel().await.expect("a channel");
        let message = channel
            .basic_get(queue, BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get");
        broker.close().await;
        message.map(|m| m.delivery.data)
    }

    /// Wait until `queue` holds at least `n` messages (dead letters, say: an
    /// event refused never reaches `processed_events`).
    pub async fn wait_for_queue_depth(&self, queue: &str, n: u32) {
        eventually(WAIT, &format!("{n} messages in {queue}"), || async move {
            (self.queue_depth(queue).await? >= n).then_some(())
        })
        .await;
    }

    /// Publish `event` to the test's exchange, as its producer's relay would.
    pub async fn publish(&self, event: &Envelope) {
        let broker = self.backing.broker().await;
        let channel = broker.channel().await.expect("a channel");
        channel
            .basic_publish(
                &self.backing.config.events_exchange,
                &event.event_type,
                BasicPublishOptions::default(),
                &serde_json::to_vec(event).expect("an envelope serializes"),
                BasicProperties::default()
                    .with_message_id(event.id.to_string().into())
                    .with_type(event.event_type.as_str().into())
                    .with_delivery_mode(2)
                    .with_user_id(broker.user().into()),
            )
            .await
            .expect("publish")
            .await
            .expect("publisher confirm");
        broker.close().await;
    }

    /// Wait until one of the service's consumers has applied `event_id`.
    pub async fn wait_for_event(&self, event_id: Uuid) {
        let db = &self.db;
        eventually(
            WAIT,
            &format!("event {event_id} to be consumed"),
            || async move {
                let done: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM processed_events WHERE event_id = $1)",
                )
                .bind(event_id)
                .fetch_one(db)
                .await
                .ok()?;
                done.then_some(())
            },
        )
        .await;
    }

    /// Publish `event` and wait until the service has applied it.
    pub async fn deliver(&self, event: &Envelope) {
        self.publish(event).await;
        self.wait_for_event(event.id).await;
    }

    /// Messages waiting in `queue`, or `None` if it does not exist.
    pub async fn queue_depth(&self, queue: &str) -> Option<u32> {
        let broker = self.backing.broker().await;
        let depth = super::queue_depth(&broker, queue).await;
        broker.close().await;
        depth
    }
}

async fn send(request: RequestBuilder) -> Response {
    request.send().await.expect("the service answers")
}

/// Assert a problem+json answer of `status` and `kind` (the end of its `type`);
/// returns the body.
pub async fn assert_problem(r: Response, status: StatusCode, kind: &str) -> Value {
    let got = r.status();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "{body}");
    assert_eq!(content_type, "application/problem+json", "{body}");
    assert_eq!(
        body["type"],
        format!("https://carebook.dev/problems/{kind}"),
        "{body}"
    );
    assert_eq!(body["status"], status.as_u16(), "{body}");
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

/// The sum of the Prometheus lines starting with `name_and_labels`
/// (`name{labels} value`); 0 when there are none.
pub fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name_and_labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
