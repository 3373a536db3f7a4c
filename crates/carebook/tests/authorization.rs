//! The authorization matrix: every public route × every role × the caller's own
//! or someone else's resource, generated from the one table [`MATRIX`] and sent
//! through the gateway with every service running on the real backing services.
//!
//! The resources all belong to patient A (demo `patient1`) and provider A
//! (`provider1`): an appointment between them, a second one for state changes, a
//! completed and invoiced one, a clinical note, insurance details. So for patient
//! A and provider A a row tests their own resource, for patient B (`patient2`)
//! and provider B (`provider3`, no care relationship) someone else's; staff,
//! admin and a caller without a token complete the columns.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::collections::HashMap;

use carebook::stack::Stack;
use platform::demo;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{free_slots, Caller};

/// What one caller must get from one route.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Exactly this status: every refusal is exact (401, 403 or 404).
    Status(u16),
    /// Past authorization: 2xx, or the domain's own 409/422 for a change the
    /// resource's state no longer allows (a second void, a cancelled visit).
    Allowed,
    /// 200, and the list names the row's subject.
    Lists,
    /// 200, and the list does not name the row's subject (someone else's).
    Hides,
}

use Expect::{Allowed as A, Hides as H, Lists as L};
const OK: Expect = Expect::Status(200);
const MADE: Expect = Expect::Status(201);
const DONE: Expect = Expect::Status(204);
const NO: Expect = Expect::Status(403);
const NONE: Expect = Expect::Status(404);
const ANON: Expect = Expect::Status(401);

/// The callers, in the order of each row's expectations.
const CALLERS: [&str; 7] = [
    "patient A",
    "patient B",
    "provider A",
    "provider B",
    "staff",
    "admin",
    "anonymous",
];

struct Row {
    method: &'static str,
    /// `{placeholders}` are the fixture's ids and values.
    path: &'static str,
    body: Option<&'static str>,
    /// The placeholder whose value `Lists`/`Hides` look for.
    subject: &'static str,
    expect: [Expect; 7],
}

const fn row(method: &'static str, path: &'static str, expect: [Expect; 7]) -> Row {
    Row {
        method,
        path,
        body: None,
        subject: "",
        expect,
    }
}

const fn with_body(
    method: &'static str,
    path: &'static str,
    body: &'static str,
    expect: [Expect; 7],
) -> Row {
    Row {
        method,
        path,
        body: Some(body),
        subject: "",
        expect,
    }
}

const fn list(path: &'static str, subject: &'static str, expect: [Expect; 7]) -> Row {
    Row {
        method: "GET",
        path,
        body: None,
        subject,
        expect,
    }
}

/// Every route of the public API (README's table, plus the services' extra
/// routes and the gateway's own), in an order where earlier changes never
/// decide a later row: the one break-glass grant comes last.
#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //                                                                pat A  pat B  prov A prov B staff admin anon
    // identity
    with_body("POST", "/api/v1/auth/register", r#"{"email":"{email}","password":"matrix passphrase 42","name":"Mat Rix"}"#,
                                                                      [MADE,  MADE,  MADE,  MADE,  MADE,  MADE,  MADE]),
    with_body("POST", "/api/v1/auth/login", r#"{"email":"patient2@demo.carebook.test","password":"Carebook-demo-2026!"}"#,
                                                                      [OK,    OK,    OK,    OK,    OK,    OK,    OK]),
    with_body("POST", "/api/v1/auth/refresh", r#"{"refresh_token":"not-a-refresh-token"}"#,
                                                                      [ANON,  ANON,  ANON,  ANON,  ANON,  ANON,  ANON]),
    with_body("POST", "/api/v1/auth/logout", r#"{"refresh_token":"not-a-refresh-token"}"#,
                                                                      [DONE,  DONE,  DONE,  DONE,  DONE,  DONE,  DONE]),
    row("GET", "/api/v1/auth/me",                                     [OK,    OK,    OK,    OK,    OK,    OK,    ANON]),
    with_body("POST", "/api/v1/admin/users", r#"{"email":"{email}","password":"matrix passphrase 42","name":"New Staff","role":"staff"}"#,
                                                                      [NO,    NO,    NO,    NO,    NO,    MADE,  ANON]),
    row("GET", "/.well-known/jwks.json",                              [OK,    OK,    OK,    OK,    OK,    OK,    OK]),
    // directory
    list("/api/v1/providers", "provider_a",                           [L,     L,     L,     L,     L,     L,     ANON]),
    list("/api/v1/providers?q=Vogel", "provider_a",                   [L,     L,     L,     L,     L,     L,     ANON]),
    row("GET", "/api/v1/providers/{provider_a}",                      [OK,    OK,    OK,    OK,    OK,    OK,    ANON]),
    with_body("PUT", "/api/v1/providers/{provider_a}", "{provider_a_profile}",
                                                                      [NO,    NO,    OK,    NO,    OK,    OK,    ANON]),
    row("GET", "/api/v1/patients/me",                                 [OK,    OK,    NO,    NO,    NO,    NO,    ANON]),
    with_body("PUT", "/api/v1/patients/me", r#"{"name":"Matrix Patient"}"#,
                                                                      [OK,    OK,    NO,    NO,    NO,    NO,    ANON]),
    with_body("PUT", "/api/v1/patients/me/preferred-provider", r#"{"provider_id":"{provider_a}"}"#,
                                                                      [OK,    OK,    NO,    NO,    NO,    NO,    ANON]),
    row("DELETE", "/api/v1/patients/me/preferred-provider",           [OK,    OK,    NO,    NO,    NO,    NO,    ANON]),
    row("GET", "/api/v1/patients/{patient_a}",                        [OK,    NO,    NO,    NO,    OK,    OK,    ANON]),
    with_body("PUT", "/api/v1/patients/{patient_a}", r#"{"name":"Paula Patient"}"#,
                                                                      [OK,    NO,    NO,    NO,    OK,    OK,    ANON]),
    // a summary for the providers in the patient's care; the search for the front desk
    row("GET", "/api/v1/patients/{patient_a}/summary",                [OK,    NO,    OK,    NO,    OK,    OK,    ANON]),
    list("/api/v1/patients?q=patient1@demo.carebook.test", "patient_a",
                                                                      [NO,    NO,    NO,    NO,    L,     L,     ANON]),
    // scheduling: calendars
    row("GET", "/api/v1/providers/{provider_a}/appointment-types",    [OK,    OK,    OK,    OK,    OK,    OK,    ANON]),
    with_body("POST", "/api/v1/providers/{provider_a}/appointment-types",
        r#"{"name":"Matrix visit","duration_minutes":30,"price":{"amount_minor":5000,"currency":"EUR"},"mode":"in_person"}"#,
                                                                      [NO,    NO,    MADE,  NO,    MADE,  MADE,  ANON]),
    row("GET", "/api/v1/providers/{provider_a}/availability",         [OK,    OK,    OK,    OK,    OK,    OK,    ANON]),
    with_body("PUT", "/api/v1/providers/{provider_a}/availability", "{availability}",
                                                                      [NO,    NO,    DONE,  NO,    DONE,  DONE,  ANON]),
    // date overrides: whoever deletes first finds it, the others 404
    row("GET", "/api/v1/providers/{provider_a}/availability/overrides",
                                                                      [OK,    OK,    OK,    OK,    OK,    OK,    ANON]),
    with_body("PUT", "/api/v1/providers/{provider_a}/availability/overrides/{far_date}", r#"{"windows":[]}"#,
                                                                      [NO,    NO,    OK,    NO,    OK,    OK,    ANON]),
    row("DELETE", "/api/v1/providers/{provider_a}/availability/overrides/{far_date}",
                                                                      [NO,    NO,    DONE,  NO,    NONE,  NONE,  ANON]),
    with_body("POST", "/api/v1/providers/{provider_a}/time-off", r#"{"start":"{far_start}","end":"{far_end}","reason":"matrix"}"#,
                                                                      [NO,    NO,    A,     NO,    A,     A,     ANON]),
    row("GET", "/api/v1/providers/{provider_a}/time-off",             [NO,    NO,    OK,    NO,    OK,    OK,    ANON]),
    row("DELETE", "/api/v1/providers/{provider_a}/time-off/{time_off}",
                                                                      [NO,    NO,    DONE,  NO,    NONE,  NONE,  ANON]),
    row("GET", "/api/v1/providers/{provider_a}/slots?appointment_type_id={type}&from={from}&to={to}",
                                                                      [OK,    OK,    OK,    OK,    OK,    OK,    ANON]),
    // scheduling: appointments
    with_body("POST", "/api/v1/appointments",
        r#"{"provider_id":"{provider_a}","appointment_type_id":"{type}","start":"{slot}","patient_id":"{patient_a}"}"#,
                                                                      [MADE,  NO,    NO,    NO,    MADE,  MADE,  ANON]),
    list("/api/v1/appointments", "appointment",                       [L,     H,     L,     H,     L,     L,     ANON]),
    list("/api/v1/appointments?patient_id={patient_a}", "appointment",[L,     H,     L,     H,     L,     L,     ANON]),
    list("/api/v1/appointments?provider_id={provider_a}", "appointment",
                                                                      [L,     H,     L,     H,     L,     L,     ANON]),
    row("GET", "/api/v1/appointments/{appointment}",                  [OK,    NONE,  OK,    NONE,  OK,    OK,    ANON]),
    with_body("POST", "/api/v1/appointments/{spare}/reschedule", r#"{"start":"{slot}"}"#,
                                                                      [A,     NONE,  A,     NONE,  A,     A,     ANON]),
    row("POST", "/api/v1/appointments/{spare}/check-in",              [NO,    NONE,  A,     NONE,  A,     A,     ANON]),
    row("POST", "/api/v1/appointments/{spare}/complete",              [NO,    NONE,  A,     NONE,  A,     A,     ANON]),
    row("POST", "/api/v1/appointments/{spare}/no-show",               [NO,    NONE,  A,     NONE,  A,     A,     ANON]),
    with_body("POST", "/api/v1/appointments/{spare}/cancel", r#"{"reason":"matrix"}"#,
                                                                      [A,     NONE,  A,     NONE,  A,     A,     ANON]),
    // notifications: the booking emails went to patient A and provider A
    list("/api/v1/notifications", "appointment",                      [L,     H,     L,     H,     H,     H,     ANON]),
    // billing
    list("/api/v1/invoices", "invoice",                               [L,     H,     L,     H,     L,     L,     ANON]),
    list("/api/v1/invoices?patient_id={patient_a}", "invoice",        [L,     H,     L,     H,     L,     L,     ANON]),
    row("GET", "/api/v1/invoices/{invoice}",                          [OK,    NONE,  OK,    NONE,  OK,    OK,    ANON]),
    row("GET", "/api/v1/invoices/{invoice}/history",                  [NO,    NONE,  NO,    NONE,  OK,    OK,    ANON]),
    with_body("POST", "/api/v1/invoices/{invoice}/payments", r#"{"amount":{"amount_minor":100,"currency":"EUR"},"method":"card"}"#,
                                                                      [NO,    NONE,  NO,    NONE,  A,     A,     ANON]),
    with_body("POST", "/api/v1/invoices/{invoice}/refunds", r#"{"amount":{"amount_minor":50,"currency":"EUR"},"method":"card"}"#,
                                                                      [NO,    NONE,  NO,    NONE,  A,     A,     ANON]),
    with_body("POST", "/api/v1/invoices/{invoice}/credits", r#"{"line_id":"{line}","amount":{"amount_minor":100,"currency":"EUR"},"reason":"matrix"}"#,
                                                                      [NO,    NONE,  NO,    NONE,  A,     A,     ANON]),
    row("POST", "/api/v1/invoices/{invoice}/bill-to-insurance",       [NO,    NONE,  NO,    NONE,  A,     A,     ANON]),
    with_body("POST", "/api/v1/invoices/{invoice}/void", r#"{"reason":"matrix"}"#,
                                                                      [NO,    NONE,  NO,    NONE,  A,     A,     ANON]),
    row("GET", "/api/v1/patients/{patient_a}/insurance",              [OK,    NO,    NO,    NO,    OK,    OK,    ANON]),
    with_body("PUT", "/api/v1/patients/{patient_a}/insurance", r#"{"payer":"Matrix Health","member_id":"M-42"}"#,
                                                                      [OK,    NO,    NO,    NO,    OK,    OK,    ANON]),
    row("GET", "/api/v1/patients/{patient_a}/balance",                [OK,    NO,    NO,    NO,    OK,    OK,    ANON]),
    // records: patients read their own, providers with a care relationship read
    // and write, staff and admins never see clinical content
    row("GET", "/api/v1/patients/{patient_a}/records/notes",          [OK,    NO,    OK,    NO,    NO,    NO,    ANON]),
    row("GET", "/api/v1/patients/{patient_a}/records/encounters",     [OK,    NO,    OK,    NO,    NO,    NO,    ANON]),
    row("GET", "/api/v1/patients/{patient_a}/records/diagnoses",      [OK,    NO,    OK,    NO,    NO,    NO,    ANON]),
    row("GET", "/api/v1/patients/{patient_a}/records/allergies",      [OK,    NO,    OK,    NO,    NO,    NO,    ANON]),
    row("GET", "/api/v1/patients/{patient_a}/records/medications",    [OK,    NO,    OK,    NO,    NO,    NO,    ANON]),
    row("GET", "/api/v1/patients/{patient_a}/records/vitals",         [OK,    NO,    OK,    NO,    NO,    NO,    ANON]),
    with_body("POST", "/api/v1/patients/{patient_a}/records/notes", r#"{"text":"Matrix note"}"#,
                                                                      [NO,    NO,    MADE,  NO,    NO,    NO,    ANON]),
    with_body("POST", "/api/v1/patients/{patient_a}/records/encounters", r#"{"appointment_id":"{appointment}","started_at":"{now}"}"#,
                                                                      [NO,    NO,    MADE,  NO,    NO,    NO,    ANON]),
    with_body("POST", "/api/v1/patients/{patient_a}/records/diagnoses", r#"{"code":"E11.9","description":"Type 2 diabetes"}"#,
                                                                      [NO,    NO,    MADE,  NO,    NO,    NO,    ANON]),
    with_body("POST", "/api/v1/patients/{patient_a}/records/allergies", r#"{"substance":"Penicillin","severity":"moderate"}"#,
                                                                      [NO,    NO,    MADE,  NO,    NO,    NO,    ANON]),
    with_body("POST", "/api/v1/patients/{patient_a}/records/medications",
        r#"{"name":"Metformin","dose":"500 mg","frequency":"twice daily","start_date":"2026-01-01"}"#,
                                                                      [NO,    NO,    MADE,  NO,    NO,    NO,    ANON]),
    with_body("POST", "/api/v1/patients/{patient_a}/records/vitals",
        r#"{"measured_at":"{now}","readings":[{"type":"heart_rate","value":72,"unit":"bpm"}]}"#,
                                                                      [NO,    NO,    MADE,  NO,    NO,    NO,    ANON]),
    row("GET", "/api/v1/patients/{patient_a}/records/notes/{note}",   [OK,    NO,    OK,    NO,    NO,    NO,    ANON]),
    row("GET", "/api/v1/patients/{patient_a}/records/notes/{note}/history",
                                                                      [OK,    NO,    OK,    NO,    NO,    NO,    ANON]),
    with_body("PUT", "/api/v1/patients/{patient_a}/records/notes/{note}", r#"{"text":"Matrix note, amended"}"#,
                                                                      [NO,    NO,    OK,    NO,    NO,    NO,    ANON]),
    with_body("POST", "/api/v1/patients/{patient_a}/records/notes/{note}/entered-in-error", r#"{"reason":"wrong patient"}"#,
                                                                      [NO,    NO,    A,     NO,    NO,    NO,    ANON]),
    row("GET", "/api/v1/patients/{patient_a}/records/access-log",     [OK,    NO,    NO,    NO,    NO,    OK,    ANON]),
    // the gateway's own
    row("GET", "/healthz",                                            [OK,    OK,    OK,    OK,    OK,    OK,    OK]),
    row("GET", "/readyz",                                             [OK,    OK,    OK,    OK,    OK,    OK,    OK]),
    row("GET", "/openapi.json",                                       [OK,    OK,    OK,    OK,    OK,    OK,    OK]),
    row("GET", "/docs",                                               [OK,    OK,    OK,    OK,    OK,    OK,    OK]),
    // last: a granted break-glass opens patient B's record to that provider
    with_body("POST", "/api/v1/patients/{patient_b}/records/break-glass", r#"{"reason":"Unconscious in the emergency room"}"#,
                                                                      [NO,    NO,    MADE,  MADE,  NO,    NO,    ANON]),
];

/// The ids and values the table's placeholders stand for.
struct Fixture {
    values: HashMap<&'static str, String>,
    /// Free slot starts, one used up per `{slot}`.
    slots: Vec<String>,
}

impl Fixture {
    fn fill(&mut self, template: &str) -> String {
        let mut out = template.to_owned();
        while out.contains("{slot}") {
            let slot = self.slots.pop().expect("a free slot left for the matrix");
            out = out.replacen("{slot}", &slot, 1);
        }
        while out.contains("{email}") {
            let email = format!("matrix-{}@example.test", uuid::Uuid::new_v4().simple());
            out = out.replacen("{email}", &email, 1);
        }
        for (key, value) in &self.values {
            out = out.replace(&format!("{{{key}}}"), value);
        }
        assert!(
            !out.contains("{patient") && !out.contains("{provider") && !out.contains("{note"),
            "unfilled placeholder in {out}"
        );
        out
    }
}

#[tokio::test]
async fn every_route_refuses_exactly_whom_it_should() {
    // Each caller logs in, registers and refreshes here: more than the default
    // auth-route limit of one client address allows in a minute.
    let stack = Stack::start_with(&[("GATEWAY_RATE_AUTH", "1000/1m")])
        .await
        .expect("the stack starts");
    let callers = [
        Caller::demo(&stack, "patient1").await,
        Caller::demo(&stack, "patient2").await,
        Caller::demo(&stack, "provider1").await,
        Caller::demo(&stack, "provider3").await,
        Caller::demo(&stack, "staff").await,
        Caller::demo(&stack, "admin").await,
        Caller::anonymous(&stack),
    ];
    let mut fixture = set_up(&callers).await;
    let doc = callers[6].read("/openapi.json").await;

    let mut failures = Vec::new();
    let mut cases = 0;
    for row in MATRIX {
        for (caller, expect) in callers.iter().zip(row.expect) {
            cases += 1;
            let path = fixture.fill(row.path);
            let body: Option<Value> = row
                .body
                .map(|b| serde_json::from_str(&fixture.fill(b)).expect("the row's body is JSON"));
            let method = Method::from_bytes(row.method.as_bytes()).expect("a method");
            let answer = caller.send(method, &path, body.as_ref()).await;
            let status = answer.status;
            let subject = fixture.values.get(row.subject).cloned().unwrap_or_default();
            let ok = match expect {
                Expect::Status(s) => status.as_u16() == s,
                Expect::Allowed => {
                    status.is_success()
                        || status == StatusCode::CONFLICT
                        || status == StatusCode::UNPROCESSABLE_ENTITY
                }
                Expect::Lists => status == StatusCode::OK && answer.text.contains(&subject),
                Expect::Hides => status == StatusCode::OK && !answer.text.contains(&subject),
            };
            if !ok {
                failures.push(format!(
                    "{} {} as {}: expected {expect:?}, got {status} {}",
                    row.method,
                    row.path,
                    caller.name,
                    answer.text.chars().take(200).collect::<String>()
                ));
            }
            if let Err(e) = documented(&doc, row, &answer) {
                failures.push(format!(
                    "{} {} as {}: {e}",
                    row.method, row.path, caller.name
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(cases, MATRIX.len() * CALLERS.len());
}

/// Every answer is one the gateway's OpenAPI document declares for the
/// operation: its status, and its content type when it has a body.
fn documented(doc: &Value, row: &Row, answer: &support::Answer) -> Result<(), String> {
    let Some(operation) = operation_of(doc, row) else {
        // The gateway's own routes (health, docs, the document itself).
        return if row.path.starts_with("/api/") {
            Err("not in the OpenAPI document".to_owned())
        } else {
            Ok(())
        };
    };
    let status = answer.status.as_u16().to_string();
    let response = &operation["responses"][&status];
    if !response.is_object() {
        return Err(format!("{status} is not documented"));
    }
    let sent = answer
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_owned());
    match (sent, response["content"].as_object()) {
        (Some(sent), Some(content)) if !answer.text.is_empty() && !content.contains_key(&sent) => {
            Err(format!(
                "{status} sent as {sent}, documented as {:?}",
                content.keys().collect::<Vec<_>>()
            ))
        }
        _ => Ok(()),
    }
}

/// The document's operation for a row: the path whose segments equal the row's,
/// placeholder for placeholder; failing that, one whose parameter stands for a
/// literal of the row (`{kind}` for `notes`).
fn operation_of<'a>(doc: &'a Value, row: &Row) -> Option<&'a Value> {
    let ours: Vec<&str> = row
        .path
        .split('?')
        .next()
        .unwrap_or_default()
        .split('/')
        .collect();
    let is_param = |s: &str| s.starts_with('{');
    let paths = doc["paths"].as_object()?;
    let matching = |loose: bool| {
        paths.iter().find(|(path, _)| {
            let theirs: Vec<&str> = path.split('/').collect();
            theirs.len() == ours.len()
                && theirs
                    .iter()
                    .zip(&ours)
                    .all(|(t, o)| t == o || (is_param(t) && (loose || is_param(o))))
        })
    };
    let (_, item) = matching(false).or_else(|| matching(true))?;
    Some(&item[row.method.to_lowercase()]).filter(|op| op.is_object())
}

/// Patient A's appointments with provider A (one kept booked, one for state
/// changes, one completed and invoiced), their notification emails, a note,
/// insurance details, and the values the table's bodies need.
async fn set_up(callers: &[Caller; 7]) -> Fixture {
    let [patient_a, _, provider_a, _, staff, _, _] = callers;
    let provider = demo::DEMO_USERS[2].id; // provider1
    let (pa, pb) = (demo::DEMO_USERS[5].id, demo::DEMO_USERS[6].id);
    let provider_b = demo::DEMO_USERS[4].id; // provider3
    assert_eq!(
        (
            demo::DEMO_USERS[2].email,
            demo::DEMO_USERS[4].email,
            demo::DEMO_USERS[5].email
        ),
        (
            "provider1@demo.carebook.test",
            "provider3@demo.carebook.test",
            "patient1@demo.carebook.test"
        )
    );
    let types = patient_a
        .read(&format!("/api/v1/providers/{provider}/appointment-types"))
        .await;
    let type_id = types["items"][0]["id"].as_str().expect("a type").to_owned();
    let mut slots = free_slots(patient_a, provider, &type_id).await;
    assert!(slots.len() >= 12, "enough free slots: {slots:?}");

    let book = |slots: &mut Vec<String>| {
        let start = slots.pop().expect("a slot");
        json!({ "provider_id": provider, "appointment_type_id": type_id, "start": start })
    };
    let path = "/api/v1/appointments";
    let appointment = patient_a
        .expect(Method::POST, path, book(&mut slots), 201)
        .await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let spare = patient_a
        .expect(Method::POST, path, book(&mut slots), 201)
        .await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let billed = patient_a
        .expect(Method::POST, path, book(&mut slots), 201)
        .await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    for step in ["check-in", "complete"] {
        provider_a
            .expect(
                Method::POST,
                &format!("{path}/{billed}/{step}"),
                Value::Null,
                200,
            )
            .await;
    }
    patient_a
        .expect(
            Method::PUT,
            &format!("/api/v1/patients/{pa}/insurance"),
            json!({ "payer": "Matrix Health", "member_id": "M-42" }),
            200,
        )
        .await;

    // What events carry to billing, records and notifications.
    let invoice = invoice_of(staff, pa, &billed).await;
    let detail = staff.read(&format!("/api/v1/invoices/{invoice}")).await;
    let line = detail["lines"][0]["id"]
        .as_str()
        .expect("a line")
        .to_owned();
    let note = provider_a
        .eventually(
            Method::POST,
            &format!("/api/v1/patients/{pa}/records/notes"),
            json!({ "text": "Seen for the matrix." }),
            201,
        )
        .await["id"]
        .as_str()
        .expect("a note id")
        .to_owned();
    for who in [patient_a, provider_a] {
        platform::testing::eventually(support::WAIT, "the booking emails", || async {
            let list = who.read("/api/v1/notifications").await;
            list.to_string().contains(&appointment).then_some(())
        })
        .await;
    }

    // The directory learns of the care relationship from the booking's event.
    provider_a
        .eventually(
            Method::GET,
            &format!("/api/v1/patients/{pa}/summary"),
            Value::Null,
            200,
        )
        .await;
    let now = chrono::Utc::now();
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let time_off = provider_a
        .expect(
            Method::POST,
            &format!("/api/v1/providers/{provider}/time-off"),
            json!({ "start": stamp(now + chrono::Duration::days(300)),
                    "end": stamp(now + chrono::Duration::days(301)), "reason": "matrix" }),
            201,
        )
        .await["id"]
        .as_str()
        .expect("a time off id")
        .to_owned();

    let profile = provider_a
        .read(&format!("/api/v1/providers/{provider}"))
        .await;
    let profile = json!({
        "name": profile["name"], "specialty": profile["specialty"], "bio": profile["bio"],
        "languages": profile["languages"], "location": profile["location"],
        "time_zone": profile["time_zone"], "accepting_new_patients": profile["accepting_new_patients"],
    });
    let availability = provider_a
        .read(&format!("/api/v1/providers/{provider}/availability"))
        .await;
    let values = HashMap::from([
        ("patient_a", pa.to_string()),
        ("patient_b", pb.to_string()),
        ("provider_a", provider.to_string()),
        ("provider_b", provider_b.to_string()),
        ("type", type_id.clone()),
        ("appointment", appointment),
        ("spare", spare),
        ("invoice", invoice),
        ("line", line),
        ("note", note),
        ("provider_a_profile", profile.to_string()),
        ("availability", availability.to_string()),
        ("now", stamp(now)),
        ("from", stamp(now)),
        ("to", stamp(now + chrono::Duration::days(7))),
        ("far_start", stamp(now + chrono::Duration::days(400))),
        ("far_end", stamp(now + chrono::Duration::days(401))),
        (
            "far_date",
            (now + chrono::Duration::days(400)).date_naive().to_string(),
        ),
        ("time_off", time_off),
    ]);
    Fixture { values, slots }
}

/// The id of the invoice billing issued for `appointment`, once it has.
async fn invoice_of(staff: &Caller, patient: uuid::Uuid, appointment: &str) -> String {
    platform::testing::eventually(support::WAIT, "the invoice", || async {
        let list = staff
            .read(&format!("/api/v1/invoices?patient_id={patient}"))
            .await;
        list["items"]
            .as_array()?
            .iter()
            .find(|i| i["appointment_id"] == appointment)
            .and_then(|i| i["id"].as_str())
            .map(str::to_owned)
    })
    .await
}

/// Zero trust, from the same table: every row the gateway refuses to an
/// anonymous caller is refused (401) by the service behind it too, when called
/// directly without a token or with an admin token signed by a key identity
/// never published. A request that bypasses the gateway gets nothing more.
#[tokio::test]
async fn no_service_trusts_what_the_gateway_would_refuse() {
    let stack = Stack::start().await.expect("the stack starts");
    let routes = gateway::domain::routing::RouteTable::parse(
        gateway::domain::routing::DEFAULT_ROUTES,
        std::time::Duration::from_secs(10),
    )
    .expect("the default routes");
    let forged = identity::testing::TestIssuer::new()
        .token(demo::DEMO_USERS[0].id, platform::auth::Role::Admin);
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut fixture = Fixture {
        values: [
            "patient_a",
            "patient_b",
            "provider_a",
            "provider_b",
            "type",
            "appointment",
            "spare",
            "invoice",
            "line",
            "note",
            "time_off",
        ]
        .into_iter()
        .map(|k| (k, uuid::Uuid::new_v4().to_string()))
        .chain([
            ("provider_a_profile", "{}".to_owned()),
            ("availability", r#"{"weekly":[]}"#.to_owned()),
            ("now", now.clone()),
            ("from", now.clone()),
            ("to", now.clone()),
            ("far_start", now.clone()),
            ("far_end", now.clone()),
            ("far_date", "2026-05-04".to_owned()),
        ])
        .collect(),
        slots: vec![now; 100],
    };
    let http = reqwest::Client::new();
    let mut failures = Vec::new();
    let mut cases = 0;
    for row in MATRIX
        .iter()
        .filter(|r| matches!(r.expect[6], Expect::Status(401)))
    {
        let path = fixture.fill(row.path);
        let service = routes
            .find(path.split('?').next().unwrap_or_default())
            .map(|r| r.service.clone())
            .expect("a routed path");
        let base = stack.service_url(&service).expect("a running service");
        let body: Option<Value> = row
            .body
            .map(|b| serde_json::from_str(&fixture.fill(b)).expect("JSON"));
        for token in [None, Some(forged.as_str())] {
            cases += 1;
            let method = Method::from_bytes(row.method.as_bytes()).expect("a method");
            let mut request = http.request(method, format!("{base}{path}"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let status = request.send().await.expect("request").status();
            if status != StatusCode::UNAUTHORIZED {
                let how = if token.is_some() {
                    "a forged token"
                } else {
                    "no token"
                };
                failures.push(format!(
                    "{} {} at {service} with {how}: {status}",
                    row.method, row.path
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cases > 100, "every protected row checked ({cases})");
}
