//! Identity's events leave through the outbox and reach the broker once.

use contracts::{
    identity::{UserRegistered, VerificationRequested},
    Role,
};
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::spawn_app;
use platform::testing::EventTap;

#[tokio::test]
async fn registration_publishes_user_registered_and_a_verification_link() {
    let app = spawn_app().await;
    let mut tap = EventTap::bind(&app.backing, &["user.#"]).await;

    let r = app.register("paula@example.org").await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = app.user_id("paula@example.org").await;

    let mut seen = Vec::new();
    for _ in 0..2 {
        let (routing_key, event) = tap.next_with_key().await;
        assert_eq!(event.source, "identity");
        assert_eq!(event.version, 1);
        assert_eq!(routing_key, event.event_type);
        seen.push(event);
    }
    seen.sort_by(|a, b| a.event_type.cmp(&b.event_type));
    assert_eq!(seen[0].event_type, "user.registered");
    let user = seen[0].decode::<UserRegistered>().unwrap();
    assert_eq!(user.user_id, id);
    assert_eq!(user.role, Role::Patient);
    assert_eq!(seen[1].event_type, "user.verification_requested");
    let link = seen[1].decode::<VerificationRequested>().unwrap();
    assert_eq!(link.user_id, id);
    assert_ne!(link.user_id, Uuid::nil());

    // Nothing more; and the outbox rows are marked sent.
    tap.assert_quiet().await;
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(unsent, 0);
}

#[tokio::test]
async fn a_refused_registration_publishes_nothing() {
    let app = spawn_app().await;
    let r = app
        .post(
            &platform::testing::Anonymous,
            "/api/v1/auth/register",
            &serde_json::json!({"email": "paula@example.org", "password": "short", "name": "P"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(events, 0);
}
