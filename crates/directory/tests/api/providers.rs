//! Provider profiles: created from registrations, edited by their provider or
//! the front desk, validated.

use contracts::{
    directory::{PatientUpdated, ProviderUpdated},
    Event,
};
use platform::{
    auth::Role,
    testing::{assert_problem, Anonymous},
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::spawn_app;
use platform::testing::user_registered;
use platform::testing::{error_fields, EventTap};

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

#[tokio::test]
async fn a_registered_provider_gets_a_profile_and_its_time_zone_is_published() {
    let app = spawn_app().await;
    let mut tap = EventTap::bind(&app.backing, &[ProviderUpdated::TYPE]).await;
    let id = Uuid::now_v7();
    let registered = user_registered(id, Role::Provider, "Dr. New Comer");
    app.deliver(&registered).await;

    let profile = app
        .get_ok(&app.user(Role::Staff), &format!("/api/v1/providers/{id}"))
        .await;
    assert_eq!(profile["name"], "Dr. New Comer");
    assert_eq!(profile["specialty"], "General practice");
    assert_eq!(profile["time_zone"], "UTC");
    assert_eq!(profile["accepting_new_patients"], true);
    assert_eq!(profile["languages"], json!([]));

    let event = tap.next().await;
    assert_eq!(event.event_type, ProviderUpdated::TYPE);
    assert_eq!(event.source, "directory");
    assert_eq!(event.version, 1);
    assert_eq!(event.correlation_id, Some(registered.id));
    assert_eq!(
        event.data,
        json!(ProviderUpdated {
            provider_id: id,
            name: "Dr. New Comer".into(),
            specialty: "General practice".into(),
            time_zone: "UTC".into(),
            accepting_new_patients: true,
        })
    );

    // A redelivered registration changes nothing and publishes nothing. The
    // queue is FIFO: once a later registration is applied, so was the duplicate.
    app.publish(&registered).await;
    app.deliver(&user_registered(
        Uuid::now_v7(),
        Role::Patient,
        "Later Patient",
    ))
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
    let mut tap =
        EventTap::bind(&app.backing, &[PatientUpdated::TYPE, ProviderUpdated::TYPE]).await;
    app.deliver(&user_registered(Uuid::now_v7(), Role::Staff, "Sam Desk"))
        .await;
    let patient_id = Uuid::now_v7();
    app.deliver(&user_registered(patient_id, Role::Patient, "Paula Patient"))
        .await;

    let patient = app.user_with_id(patient_id, Role::Patient);
    let me = app.get_ok(&patient, "/api/v1/patients/me").await;
    assert_eq!(me["id"], json!(patient_id));
    assert_eq!(me["name"], "Paula Patient");
    assert_eq!(me["email"], format!("{}@example.org", patient_id.simple()));
    assert_eq!(me["preferred_provider_id"], Value::Null);

    let event = tap.next().await;
    assert_eq!(event.event_type, PatientUpdated::TYPE);
    assert_eq!(
        event.decode::<PatientUpdated>().unwrap().patient_id,
        patient_id
    );
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
    let mut tap = EventTap::bind(&app.backing, &[ProviderUpdated::TYPE]).await;
    let provider = app.user_with_id(id, Role::Provider);

    let r = app
        .put(
            &provider,
            &format!("/api/v1/providers/{id}"),
            &profile("Europe/Berlin"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["languages"], json!(["de", "en"]));
    assert_eq!(body["time_zone"], "Europe/Berlin");

    let read = app
        .get_ok(&app.user(Role::Staff), &format!("/api/v1/providers/{id}"))
        .await;
    assert_eq!(read, body);
    assert_eq!(read["bio"], "Preventive care.\nHouse calls on Fridays.");
    assert_eq!(read["accepting_new_patients"], false);

    let event = tap.next().await.decode::<ProviderUpdated>().unwrap();
    assert_eq!(event.provider_id, id);
    assert_eq!(event.time_zone, "Europe/Berlin");
    assert!(!event.accepting_new_patients);
}

#[tokio::test]
async fn another_provider_or_a_patient_cannot_edit_and_staff_and_admins_can() {
    let app = spawn_app().await;
    let id = app
        .insert_provider("Dr. L. Vogel", "General practice", "")
        .await;
    let path = format!("/api/v1/providers/{id}");

    let other = app.user(Role::Provider);
    let r = app.put(&other, &path, &profile("Europe/Berlin")).await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let patient = app.user(Role::Patient);
    let r = app.put(&patient, &path, &profile("Europe/Berlin")).await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.outbox(ProviderUpdated::TYPE).await.len(), 0);

    let r = app
        .put(&app.user(Role::Staff), &path, &profile("Europe/Berlin"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .put(&app.user(Role::Admin), &path, &profile("Asia/Kolkata"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let read = app.get_ok(&patient, &path).await;
    assert_eq!(read["time_zone"], "Asia/Kolkata");
    assert_eq!(app.outbox(ProviderUpdated::TYPE).await.len(), 2);
}

#[tokio::test]
async fn an_unknown_time_zone_and_oversized_fields_are_422_with_field_errors() {
    let app = spawn_app().await;
    let id = app
        .insert_provider("Dr. L. Vogel", "General practice", "")
        .await;
    let path = format!("/api/v1/providers/{id}");
    let provider = app.user_with_id(id, Role::Provider);

    let r = app
        .put(&provider, &path, &profile("Mars/Olympus_Mons"))
        .await;
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    assert_eq!(error_fields(&problem), ["time_zone"]);

    let mut body = profile("europe/berlin");
    body["bio"] = json!("x".repeat(2001));
    body["name"] = json!("   ");
    body["languages"] = json!(["english"]);
    let r = app.put(&provider, &path, &body).await;
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    assert_eq!(
        error_fields(&problem),
        ["name", "bio", "languages", "time_zone"]
    );

    // Nothing changed, nothing published.
    let read = app.get_ok(&provider, &path).await;
    assert_eq!(read["time_zone"], "UTC");
    assert_eq!(app.outbox(ProviderUpdated::TYPE).await.len(), 0);
}

#[tokio::test]
async fn malformed_and_misshapen_bodies_are_problems() {
    let app = spawn_app().await;
    let id = app
        .insert_provider("Dr. L. Vogel", "General practice", "")
        .await;
    let path = format!("/api/v1/providers/{id}");
    let provider = app.user_with_id(id, Role::Provider);
    let put_raw = |body: String| {
        app.request(Method::PUT, &path, &provider)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let r = put_raw("{\"name\": ".to_owned()).await.unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST, "malformed-json").await;
    let mut body = profile("UTC");
    body["is_admin"] = json!(true);
    let r = app.put(&provider, &path, &body).await;
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-body").await;
    assert!(problem["detail"].as_str().unwrap().contains("is_admin"));
    let r = app
        .put(
            &provider,
            &path,
            &json!({"name": "Dr. X", "time_zone": "UTC"}),
        )
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-body").await;
    let mut body = profile("UTC");
    body["accepting_new_patients"] = json!("yes");
    let r = app.put(&provider, &path, &body).await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-body").await;
    let huge = "x".repeat(70 * 1024);
    let r = put_raw(format!("{{\"name\": \"{huge}\"}}")).await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn unknown_providers_are_404_and_bad_ids_400() {
    let app = spawn_app().await;
    let staff = app.user(Role::Staff);
    let unknown = Uuid::now_v7();
    let r = app
        .get(&staff, &format!("/api/v1/providers/{unknown}"))
        .await;
    assert_problem(r, StatusCode::NOT_FOUND, "provider-not-found").await;
    let r = app
        .put(
            &staff,
            &format!("/api/v1/providers/{unknown}"),
            &profile("UTC"),
        )
        .await;
    assert_problem(r, StatusCode::NOT_FOUND, "provider-not-found").await;
    let r = app.get(&staff, "/api/v1/providers/not-a-uuid").await;
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
        let r = app.get(&Anonymous, &path).await;
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
    let r = app.get(&forged, "/api/v1/providers").await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
