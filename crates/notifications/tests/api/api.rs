//! `GET /api/v1/notifications`: the caller's own emails and their status.

use platform::{
    auth::Role,
    testing::{assert_problem, maildev::MailDev, Anonymous},
};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_list_shows_the_callers_own_emails_with_their_status_page_by_page() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let b = app.booking(3).await;
    app.publish(&b.booked()).await;
    // Sent before the cancellation arrives (after it, they would be dropped).
    mail.wait_for(2, "two confirmations", |_| true).await;
    app.publish(&b.cancelled(2, "")).await;
    mail.wait_for(4, "four emails", |_| true).await;
    app.settled(b.appointment_id).await;

    let r = app
        .get(&b.patient.user, "/api/v1/notifications?limit=1")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page: Value = r.json().await.unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["kind"], "cancelled");
    assert_eq!(items[0]["status"], "sent");
    assert_eq!(items[0]["version"], 2);
    assert!(items[0]["subject"]
        .as_str()
        .unwrap()
        .starts_with("Appointment cancelled"));
    assert_eq!(items[0]["appointment_id"], b.appointment_id.to_string());
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let r = app
        .get(
            &b.patient.user,
            &format!("/api/v1/notifications?limit=1&cursor={cursor}"),
        )
        .await;
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["items"][0]["kind"], "booked");
    assert_eq!(page["items"][0]["status"], "sent");
    assert!(page["items"][0]["sent_at"].is_string());
    let r = app
        .get(
            &b.patient.user,
            &format!("/api/v1/notifications?cursor={cursor}"),
        )
        .await;
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_null());

    let provider: Value = app
        .get(&b.provider.user, "/api/v1/notifications")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(provider["items"].as_array().unwrap().len(), 2);
    let stranger = app.user(Role::Staff);
    let none: Value = app
        .get(&stranger, "/api/v1/notifications")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["items"], serde_json::json!([]));
}

#[tokio::test]
async fn the_list_needs_a_token_and_valid_paging() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let r = app.get(&Anonymous, "/api/v1/notifications").await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let patient = app.user(Role::Patient);
    for bad in ["limit=0", "limit=101", "cursor=xyz"] {
        let r = app
            .get(&patient, &format!("/api/v1/notifications?{bad}"))
            .await;
        let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
        assert!(problem["detail"].is_string(), "{bad}: {problem}");
    }
    let doc = app.get_ok(&Anonymous, "/openapi.json").await;
    assert!(doc["paths"]["/api/v1/notifications"]["get"].is_object());
}
