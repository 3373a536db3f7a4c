//! Invoices issued from scheduling's appointment events.

use contracts::scheduling::AppointmentCompleted;
use platform::{
    auth::Role,
    events::Envelope,
    testing::{eventually, WAIT},
};
use serde_json::json;

use crate::helpers::{money, spawn_app, spawn_app_with, Visit};

#[tokio::test]
async fn completing_an_appointment_issues_one_invoice_with_the_type_price() {
    let app = spawn_app().await;
    let (patient, provider) = (app.user(Role::Patient), app.user(Role::Provider));
    let visit = Visit::new(&patient, &provider);
    app.publish(&visit.booked()).await;
    let id = app.completed_invoice(&visit).await;

    let invoice = app
        .get_ok(&patient, &format!("/api/v1/invoices/{id}"))
        .await;
    assert_eq!(invoice["status"], "issued");
    assert_eq!(invoice["reason"], "completed");
    assert_eq!(invoice["appointment_id"], json!(visit.id));
    assert_eq!(invoice["patient_id"], json!(patient.id));
    assert_eq!(invoice["provider_id"], json!(provider.id));
    let lines = invoice["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["kind"], "charge");
    assert_eq!(lines[0]["description"], "Consultation");
    assert_eq!(lines[0]["amount"], money(6000, "EUR"));
    assert_eq!(lines[0]["tax_rate_bp"], 0);
    assert_eq!(invoice["totals"]["gross"], money(6000, "EUR"));
    assert_eq!(invoice["totals"]["paid"], money(0, "EUR"));
    assert_eq!(invoice["totals"]["due"], money(6000, "EUR"));
    assert_eq!(invoice["payments"], json!([]));
    assert_eq!(
        invoice["appointment"]["appointment_type_name"],
        "Consultation"
    );
    assert_eq!(invoice["appointment"]["time_zone"], "Europe/Berlin");

    // Announced through the outbox with ids and totals, no names.
    let issued = app.outbox("invoice.issued").await;
    assert_eq!(issued.len(), 1);
    let data = &issued[0]["data"];
    assert_eq!(issued[0]["source"], "billing");
    assert_eq!(data["invoice_id"], json!(id));
    assert_eq!(data["patient_id"], json!(patient.id));
    assert_eq!(data["totals"]["gross"], money(6000, "EUR"));
    assert_eq!(data["status"], "issued");
    assert!(!data.to_string().contains("Consultation"));

    // The audit trail names the event that issued it.
    let source: Option<uuid::Uuid> = sqlx::query_scalar(
        "SELECT source_event_id FROM invoice_events WHERE invoice_id = $1 AND action = 'issued'",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(source.is_some());
    // The read model follows the appointment.
    let (status, version): (String, i32) =
        sqlx::query_as("SELECT status, version FROM appointments WHERE id = $1")
            .bind(visit.id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((status.as_str(), version), ("completed", 3));
}

#[tokio::test]
async fn redelivered_completion_events_do_not_duplicate_the_invoice() {
    let app = spawn_app().await;
    let (patient, provider) = (app.user(Role::Patient), app.user(Role::Provider));
    let visit = Visit::new(&patient, &provider);
    let completed = visit.completed();
    for _ in 0..3 {
        app.publish(&completed).await;
    }
    // The same fact under a second event id (a relay republishing, a replay).
    let again =
        Envelope::of::<AppointmentCompleted>(&completed.decode::<AppointmentCompleted>().unwrap())
            .unwrap();
    assert_ne!(again.id, completed.id);
    // One consumer settles its queue in order: once `again` is applied, so is every copy before it.
    app.deliver(&again).await;

    let invoices = app
        .count(
            "SELECT count(*) FROM invoices WHERE appointment_id = $1",
            visit.id,
        )
        .await;
    assert_eq!(invoices, 1);
    assert_eq!(app.outbox("invoice.issued").await.len(), 1);
    let lines = app
        .count(
            "SELECT count(*) FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id WHERE i.appointment_id = $1",
            visit.id,
        )
        .await;
    assert_eq!(lines, 1);
    // Both event ids were applied exactly once each.
    for event in [completed.id, again.id] {
        assert_eq!(
            app.count(
                "SELECT count(*) FROM processed_events WHERE event_id = $1",
                event
            )
            .await,
            1
        );
    }
}

#[tokio::test]
async fn a_late_cancellation_issues_the_fee_invoice() {
    let app = spawn_app().await;
    let (patient, provider) = (app.user(Role::Patient), app.user(Role::Provider));
    let visit = Visit::new(&patient, &provider);
    app.publish(&visit.booked()).await;
    app.publish(&visit.cancelled(true, Some(2500))).await;
    let id = app.invoice_for(visit.id, "late_cancellation").await;

    let invoice = app
        .get_ok(&patient, &format!("/api/v1/invoices/{id}"))
        .await;
    assert_eq!(invoice["status"], "issued");
    assert_eq!(invoice["reason"], "late_cancellation");
    assert_eq!(
        invoice["lines"][0]["description"],
        "Late cancellation fee: Consultation"
    );
    assert_eq!(invoice["totals"]["due"], money(2500, "EUR"));
    assert_eq!(
        app.count(
            "SELECT count(*) FROM invoices WHERE appointment_id = $1",
            visit.id
        )
        .await,
        1
    );
}

#[tokio::test]
async fn an_on_time_cancellation_issues_no_invoice() {
    let app = spawn_app().await;
    let (patient, provider) = (app.user(Role::Patient), app.user(Role::Provider));
    let visit = Visit::new(&patient, &provider);
    app.publish(&visit.booked()).await;
    app.deliver(&visit.cancelled(false, None)).await;

    assert_eq!(
        app.count(
            "SELECT count(*) FROM invoices WHERE appointment_id = $1",
            visit.id
        )
        .await,
        0
    );
    assert!(app.outbox("invoice.issued").await.is_empty());
    let list = app.get_ok(&patient, "/api/v1/invoices").await;
    assert_eq!(list["items"], json!([]));
    // The read model still learned of the cancellation.
    let status: String = sqlx::query_scalar("SELECT status FROM appointments WHERE id = $1")
        .bind(visit.id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "cancelled");
}

#[tokio::test]
async fn a_no_show_bills_the_fee_only_when_the_type_has_one() {
    let app = spawn_app().await;
    let (patient, provider) = (app.user(Role::Patient), app.user(Role::Provider));
    let with_fee = Visit::new(&patient, &provider);
    let without_fee = Visit::new(&patient, &provider);
    app.publish(&with_fee.no_show(Some(2500))).await;
    app.deliver(&without_fee.no_show(None)).await;
    let id = app.invoice_for(with_fee.id, "no_show").await;

    let invoice = app
        .get_ok(&patient, &format!("/api/v1/invoices/{id}"))
        .await;
    assert_eq!(
        invoice["lines"][0]["description"],
        "No-show fee: Consultation"
    );
    assert_eq!(invoice["totals"]["gross"], money(2500, "EUR"));
    assert_eq!(
        app.count(
            "SELECT count(*) FROM invoices WHERE appointment_id = $1",
            without_fee.id
        )
        .await,
        0
    );
}

#[tokio::test]
async fn unsupported_and_malformed_events_are_dead_lettered_without_effect() {
    let app = spawn_app().await;
    let (patient, provider) = (app.user(Role::Patient), app.user(Role::Provider));
    let visit = Visit::new(&patient, &provider);
    let mut v2 = visit.completed();
    v2.version = 2;
    app.publish(&v2).await;
    let mut bad_currency = visit.completed();
    bad_currency.id = uuid::Uuid::now_v7();
    bad_currency.data["price"]["currency"] = json!("euro");
    app.publish(&bad_currency).await;
    let mut wrong_status = visit.completed();
    wrong_status.id = uuid::Uuid::now_v7();
    wrong_status.data["status"] = json!("booked");
    app.publish(&wrong_status).await;
    // None of them is ever applied; an event of another visit behind them is.
    app.deliver(&Visit::new(&patient, &provider).booked()).await;

    let dlq = app.dead_letter_queue();
    eventually(WAIT, "three dead letters", || async {
        (app.queue_depth(&dlq).await? == 3).then_some(())
    })
    .await;
    assert_eq!(
        app.count(
            "SELECT count(*) FROM invoices WHERE appointment_id = $1",
            visit.id
        )
        .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM appointments WHERE id = $1", visit.id)
            .await,
        0
    );
}

#[tokio::test]
async fn an_older_event_never_overwrites_the_read_model() {
    let app = spawn_app().await;
    let (patient, provider) = (app.user(Role::Patient), app.user(Role::Provider));
    let visit = Visit::new(&patient, &provider);
    app.publish(&visit.completed()).await;
    app.deliver(&visit.booked()).await; // arrives late
    let (status, version): (String, i32) =
        sqlx::query_as("SELECT status, version FROM appointments WHERE id = $1")
            .bind(visit.id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((status.as_str(), version), ("completed", 3));
}

#[tokio::test]
async fn the_configured_tax_rate_applies_per_line() {
    let app = spawn_app_with(|c| c.tax_rate_bp = 1900, None).await;
    let (patient, provider) = (app.user(Role::Patient), app.user(Role::Provider));
    let mut visit = Visit::new(&patient, &provider);
    visit.price_minor = 6003;
    let id = app.completed_invoice(&visit).await;
    let invoice = app
        .get_ok(&patient, &format!("/api/v1/invoices/{id}"))
        .await;
    // 6003 × 19 % = 1140.57 → 1141 (half-up per line, in minor units).
    assert_eq!(invoice["lines"][0]["tax_rate_bp"], 1900);
    assert_eq!(invoice["lines"][0]["tax"], money(1141, "EUR"));
    assert_eq!(invoice["totals"]["net"], money(6003, "EUR"));
    assert_eq!(invoice["totals"]["tax"], money(1141, "EUR"));
    assert_eq!(invoice["totals"]["gross"], money(7144, "EUR"));
    assert_eq!(invoice["totals"]["due"], money(7144, "EUR"));
}
