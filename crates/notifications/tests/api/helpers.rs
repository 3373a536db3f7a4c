use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use identity::testing::TestIssuer;
use lapin::{
    options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions},
    types::FieldTable,
    BasicProperties,
};
use notifications::{
    clock::{Clock, SettableClock},
    config::SmtpConfig,
    consumers, Config,
};
use platform::{
    auth::Role,
    events::{broker::QueueTopology, Broker, ConsumerSpec, Envelope},
    shutdown::CancellationToken,
    testing::{eventually, TestBacking},
};
use reqwest::Response;
use scheduling::{
    domain::{
        lifecycle::Status,
        types::{Mode, Money},
    },
    events::AppointmentEvent,
};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use platform::testing::maildev::MailDev;

pub const WAIT: Duration = Duration::from_secs(20);

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: PgPool,
    pub keys: TestIssuer,
    pub config: Config,
    pub clock: Arc<SettableClock>,
    pub broker: Broker,
    /// Deletes the test's database, exchanges and queues when dropped.
    _backing: TestBacking,
    cancel: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The service sending to `mail`, with a clock the test moves, a fast worker and
/// quick retries (100 ms doubling to 1 s, 50 attempts).
pub async fn spawn_app(mail: &MailDev) -> TestApp {
    spawn_app_with(mail, |_| {}).await
}

pub async fn spawn_app_with(mail: &MailDev, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let backing = TestBacking::new("notifications");
    let keys = TestIssuer::new();
    let verifier = keys.verifier();
    let mut config = Config::new(backing.config.clone(), SmtpConfig::local(mail.smtp_port));
    config.worker.poll_interval = Duration::from_millis(50);
    config.worker.retry.base = Duration::from_millis(100);
    config.worker.retry.max_delay = Duration::from_secs(1);
    config.worker.retry.max_attempts = 50;
    tweak(&mut config);
    let clock = Arc::new(SettableClock::running());
    let broker = Broker::connect(&config.common.amqp_url, &config.common.events_exchange)
        .await
        .unwrap();
    // Declare the queues now, so events published before the consumers
    // start are routed to them, not to the unrouted queue.
    for spec in specs(&config) {
        backing.track_queue(&spec.queue);
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
        let _ = channel.close(200, "declared").await;
    }
    let service = notifications::build_with(&config, verifier, clock.clone() as Arc<dyn Clock>)
        .await
        .expect("notifications starts");
    let (addr, cancel) = platform::testing::spawn(service).await;
    let db = platform::db::connect(&config.common.database_url, 2)
        .await
        .unwrap();
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        db,
        keys,
        config,
        clock,
        broker,
        _backing: backing,
        cancel,
    }
}

pub fn specs(config: &Config) -> [ConsumerSpec; 2] {
    [
        consumers::appointments_spec(&config.common.queue_prefix),
        consumers::people_spec(&config.common.queue_prefix),
    ]
}

/// A patient or provider known to notifications (by `user.registered`), with a token.
#[derive(Clone, Debug)]
pub struct Person {
    pub id: Uuid,
    pub email: String,
    pub token: String,
}

/// A booking as scheduling would announce it.
#[derive(Clone, Debug)]
pub struct Booking {
    pub appointment_id: Uuid,
    pub patient: Person,
    pub provider: Person,
    pub start: DateTime<Utc>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn token(&self, id: Uuid, role: Role) -> String {
        self.keys.token(id, role)
    }

    pub async fn get(&self, token: &str, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Publish `event` to the test's exchange, as the outbox relay would.
    pub async fn publish(&self, event: &Envelope) {
        self.publish_raw(&event.event_type, &serde_json::to_vec(event).unwrap())
            .await;
    }

    pub async fn publish_raw(&self, routing_key: &str, body: &[u8]) {
        let channel = self.broker.channel().await.unwrap();
        channel
            .basic_publish(
                &self.config.common.events_exchange,
                routing_key,
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        let _ = channel.close(200, "published").await;
    }

    /// Register someone through identity's event and wait until notifications knows them.
    pub async fn register(&self, role: Role, name: &str, email: &str) -> Person {
        let id = Uuid::now_v7();
        let event = Envelope::new(
            "user.registered",
            1,
            "identity",
            &json!({"user_id": id, "role": role, "name": name, "email": email}),
        )
        .unwrap();
        self.publish(&event).await;
        let db = self.db.clone();
        eventually(WAIT, "the person in the read model", || {
            let db = db.clone();
            async move {
                let known: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM people WHERE id = $1 AND email IS NOT NULL)",
                )
                .bind(id)
                .fetch_one(&db)
                .await
                .ok()?;
                known.then_some(())
            }
        })
        .await;
        Person {
            id,
            email: email.to_owned(),
            token: self.token(id, role),
        }
    }

    /// A patient and a provider, and an appointment between them `days` ahead
    /// at a whole hour (not yet announced).
    pub async fn booking(&self, days: i64) -> Booking {
        let n = Uuid::now_v7().simple().to_string();
        let patient = self
            .register(
                Role::Patient,
                "Paula Patient",
                &format!("paula.{}@example.org", &n[20..]),
            )
            .await;
        let provider = self
            .register(
                Role::Provider,
                "Dr. Lena Vogel",
                &format!("vogel.{}@example.org", &n[20..]),
            )
            .await;
        let start = (self.clock.now() + Span::days(days))
            .duration_trunc(Span::hours(1))
            .unwrap();
        Booking {
            appointment_id: Uuid::now_v7(),
            patient,
            provider,
            start,
        }
    }

    /// How many messages wait in `queue`.
    pub async fn ready_messages(&self, queue: &str) -> u32 {
        let channel = self.broker.channel().await.unwrap();
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let count = channel
            .queue_declare(queue, passive, FieldTable::default())
            .await
            .unwrap()
            .message_count();
        let _ = channel.close(200, "counted").await;
        count
    }

    /// Take the next message from `queue`, if any.
    pub async fn take(&self, queue: &str) -> Option<Vec<u8>> {
        let channel = self.broker.channel().await.unwrap();
        let message = channel
            .basic_get(queue, BasicGetOptions { no_ack: true })
            .await
            .unwrap();
        let _ = channel.close(200, "taken").await;
        message.map(|m| m.delivery.data)
    }

    /// Deliveries as (kind, version, recipient_id, status, attempts).
    pub async fn deliveries(&self, appointment_id: Uuid) -> Vec<(String, i32, Uuid, String, i32)> {
        sqlx::query_as(
            "SELECT kind, version, recipient_id, status, attempts FROM deliveries
             WHERE appointment_id = $1 ORDER BY created_at, id",
        )
        .bind(appointment_id)
        .fetch_all(&self.db)
        .await
        .unwrap()
    }

    /// Reminders as (offset_minutes, version, due_at, status).
    pub async fn reminders(&self, appointment_id: Uuid) -> Vec<(i32, i32, DateTime<Utc>, String)> {
        sqlx::query_as(
            "SELECT offset_minutes, version, due_at, status FROM reminders
             WHERE appointment_id = $1 ORDER BY offset_minutes DESC",
        )
        .bind(appointment_id)
        .fetch_all(&self.db)
        .await
        .unwrap()
    }

    /// Wait until the appointment has deliveries and every one reached a final state.
    pub async fn settled(&self, appointment_id: Uuid) {
        eventually(WAIT, "every delivery settled", || async move {
            let (all, open): (i64, i64) = sqlx::query_as(
                "SELECT count(*), count(*) FILTER (WHERE status IN ('pending', 'sending'))
                 FROM deliveries WHERE appointment_id = $1",
            )
            .bind(appointment_id)
            .fetch_one(&self.db)
            .await
            .ok()?;
            (all > 0 && open == 0).then_some(())
        })
        .await;
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

/// The value of a counter or gauge line (`name{labels} value`), 0 when absent.
pub fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name_and_labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

impl Booking {
    /// The event scheduling publishes for this appointment.
    pub fn event(&self, kind: &str, version: i32) -> Envelope {
        let status = if kind == "appointment.cancelled" {
            Status::Cancelled
        } else {
            Status::Booked
        };
        let data = AppointmentEvent {
            appointment_id: self.appointment_id,
            patient_id: self.patient.id,
            provider_id: self.provider.id,
            appointment_type_id: Uuid::now_v7(),
            appointment_type_name: "Consultation".into(),
            start: self.start,
            end: self.start + Span::minutes(30),
            time_zone: "Europe/Berlin".into(),
            mode: Mode::InPerson,
            price: Money {
                amount_minor: 6000,
                currency: "EUR".into(),
            },
            status,
            version,
            previous_start: None,
            previous_end: None,
            reason: None,
            late: false,
            fee: None,
            changed_by: self.patient.id,
        };
        Envelope::new(kind, 1, "scheduling", &data).unwrap()
    }

    pub fn booked(&self) -> Envelope {
        self.event("appointment.booked", 1)
    }

    /// Moved to `new_start` as version `version`.
    pub fn rescheduled(&mut self, new_start: DateTime<Utc>, version: i32) -> Envelope {
        let previous = self.start;
        self.start = new_start;
        let mut e = self.event("appointment.rescheduled", version);
        e.data["previous_start"] = json!(previous);
        e.data["previous_end"] = json!(previous + Span::minutes(30));
        e
    }

    pub fn cancelled(&self, version: i32, reason: &str) -> Envelope {
        let mut e = self.event("appointment.cancelled", version);
        e.data["reason"] = json!(reason);
        e
    }
}

/// Unfolded `.ics` lines.
pub fn ics_lines(ics: &str) -> Vec<String> {
    ics.replace("\r\n ", "")
        .split("\r\n")
        .map(str::to_owned)
        .collect()
}

/// `20260303T090000Z`.
pub fn ics_utc(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}
