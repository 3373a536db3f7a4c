//! The access matrix end to end: who may read and write whose record.

use chrono::{Duration, Utc};
use contracts::scheduling::{AppointmentBooked, AppointmentCompleted, AppointmentStatus};
use platform::{
    auth::Role,
    events::Envelope,
    testing::{appointment, assert_problem, Anonymous},
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{notes, spawn_app};

#[tokio::test]
async fn patients_read_their_own_record_never_another_and_never_write() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let other = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    let note = app
        .note(&provider, patient.id, "Reviewed blood pressure log.")
        .await;

    let r = app.get(&patient, &notes(patient.id)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["items"][0]["id"], note["id"]);
    assert_eq!(body["items"][0]["text"], "Reviewed blood pressure log.");

    assert_problem(
        app.get(&other, &notes(patient.id)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let entry = format!("{}/{}", notes(patient.id), note["id"].as_str().unwrap());
    assert_problem(
        app.get(&other, &entry).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.post(
            &patient,
            &notes(patient.id),
            &json!({"text": "I feel fine"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.put(&patient, &entry, &json!({"text": "edited by me"}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Every attempt is in the patient's access log, refusals included.
    let log = app.access_log(&patient).await;
    let outcomes: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|e| {
            (
                e["role"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        outcomes.contains(&("provider", "create", "allowed")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("patient", "read", "allowed")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("patient", "read", "denied")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("patient", "create", "denied")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("patient", "amend", "denied")),
        "{outcomes:?}"
    );
    let denied_other = log
        .iter()
        .find(|e| e["actor_id"] == json!(other.id))
        .unwrap();
    assert_eq!(denied_other["reason"], "other_patient");
}

#[tokio::test]
async fn providers_read_and_write_only_with_a_care_relationship() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    let stranger = app.user(Role::Provider);

    let note = app.note(&provider, patient.id, "Initial consult.").await;
    assert_eq!(note["author_id"], json!(provider.id));
    assert_eq!(note["version"], 1);
    assert_eq!(
        app.get(&provider, &notes(patient.id)).await.status(),
        StatusCode::OK
    );

    assert_problem(
        app.get(&stranger, &notes(patient.id)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.post(&stranger, &notes(patient.id), &json!({"text": "x"}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let entry = format!(
        "{}/{}/history",
        notes(patient.id),
        note["id"].as_str().unwrap()
    );
    assert_problem(
        app.get(&stranger, &entry).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let log = app.access_log(&patient).await;
    assert!(log.iter().any(|e| e["actor_id"] == json!(stranger.id)
        && e["outcome"] == "denied"
        && e["reason"] == "no_care_relationship"));
}

#[tokio::test]
async fn a_late_older_event_does_not_reopen_a_closed_care_window() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, appointment_id) = app.provider_caring_for(&patient).await;
    assert_eq!(
        app.get(&provider, &notes(patient.id)).await.status(),
        StatusCode::OK
    );

    // Completed 91 days ago: the 90-day follow-up is over.
    let mut completed = Envelope::of::<AppointmentCompleted>(&appointment(
        appointment_id,
        patient.id,
        provider.id,
        Utc::now() - Duration::days(92),
        AppointmentStatus::Completed,
        3,
    ))
    .unwrap();
    completed.occurred_at = Utc::now() - Duration::days(91);
    app.deliver(&completed).await;
    let status: String =
        sqlx::query_scalar("SELECT status FROM care_relationships WHERE appointment_id = $1")
            .bind(appointment_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(status, "completed");
    assert_problem(
        app.get(&provider, &notes(patient.id)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // An older event arriving late does not bring the booking back.
    let stale = Envelope::of::<AppointmentBooked>(&appointment(
        appointment_id,
        patient.id,
        provider.id,
        Utc::now() + Duration::days(2),
        AppointmentStatus::Booked,
        1,
    ))
    .unwrap();
    app.deliver(&stale).await;
    let processed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM processed_events WHERE consumer = 'records.care'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(processed, 3);
    assert_problem(
        app.get(&provider, &notes(patient.id)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // A new appointment within the next 7 days restores access.
    let next = appointment(
        Uuid::now_v7(),
        patient.id,
        provider.id,
        Utc::now() + Duration::days(5),
        AppointmentStatus::Booked,
        1,
    );
    app.deliver(&Envelope::of::<AppointmentBooked>(&next).unwrap())
        .await;
    assert_eq!(
        app.get(&provider, &notes(patient.id)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn break_glass_grants_time_limited_read_only_access_flagged_in_the_access_log() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (carer, _) = app.provider_caring_for(&patient).await;
    let note = app
        .note(&carer, patient.id, "Known penicillin allergy.")
        .await;
    let emergency = app.user(Role::Provider);
    let glass = format!("/api/v1/patients/{}/records/break-glass", patient.id);

    assert_problem(
        app.get(&emergency, &notes(patient.id)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // A reason must say something.
    let r = assert_problem(
        app.post(&emergency, &glass, &json!({"reason": "need it"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(r["errors"][0]["field"], "reason");
    // Only providers break the glass.
    for role in [Role::Patient, Role::Staff, Role::Admin] {
        let u = app.user(role);
        assert_problem(
            app.post(
                &u,
                &glass,
                &json!({"reason": "unconscious patient in the emergency room"}),
            )
            .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    let grant = app.grant(&emergency, patient.id).await;
    let granted: chrono::DateTime<Utc> = grant["granted_at"].as_str().unwrap().parse().unwrap();
    let expires: chrono::DateTime<Utc> = grant["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires - granted, Duration::minutes(30));

    let r = app.get(&emergency, &notes(patient.id)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["items"][0]["text"], "Known penicillin allergy.");
    assert_problem(
        app.post(
            &emergency,
            &notes(patient.id),
            &json!({"text": "Given adrenaline in ER."}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "care-relationship-required",
    )
    .await;

    let log = app.access_log(&patient).await;
    let flagged: Vec<&str> = log
        .iter()
        .filter(|e| e["actor_id"] == json!(emergency.id) && e["break_glass"] == true)
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(flagged, ["read", "break_glass"], "{log:?}");
    let carer_reads = log
        .iter()
        .filter(|e| e["actor_id"] == json!(carer.id))
        .all(|e| e["break_glass"] == false);
    assert!(carer_reads);
    // The grant's reason is not in the audit or the log: it may describe the patient.
    assert!(!serde_json::to_string(&log).unwrap().contains("unconscious"));
    let read_entry = log
        .iter()
        .find(|e| e["actor_id"] == json!(emergency.id) && e["action"] == "read")
        .unwrap();
    assert_eq!(read_entry["entry_ids"], json!([note["id"]]));

    // An expired grant no longer counts.
    sqlx::query("ALTER TABLE break_glass DISABLE TRIGGER break_glass_append_only")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE break_glass SET granted_at = granted_at - interval '2 hours', expires_at = expires_at - interval '2 hours'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_problem(
        app.get(&emergency, &notes(patient.id)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let log = app.access_log(&patient).await;
    assert_eq!(
        log.iter()
            .find(|e| e["actor_id"] == json!(emergency.id))
            .unwrap()["reason"],
        "break_glass_expired"
    );
}

#[tokio::test]
async fn staff_and_admins_never_read_clinical_content() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    let note = app
        .note(&provider, patient.id, "Discussed diagnosis.")
        .await;
    let entry = format!("{}/{}", notes(patient.id), note["id"].as_str().unwrap());
    for role in [Role::Staff, Role::Admin] {
        let u = app.user(role);
        for path in [notes(patient.id), entry.clone(), format!("{entry}/history")] {
            assert_problem(app.get(&u, &path).await, StatusCode::FORBIDDEN, "forbidden").await;
        }
        assert_problem(
            app.post(&u, &notes(patient.id), &json!({"text": "x"}))
                .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    // Admins may see who accessed the record (ids and times only); staff may not.
    let admin = app.user(Role::Admin);
    let r = app
        .get(
            &admin,
            &format!("/api/v1/patients/{}/records/access-log", patient.id),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(!text.contains("Discussed"), "{text}");
    let staff = app.user(Role::Staff);
    assert_problem(
        app.get(
            &staff,
            &format!("/api/v1/patients/{}/records/access-log", patient.id),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // A provider caring for the patient does not read the access log either.
    assert_problem(
        app.get(
            &provider,
            &format!("/api/v1/patients/{}/records/access-log", patient.id),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn a_provider_never_reads_their_own_record_through_provider_rights() {
    let app = spawn_app().await;
    // The same person is a patient (with a record written by a colleague)…
    let me_as_patient = app.patient().await;
    let (colleague, _) = app.provider_caring_for(&me_as_patient).await;
    app.note(&colleague, me_as_patient.id, "Colleague's note about me.")
        .await;
    // …and holds a provider token with the same id, even with a relationship to "themselves".
    let me_as_provider = app.user_with_id(me_as_patient.id, Role::Provider);
    let booked = appointment(
        Uuid::now_v7(),
        me_as_patient.id,
        me_as_provider.id,
        Utc::now() + Duration::days(1),
        AppointmentStatus::Booked,
        1,
    );
    app.deliver(&Envelope::of::<AppointmentBooked>(&booked).unwrap())
        .await;
    assert_problem(
        app.get(&me_as_provider, &notes(me_as_patient.id)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.post(
            &me_as_provider,
            &format!("/api/v1/patients/{}/records/break-glass", me_as_patient.id),
            &json!({"reason": "checking my own chart out of curiosity"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // As a patient, they read it.
    assert_eq!(
        app.get(&me_as_patient, &notes(me_as_patient.id))
            .await
            .status(),
        StatusCode::OK
    );
    let log = app.access_log(&me_as_patient).await;
    assert!(log
        .iter()
        .any(|e| e["role"] == "provider" && e["reason"] == "own_record_as_provider"));
}

#[tokio::test]
async fn unknown_patients_look_exactly_like_forbidden_ones_to_unauthorized_callers() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (carer, _) = app.provider_caring_for(&patient).await;
    app.note(&carer, patient.id, "exists").await;
    let unknown = Uuid::now_v7();

    for role in [Role::Provider, Role::Staff, Role::Admin, Role::Patient] {
        let u = app.user(role);
        let known = app.get(&u, &notes(patient.id)).await;
        let (s1, b1) = (known.status(), known.text().await.unwrap());
        let missing = app.get(&u, &notes(unknown)).await;
        let (s2, b2) = (missing.status(), missing.text().await.unwrap());
        assert_eq!((s1, &b1), (s2, &b2), "{role:?}");
        assert_eq!(s1, StatusCode::FORBIDDEN);
    }
    // Callers allowed to ask learn that the patient does not exist.
    let admin = app.user(Role::Admin);
    assert_problem(
        app.get(
            &admin,
            &format!("/api/v1/patients/{unknown}/records/access-log"),
        )
        .await,
        StatusCode::NOT_FOUND,
        "patient-not-found",
    )
    .await;
    let provider = app.user(Role::Provider);
    assert_problem(
        app.post(
            &provider,
            &format!("/api/v1/patients/{unknown}/records/break-glass"),
            &json!({"reason": "unconscious patient in the emergency room"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "patient-not-found",
    )
    .await;
    // A patient reading their own (still empty) record gets an empty list.
    let newcomer = app.user(Role::Patient);
    let r = app.get(&newcomer, &notes(newcomer.id)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"items": [], "next_cursor": null}));
    // An unknown entry of a patient one may read is 404, and audited as such.
    let missing_entry = Uuid::now_v7();
    assert_problem(
        app.get(&carer, &format!("{}/{}", notes(patient.id), missing_entry))
            .await,
        StatusCode::NOT_FOUND,
        "entry-not-found",
    )
    .await;
    let log = app.access_log(&patient).await;
    assert!(log
        .iter()
        .any(|e| e["outcome"] == "not_found" && e["entry_ids"] == json!([missing_entry])));
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    assert_problem(
        app.get(&Anonymous, &notes(patient.id)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_problem(
        app.get("not-a-token", &notes(patient.id)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}
