//! The hash-chained audit log: verifies when clean, catches an edited or a
//! removed entry, and never forks under concurrent appends.

use platform::auth::Role;
use records::audit::VerifyError;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::{notes, spawn_app, TestApp};

async fn without_append_only<F, Fut>(app: &TestApp, change: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        .execute(&app.db)
        .await
        .unwrap();
    change().await;
    sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        .execute(&app.db)
        .await
        .unwrap();
}

fn broken_at(result: Result<usize, VerifyError>) -> i64 {
    match result {
        Err(VerifyError::Broken(b)) => b.seq,
        other => panic!("expected a break, got {other:?}"),
    }
}

#[tokio::test]
async fn the_chain_verifies_and_catches_an_edited_or_removed_entry() {
    let app = spawn_app().await;
    assert_eq!(records::audit::verify(&app.db).await.unwrap(), 0);
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    app.note(&provider, patient.id, "one").await;
    app.note(&provider, patient.id, "two").await;
    app.get(&patient, &notes(patient.id)).await;
    app.get(&app.user(Role::Staff), &notes(patient.id)).await;
    app.get(&provider, &notes(patient.id)).await;
    let n = app.audit_count().await;
    assert_eq!(n, 5);
    assert_eq!(records::verify_audit(&app.db).await.unwrap(), 5);

    // Edit one entry (as a superuser would, past the trigger): found at that entry.
    let original: Uuid = sqlx::query_scalar("SELECT actor_id FROM audit_log WHERE seq = 3")
        .fetch_one(&app.db)
        .await
        .unwrap();
    without_append_only(&app, || async {
        sqlx::query("UPDATE audit_log SET actor_id = $1 WHERE seq = 3")
            .bind(Uuid::now_v7())
            .execute(&app.db)
            .await
            .unwrap();
    })
    .await;
    assert_eq!(broken_at(records::audit::verify(&app.db).await), 3);
    // Recomputing its hash only moves the break to the next entry.
    let (original_hash,): (Vec<u8>,) = sqlx::query_as("SELECT hash FROM audit_log WHERE seq = 3")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let edited: records::store::audit::AuditRow = sqlx::query_as(
        "SELECT seq, at, actor_id, role, patient_id, action, kind, entry_ids, outcome, reason, flags, prev_hash, hash FROM audit_log WHERE seq = 3",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let rehashed = records::domain::chain::hash(&edited.fields());
    without_append_only(&app, || async {
        sqlx::query("UPDATE audit_log SET hash = $1 WHERE seq = 3")
            .bind(rehashed.to_vec())
            .execute(&app.db)
            .await
            .unwrap();
    })
    .await;
    assert_eq!(broken_at(records::audit::verify(&app.db).await), 4);
    without_append_only(&app, || async {
        sqlx::query("UPDATE audit_log SET actor_id = $1, hash = $2 WHERE seq = 3")
            .bind(original)
            .bind(&original_hash)
            .execute(&app.db)
            .await
            .unwrap();
    })
    .await;
    assert_eq!(records::audit::verify(&app.db).await.unwrap(), 5);

    // Remove one in the middle: found where it is missing.
    without_append_only(&app, || async {
        sqlx::query("DELETE FROM audit_log WHERE seq = 2")
            .execute(&app.db)
            .await
            .unwrap();
    })
    .await;
    let e = records::audit::verify(&app.db).await.unwrap_err();
    assert!(e.to_string().contains("seq 2"), "{e}");
}

#[tokio::test]
async fn removing_the_newest_entries_is_caught_by_the_head() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    for _ in 0..3 {
        app.get(&patient, &notes(patient.id)).await;
    }
    assert_eq!(records::audit::verify(&app.db).await.unwrap(), 3);
    without_append_only(&app, || async {
        sqlx::query("DELETE FROM audit_log WHERE seq = 3")
            .execute(&app.db)
            .await
            .unwrap();
    })
    .await;
    assert_eq!(broken_at(records::audit::verify(&app.db).await), 3);
}

#[tokio::test]
async fn concurrent_accesses_append_one_unforked_chain() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    let stranger = app.user(Role::Provider);
    let mut tasks = Vec::new();
    for i in 0..30 {
        let client = app.client.clone();
        let (url, token, body) = match i % 3 {
            0 => (app.url(&notes(patient.id)), patient.token.clone(), None),
            1 => (app.url(&notes(patient.id)), stranger.token.clone(), None),
            _ => (
                app.url(&notes(patient.id)),
                provider.token.clone(),
                Some(serde_json::json!({"text": format!("concurrent {i}")})),
            ),
        };
        tasks.push(tokio::spawn(async move {
            let r = match body {
                Some(b) => client.post(url).bearer_auth(token).json(&b).send().await,
                None => client.get(url).bearer_auth(token).send().await,
            };
            r.unwrap().status()
        }));
    }
    for t in tasks {
        let s = t.await.unwrap();
        assert!(
            matches!(
                s,
                StatusCode::OK | StatusCode::CREATED | StatusCode::FORBIDDEN
            ),
            "{s}"
        );
    }
    assert_eq!(records::audit::verify(&app.db).await.unwrap(), 30);
    let (min, max, n): (i64, i64, i64) =
        sqlx::query_as("SELECT min(seq), max(seq), count(DISTINCT prev_hash) FROM audit_log")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((min, max, n), (1, 30, 30));
}
