//! `user.registered` leaves through the outbox and reaches the broker once.

use contracts::{identity::UserRegistered, Role};
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::spawn_app;
use platform::testing::EventTap;

#[tokio::test]
async fn registration_publishes_user_registered() {
    let app = spawn_app().await;
    let mut tap = EventTap::bind(&app.backing, &["user.#"]).await;

    let r = app.register("paula@example.org").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let account: Value = r.json().await.unwrap();

    let (routing_key, event) = tap.next_with_key().await;
    assert_eq!(event.event_type, "user.registered");
    assert_eq!(event.source, "identity");
    assert_eq!(event.version, 1);
    assert_eq!(routing_key, "user.registered");
    let user = event.decode::<UserRegistered>().unwrap();
    assert_eq!(
        user.user_id,
        account["id"].as_str().unwrap().parse::<Uuid>().unwrap()
    );
    assert_eq!(user.role, Role::Patient);

    // Nothing more: one registration, one event; and the outbox row is marked sent.
    tap.assert_quiet().await;
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(unsent, 0);
}

#[tokio::test]
async fn a_failed_registration_publishes_nothing() {
    let app = spawn_app().await;
    app.register("paula@example.org").await;
    app.register("paula@example.org").await;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(events, 1);
}
