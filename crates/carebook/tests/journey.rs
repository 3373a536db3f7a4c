//! The whole clinic, end to end, through the gateway with every service running
//! on the real PostgreSQL, Redis, RabbitMQ and MailDev: a new patient registers
//! and books, both sides get their email and calendar file, the provider sees the
//! patient and writes a note, billing invoices the visit and staff take payment,
//! and the patient reads the note and who read it. Outsiders are refused at each step.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use carebook::stack::Stack;
use chrono::{Duration as Span, Utc};
use platform::{demo, testing::eventually};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

/// A logged-in client of the gateway.
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn login(stack: &Stack, email: &str, password: &str) -> Self {
        let http = reqwest::Client::new();
        let r = http
            .post(stack.url("/api/v1/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "login of {email}");
        let body: Value = r.json().await.unwrap();
        Self {
            http,
            base: stack.gateway.clone(),
            token: body["access_token"].as_str().unwrap().to_owned(),
        }
    }

    async fn demo(stack: &Stack, who: &str) -> Self {
        Self::login(
            stack,
            &format!("{who}@demo.carebook.test"),
            demo::DEMO_PASSWORD,
        )
        .await
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body)).await
    }

    /// GET that must succeed.
    async fn read(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    /// Poll GET `path` until `ready` accepts the 200 body.
    async fn wait_for(&self, path: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let ready = &ready;
        eventually(WAIT, what, || async move {
            let (status, body) = self.get(path).await;
            (status == StatusCode::OK && ready(&body)).then_some(body)
        })
        .await
    }
}

/// A refusal: the outsider learns nothing, whichever of the two the service chose.
fn refused(status: StatusCode) -> bool {
    status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND
}

#[tokio::test]
async fn a_new_patient_books_is_seen_billed_and_reads_their_record() {
    let stack = Stack::start().await.expect("the stack starts");
    let http = reqwest::Client::new();
    let provider_id = demo::DEMO_USERS[2].id; // provider1, Europe/Berlin

    // Register and log in.
    let email = format!("journey-{}@example.test", uuid::Uuid::new_v4().simple());
    let password = "a long journey passphrase";
    let r = http
        .post(stack.url("/api/v1/auth/register"))
        .json(&json!({ "email": email, "password": password, "name": "Jo Journey", "role": "patient" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let patient = Client::login(&stack, &email, password).await;
    let me = patient.read("/api/v1/auth/me").await;
    let patient_id = me["patient_id"].as_str().expect("a patient id").to_owned();

    // Find the provider and make them the preferred one (the profile arrives by event).
    let found = patient.read("/api/v1/providers?q=Vogel").await;
    let listed = found["items"].as_array().unwrap();
    assert!(
        listed.iter().any(|p| p["id"] == provider_id.to_string()),
        "provider1 found by search: {found}"
    );
    eventually(WAIT, "the preferred provider to be set", || async {
        let (status, _) = patient
            .send(
                Method::PUT,
                "/api/v1/patients/me/preferred-provider",
                Some(json!({ "provider_id": provider_id })),
            )
            .await;
        status.is_success().then_some(())
    })
    .await;
    let profile = patient.read("/api/v1/patients/me").await;
    assert_eq!(
        profile["preferred_provider_id"],
        provider_id.to_string(),
        "{profile}"
    );

    // Pick a type and the first free slot, and book it.
    let types = patient
        .read(&format!(
            "/api/v1/providers/{provider_id}/appointment-types"
        ))
        .await;
    let type_id = types["items"][0]["id"].as_str().expect("a type").to_owned();
    let (from, to) = (Utc::now(), Utc::now() + Span::days(14));
    let slots = patient
        .read(&format!(
            "/api/v1/providers/{provider_id}/slots?appointment_type_id={type_id}&from={}&to={}",
            from.format("%Y-%m-%dT%H:%M:%SZ"),
            to.format("%Y-%m-%dT%H:%M:%SZ")
        ))
        .await;
    let start = slots["items"][0]["start"]
        .as_str()
        .expect("a free slot")
        .to_owned();
    // Scheduling learns of the new patient by event; until then it answers
    // `patient-not-found`, and the retry is safe under the same Idempotency-Key.
    let body =
        json!({ "provider_id": provider_id, "appointment_type_id": type_id, "start": start });
    let booked = eventually(WAIT, "scheduling to know the new patient", || async {
        let r = patient
            .http
            .post(format!("{}/api/v1/appointments", patient.base))
            .bearer_auth(&patient.token)
            .header("idempotency-key", "journey-booking")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let booked: Value = r.json().await.unwrap();
        if status == StatusCode::NOT_FOUND
            && booked["type"]
                .as_str()
                .is_some_and(|t| t.ends_with("/patient-not-found"))
        {
            return None;
        }
        assert_eq!(status, StatusCode::CREATED, "{booked}");
        Some(booked)
    })
    .await;
    assert_eq!(booked["status"], "booked");
    let appointment = booked["id"].as_str().unwrap().to_owned();
    let mine = patient.read("/api/v1/appointments").await;
    assert!(mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["id"] == appointment.as_str()));

    // Both sides are told, each with a calendar file.
    for address in [email.as_str(), "provider1@demo.carebook.test"] {
        let mail = stack
            .mail
            .wait_for(1, "the confirmation email", |m| {
                m.is_to(address) && m.subject().starts_with("Appointment confirmed")
            })
            .await;
        let ics = stack.mail.calendar(&mail[0]).await;
        assert!(ics.contains("METHOD:REQUEST"), "{ics}");
        assert!(
            ics.contains(&appointment),
            "the UID names the appointment: {ics}"
        );
    }

    // Outsiders: another patient and a provider with no care relationship.
    let other_patient = Client::demo(&stack, "patient2").await;
    let other_provider = Client::demo(&stack, "provider3").await;
    let appointment_path = format!("/api/v1/appointments/{appointment}");
    let notes_path = format!("/api/v1/patients/{patient_id}/records/notes");
    for outsider in [&other_patient, &other_provider] {
        let (status, _) = outsider.get(&appointment_path).await;
        assert!(refused(status), "outsider reads the appointment: {status}");
        let (status, _) = outsider
            .post(
                &format!("{appointment_path}/cancel"),
                json!({ "reason": "not mine" }),
            )
            .await;
        assert!(refused(status), "outsider cancels: {status}");
    }
    let (status, _) = other_provider
        .post(&format!("{appointment_path}/check-in"), json!({}))
        .await;
    assert!(refused(status), "unrelated provider checks in: {status}");

    // The provider checks the patient in and writes a note (the care relationship
    // reaches records by event).
    let provider = Client::demo(&stack, "provider1").await;
    let (status, body) = provider
        .post(&format!("{appointment_path}/check-in"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "check-in: {body}");
    let text = "Seen for a routine check. Blood pressure fine; review in a year.";
    let note = eventually(WAIT, "the provider may write in the chart", || async {
        let (status, body) = provider.post(&notes_path, json!({ "text": text })).await;
        (status == StatusCode::CREATED).then_some(body)
    })
    .await;
    let (status, body) = provider
        .post(&format!("{appointment_path}/complete"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "complete: {body}");
    for outsider in [&other_patient, &other_provider] {
        let (status, _) = outsider.get(&notes_path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "outsider reads the notes");
    }
    let (status, _) = other_provider
        .post(&notes_path, json!({ "text": "not my patient" }))
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "unrelated provider writes a note"
    );

    // Billing invoices the completed visit; staff take the payment.
    let invoices = patient
        .wait_for("/api/v1/invoices", "the invoice", |b| {
            b["items"].as_array().is_some_and(|i| !i.is_empty())
        })
        .await;
    let invoice = invoices["items"][0].clone();
    let invoice_id = invoice["id"].as_str().unwrap().to_owned();
    let due = invoice["totals"]["due"].clone();
    assert!(due["amount_minor"].as_i64().unwrap() > 0, "{invoice}");
    let invoice_path = format!("/api/v1/invoices/{invoice_id}");
    for outsider in [&other_patient, &other_provider] {
        let (status, _) = outsider.get(&invoice_path).await;
        assert!(refused(status), "outsider reads the invoice: {status}");
    }
    let (status, _) = patient
        .post(
            &format!("{invoice_path}/payments"),
            json!({ "amount": due, "method": "card" }),
        )
        .await;
    assert!(
        status.is_client_error(),
        "a patient records their own payment: {status}"
    );
    let staff = Client::demo(&stack, "staff").await;
    let (status, paid) = staff
        .post(
            &format!("{invoice_path}/payments"),
            json!({ "amount": due, "method": "card" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    assert_eq!(paid["status"], "paid");
    assert_eq!(patient.read(&invoice_path).await["status"], "paid");

    // The patient reads the note and sees who read their record.
    let notes = patient.read(&notes_path).await;
    let items = notes["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|n| n["id"] == note["id"] && n["text"] == text),
        "the note as written: {notes}"
    );
    let log = patient
        .read(&format!("/api/v1/patients/{patient_id}/records/access-log"))
        .await;
    let provider_user = provider.read("/api/v1/auth/me").await["id"].clone();
    assert!(
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor_id"] == provider_user),
        "the provider's access is logged: {log}"
    );
    let (status, _) = other_patient
        .get(&format!("/api/v1/patients/{patient_id}/records/access-log"))
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "another patient reads the access log"
    );
}
