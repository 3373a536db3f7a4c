//! Set-up for the platform's own integration tests, on top of
//! `platform::testing`: no service runs here (the tests drive the relay and the
//! consumer themselves), so instead of a `TestApp` a migrated database (platform
//! tables only), a broker, consumers' queues declared up front, and messages
//! taken off a queue to look at.

use std::time::Duration;

use lapin::{message::BasicGetMessage, options::BasicGetOptions};
use platform::{
    events::{retry, Broker, ConsumerSpec},
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
        Self::start_with_delays(&[]).await
    }

    /// Like `start`, with these retry delays instead of the tests' default.
    pub async fn start_with_delays(delays: &[Duration]) -> Self {
        let mut backing = TestBacking::new("platform");
        if !delays.is_empty() {
            backing.config.events.retry_delays = delays.to_vec();
        }
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

/// A header of a message as text.
pub fn header(message: &BasicGetMessage, name: &str) -> Option<String> {
    retry::text(message.delivery.properties.headers().as_ref(), name)
}

/// Failed deliveries a message records (`x-carebook-attempts`).
pub fn attempts(message: &BasicGetMessage) -> u32 {
    retry::attempts(message.delivery.properties.headers().as_ref())
}
