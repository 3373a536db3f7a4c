//! Logs carry ids, never clinical text: everything the service logs at debug
//! level during writes, reads, refusals, validation failures and an integrity
//! failure is captured and searched.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use platform::auth::Role;
use reqwest::StatusCode;
use serde_json::json;
use tracing_subscriber::{fmt::MakeWriter, EnvFilter};

use crate::helpers::{notes, spawn_app};

const SECRET: &str = "Quixotic-hyacinth pericarditis";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn no_clinical_text_reaches_the_logs() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::new("debug"))
        .with_writer(captured.clone())
        .finish();
    // The test runtime is single-threaded: the service's tasks log through this too.
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = spawn_app().await;
    let patient = app.patient().await;
    let (provider, _) = app.provider_caring_for(&patient).await;
    let note = app.note(&provider, patient.id, SECRET).await;
    let entry = format!("{}/{}", notes(patient.id), note["id"].as_str().unwrap());
    app.put(
        &provider,
        &entry,
        &json!({"text": format!("{SECRET} (amended)")}),
    )
    .await;
    app.get(&patient, &notes(patient.id)).await;
    app.get(&patient, &format!("{entry}/history")).await;
    app.get(&app.user(Role::Staff), &notes(patient.id)).await;
    let r = app
        .post(
            &provider,
            &format!("/api/v1/patients/{}/records/diagnoses", patient.id),
            &json!({"code": SECRET, "description": SECRET}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(
            &provider,
            &format!("/api/v1/patients/{}/records/allergies", patient.id),
            &json!({"substance": SECRET, "severity": SECRET}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let stranger = app.user(Role::Provider);
    app.post(
        &stranger,
        &format!("/api/v1/patients/{}/records/break-glass", patient.id),
        &json!({"reason": format!("emergency: {SECRET}")}),
    )
    .await;
    sqlx::query("ALTER TABLE record_versions DISABLE TRIGGER record_versions_append_only")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE record_versions SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1)")
        .execute(&app.db)
        .await
        .unwrap();
    let r = app.get(&patient, &entry).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("stored record failed its integrity check"),
        "the capture works"
    );
    assert!(
        logs.contains(&note["id"].as_str().unwrap().to_string()),
        "ids are logged"
    );
    assert!(
        !logs.contains("Quixotic") && !logs.contains("hyacinth"),
        "clinical text in the logs"
    );
}
