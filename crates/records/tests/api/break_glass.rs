//! Accountable break-glass: read-only, time-limited, at most 3 grants per
//! provider per rolling 24 hours, published for notification, reviewed by an
//! admin, visible in the patient's access log; and the provider's "when and
//! why does my access end" answer.

use chrono::{DateTime, Duration, Utc};
use contracts::records::BreakGlassGranted;
use contracts::scheduling::AppointmentStatus::{self, Completed};
use contracts::Event;
use platform::testing::EventTap;
use platform::{
    auth::Role,
    testing::{assert_problem, error_fields},
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{notes, spawn_app, TestApp};

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

fn uuid(v: &Value) -> Uuid {
    v.as_str().unwrap().parse().unwrap()
}

fn queue(status: &str) -> String {
    format!("/api/v1/records/break-glass?status={status}")
}

fn review(grant: &Value) -> String {
    format!(
        "/api/v1/records/break-glass/{}/review",
        grant["id"].as_str().unwrap()
    )
}

fn access(patient: Uuid) -> String {
    format!("/api/v1/patients/{patient}/records/access")
}

/// Move a grant back in time (past the append-only trigger, as a test may).
async fn age_grant(app: &TestApp, id: Uuid, by: Duration) {
    sqlx::query("ALTER TABLE break_glass DISABLE TRIGGER break_glass_append_only")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE break_glass SET granted_at = granted_at - $2, expires_at = expires_at - $2 WHERE id = $1",
    )
    .bind(id)
    .bind(by)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("ALTER TABLE break_glass ENABLE TRIGGER break_glass_append_only")
        .execute(&app.db)
        .await
        .unwrap();
}

#[tokio::test]
async fn break_glass_reads_but_every_write_needs_a_care_relationship() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (carer, _) = app.provider_caring_for(&patient).await;
    let note = app
        .note(&carer, patient.id, "Known penicillin allergy.")
        .await;
    let entry = format!("{}/{}", notes(patient.id), note["id"].as_str().unwrap());
    let emergency = app.user(Role::Provider);

    let grant = app.grant(&emergency, patient.id).await;
    assert_eq!(grant["read_only"], true);
    assert_eq!(grant["patient_id"], json!(patient.id));
    assert_eq!(grant["provider_id"], json!(emergency.id));
    assert_eq!(
        time(&grant["expires_at"]) - time(&grant["granted_at"]),
        Duration::minutes(30),
        "the default"
    );
    assert!(app.schema("BreakGlassGrant").await.is_valid(&grant));

    let r = app.get(&emergency, &notes(patient.id)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["items"][0]["text"], "Known penicillin allergy.");
    assert_eq!(app.get(&emergency, &entry).await.status(), StatusCode::OK);

    for r in [
        app.post(
            &emergency,
            &notes(patient.id),
            &json!({"text": "Given adrenaline."}),
        )
        .await,
        app.put(&emergency, &entry, &json!({"text": "Amended in the ER."}))
            .await,
        app.post(
            &emergency,
            &format!("{entry}/entered-in-error"),
            &json!({"reason": "wrong patient"}),
        )
        .await,
    ] {
        assert_problem(r, StatusCode::FORBIDDEN, "care-relationship-required").await;
    }
    // The carer still writes.
    app.note(&carer, patient.id, "Follow-up booked.").await;

    let log = app.access_log(&patient).await;
    let mine: Vec<(&str, &str, bool)> = log
        .iter()
        .filter(|e| e["actor_id"] == json!(emergency.id))
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
                e["break_glass"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        mine,
        [
            ("enter_in_error", "denied", false),
            ("amend", "denied", false),
            ("create", "denied", false),
            ("read", "allowed", true),
            ("read", "allowed", true),
            ("break_glass", "allowed", true),
        ],
        "{log:?}"
    );
    assert!(log
        .iter()
        .filter(|e| e["outcome"] == "denied")
        .all(|e| e["reason"] == "break_glass_read_only"));
}

#[tokio::test]
async fn the_access_log_marks_break_glass_and_when_the_grant_ends() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (carer, _) = app.provider_caring_for(&patient).await;
    app.note(&carer, patient.id, "Asthma.").await;
    let emergency = app.user(Role::Provider);
    let grant = app.grant(&emergency, patient.id).await;
    app.get(&emergency, &notes(patient.id)).await;

    let log = app.access_log(&patient).await;
    let validator = app.schema("AccessLogEntry").await;
    for e in &log {
        assert!(e["break_glass"].is_boolean(), "{e}");
        assert!(validator.is_valid(e), "{e}");
    }
    let granted = log.iter().find(|e| e["action"] == "break_glass").unwrap();
    assert_eq!(granted["break_glass"], true);
    assert_eq!(granted["entry_ids"], json!([grant["id"]]));
    assert_eq!(time(&granted["expires_at"]), time(&grant["expires_at"]));
    let read = log
        .iter()
        .find(|e| e["actor_id"] == json!(emergency.id) && e["action"] == "read")
        .unwrap();
    assert_eq!(read["break_glass"], true);
    assert!(read.get("expires_at").is_none());
    assert!(log
        .iter()
        .filter(|e| e["actor_id"] == json!(carer.id))
        .all(|e| e["break_glass"] == false && e.get("expires_at").is_none()));
    // The reason stays out of the log: it may describe the patient.
    assert!(!serde_json::to_string(&log).unwrap().contains("unconscious"));
}

#[tokio::test]
async fn a_grant_lasts_what_was_asked_from_5_minutes_to_4_hours() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let reason = "cardiac arrest in the waiting room";

    let r = app
        .break_glass(
            &app.user(Role::Provider),
            patient.id,
            &json!({"reason": reason, "minutes": 240}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let grant: Value = r.json().await.unwrap();
    assert_eq!(
        time(&grant["expires_at"]) - time(&grant["granted_at"]),
        Duration::hours(4)
    );

    let provider = app.user(Role::Provider);
    for minutes in [241, 4, 0, -30] {
        let p = assert_problem(
            app.break_glass(
                &provider,
                patient.id,
                &json!({"reason": reason, "minutes": minutes}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
        )
        .await;
        assert_eq!(error_fields(&p), ["minutes"], "{minutes}");
    }
    let p = assert_problem(
        app.break_glass(
            &provider,
            patient.id,
            &json!({"reason": "hm", "minutes": 999}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(error_fields(&p), ["reason", "minutes"]);
    assert_problem(
        app.break_glass(
            &provider,
            patient.id,
            &json!({"reason": reason, "minutes": "ten"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-body",
    )
    .await;
    // Refused requests granted nothing.
    let grants: i64 = sqlx::query_scalar("SELECT count(*) FROM break_glass WHERE provider_id = $1")
        .bind(provider.id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(grants, 0);
}

#[tokio::test]
async fn the_fourth_grant_in_24_hours_is_refused_until_the_oldest_leaves_the_window() {
    let app = spawn_app().await;
    let provider = app.user(Role::Provider);
    let mut patients = Vec::new();
    let mut grants = Vec::new();
    for _ in 0..3 {
        let patient = app.patient().await;
        grants.push(app.grant(&provider, patient.id).await);
        patients.push(patient);
    }
    let fourth = app.patient().await;
    let body = json!({"reason": "unconscious patient in the emergency room"});
    let r = app.break_glass(&provider, fourth.id, &body).await;
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (24 * 3600 - 60..=24 * 3600).contains(&retry_after),
        "{retry_after}"
    );
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "break-glass-limit").await;
    // Another provider is not limited by this one's grants.
    app.grant(&app.user(Role::Provider), fourth.id).await;

    // The oldest granted 23 hours ago: about an hour to wait.
    age_grant(&app, uuid(&grants[0]["id"]), Duration::hours(23)).await;
    let r = app.break_glass(&provider, fourth.id, &body).await;
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3600 - 60..=3600).contains(&retry_after), "{retry_after}");
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "break-glass-limit").await;
    // Once it is 24 hours old, one more fits.
    age_grant(&app, uuid(&grants[0]["id"]), Duration::hours(1)).await;
    assert_eq!(
        app.break_glass(&provider, fourth.id, &body).await.status(),
        StatusCode::CREATED
    );

    // Each refusal is in the patient's access log, granting nothing.
    let log = app.access_log(&fourth).await;
    let refusals = log
        .iter()
        .filter(|e| {
            e["actor_id"] == json!(provider.id)
                && e["action"] == "break_glass"
                && e["outcome"] == "denied"
                && e["reason"] == "break_glass_limit"
        })
        .count();
    assert_eq!(refusals, 2);
    assert_eq!(
        records::audit::verify(&app.db).await.unwrap() as i64,
        app.audit_count().await
    );
}

#[tokio::test]
async fn concurrent_requests_never_exceed_the_limit() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let provider = app.user(Role::Provider);
    let url = app.url(&format!(
        "/api/v1/patients/{}/records/break-glass",
        patient.id
    ));
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (client, url, token) = (app.client.clone(), url.clone(), provider.token.clone());
            tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"reason": "unconscious patient in the emergency room"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((created, refused), (3, 3), "{statuses:?}");
}

#[tokio::test]
async fn every_grant_is_published_for_the_patient_and_the_privacy_contact_and_not_kept() {
    let app = spawn_app().await;
    let mut tap = EventTap::bind(&app.backing, &[BreakGlassGranted::TYPE]).await;
    let patient = app.patient().await;
    let provider = app.user(Role::Provider);
    let r = app
        .break_glass(
            &provider,
            patient.id,
            &json!({"reason": "  anaphylaxis after unknown exposure ", "minutes": 45}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let grant: Value = r.json().await.unwrap();
    let published = tap.next().await;
    assert_eq!(
        published.decode::<BreakGlassGranted>().unwrap(),
        BreakGlassGranted {
            grant_id: uuid(&grant["id"]),
            patient_id: patient.id,
            provider_id: provider.id,
            reason: "anaphylaxis after unknown exposure".into(),
            granted_at: time(&grant["granted_at"]),
            expires_at: time(&grant["expires_at"]),
        }
    );
    // The reason is kept encrypted by records alone: once the broker has the
    // event, the outbox forgets it.
    let db = app.db.clone();
    platform::testing::eventually(
        platform::testing::WAIT,
        "the outbox to forget the grant",
        || {
            let db = db.clone();
            async move {
                let left: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM outbox WHERE event_type = 'record.break_glass_granted'",
                )
                .fetch_one(&db)
                .await
                .ok()?;
                (left == 0).then_some(())
            }
        },
    )
    .await;
    // Refusals publish nothing.
    app.break_glass(
        &app.user(Role::Staff),
        patient.id,
        &json!({"reason": "anaphylaxis after unknown exposure"}),
    )
    .await;
    app.break_glass(&provider, patient.id, &json!({"reason": "short"}))
        .await;
    tap.assert_quiet().await;
}

#[tokio::test]
async fn admins_review_each_grant_once_and_the_chain_still_verifies() {
    let app = spawn_app().await;
    let admin = app.user(Role::Admin);
    let first_patient = app.patient().await;
    let second_patient = app.patient().await;
    let first = app.grant(&app.user(Role::Provider), first_patient.id).await;
    let second = app
        .break_glass(
            &app.user(Role::Provider),
            second_patient.id,
            &json!({"reason": "found unresponsive, checking medications"}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();

    // Admins only.
    for role in [Role::Provider, Role::Staff, Role::Patient] {
        let u = app.user(role);
        assert_problem(
            app.get(&u, &queue("all")).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        assert_problem(
            app.post(
                &u,
                &review(&first),
                &json!({"outcome": "justified", "note": "ok"}),
            )
            .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    let p = assert_problem(
        app.get(&admin, &queue("pending")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
    assert_eq!(error_fields(&p), ["status"]);

    // The unreviewed queue, newest first, reasons decrypted.
    let page = app.get_ok(&admin, "/api/v1/records/break-glass").await;
    assert!(
        app.schema("BreakGlassQueue").await.is_valid(&page),
        "{page}"
    );
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], second["id"]);
    assert_eq!(
        items[0]["reason"],
        "found unresponsive, checking medications"
    );
    assert_eq!(items[0]["review"], Value::Null);
    assert_eq!(items[1]["id"], first["id"]);
    assert_eq!(
        items[1]["reason"],
        "unconscious patient in the emergency room"
    );
    assert_eq!(items[1]["expires_at"], first["expires_at"]);
    // Keyset pages.
    let one = app
        .get_ok(&admin, &format!("{}&limit=1", queue("unreviewed")))
        .await;
    assert_eq!(one["items"][0]["id"], second["id"]);
    let cursor = one["next_cursor"].as_str().unwrap();
    let two = app
        .get_ok(
            &admin,
            &format!("{}&limit=1&cursor={cursor}", queue("unreviewed")),
        )
        .await;
    assert_eq!(two["items"][0]["id"], first["id"]);
    assert!(two["next_cursor"].is_null());

    // Bad reviews.
    for (body, field) in [
        (json!({"outcome": "maybe", "note": "Checked."}), "outcome"),
        (json!({"outcome": "justified", "note": "   "}), "note"),
        (
            json!({"outcome": "justified", "note": "x".repeat(2001)}),
            "note",
        ),
    ] {
        let p = assert_problem(
            app.post(&admin, &review(&first), &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
        )
        .await;
        assert_eq!(error_fields(&p), [field]);
    }
    assert_problem(
        app.post(
            &admin,
            &format!("/api/v1/records/break-glass/{}/review", Uuid::now_v7()),
            &json!({"outcome": "justified", "note": "Checked."}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "break-glass-not-found",
    )
    .await;

    let note = "Confirmed with the ER: patient arrived unconscious.";
    let r = app
        .post(
            &admin,
            &review(&first),
            &json!({"outcome": "justified", "note": note}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let reviewed: Value = r.json().await.unwrap();
    assert!(
        app.schema("BreakGlassItem").await.is_valid(&reviewed),
        "{reviewed}"
    );
    assert_eq!(reviewed["id"], first["id"]);
    assert_eq!(
        reviewed["reason"],
        "unconscious patient in the emergency room"
    );
    assert_eq!(reviewed["review"]["outcome"], "justified");
    assert_eq!(reviewed["review"]["note"], note);
    assert_eq!(reviewed["review"]["reviewed_by"], json!(admin.id));
    // A review is final.
    assert_problem(
        app.post(
            &admin,
            &review(&first),
            &json!({"outcome": "unjustified", "note": "On second thought."}),
        )
        .await,
        StatusCode::CONFLICT,
        "already-reviewed",
    )
    .await;

    let unreviewed = app.get_ok(&admin, &queue("unreviewed")).await;
    assert_eq!(unreviewed["items"].as_array().unwrap().len(), 1);
    assert_eq!(unreviewed["items"][0]["id"], second["id"]);
    let done = app.get_ok(&admin, &queue("reviewed")).await;
    assert_eq!(done["items"].as_array().unwrap().len(), 1);
    assert_eq!(done["items"][0]["review"], reviewed["review"]);
    let all = app.get_ok(&admin, &queue("all")).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);

    // The note is sealed, and reviews only ever grow.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT ciphertext FROM break_glass_reviews")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains("Confirmed"));
    let edit = sqlx::query("UPDATE break_glass_reviews SET outcome = 'unjustified'")
        .execute(&app.db)
        .await;
    assert!(edit.is_err(), "append-only");

    // The patient's log shows the reason was read and the grant reviewed.
    let log = app.access_log(&first_patient).await;
    let admin_actions: Vec<&str> = log
        .iter()
        .filter(|e| e["actor_id"] == json!(admin.id) && e["outcome"] == "allowed")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        admin_actions.contains(&"break_glass_review"),
        "{admin_actions:?}"
    );
    assert!(admin_actions.contains(&"read_break_glass_reason"));
    let reviewed_entry = log
        .iter()
        .find(|e| e["action"] == "break_glass_review" && e["outcome"] == "allowed")
        .unwrap();
    assert_eq!(reviewed_entry["entry_ids"], json!([first["id"]]));
    // Attempts by anyone else were refused and recorded.
    let refused = log
        .iter()
        .filter(|e| e["action"] == "break_glass_review" && e["reason"] == "not_admin")
        .count();
    assert_eq!(refused, 3);
    assert!(!serde_json::to_string(&log).unwrap().contains("Confirmed"));
    assert_eq!(
        records::audit::verify(&app.db).await.unwrap() as i64,
        app.audit_count().await
    );
}

async fn basis(app: &TestApp, who: &platform::testing::User, patient: Uuid) -> Value {
    let body = app.get_ok(who, &access(patient)).await;
    assert!(
        app.schema("AccessExplanation").await.is_valid(&body),
        "{body}"
    );
    body
}

#[tokio::test]
async fn a_provider_learns_when_and_why_their_access_ends() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let audited = app.audit_count().await;

    // Care: an active appointment (no end yet).
    let (carer, _) = app.provider_caring_for(&patient).await;
    let b = basis(&app, &carer, patient.id).await;
    assert_eq!(b["basis"], "care");
    assert!(b["until"].is_null());
    assert!(
        b["explanation"]
            .as_str()
            .unwrap()
            .contains("booked or checked in"),
        "{b}"
    );

    // Care: a completed visit, 90 days of follow-up.
    let completed_at: DateTime<Utc> = (Utc::now() - Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        .parse()
        .unwrap();
    let changes: [(AppointmentStatus, DateTime<Utc>); 1] = [(Completed, completed_at)];
    let (seen, _) = app
        .provider_with_appointment(&patient, completed_at - Duration::hours(1), &changes)
        .await;
    let b = basis(&app, &seen, patient.id).await;
    assert_eq!(b["basis"], "care");
    assert_eq!(time(&b["until"]), completed_at + Duration::days(90));
    assert!(
        b["explanation"].as_str().unwrap().contains("follow-up"),
        "{b}"
    );

    // Break-glass: read-only, until the grant expires.
    let emergency = app.user(Role::Provider);
    let grant = app.grant(&emergency, patient.id).await;
    let b = basis(&app, &emergency, patient.id).await;
    assert_eq!(b["basis"], "break_glass");
    assert_eq!(time(&b["until"]), time(&grant["expires_at"]));
    let explanation = b["explanation"].as_str().unwrap();
    assert!(
        explanation.starts_with("break-glass until ") && explanation.ends_with(", read-only"),
        "{b}"
    );

    // None; and an unknown patient is answered the same way.
    let stranger = app.user(Role::Provider);
    let none = basis(&app, &stranger, patient.id).await;
    assert_eq!(
        none,
        json!({"basis": "none", "until": null, "explanation": "no appointment opens access"})
    );
    assert_eq!(basis(&app, &stranger, Uuid::now_v7()).await, none);

    // Providers only.
    for role in [Role::Patient, Role::Staff, Role::Admin] {
        assert_problem(
            app.get(&app.user(role), &access(patient.id)).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    assert_problem(
        app.get(&patient, &access(patient.id)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Asking reads nothing clinical: only the grant was audited.
    assert_eq!(app.audit_count().await, audited + 1);
}
