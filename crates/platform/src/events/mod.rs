//! Domain events over RabbitMQ: the envelope, the transactional outbox and its
//! relay, and the idempotent consumer.

pub mod broker;
pub mod consumer;
pub mod envelope;
pub mod outbox;
pub mod relay;

pub use broker::Broker;
pub use consumer::{ConsumerSpec, EventHandler, HandleError};
pub use envelope::{contract_violation, DecodeError, Envelope};
pub use relay::OutboxRelay;
