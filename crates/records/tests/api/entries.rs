//! Clinical entries: every kind, versions, entered-in-error, validation, and
//! the append-only guarantee in the database itself.

use platform::{
    auth::Role,
    testing::{assert_problem, Anonymous},
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{notes, spawn_app};

fn path(patient: Uuid, segment: &str) -> String {
    format!("/api/v1/patients/{patient}/records/{segment}")
}

#[tokio::test]
async fn every_kind_is_written_and_read_back() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, appointment) = app.provider_caring_for(&patient).await;
    let encounter = app
        .post(
            &provider,
            &path(patient.id, "encounters"),
            &json!({"appointment_id": appointment, "started_at": "2026-01-05T09:00:00Z", "ended_at": "2026-01-05T09:30:00Z", "reason": "Follow-up"}),
        )
        .await;
    assert_eq!(encounter.status(), StatusCode::CREATED);
    let location = encounter.headers()["location"].to_str().unwrap().to_owned();
    let encounter: Value = encounter.json().await.unwrap();
    assert_eq!(
        location,
        format!(
            "{}/{}",
            path(patient.id, "encounters"),
            encounter["id"].as_str().unwrap()
        )
    );
    let cases = [
        (
            "notes",
            json!({"text": "Stable.", "encounter_id": encounter["id"]}),
        ),
        (
            "diagnoses",
            json!({"code": "e11.9", "description": "Type 2 diabetes mellitus", "onset": "2025-11-02"}),
        ),
        (
            "allergies",
            json!({"substance": "Penicillin", "reaction": "Hives", "severity": "severe"}),
        ),
        (
            "medications",
            json!({"name": "Metformin", "dose": "500 mg", "frequency": "twice daily", "start_date": "2026-01-05"}),
        ),
        (
            "vitals",
            json!({"measured_at": "2026-01-05T09:10:00Z", "readings": [
                {"type": "heart_rate", "value": 72, "unit": "bpm"},
                {"type": "systolic", "value": 128, "unit": "mmHg"},
                {"type": "diastolic", "value": 82, "unit": "mmHg"},
                {"type": "temperature", "value": 36.9, "unit": "°C"},
                {"type": "weight", "value": 81.5, "unit": "kg"},
                {"type": "height", "value": 178, "unit": "cm"},
                {"type": "spo2", "value": 97, "unit": "%"}
            ]}),
        ),
    ];
    // Every kind's entry is what the OpenAPI document says an entry is (the
    // kind's fields flattened beside id, version and author).
    let entry_schema = app.schema("EntryView").await;
    let list_schema = app.schema("EntryList").await;
    let encounters = app.get(&patient, &path(patient.id, "encounters")).await;
    let encounters: Value = encounters.json().await.unwrap();
    assert!(list_schema.is_valid(&encounters), "{encounters}");
    for (segment, body) in cases {
        let r = app.post(&provider, &path(patient.id, segment), &body).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{segment}");
        let created: Value = r.json().await.unwrap();
        assert_eq!(created["version"], 1);
        assert_eq!(created["status"], "active");
        if let Err(e) = entry_schema.validate(&created) {
            panic!("{segment}: {created} does not match the schema: {e}");
        }
        let r = app.get(&patient, &path(patient.id, segment)).await;
        assert_eq!(r.status(), StatusCode::OK);
        let list: Value = r.json().await.unwrap();
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{segment}");
        assert_eq!(list["items"][0], created, "{segment}");
        assert!(list_schema.is_valid(&list), "{segment}: {list}");
    }
    let diagnoses: Value = app
        .get(&patient, &path(patient.id, "diagnoses"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(diagnoses["items"][0]["code"], "E11.9");
    let note: Value = app
        .get(&patient, &notes(patient.id))
        .await
        .json()
        .await
        .unwrap();
    let n = &note["items"][0];
    for field in ["id", "text", "author_id", "created_at", "version"] {
        assert!(n.get(field).is_some(), "note lacks {field}: {n}");
    }
    assert_eq!(n["author_id"], json!(provider.id));
}

#[tokio::test]
async fn an_edit_is_a_new_version_and_history_keeps_every_version() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    let (colleague, _) = app.provider_caring_for(&patient).await;
    let v1 = app.note(&provider, patient.id, "BP 150/95.").await;
    let entry = format!("{}/{}", notes(patient.id), v1["id"].as_str().unwrap());

    let r = app
        .put(
            &colleague,
            &entry,
            &json!({"text": "BP 150/95; repeat in 2 weeks."}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v2: Value = r.json().await.unwrap();
    assert_eq!(
        (v2["id"].clone(), v2["version"].clone()),
        (v1["id"].clone(), json!(2))
    );
    assert_eq!(v2["author_id"], json!(colleague.id));

    // If-Match guards against editing a stale version.
    let r = app
        .request(Method::PUT, &entry, &provider)
        .header("if-match", "\"1\"")
        .json(&json!({"text": "overwrite"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::PRECONDITION_FAILED, "version-mismatch").await;
    let r = app
        .request(Method::PUT, &entry, &provider)
        .header("if-match", "\"2\"")
        .json(&json!({"text": "BP 150/95; repeat in 1 week."}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let latest: Value = app.get(&patient, &entry).await.json().await.unwrap();
    assert_eq!(
        (latest["version"].as_i64(), latest["text"].as_str()),
        (Some(3), Some("BP 150/95; repeat in 1 week."))
    );
    let history: Value = app
        .get(&patient, &format!("{entry}/history"))
        .await
        .json()
        .await
        .unwrap();
    let texts: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "BP 150/95.",
            "BP 150/95; repeat in 2 weeks.",
            "BP 150/95; repeat in 1 week."
        ]
    );
    let list: Value = app
        .get(&patient, &notes(patient.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["version"], 3);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM record_versions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 3);
    // Amending an unknown entry is 404; an entry of another kind is not this one.
    assert_problem(
        app.put(
            &provider,
            &format!("{}/{}", notes(patient.id), Uuid::now_v7()),
            &json!({"text": "x"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "entry-not-found",
    )
    .await;
    assert_problem(
        app.get(
            &provider,
            &format!(
                "/api/v1/patients/{}/records/allergies/{}",
                patient.id,
                v1["id"].as_str().unwrap()
            ),
        )
        .await,
        StatusCode::NOT_FOUND,
        "entry-not-found",
    )
    .await;
}

#[tokio::test]
async fn entered_in_error_is_a_flagged_version_and_ends_editing() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    let note = app
        .note(&provider, patient.id, "Wrong patient's note.")
        .await;
    let entry = format!("{}/{}", notes(patient.id), note["id"].as_str().unwrap());
    let r = app
        .post(
            &provider,
            &format!("{entry}/entered-in-error"),
            &json!({"reason": "Documented in the wrong chart"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let flagged: Value = r.json().await.unwrap();
    assert_eq!(flagged["status"], "entered_in_error");
    assert_eq!(flagged["version"], 2);
    assert_eq!(flagged["status_reason"], "Documented in the wrong chart");
    assert_eq!(flagged["text"], "Wrong patient's note.");

    let list: Value = app
        .get(&patient, &notes(patient.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"], json!([]));
    let all: Value = app
        .get(
            &patient,
            &format!("{}?include_entered_in_error=true", notes(patient.id)),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"][0]["status"], "entered_in_error");
    assert_problem(
        app.put(&provider, &entry, &json!({"text": "x"})).await,
        StatusCode::CONFLICT,
        "entry-entered-in-error",
    )
    .await;
    assert_problem(
        app.post(
            &provider,
            &format!("{entry}/entered-in-error"),
            &json!({"reason": "again"}),
        )
        .await,
        StatusCode::CONFLICT,
        "entry-entered-in-error",
    )
    .await;
    let history: Value = app
        .get(&patient, &format!("{entry}/history"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_database_refuses_to_update_or_delete_versions_and_audit_entries() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    app.note(&provider, patient.id, "Immutable.").await;
    for statement in [
        "UPDATE record_versions SET status = 'entered_in_error'",
        "DELETE FROM record_versions",
        "TRUNCATE record_versions CASCADE",
        "UPDATE audit_log SET outcome = 'denied'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "DELETE FROM data_keys",
        "UPDATE data_keys SET id = gen_random_uuid()",
    ] {
        let e = sqlx::query(statement).execute(&app.db).await.unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("append-only") || text.contains("only re-wrapping"),
            "{statement}: {text}"
        );
    }
    // A version that skips a number, or switches patient, is refused too.
    let err = sqlx::query(
        "INSERT INTO record_versions (entry_id, version, patient_id, kind, status, author_id, created_at, data_key_id, nonce, ciphertext)
         SELECT entry_id, version + 1, gen_random_uuid(), kind, status, author_id, now(), data_key_id, nonce, ciphertext FROM record_versions",
    )
    .execute(&app.db)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("does not follow"), "{err}");
}

#[tokio::test]
async fn invalid_input_is_refused_with_a_problem() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    let cases = [
        (
            "diagnoses",
            json!({"code": "diabetes", "description": "x"}),
            "validation-error",
            Some("code"),
        ),
        (
            "diagnoses",
            json!({"code": "E11.9", "description": "x", "onset": "2026-02-30"}),
            "invalid-body",
            None,
        ),
        (
            "vitals",
            json!({"measured_at": "2026-01-05T09:10:00Z", "readings": [{"type": "temperature", "value": 98.6, "unit": "°F"}]}),
            "validation-error",
            Some("readings[0].unit"),
        ),
        (
            "vitals",
            json!({"measured_at": "2026-01-05T09:10:00Z", "readings": [{"type": "spo2", "value": 140, "unit": "%"}]}),
            "validation-error",
            Some("readings[0].value"),
        ),
        (
            "vitals",
            json!({"measured_at": "2999-01-05T09:10:00Z", "readings": [{"type": "spo2", "value": 98, "unit": "%"}]}),
            "validation-error",
            Some("measured_at"),
        ),
        (
            "medications",
            json!({"name": "X", "dose": "1 mg", "frequency": "daily", "start_date": "2026-03-01", "end_date": "2026-01-01"}),
            "validation-error",
            Some("end_date"),
        ),
        (
            "medications",
            json!({"name": "X", "dose": "1 mg", "frequency": "daily", "start_date": "not a date"}),
            "invalid-body",
            None,
        ),
        (
            "allergies",
            json!({"substance": "Nuts", "severity": "catastrophic"}),
            "invalid-body",
            None,
        ),
        (
            "notes",
            json!({"text": "a".repeat(20_001)}),
            "validation-error",
            Some("text"),
        ),
        (
            "notes",
            json!({"text": "ok", "author_id": Uuid::now_v7()}),
            "invalid-body",
            None,
        ),
        (
            "notes",
            json!({"text": "ok", "encounter_id": Uuid::now_v7()}),
            "validation-error",
            Some("encounter_id"),
        ),
        (
            "encounters",
            json!({"appointment_id": Uuid::now_v7(), "started_at": "2026-01-05T09:00:00Z"}),
            "validation-error",
            Some("appointment_id"),
        ),
    ];
    for (segment, body, kind, field) in cases {
        let r = app.post(&provider, &path(patient.id, segment), &body).await;
        let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, kind).await;
        if let Some(field) = field {
            assert_eq!(problem["errors"][0]["field"], field, "{segment} {body}");
        }
    }
    // A note of exactly 20,000 characters (multi-byte) is fine.
    let r = app
        .post(
            &provider,
            &notes(patient.id),
            &json!({"text": "é".repeat(20_000)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Malformed JSON is 400, an unknown kind 404.
    let r = app
        .request(Method::POST, &notes(patient.id), &provider)
        .header("content-type", "application/json")
        .body("{\"text\": ")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST, "malformed-json").await;
    assert_problem(
        app.get(&provider, &path(patient.id, "x-rays")).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert_problem(
        app.get(&provider, "/api/v1/patients/not-a-uuid/records/notes")
            .await,
        StatusCode::BAD_REQUEST,
        "invalid-path",
    )
    .await;
    assert_problem(
        app.get(&provider, &format!("{}?limit=0", notes(patient.id)))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
}

#[tokio::test]
async fn markup_in_notes_stays_inert_json_and_responses_are_not_stored() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    let text = "<script>alert('x')</script> & \"quotes\"";
    app.note(&provider, patient.id, text).await;
    let r = app.get(&patient, &notes(patient.id)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["items"][0]["text"], text);
    let staff = app.user(Role::Staff);
    let r = app.get(&staff, &notes(patient.id)).await;
    assert_eq!(r.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn lists_page_newest_first() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.note(&provider, patient.id, &format!("note {i}")).await["id"].clone());
    }
    ids.reverse();
    let page1: Value = app
        .get(&patient, &format!("{}?limit=2", notes(patient.id)))
        .await
        .json()
        .await
        .unwrap();
    let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    let page2: Value = app
        .get(
            &patient,
            &format!("{}?limit=2&cursor={cursor}", notes(patient.id)),
        )
        .await
        .json()
        .await
        .unwrap();
    let cursor = page2["next_cursor"].as_str().unwrap().to_owned();
    let page3: Value = app
        .get(
            &patient,
            &format!("{}?limit=2&cursor={cursor}", notes(patient.id)),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(page3["next_cursor"].is_null());
    let got: Vec<Value> = [page1, page2, page3]
        .iter()
        .flat_map(|p| {
            p["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["id"].clone())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(got, ids);
}

#[tokio::test]
async fn the_api_is_documented_and_the_shell_answers() {
    let app = spawn_app().await;
    let doc: Value = app
        .get(&Anonymous, "/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/patients/{id}/records/{kind}",
        "/api/v1/patients/{id}/records/{kind}/{entry_id}",
        "/api/v1/patients/{id}/records/{kind}/{entry_id}/history",
        "/api/v1/patients/{id}/records/{kind}/{entry_id}/entered-in-error",
        "/api/v1/patients/{id}/records/break-glass",
        "/api/v1/patients/{id}/records/access-log",
        "/api/v1/patients/{id}/records/access",
        "/api/v1/records/break-glass",
        "/api/v1/records/break-glass/{id}/review",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} undocumented");
    }
    assert!(doc["components"]["schemas"].get("EntryView").is_some());
    let ready: Value = app.get(&Anonymous, "/readyz").await.json().await.unwrap();
    assert_eq!(ready["database"], "up");
    let r = app.delete(&Anonymous, &notes(Uuid::now_v7())).await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}
