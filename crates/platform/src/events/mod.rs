//! Domain events over RabbitMQ: the envelope, the transactional outbox and its
//! relay, the idempotent consumer with its retries through the broker, and the
//! dead-letter queues' inspection and replay.

pub mod broker;
pub mod consumer;
pub mod dlq;
pub mod envelope;
pub mod outbox;
pub mod relay;
pub mod retry;
pub mod settings;

pub use broker::Broker;
pub use consumer::{ConsumerSpec, EventHandler, HandleError};
pub use envelope::{contract_violation, DecodeError, Envelope};
pub use relay::OutboxRelay;
pub use settings::EventSettings;
