use std::{sync::Arc, time::Duration};

use billing::{payment_provider::PaymentProvider, Config};
use chrono::{Duration as Span, Utc};
use identity::testing::TestIssuer;
use lapin::{
    options::{BasicPublishOptions, QueueDeclareOptions},
    types::FieldTable,
    BasicProperties,
};
use platform::{
    auth::Role,
    events::{broker::QueueTopology, Broker, ConsumerSpec, Envelope},
    shutdown::CancellationToken,
    testing::{eventually, TestBacking},
};
use reqwest::{Response, StatusCode};
use scheduling::{
    domain::{lifecycle::Status, types::Mode},
    events::AppointmentEvent,
};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

pub const WAIT: Duration = Duration::from_secs(15);

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: PgPool,
    pub keys: TestIssuer,
    pub config: Config,
    pub backing: TestBacking,
    cancel: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}, None).await
}

/// Start billing with adjusted settings and, optionally, another payment provider.
pub async fn spawn_app_with(
    adjust: impl FnOnce(&mut Config),
    payments: Option<Arc<dyn PaymentProvider>>,
) -> TestApp {
    let backing = TestBacking::new("billing");
    let keys = TestIssuer::new();
    let verifier = keys.verifier();
    let mut config = Config {
        common: backing.config.clone(),
        balance_cache_ttl: Duration::from_secs(60),
        tax_rate_bp: 0,
    };
    adjust(&mut config);
    let service = match payments {
        Some(p) => billing::build_with(&config, verifier, p).await,
        None => billing::build_with_verifier(&config, verifier).await,
    }
    .expect("billing starts");
    let (addr, cancel) = platform::testing::spawn(service).await;
    let db = platform::db::connect(&config.common.database_url, 4)
        .await
        .unwrap();
    let spec = billing::consumers::spec(&config.common.queue_prefix);
    backing.track_queue(&spec.queue);
    let app = TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        db,
        keys,
        config,
        backing,
        cancel,
    };
    // The consumer declares its queue and then binds it, in the background; an
    // event published in between would go unrouted. Declaring the same topology
    // here first (idempotent, same arguments) makes every publish land.
    app.declare_consumer_queue(&spec).await;
    app
}

/// A user as the tests see them: id and a valid token.
#[derive(Clone)]
pub struct User {
    pub id: Uuid,
    pub token: String,
}

/// An appointment as scheduling would announce it.
#[derive(Clone)]
pub struct Visit {
    pub id: Uuid,
    pub patient: Uuid,
    pub provider: Uuid,
    pub price_minor: i64,
    pub currency: &'static str,
}

impl Visit {
    pub fn new(patient: &User, provider: &User) -> Self {
        Self {
            id: Uuid::now_v7(),
            patient: patient.id,
            provider: provider.id,
            price_minor: 6000,
            currency: "EUR",
        }
    }

    pub fn data(&self, status: Status, version: i32) -> AppointmentEvent {
        let start = Utc::now() - Span::hours(2);
        AppointmentEvent {
            appointment_id: self.id,
            patient_id: self.patient,
            provider_id: self.provider,
            appointment_type_id: Uuid::now_v7(),
            appointment_type_name: "Consultation".into(),
            start,
            end: start + Span::minutes(30),
            time_zone: "Europe/Berlin".into(),
            mode: Mode::InPerson,
            price: scheduling::domain::types::Money {
                amount_minor: self.price_minor,
                currency: self.currency.into(),
            },
            status,
            version,
            previous_start: None,
            previous_end: None,
            reason: None,
            late: false,
            fee: None,
            changed_by: self.provider,
        }
    }

    fn fee(&self, amount_minor: i64) -> scheduling::domain::types::Money {
        scheduling::domain::types::Money {
            amount_minor,
            currency: self.currency.into(),
        }
    }

    pub fn booked(&self) -> Envelope {
        envelope("appointment.booked", &self.data(Status::Booked, 1))
    }

    pub fn completed(&self) -> Envelope {
        envelope("appointment.completed", &self.data(Status::Completed, 3))
    }

    pub fn cancelled(&self, late: bool, fee: Option<i64>) -> Envelope {
        let mut data = self.data(Status::Cancelled, 2);
        data.reason = Some("feeling better".into());
        data.late = late;
        data.fee = fee.map(|f| self.fee(f));
        data.changed_by = self.patient;
        envelope("appointment.cancelled", &data)
    }

    pub fn no_show(&self, fee: Option<i64>) -> Envelope {
        let mut data = self.data(Status::NoShow, 2);
        data.fee = fee.map(|f| self.fee(f));
        envelope("appointment.no_show", &data)
    }
}

pub fn envelope(kind: &str, data: &AppointmentEvent) -> Envelope {
    Envelope::new(kind, 1, "scheduling", data).unwrap()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn user(&self, role: Role) -> User {
        let id = Uuid::now_v7();
        User {
            id,
            token: self.keys.token(id, role),
        }
    }

    pub async fn get(&self, user: &User, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_ok(&self, user: &User, path: &str) -> Value {
        let r = self.get(user, path).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
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

    /// Record a payment as `user`.
    pub async fn pay(
        &self,
        user: &User,
        invoice: Uuid,
        amount_minor: i64,
        currency: &str,
    ) -> Response {
        self.post(
            user,
            &format!("/api/v1/invoices/{invoice}/payments"),
            &serde_json::json!({
                "amount": {"amount_minor": amount_minor, "currency": currency},
                "method": "card",
                "reference": "terminal-42"
            }),
        )
        .await
    }

    async fn broker(&self) -> Broker {
        let cfg = &self.backing.config;
        Broker::connect(&cfg.amqp_url, &cfg.events_exchange)
            .await
            .unwrap()
    }

    /// Publish `event` to the test's exchange, as scheduling's relay would.
    pub async fn publish(&self, event: &Envelope) {
        let broker = self.broker().await;
        let channel = broker.channel().await.unwrap();
        channel
            .basic_publish(
                &self.backing.config.events_exchange,
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

    /// Messages waiting in `queue`, or `None` if it does not exist (yet).
    pub async fn queue_depth(&self, queue: &str) -> Option<u32> {
        let broker = self.broker().await;
        // A passive declare of a missing queue closes the channel: use a fresh one.
        let channel = broker.channel().await.ok()?;
        let declared = channel
            .queue_declare(
                queue,
                QueueDeclareOptions {
                    passive: true,
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await;
        broker.close().await;
        declared.ok().map(|q| q.message_count())
    }

    async fn declare_consumer_queue(&self, spec: &ConsumerSpec) {
        let broker = self.broker().await;
        let channel = broker.channel().await.unwrap();
        broker
            .declare_queue(
                &channel,
                &QueueTopology {
                    queue: &spec.queue,
                    bindings: &spec.bindings,
                    delivery_limit: spec.delivery_limit,
                },
            )
            .await
            .unwrap();
        broker.close().await;
    }

    pub fn dead_letter_queue(&self) -> String {
        billing::consumers::spec(&self.config.common.queue_prefix).dead_letter_queue()
    }

    /// Wait until everything published so far was consumed: the consumer
    /// handles one message after another, so once a later booking shows up in
    /// the read model, all earlier events were settled.
    pub async fn drain(&self) {
        let sentinel = Visit {
            id: Uuid::now_v7(),
            patient: Uuid::now_v7(),
            provider: Uuid::now_v7(),
            price_minor: 1,
            currency: "EUR",
        };
        self.publish(&sentinel.booked()).await;
        let db = self.db.clone();
        eventually(WAIT, "the sentinel event", || {
            let db = db.clone();
            async move {
                let found: bool =
                    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM appointments WHERE id = $1)")
                        .bind(sentinel.id)
                        .fetch_one(&db)
                        .await
                        .ok()?;
                found.then_some(())
            }
        })
        .await;
    }

    /// The invoice billing issued for (appointment, reason), once it exists.
    pub async fn invoice_for(&self, appointment: Uuid, reason: &str) -> Uuid {
        let db = self.db.clone();
        let reason = reason.to_owned();
        eventually(WAIT, "the invoice", || {
            let (db, reason) = (db.clone(), reason.clone());
            async move {
                sqlx::query_scalar(
                    "SELECT id FROM invoices WHERE appointment_id = $1 AND reason = $2",
                )
                .bind(appointment)
                .bind(reason)
                .fetch_optional(&db)
                .await
                .ok()?
            }
        })
        .await
    }

    /// Complete `visit` through an event and return the invoice it produced.
    pub async fn completed_invoice(&self, visit: &Visit) -> Uuid {
        self.publish(&visit.completed()).await;
        self.invoice_for(visit.id, "completed").await
    }

    pub async fn count(&self, sql: &str, id: Uuid) -> i64 {
        sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    pub async fn outbox(&self, event_type: &str) -> Vec<Value> {
        sqlx::query_scalar("SELECT payload FROM outbox WHERE event_type = $1 ORDER BY id")
            .bind(event_type)
            .fetch_all(&self.db)
            .await
            .unwrap()
    }

    /// A Redis connection and the key of `patient`'s cached balance.
    pub async fn balance_key(&self, patient: Uuid) -> (redis::aio::MultiplexedConnection, String) {
        let client = redis::Client::open(platform::testing::redis_url()).unwrap();
        let conn = client.get_multiplexed_async_connection().await.unwrap();
        let key = format!(
            "{}billing:balance:{patient}",
            self.config.common.redis_prefix
        );
        (conn, key)
    }
}

pub async fn assert_problem(r: Response, status: StatusCode, kind: &str) -> Value {
    let got = r.status();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    assert_eq!(content_type, "application/problem+json", "{body}");
    assert_eq!(
        body["type"],
        format!("https://carebook.dev/problems/{kind}"),
        "{body}"
    );
    body
}

pub fn money(amount_minor: i64, currency: &str) -> Value {
    serde_json::json!({"amount_minor": amount_minor, "currency": currency})
}
