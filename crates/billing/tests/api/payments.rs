//! Payments, credits, refunds and voids: staff only, every refusal distinct,
//! nothing ever edited.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use async_trait::async_trait;
use billing::payment_provider::{PaymentError, PaymentProvider, Receipt, Transfer};
use platform::{
    auth::Role,
    testing::{assert_problem, eventually, User, WAIT},
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
    for table in [
        "invoice_lines",
        "payments",
        "invoice_events",
        "payment_attempts",
    ] {
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
    // Neither is what a payment attempt asked for, nor the outcome of a completed one.
    for edit in [
        "UPDATE payment_attempts SET amount_minor = 1 WHERE invoice_id = $1",
        "UPDATE payment_attempts SET status = 'failed', failure = 'declined' WHERE invoice_id = $1",
    ] {
        let edit = sqlx::query(edit).bind(id).execute(&app.db).await;
        assert!(edit.is_err(), "payment_attempts rows were edited");
    }
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

/// A payment processor that keeps the provider contract — one transfer per
/// key however often and however concurrently it is asked, the same receipt
/// each time — and remembers every ask. It can be made to be unreachable for
/// the next asks, or slow: its next ask then waits until the test lets it go.
#[derive(Default)]
struct Processor {
    /// Every key asked for, in order.
    asks: Mutex<Vec<Uuid>>,
    /// The transfers made: what was moved under each key.
    transfers: Mutex<HashMap<Uuid, (&'static str, Uuid, i64)>>,
    /// Asks for a key with a different transfer than its first (a broken contract).
    conflicts: AtomicUsize,
    /// How many of the next asks fail as unreachable.
    outages: AtomicUsize,
    /// How many of the next asks wait for `release`.
    slow: AtomicUsize,
    /// Told when a slow ask is waiting.
    waiting: tokio::sync::Notify,
    /// Lets the waiting ask go on.
    release: tokio::sync::Notify,
}

impl Processor {
    fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn provider(self: &Arc<Self>) -> Option<Arc<dyn PaymentProvider>> {
        let provider: Arc<dyn PaymentProvider> = self.clone();
        Some(provider)
    }

    fn asks(&self) -> Vec<Uuid> {
        self.asks.lock().unwrap().clone()
    }

    /// The keys of the transfers made.
    fn transfers(&self) -> Vec<Uuid> {
        self.transfers.lock().unwrap().keys().copied().collect()
    }

    /// Let the waiting slow ask go on.
    fn release(&self) {
        self.release.notify_one();
    }

    fn take(counter: &AtomicUsize) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    async fn transfer(&self, kind: &'static str, t: &Transfer) -> Result<Receipt, PaymentError> {
        self.asks.lock().unwrap().push(t.payment_id);
        if Self::take(&self.slow) {
            self.waiting.notify_one();
            self.release.notified().await;
        }
        if Self::take(&self.outages) {
            return Err(PaymentError::Unavailable("connect timeout".into()));
        }
        let asked = (kind, t.invoice_id, t.amount.amount_minor);
        let mut transfers = self.transfers.lock().unwrap();
        let made = transfers.entry(t.payment_id).or_insert(asked);
        if *made != asked {
            self.conflicts.fetch_add(1, Ordering::SeqCst);
        }
        Ok(Receipt {
            provider_reference: Some(format!("tr_{}", t.payment_id.simple())),
        })
    }
}

#[async_trait]
impl PaymentProvider for Processor {
    fn name(&self) -> &'static str {
        "processor"
    }
    async fn collect(&self, t: &Transfer) -> Result<Receipt, PaymentError> {
        self.transfer("payment", t).await
    }
    async fn refund(&self, t: &Transfer) -> Result<Receipt, PaymentError> {
        self.transfer("refund", t).await
    }
}

/// The ids of the invoice's payment rows, oldest first.
async fn payment_ids(app: &TestApp, id: Uuid) -> Vec<Uuid> {
    sqlx::query_scalar("SELECT id FROM payments WHERE invoice_id = $1 ORDER BY recorded_at, id")
        .bind(id)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

async fn attempt_status(app: &TestApp, attempt: Uuid) -> String {
    sqlx::query_scalar("SELECT status FROM payment_attempts WHERE id = $1")
        .bind(attempt)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Make the next commit that records a payment fail, once — as a lost
/// connection or a failover would, after the provider already moved the money.
async fn fail_the_next_payment_commit(app: &TestApp) {
    sqlx::raw_sql(
        "CREATE SEQUENCE payment_commits;
         CREATE FUNCTION fail_first_payment_commit() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF nextval('payment_commits') = 1 THEN
                 RAISE EXCEPTION 'simulated commit failure';
             END IF;
             RETURN NULL;
         END $$;
         CREATE CONSTRAINT TRIGGER fail_first_payment_commit AFTER INSERT ON payments
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_first_payment_commit();",
    )
    .execute(&app.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_payment_whose_recording_failed_is_completed_by_its_retry_with_one_transfer() {
    let processor = Processor::new();
    let app = spawn_app_with(|_| {}, processor.provider()).await;
    let (patient, provider, staff) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Staff),
    );
    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;
    fail_the_next_payment_commit(&app).await;

    // The provider takes the money, then recording it fails.
    let first = pay_once(&app, &staff, id, "desk-7", 2000).await;
    assert!(first.status().is_server_error(), "{}", first.status());
    let transfer = processor.asks()[0];
    assert_eq!(processor.transfers(), [transfer]);
    assert!(payment_ids(&app, id).await.is_empty());
    assert_eq!(attempt_status(&app, transfer).await, "pending");

    // The desk retries with the same key: the same transfer, recorded once.
    let retry = pay_once(&app, &staff, id, "desk-7", 2000).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    let body: Value = retry.json().await.unwrap();
    assert_eq!(body["totals"]["paid"], money(2000, "EUR"));
    assert_eq!(body["payments"][0]["id"], json!(transfer));
    assert_eq!(processor.asks(), [transfer, transfer]);
    assert_eq!(processor.transfers(), [transfer]);
    assert_eq!(payment_ids(&app, id).await, [transfer]);
    assert_eq!(attempt_status(&app, transfer).await, "completed");
    let recorded = app
        .count(
            "SELECT count(*) FROM invoice_events WHERE invoice_id = $1 AND action = 'payment_recorded'",
            id,
        )
        .await;
    assert_eq!(recorded, 1);

    // Once recorded, a retry answers without asking the provider again.
    let again = pay_once(&app, &staff, id, "desk-7", 2000).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(processor.asks().len(), 2);
    assert_eq!(payment_ids(&app, id).await, [transfer]);
    assert_eq!(processor.conflicts.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn concurrent_copies_of_one_payment_make_one_transfer() {
    let processor = Processor::new();
    let app = spawn_app_with(|_| {}, processor.provider()).await;
    let (patient, provider, staff) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Staff),
    );
    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;

    let answers = futures_util::future::join_all(
        (0..5).map(|_| pay_once(&app, &staff, id, "double-click", 2500)),
    )
    .await;
    for r in answers {
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["totals"]["paid"], money(2500, "EUR"));
    }
    let transfers = processor.transfers();
    assert_eq!(transfers.len(), 1, "one transfer at the provider");
    assert!(processor.asks().iter().all(|k| *k == transfers[0]));
    assert_eq!(payment_ids(&app, id).await, transfers);
    assert_eq!(processor.conflicts.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_slow_provider_leaves_the_invoice_unlocked_and_its_amount_held_back() {
    let processor = Processor::new();
    let app = spawn_app_with(|_| {}, processor.provider()).await;
    let (patient, provider, staff) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Staff),
    );
    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;
    let invoice = app.get_ok(&staff, &format!("/api/v1/invoices/{id}")).await;
    let line = invoice["lines"][0]["id"].as_str().unwrap().to_owned();
    processor.slow.store(1, Ordering::SeqCst);

    // No Idempotency-Key: the attempt is made up and stored before the provider is asked.
    let paying = app.pay(&staff, id, 2000, "EUR");
    let meanwhile = async {
        processor.waiting.notified().await;
        let in_flight = processor.asks()[0];
        assert_eq!(attempt_status(&app, in_flight).await, "pending");

        // Nobody holds the invoice's row lock…
        let mut tx = app.db.begin().await.unwrap();
        let locked = sqlx::query("SELECT id FROM invoices WHERE id = $1 FOR UPDATE NOWAIT")
            .bind(id)
            .execute(&mut *tx)
            .await;
        assert!(
            locked.is_ok(),
            "the invoice is locked while the provider is asked"
        );
        tx.rollback().await.unwrap();
        // …so it is read and changed as usual.
        let seen = app
            .get_ok(&patient, &format!("/api/v1/invoices/{id}"))
            .await;
        assert_eq!(seen["totals"]["paid"], money(0, "EUR"));
        let credit = app
            .post(
                &staff,
                &format!("/api/v1/invoices/{id}/credits"),
                &json!({"line_id": line, "amount": money(1000, "EUR"), "reason": "Goodwill"}),
            )
            .await;
        assert_eq!(credit.status(), StatusCode::CREATED);
        // The money in flight counts: 5000 is due, 2000 of it is being paid.
        assert_problem(
            app.pay(&staff, id, 3001, "EUR").await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "payment-exceeds-balance",
        )
        .await;
        assert_problem(
            app.post(
                &staff,
                &format!("/api/v1/invoices/{id}/void"),
                &json!({"reason": "error"}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invoice-has-payments",
        )
        .await;
        processor.release();
        in_flight
    };
    let (paid, in_flight) = tokio::join!(paying, meanwhile);

    assert_eq!(paid.status(), StatusCode::CREATED);
    let body: Value = paid.json().await.unwrap();
    assert_eq!(body["totals"]["gross"], money(5000, "EUR"));
    assert_eq!(body["totals"]["paid"], money(2000, "EUR"));
    assert_eq!(body["totals"]["due"], money(3000, "EUR"));
    assert_eq!(payment_ids(&app, id).await, [in_flight]);
    assert_eq!(attempt_status(&app, in_flight).await, "completed");
    assert_eq!(processor.asks(), [in_flight]);
}

#[tokio::test]
async fn a_provider_outage_is_a_problem_and_the_retry_asks_for_the_same_transfer() {
    let processor = Processor::new();
    let app = spawn_app_with(|_| {}, processor.provider()).await;
    let (patient, provider, staff) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Staff),
    );
    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;
    let before = snapshot(&app, id).await;
    processor.outages.store(1, Ordering::SeqCst);

    let r = pay_once(&app, &staff, id, "desk-9", 6000).await;
    assert_eq!(r.headers()["retry-after"], "5");
    let body = assert_problem(
        r,
        StatusCode::SERVICE_UNAVAILABLE,
        "payment-provider-unavailable",
    )
    .await;
    assert!(!body.to_string().contains("connect timeout"), "{body}");
    assert_eq!(snapshot(&app, id).await, before, "nothing was recorded");
    let key = processor.asks()[0];
    assert_eq!(attempt_status(&app, key).await, "failed");
    assert!(processor.transfers().is_empty());

    // The failed attempt holds nothing back: the retry passes the rules again.
    let r = pay_once(&app, &staff, id, "desk-9", 6000).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "paid");
    assert_eq!(processor.asks(), [key, key]);
    assert_eq!(processor.transfers(), [key]);
    assert_eq!(payment_ids(&app, id).await, [key]);
    assert_eq!(attempt_status(&app, key).await, "completed");
    assert_eq!(app.outbox("invoice.paid").await.len(), 1);
}

#[tokio::test]
async fn refunds_survive_outages_and_lost_commits_with_one_transfer() {
    let processor = Processor::new();
    let app = spawn_app_with(|_| {}, processor.provider()).await;
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
    let credited = app
        .post(
            &staff,
            &format!("/api/v1/invoices/{id}/credits"),
            &json!({"line_id": line, "amount": money(2000, "EUR"), "reason": "Goodwill"}),
        )
        .await;
    assert_eq!(credited.status(), StatusCode::CREATED);
    let refund = || {
        app.request(
            Method::POST,
            &format!("/api/v1/invoices/{id}/refunds"),
            &staff,
        )
        .header("idempotency-key", "refund-1")
        .json(&json!({"amount": money(2000, "EUR"), "method": "card"}))
        .send()
    };

    // Unreachable, then reached but not recorded, then recorded: one refund.
    processor.outages.store(1, Ordering::SeqCst);
    assert_problem(
        refund().await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
        "payment-provider-unavailable",
    )
    .await;
    fail_the_next_payment_commit(&app).await;
    assert!(refund().await.unwrap().status().is_server_error());
    let r = refund().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["totals"]["paid"], money(4000, "EUR"));
    assert_eq!(body["totals"]["due"], money(0, "EUR"));

    let asks = processor.asks();
    let key = asks[3];
    assert_eq!(
        asks[1..],
        [key, key, key],
        "every try asked for one transfer"
    );
    assert_eq!(processor.transfers().len(), 2, "the payment and the refund");
    let refunds: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM payments WHERE invoice_id = $1 AND kind = 'refund'")
            .bind(id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(refunds, [key]);
    assert_eq!(processor.conflicts.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_payment_answered_before_attempts_were_recorded_is_not_taken_again() {
    let processor = Processor::new();
    let app = spawn_app_with(|_| {}, processor.provider()).await;
    let (patient, provider, staff) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Staff),
    );
    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;
    // As the earlier release stored it: the key, the request's digest, the answer.
    sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body)
         VALUES ($1, 'desk-1', sha256(convert_to('pay|' || $2 || '|2000|EUR|Card|', 'UTF8')), 201, '{}')",
    )
    .bind(staff.id)
    .bind(id.to_string())
    .execute(&app.db)
    .await
    .unwrap();

    assert_eq!(
        pay_once(&app, &staff, id, "desk-1", 2000).await.status(),
        StatusCode::CREATED
    );
    assert_problem(
        pay_once(&app, &staff, id, "desk-1", 3000).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
    )
    .await;
    assert!(processor.asks().is_empty());
    assert!(payment_ids(&app, id).await.is_empty());
}

#[tokio::test]
async fn a_payment_is_recorded_even_when_its_client_stops_waiting() {
    let processor = Processor::new();
    let app = spawn_app_with(|_| {}, processor.provider()).await;
    let (patient, provider, staff) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Staff),
    );
    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;
    processor.slow.store(1, Ordering::SeqCst);

    let impatient = app
        .request(
            Method::POST,
            &format!("/api/v1/invoices/{id}/payments"),
            &staff,
        )
        .json(&json!({"amount": money(6000, "EUR"), "method": "card"}))
        .send();
    let gone = async {
        processor.waiting.notified().await;
    };
    // The client hangs up while the provider is being asked…
    tokio::select! {
        _ = impatient => panic!("answered before the provider did"),
        () = gone => {}
    }
    processor.release();

    // …and the money that moved is recorded all the same.
    let key = processor.asks()[0];
    let recorded = eventually(WAIT, "the payment", || async {
        let ids = payment_ids(&app, id).await;
        (!ids.is_empty()).then_some(ids)
    })
    .await;
    assert_eq!(recorded, [key]);
    assert_eq!(attempt_status(&app, key).await, "completed");
    let invoice = app.get_ok(&staff, &format!("/api/v1/invoices/{id}")).await;
    assert_eq!(invoice["status"], "paid");
}
