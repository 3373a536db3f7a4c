//! The whole clinic, end to end, through the gateway with every service running
//! on the real PostgreSQL, Redis, RabbitMQ and MailDev: a new patient registers
//! and confirms their address with the emailed link, books, both sides get
//! their email and calendar file, the provider sees the patient at the visit's
//! time (scheduling's clock moved there) and writes a note, billing invoices the
//! visit and staff take payment, and the patient reads the note and who read
//! it. Outsiders are refused at each step.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use carebook::stack::Stack;
use chrono::{Duration as Span, Utc};
use platform::{demo, testing::eventually};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{register_verified, Caller, WAIT};

/// A refusal: the outsider learns nothing, whichever of the two the service chose.
fn refused(status: StatusCode) -> bool {
    status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND
}

#[tokio::test]
async fn a_new_patient_books_is_seen_billed_and_reads_their_record() {
    let stack = Stack::start().await.expect("the stack starts");
    let provider_id = demo::DEMO_USERS[2].id; // provider1, Europe/Berlin

    // Register, confirm the address with the emailed link, and log in.
    let email = format!("journey-{}@example.test", uuid::Uuid::new_v4().simple());
    let password = "a long journey passphrase";
    register_verified(&stack, &email, password, "Jo Journey").await;
    let patient = Caller::login(&stack, "the new patient", &email, password).await;
    let me = patient.read("/api/v1/auth/me").await;
    let patient_id = me["patient_id"].as_str().expect("a patient id").to_owned();

    // Find the provider and make them the preferred one (the profile arrives by event).
    let found = patient.read("/api/v1/providers?q=Vogel").await;
    let listed = found["items"].as_array().unwrap();
    assert!(
        listed.iter().any(|p| p["id"] == provider_id.to_string()),
        "provider1 found by search: {found}"
    );
    patient
        .eventually(
            Method::PUT,
            "/api/v1/patients/me/preferred-provider",
            json!({ "provider_id": provider_id }),
            200,
        )
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
            .request(Method::POST, "/api/v1/appointments")
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
    let other_patient = Caller::demo(&stack, "patient2").await;
    let other_provider = Caller::demo(&stack, "provider3").await;
    let appointment_path = format!("/api/v1/appointments/{appointment}");
    let notes_path = format!("/api/v1/patients/{patient_id}/records/notes");
    for outsider in [&other_patient, &other_provider] {
        let status = outsider
            .send(Method::GET, &appointment_path, None)
            .await
            .status;
        assert!(refused(status), "outsider reads the appointment: {status}");
        let status = outsider
            .send(
                Method::POST,
                &format!("{appointment_path}/cancel"),
                Some(&json!({ "reason": "not mine" })),
            )
            .await
            .status;
        assert!(refused(status), "outsider cancels: {status}");
    }
    let status = other_provider
        .send(
            Method::POST,
            &format!("{appointment_path}/check-in"),
            Some(&json!({})),
        )
        .await
        .status;
    assert!(refused(status), "unrelated provider checks in: {status}");

    // At the visit's time, the provider checks the patient in and writes a note
    // (the care relationship reaches records by event).
    let visit_start: chrono::DateTime<Utc> = start.parse().expect("an RFC 3339 start");
    stack.clock.set(visit_start + Span::minutes(2));
    let provider = Caller::demo(&stack, "provider1").await;
    provider
        .expect(
            Method::POST,
            &format!("{appointment_path}/check-in"),
            json!({}),
            200,
        )
        .await;
    let text = "Seen for a routine check. Blood pressure fine; review in a year.";
    // The provider may write in the chart once records knows of the visit.
    let note = provider
        .eventually(Method::POST, &notes_path, json!({ "text": text }), 201)
        .await;
    provider
        .expect(
            Method::POST,
            &format!("{appointment_path}/complete"),
            json!({}),
            200,
        )
        .await;
    stack.clock.set(Utc::now());
    for outsider in [&other_patient, &other_provider] {
        // Reading the notes.
        outsider
            .expect(Method::GET, &notes_path, Value::Null, 403)
            .await;
    }
    // An unrelated provider writing a note.
    other_provider
        .expect(
            Method::POST,
            &notes_path,
            json!({ "text": "not my patient" }),
            403,
        )
        .await;

    // Billing invoices the completed visit; staff take the payment.
    let invoices = eventually(WAIT, "the invoice", || async {
        let a = patient.send(Method::GET, "/api/v1/invoices", None).await;
        let listed = a.json["items"].as_array().is_some_and(|i| !i.is_empty());
        (a.status == StatusCode::OK && listed).then_some(a.json)
    })
    .await;
    let invoice = invoices["items"][0].clone();
    let invoice_id = invoice["id"].as_str().unwrap().to_owned();
    let due = invoice["totals"]["due"].clone();
    assert!(due["amount_minor"].as_i64().unwrap() > 0, "{invoice}");
    let invoice_path = format!("/api/v1/invoices/{invoice_id}");
    for outsider in [&other_patient, &other_provider] {
        let status = outsider.send(Method::GET, &invoice_path, None).await.status;
        assert!(refused(status), "outsider reads the invoice: {status}");
    }
    let status = patient
        .send(
            Method::POST,
            &format!("{invoice_path}/payments"),
            Some(&json!({ "amount": due, "method": "card" })),
        )
        .await
        .status;
    assert!(
        status.is_client_error(),
        "a patient records their own payment: {status}"
    );
    let staff = Caller::demo(&stack, "staff").await;
    let paid = staff
        .expect(
            Method::POST,
            &format!("{invoice_path}/payments"),
            json!({ "amount": due, "method": "card" }),
            201,
        )
        .await;
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
    // Another patient reading the access log.
    other_patient
        .expect(
            Method::GET,
            &format!("/api/v1/patients/{patient_id}/records/access-log"),
            Value::Null,
            403,
        )
        .await;
}
