//! Payments, credits, refunds and voids: staff only, every refusal distinct,
//! nothing ever edited.

use std::sync::Arc;

use async_trait::async_trait;
use billing::payment_provider::{PaymentError, PaymentProvider, Receipt, Transfer};
use platform::{
    auth::Role,
    testing::{assert_problem, User},
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{money, spawn_app, spawn_app_with, TestApp, Visit};

/// Everything about an invoice that a refused change must leave alone.
async fn snapshot(app: &TestApp, id: Uuid) -> (Value, i64, i64, i64) {
    let staff = app.user(Role::Staff);
    let invoice = app.get_ok(&staff, &format!("/api/v1/invoices/{id}")).await;
    let payments = app
        .count("SELECT count(*) FROM payments WHERE invoice_id = $1", id)
        .await;
    let audit = app
        .count(
            "SELECT count(*) FROM invoice_events WHERE invoice_id = $1",
            id,
        )
        .await;
    let events = app
        .count(
            "SELECT count(*) FROM outbox WHERE payload->'data'->>'invoice_id' = $1::text",
            id,
        )
        .await;
    (invoice, payments, audit, events)
}

#[tokio::test]
async fn partial_then_full_payment_moves_the_invoice_to_paid() {
    let app = spawn_app().await;
    let (patient, provider, staff) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Staff),
    );
    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;

    let r = app.pay(&staff, id, 2000, "EUR").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let partly: Value = r.json().await.unwrap();
    assert_eq!(partly["status"], "issued");
    assert_eq!(partly["totals"]["paid"], money(2000, "EUR"));
    assert_eq!(partly["totals"]["due"], money(4000, "EUR"));
    assert!(app.outbox("invoice.paid").await.is_empty());

    let r = app.pay(&staff, id, 4000, "EUR").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let paid: Value = r.json().await.unwrap();
    assert_eq!(paid["status"], "paid");
    assert!(paid["paid_at"].is_string());
    assert_eq!(paid["totals"]["due"], money(0, "EUR"));
    let payments = paid["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 2);
    assert_eq!(payments[0]["kind"], "payment");
    assert_eq!(payments[0]["method"], "card");
    assert_eq!(payments[0]["reference"], "terminal-42");
    assert_eq!(payments[0]["recorded_by"], json!(staff.id));

    let events = app.outbox("invoice.paid").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["invoice_id"], json!(id));
    assert_eq!(events[0]["data"]["status"], "paid");
    assert_eq!(events[0]["data"]["totals"]["paid"], money(6000, "EUR"));
    assert_eq!(events[0]["data"]["changed_by"], json!(staff.id));

    // Who did what, and when, is on record.
    let history = app
        .get_ok(&staff, &format!("/api/v1/invoices/{id}/history"))
        .await;
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["issued", "payment_recorded", "payment_recorded", "paid"]
    );
    assert_eq!(history[1]["actor_id"], json!(staff.id));
    assert_eq!(history[1]["actor_role"], "staff");
    assert!(history[1]["at"].is_string());
    // The patient sees the same.
    let seen = app
        .get_ok(&patient, &format!("/api/v1/invoices/{id}"))
        .await;
    assert_eq!(seen["status"], "paid");
    // …but not the audit trail.
    assert_problem(
        app.get(&patient, &format!("/api/v1/invoices/{id}/history"))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn each_bad_payment_gets_its_own_problem_and_changes_nothing() {
    let app = spawn_app().await;
    let (patient, provider, staff) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Staff),
    );
    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;
    let before = snapshot(&app, id).await;

    let cases: [(i64, &str, &str); 5] = [
        (6001, "EUR", "payment-exceeds-balance"),
        (100, "USD", "currency-mismatch"),
        (0, "EUR", "invalid-amount"),
        (-500, "EUR", "invalid-amount"),
        (1_000_000_000_001, "EUR", "invalid-amount"),
    ];
    for (amount, currency, kind) in cases {
        assert_problem(
            app.pay(&staff, id, amount, currency).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            kind,
        )
        .await;
    }
    // Not a currency at all, an unknown method, a float: the request itself is wrong.
    let path = format!("/api/v1/invoices/{id}/payments");
    let body = assert_problem(
        app.post(
            &staff,
            &path,
            &json!({"amount": money(100, "eur"), "method": "cash"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "amount.currency");
    assert_problem(
        app.post(
            &staff,
            &path,
            &json!({"amount": money(100, "EUR"), "method": "bitcoin"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-body",
    )
    .await;
    assert_problem(
        app.post(
            &staff,
            &path,
            &json!({"amount": {"amount_minor": 10.5, "currency": "EUR"}, "method": "cash"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-body",
    )
    .await;
    assert_eq!(
        snapshot(&app, id).await,
        before,
        "a refused payment changed nothing"
    );

    // Once paid in full, more money is refused as `invoice-paid`.
    assert_eq!(
        app.pay(&staff, id, 6000, "EUR").await.status(),
        StatusCode::CREATED
    );
    let paid = snapshot(&app, id).await;
    assert_problem(
        app.pay(&staff, id, 1, "EUR").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invoice-paid",
    )
    .await;
    assert_eq!(snapshot(&app, id).await, paid);
}

#[tokio::test]
async fn staff_void_with_a_reason_and_then_payments_are_refused() {
    let app = spawn_app().await;
    let (patient, provider, staff) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Staff),
    );
    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;
    let path = format!("/api/v1/invoices/{id}/void");

    assert_problem(
        app.post(&patient, &path, &json!({"reason": "I do not want to pay"}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.post(&provider, &path, &json!({"reason": "courtesy"}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let body = assert_problem(
        app.post(&staff, &path, &json!({"reason": "  "})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "reason");

    let r = app
        .post(&staff, &path, &json!({"reason": "Billed in error"}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let void: Value = r.json().await.unwrap();
    assert_eq!(void["status"], "void");
    assert_eq!(void["void_reason"], "Billed in error");
    assert!(void["voided_at"].is_string());
    let events = app.outbox("invoice.voided").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["invoice_id"], json!(id));
    assert!(!events[0]["data"].to_string().contains("Billed in error"));

    let before = snapshot(&app, id).await;
    assert_problem(
        app.pay(&staff, id, 100, "EUR").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invoice-void",
    )
    .await;
    assert_problem(
        app.post(&staff, &path, &json!({"reason": "again"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invoice-void",
    )
    .await;
    assert_eq!(snapshot(&app, id).await, before);

    // An invoice with money on it is not voided: it is credited and refunded.
    let other = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;
    assert_eq!(
        app.pay(&staff, other, 100, "EUR").await.status(),
        StatusCode::CREATED
    );
    assert_problem(
        app.post(
            &staff,
            &format!("/api/v1/invoices/{other}/void"),
            &json!({"reason": "error"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invoice-has-payments",
    )
    .await;
}

#[tokio::test]
async fn only_staff_record_payments() {
    let app = spawn_app().await;
    let (patient, provider) = (app.user(Role::Patient), app.user(Role::Provider));
    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;
    let before = snapshot(&app, id).await;
    // Those who may read it are forbidden; everyone else does not see it at all.
    assert_problem(
        app.pay(&patient, id, 100, "EUR").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.pay(&provider, id, 100, "EUR").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let stranger = app.user(Role::Patient);
    assert_problem(
        app.pay(&stranger, id, 100, "EUR").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let other_provider = app.user(Role::Provider);
    assert_problem(
        app.pay(&other_provider, id, 100, "EUR").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let admin = app.user(Role::Admin);
    assert_problem(
        app.pay(&admin, Uuid::now_v7(), 100, "EUR").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert_eq!(snapshot(&app, id).await, before);
}

/// A processor that refuses every payment.
struct Declining;

#[async_trait]
impl PaymentProvider for Declining {
    fn name(&self) -> &'static str {
        "declining"
    }
    async fn collect(&self, _: &Transfer) -> Result<Receipt, PaymentError> {
        Err(PaymentError::Declined("The card was declined.".into()))
    }
    async fn refund(&self, _: &Transfer) -> Result<Receipt, PaymentError> {
        Err(PaymentError::Unavailable("down".into()))
    }
}

#[tokio::test]
async fn a_declined_payment_records_nothing() {
    let app = spawn_app_with(|_| {}, Some(Arc::new(Declining))).await;
    let (patient, provider, staff) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Staff),
    );
    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;
    let before = snapshot(&app, id).await;
    let body = assert_problem(
        app.pay(&staff, id, 6000, "EUR").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "payment-declined",
    )
    .await;
    assert_eq!(body["detail"], "The card was declined.");
    assert_eq!(snapshot(&app, id).await, before);
}

#[tokio::test]
async fn credits_and_refunds_add_history_and_never_edit_it() {
    let app = spawn_app().await;
    let (patient, provider, staff) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Staff),
    );
    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;
    assert_eq!(
        app.pay(&staff, id, 6000, "EUR").await.status(),
        StatusCode::CREATED
    );
    let invoice = app.get_ok(&staff, &format!("/api/v1/invoices/{id}")).await;
    let line = invoice["lines"][0]["id"].as_str().unwrap().to_owned();

    // Nothing to refund while the patient paid exactly what is due.
    let refund = |amount: i64| json!({"amount": money(amount, "EUR"), "method": "bank_transfer", "reference": "SEPA-1"});
    let refunds = format!("/api/v1/invoices/{id}/refunds");
    assert_problem(
        app.post(&staff, &refunds, &refund(1)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refund-exceeds-credit",
    )
    .await;

    // A credit is a new negative line; the charge stays as it was.
    let credits = format!("/api/v1/invoices/{id}/credits");
    let credit = |amount: i64| json!({"line_id": line, "amount": money(amount, "EUR"), "reason": "Goodwill"});
    assert_problem(
        app.post(&staff, &credits, &credit(6001)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "credit-exceeds-line",
    )
    .await;
    assert_problem(
        app.post(&patient, &credits, &credit(100)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let r = app.post(&staff, &credits, &credit(2000)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let credited: Value = r.json().await.unwrap();
    let lines = credited["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["amount"], money(6000, "EUR"));
    assert_eq!(lines[1]["kind"], "credit");
    assert_eq!(lines[1]["amount"], money(-2000, "EUR"));
    assert_eq!(lines[1]["credits_line_id"], json!(line));
    assert_eq!(credited["totals"]["gross"], money(4000, "EUR"));
    assert_eq!(credited["totals"]["due"], money(-2000, "EUR"));
    assert_eq!(credited["status"], "paid");
    // The remaining 4000 of the line may still be credited, not more.
    assert_problem(
        app.post(&staff, &credits, &credit(4001)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "credit-exceeds-line",
    )
    .await;

    // The patient's credit is refunded as a record of its own.
    assert_problem(
        app.post(&staff, &refunds, &refund(2001)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refund-exceeds-credit",
    )
    .await;
    let r = app.post(&staff, &refunds, &refund(2000)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let refunded: Value = r.json().await.unwrap();
    assert_eq!(refunded["totals"]["paid"], money(4000, "EUR"));
    assert_eq!(refunded["totals"]["due"], money(0, "EUR"));
    let payments = refunded["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 2);
    assert_eq!(payments[1]["kind"], "refund");
    assert_eq!(payments[1]["amount"], money(2000, "EUR"));

    // History cannot be edited, not even from inside the database.
    for table in ["invoice_lines", "payments", "invoice_events"] {
        let edit = sqlx::query(&format!("DELETE FROM {table} WHERE invoice_id = $1"))
            .bind(id)
            .execute(&app.db)
            .await;
        assert!(edit.is_err(), "{table} rows were deleted");
    }
    let edit = sqlx::query("UPDATE invoice_lines SET amount_minor = 1 WHERE invoice_id = $1")
        .bind(id)
        .execute(&app.db)
        .await;
    assert!(edit.is_err());
}

#[tokio::test]
async fn concurrent_payments_never_overpay() {
    let app = spawn_app().await;
    let (patient, provider, staff) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Staff),
    );
    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;
    // Ten desks try to take 1000 each of the 6000 due at the same moment.
    let attempts =
        futures_util::future::join_all((0..10).map(|_| app.pay(&staff, id, 1000, "EUR"))).await;
    let mut accepted = 0;
    for r in attempts {
        match r.status() {
            StatusCode::CREATED => accepted += 1,
            StatusCode::UNPROCESSABLE_ENTITY => {
                let body: Value = r.json().await.unwrap();
                let kind = body["type"].as_str().unwrap();
                assert!(
                    kind.ends_with("/invoice-paid") || kind.ends_with("/payment-exceeds-balance"),
                    "{body}"
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(accepted, 6);
    let invoice = app.get_ok(&staff, &format!("/api/v1/invoices/{id}")).await;
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["totals"]["paid"], money(6000, "EUR"));
    assert_eq!(app.outbox("invoice.paid").await.len(), 1);
}

/// Record a payment as `staff` with an `Idempotency-Key`.
async fn pay_once(
    app: &TestApp,
    staff: &User,
    id: Uuid,
    key: &str,
    amount: i64,
) -> reqwest::Response {
    app.request(
        Method::POST,
        &format!("/api/v1/invoices/{id}/payments"),
        staff,
    )
    .header("idempotency-key", key)
    .json(&json!({"amount": {"amount_minor": amount, "currency": "EUR"}, "method": "card"}))
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn a_retried_payment_with_its_idempotency_key_is_recorded_once() {
    let app = spawn_app().await;
    let (patient, provider, staff) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Staff),
    );
    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;

    // The first answer was lost; the desk retries, even twice at once.
    let first = pay_once(&app, &staff, id, "desk-42", 2000).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let (a, b) = tokio::join!(
        pay_once(&app, &staff, id, "desk-42", 2000),
        pay_once(&app, &staff, id, "desk-42", 2000)
    );
    for retry in [a, b] {
        assert_eq!(retry.status(), StatusCode::CREATED);
        let body: Value = retry.json().await.unwrap();
        assert_eq!(body["totals"]["paid"], money(2000, "EUR"));
    }
    let payments = app
        .count("SELECT count(*) FROM payments WHERE invoice_id = $1", id)
        .await;
    assert_eq!(payments, 1);

    // The same key for another amount is a mistake, not a retry.
    assert_problem(
        pay_once(&app, &staff, id, "desk-42", 3000).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
    )
    .await;
    // A new key is a new payment.
    assert_eq!(
        pay_once(&app, &staff, id, "desk-43", 1000).await.status(),
        StatusCode::CREATED
    );
    let payments = app
        .count("SELECT count(*) FROM payments WHERE invoice_id = $1", id)
        .await;
    assert_eq!(payments, 2);
}
