//! Patient profiles: a patient's own, the front desk's view, validation, the
//! preferred provider and the time zone.

use contracts::{directory::PatientUpdated, identity::UserRegistered, Event};
use platform::{auth::Role, events::Envelope, testing::assert_problem};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::spawn_app;
use platform::testing::{error_fields, EventTap};

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
    let paula = app.patient("Paula P.").await;
    let mut tap = EventTap::bind(&app.backing, &[PatientUpdated::TYPE]).await;

    let me = app.get_ok(&paula, "/api/v1/patients/me").await;
    assert_eq!(me["id"], json!(paula.id));
    assert_eq!(me["name"], "Paula P.");
    assert_eq!(me["date_of_birth"], Value::Null);

    let r = app.put(&paula, "/api/v1/patients/me", &details()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["name"], "Paula Patient");
    assert_eq!(updated["date_of_birth"], "1988-04-12");
    assert_eq!(updated["address"]["country"], "DE");
    assert_eq!(updated["address"]["line2"], Value::Null);
    assert_eq!(updated["insurance"]["member_id"], "A123456789");
    assert_eq!(updated["email"], me["email"], "email is not edited here");
    assert_eq!(app.get_ok(&paula, "/api/v1/patients/me").await, updated);

    let event = tap.next().await;
    assert_eq!(event.event_type, PatientUpdated::TYPE);
    assert_eq!(
        event.data,
        json!(PatientUpdated {
            patient_id: paula.id,
            name: "Paula Patient".into(),
            email: me["email"].as_str().unwrap().into(),
            preferred_provider_id: None,
            time_zone: None,
        })
    );

    // PUT replaces: omitted details are cleared.
    let r = app
        .put(
            &paula,
            "/api/v1/patients/me",
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
    let paula = app.patient("Paula").await;
    let provider = app
        .insert_provider("Dr. Lena Vogel", "Family medicine", "")
        .await;
    let mut tap = EventTap::bind(&app.backing, &[PatientUpdated::TYPE]).await;

    let r = app
        .put(
            &paula,
            "/api/v1/patients/me/preferred-provider",
            &json!({"provider_id": provider}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let me = app.get_ok(&paula, "/api/v1/patients/me").await;
    assert_eq!(me["preferred_provider_id"], json!(provider));
    let event = tap.next().await.decode::<PatientUpdated>().unwrap();
    assert_eq!(event.patient_id, paula.id);
    assert_eq!(event.preferred_provider_id, Some(provider));

    let r = app
        .put(
            &paula,
            "/api/v1/patients/me/preferred-provider",
            &json!({"provider_id": Uuid::now_v7()}),
        )
        .await;
    assert_problem(r, StatusCode::NOT_FOUND, "provider-not-found").await;
    let r = app
        .put(
            &paula,
            "/api/v1/patients/me/preferred-provider",
            &json!({"provider_id": "someone nice"}),
        )
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-body").await;
    assert_eq!(
        app.get_ok(&paula, "/api/v1/patients/me").await["preferred_provider_id"],
        json!(provider),
        "a failed change leaves the old choice"
    );
    tap.assert_quiet().await;

    let r = app
        .delete(&paula, "/api/v1/patients/me/preferred-provider")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let me = app.get_ok(&paula, "/api/v1/patients/me").await;
    assert_eq!(me["preferred_provider_id"], Value::Null);
    let event = tap.next().await.decode::<PatientUpdated>().unwrap();
    assert_eq!(event.preferred_provider_id, None);
}

#[tokio::test]
async fn patients_never_see_another_patient_and_staff_see_all() {
    let app = spawn_app().await;
    let a = app.patient("Patient A").await;
    let b = app.patient("Patient B").await;

    // Another patient, existing or not: the same 403, so ids cannot be probed.
    for target in [b.id, Uuid::now_v7()] {
        let r = app.get(&a, &format!("/api/v1/patients/{target}")).await;
        assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
        let r = app
            .put(&a, &format!("/api/v1/patients/{target}"), &details())
            .await;
        assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // Their own profile by id is theirs.
    let own = app.get_ok(&a, &format!("/api/v1/patients/{}", a.id)).await;
    assert_eq!(own["id"], json!(a.id));

    // Providers are not the front desk.
    let provider = app.user(Role::Provider);
    let r = app
        .get(&provider, &format!("/api/v1/patients/{}", a.id))
        .await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app.get(&provider, "/api/v1/patients/me").await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;

    let staff = app.user(Role::Staff);
    let b_path = format!("/api/v1/patients/{}", b.id);
    let seen = app.get_ok(&staff, &b_path).await;
    assert_eq!(seen["name"], "Patient B");
    let r = app.put(&staff, &b_path, &details()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let admin = app.user(Role::Admin);
    let seen = app.get_ok(&admin, &b_path).await;
    assert_eq!(seen["insurance"]["payer"], "Demo Krankenkasse");
    let r = app
        .get(&staff, &format!("/api/v1/patients/{}", Uuid::now_v7()))
        .await;
    assert_problem(r, StatusCode::NOT_FOUND, "patient-not-found").await;
    let r = app.get(&staff, "/api/v1/patients/me").await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn invalid_patient_details_are_problems_with_field_errors() {
    let app = spawn_app().await;
    let paula = app.patient("Paula").await;

    let mut body = details();
    body["date_of_birth"] = json!("2999-01-01");
    body["phone"] = json!("call me maybe");
    body["name"] = json!("x".repeat(201));
    body["address"]["country"] = json!("Germany");
    body["insurance"]["member_id"] = json!("M".repeat(65));
    let r = app.put(&paula, "/api/v1/patients/me", &body).await;
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
    let r = app.put(&paula, "/api/v1/patients/me", &body).await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-body").await;
    let mut body = details();
    body["address"]["planet"] = json!("Earth");
    let r = app.put(&paula, "/api/v1/patients/me", &body).await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-body").await;
    let mut body = details();
    body["date_of_birth"] = json!("12/04/1988");
    let r = app.put(&paula, "/api/v1/patients/me", &body).await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-body").await;
    let r = app
        .request(Method::PUT, "/api/v1/patients/me", &paula)
        .header("content-type", "application/json")
        .body("{]")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST, "malformed-json").await;

    // Nothing was written or published.
    let me = app.get_ok(&paula, "/api/v1/patients/me").await;
    assert_eq!(me["name"], "Paula");
    assert_eq!(app.outbox(PatientUpdated::TYPE).await, Vec::<Value>::new());
}

#[tokio::test]
async fn a_patient_whose_profile_does_not_exist_yet_gets_404() {
    let app = spawn_app().await;
    let nobody = app.user(Role::Patient);
    let r = app.get(&nobody, "/api/v1/patients/me").await;
    assert_problem(r, StatusCode::NOT_FOUND, "patient-not-found").await;
    let r = app.put(&nobody, "/api/v1/patients/me", &details()).await;
    assert_problem(r, StatusCode::NOT_FOUND, "patient-not-found").await;
}

/// `user.registered` of a patient whose browser reported `time_zone`.
fn registered_in(id: Uuid, time_zone: Option<&str>) -> Envelope {
    Envelope::of::<UserRegistered>(&UserRegistered {
        user_id: id,
        role: Role::Patient,
        name: "Paula Patient".into(),
        email: format!("{}@example.org", id.simple()),
        time_zone: time_zone.map(str::to_owned),
    })
    .unwrap()
}

#[tokio::test]
async fn the_time_zone_comes_from_registration_and_is_edited_in_the_profile() {
    let app = spawn_app().await;
    let mut tap = EventTap::bind(&app.backing, &[PatientUpdated::TYPE]).await;
    let id = Uuid::now_v7();
    app.deliver(&registered_in(id, Some("America/New_York")))
        .await;
    let paula = app.user_with_id(id, Role::Patient);
    let staff = app.user(Role::Staff);
    let path = format!("/api/v1/patients/{id}");

    let me = app.get_ok(&paula, "/api/v1/patients/me").await;
    assert_eq!(me["time_zone"], "America/New_York");
    assert_eq!(
        app.get_ok(&staff, &path).await["time_zone"],
        "America/New_York"
    );
    let created = tap.next().await.decode::<PatientUpdated>().unwrap();
    assert_eq!(created.time_zone.as_deref(), Some("America/New_York"));

    // An edit that leaves the zone out keeps it (the other details are replaced).
    let r = app.put(&paula, "/api/v1/patients/me", &details()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let kept: Value = r.json().await.unwrap();
    assert_eq!(kept["time_zone"], "America/New_York");
    let event = tap.next().await.decode::<PatientUpdated>().unwrap();
    assert_eq!(event.time_zone.as_deref(), Some("America/New_York"));

    // Set by the patient, seen by staff (not a stale cached copy), announced.
    let mut body = details();
    body["time_zone"] = json!(" Europe/Berlin ");
    let r = app.put(&paula, "/api/v1/patients/me", &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap()["time_zone"],
        "Europe/Berlin"
    );
    assert_eq!(
        app.get_ok(&staff, &path).await["time_zone"],
        "Europe/Berlin"
    );
    let event = tap.next().await.decode::<PatientUpdated>().unwrap();
    assert_eq!(event.time_zone.as_deref(), Some("Europe/Berlin"));

    // An unknown zone is refused with its field; nothing changes.
    for bad in ["Mars/Olympus_Mons", "europe/berlin", "CEST"] {
        body["time_zone"] = json!(bad);
        let r = app.put(&paula, "/api/v1/patients/me", &body).await;
        let p = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
        assert_eq!(error_fields(&p), ["time_zone"]);
    }
    body["time_zone"] = json!(42);
    let r = app.put(&paula, "/api/v1/patients/me", &body).await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-body").await;
    assert_eq!(
        app.get_ok(&paula, "/api/v1/patients/me").await["time_zone"],
        "Europe/Berlin"
    );
    tap.assert_quiet().await;

    // Staff may set it too; `null` clears it.
    body["time_zone"] = json!("Asia/Kolkata");
    let r = app.put(&staff, &path, &body).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["time_zone"],
        "Asia/Kolkata"
    );
    body["time_zone"] = Value::Null;
    let r = app.put(&paula, "/api/v1/patients/me", &body).await;
    assert_eq!(r.json::<Value>().await.unwrap()["time_zone"], Value::Null);
    let events: Vec<_> = [tap.next().await, tap.next().await]
        .iter()
        .map(|e| e.decode::<PatientUpdated>().unwrap().time_zone)
        .collect();
    assert_eq!(events, [Some("Asia/Kolkata".to_owned()), None]);
}

#[tokio::test]
async fn a_registration_without_a_known_time_zone_leaves_it_unknown() {
    let app = spawn_app().await;
    let (none, unknown) = (Uuid::now_v7(), Uuid::now_v7());
    app.deliver(&registered_in(none, None)).await;
    app.deliver(&registered_in(unknown, Some("Mars/Olympus_Mons")))
        .await;
    for id in [none, unknown] {
        let me = app
            .get_ok(&app.user_with_id(id, Role::Patient), "/api/v1/patients/me")
            .await;
        assert_eq!(
            me["name"], "Paula Patient",
            "the profile is created all the same"
        );
        assert_eq!(me["time_zone"], Value::Null);
    }
    let zones: Vec<Option<String>> = app
        .published::<PatientUpdated>()
        .await
        .into_iter()
        .map(|e| e.time_zone)
        .collect();
    assert_eq!(zones, [None, None]);
}
