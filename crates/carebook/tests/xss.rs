//! Stored cross-site scripting: markup saved in a patient's name (read as a
//! profile, a summary and a search result), a provider's name and bio and a
//! clinical note comes back through the gateway as inert
//! data — byte for byte inside a JSON string, in an `application/json` answer
//! that browsers may neither sniff into HTML (`nosniff`) nor run scripts from
//! (`Content-Security-Policy: default-src 'none'`) — and is escaped in the HTML
//! of the emails sent about the booking (and about the new account).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use carebook::stack::Stack;
use platform::demo;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{free_slots, register_verified, Answer, Caller};

const PAYLOADS: [&str; 6] = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "<svg/onload=alert(document.cookie)>",
    "</textarea><iframe src=javascript:alert(1)>",
    "'-alert(1)-' {{7*7}} ${7*7}",
    "<a href=\"javascript:alert(1)\">x</a>",
];

/// A JSON answer browsers treat as data only.
fn assert_inert(answer: &Answer, what: &str) {
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let content_type = header("content-type");
    assert!(
        content_type.starts_with("application/json")
            || content_type.starts_with("application/problem+json"),
        "{what}: Content-Type {content_type:?}"
    );
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert!(
        header("content-security-policy").contains("default-src 'none'"),
        "{what}: CSP {:?}",
        header("content-security-policy")
    );
}

/// `payload` is in the body exactly as JSON encodes that string: the value the
/// client parses is the bytes that were stored, nothing added, nothing removed.
fn assert_verbatim(answer: &Answer, payload: &str, what: &str) {
    let encoded = serde_json::to_string(payload).expect("a JSON string");
    assert!(
        answer.text.contains(&encoded),
        "{what}: {encoded} not in {}",
        answer.text
    );
}

#[tokio::test]
async fn markup_in_names_bios_and_notes_stays_inert_data() {
    let stack = Stack::start().await.expect("the stack starts");
    let provider = Caller::demo(&stack, "provider1").await;
    let staff = Caller::demo(&stack, "staff").await;
    let provider_id = demo::DEMO_USERS[2].id;

    // The provider's name and bio.
    let profile = provider
        .read(&format!("/api/v1/providers/{provider_id}"))
        .await;
    let bio = PAYLOADS.join(" ");
    let update = json!({
        "name": PAYLOADS[1], "specialty": profile["specialty"], "bio": bio,
        "languages": profile["languages"], "location": profile["location"],
        "time_zone": profile["time_zone"], "accepting_new_patients": true,
    });
    provider
        .expect(
            Method::PUT,
            &format!("/api/v1/providers/{provider_id}"),
            update,
            200,
        )
        .await;
    for path in [
        format!("/api/v1/providers/{provider_id}"),
        "/api/v1/providers?q=onerror".to_owned(),
    ] {
        let answer = staff.send(Method::GET, &path, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_inert(&answer, &path);
        assert_verbatim(&answer, PAYLOADS[1], &path);
        assert_verbatim(&answer, &bio, &path);
    }

    // A patient who registers with markup for a name, then tries every payload.
    let email = format!("xss-{}@example.test", uuid::Uuid::new_v4().simple());
    let password = "cross site passphrase";
    register_verified(&stack, &email, password, PAYLOADS[0]).await;
    // The verification email greets them by that name: escaped.
    let verification = stack
        .mail
        .wait_for(1, "the verification email", |m| {
            m.is_to(&email) && m.subject() == "Confirm your email address"
        })
        .await;
    assert_escaped(verification[0].html());
    let patient = Caller::login(&stack, "xss patient", &email, password).await;
    let me = patient.read("/api/v1/auth/me").await;
    assert_eq!(me["name"], PAYLOADS[0]);
    let patient_id = me["patient_id"].as_str().expect("a patient id").to_owned();
    // The directory profile arrives by event.
    patient
        .eventually(Method::GET, "/api/v1/patients/me", Value::Null, 200)
        .await;
    for payload in PAYLOADS {
        patient
            .expect(
                Method::PUT,
                "/api/v1/patients/me",
                json!({ "name": payload }),
                200,
            )
            .await;
        for (who, path) in [
            (&patient, "/api/v1/patients/me".to_owned()),
            (&staff, format!("/api/v1/patients/{patient_id}")),
        ] {
            let answer = who.send(Method::GET, &path, None).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}");
            assert_inert(&answer, &path);
            assert_eq!(answer.json["name"], payload, "{path}");
            assert_verbatim(&answer, payload, &path);
        }
    }

    // A booking gives the provider a care relationship and sends the emails.
    let types = patient
        .read(&format!(
            "/api/v1/providers/{provider_id}/appointment-types"
        ))
        .await;
    let type_id = types["items"][0]["id"].as_str().expect("a type").to_owned();
    // The first free slot: the summary opens seven days before a booking.
    let start = free_slots(&patient, provider_id, &type_id)
        .await
        .into_iter()
        .next()
        .expect("a free slot");
    patient
        .expect(
            Method::POST,
            "/api/v1/appointments",
            json!({ "provider_id": provider_id, "appointment_type_id": type_id, "start": start }),
            201,
        )
        .await;

    // The provider now reads the patient's summary, and staff find the patient
    // by a word of the name: the markup is data in both.
    let name = PAYLOADS[PAYLOADS.len() - 1];
    let summary = format!("/api/v1/patients/{patient_id}/summary");
    provider
        .eventually(Method::GET, &summary, Value::Null, 200)
        .await;
    for (who, path) in [
        (&provider, summary),
        (&staff, "/api/v1/patients?q=javascript".to_owned()),
    ] {
        let answer = who.send(Method::GET, &path, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_inert(&answer, &path);
        assert_verbatim(&answer, name, &path);
    }

    // A clinical note of nothing but markup, read back by patient and provider.
    let text = PAYLOADS.join("\n");
    let notes = format!("/api/v1/patients/{patient_id}/records/notes");
    let note = provider
        .eventually(Method::POST, &notes, json!({ "text": text }), 201)
        .await;
    let note_path = format!("{notes}/{}", note["id"].as_str().expect("an id"));
    for who in [&patient, &provider] {
        for path in [&notes, &note_path] {
            let answer = who.send(Method::GET, path, None).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}");
            assert_inert(&answer, path);
            assert_verbatim(&answer, &text, path);
        }
    }
    assert_eq!(patient.read(&note_path).await["text"], text);

    // Markup in a path or query is refused as problem+json, never echoed.
    for path in [
        format!("/api/v1/appointments/{}", urlencode(PAYLOADS[0])),
        format!("/api/v1/providers?limit={}", urlencode(PAYLOADS[1])),
        format!(
            "/api/v1/patients/{patient_id}/records/{}",
            urlencode(PAYLOADS[2])
        ),
    ] {
        let answer = patient.send(Method::GET, &path, None).await;
        assert!(answer.status.is_client_error(), "{path}: {}", answer.status);
        assert_inert(&answer, &path);
        for payload in PAYLOADS {
            assert!(!answer.text.contains(payload), "{path} echoes {payload}");
        }
    }

    // The confirmation email greets the patient by name (the registered one or
    // the latest, whichever reached notifications first): escaped in the HTML
    // part, so the markup is text there, never elements or attributes.
    let mail = stack
        .mail
        .wait_for(1, "the confirmation email", |m| {
            m.is_to(&email) && m.subject().starts_with("Appointment confirmed")
        })
        .await;
    assert_escaped(mail[0].html());
}

/// An email's HTML holds a name of markup as text: escaped, never elements
/// or attributes.
fn assert_escaped(html: &str) {
    assert!(html.contains("&lt;"), "the name, escaped: {html}");
    for payload in PAYLOADS {
        assert!(
            !html.contains(payload),
            "raw {payload} in the email: {html}"
        );
    }
    // (The email's own links are anchors; a payload's never is.)
    for needle in ["<script", "<img", "<svg", "<iframe", "<a href=\"javascript"] {
        assert!(!html.contains(needle), "{needle} in the email: {html}");
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
