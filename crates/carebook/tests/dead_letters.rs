//! `carebook events dlq`, the operator's command, against billing running on
//! the real PostgreSQL and RabbitMQ: an `appointment.completed` that billing
//! could not apply while its database refused writes is dead-lettered after
//! its retries, and `carebook events dlq replay` brings it back to an invoice,
//! once, however often it is run.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::{process::Command, sync::Arc, time::Duration};

use chrono::Utc;
use contracts::scheduling::{AppointmentCompleted, AppointmentStatus};
use identity::testing::TestIssuer;
use platform::{
    auth::Role,
    events::Envelope,
    testing::{appointment, eventually, TestApp, TestBacking, WAIT},
};
use uuid::Uuid;

/// Billing as its tests run it (retries after 100 ms, 300 ms and 1 s).
async fn billing() -> (TestApp, billing::Config) {
    let backing = TestBacking::new("billing");
    let keys = Arc::new(TestIssuer::new());
    let config = billing::Config {
        common: backing.config.clone(),
        cache_ttl: Duration::from_secs(60),
        tax_rate_bp: 0,
    };
    let service = billing::build_with_verifier(&config, keys.verifier())
        .await
        .expect("billing starts");
    let consumers = [billing::consumers::spec(&config.common.queue_prefix)];
    let app = TestApp::spawn(backing, service, &consumers, keys).await;
    (app, config)
}

/// Run `carebook events dlq ARGS…` as an operator would, with billing's
/// settings in the environment and nothing else: its exit status and output.
fn dlq(config: &billing::Config, args: &[&str]) -> (bool, String) {
    let common = &config.common;
    let delays: Vec<String> = common
        .events
        .retry_delays
        .iter()
        .map(|d| platform::events::retry::format_delay(*d))
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_carebook"))
        .env_clear()
        .args(["events", "dlq"])
        .args(args)
        .env("CAREBOOK_TLS", "off")
        .env("BILLING_DATABASE_URL", &common.database_url)
        .env("CAREBOOK_REDIS_URL", &common.redis_url)
        .env("CAREBOOK_AMQP_URL", &common.amqp_url)
        .env("CAREBOOK_JWKS_URL", &common.auth.jwks_url)
        .env("CAREBOOK_EVENTS_EXCHANGE", &common.events_exchange)
        .env("CAREBOOK_QUEUE_PREFIX", &common.queue_prefix)
        .env("CAREBOOK_EVENTS_RETRY_DELAYS", delays.join(","))
        .output()
        .expect("run carebook");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn invoices_of(app: &TestApp, appointment_id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM invoices WHERE appointment_id = $1")
        .bind(appointment_id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Make billing's database refuse new invoices (as an outage would) or take them again.
async fn refuse_invoices(app: &TestApp, refuse: bool) {
    let statements: &[&str] = if refuse {
        &[
            "CREATE FUNCTION refuse_invoices() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN RAISE EXCEPTION 'the database refuses writes (test)'; END $$",
            "CREATE TRIGGER refuse_invoices BEFORE INSERT ON invoices
               FOR EACH ROW EXECUTE FUNCTION refuse_invoices()",
        ]
    } else {
        &[
            "DROP TRIGGER refuse_invoices ON invoices",
            "DROP FUNCTION refuse_invoices()",
        ]
    };
    for sql in statements {
        sqlx::query(sql).execute(&app.db).await.unwrap();
    }
}

#[tokio::test]
async fn a_replayed_dead_lettered_completion_is_invoiced_once() {
    let (app, config) = billing().await;
    let queue = billing::consumers::spec(&config.common.queue_prefix).queue;
    let dlq_name = platform::events::retry::dead_letter_queue(&queue);
    let (patient, provider) = (app.user(Role::Patient), app.user(Role::Provider));
    let visit = Uuid::now_v7();
    let completed = Envelope::of::<AppointmentCompleted>(&appointment(
        visit,
        patient.id,
        provider.id,
        Utc::now() - chrono::Duration::hours(1),
        AppointmentStatus::Completed,
        3,
    ))
    .unwrap();

    // While billing cannot write, the event goes through every retry and is
    // dead-lettered; no invoice.
    refuse_invoices(&app, true).await;
    app.publish(&completed).await;
    app.wait_for_queue_depth(&dlq_name, 1).await;
    assert_eq!(invoices_of(&app, visit).await, 0);

    // What the operator sees: the event, why it failed; not its data.
    let (ok, listed) = dlq(&config, &["list", "--queue", "billing.appointments"]);
    assert!(ok, "{listed}");
    assert!(listed.contains(&format!("{dlq_name}: 1")), "{listed}");
    assert!(listed.contains(&completed.id.to_string()), "{listed}");
    assert!(listed.contains("appointment.completed"), "{listed}");
    assert!(listed.contains("the database refuses writes"), "{listed}");
    assert!(!listed.contains(&patient.id.to_string()), "{listed}");
    let (ok, shown) = dlq(
        &config,
        &["show", "--queue", &queue, "--id", &completed.id.to_string()],
    );
    assert!(ok, "{shown}");
    assert!(shown.contains("attempts:       4"), "{shown}");
    assert_eq!(
        app.queue_depth(&dlq_name).await,
        Some(1),
        "looking took nothing"
    );

    // The database is back: one replay brings the invoice.
    refuse_invoices(&app, false).await;
    let (ok, replayed) = dlq(&config, &["replay", "--queue", &queue]);
    assert!(ok, "{replayed}");
    assert!(
        replayed.contains(&format!("{queue}: 1 replayed")),
        "{replayed}"
    );
    let db = &app.db;
    eventually(WAIT, "the invoice", || async move {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM invoices WHERE appointment_id = $1")
            .bind(visit)
            .fetch_one(db)
            .await
            .ok()?;
        (n == 1).then_some(())
    })
    .await;
    app.wait_for_event(completed.id).await;
    assert_eq!(app.queue_depth(&dlq_name).await, Some(0));

    // A second replay finds nothing and changes nothing (by id, it says so).
    let (ok, again) = dlq(&config, &["replay", "--queue", &queue]);
    assert!(ok, "{again}");
    assert!(again.contains(&format!("{queue}: 0 replayed")), "{again}");
    let (ok, by_id) = dlq(
        &config,
        &[
            "replay",
            "--queue",
            &queue,
            "--id",
            &completed.id.to_string(),
        ],
    );
    assert!(ok, "{by_id}");
    assert!(by_id.contains("no dead letter with event id"), "{by_id}");

    assert_eq!(invoices_of(&app, visit).await, 1);
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM processed_events WHERE event_id = $1")
            .bind(completed.id)
            .fetch_one(&app.db)
            .await
            .unwrap(),
        1
    );

    // An unknown queue is refused with the ones there are.
    let (ok, unknown) = dlq(&config, &["list", "--queue", "billing.nothing"]);
    assert!(!ok);
    assert!(unknown.contains("billing.appointments"), "{unknown}");
}
