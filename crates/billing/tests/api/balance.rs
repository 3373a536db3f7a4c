//! A patient's open balance: cached in Redis, deleted after every change to
//! their invoices, served from the database when Redis is away.

use std::time::Duration;

use platform::{
    auth::Role,
    testing::{assert_problem, eventually, WAIT},
};
use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{money, spawn_app, spawn_app_with, Visit};

#[tokio::test]
async fn the_balance_is_cached_and_a_payment_invalidates_it() {
    let app = spawn_app().await;
    let (patient, provider, staff) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Staff),
    );
    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;
    let path = format!("/api/v1/patients/{}/balance", patient.id);
    let (mut redis, key) = app.balance_key(patient.id).await;
    assert!(!key.contains("Consultation"));

    // The invoice's own invalidation runs just after its event commits; a read
    // racing it is (rightly) not cached, so read until one fills the cache.
    let first = eventually(WAIT, "a read to fill the cache", || {
        let (mut redis, key, path) = (redis.clone(), key.clone(), path.clone());
        let app = &app;
        let patient = &patient;
        async move {
            let b = app.get_ok(patient, &path).await;
            let cached: Option<String> = redis.get(&key).await.ok()?;
            cached.map(|_| b)
        }
    })
    .await;
    assert_eq!(first["balances"], json!([money(6000, "EUR")]));
    assert_eq!(first["open_invoices"], 1);

    // The cache answers: a change behind the service's back is not seen…
    sqlx::query("UPDATE invoices SET gross_minor = 9999 WHERE id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(app.get_ok(&staff, &path).await, first);

    // …but a payment through the service deletes the entry.
    assert_eq!(
        app.pay(&staff, id, 1000, "EUR").await.status(),
        StatusCode::CREATED
    );
    let cached: Option<String> = redis.get(&key).await.unwrap();
    assert!(cached.is_none(), "the payment deleted {key}");
    let after = app.get_ok(&patient, &path).await;
    // The payment recomputed the totals from the lines: 6000 − 1000.
    assert_eq!(after["balances"], json!([money(5000, "EUR")]));
}

#[tokio::test]
async fn a_new_invoice_from_an_event_invalidates_the_cached_balance() {
    let app = spawn_app().await;
    let (patient, provider) = (app.user(Role::Patient), app.user(Role::Provider));
    let path = format!("/api/v1/patients/{}/balance", patient.id);
    let empty = app.get_ok(&patient, &path).await;
    assert_eq!(empty["balances"], json!([]));
    assert_eq!(empty["open_invoices"], 0);
    let (mut redis, key) = app.balance_key(patient.id).await;
    assert!(redis
        .get::<_, Option<String>>(&key)
        .await
        .unwrap()
        .is_some());

    app.completed_invoice(&Visit::new(&patient, &provider))
        .await;
    eventually(WAIT, "the new balance", || async {
        let b = app.get_ok(&patient, &path).await;
        (b["balances"] == json!([money(6000, "EUR")])).then_some(())
    })
    .await;
}

#[tokio::test]
async fn balances_are_per_currency_and_for_the_patient_and_staff_only() {
    let app = spawn_app().await;
    let (patient, provider, staff) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Staff),
    );
    let mut usd = Visit::new(&patient, &provider);
    usd.currency = "USD";
    usd.price_minor = 12_000;
    app.completed_invoice(&Visit::new(&patient, &provider))
        .await;
    app.completed_invoice(&usd).await;
    let path = format!("/api/v1/patients/{}/balance", patient.id);
    let b = app.get_ok(&staff, &path).await;
    assert_eq!(
        b["balances"],
        json!([money(6000, "EUR"), money(12_000, "USD")])
    );
    assert_eq!(b["open_invoices"], 2);
    for who in [app.user(Role::Patient), provider] {
        assert_problem(
            app.get(&who, &path).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
}

#[tokio::test]
async fn without_redis_balances_come_from_the_database() {
    let app = spawn_app_with(
        |c| c.common.redis_url = "redis://127.0.0.1:1".to_owned(),
        None,
    )
    .await;
    let (patient, provider, staff) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Staff),
    );
    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;
    let path = format!("/api/v1/patients/{}/balance", patient.id);
    let started = std::time::Instant::now();
    assert_eq!(
        app.get_ok(&patient, &path).await["balances"],
        json!([money(6000, "EUR")])
    );
    assert_eq!(
        app.pay(&staff, id, 6000, "EUR").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.get_ok(&patient, &path).await["balances"], json!([]));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no waiting on Redis"
    );
}
