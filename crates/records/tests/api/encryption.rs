//! Encryption at rest: nothing clinical in a database dump or in Redis; key
//! rotation keeps every row readable; tampering is detected, never returned.

use std::process::Command;

use base64::{engine::general_purpose::STANDARD, Engine};
use platform::{auth::Role, testing::assert_problem};
use records::keys::MasterKeys;
use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{master_key, notes, spawn_app, spawn_app_with};

const SECRET: &str = "Zebra-striped melancholia of the left pinky";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The forms the text could take in a dump: as is, as bytea hex, as base64.
fn leaks(haystack: &str, needle: &str) -> bool {
    haystack.contains(needle)
        || haystack.contains(&hex(needle.as_bytes()))
        || haystack.contains(&STANDARD.encode(needle.as_bytes()))
        || haystack.contains("melancholia")
}

#[tokio::test]
async fn a_database_dump_and_the_redis_keys_hold_no_clinical_text() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, appointment) = app.provider_caring_for(&patient).await;
    let note = app.note(&provider, patient.id, SECRET).await;
    let entry = format!("{}/{}", notes(patient.id), note["id"].as_str().unwrap());
    app.put(
        &provider,
        &entry,
        &json!({"text": format!("{SECRET}, amended")}),
    )
    .await;
    app.post(
        &provider,
        &format!("{entry}/entered-in-error"),
        &json!({"reason": format!("{SECRET} was wrong")}),
    )
    .await;
    let r = app
        .post(
            &provider,
            &format!("/api/v1/patients/{}/records/diagnoses", patient.id),
            &json!({"code": "F32.1", "description": SECRET}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app
        .post(&provider, &format!("/api/v1/patients/{}/records/encounters", patient.id), &json!({"appointment_id": appointment, "started_at": "2026-01-05T09:00:00Z", "summary": SECRET}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let stranger = app.user(Role::Provider);
    let r = app
        .post(
            &stranger,
            &format!("/api/v1/patients/{}/records/break-glass", patient.id),
            &json!({"reason": format!("unconscious: {SECRET}")}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Fill the cache with every kind of read.
    for path in [
        notes(patient.id),
        format!("{}?include_entered_in_error=true", notes(patient.id)),
        entry.clone(),
        format!("{entry}/history"),
        format!("/api/v1/patients/{}/records/diagnoses", patient.id),
        format!("/api/v1/patients/{}/records/encounters", patient.id),
    ] {
        let r = app.get(&patient, &path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let history = app.get(&patient, &format!("{entry}/history")).await;
    assert!(history.text().await.unwrap().contains(SECRET));

    // The event that tells the patient and the privacy contact carries the
    // break-glass reason (by contract); the outbox forgets it once the broker
    // has it. Then nothing in the database holds clinical text or the reason.
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
    let output = Command::new("pg_dump")
        .args(["-h", "127.0.0.1", "-U", "postgres", &app.database_name()])
        .output()
        .expect("pg_dump runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dump = String::from_utf8_lossy(&output.stdout);
    assert!(dump.contains("record_versions"), "the dump has the tables");
    assert!(
        dump.contains(&patient.id.to_string()),
        "the dump has the rows"
    );
    assert!(!leaks(&dump, SECRET), "clinical text in pg_dump");
    assert!(!leaks(&dump, "Zebra-striped"), "clinical text in pg_dump");
    assert!(
        !dump.contains("unconscious"),
        "break-glass reason in pg_dump"
    );

    let mut redis = redis::Client::open(app.config.common.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis
        .keys(format!("{}*", app.config.common.redis_prefix))
        .await
        .unwrap();
    assert!(keys.iter().any(|k| k.contains(":list:")), "{keys:?}");
    assert!(keys.iter().any(|k| k.contains(":history:")), "{keys:?}");
    let mut everything = keys.join("\n");
    for key in &keys {
        let kind: String = redis::cmd("TYPE")
            .arg(key)
            .query_async(&mut redis)
            .await
            .unwrap();
        assert_eq!(kind, "string", "{key}");
        let value: Vec<u8> = redis.get(key).await.unwrap();
        everything.push_str(&String::from_utf8_lossy(&value));
    }
    assert!(
        everything.contains("ciphertext"),
        "the cache holds encrypted rows"
    );
    assert!(!leaks(&everything, SECRET), "clinical text in Redis");
    assert!(
        !leaks(&everything, "Zebra-striped"),
        "clinical text in Redis"
    );
}

#[tokio::test]
async fn rotating_the_master_key_keeps_every_row_readable() {
    let key_a = master_key("key-a");
    let key_b = master_key("key-b");
    let a = key_a.clone();
    let app = spawn_app_with(move |c| c.master_keys = MasterKeys::parse(&a).unwrap()).await;
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    for i in 0..5 {
        app.note(&provider, patient.id, &format!("written under key A #{i}"))
            .await;
    }
    let glass = app.user(Role::Provider);
    app.post(
        &glass,
        &format!("/api/v1/patients/{}/records/break-glass", patient.id),
        &json!({"reason": "collapsed in the waiting room"}),
    )
    .await;
    let before: Value = app
        .get(&patient, &notes(patient.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before["items"].as_array().unwrap().len(), 5);
    assert_eq!(
        records::keys::usage(&app.db).await.unwrap(),
        [("key-a".to_owned(), 6)]
    );

    // Deploy B as current, A still known; then rotate while reads go on.
    let both = MasterKeys::parse(&format!("{key_b},{key_a}")).unwrap();
    let both_for_replica = both.clone();
    let replica = app.replica(move |c| c.master_keys = both_for_replica).await;
    let reader = {
        let client = app.client.clone();
        let url = replica.url(&notes(patient.id));
        let token = patient.token.clone();
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..40 {
                let r = client.get(&url).bearer_auth(&token).send().await.unwrap();
                statuses.push(r.status());
            }
            statuses
        })
    };
    let rotation = records::keys::rotate(&app.db, &both, 2).await.unwrap();
    assert_eq!(rotation.rewrapped, 6);
    assert!(rotation.failed.is_empty());
    assert!(reader.await.unwrap().iter().all(|s| *s == StatusCode::OK));
    assert_eq!(
        records::keys::usage(&app.db).await.unwrap(),
        [("key-b".to_owned(), 6)]
    );
    // Running it again finds nothing to do.
    assert_eq!(
        records::keys::rotate(&app.db, &both, 2)
            .await
            .unwrap()
            .rewrapped,
        0
    );

    // Remove A entirely: still readable (cached copies wrapped under A are passed over).
    let only_b = MasterKeys::parse(&key_b).unwrap();
    let b_replica = app.replica(move |c| c.master_keys = only_b).await;
    let r = app
        .client
        .get(b_replica.url(&notes(patient.id)))
        .bearer_auth(&patient.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let after: Value = r.json().await.unwrap();
    assert_eq!(after["items"], before["items"]);
    // New writes under B read back under B.
    let r = app
        .client
        .post(b_replica.url(&notes(patient.id)))
        .bearer_auth(&provider.token)
        .json(&json!({"text": "written under key B"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // The original instance, which only knows A, cannot open rows now wrapped under B:
    // an integrity problem, not garbage.
    let r = app
        .get(&patient, &format!("{}?limit=3", notes(patient.id)))
        .await;
    assert_problem(
        r,
        StatusCode::INTERNAL_SERVER_ERROR,
        "record-integrity-error",
    )
    .await;
}

async fn disable_append_only(app: &crate::helpers::TestApp) {
    sqlx::query("ALTER TABLE record_versions DISABLE TRIGGER record_versions_append_only")
        .execute(&app.db)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_flipped_ciphertext_byte_is_an_integrity_error_never_content() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    let good = app.note(&provider, patient.id, "Untouched note.").await;
    let bad = app
        .note(&provider, patient.id, "Note to be tampered with.")
        .await;
    disable_append_only(&app).await;
    sqlx::query("UPDATE record_versions SET ciphertext = set_byte(ciphertext, 3, get_byte(ciphertext, 3) # 1) WHERE entry_id = $1")
        .bind(Uuid::parse_str(bad["id"].as_str().unwrap()).unwrap())
        .execute(&app.db)
        .await
        .unwrap();

    let bad_path = format!("{}/{}", notes(patient.id), bad["id"].as_str().unwrap());
    let body = assert_problem(
        app.get(&patient, &bad_path).await,
        StatusCode::INTERNAL_SERVER_ERROR,
        "record-integrity-error",
    )
    .await;
    assert!(!body.to_string().contains("tampered"), "{body}");
    assert_problem(
        app.get(&provider, &notes(patient.id)).await,
        StatusCode::INTERNAL_SERVER_ERROR,
        "record-integrity-error",
    )
    .await;
    // The untouched entry still reads.
    let good_path = format!("{}/{}", notes(patient.id), good["id"].as_str().unwrap());
    assert_eq!(app.get(&patient, &good_path).await.status(), StatusCode::OK);
    // Reported in the audit, with the entry's id.
    let log = app.access_log(&patient).await;
    assert!(log
        .iter()
        .any(|e| e["outcome"] == "integrity_error" && e["entry_ids"] == json!([bad["id"]])));
    // Nothing about it was cached.
    let mut redis = redis::Client::open(app.config.common.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis
        .keys(format!(
            "{}*{}*",
            app.config.common.redis_prefix,
            bad["id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test]
async fn ciphertext_moved_between_rows_is_an_integrity_error() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let other_patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    let (_, _) = app.provider_caring_for(&other_patient).await;
    let a = app
        .note(&provider, patient.id, "Note A for the first patient.")
        .await;
    let b = app
        .note(&provider, patient.id, "Note B for the first patient.")
        .await;
    disable_append_only(&app).await;
    // Swap everything encrypted (data key, nonce, ciphertext) between A and B.
    sqlx::query("ALTER TABLE record_versions DROP CONSTRAINT record_versions_data_key_id_key")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE record_versions v SET data_key_id = o.data_key_id, nonce = o.nonce, ciphertext = o.ciphertext
         FROM record_versions o WHERE v.entry_id IN ($1, $2) AND o.entry_id IN ($1, $2) AND o.entry_id <> v.entry_id",
    )
    .bind(Uuid::parse_str(a["id"].as_str().unwrap()).unwrap())
    .bind(Uuid::parse_str(b["id"].as_str().unwrap()).unwrap())
    .execute(&app.db)
    .await
    .unwrap();
    for note in [&a, &b] {
        let path = format!("{}/{}", notes(patient.id), note["id"].as_str().unwrap());
        assert_problem(
            app.get(&patient, &path).await,
            StatusCode::INTERNAL_SERVER_ERROR,
            "record-integrity-error",
        )
        .await;
    }
    // Moving an intact row to another patient does not work either.
    let d = app
        .note(&provider, patient.id, "Note D, moved to another chart.")
        .await;
    sqlx::query("UPDATE record_versions SET patient_id = $1 WHERE entry_id = $2")
        .bind(other_patient.id)
        .bind(Uuid::parse_str(d["id"].as_str().unwrap()).unwrap())
        .execute(&app.db)
        .await
        .unwrap();
    let body = assert_problem(
        app.get(&other_patient, &notes(other_patient.id)).await,
        StatusCode::INTERNAL_SERVER_ERROR,
        "record-integrity-error",
    )
    .await;
    assert!(!body.to_string().contains("Note D"));
    // Nor does relabelling the status, author or kind of an entry.
    let c_app = spawn_app().await;
    let p = c_app.patient().await;
    let (prov, _) = c_app.provider_caring_for(&p).await;
    let c = c_app.note(&prov, p.id, "Note C.").await;
    disable_append_only(&c_app).await;
    for tamper in [
        "UPDATE record_versions SET status = 'entered_in_error'",
        "UPDATE record_versions SET status = 'active', author_id = gen_random_uuid()",
    ] {
        sqlx::query(tamper).execute(&c_app.db).await.unwrap();
        let path = format!(
            "{}/{}?include_entered_in_error=true",
            notes(p.id),
            c["id"].as_str().unwrap()
        );
        assert_problem(
            c_app.get(&p, &path).await,
            StatusCode::INTERNAL_SERVER_ERROR,
            "record-integrity-error",
        )
        .await;
    }
}

#[tokio::test]
async fn an_entry_given_another_id_is_an_integrity_error() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    let a = app.note(&provider, patient.id, "Original A.").await;
    app.note(&provider, patient.id, "Original B.").await;
    disable_append_only(&app).await;
    sqlx::query("UPDATE record_versions SET entry_id = gen_random_uuid() WHERE entry_id = $1")
        .bind(Uuid::parse_str(a["id"].as_str().unwrap()).unwrap())
        .execute(&app.db)
        .await
        .unwrap();
    let r = app.get(&patient, &notes(patient.id)).await;
    let body = assert_problem(
        r,
        StatusCode::INTERNAL_SERVER_ERROR,
        "record-integrity-error",
    )
    .await;
    assert!(!body.to_string().contains("Original"));
}
