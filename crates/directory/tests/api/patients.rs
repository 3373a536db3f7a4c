//! Patient profiles: a patient's own, the front desk's view, validation and
//! the preferred provider.

use platform::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{assert_problem, error_fields, spawn_app, EventTap};

fn details() -> Value {
    json!({
        "name": "Paula Patient",
        "date_of_birth": "1988-04-12",
        "phone": "+49 30 1234-567",
        "address": {
            "line1": "Invalidenstraße 1",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "de",
        },
        "insurance": {"payer": "Demo Krankenkasse", "member_id": "A123456789"},
    })
}

#[tokio::test]
async fn a_patient_reads_and_updates_their_own_profile() {
    let app = spawn_app().await;
    let (id, token) = app.patient("Paula P.").await;
    let mut tap = EventTap::bind(&app, &["patient.updated"]).await;

    let me = app.get_ok("/api/v1/patients/me", &token).await;
    assert_eq!(me["id"], json!(id));
    assert_eq!(me["name"], "Paula P.");
    assert_eq!(me["date_of_birth"], Value::Null);

    let r = app.put_as("/api/v1/patients/me", &token, &details()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["name"], "Paula Patient");
    assert_eq!(updated["date_of_birth"], "1988-04-12");
    assert_eq!(updated["address"]["country"], "DE");
    assert_eq!(updated["address"]["line2"], Value::Null);
    assert_eq!(updated["insurance"]["member_id"], "A123456789");
    assert_eq!(updated["email"], me["email"], "email is not edited here");
    assert_eq!(app.get_ok("/api/v1/patients/me", &token).await, updated);

    let event = tap.next().await;
    assert_eq!(event.event_type, "patient.updated");
    assert_eq!(
        event.data,
        json!({
            "patient_id": id,
            "name": "Paula Patient",
            "email": me["email"],
            "preferred_provider_id": null,
        })
    );

    // PUT replaces: omitted details are cleared.
    let r = app
        .put_as(
            "/api/v1/patients/me",
            &token,
            &json!({"name": "Paula Patient"}),
        )
        .await;
    let cleared: Value = r.json().await.unwrap();
    assert_eq!(cleared["insurance"], Value::Null);
    assert_eq!(cleared["phone"], Value::Null);
}

#[tokio::test]
async fn a_patient_sets_and_clears_a_preferred_provider() {
    let app = spawn_app().await;
    let (id, token) = app.patient("Paula").await;
    let provider = app
        .insert_provider("Dr. Lena Vogel", "Family medicine", "")
        .await;
    let mut tap = EventTap::bind(&app, &["patient.updated"]).await;

    let r = app
        .put_as(
            "/api/v1/patients/me/preferred-provider",
            &token,
            &json!({"provider_id": provider}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let me = app.get_ok("/api/v1/patients/me", &token).await;
    assert_eq!(me["preferred_provider_id"], json!(provider));
    let event = tap.next().await;
    assert_eq!(event.data["patient_id"], json!(id));
    assert_eq!(event.data["preferred_provider_id"], json!(provider));

    let r = app
        .put_as(
            "/api/v1/patients/me/preferred-provider",
            &token,
            &json!({"provider_id": Uuid::now_v7()}),
        )
        .await;
    assert_problem(r, StatusCode::NOT_FOUND, "provider-not-found").await;
    let r = app
        .put_as(
            "/api/v1/patients/me/preferred-provider",
            &token,
            &json!({"provider_id": "someone nice"}),
        )
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-body").await;
    assert_eq!(
        app.get_ok("/api/v1/patients/me", &token).await["preferred_provider_id"],
        json!(provider),
        "a failed change leaves the old choice"
    );
    tap.assert_quiet().await;

    let r = app
        .delete_as("/api/v1/patients/me/preferred-provider", &token)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let me = app.get_ok("/api/v1/patients/me", &token).await;
    assert_eq!(me["preferred_provider_id"], Value::Null);
    assert_eq!(tap.next().await.data["preferred_provider_id"], Value::Null);
}

#[tokio::test]
async fn patients_never_see_another_patient_and_staff_see_all() {
    let app = spawn_app().await;
    let (a, a_token) = app.patient("Patient A").await;
    let (b, _) = app.patient("Patient B").await;

    // Another patient, existing or not: the same 403, so ids cannot be probed.
    for target in [b, Uuid::now_v7()] {
        let r = app
            .get_as(&format!("/api/v1/patients/{target}"), &a_token)
            .await;
        assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
        let r = app
            .put_as(&format!("/api/v1/patients/{target}"), &a_token, &details())
            .await;
        assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // Their own profile by id is theirs.
    let own = app.get_ok(&format!("/api/v1/patients/{a}"), &a_token).await;
    assert_eq!(own["id"], json!(a));

    // Providers are not the front desk.
    let provider = app.token(Role::Provider, Uuid::now_v7());
    let r = app
        .get_as(&format!("/api/v1/patients/{a}"), &provider)
        .await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app.get_as("/api/v1/patients/me", &provider).await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;

    let staff = app.staff();
    let seen = app.get_ok(&format!("/api/v1/patients/{b}"), &staff).await;
    assert_eq!(seen["name"], "Patient B");
    let r = app
        .put_as(&format!("/api/v1/patients/{b}"), &staff, &details())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let admin = app.token(Role::Admin, Uuid::now_v7());
    let seen = app.get_ok(&format!("/api/v1/patients/{b}"), &admin).await;
    assert_eq!(seen["insurance"]["payer"], "Demo Krankenkasse");
    let r = app
        .get_as(&format!("/api/v1/patients/{}", Uuid::now_v7()), &staff)
        .await;
    assert_problem(r, StatusCode::NOT_FOUND, "patient-not-found").await;
    let r = app.get_as("/api/v1/patients/me", &staff).await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn invalid_patient_details_are_problems_with_field_errors() {
    let app = spawn_app().await;
    let (_, token) = app.patient("Paula").await;

    let mut body = details();
    body["date_of_birth"] = json!("2999-01-01");
    body["phone"] = json!("call me maybe");
    body["name"] = json!("x".repeat(201));
    body["address"]["country"] = json!("Germany");
    body["insurance"]["member_id"] = json!("M".repeat(65));
    let r = app.put_as("/api/v1/patients/me", &token, &body).await;
    let p = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    assert_eq!(
        error_fields(&p),
        [
            "name",
            "date_of_birth",
            "phone",
            "address.country",
            "insurance.member_id"
        ]
    );

    let mut body = details();
    body["preferred_provider_id"] = json!(Uuid::now_v7());
    let r = app.put_as("/api/v1/patients/me", &token, &body).await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-body").await;
    let mut body = details();
    body["address"]["planet"] = json!("Earth");
    let r = app.put_as("/api/v1/patients/me", &token, &body).await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-body").await;
    let mut body = details();
    body["date_of_birth"] = json!("12/04/1988");
    let r = app.put_as("/api/v1/patients/me", &token, &body).await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-body").await;
    let r = app.put_raw("/api/v1/patients/me", &token, "{]").await;
    assert_problem(r, StatusCode::BAD_REQUEST, "malformed-json").await;

    // Nothing was written or published.
    let me = app.get_ok("/api/v1/patients/me", &token).await;
    assert_eq!(me["name"], "Paula");
    assert_eq!(app.outbox_count("patient.updated").await, 0);
}

#[tokio::test]
async fn a_patient_whose_profile_does_not_exist_yet_gets_404() {
    let app = spawn_app().await;
    let token = app.token(Role::Patient, Uuid::now_v7());
    let r = app.get_as("/api/v1/patients/me", &token).await;
    assert_problem(r, StatusCode::NOT_FOUND, "patient-not-found").await;
    let r = app.put_as("/api/v1/patients/me", &token, &details()).await;
    assert_problem(r, StatusCode::NOT_FOUND, "patient-not-found").await;
}
