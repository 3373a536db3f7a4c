//! Set-up for the platform's own integration tests: each test gets its own
//! database, events exchange and queue names on the real PostgreSQL and
//! RabbitMQ, so tests run in parallel without seeing each other.
//!
//! Services use `platform::testing` for this; it sits behind the `testing`
//! feature, which the crate's own integration tests cannot turn on (a package
//! cannot dev-depend on itself), so this is the small part the event tests need.

use std::{future::Future, sync::Mutex, time::Duration};

use lapin::{
    message::BasicGetMessage,
    options::{BasicGetOptions, ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions},
    types::{AMQPValue, FieldTable},
    Connection, ConnectionProperties,
};
use platform::events::{broker::QueueTopology, Broker, ConsumerSpec};
use sqlx::{migrate::Migrator, PgPool};
use uuid::Uuid;

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Same overrides as `platform::testing`.
fn postgres_url() -> String {
    var(
        "CAREBOOK_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432",
    )
}

fn amqp_url() -> String {
    var(
        "CAREBOOK_TEST_AMQP_URL",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
    )
}

/// One test's database, exchange and queues; all deleted when it is dropped,
/// also when the test panics.
pub struct Backing {
    pub database_url: String,
    pub amqp_url: String,
    pub queue_prefix: String,
    /// Migrated with the platform tables (outbox, processed_events) only.
    pub pool: PgPool,
    pub broker: Broker,
    queues: Mutex<Vec<String>>,
}

impl Backing {
    pub async fn start() -> Self {
        let id = Uuid::new_v4().simple().to_string();
        let short = &id[..12];
        let database_url = format!("{}/carebook_test_platform_{short}", postgres_url());
        let amqp_url = amqp_url();
        let exchange = format!("carebook.test.{short}");
        // `Migrator::DEFAULT` has no migrations: the platform's own are all we need.
        let pool = platform::db::prepare(&database_url, 5, &Migrator::DEFAULT)
            .await
            .expect("create and migrate the test database");
        let broker = Broker::connect(&amqp_url, &exchange)
            .await
            .expect("connect to RabbitMQ");
        Self {
            database_url,
            amqp_url,
            queue_prefix: exchange,
            pool,
            broker,
            queues: Mutex::new(Vec::new()),
        }
    }

    /// A consumer whose queue (and dead-letter queue) is declared now, so events
    /// relayed before the consumer starts are routed to it, not dropped.
    pub async fn consumer(
        &self,
        name: &str,
        bindings: &[&str],
        delivery_limit: u32,
    ) -> ConsumerSpec {
        let mut spec = ConsumerSpec::new(&self.queue_prefix, name, bindings);
        spec.delivery_limit = delivery_limit;
        self.queues.lock().unwrap().push(spec.queue.clone());
        let channel = self.broker.channel().await.expect("channel");
        self.broker
            .declare_queue(
                &channel,
                &QueueTopology {
                    queue: &spec.queue,
                    bindings: &spec.bindings,
                    delivery_limit: spec.delivery_limit,
                },
            )
            .await
            .expect("declare the consumer's queue");
        let _ = channel.close(200, "declared").await;
        spec
    }

    /// Messages ready in `queue` (not counting those delivered and not yet acknowledged).
    pub async fn ready_messages(&self, queue: &str) -> u32 {
        let channel = self.broker.channel().await.expect("channel");
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let count = channel
            .queue_declare(queue, passive, FieldTable::default())
            .await
            .expect("queue exists")
            .message_count();
        let _ = channel.close(200, "counted").await;
        count
    }

    /// Take the next message from `queue`, if there is one.
    pub async fn take(&self, queue: &str) -> Option<BasicGetMessage> {
        let channel = self.broker.channel().await.expect("channel");
        let message = channel
            .basic_get(queue, BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get");
        let _ = channel.close(200, "taken").await;
        message
    }
}

impl Drop for Backing {
    fn drop(&mut self) {
        let database_url = self.database_url.clone();
        let amqp_url = self.amqp_url.clone();
        let exchange = self.broker.exchange().to_owned();
        let queues = std::mem::take(self.queues.get_mut().unwrap_or_else(|e| e.into_inner()));
        // The test's runtime may be the one we are dropped on; clean up on a thread
        // and runtime of our own.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            rt.block_on(async {
                if let Err(e) = delete_topology(&amqp_url, &exchange, &queues).await {
                    eprintln!("test queues/exchanges of {exchange} not deleted: {e}");
                }
                if let Err(e) = platform::db::drop_database(&database_url).await {
                    eprintln!("test database {database_url} not dropped: {e}");
                }
            });
        });
        let _ = cleanup.join();
    }
}

async fn delete_topology(amqp_url: &str, exchange: &str, queues: &[String]) -> lapin::Result<()> {
    let properties = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio);
    let conn = Connection::connect(amqp_url, properties).await?;
    let channel = conn.create_channel().await?;
    for queue in queues {
        for name in [queue.clone(), format!("{queue}.dlq")] {
            channel
                .queue_delete(&name, QueueDeleteOptions::default())
                .await?;
        }
    }
    for name in [exchange.to_owned(), format!("{exchange}.dlx")] {
        channel
            .exchange_delete(&name, ExchangeDeleteOptions::default())
            .await?;
    }
    conn.close(200, "test done").await
}

/// Why RabbitMQ dead-lettered a message: the `reason` of its latest `x-death` entry
/// (`rejected`, `delivery_limit`, `expired`, …).
pub fn death_reason(message: &BasicGetMessage) -> Option<String> {
    let headers = message.delivery.properties.headers().as_ref()?;
    let AMQPValue::FieldArray(deaths) = headers.inner().get("x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(latest) = deaths.as_slice().first()? else {
        return None;
    };
    match latest.inner().get("reason")? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

/// Poll `check` until it returns `Some`, or panic after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
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
