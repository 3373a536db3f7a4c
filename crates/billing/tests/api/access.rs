//! Who sees which invoices: patients their own, providers those of their
//! appointments (read only), staff all; everyone else gets 404.

use platform::{
    auth::Role,
    testing::{assert_problem, Anonymous},
};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Visit};

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn another_patient_gets_404_and_an_empty_list() {
    let app = spawn_app().await;
    let (patient, provider, stranger) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Patient),
    );
    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;

    let path = format!("/api/v1/invoices/{id}");
    let missing = assert_problem(
        app.get(&stranger, &path).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    // Exactly what an id that exists nowhere gets: no existence leak.
    let nowhere = assert_problem(
        app.get(
            &stranger,
            &format!("/api/v1/invoices/{}", uuid::Uuid::now_v7()),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert_eq!(missing, nowhere);
    assert_eq!(
        app.get_ok(&stranger, "/api/v1/invoices").await["items"],
        json!([])
    );
    // Asking for someone else's invoices by filter shows none, not one's own.
    let filtered = app
        .get_ok(
            &stranger,
            &format!("/api/v1/invoices?patient_id={}", patient.id),
        )
        .await;
    assert_eq!(filtered["items"], json!([]));
    // The owner sees it.
    assert_eq!(
        ids(&app.get_ok(&patient, "/api/v1/invoices").await),
        [id.to_string()]
    );
    assert_eq!(app.get_ok(&patient, &path).await["id"], json!(id));
}

#[tokio::test]
async fn a_provider_reads_only_invoices_of_their_appointments() {
    let app = spawn_app().await;
    let (patient, mine, theirs, staff) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Provider),
        app.user(Role::Staff),
    );
    let own = app.completed_invoice(&Visit::new(&patient, &mine)).await;
    let other = app.completed_invoice(&Visit::new(&patient, &theirs)).await;
    let r = app
        .put(
            &patient,
            &format!("/api/v1/patients/{}/insurance", patient.id),
            &json!({"payer": "Aetna", "member_id": "M-1"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    assert_eq!(
        ids(&app.get_ok(&mine, "/api/v1/invoices").await),
        [own.to_string()]
    );
    let seen = app.get_ok(&mine, &format!("/api/v1/invoices/{own}")).await;
    assert_eq!(seen["totals"]["gross"]["amount_minor"], 6000);
    // Providers do not need the patient's member id.
    assert_eq!(seen["insurance"], Value::Null);
    assert_problem(
        app.get(&mine, &format!("/api/v1/invoices/{other}")).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    // Read only.
    assert_problem(
        app.pay(&mine, own, 100, "EUR").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // The patient sees both, with their insurance; staff see both too.
    assert_eq!(
        app.get_ok(&patient, "/api/v1/invoices").await["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let as_patient = app
        .get_ok(&patient, &format!("/api/v1/invoices/{own}"))
        .await;
    assert_eq!(as_patient["insurance"]["payer"], "Aetna");
    assert_eq!(
        app.get_ok(&staff, "/api/v1/invoices").await["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn staff_page_through_all_invoices_newest_first() {
    let app = spawn_app().await;
    let staff = app.user(Role::Staff);
    let provider = app.user(Role::Provider);
    let (a, b) = (app.user(Role::Patient), app.user(Role::Patient));
    let first = app.completed_invoice(&Visit::new(&a, &provider)).await;
    let second = app.completed_invoice(&Visit::new(&b, &provider)).await;
    let third = app.completed_invoice(&Visit::new(&a, &provider)).await;

    let page1 = app.get_ok(&staff, "/api/v1/invoices?limit=2").await;
    assert_eq!(ids(&page1), [third.to_string(), second.to_string()]);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2 = app
        .get_ok(&staff, &format!("/api/v1/invoices?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids(&page2), [first.to_string()]);
    assert_eq!(page2["next_cursor"], Value::Null);

    let of_a = app
        .get_ok(&staff, &format!("/api/v1/invoices?patient_id={}", a.id))
        .await;
    assert_eq!(ids(&of_a), [third.to_string(), first.to_string()]);
    assert_eq!(
        app.get_ok(&staff, "/api/v1/invoices?status=paid").await["items"],
        json!([])
    );
    assert_problem(
        app.get(&staff, "/api/v1/invoices?cursor=not-a-cursor")
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_problem(
        app.get(&staff, "/api/v1/invoices?limit=0").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_problem(
        app.get(&staff, "/api/v1/invoices?status=open").await,
        StatusCode::BAD_REQUEST,
        "invalid-query",
    )
    .await;
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    let app = spawn_app().await;
    let r = app.get(&Anonymous, "/api/v1/invoices").await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app.get("not.a.token", "/api/v1/invoices").await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // The OpenAPI document lists the billing routes.
    let doc = app.get_ok(&Anonymous, "/openapi.json").await;
    for path in [
        "/api/v1/invoices",
        "/api/v1/invoices/{id}/payments",
        "/api/v1/patients/{id}/balance",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
}
