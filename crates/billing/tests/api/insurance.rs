//! Patients' insurance details: kept here, shown on invoices, billed to.

use platform::{auth::Role, testing::assert_problem};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Visit};

#[tokio::test]
async fn patients_keep_their_insurance_and_see_it_on_their_invoices() {
    let app = spawn_app().await;
    let (patient, provider, staff, stranger) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Staff),
        app.user(Role::Patient),
    );
    let path = format!("/api/v1/patients/{}/insurance", patient.id);
    assert_problem(
        app.get(&patient, &path).await,
        StatusCode::NOT_FOUND,
        "insurance-not-found",
    )
    .await;

    let r = app
        .put(
            &patient,
            &path,
            &json!({"payer": " Techniker Krankenkasse ", "member_id": "A123456789"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v1: Value = r.json().await.unwrap();
    assert_eq!(v1["payer"], "Techniker Krankenkasse");
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["group_number"], Value::Null);

    let r = app
        .put(
            &staff,
            &path,
            &json!({"payer": "Aetna", "member_id": "W1", "group_number": "G-7"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let current = app.get_ok(&patient, &path).await;
    assert_eq!(
        (
            &current["payer"],
            &current["group_number"],
            &current["version"]
        ),
        (&json!("Aetna"), &json!("G-7"), &json!(2))
    );
    assert_eq!(app.get_ok(&staff, &path).await, current);
    // Earlier versions are kept.
    assert_eq!(
        app.count(
            "SELECT count(*) FROM patient_insurance WHERE patient_id = $1",
            patient.id
        )
        .await,
        2
    );

    // Nobody else reads or writes it, whether or not it exists.
    for who in [&stranger, &provider] {
        assert_problem(
            app.get(who, &path).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        assert_problem(
            app.put(who, &path, &json!({"payer": "X", "member_id": "Y"}))
                .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    let body = assert_problem(
        app.put(
            &patient,
            &path,
            &json!({"payer": "", "member_id": "x".repeat(65)}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["payer", "member_id"]);

    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;
    let invoice = app
        .get_ok(&patient, &format!("/api/v1/invoices/{id}"))
        .await;
    assert_eq!(
        invoice["insurance"],
        json!({"payer": "Aetna", "member_id": "W1", "group_number": "G-7"})
    );
}

#[tokio::test]
async fn billing_to_insurance_keeps_the_details_billed() {
    let app = spawn_app().await;
    let (patient, provider, staff) = (
        app.user(Role::Patient),
        app.user(Role::Provider),
        app.user(Role::Staff),
    );
    let id = app
        .completed_invoice(&Visit::new(&patient, &provider))
        .await;
    let bill = format!("/api/v1/invoices/{id}/bill-to-insurance");
    assert_problem(
        app.post(&staff, &bill, &json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "insurance-missing",
    )
    .await;
    let insurance = format!("/api/v1/patients/{}/insurance", patient.id);
    app.put(
        &patient,
        &insurance,
        &json!({"payer": "Aetna", "member_id": "W1"}),
    )
    .await;
    assert_problem(
        app.post(&patient, &bill, &json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    let r = app.post(&staff, &bill, &json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let billed: Value = r.json().await.unwrap();
    assert!(billed["billed_to_insurance_at"].is_string());
    assert_eq!(billed["insurance"]["member_id"], "W1");

    // A later change of insurance does not rewrite what was billed.
    app.put(
        &patient,
        &insurance,
        &json!({"payer": "Cigna", "member_id": "C2"}),
    )
    .await;
    let invoice = app
        .get_ok(&patient, &format!("/api/v1/invoices/{id}"))
        .await;
    assert_eq!(invoice["insurance"]["payer"], "Aetna");
    assert_problem(
        app.post(&staff, &bill, &json!({})).await,
        StatusCode::CONFLICT,
        "already-billed-to-insurance",
    )
    .await;
    let history = app
        .get_ok(&staff, &format!("/api/v1/invoices/{id}/history"))
        .await;
    assert_eq!(history[1]["action"], "billed_to_insurance");
    assert_eq!(history[1]["actor_id"], json!(staff.id));
}
