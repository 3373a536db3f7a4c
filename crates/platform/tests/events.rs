//! The event pipeline against the real PostgreSQL and RabbitMQ: outbox → relay →
//! exchange → quorum queue → idempotent consumer, and the dead-letter paths.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use async_trait::async_trait;
use contracts::scheduling::{AppointmentBooked, AppointmentStatus};
use lapin::{
    options::{BasicPublishOptions, ConfirmSelectOptions},
    BasicProperties,
};
use platform::{
    events::{consumer, outbox, ConsumerSpec, Envelope, EventHandler, HandleError, OutboxRelay},
    testing::{appointment, eventually, queue_depth, WAIT},
};
use sqlx::{PgConnection, PgPool};
use support::{death_reason, Backing};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What the test handler does with each event it is given.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Insert a row into `effects`, in the consumer's transaction.
    Record,
    FailTransiently,
    RejectAsMalformed,
}

/// An `EventHandler` that counts its calls; with `Record`, each call leaves a
/// row in `effects`, so a duplicated effect is visible.
struct TestHandler {
    behaviour: Behaviour,
    calls: AtomicUsize,
}

impl TestHandler {
    fn new(behaviour: Behaviour) -> Arc<Self> {
        Arc::new(Self {
            behaviour,
            calls: AtomicUsize::new(0),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl EventHandler for TestHandler {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.behaviour {
            Behaviour::Record => {
                sqlx::query("INSERT INTO effects (event_id) VALUES ($1)")
                    .bind(event.id)
                    .execute(conn)
                    .await?;
                Ok(())
            }
            Behaviour::FailTransiently => {
                Err(HandleError::Transient("the dependency is down".into()))
            }
            Behaviour::RejectAsMalformed => {
                Err(HandleError::Malformed("unsupported version".into()))
            }
        }
    }
}

/// A consumer running in the background, as a service runs it.
struct RunningConsumer {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl RunningConsumer {
    fn start(backing: &Backing, spec: &ConsumerSpec, handler: Arc<TestHandler>) -> Self {
        let cancel = CancellationToken::new();
        let task = tokio::spawn(consumer::run(
            backing.broker.clone(),
            backing.pool.clone(),
            spec.clone(),
            handler,
            cancel.clone(),
        ));
        Self { cancel, task }
    }

    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("consumer stops when cancelled")
            .expect("consumer task did not panic");
    }
}

fn relay(backing: &Backing) -> OutboxRelay {
    OutboxRelay::new(
        backing.pool.clone(),
        backing.broker.clone(),
        Duration::from_millis(50),
    )
}

async fn create_effects_table(pool: &PgPool) {
    // No unique constraint: a second effect of the same event must show up as a row.
    sqlx::query("CREATE TABLE effects (event_id uuid NOT NULL)")
        .execute(pool)
        .await
        .expect("create effects table");
}

/// A new `appointment.booked`, as scheduling announces one.
fn booked() -> Envelope {
    let booked = appointment(
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        chrono::Utc::now(),
        AppointmentStatus::Booked,
        1,
    );
    Envelope::of::<AppointmentBooked>(&booked).expect("envelope")
}

/// Enqueue `event` in a transaction of its own and commit it.
async fn enqueue_committed(pool: &PgPool, event: &Envelope) {
    let mut tx = pool.begin().await.expect("begin");
    outbox::enqueue(&mut tx, event).await.expect("enqueue");
    tx.commit().await.expect("commit");
}

async fn count(pool: &PgPool, sql: &str, id: Uuid) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(pool)
        .await
        .expect(sql)
}

async fn effects_of(pool: &PgPool, id: Uuid) -> i64 {
    count(pool, "SELECT count(*) FROM effects WHERE event_id = $1", id).await
}

async fn processed_records_of(pool: &PgPool, id: Uuid) -> i64 {
    count(
        pool,
        "SELECT count(*) FROM processed_events WHERE event_id = $1",
        id,
    )
    .await
}

async fn pending_in_outbox(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(pool)
        .await
        .expect("count pending")
}

/// Wait until the handler has applied `id`.
async fn wait_for_effect(pool: &PgPool, id: Uuid) {
    eventually(WAIT, "the handler's effect", || async {
        (effects_of(pool, id).await > 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn outbox_event_is_published_and_consumed_once() {
    let backing = Backing::start().await;
    create_effects_table(&backing.pool).await;
    let spec = backing
        .consumer("notifications", &["appointment.*"], 5)
        .await;
    let handler = TestHandler::new(Behaviour::Record);
    let event = booked();
    enqueue_committed(&backing.pool, &event).await;

    assert_eq!(relay(&backing).relay_once().await.unwrap(), 1);
    let published: bool =
        sqlx::query_scalar("SELECT published_at IS NOT NULL FROM outbox WHERE id = $1")
            .bind(event.id)
            .fetch_one(&backing.pool)
            .await
            .unwrap();
    assert!(published, "the relay marks what the broker confirmed");
    assert_eq!(pending_in_outbox(&backing.pool).await, 0);

    let running = RunningConsumer::start(&backing, &spec, handler.clone());
    wait_for_effect(&backing.pool, event.id).await;
    eventually(WAIT, "the queue to be empty", || async {
        (queue_depth(&backing.broker, &spec.queue).await == Some(0)).then_some(())
    })
    .await;
    running.stop().await;

    assert_eq!(effects_of(&backing.pool, event.id).await, 1);
    assert_eq!(processed_records_of(&backing.pool, event.id).await, 1);
    assert_eq!(handler.calls(), 1);
}

#[tokio::test]
async fn relay_crash_between_publish_and_mark_does_not_duplicate_effects() {
    let backing = Backing::start().await;
    create_effects_table(&backing.pool).await;
    let spec = backing
        .consumer("notifications", &["appointment.*"], 5)
        .await;
    let handler = TestHandler::new(Behaviour::Record);
    let relay = relay(&backing);
    let event = booked();
    enqueue_committed(&backing.pool, &event).await;
    assert_eq!(relay.relay_once().await.unwrap(), 1);

    // The state a relay leaves when it dies after the broker's confirm and before
    // its UPDATE commits: published, but not marked.
    sqlx::query("UPDATE outbox SET published_at = NULL WHERE id = $1")
        .bind(event.id)
        .execute(&backing.pool)
        .await
        .unwrap();
    // Enqueued after the event, so relayed (and consumed) after its second copy:
    // once its effect shows, the duplicate has been settled.
    let marker = booked();
    enqueue_committed(&backing.pool, &marker).await;
    assert_eq!(relay.relay_once().await.unwrap(), 2);
    eventually(
        WAIT,
        "the event twice and the marker in the queue",
        || async { (queue_depth(&backing.broker, &spec.queue).await == Some(3)).then_some(()) },
    )
    .await;

    let running = RunningConsumer::start(&backing, &spec, handler.clone());
    wait_for_effect(&backing.pool, marker.id).await;
    running.stop().await;

    assert_eq!(effects_of(&backing.pool, event.id).await, 1);
    assert_eq!(processed_records_of(&backing.pool, event.id).await, 1);
    assert_eq!(
        handler.calls(),
        2,
        "once for the event, once for the marker"
    );
    assert_eq!(
        queue_depth(&backing.broker, &spec.queue).await,
        Some(0),
        "the duplicate was acknowledged, not left in the queue"
    );
    assert_eq!(
        queue_depth(&backing.broker, &spec.dead_letter_queue()).await,
        Some(0)
    );
}

#[tokio::test]
async fn a_rolled_back_transaction_publishes_nothing() {
    let backing = Backing::start().await;
    let spec = backing
        .consumer("notifications", &["appointment.*"], 5)
        .await;
    let relay = relay(&backing);

    let rolled_back = booked();
    let mut tx = backing.pool.begin().await.unwrap();
    outbox::enqueue(&mut tx, &rolled_back).await.unwrap();
    tx.rollback().await.unwrap();

    assert_eq!(relay.relay_once().await.unwrap(), 0);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&backing.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);

    // The relay and the queue do work: a committed event goes through, alone.
    let committed = booked();
    enqueue_committed(&backing.pool, &committed).await;
    assert_eq!(relay.relay_once().await.unwrap(), 1);
    let message = eventually(WAIT, "the committed event", || async {
        backing.take(&spec.queue).await
    })
    .await;
    let received: Envelope = serde_json::from_slice(&message.delivery.data).unwrap();
    assert_eq!(received.id, committed.id);
    assert_eq!(queue_depth(&backing.broker, &spec.queue).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_in_parallel_publish_each_event_once() {
    const EVENTS: usize = 200;
    let backing = Backing::start().await;
    let spec = backing
        .consumer("notifications", &["appointment.*"], 5)
        .await;

    let mut enqueued = HashSet::new();
    let mut tx = backing.pool.begin().await.unwrap();
    for _ in 0..EVENTS {
        let event = booked();
        outbox::enqueue(&mut tx, &event).await.unwrap();
        enqueued.insert(event.id.to_string());
    }
    tx.commit().await.unwrap();

    // Two replicas: each its own broker connection and publishing channel.
    let second_broker = backing.second_broker().await;
    let replicas = [
        relay(&backing),
        OutboxRelay::new(
            backing.pool.clone(),
            second_broker,
            Duration::from_millis(50),
        ),
    ];
    // Both start at once, so their batches contend for the same rows.
    let start = Arc::new(tokio::sync::Barrier::new(replicas.len()));
    let tasks: Vec<_> = replicas
        .into_iter()
        .map(|relay| {
            let pool = backing.pool.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                let mut published = 0;
                // A replica may find every pending row locked by the other one
                // (`relay_once` → 0) while rows are still pending: go on until none are.
                while pending_in_outbox(&pool).await > 0 {
                    published += relay.relay_once().await.expect("relay");
                }
                published
            })
        })
        .collect();
    let mut published = 0;
    for task in tasks {
        published += tokio::time::timeout(WAIT, task)
            .await
            .expect("relays finish")
            .unwrap();
    }
    assert_eq!(published, EVENTS, "confirmed publishes across both relays");

    // Take everything the relays put in the queue; more than EVENTS would be duplicates.
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while received.len() < EVENTS {
        match backing.take(&spec.queue).await {
            Some(message) => received.push(
                message
                    .delivery
                    .properties
                    .message_id()
                    .as_ref()
                    .expect("message id")
                    .to_string(),
            ),
            None if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(25)).await
            }
            None => panic!("only {} of {EVENTS} events arrived", received.len()),
        }
    }
    while let Some(extra) = backing.take(&spec.queue).await {
        received.push(format!("{:?}", extra.delivery.properties.message_id()));
    }
    let distinct: HashSet<_> = received.iter().cloned().collect();
    assert_eq!(received.len(), EVENTS, "no event was published twice");
    assert_eq!(distinct, enqueued);
    assert_eq!(queue_depth(&backing.broker, &spec.queue).await, Some(0));
    let attempts: Vec<i32> = sqlx::query_scalar("SELECT DISTINCT attempts FROM outbox")
        .fetch_all(&backing.pool)
        .await
        .unwrap();
    assert_eq!(attempts, vec![1], "every row was published in one attempt");
}

#[tokio::test]
async fn undecodable_message_goes_straight_to_the_dead_letter_queue() {
    let backing = Backing::start().await;
    create_effects_table(&backing.pool).await;
    let spec = backing
        .consumer("notifications", &["appointment.*"], 5)
        .await;
    let handler = TestHandler::new(Behaviour::Record);
    let running = RunningConsumer::start(&backing, &spec, handler.clone());

    let channel = backing.broker.channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirm = channel
        .basic_publish(
            backing.broker.exchange(),
            "appointment.booked",
            BasicPublishOptions::default(),
            b"not json",
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack());
    // A valid event behind the poison one is still processed.
    let event = booked();
    enqueue_committed(&backing.pool, &event).await;
    assert_eq!(relay(&backing).relay_once().await.unwrap(), 1);
    wait_for_effect(&backing.pool, event.id).await;

    let dead = eventually(WAIT, "the poison message in the DLQ", || async {
        backing.take(&spec.dead_letter_queue()).await
    })
    .await;
    running.stop().await;

    assert_eq!(dead.delivery.data, b"not json");
    assert_eq!(death_reason(&dead).as_deref(), Some("rejected"));
    assert_eq!(
        handler.calls(),
        1,
        "the handler never saw the poison message"
    );
    assert_eq!(queue_depth(&backing.broker, &spec.queue).await, Some(0));
}

#[tokio::test]
async fn handler_that_keeps_failing_is_dead_lettered_after_the_delivery_limit() {
    let backing = Backing::start().await;
    let spec = backing
        .consumer("notifications", &["appointment.*"], 3)
        .await;
    let handler = TestHandler::new(Behaviour::FailTransiently);
    let event = booked();
    enqueue_committed(&backing.pool, &event).await;
    assert_eq!(relay(&backing).relay_once().await.unwrap(), 1);

    let running = RunningConsumer::start(&backing, &spec, handler.clone());
    let dead = eventually(WAIT, "the failing event in the DLQ", || async {
        backing.take(&spec.dead_letter_queue()).await
    })
    .await;
    running.stop().await;

    let received: Envelope = serde_json::from_slice(&dead.delivery.data).unwrap();
    assert_eq!(received.id, event.id);
    // `x-delivery-limit` counts *returns* (here: nack with requeue), and a quorum
    // queue dead-letters a message once it has been returned more often than the
    // limit: delivered 4 times with a limit of 3 (measured on RabbitMQ 3.10).
    assert_eq!(
        handler.calls(),
        4,
        "limit 3 = first delivery + 3 redeliveries"
    );
    assert_eq!(death_reason(&dead).as_deref(), Some("delivery_limit"));
    assert_eq!(processed_records_of(&backing.pool, event.id).await, 0);
    assert_eq!(queue_depth(&backing.broker, &spec.queue).await, Some(0));
}

#[tokio::test]
async fn malformed_event_is_dead_lettered_without_retry() {
    let backing = Backing::start().await;
    let spec = backing
        .consumer("notifications", &["appointment.*"], 5)
        .await;
    let handler = TestHandler::new(Behaviour::RejectAsMalformed);
    let event = booked();
    enqueue_committed(&backing.pool, &event).await;
    assert_eq!(relay(&backing).relay_once().await.unwrap(), 1);

    let running = RunningConsumer::start(&backing, &spec, handler.clone());
    let dead = eventually(WAIT, "the malformed event in the DLQ", || async {
        backing.take(&spec.dead_letter_queue()).await
    })
    .await;
    running.stop().await;

    let received: Envelope = serde_json::from_slice(&dead.delivery.data).unwrap();
    assert_eq!(received.id, event.id);
    assert_eq!(death_reason(&dead).as_deref(), Some("rejected"));
    assert_eq!(handler.calls(), 1);
    assert_eq!(processed_records_of(&backing.pool, event.id).await, 0);
    assert_eq!(queue_depth(&backing.broker, &spec.queue).await, Some(0));
}

#[tokio::test]
async fn an_event_no_queue_is_bound_for_is_kept_in_the_unrouted_queue() {
    let backing = Backing::start().await;
    let event = booked();
    enqueue_committed(&backing.pool, &event).await;
    assert_eq!(relay(&backing).relay_once().await.unwrap(), 1);
    let unrouted = backing.broker.unrouted_exchange();
    let kept = eventually(WAIT, "the event in the unrouted queue", || async {
        backing.take(&unrouted).await
    })
    .await;
    let kept: Envelope = serde_json::from_slice(&kept.delivery.data).unwrap();
    assert_eq!(kept.id, event.id);
}

#[tokio::test]
async fn a_sensitive_event_leaves_the_outbox_once_the_broker_has_it() {
    let backing = Backing::start().await;
    let grant = contracts::records::BreakGlassGranted {
        grant_id: Uuid::now_v7(),
        patient_id: Uuid::now_v7(),
        provider_id: Uuid::now_v7(),
        reason: "unconscious, allergies unknown".into(),
        granted_at: chrono::Utc::now(),
        expires_at: chrono::Utc::now() + chrono::Duration::minutes(30),
    };
    let sensitive = Envelope::of::<contracts::records::BreakGlassGranted>(&grant).unwrap();
    let ordinary = booked();
    enqueue_committed(&backing.pool, &sensitive).await;
    enqueue_committed(&backing.pool, &ordinary).await;
    assert_eq!(relay(&backing).relay_once().await.unwrap(), 2);
    let kept: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM outbox ORDER BY id")
        .fetch_all(&backing.pool)
        .await
        .unwrap();
    assert_eq!(
        kept,
        [ordinary.id],
        "the reason is not kept; the ordinary event is"
    );
}
