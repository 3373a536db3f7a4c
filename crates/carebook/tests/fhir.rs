//! Issue 22's proof: the FHIR R4 API (`/fhir/R4` on the gateway) checked by
//! others' software, against the whole stack on the real PostgreSQL, Redis,
//! RabbitMQ and MailDev. Every resource these tests receive, errors included,
//! is validated by an independent FHIR validator, `fhir.resources` (PyPI),
//! through `tools/fhir/validate.py`; `tools/fhir/client_journey.py` drives
//! `fhirpy` (PyPI), a FHIR client written by others, through a patient's
//! booking, a provider's read and another patient's refusal. The
//! CapabilityStatement is held to what answers, and a FHIR booking is shown to
//! be the REST booking: its email, its REST view, its idempotency and its
//! conflicts. `scripts/test` installs both Python packages
//! (`CAREBOOK_FHIR_PYTHON`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use carebook::stack::Stack;
use chrono::{DateTime, Utc};
use platform::demo;
use reqwest::{
    header::{ACCEPT, CONTENT_TYPE},
    Method, RequestBuilder, StatusCode,
};
use serde_json::{json, Value};
use support::{book_soonest, Answer, Caller, WAIT};
use tokio::io::AsyncWriteExt;

const TOOLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/fhir");
const BASE: &str = "/fhir/R4";
const FHIR_JSON: &str = "application/fhir+json";
/// The appointment types' code system (ServiceType codings).
const APPOINTMENT_TYPE: &str = "https://carebook.dev/fhir/CodeSystem/appointment-type";
/// The resource types the contract promises (docs/fhir.md).
const PROMISED: [&str; 12] = [
    "Practitioner",
    "PractitionerRole",
    "Schedule",
    "Slot",
    "Appointment",
    "Patient",
    "AllergyIntolerance",
    "Condition",
    "MedicationStatement",
    "Observation",
    "DocumentReference",
    "AuditEvent",
];

const PROVIDER1: usize = 2;
const PATIENT1: usize = 5;
const PATIENT2: usize = 6;

fn id(user: usize) -> uuid::Uuid {
    demo::DEMO_USERS[user].id
}

// -- the independent validator ---------------------------------------------

/// The virtualenv's Python with fhir.resources and fhirpy: `CAREBOOK_FHIR_PYTHON`
/// (set by `scripts/test`), else where `scripts/test` puts it.
fn fhir_python() -> PathBuf {
    if let Some(configured) = std::env::var_os("CAREBOOK_FHIR_PYTHON") {
        let python = PathBuf::from(configured);
        assert!(
            python.exists(),
            "CAREBOOK_FHIR_PYTHON={} does not exist: run scripts/test (it installs the FHIR validator)",
            python.display()
        );
        return python;
    }
    let cache = std::env::var_os("CAREBOOK_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/carebook")));
    cache
        .map(|c| c.join("fhir-venv/bin/python"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| panic!("run scripts/test (it installs the FHIR validator)"))
}

/// `resources` (one resource, a Bundle or an array of them) pass fhir.resources'
/// R4B models, every Bundle entry included.
async fn validate(resources: &Value) {
    let mut child = tokio::process::Command::new(fhir_python())
        .arg(Path::new(TOOLS).join("validate.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the FHIR validator starts");
    let mut stdin = child.stdin.take().expect("the validator's stdin");
    stdin
        .write_all(resources.to_string().as_bytes())
        .await
        .expect("the resources reach the validator");
    drop(stdin);
    let out = child
        .wait_with_output()
        .await
        .expect("the validator finishes");
    assert!(
        out.status.success(),
        "fhir.resources rejects what the server sent:\n{}{}\n{resources:#}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}

// -- FHIR requests -----------------------------------------------------------

/// Send a FHIR request. What comes back must be a FHIR resource (an
/// OperationOutcome when it is an error), and is validated.
async fn send(request: RequestBuilder, what: &str) -> Answer {
    let r = request.send().await.expect("request");
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert!(
        json["resourceType"].is_string(),
        "{what}: {status} answered no FHIR resource: {text}"
    );
    if !status.is_success() {
        assert_eq!(
            json["resourceType"], "OperationOutcome",
            "{what}: an error ({status}) is an OperationOutcome"
        );
    }
    validate(&json).await;
    Answer {
        status,
        headers,
        text,
        json,
    }
}

async fn get(caller: &Caller, path: &str) -> Answer {
    send(
        caller.request(Method::GET, path).header(ACCEPT, FHIR_JSON),
        &format!("{} GET {path}", caller.name),
    )
    .await
}

/// `path` must answer 200 to `caller`; the resource.
async fn read(caller: &Caller, path: &str) -> Value {
    let a = get(caller, path).await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{} GET {path}: {}",
        caller.name,
        a.text
    );
    a.json
}

/// POST `resource` to `path`, with an `Idempotency-Key` when given.
async fn post(caller: &Caller, path: &str, resource: &Value, key: Option<&str>) -> Answer {
    let mut request = caller
        .request(Method::POST, path)
        .header(ACCEPT, FHIR_JSON)
        .header(CONTENT_TYPE, FHIR_JSON)
        .body(resource.to_string());
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    send(request, &format!("{} POST {path}", caller.name)).await
}

/// GET `path` until it answers `expected` (events take a moment to reach the
/// service that decides), or `WAIT` passed; the last answer.
async fn get_until(caller: &Caller, path: &str, expected: StatusCode) -> Answer {
    let deadline = Instant::now() + WAIT;
    loop {
        let a = get(caller, path).await;
        if a.status == expected || Instant::now() > deadline {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The first issue's `code` of an OperationOutcome.
fn issue_code(outcome: &Value) -> &str {
    outcome["issue"][0]["code"].as_str().unwrap_or("")
}

/// The resources of a searchset Bundle's entries.
fn entries(bundle: &Value) -> Vec<Value> {
    bundle["entry"]
        .as_array()
        .map(|e| e.iter().map(|e| e["resource"].clone()).collect())
        .unwrap_or_default()
}

/// A searchset Bundle as the contract says: `total`, a `self` link, every
/// entry with its `fullUrl` under the gateway's base and `search.mode=match`.
fn assert_searchset(stack: &Stack, bundle: &Value, what: &str) {
    assert_eq!(bundle["resourceType"], "Bundle", "{what}: {bundle}");
    assert_eq!(bundle["type"], "searchset", "{what}: {bundle}");
    assert!(bundle["total"].is_u64(), "{what}: a total: {bundle}");
    let links = bundle["link"].as_array().cloned().unwrap_or_default();
    assert!(
        links.iter().any(|l| l["relation"] == "self"),
        "{what}: a self link: {bundle}"
    );
    for entry in bundle["entry"].as_array().cloned().unwrap_or_default() {
        let resource = &entry["resource"];
        let full_url = stack.url(&format!(
            "{BASE}/{}/{}",
            resource["resourceType"].as_str().unwrap_or(""),
            resource["id"].as_str().unwrap_or("")
        ));
        assert_eq!(entry["fullUrl"], full_url.as_str(), "{what}: {entry}");
        assert_eq!(entry["search"]["mode"], "match", "{what}: {entry}");
    }
}

fn next_link(bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")?["url"]
        .as_str()
        .map(str::to_owned)
}

fn instant(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("an instant: {value}"))
}

/// The free Slots of `provider` in the next week (the default window).
async fn free_slots(caller: &Caller, provider: uuid::Uuid) -> Vec<Value> {
    let path = format!("{BASE}/Slot?schedule.actor=Practitioner/{provider}&status=free&_count=100");
    let answer = get_until(caller, &path, StatusCode::OK).await;
    assert_eq!(answer.status, StatusCode::OK, "GET {path}: {}", answer.text);
    let slots = entries(&answer.json);
    assert!(
        !slots.is_empty(),
        "free slots in the next week: {}",
        answer.text
    );
    slots
}

// -- the tests ---------------------------------------------------------------

/// How to search each promised resource type with everything it needs: who
/// searches, and the query.
fn full_search(kind: &str) -> (&'static str, String) {
    let (provider, patient) = (id(PROVIDER1), id(PATIENT1));
    match kind {
        "Practitioner" => ("patient1", "name=Vogel".into()),
        "PractitionerRole" => ("patient1", format!("practitioner=Practitioner/{provider}")),
        "Schedule" => ("patient1", format!("actor=Practitioner/{provider}")),
        "Slot" => (
            "patient1",
            format!("schedule.actor=Practitioner/{provider}&status=free"),
        ),
        "Appointment" => ("patient1", format!("patient=Patient/{patient}")),
        "Patient" => ("staff", format!("_id={patient}")),
        _ => ("patient1", format!("patient=Patient/{patient}")),
    }
}

#[tokio::test]
async fn metadata_and_smart_configuration() {
    let stack = Stack::start().await.expect("the stack starts");
    let anonymous = Caller::anonymous(&stack);

    // The CapabilityStatement is public, FHIR 4.0.1, JSON.
    let metadata = get(&anonymous, &format!("{BASE}/metadata")).await;
    assert_eq!(metadata.status, StatusCode::OK, "{}", metadata.text);
    let statement = metadata.json;
    assert_eq!(statement["resourceType"], "CapabilityStatement");
    assert_eq!(statement["fhirVersion"], "4.0.1", "{statement}");
    let content_type = metadata
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(content_type.starts_with(FHIR_JSON), "{content_type}");
    // XML is not spoken: 406, by Accept or by `_format`.
    for (request, what) in [
        (
            anonymous
                .request(Method::GET, &format!("{BASE}/metadata"))
                .header(ACCEPT, "application/fhir+xml"),
            "metadata, Accept: application/fhir+xml",
        ),
        (
            anonymous.request(Method::GET, &format!("{BASE}/metadata?_format=xml")),
            "metadata?_format=xml",
        ),
    ] {
        let xml = send(request, what).await;
        assert_eq!(
            xml.status,
            StatusCode::NOT_ACCEPTABLE,
            "{what}: {}",
            xml.text
        );
    }

    // The statement matches what answers: every resource type it lists as
    // searchable answers a search as the right demo user, and a bare search is
    // a Bundle or a 400 for a missing parameter, never 404 or 405.
    let listed = statement["rest"][0]["resource"]
        .as_array()
        .unwrap_or_else(|| panic!("rest[0].resource: {statement}"))
        .clone();
    for kind in PROMISED {
        assert!(
            listed.iter().any(|r| r["type"] == kind),
            "{kind} is promised (docs/fhir.md) but not in the statement"
        );
    }
    let mut callers: Vec<Caller> = Vec::new();
    for resource in &listed {
        let kind = resource["type"].as_str().expect("a type");
        let interactions: Vec<&str> = resource["interaction"]
            .as_array()
            .map(|i| i.iter().filter_map(|i| i["code"].as_str()).collect())
            .unwrap_or_default();
        if !interactions.contains(&"search-type") {
            continue;
        }
        let (who, query) = full_search(kind);
        if !callers.iter().any(|c| c.name == who) {
            callers.push(Caller::demo(&stack, who).await);
        }
        let caller = callers.iter().find(|c| c.name == who).expect("the caller");

        let bare = get(caller, &format!("{BASE}/{kind}")).await;
        match bare.status {
            StatusCode::OK => assert_searchset(&stack, &bare.json, kind),
            StatusCode::BAD_REQUEST => {
                assert_eq!(issue_code(&bare.json), "invalid", "{}", bare.text)
            }
            other => panic!(
                "{who} GET {BASE}/{kind}: {other} (the statement lists it): {}",
                bare.text
            ),
        }

        let path = format!("{BASE}/{kind}?{query}");
        let found = get_until(caller, &path, StatusCode::OK).await;
        assert_eq!(
            found.status,
            StatusCode::OK,
            "{who} GET {path}: {}",
            found.text
        );
        assert_searchset(&stack, &found.json, &path);

        // A type that lists `read` reads what its search found.
        if interactions.contains(&"read") {
            if let Some(first) = entries(&found.json).first() {
                let rid = first["id"].as_str().expect("an id");
                let one = read(caller, &format!("{BASE}/{kind}/{rid}")).await;
                assert_eq!(one["resourceType"], kind, "{one}");
                assert_eq!(one["id"], rid, "{one}");
            }
        }
    }

    // A search needs a token (401), and the token's scopes (403 `forbidden`):
    // staff have no clinical scopes.
    let patient = id(PATIENT1);
    let allergies = format!("{BASE}/AllergyIntolerance?patient=Patient/{patient}");
    let unauthenticated = get(&anonymous, &allergies).await;
    assert_eq!(
        unauthenticated.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        unauthenticated.text
    );
    let staff = Caller::demo(&stack, "staff").await;
    let unscoped = get(&staff, &allergies).await;
    assert_eq!(unscoped.status, StatusCode::FORBIDDEN, "{}", unscoped.text);
    assert_eq!(issue_code(&unscoped.json), "forbidden", "{}", unscoped.text);

    // The SMART configuration: public, with where tokens come from and the scopes.
    let smart = anonymous
        .send(
            Method::GET,
            &format!("{BASE}/.well-known/smart-configuration"),
            None,
        )
        .await;
    assert_eq!(smart.status, StatusCode::OK, "{}", smart.text);
    assert!(
        smart.json["token_endpoint"]
            .as_str()
            .is_some_and(|t| t.ends_with("/api/v1/auth/login")),
        "{}",
        smart.text
    );
    let scopes = smart.json["scopes_supported"]
        .as_array()
        .unwrap_or_else(|| panic!("scopes_supported: {}", smart.text));
    assert!(scopes.contains(&json!("patient/*.rs")), "{}", smart.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_third_party_client_books_reads_cancels_and_is_refused() {
    let stack = Stack::start().await.expect("the stack starts");
    let (patient_id, provider_id) = (id(PATIENT1), id(PROVIDER1));
    let patient = Caller::demo(&stack, "patient1").await;
    let provider = Caller::demo(&stack, "provider1").await;

    // A booking inside the 7-day window puts patient1 in provider1's care;
    // then provider1 records an allergy (through the REST API).
    book_soonest(&patient, provider_id).await;
    provider
        .eventually(
            Method::POST,
            &format!("/api/v1/patients/{patient_id}/records/allergies"),
            json!({ "substance": "Penicillin", "severity": "severe", "reaction": "Hives" }),
            201,
        )
        .await;

    let journey = tokio::process::Command::new(fhir_python())
        .arg(Path::new(TOOLS).join("client_journey.py"))
        .args(["--gateway", &stack.gateway])
        .args(["--provider-id", &provider_id.to_string()])
        .args(["--patient-id", &patient_id.to_string()])
        .args(["--other-patient-id", &id(PATIENT2).to_string()])
        .args(["--patient-email", demo::DEMO_USERS[PATIENT1].email])
        .args(["--provider-email", demo::DEMO_USERS[PROVIDER1].email])
        .args(["--other-email", demo::DEMO_USERS[PATIENT2].email])
        .args(["--allergy", "Penicillin"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), journey)
        .await
        .expect("the client journey finishes within three minutes")
        .expect("the client journey runs");
    assert!(
        out.status.success(),
        "the fhirpy journey failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_fhir_booking_is_the_same_booking() {
    let stack = Stack::start().await.expect("the stack starts");
    let (patient_id, provider_id) = (id(PATIENT1), id(PROVIDER1));
    let patient = Caller::demo(&stack, "patient1").await;

    // Two free slots three hours apart, so one booking's buffers never hide the other.
    let slots = free_slots(&patient, provider_id).await;
    let first = slots[0].clone();
    let later = slots
        .iter()
        .find(|s| instant(&s["start"]) - instant(&first["start"]) >= chrono::Duration::hours(3))
        .unwrap_or_else(|| panic!("a second slot three hours later: {slots:?}"))
        .clone();
    let slot_id = first["id"].as_str().expect("a slot id");
    let booking = json!({
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{ "reference": format!("Slot/{slot_id}") }],
        "participant": [{ "actor": { "reference": format!("Patient/{patient_id}") }, "status": "accepted" }],
    });

    // Booked through FHIR, with an Idempotency-Key (scheduling learns of the
    // demo accounts by event: the first tries may be refused).
    let deadline = Instant::now() + WAIT;
    let (created, key) = loop {
        let key = uuid::Uuid::new_v4().to_string();
        let a = post(
            &patient,
            &format!("{BASE}/Appointment"),
            &booking,
            Some(&key),
        )
        .await;
        if a.status == StatusCode::CREATED || Instant::now() > deadline {
            break (a, key);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        created.status,
        StatusCode::CREATED,
        "POST Appointment: {}",
        created.text
    );
    let appointment = created.json["id"].as_str().expect("an id").to_owned();
    assert_eq!(created.json["status"], "booked", "{}", created.text);
    assert_eq!(instant(&created.json["start"]), instant(&first["start"]));
    let location = created
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        location.contains(&format!("{BASE}/Appointment/{appointment}")),
        "Location: {location:?}"
    );

    // The same request again is the same booking (200); another key for the
    // same slot conflicts (409).
    let repeat = post(
        &patient,
        &format!("{BASE}/Appointment"),
        &booking,
        Some(&key),
    )
    .await;
    assert_eq!(repeat.status, StatusCode::OK, "the repeat: {}", repeat.text);
    assert_eq!(repeat.json["id"], appointment.as_str(), "{}", repeat.text);
    let other_key = uuid::Uuid::new_v4().to_string();
    let taken = post(
        &patient,
        &format!("{BASE}/Appointment"),
        &booking,
        Some(&other_key),
    )
    .await;
    assert_eq!(
        taken.status,
        StatusCode::CONFLICT,
        "the slot again: {}",
        taken.text
    );
    assert_eq!(issue_code(&taken.json), "conflict", "{}", taken.text);

    // It is the REST booking: the same start through the REST API, the
    // confirmation email with its calendar entry.
    let rest = patient
        .read(&format!("/api/v1/appointments/{appointment}"))
        .await;
    assert_eq!(rest["status"], "booked", "{rest}");
    assert_eq!(rest["provider_id"], provider_id.to_string(), "{rest}");
    assert_eq!(instant(&rest["start"]), instant(&first["start"]), "{rest}");
    let fhir = read(&patient, &format!("{BASE}/Appointment/{appointment}")).await;
    assert_eq!(instant(&fhir["start"]), instant(&rest["start"]), "{fhir}");
    let actors: Vec<&str> = fhir["participant"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|p| p["actor"]["reference"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        actors.contains(&format!("Patient/{patient_id}").as_str())
            && actors.contains(&format!("Practitioner/{provider_id}").as_str()),
        "{fhir}"
    );
    let mail = stack
        .mail
        .wait_for(1, "the confirmation email", |m| {
            m.is_to(demo::DEMO_USERS[PATIENT1].email)
                && m.subject().starts_with("Appointment confirmed")
        })
        .await;
    let ics = stack.mail.calendar(&mail[0]).await;
    assert!(
        ics.contains(&appointment),
        "the UID names the appointment: {ics}"
    );

    // Another patient does not see it.
    let other = Caller::demo(&stack, "patient2").await;
    let refused = get(&other, &format!("{BASE}/Appointment/{appointment}")).await;
    assert!(
        refused.status == StatusCode::FORBIDDEN || refused.status == StatusCode::NOT_FOUND,
        "patient2 reads patient1's appointment: {} {}",
        refused.status,
        refused.text
    );

    // A second booking by `start` and appointment type (the patient is the
    // caller when left out).
    let type_id = later["schedule"]["reference"]
        .as_str()
        .and_then(|r| r.strip_prefix("Schedule/"))
        .unwrap_or_else(|| panic!("the slot's schedule: {later}"))
        .to_owned();
    let by_start = json!({
        "resourceType": "Appointment",
        "status": "booked",
        "start": later["start"],
        "serviceType": [{ "coding": [{ "system": APPOINTMENT_TYPE, "code": type_id }] }],
        "participant": [{ "actor": { "reference": format!("Practitioner/{provider_id}") }, "status": "accepted" }],
    });
    let second = post(&patient, &format!("{BASE}/Appointment"), &by_start, None).await;
    assert_eq!(
        second.status,
        StatusCode::CREATED,
        "by start: {}",
        second.text
    );
    assert_ne!(second.json["id"], appointment.as_str(), "{}", second.text);
    assert_eq!(instant(&second.json["start"]), instant(&later["start"]));

    // `_summary=count` answers the total alone.
    let mine = format!("{BASE}/Appointment?patient=Patient/{patient_id}");
    let counted = read(&patient, &format!("{mine}&_summary=count")).await;
    assert_eq!(counted["resourceType"], "Bundle", "{counted}");
    assert!(
        counted["total"].as_u64().is_some_and(|t| t >= 2),
        "{counted}"
    );
    assert!(
        counted["entry"].as_array().is_none_or(|e| e.is_empty()),
        "no entries with _summary=count: {counted}"
    );

    // `_count=1`: one a page, and the next link leads on.
    let page = read(&patient, &format!("{mine}&_count=1")).await;
    assert_searchset(&stack, &page, "the first page");
    let on_first = entries(&page);
    assert_eq!(on_first.len(), 1, "{page}");
    let next = next_link(&page).unwrap_or_else(|| panic!("a next link: {page}"));
    let next_path = next
        .strip_prefix(&stack.gateway)
        .unwrap_or_else(|| {
            panic!(
                "the next link is on the gateway ({}): {next}",
                stack.gateway
            )
        })
        .to_owned();
    assert!(
        next_path.starts_with(&format!("{BASE}/Appointment?")),
        "{next}"
    );
    assert!(next_path.contains("_cursor="), "{next}");
    let page2 = read(&patient, &next_path).await;
    assert_searchset(&stack, &page2, "the next page");
    let on_second = entries(&page2);
    assert_eq!(on_second.len(), 1, "{page2}");
    assert_ne!(
        on_second[0]["id"], on_first[0]["id"],
        "the next page moves on: {page2}"
    );

    // An update may cancel and do nothing else: moving the time is 422; a
    // JSON Patch of the status cancels, as the REST API then shows.
    let mut moved = fhir.clone();
    moved["start"] = later["start"].clone();
    moved["end"] = later["end"].clone();
    let path = format!("{BASE}/Appointment/{appointment}");
    let refused = send(
        patient
            .request(Method::PUT, &path)
            .header(ACCEPT, FHIR_JSON)
            .header(CONTENT_TYPE, FHIR_JSON)
            .body(moved.to_string()),
        "PUT with another start",
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    let second_id = second.json["id"].as_str().expect("an id");
    let cancelled = send(
        patient
            .request(Method::PATCH, &format!("{BASE}/Appointment/{second_id}"))
            .header(ACCEPT, FHIR_JSON)
            .header(CONTENT_TYPE, "application/json-patch+json")
            .body(
                json!([{ "op": "replace", "path": "/status", "value": "cancelled" }]).to_string(),
            ),
        "PATCH status cancelled",
    )
    .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text);
    assert_eq!(cancelled.json["status"], "cancelled", "{}", cancelled.text);
    let rest = patient
        .read(&format!("/api/v1/appointments/{second_id}"))
        .await;
    assert_eq!(rest["status"], "cancelled", "{rest}");

    // What follows a REST booking follows this one: the provider is in the
    // patient's care (reads them through FHIR once the directory heard of
    // the booking), and the visit, checked in and completed at its time, is
    // invoiced by billing and shows as `fulfilled`.
    let provider = Caller::demo(&stack, "provider1").await;
    let in_care = get_until(
        &provider,
        &format!("{BASE}/Patient/{patient_id}"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(in_care.status, StatusCode::OK, "{}", in_care.text);
    assert_eq!(
        in_care.json["id"],
        patient_id.to_string(),
        "{}",
        in_care.text
    );
    validate(&in_care.json).await;
    // …and finds them by name among the patients in their care.
    let surname = demo::DEMO_USERS[PATIENT1]
        .name
        .split_whitespace()
        .last()
        .expect("a name");
    let found = read(&provider, &format!("{BASE}/Patient?name={surname}")).await;
    validate(&found).await;
    assert!(
        entries(&found)
            .iter()
            .any(|p| p["id"] == patient_id.to_string()),
        "{found}"
    );
    stack
        .clock
        .set(instant(&first["start"]) + chrono::Duration::minutes(2));
    for step in ["check-in", "complete"] {
        provider
            .expect(
                Method::POST,
                &format!("/api/v1/appointments/{appointment}/{step}"),
                json!({}),
                200,
            )
            .await;
    }
    stack.clock.set(Utc::now());
    let fulfilled = read(&patient, &format!("{BASE}/Appointment/{appointment}")).await;
    assert_eq!(fulfilled["status"], "fulfilled", "{fulfilled}");
    let invoiced = platform::testing::eventually(WAIT, "the visit's invoice", || async {
        let a = patient.send(Method::GET, "/api/v1/invoices", None).await;
        a.json["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|i| i["appointment_id"] == appointment.as_str())
                .cloned()
        })
    })
    .await;
    assert!(
        invoiced["totals"]["gross"]["amount_minor"].as_i64() > Some(0),
        "{invoiced}"
    );
}
