//! Provider profiles: created from registrations, edited by their provider or
//! the front desk, validated.

use platform::{auth::Role, testing::eventually};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{
    assert_problem, error_fields, spawn_app, user_registered, EventTap, TestApp, WAIT,
};

fn profile(time_zone: &str) -> Value {
    json!({
        "name": "Dr. Lena Vogel",
        "specialty": "Family medicine",
        "bio": "Preventive care.\nHouse calls on Fridays.",
        "languages": ["DE", "en"],
        "location": "Berlin Mitte",
        "time_zone": time_zone,
        "accepting_new_patients": false,
    })
}

async fn wait_for_provider(app: &TestApp, id: Uuid) -> Value {
    let token = app.staff();
    eventually(WAIT, "the provider profile", || async {
        let r = app.get_as(&format!("/api/v1/providers/{id}"), &token).await;
        if r.status() == StatusCode::OK {
            r.json::<Value>().await.ok()
        } else {
            None
        }
    })
    .await
}

#[tokio::test]
async fn a_registered_provider_gets_a_profile_and_its_time_zone_is_published() {
    let app = spawn_app().await;
    let mut tap = EventTap::bind(&app, &["provider.updated"]).await;
    let id = Uuid::now_v7();
    let registered = user_registered(id, Role::Provider, "Dr. New Comer");
    app.publish(&registered).await;

    let profile = wait_for_provider(&app, id).await;
    assert_eq!(profile["name"], "Dr. New Comer");
    assert_eq!(profile["specialty"], "General practice");
    assert_eq!(profile["time_zone"], "UTC");
    assert_eq!(profile["accepting_new_patients"], true);
    assert_eq!(profile["languages"], json!([]));

    let event = tap.next().await;
    assert_eq!(event.event_type, "provider.updated");
    assert_eq!(event.source, "directory");
    assert_eq!(event.version, 1);
    assert_eq!(event.correlation_id, Some(registered.id));
    assert_eq!(
        event.data,
        json!({
            "provider_id": id,
            "name": "Dr. New Comer",
            "specialty": "General practice",
            "time_zone": "UTC",
            "accepting_new_patients": true,
        })
    );

    // A redelivered registration changes nothing and publishes nothing. The
    // queue is FIFO: once a later registration is applied, so was the duplicate.
    app.publish(&registered).await;
    let later = Uuid::now_v7();
    app.publish(&user_registered(later, Role::Patient, "Later Patient"))
        .await;
    eventually(WAIT, "the later registration", || async {
        sqlx::query_scalar::<_, Uuid>("SELECT id FROM patients WHERE id = $1")
            .bind(later)
            .fetch_optional(&app.db)
            .await
            .ok()
            .flatten()
    })
    .await;
    tap.assert_quiet().await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM providers")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn a_registered_patient_gets_a_profile_and_staff_get_none() {
    let app = spawn_app().await;
    let mut tap = EventTap::bind(&app, &["patient.updated", "provider.updated"]).await;
    let staff_id = Uuid::now_v7();
    app.publish(&user_registered(staff_id, Role::Staff, "Sam Desk"))
        .await;
    let patient_id = Uuid::now_v7();
    app.publish(&user_registered(patient_id, Role::Patient, "Paula Patient"))
        .await;

    let token = app.token(Role::Patient, patient_id);
    let me = eventually(WAIT, "the patient profile", || async {
        let r = app.get_as("/api/v1/patients/me", &token).await;
        (r.status() == StatusCode::OK).then_some(r.json::<Value>().await.ok()?)
    })
    .await;
    assert_eq!(me["id"], json!(patient_id));
    assert_eq!(me["name"], "Paula Patient");
    assert_eq!(me["email"], format!("{}@example.org", patient_id.simple()));
    assert_eq!(me["preferred_provider_id"], Value::Null);

    let event = tap.next().await;
    assert_eq!(event.event_type, "patient.updated");
    assert_eq!(event.data["patient_id"], json!(patient_id));
    tap.assert_quiet().await;
    let providers: i64 = sqlx::query_scalar("SELECT count(*) FROM providers")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(providers, 0);
}

#[tokio::test]
async fn a_provider_edits_their_own_profile() {
    let app = spawn_app().await;
    let id = app
        .insert_provider("Dr. L. Vogel", "General practice", "")
        .await;
    let mut tap = EventTap::bind(&app, &["provider.updated"]).await;
    let token = app.token(Role::Provider, id);

    let r = app
        .put_as(
            &format!("/api/v1/providers/{id}"),
            &token,
            &profile("Europe/Berlin"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["languages"], json!(["de", "en"]));
    assert_eq!(body["time_zone"], "Europe/Berlin");

    let read = app
        .get_ok(&format!("/api/v1/providers/{id}"), &app.staff())
        .await;
    assert_eq!(read, body);
    assert_eq!(read["bio"], "Preventive care.\nHouse calls on Fridays.");
    assert_eq!(read["accepting_new_patients"], false);

    let event = tap.next().await;
    assert_eq!(event.event_type, "provider.updated");
    assert_eq!(event.data["provider_id"], json!(id));
    assert_eq!(event.data["time_zone"], "Europe/Berlin");
    assert_eq!(event.data["accepting_new_patients"], false);
}

#[tokio::test]
async fn another_provider_or_a_patient_cannot_edit_and_staff_and_admins_can() {
    let app = spawn_app().await;
    let id = app
        .insert_provider("Dr. L. Vogel", "General practice", "")
        .await;
    let path = format!("/api/v1/providers/{id}");

    let other = app.token(Role::Provider, Uuid::now_v7());
    let r = app.put_as(&path, &other, &profile("Europe/Berlin")).await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let patient = app.token(Role::Patient, Uuid::now_v7());
    let r = app.put_as(&path, &patient, &profile("Europe/Berlin")).await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.outbox_count("provider.updated").await, 0);

    let r = app
        .put_as(&path, &app.staff(), &profile("Europe/Berlin"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let admin = app.token(Role::Admin, Uuid::now_v7());
    let r = app.put_as(&path, &admin, &profile("Asia/Kolkata")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let read = app.get_ok(&path, &patient).await;
    assert_eq!(read["time_zone"], "Asia/Kolkata");
    assert_eq!(app.outbox_count("provider.updated").await, 2);
}

#[tokio::test]
async fn an_unknown_time_zone_and_oversized_fields_are_422_with_field_errors() {
    let app = spawn_app().await;
    let id = app
        .insert_provider("Dr. L. Vogel", "General practice", "")
        .await;
    let path = format!("/api/v1/providers/{id}");
    let token = app.token(Role::Provider, id);

    let r = app
        .put_as(&path, &token, &profile("Mars/Olympus_Mons"))
        .await;
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    assert_eq!(error_fields(&problem), ["time_zone"]);

    let mut body = profile("europe/berlin");
    body["bio"] = json!("x".repeat(2001));
    body["name"] = json!("   ");
    body["languages"] = json!(["english"]);
    let r = app.put_as(&path, &token, &body).await;
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    assert_eq!(
        error_fields(&problem),
        ["name", "bio", "languages", "time_zone"]
    );

    // Nothing changed, nothing published.
    let read = app.get_ok(&path, &token).await;
    assert_eq!(read["time_zone"], "UTC");
    assert_eq!(app.outbox_count("provider.updated").await, 0);
}

#[tokio::test]
async fn malformed_and_misshapen_bodies_are_problems() {
    let app = spawn_app().await;
    let id = app
        .insert_provider("Dr. L. Vogel", "General practice", "")
        .await;
    let path = format!("/api/v1/providers/{id}");
    let token = app.token(Role::Provider, id);

    let r = app.put_raw(&path, &token, "{\"name\": ").await;
    assert_problem(r, StatusCode::BAD_REQUEST, "malformed-json").await;
    let mut body = profile("UTC");
    body["is_admin"] = json!(true);
    let r = app.put_as(&path, &token, &body).await;
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-body").await;
    assert!(problem["detail"].as_str().unwrap().contains("is_admin"));
    let r = app
        .put_as(&path, &token, &json!({"name": "Dr. X", "time_zone": "UTC"}))
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-body").await;
    let mut body = profile("UTC");
    body["accepting_new_patients"] = json!("yes");
    let r = app.put_as(&path, &token, &body).await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-body").await;
    let huge = "x".repeat(70 * 1024);
    let r = app
        .put_raw(&path, &token, &format!("{{\"name\": \"{huge}\"}}"))
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn unknown_providers_are_404_and_bad_ids_400() {
    let app = spawn_app().await;
    let staff = app.staff();
    let unknown = Uuid::now_v7();
    let r = app
        .get_as(&format!("/api/v1/providers/{unknown}"), &staff)
        .await;
    assert_problem(r, StatusCode::NOT_FOUND, "provider-not-found").await;
    let r = app
        .put_as(
            &format!("/api/v1/providers/{unknown}"),
            &staff,
            &profile("UTC"),
        )
        .await;
    assert_problem(r, StatusCode::NOT_FOUND, "provider-not-found").await;
    let r = app.get_as("/api/v1/providers/not-a-uuid", &staff).await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid-path").await;
}

#[tokio::test]
async fn the_directory_requires_a_valid_token() {
    let app = spawn_app().await;
    let id = app
        .insert_provider("Dr. L. Vogel", "General practice", "")
        .await;
    for path in [
        "/api/v1/providers".to_owned(),
        format!("/api/v1/providers/{id}"),
        "/api/v1/patients/me".to_owned(),
    ] {
        let r = app.client.get(app.url(&path)).send().await.unwrap();
        assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // Signed by a key identity never published.
    let stranger = identity::SigningKeys::from_pems([(
        "stranger",
        identity::SigningKeys::generate_pem().unwrap(),
    )])
    .unwrap();
    let claims = identity::tokens::access_claims(
        id,
        Role::Admin,
        platform::config::DEFAULT_ISSUER,
        platform::config::DEFAULT_AUDIENCE,
        chrono::Utc::now(),
        600,
    );
    let forged = stranger.sign(&claims).unwrap();
    let r = app.get_as("/api/v1/providers", &forged).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
