//! Set-up for the platform's own integration tests, on top of
//! `platform::testing`: no service runs here (the tests drive the relay and the
//! consumer themselves), so instead of a `TestApp` a migrated database (platform
//! tables only), a broker, consumers' queues declared up front, and messages
//! taken off a queue to look at.

use lapin::{message::BasicGetMessage, options::BasicGetOptions, types::AMQPValue};
use platform::{
    events::{Broker, ConsumerSpec},
    testing::TestBacking,
};
use sqlx::{migrate::Migrator, PgPool};

/// One test's database, exchange and queues; all deleted when it is dropped,
/// also when the test panics.
pub struct Backing {
    pub queue_prefix: String,
    /// Migrated with the platform tables (outbox, processed_events) only.
    pub pool: PgPool,
    pub broker: Broker,
    backing: TestBacking,
}

impl Backing {
    pub async fn start() -> Self {
        let backing = TestBacking::new("platform");
        let config = &backing.config;
        // `Migrator::DEFAULT` has no migrations: the platform's own are all we need.
        let pool = platform::db::prepare(&config.database_url, 5, &Migrator::DEFAULT)
            .await
            .expect("create and migrate the test database");
        let broker = backing.broker().await;
        Self {
            queue_prefix: config.queue_prefix.clone(),
            pool,
            broker,
            backing,
        }
    }

    /// Another connection to the test's broker (another replica's).
    pub async fn second_broker(&self) -> Broker {
        self.backing.broker().await
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
        self.backing.declare_consumer(&spec).await;
        spec
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
