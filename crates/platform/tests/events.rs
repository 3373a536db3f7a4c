//! The event pipeline against the real PostgreSQL and RabbitMQ: outbox → relay →
//! exchange → quorum queue → idempotent consumer, the retry queues, the
//! dead-letter paths and their replay, the relay's lease and the pruning.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use contracts::scheduling::{AppointmentBooked, AppointmentStatus};
use lapin::{
    options::{BasicPublishOptions, ConfirmSelectOptions},
    BasicProperties,
};
use platform::{
    events::{
        consumer, dlq, outbox, retry, ConsumerSpec, Envelope, EventHandler, HandleError,
        OutboxRelay,
    },
    testing::{appointment, eventually, queue_depth, WAIT},
};
use sqlx::{PgConnection, PgPool};
use support::{attempts, header, Backing};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What the test handler does with each event it is given.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Insert a row into `effects`, in the consumer's transaction.
    Record,
    FailTransiently,
    /// Fail transiently this many times, then `Record`.
    FailTimes(usize),
    /// Fail transiently until `TestHandler::fix` is called, then `Record`.
    FailUntilFixed,
    RejectAsMalformed,
    /// Reject this one event as malformed; `Record` the others.
    RejectOne(Uuid),
}

/// An `EventHandler` that counts its calls and when they came; with `Record`,
/// each call leaves a row in `effects`, so a duplicated effect is visible.
struct TestHandler {
    behaviour: Behaviour,
    calls: AtomicUsize,
    called_at: Mutex<Vec<Instant>>,
    fixed: AtomicBool,
}

impl TestHandler {
    fn new(behaviour: Behaviour) -> Arc<Self> {
        Arc::new(Self {
            behaviour,
            calls: AtomicUsize::new(0),
            called_at: Mutex::new(Vec::new()),
            fixed: AtomicBool::new(false),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The pauses between consecutive calls.
    fn gaps(&self) -> Vec<Duration> {
        let at = self.called_at.lock().unwrap();
        at.windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// The dependency is back: calls succeed from now on.
    fn fix(&self) {
        self.fixed.store(true, Ordering::SeqCst);
    }
}

#[async_trait]
impl EventHandler for TestHandler {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.called_at.lock().unwrap().push(Instant::now());
        let down = || Err(HandleError::Transient("the dependency is down".into()));
        match self.behaviour {
            Behaviour::FailTransiently => return down(),
            Behaviour::FailTimes(n) if call <= n => return down(),
            Behaviour::FailUntilFixed if !self.fixed.load(Ordering::SeqCst) => return down(),
            Behaviour::RejectAsMalformed => {
                return Err(HandleError::Malformed("unsupported version".into()))
            }
            Behaviour::RejectOne(id) if id == event.id => {
                return Err(HandleError::Malformed("unsupported version".into()))
            }
            _ => {}
        }
        sqlx::query("INSERT INTO effects (event_id) VALUES ($1)")
            .bind(event.id)
            .execute(conn)
            .await?;
        Ok(())
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

/// The effects table, a consumer of `appointment.*` and a handler recording
/// each event it applies.
async fn recording_consumer(backing: &Backing) -> (ConsumerSpec, Arc<TestHandler>) {
    create_effects_table(&backing.pool).await;
    let spec = backing
        .consumer("notifications", &["appointment.*"], 5)
        .await;
    (spec, TestHandler::new(Behaviour::Record))
}

/// Enqueue `event` in a transaction of its own and commit it.
async fn enqueue_committed(pool: &PgPool, event: &Envelope) {
    enqueue_all_committed(pool, &[event]).await;
}

/// Enqueue `events` together (one statement) in a transaction of their own and commit it.
async fn enqueue_all_committed(pool: &PgPool, events: &[&Envelope]) {
    let mut tx = pool.begin().await.expect("begin");
    outbox::enqueue_all(&mut tx, events).await.expect("enqueue");
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
    let (spec, handler) = recording_consumer(&backing).await;
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
async fn events_enqueued_together_are_all_published_and_consumed() {
    let backing = Backing::start().await;
    let (spec, handler) = recording_consumer(&backing).await;
    let (first, second) = (booked(), booked());
    enqueue_all_committed(&backing.pool, &[&first, &second]).await;
    let payload: serde_json::Value = sqlx::query_scalar("SELECT payload FROM outbox WHERE id = $1")
        .bind(second.id)
        .fetch_one(&backing.pool)
        .await
        .expect("the second row");
    assert_eq!(payload["id"], serde_json::json!(second.id));

    assert_eq!(relay(&backing).relay_once().await.unwrap(), 2);
    assert_eq!(pending_in_outbox(&backing.pool).await, 0);
    let running = RunningConsumer::start(&backing, &spec, handler.clone());
    wait_for_effect(&backing.pool, first.id).await;
    wait_for_effect(&backing.pool, second.id).await;
    running.stop().await;
}

#[tokio::test]
async fn a_batch_applies_each_event_once_in_one_transaction_and_a_failure_rolls_it_all_back() {
    let backing = Backing::start().await;
    create_effects_table(&backing.pool).await;
    let (first, second, third) = (booked(), booked(), booked());

    let handler = TestHandler::new(Behaviour::Record);
    let outcomes = consumer::apply_all(
        &backing.pool,
        "batch",
        handler.as_ref(),
        &[&first, &second, &first],
    )
    .await
    .expect("the batch applies");
    assert_eq!(
        outcomes,
        [
            consumer::Outcome::Applied,
            consumer::Outcome::Applied,
            consumer::Outcome::Duplicate
        ],
        "the same event twice in a batch is applied once"
    );
    assert_eq!(effects_of(&backing.pool, first.id).await, 1);
    assert_eq!(effects_of(&backing.pool, second.id).await, 1);
    assert_eq!(handler.calls(), 2);

    // Already applied, then a new one that fails: nothing of the batch stays.
    let failing = TestHandler::new(Behaviour::RejectOne(third.id));
    let err = consumer::apply_all(&backing.pool, "batch", failing.as_ref(), &[&second, &third])
        .await
        .expect_err("the third is malformed");
    assert!(matches!(err, HandleError::Malformed(_)), "{err:?}");
    assert_eq!(
        failing.calls(),
        1,
        "the second was a duplicate, not handled again"
    );
    assert_eq!(effects_of(&backing.pool, third.id).await, 0);
    assert_eq!(processed_records_of(&backing.pool, third.id).await, 0);
    assert_eq!(processed_records_of(&backing.pool, second.id).await, 1);
}

#[tokio::test]
async fn events_waiting_together_apply_once_each_and_a_malformed_one_is_dead_lettered_alone() {
    let backing = Backing::start().await;
    create_effects_table(&backing.pool).await;
    let spec = backing
        .consumer("notifications", &["appointment.*"], 5)
        .await;
    let events: Vec<Envelope> = (0..12).map(|_| booked()).collect();
    let bad = events[5].id;
    let handler = TestHandler::new(Behaviour::RejectOne(bad));
    let all: Vec<&Envelope> = events.iter().collect();
    enqueue_all_committed(&backing.pool, &all).await;
    assert_eq!(relay(&backing).relay_once().await.unwrap(), 12);
    // All of them wait before the consumer starts, so they arrive in batches.
    eventually(WAIT, "twelve messages queued", || async {
        (queue_depth(&backing.broker, &spec.queue).await == Some(12)).then_some(())
    })
    .await;

    let running = RunningConsumer::start(&backing, &spec, handler.clone());
    eventually(WAIT, "the malformed one in the DLQ", || async {
        (queue_depth(&backing.broker, &spec.dead_letter_queue()).await == Some(1)).then_some(())
    })
    .await;
    for e in events.iter().filter(|e| e.id != bad) {
        wait_for_effect(&backing.pool, e.id).await;
    }
    eventually(WAIT, "the queue to be empty", || async {
        (queue_depth(&backing.broker, &spec.queue).await == Some(0)).then_some(())
    })
    .await;
    running.stop().await;
    // A delivery left unacknowledged goes back to the queue when the
    // consumer's channel closes: the batches' single acknowledgements covered all.
    assert_eq!(queue_depth(&backing.broker, &spec.queue).await, Some(0));

    for e in events.iter().filter(|e| e.id != bad) {
        assert_eq!(effects_of(&backing.pool, e.id).await, 1);
        assert_eq!(processed_records_of(&backing.pool, e.id).await, 1);
    }
    assert_eq!(effects_of(&backing.pool, bad).await, 0);
    assert_eq!(processed_records_of(&backing.pool, bad).await, 0);
    assert_eq!(
        queue_depth(&backing.broker, &spec.dead_letter_queue()).await,
        Some(1)
    );
}

#[tokio::test]
async fn relay_crash_between_publish_and_mark_does_not_duplicate_effects() {
    let backing = Backing::start().await;
    let (spec, handler) = recording_consumer(&backing).await;
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
    let (spec, handler) = recording_consumer(&backing).await;
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
    assert_eq!(
        header(&dead, retry::FIRST_FAILURE).as_deref(),
        Some("undecodable")
    );
    assert_eq!(attempts(&dead), 1, "not retried");
    assert_eq!(
        handler.calls(),
        1,
        "the handler never saw the poison message"
    );
    assert_eq!(queue_depth(&backing.broker, &spec.queue).await, Some(0));
}

/// The retry delays of the tests below: short, and distinct enough to tell apart.
const DELAYS: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_millis(600),
    Duration::from_millis(1200),
];

/// How much later than its delay a retry may come (the broker expires a queue's
/// head on a timer; a loaded CI machine adds to it).
const SLACK: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn a_failing_event_is_retried_after_growing_delays_and_applied_once() {
    let backing = Backing::start_with_delays(&DELAYS).await;
    create_effects_table(&backing.pool).await;
    let spec = backing
        .consumer("notifications", &["appointment.*"], 5)
        .await;
    // Down for the first delivery and the first retry; back for the second.
    let handler = TestHandler::new(Behaviour::FailTimes(2));
    let event = booked();
    enqueue_committed(&backing.pool, &event).await;
    assert_eq!(relay(&backing).relay_once().await.unwrap(), 1);

    let running = RunningConsumer::start(&backing, &spec, handler.clone());
    wait_for_effect(&backing.pool, event.id).await;
    running.stop().await;

    assert_eq!(handler.calls(), 3);
    let gaps = handler.gaps();
    for (gap, delay) in gaps.iter().zip(DELAYS) {
        assert!(
            *gap >= delay && *gap < delay + SLACK,
            "retried after {gap:?}, expected {delay:?}: {gaps:?}"
        );
    }
    assert_eq!(effects_of(&backing.pool, event.id).await, 1);
    assert_eq!(processed_records_of(&backing.pool, event.id).await, 1);
    for queue in backing.broker.retry_queues(&spec.queue) {
        assert_eq!(
            queue_depth(&backing.broker, &queue).await,
            Some(0),
            "{queue}"
        );
    }
    assert_eq!(queue_depth(&backing.broker, &spec.queue).await, Some(0));
    assert_eq!(
        queue_depth(&backing.broker, &spec.dead_letter_queue()).await,
        Some(0)
    );
}

#[tokio::test]
async fn an_event_still_failing_after_the_last_delay_is_dead_lettered_with_its_history() {
    let backing = Backing::start_with_delays(&DELAYS).await;
    let spec = backing
        .consumer("notifications", &["appointment.*"], 5)
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
    assert_eq!(
        handler.calls(),
        1 + DELAYS.len(),
        "the first try and one per delay"
    );
    let waited: Duration = handler.gaps().iter().sum();
    assert!(waited >= DELAYS.iter().sum::<Duration>(), "{waited:?}");
    assert_eq!(attempts(&dead), 4);
    assert_eq!(
        header(&dead, retry::FIRST_FAILURE).as_deref(),
        Some("transient: the dependency is down")
    );
    assert!(header(&dead, retry::FIRST_FAILED_AT).is_some());
    assert!(header(&dead, retry::LAST_FAILED_AT) > header(&dead, retry::FIRST_FAILED_AT));
    // The relay's user published it; the consumer's copies say so.
    assert_eq!(
        header(&dead, retry::PUBLISHER).as_deref(),
        Some(backing.broker.user())
    );
    assert_eq!(
        dead.delivery
            .properties
            .message_id()
            .as_ref()
            .map(|m| m.to_string()),
        Some(event.id.to_string())
    );
    assert_eq!(processed_records_of(&backing.pool, event.id).await, 0);
    assert_eq!(queue_depth(&backing.broker, &spec.queue).await, Some(0));
}

#[tokio::test]
async fn a_replayed_dead_letter_is_applied_once_and_a_second_replay_changes_nothing() {
    let backing = Backing::start_with_delays(&DELAYS[..1]).await;
    create_effects_table(&backing.pool).await;
    let spec = backing
        .consumer("notifications", &["appointment.*"], 5)
        .await;
    let handler = TestHandler::new(Behaviour::FailUntilFixed);
    let event = booked();
    let other = booked();
    enqueue_committed(&backing.pool, &event).await;
    enqueue_committed(&backing.pool, &other).await;
    assert_eq!(relay(&backing).relay_once().await.unwrap(), 2);
    let running = RunningConsumer::start(&backing, &spec, handler.clone());
    eventually(WAIT, "both events in the DLQ", || async {
        (queue_depth(&backing.broker, &spec.dead_letter_queue()).await == Some(2)).then_some(())
    })
    .await;

    // What an operator sees, and the messages stay where they are.
    let (count, letters) = dlq::list(&backing.broker, &spec.queue, 100).await.unwrap();
    assert_eq!(count, 2);
    let ids: HashSet<String> = letters.iter().filter_map(|l| l.id.clone()).collect();
    assert_eq!(
        ids,
        HashSet::from([event.id.to_string(), other.id.to_string()])
    );
    let letter = dlq::find(&backing.broker, &spec.queue, &event.id.to_string())
        .await
        .unwrap()
        .expect("the event is in the DLQ");
    assert_eq!(letter.event_type.as_deref(), Some("appointment.booked"));
    assert_eq!(letter.source.as_deref(), Some("scheduling"));
    assert_eq!(letter.attempts, 2);
    assert_eq!(
        letter.first_failure.as_deref(),
        Some("transient: the dependency is down")
    );
    assert!(
        letter.payload().contains("appointment_id"),
        "the data, on request"
    );
    // Looking took nothing away: what was looked at goes back to the queue
    // (the broker requeues it as the looking channel closes, not instantly).
    eventually(WAIT, "the looked-at letters back in the DLQ", || async {
        (queue_depth(&backing.broker, &spec.dead_letter_queue()).await == Some(2)).then_some(())
    })
    .await;

    // The dependency is back: replay one event, by its id.
    handler.fix();
    let replayed = dlq::replay(&backing.broker, &spec.queue, Some(&event.id.to_string()))
        .await
        .unwrap();
    assert_eq!(replayed, 1);
    wait_for_effect(&backing.pool, event.id).await;
    eventually(WAIT, "the other one back in the DLQ", || async {
        (queue_depth(&backing.broker, &spec.dead_letter_queue()).await == Some(1)).then_some(())
    })
    .await;
    // Then the rest.
    assert_eq!(
        dlq::replay(&backing.broker, &spec.queue, None)
            .await
            .unwrap(),
        1
    );
    wait_for_effect(&backing.pool, other.id).await;

    // A copy of an event already applied, dead-lettered and replayed (as a
    // duplicate delivery could be): recognised, no second effect.
    let calls = handler.calls();
    let channel = backing.broker.channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    channel
        .basic_publish(
            &backing.broker.dead_letter_exchange(),
            &spec.queue,
            BasicPublishOptions::default(),
            &serde_json::to_vec(&event).unwrap(),
            BasicProperties::default()
                .with_message_id(event.id.to_string().into())
                .with_delivery_mode(2)
                .with_user_id(backing.broker.user().into()),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(
        dlq::replay(&backing.broker, &spec.queue, None)
            .await
            .unwrap(),
        1
    );
    eventually(WAIT, "the duplicate acknowledged", || async {
        (queue_depth(&backing.broker, &spec.queue).await == Some(0)
            && queue_depth(&backing.broker, &spec.dead_letter_queue()).await == Some(0))
        .then_some(())
    })
    .await;
    running.stop().await;

    assert_eq!(
        handler.calls(),
        calls,
        "the handler never saw the duplicate"
    );
    assert_eq!(effects_of(&backing.pool, event.id).await, 1);
    assert_eq!(effects_of(&backing.pool, other.id).await, 1);
    assert_eq!(
        dlq::replay(&backing.broker, &spec.queue, None)
            .await
            .unwrap(),
        0,
        "nothing left to replay"
    );
}

#[tokio::test]
async fn a_copy_vouching_for_another_publisher_is_judged_as_that_publishers() {
    let backing = Backing::start().await;
    let spec = backing
        .consumer("notifications", &["appointment.*"], 5)
        .await;
    let handler = TestHandler::new(Behaviour::Record);
    let running = RunningConsumer::start(&backing, &spec, handler.clone());

    // Published by the consumer's own user (a retry or replay copy), naming a
    // publisher that is not scheduling's: outside the contract.
    let mut headers = lapin::types::FieldTable::default();
    headers.insert(
        retry::PUBLISHER.into(),
        lapin::types::AMQPValue::LongString("carebook_records".into()),
    );
    let channel = backing.broker.channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    channel
        .basic_publish(
            backing.broker.exchange(),
            "appointment.booked",
            BasicPublishOptions::default(),
            &serde_json::to_vec(&booked()).unwrap(),
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_user_id(backing.broker.user().into())
                .with_headers(headers),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let dead = eventually(WAIT, "the forged event in the DLQ", || async {
        backing.take(&spec.dead_letter_queue()).await
    })
    .await;
    running.stop().await;

    assert_eq!(
        header(&dead, retry::FIRST_FAILURE).as_deref(),
        Some("contract: forged-publisher")
    );
    assert_eq!(
        header(&dead, retry::PUBLISHER).as_deref(),
        Some("carebook_records")
    );
    assert_eq!(handler.calls(), 0);
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
    assert_eq!(
        header(&dead, retry::FIRST_FAILURE).as_deref(),
        Some("malformed"),
        "the reason's text (it may quote the event) is not kept"
    );
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

/// The state a relay leaves when it dies after claiming rows and before
/// publishing them: every pending row leased to it for `lease`.
async fn claim_as_a_crashed_relay(pool: &PgPool, lease: Duration) {
    sqlx::query(
        "UPDATE outbox SET claimed_by = $1, claimed_until = now() + make_interval(secs => $2)
         WHERE published_at IS NULL",
    )
    .bind(Uuid::new_v4())
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn rows_claimed_by_a_relay_that_died_are_published_once_its_lease_ran_out() {
    let backing = Backing::start().await;
    let spec = backing
        .consumer("notifications", &["appointment.*"], 5)
        .await;
    let event = booked();
    enqueue_committed(&backing.pool, &event).await;
    claim_as_a_crashed_relay(&backing.pool, Duration::from_millis(1500)).await;
    let started = Instant::now();

    let survivor = relay(&backing);
    assert_eq!(
        survivor.relay_once().await.unwrap(),
        0,
        "the lease holds: not published by a second relay"
    );
    assert_eq!(queue_depth(&backing.broker, &spec.queue).await, Some(0));
    let published = eventually(WAIT, "the row published after the lease", || async {
        match survivor.relay_once().await.unwrap() {
            0 => None,
            n => Some(n),
        }
    })
    .await;
    assert_eq!(published, 1);
    assert!(started.elapsed() >= Duration::from_millis(1500));
    let (published_at, claimed_by): (Option<chrono::DateTime<chrono::Utc>>, Option<Uuid>) =
        sqlx::query_as("SELECT published_at, claimed_by FROM outbox WHERE id = $1")
            .bind(event.id)
            .fetch_one(&backing.pool)
            .await
            .unwrap();
    assert!(published_at.is_some() && claimed_by.is_none());
    eventually(WAIT, "the event in the queue, once", || async {
        (queue_depth(&backing.broker, &spec.queue).await == Some(1)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_batch_the_broker_does_not_confirm_is_released_for_the_next_round() {
    let backing = Backing::start().await;
    let event = booked();
    enqueue_committed(&backing.pool, &event).await;
    // The exchange is gone: the broker closes the channel instead of confirming.
    let channel = backing.broker.channel().await.unwrap();
    channel
        .exchange_delete(
            backing.broker.exchange(),
            lapin::options::ExchangeDeleteOptions::default(),
        )
        .await
        .unwrap();
    let relay = relay(&backing).with_lease(Duration::from_secs(600));
    assert_eq!(relay.relay_once().await.unwrap(), 0);
    let (claimed_by, attempts, last_error): (Option<Uuid>, i32, Option<String>) =
        sqlx::query_as("SELECT claimed_by, attempts, last_error FROM outbox WHERE id = $1")
            .bind(event.id)
            .fetch_one(&backing.pool)
            .await
            .unwrap();
    assert_eq!(
        claimed_by, None,
        "released at once, not after its 10-minute lease"
    );
    assert_eq!(attempts, 1);
    assert!(last_error.is_some());

    // The exchange is back (a service declares it at start): the next round publishes it.
    drop(backing.second_broker().await);
    assert_eq!(relay.relay_once().await.unwrap(), 1);
    assert_eq!(pending_in_outbox(&backing.pool).await, 0);
}

#[tokio::test]
async fn pruning_forgets_only_old_processed_events_and_expired_idempotency_keys() {
    let backing = Backing::start().await;
    let pool = &backing.pool;
    let (old, recent, others) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    for (consumer, id, age_days) in [
        ("notifications.appointments", old, 31),
        ("notifications.appointments", recent, 29),
        ("billing.appointments", others, 31),
    ] {
        sqlx::query(
            "INSERT INTO processed_events (consumer, event_id, processed_at)
             VALUES ($1, $2, now() - make_interval(days => $3))",
        )
        .bind(consumer)
        .bind(id)
        .bind(age_days)
        .execute(pool)
        .await
        .unwrap();
    }
    let retention = Duration::from_secs(30 * 86_400);
    let deleted = consumer::prune_processed(pool, "notifications.appointments", retention)
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    let left: Vec<Uuid> =
        sqlx::query_scalar("SELECT event_id FROM processed_events ORDER BY event_id")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(
        left,
        [old, recent, others]
            .into_iter()
            .filter(|id| *id != old)
            .collect::<Vec<_>>()
    );

    // Without the table (a service that takes no keys) there is nothing to do.
    let ttl = Duration::from_secs(24 * 3600);
    assert_eq!(platform::idempotency::prune(pool, ttl).await.unwrap(), 0);
    sqlx::query(
        "CREATE TABLE idempotency_keys (
             user_id uuid NOT NULL, key text NOT NULL, request_hash bytea NOT NULL,
             response_status smallint, response_body jsonb,
             created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (user_id, key))",
    )
    .execute(pool)
    .await
    .unwrap();
    let user = Uuid::now_v7();
    for (key, age_hours) in [("expired", 25), ("live", 23)] {
        sqlx::query(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at)
             VALUES ($1, $2, '\\x00', now() - make_interval(hours => $3))",
        )
        .bind(user)
        .bind(key)
        .bind(age_hours)
        .execute(pool)
        .await
        .unwrap();
    }
    assert_eq!(platform::idempotency::prune(pool, ttl).await.unwrap(), 1);
    let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM idempotency_keys")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(keys, ["live"]);

    // The relay's housekeeping does both kinds of its own: old published
    // outbox rows go, pending ones never.
    let (published_long_ago, pending) = (booked(), booked());
    enqueue_committed(pool, &published_long_ago).await;
    enqueue_committed(pool, &pending).await;
    sqlx::query("UPDATE outbox SET published_at = now() - interval '8 days' WHERE id = $1")
        .bind(published_long_ago.id)
        .execute(pool)
        .await
        .unwrap();
    relay(&backing).prune().await.unwrap();
    let kept: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM outbox")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(kept, [pending.id]);
}
