//! Test support for every service's integration tests: each test gets its own database, Redis key
//! prefix, events exchange and queue names on the real backing services, so tests
//! run in parallel without seeing each other, and start the real service on port 0.
//!
//! Only built with the `testing` feature (dev-dependencies turn it on): a test
//! helper panics on purpose, and none of it belongs in a release binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{net::SocketAddr, sync::Mutex, time::Duration};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::{AuthConfig, CommonConfig, EventPublishers, DEFAULT_AUDIENCE, DEFAULT_ISSUER};

pub mod app;
pub mod maildev;
pub mod tap;

pub use app::{
    assert_problem, error_fields, metric, Anonymous, Credentials, IssueTokens, Replica, TestApp,
    User, WAIT,
};
pub use tap::EventTap;

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Backing-service addresses for tests (override with `CAREBOOK_TEST_*`).
pub fn postgres_url() -> String {
    var(
        "CAREBOOK_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432",
    )
}
pub fn redis_url() -> String {
    var("CAREBOOK_TEST_REDIS_URL", "redis://127.0.0.1:6379")
}
pub fn amqp_url() -> String {
    var(
        "CAREBOOK_TEST_AMQP_URL",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
    )
}

/// The user name in an AMQP URL (`guest` when it names none).
fn amqp_user(url: &str) -> String {
    url.split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(userinfo, _)| userinfo.split(':').next().unwrap_or("guest").to_owned())
        .unwrap_or_else(|| "guest".to_owned())
}

/// Settings for `service` as on a developer machine, with `extra` added or
/// overriding (for config tests).
pub fn local_env(service: &str, extra: &[(&str, &str)]) -> crate::config::Env {
    let mut vars: std::collections::HashMap<String, String> = [
        ("CAREBOOK_TLS", "off"),
        (
            "CAREBOOK_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432",
        ),
        ("CAREBOOK_REDIS_URL", "redis://127.0.0.1:6379"),
        ("CAREBOOK_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
        (
            "CAREBOOK_JWKS_URL",
            "http://127.0.0.1:8081/.well-known/jwks.json",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    crate::config::Env::from_map(service, vars)
}

/// The event settings of tests: retries after 100 ms, 300 ms and 1 s (not
/// 1 s … 1 h), so a failing event reaches its dead-letter queue within a test.
pub fn test_event_settings() -> crate::events::EventSettings {
    crate::events::EventSettings {
        retry_delays: vec![
            Duration::from_millis(100),
            Duration::from_millis(300),
            Duration::from_secs(1),
        ],
        ..Default::default()
    }
}

/// One test's isolated slice of the backing services. Dropping it (also when the
/// test panics) deletes the database, the exchanges, the tracked queues and the
/// Redis keys under its prefix.
pub struct TestBacking {
    pub config: CommonConfig,
    queues: Mutex<Vec<String>>,
}

impl TestBacking {
    pub fn new(service: &str) -> Self {
        let id = Uuid::new_v4().simple().to_string();
        Self::grouped(service, &id[..12])
    }

    /// A slice for one of several services of a test that run together: each has its
    /// own database, and all of the `group` share the events exchange, queue prefix
    /// and Redis prefix, as services of one deployment do.
    pub fn grouped(service: &str, group: &str) -> Self {
        let short = group;
        init_logs();
        Self {
            config: CommonConfig {
                service: service.to_owned(),
                bind: SocketAddr::from(([127, 0, 0, 1], 0)),
                database_url: format!("{}/carebook_test_{service}_{short}", postgres_url()),
                database_max_connections: 5,
                redis_url: redis_url(),
                redis_prefix: format!("carebook-test:{short}:"),
                amqp_url: amqp_url(),
                events_exchange: format!("carebook.test.{short}"),
                queue_prefix: format!("carebook.test.{short}"),
                auth: AuthConfig {
                    jwks_url: "http://127.0.0.1:9/unset".to_owned(),
                    issuer: DEFAULT_ISSUER.to_owned(),
                    audience: DEFAULT_AUDIENCE.to_owned(),
                    tls: None,
                    revocations: None,
                    jwks: Default::default(),
                },
                max_body_bytes: 64 * 1024,
                request_timeout: Duration::from_secs(10),
                outbox_poll_interval: Duration::from_millis(50),
                events: test_event_settings(),
                // The shared test servers speak plain text and have one broker user.
                tls: None,
                event_publishers: EventPublishers::Shared(amqp_user(&amqp_url())),
            },
            queues: Mutex::new(Vec::new()),
        }
    }

    /// A broker connection on the test's exchange.
    pub async fn broker(&self) -> crate::events::Broker {
        crate::events::Broker::connect(&self.config)
            .await
            .expect("connect to RabbitMQ")
    }

    /// Declare a consumer's queue (bound, with its dead-letter queue) now, so
    /// events published before the consumer runs are routed to it; deleted
    /// when the test ends.
    pub async fn declare_consumer(&self, spec: &crate::events::ConsumerSpec) {
        self.track_queue(&spec.queue);
        let broker = self.broker().await;
        crate::events::consumer::declare(&broker, spec)
            .await
            .expect("declare the consumer's queue");
        broker.close().await;
    }

    /// Delete `queue` (and its retry and dead-letter queues) when the test ends.
    pub fn track_queue(&self, queue: &str) {
        if let Ok(mut queues) = self.queues.lock() {
            queues.push(queue.to_owned());
            queues.push(crate::events::retry::dead_letter_queue(queue));
            for delay in &self.config.events.retry_delays {
                queues.push(crate::events::retry::retry_queue(queue, *delay));
            }
        }
    }
}

impl Drop for TestBacking {
    fn drop(&mut self) {
        let url = self.config.database_url.clone();
        let amqp = self.config.amqp_url.clone();
        let exchange = self.config.events_exchange.clone();
        let queues = std::mem::take(self.queues.get_mut().unwrap_or_else(|e| e.into_inner()));
        let (redis_url, redis_prefix) = (
            self.config.redis_url.clone(),
            self.config.redis_prefix.clone(),
        );
        // Drop runs outside any runtime we may block; clean up on a thread of our own.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Err(e) = delete_topology(&amqp, &exchange, &queues).await {
                    eprintln!("test queues/exchanges of {exchange} not deleted: {e}");
                }
                if let Err(e) = delete_redis_keys(&redis_url, &redis_prefix).await {
                    eprintln!("test Redis keys under {redis_prefix} not deleted: {e}");
                }
                if let Err(e) = crate::db::drop_database(&url).await {
                    eprintln!("test database {url} not dropped: {e}");
                }
            });
        });
        let _ = cleanup.join();
    }
}

async fn delete_redis_keys(url: &str, prefix: &str) -> redis::RedisResult<()> {
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(500)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(&keys)
                .query_async::<()>(&mut conn)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

async fn delete_topology(amqp: &str, exchange: &str, queues: &[String]) -> lapin::Result<()> {
    let conn = lapin::Connection::connect(
        amqp,
        lapin::ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio),
    )
    .await?;
    let channel = conn.create_channel().await?;
    for queue in queues {
        channel
            .queue_delete(queue, lapin::options::QueueDeleteOptions::default())
            .await?;
    }
    for name in [
        exchange.to_owned(),
        format!("{exchange}.dlx"),
        format!("{exchange}.retry"),
        format!("{exchange}.unrouted"),
    ] {
        channel
            .exchange_delete(&name, lapin::options::ExchangeDeleteOptions::default())
            .await?;
    }
    channel
        .queue_delete(
            &format!("{exchange}.unrouted"),
            lapin::options::QueueDeleteOptions::default(),
        )
        .await?;
    conn.close(200, "test done").await
}

/// Run a built service (router and workers) on an ephemeral port; cancel the token to stop it.
pub async fn spawn(service: crate::service::Service) -> (SocketAddr, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind an ephemeral port");
    let addr = listener.local_addr().expect("local address");
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    tokio::spawn(async move {
        let _ = service.run(listener, token).await;
    });
    (addr, cancel)
}

/// Logs from tests, only when `RUST_LOG` asks for them.
fn init_logs() {
    if std::env::var("RUST_LOG").is_ok() {
        crate::telemetry::init();
    }
}

/// A free port for a server the test starts, stops and restarts itself. It is
/// below the kernel's ephemeral range (32768–60999), so neither an outgoing
/// connection nor another `bind(0)` can take it while the server is down.
pub fn reserved_port() -> u16 {
    const FIRST: u16 = 20_000;
    const COUNT: u16 = 5_000; // the failure drills' sandbox sits at 25000 and above
    for _ in 0..1_000 {
        let port = FIRST + (uuid::Uuid::new_v4().as_u128() % u128::from(COUNT)) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + COUNT);
}

/// Poll `check` until it returns `Some`, or panic after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Wait until a consumer reads `queue`: a service declares its queue, then
/// binds it, then consumes, and an event published before the binding would go
/// unrouted. (A passive declare of a queue not there yet closes its channel,
/// so each try takes a fresh one.)
pub async fn wait_for_consumer(broker: &crate::events::Broker, queue: &str, timeout: Duration) {
    eventually(timeout, &format!("a consumer of {queue}"), || async move {
        let channel = broker.channel().await.ok()?;
        let passive = lapin::options::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let consumers = channel
            .queue_declare(queue, passive, lapin::types::FieldTable::default())
            .await
            .map(|q| q.consumer_count())
            .unwrap_or(0);
        let _ = channel.close(200, "checked").await;
        (consumers > 0).then_some(())
    })
    .await;
}

/// Messages waiting in `queue`, or `None` if it does not exist. (A passive
/// declare of a missing queue closes its channel: a fresh one is used.)
pub async fn queue_depth(broker: &crate::events::Broker, queue: &str) -> Option<u32> {
    let channel = broker.channel().await.ok()?;
    let passive = lapin::options::QueueDeclareOptions {
        passive: true,
        durable: true,
        ..Default::default()
    };
    let declared = channel
        .queue_declare(queue, passive, lapin::types::FieldTable::default())
        .await;
    let _ = channel.close(200, "checked").await;
    declared.ok().map(|q| q.message_count())
}

/// `user.registered` as identity publishes it for a new account (the email
/// made from the id).
pub fn user_registered(
    user_id: Uuid,
    role: crate::auth::Role,
    name: &str,
) -> crate::events::Envelope {
    crate::events::Envelope::of::<contracts::identity::UserRegistered>(
        &contracts::identity::UserRegistered {
            user_id,
            role,
            name: name.to_owned(),
            email: format!("{}@example.org", user_id.simple()),
            time_zone: None,
        },
    )
    .expect("an envelope serializes")
}

/// A 30-minute appointment as scheduling announces it in `appointment.*` v1
/// events, for the tests of the services that consume them.
pub fn appointment(
    appointment_id: Uuid,
    patient_id: Uuid,
    provider_id: Uuid,
    start: chrono::DateTime<chrono::Utc>,
    status: contracts::scheduling::AppointmentStatus,
    version: i32,
) -> contracts::scheduling::Appointment {
    contracts::scheduling::Appointment {
        appointment_id,
        patient_id,
        provider_id,
        appointment_type_id: Uuid::now_v7(),
        appointment_type_name: "Consultation".into(),
        start,
        end: start + chrono::Duration::minutes(30),
        time_zone: "Europe/Berlin".into(),
        mode: contracts::scheduling::Mode::InPerson,
        price: contracts::Money {
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
        changed_by: patient_id,
        reminder_offsets_minutes: None,
    }
}

/// A TCP proxy in front of the test Redis that can be cut (every connection
/// dropped, new ones closed at once) and restored: a Redis outage for one
/// service only, while other tests keep using the real server.
pub struct RedisProxy {
    pub addr: SocketAddr,
    up: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RedisProxy {
    pub async fn start() -> Self {
        let target = redis_url()
            .trim_start_matches("redis://")
            .split('/')
            .next()
            .unwrap_or("127.0.0.1:6379")
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (up, rx) = tokio::sync::watch::channel(true);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !*rx.borrow() {
                    drop(inbound);
                    continue;
                }
                let mut rx = rx.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = rx.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { addr, up, task }
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Drop every connection and refuse new ones.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for RedisProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
