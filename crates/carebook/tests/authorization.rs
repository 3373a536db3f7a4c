//! The authorization matrix: every public route × every role × the caller's own
//! or someone else's resource, generated from the one table [`MATRIX`] and sent
//! through the gateway with every service running on the real backing services.
//!
//! The resources all belong to patient A (demo `patient1`) and provider A
//! (`provider1`): an appointment between them, others for state changes, a
//! completed and invoiced one, a clinical note, insurance details. So for patient
//! A and provider A a row tests their own resource, for patient B (`patient2`)
//! and provider B (`provider3`, no care relationship) someone else's; staff,
//! admin and a caller without a token complete the columns.
//!
//! Where a change can happen only once (a check-in, a void), each caller who
//! may make it gets a resource of their own (`Fixture::own`), so every
//! "allowed" is a real success, never the conflict of a change already made.
//! Visit steps move scheduling's clock to the visit's start first.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::collections::HashMap;

use carebook::stack::Stack;
use chrono::{DateTime, Duration, Utc};
use platform::demo;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{free_slots, Caller};

/// What one caller must get from one route.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Exactly this status: every refusal is exact (401, 403 or 404).
    Status(u16),
    /// Past authorization, and done: any 2xx.
    Allowed,
    /// 200, and the list names the row's subject.
    Lists,
    /// 200, and the list does not name the row's subject (someone else's).
    Hides,
}

use Expect::{Allowed as A, Hides as H, Lists as L};
const OK: Expect = Expect::Status(200);
const MADE: Expect = Expect::Status(201);
const TAKEN: Expect = Expect::Status(202);
const DONE: Expect = Expect::Status(204);
const BAD: Expect = Expect::Status(400);
const NO: Expect = Expect::Status(403);
const NONE: Expect = Expect::Status(404);
const CLASH: Expect = Expect::Status(409);
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
const PATIENT_A: usize = 0;
const PATIENT_B: usize = 1;
const STAFF: usize = 4;
const ADMIN: usize = 5;
const ANONYMOUS: usize = 6;

struct Row {
    method: &'static str,
    /// `{placeholders}` are the fixture's ids and values.
    path: &'static str,
    body: Option<&'static str>,
    /// The placeholder whose value `Lists`/`Hides` look for.
    subject: &'static str,
    /// The placeholder of an appointment whose start scheduling's clock is
    /// moved to (a minute past) before the request, and back after it.
    clock_at: Option<&'static str>,
    expect: [Expect; 7],
}

const fn row(method: &'static str, path: &'static str, expect: [Expect; 7]) -> Row {
    Row {
        method,
        path,
        body: None,
        subject: "",
        clock_at: None,
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
        clock_at: None,
        expect,
    }
}

const fn list(path: &'static str, subject: &'static str, expect: [Expect; 7]) -> Row {
    Row {
        method: "GET",
        path,
        body: None,
        subject,
        clock_at: None,
        expect,
    }
}

/// A step of the visit `{visit}` names, with the clock at the visit's start.
const fn visit_step(path: &'static str, visit: &'static str, expect: [Expect; 7]) -> Row {
    Row {
        method: "POST",
        path,
        body: None,
        subject: "",
        clock_at: Some(visit),
        expect,
    }
}

/// Every route of the public API (README's table, plus the services' extra
/// routes and the gateway's own), in an order where earlier changes never
/// decide a later row: the caller's own password and sessions change near the
/// end, and a new break-glass grant comes last.
#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //                                                                pat A  pat B  prov A prov B staff admin anon
    // identity: registration and address verification say nothing about the address
    with_body("POST", "/api/v1/auth/register", r#"{"email":"{email}","password":"matrix passphrase 42","name":"Mat Rix"}"#,
                                                                      [TAKEN, TAKEN, TAKEN, TAKEN, TAKEN, TAKEN, TAKEN]),
    with_body("POST", "/api/v1/auth/verify-email", r#"{"token":"not-a-verification-token"}"#,
                                                                      [BAD,   BAD,   BAD,   BAD,   BAD,   BAD,   BAD]),
    with_body("POST", "/api/v1/auth/verify-email/resend", r#"{"email":"{email}"}"#,
                                                                      [TAKEN, TAKEN, TAKEN, TAKEN, TAKEN, TAKEN, TAKEN]),
    with_body("POST", "/api/v1/auth/password-reset", r#"{"email":"{email}"}"#,
                                                                      [TAKEN, TAKEN, TAKEN, TAKEN, TAKEN, TAKEN, TAKEN]),
    with_body("POST", "/api/v1/auth/password-reset/confirm", r#"{"token":"not-a-reset-token","new_password":"matrix passphrase 43"}"#,
                                                                      [BAD,   BAD,   BAD,   BAD,   BAD,   BAD,   BAD]),
    with_body("POST", "/api/v1/auth/login", r#"{"email":"patient2@demo.carebook.test","password":"Carebook-demo-2026!"}"#,
                                                                      [OK,    OK,    OK,    OK,    OK,    OK,    OK]),
    with_body("POST", "/api/v1/auth/mfa/verify", r#"{"mfa_token":"not-an-mfa-token","code":"123456"}"#,
                                                                      [ANON,  ANON,  ANON,  ANON,  ANON,  ANON,  ANON]),
    with_body("POST", "/api/v1/auth/refresh", r#"{"refresh_token":"not-a-refresh-token"}"#,
                                                                      [ANON,  ANON,  ANON,  ANON,  ANON,  ANON,  ANON]),
    with_body("POST", "/api/v1/auth/logout", r#"{"refresh_token":"not-a-refresh-token"}"#,
                                                                      [DONE,  DONE,  DONE,  DONE,  DONE,  DONE,  DONE]),
    row("GET", "/api/v1/auth/me",                                     [OK,    OK,    OK,    OK,    OK,    OK,    ANON]),
    // the second factor: anyone may enrol an app; the admin has one and must keep it
    row("POST", "/api/v1/auth/mfa/totp",                              [OK,    OK,    OK,    OK,    OK,    CLASH, ANON]),
    with_body("POST", "/api/v1/auth/mfa/totp/confirm", r#"{"code":"12345"}"#,
                                                                      [ANON,  ANON,  ANON,  ANON,  ANON,  CLASH, ANON]),
    with_body("DELETE", "/api/v1/auth/mfa/totp", r#"{"code":"12345"}"#,
                                                                      [CLASH, CLASH, CLASH, CLASH, CLASH, NO,    ANON]),
    // account administration
    with_body("POST", "/api/v1/admin/users", r#"{"email":"{email}","password":"matrix passphrase 42","name":"New Staff","role":"staff"}"#,
                                                                      [NO,    NO,    NO,    NO,    NO,    MADE,  ANON]),
    list("/api/v1/admin/users?q=patient1@demo.carebook.test", "patient_a",
                                                                      [NO,    NO,    NO,    NO,    NO,    L,     ANON]),
    with_body("POST", "/api/v1/admin/users/{new_user}/disable", r#"{"reason":"matrix check"}"#,
                                                                      [NO,    NO,    NO,    NO,    NO,    OK,    ANON]),
    with_body("POST", "/api/v1/admin/users/{new_user}/enable", r#"{"reason":"matrix check"}"#,
                                                                      [NO,    NO,    NO,    NO,    NO,    OK,    ANON]),
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
    // a summary for the providers in the patient's care; the search for the
    // front desk over everyone, for a provider over their care
    row("GET", "/api/v1/patients/{patient_a}/summary",                [OK,    NO,    OK,    NO,    OK,    OK,    ANON]),
    list("/api/v1/patients?q=patient1@demo.carebook.test", "patient_a",
                                                                      [NO,    NO,    L,     H,     L,     L,     ANON]),
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
    // each caller's time off on days of its own
    with_body("POST", "/api/v1/providers/{provider_a}/time-off", r#"{"start":"{far_start}","end":"{far_end}","reason":"matrix"}"#,
                                                                      [NO,    NO,    MADE,  NO,    MADE,  MADE,  ANON]),
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
    // each caller who may steps through a visit of their own
    visit_step("/api/v1/appointments/{visit}/check-in", "visit",      [NO,    NONE,  A,     NONE,  A,     A,     ANON]),
    visit_step("/api/v1/appointments/{visit}/complete", "visit",      [NO,    NONE,  A,     NONE,  A,     A,     ANON]),
    visit_step("/api/v1/appointments/{no_show}/no-show", "no_show",   [NO,    NONE,  A,     NONE,  A,     A,     ANON]),
    with_body("POST", "/api/v1/appointments/{cancel}/cancel", r#"{"reason":"matrix"}"#,
                                                                      [A,     NONE,  A,     NONE,  A,     A,     ANON]),
    // notifications: the booking emails went to patient A and provider A
    list("/api/v1/notifications", "appointment",                      [L,     H,     L,     H,     H,     H,     ANON]),
    // billing
    list("/api/v1/invoices", "invoice",                               [L,     H,     L,     H,     L,     L,     ANON]),
    list("/api/v1/invoices?patient_id={patient_a}", "invoice",        [L,     H,     L,     H,     L,     L,     ANON]),
    row("GET", "/api/v1/invoices/{invoice}",                          [OK,    NONE,  OK,    NONE,  OK,    OK,    ANON]),
    row("GET", "/api/v1/invoices/{invoice}/history",                  [NO,    NONE,  NO,    NONE,  OK,    OK,    ANON]),
    with_body("POST", "/api/v1/invoices/{invoice}/payments", r#"{"amount":{"amount_minor":100,"currency":"EUR"},"method":"card"}"#,
                                                                      [NO,    NONE,  NO,    NONE,  MADE,  MADE,  ANON]),
    // the patient paid this one in full and was credited part of it
    with_body("POST", "/api/v1/invoices/{refund_invoice}/refunds", r#"{"amount":{"amount_minor":50,"currency":"EUR"},"method":"card"}"#,
                                                                      [NO,    NONE,  NO,    NONE,  MADE,  MADE,  ANON]),
    with_body("POST", "/api/v1/invoices/{invoice}/credits", r#"{"line_id":"{line}","amount":{"amount_minor":100,"currency":"EUR"},"reason":"matrix"}"#,
                                                                      [NO,    NONE,  NO,    NONE,  MADE,  MADE,  ANON]),
    row("POST", "/api/v1/invoices/{own_invoice}/bill-to-insurance",   [NO,    NONE,  NO,    NONE,  A,     A,     ANON]),
    with_body("POST", "/api/v1/invoices/{own_invoice}/void", r#"{"reason":"matrix"}"#,
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
    // a provider asks why (and until when) they may open a record
    row("GET", "/api/v1/patients/{patient_a}/records/access",         [NO,    NO,    OK,    OK,    NO,    NO,    ANON]),
    // admins review break-glass grants (provider B's on patient B), once
    list("/api/v1/records/break-glass?status=unreviewed", "grant",    [NO,    NO,    NO,    NO,    NO,    L,     ANON]),
    with_body("POST", "/api/v1/records/break-glass/{grant}/review", r#"{"outcome":"justified","note":"Matrix review: the emergency was real."}"#,
                                                                      [NO,    NO,    NO,    NO,    NO,    OK,    ANON]),
    // the gateway's own
    row("GET", "/healthz",                                            [OK,    OK,    OK,    OK,    OK,    OK,    OK]),
    row("GET", "/readyz",                                             [OK,    OK,    OK,    OK,    OK,    OK,    OK]),
    row("GET", "/openapi.json",                                       [OK,    OK,    OK,    OK,    OK,    OK,    OK]),
    row("GET", "/docs",                                               [OK,    OK,    OK,    OK,    OK,    OK,    OK]),
    // the caller's own sessions and password (each signed-in caller has its own)
    list("/api/v1/auth/sessions", "session",                          [L,     L,     L,     L,     L,     L,     ANON]),
    row("DELETE", "/api/v1/auth/sessions/{others_session}",           [NONE,  NONE,  NONE,  NONE,  NONE,  NONE,  ANON]),
    row("DELETE", "/api/v1/auth/sessions",                            [DONE,  DONE,  DONE,  DONE,  DONE,  DONE,  ANON]),
    row("DELETE", "/api/v1/auth/sessions/{session}",                  [DONE,  DONE,  DONE,  DONE,  DONE,  DONE,  ANON]),
    with_body("POST", "/api/v1/auth/password", r#"{"current_password":"Carebook-demo-2026!","new_password":"matrix passphrase 44"}"#,
                                                                      [DONE,  DONE,  DONE,  DONE,  DONE,  DONE,  ANON]),
    // last: a granted break-glass opens patient B's record to that provider
    with_body("POST", "/api/v1/patients/{patient_b}/records/break-glass", r#"{"reason":"Unconscious in the emergency room"}"#,
                                                                      [NO,    NO,    MADE,  MADE,  NO,    NO,    ANON]),
];

/// The ids and values the table's placeholders stand for.
struct Fixture {
    values: HashMap<&'static str, String>,
    /// A caller's own value of a placeholder (by column), where each caller
    /// who may make a change needs a resource of their own; the others get
    /// `values`' (patient A's, provider A's).
    own: HashMap<(&'static str, usize), String>,
    /// Appointment starts by id, for the rows that move the clock.
    starts: HashMap<String, DateTime<Utc>>,
    /// Free slot starts, one used up per `{slot}`.
    slots: Vec<String>,
}

impl Fixture {
    /// `key`'s value for the caller in column `caller`.
    fn value(&self, key: &str, caller: usize) -> Option<&String> {
        self.own
            .iter()
            .find(|((k, c), _)| *k == key && *c == caller)
            .map(|(_, v)| v)
            .or_else(|| self.values.get(key))
    }

    fn fill(&mut self, template: &str, caller: usize) -> String {
        let mut out = template.to_owned();
        while out.contains("{slot}") {
            let slot = self.slots.pop().expect("a free slot left for the matrix");
            out = out.replacen("{slot}", &slot, 1);
        }
        while out.contains("{email}") {
            let email = format!("matrix-{}@example.test", uuid::Uuid::new_v4().simple());
            out = out.replacen("{email}", &email, 1);
        }
        for ((key, column), value) in &self.own {
            if *column == caller {
                out = out.replace(&format!("{{{key}}}"), value);
            }
        }
        for (key, value) in &self.values {
            out = out.replace(&format!("{{{key}}}"), value);
        }
        let unfilled = regex::Regex::new(r"\{[a-z_]+\}").expect("a pattern");
        assert!(!unfilled.is_match(&out), "unfilled placeholder in {out}");
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
    let mut fixture = set_up(&stack, &callers).await;
    let doc = callers[ANONYMOUS].read("/openapi.json").await;

    let mut failures = Vec::new();
    let mut cases = 0;
    for row in MATRIX {
        for (column, (caller, expect)) in callers.iter().zip(row.expect).enumerate() {
            cases += 1;
            let path = fixture.fill(row.path, column);
            let body: Option<Value> = row.body.map(|b| {
                serde_json::from_str(&fixture.fill(b, column)).expect("the row's body is JSON")
            });
            let method = Method::from_bytes(row.method.as_bytes()).expect("a method");
            let visit_start = row
                .clock_at
                .and_then(|key| fixture.value(key, column))
                .and_then(|id| fixture.starts.get(id))
                .copied();
            if let Some(start) = visit_start {
                stack.clock.set(start + Duration::minutes(1));
            }
            let answer = caller.send(method, &path, body.as_ref()).await;
            if visit_start.is_some() {
                stack.clock.set(Utc::now());
            }
            let status = answer.status;
            let subject = fixture
                .value(row.subject, column)
                .cloned()
                .unwrap_or_default();
            let ok = match expect {
                Expect::Status(s) => status.as_u16() == s,
                Expect::Allowed => status.is_success(),
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

/// Patient A's appointments with provider A (one kept booked, one to move, one
/// completed and invoiced, one paid and credited, and one each to cancel, step
/// through and mark a no-show for every caller who may), patient B's with
/// provider2 for staff's and the admin's own changes, their notification
/// emails, a note, insurance details, a break-glass grant to review, and the
/// values the table's bodies need.
async fn set_up(stack: &Stack, callers: &[Caller; 7]) -> Fixture {
    let [patient_a, _, provider_a, provider_b, staff, admin, _] = callers;
    let provider = demo::DEMO_USERS[2].id; // provider1
    let provider2 = demo::DEMO_USERS[3].id;
    let (pa, pb) = (demo::DEMO_USERS[5].id, demo::DEMO_USERS[6].id);
    let provider_b_id = demo::DEMO_USERS[4].id; // provider3
    assert_eq!(
        [2, 3, 4, 5, 6].map(|i| demo::DEMO_USERS[i].email),
        [
            "provider1@demo.carebook.test",
            "provider2@demo.carebook.test",
            "provider3@demo.carebook.test",
            "patient1@demo.carebook.test",
            "patient2@demo.carebook.test",
        ]
    );
    let type_id = first_type(patient_a, provider).await;
    let mut slots = free_slots(patient_a, provider, &type_id).await;
    assert!(slots.len() >= 15, "enough free slots: {slots:?}");
    let type2 = first_type(staff, provider2).await;
    let mut slots2 = free_slots(staff, provider2, &type2).await;
    assert!(
        slots2.len() >= 8,
        "enough free slots of provider2: {slots2:?}"
    );
    let mut starts: HashMap<String, DateTime<Utc>> = HashMap::new();

    // Patient A's, earliest first: the kept and the completed ones open the
    // care window, which opens a week before a visit.
    let mut ours = Vec::new();
    for _ in 0..8 {
        let start = slots.remove(0);
        let id = book(patient_a, provider, &type_id, &start, None).await;
        starts.insert(id.clone(), start.parse().expect("an RFC 3339 start"));
        ours.push(id);
    }
    let [appointment, billed, refunded, cancel_a, cancel_p, visit_p, no_show_p, spare] =
        <[String; 8]>::try_from(ours).expect("eight appointments");
    assert!(
        starts[&billed] < Utc::now() + Duration::days(6),
        "the completed visit opens provider A's care window now"
    );
    // Patient B's with provider2, booked by the front desk, for staff's and
    // the admin's own changes.
    let mut theirs = Vec::new();
    for _ in 0..8 {
        let start = slots2.remove(0);
        let id = book(staff, provider2, &type2, &start, Some(pb)).await;
        starts.insert(id.clone(), start.parse().expect("an RFC 3339 start"));
        theirs.push(id);
    }
    let [cancel_s, cancel_d, visit_s, visit_d, no_show_s, no_show_d, billed_s, billed_d] =
        <[String; 8]>::try_from(theirs).expect("eight appointments");

    for id in [&billed, &refunded] {
        complete_visit(stack, provider_a, id, starts[id]).await;
    }
    for id in [&billed_s, &billed_d] {
        complete_visit(stack, staff, id, starts[id]).await;
    }
    patient_a
        .expect(
            Method::PUT,
            &format!("/api/v1/patients/{pa}/insurance"),
            json!({ "payer": "Matrix Health", "member_id": "M-42" }),
            200,
        )
        .await;
    staff
        .expect(
            Method::PUT,
            &format!("/api/v1/patients/{pb}/insurance"),
            json!({ "payer": "Matrix Health", "member_id": "M-43" }),
            200,
        )
        .await;

    // What events carry to billing, records and notifications.
    let invoice = invoice_of(staff, pa, &billed).await;
    let line = first_line(staff, &invoice).await;
    // Paid in full, then credited: the patient has 100 to be refunded.
    let refund_invoice = invoice_of(staff, pa, &refunded).await;
    let detail = staff
        .read(&format!("/api/v1/invoices/{refund_invoice}"))
        .await;
    staff
        .expect(
            Method::POST,
            &format!("/api/v1/invoices/{refund_invoice}/payments"),
            json!({ "amount": detail["totals"]["due"], "method": "card" }),
            201,
        )
        .await;
    let currency = detail["totals"]["due"]["currency"].clone();
    staff
        .expect(
            Method::POST,
            &format!("/api/v1/invoices/{refund_invoice}/credits"),
            json!({ "line_id": first_line(staff, &refund_invoice).await,
                    "amount": { "amount_minor": 100, "currency": currency }, "reason": "matrix" }),
            201,
        )
        .await;
    let invoice_s = invoice_of(staff, pb, &billed_s).await;
    let invoice_d = invoice_of(staff, pb, &billed_d).await;

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
    let now = Utc::now();
    let stamp = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let time_off = provider_a
        .expect(
            Method::POST,
            &format!("/api/v1/providers/{provider}/time-off"),
            json!({ "start": stamp(now + Duration::days(300)),
                    "end": stamp(now + Duration::days(301)), "reason": "matrix" }),
            201,
        )
        .await["id"]
        .as_str()
        .expect("a time off id")
        .to_owned();

    // Provider B breaks the glass on patient B (once records knows them).
    let grant = provider_b
        .eventually(
            Method::POST,
            &format!("/api/v1/patients/{pb}/records/break-glass"),
            json!({ "reason": "Matrix: unconscious in the emergency room" }),
            201,
        )
        .await["id"]
        .as_str()
        .expect("a grant id")
        .to_owned();
    let new_user = admin
        .expect(
            Method::POST,
            "/api/v1/admin/users",
            json!({ "email": format!("matrix-{}@example.test", uuid::Uuid::new_v4().simple()),
                    "password": "matrix passphrase 42", "name": "Matrix Staff", "role": "staff" }),
            201,
        )
        .await["id"]
        .as_str()
        .expect("an account id")
        .to_owned();
    let mut sessions = Vec::new();
    for caller in &callers[..ANONYMOUS] {
        sessions.push(current_session(caller).await);
    }

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
    let nobody = || uuid::Uuid::new_v4().to_string();
    let values = HashMap::from([
        ("patient_a", pa.to_string()),
        ("patient_b", pb.to_string()),
        ("provider_a", provider.to_string()),
        ("provider_b", provider_b_id.to_string()),
        ("type", type_id.clone()),
        ("appointment", appointment),
        ("spare", spare),
        ("visit", visit_p),
        ("no_show", no_show_p),
        ("cancel", cancel_p),
        ("invoice", invoice.clone()),
        ("own_invoice", invoice),
        ("refund_invoice", refund_invoice),
        ("line", line),
        ("note", note),
        ("grant", grant),
        ("new_user", new_user),
        ("session", nobody()),
        ("others_session", nobody()),
        ("provider_a_profile", profile.to_string()),
        ("availability", availability.to_string()),
        ("now", stamp(now)),
        ("from", stamp(now)),
        ("to", stamp(now + Duration::days(7))),
        ("far_start", stamp(now + Duration::days(400))),
        ("far_end", stamp(now + Duration::days(401))),
        (
            "far_date",
            (now + Duration::days(400)).date_naive().to_string(),
        ),
        ("time_off", time_off),
    ]);
    let mut own = HashMap::from([
        (("cancel", PATIENT_A), cancel_a),
        (("cancel", STAFF), cancel_s),
        (("cancel", ADMIN), cancel_d),
        (("visit", STAFF), visit_s),
        (("visit", ADMIN), visit_d),
        (("no_show", STAFF), no_show_s),
        (("no_show", ADMIN), no_show_d),
        (("own_invoice", STAFF), invoice_s),
        (("own_invoice", ADMIN), invoice_d),
        (("far_start", STAFF), stamp(now + Duration::days(402))),
        (("far_end", STAFF), stamp(now + Duration::days(403))),
        (("far_start", ADMIN), stamp(now + Duration::days(404))),
        (("far_end", ADMIN), stamp(now + Duration::days(405))),
    ]);
    for (column, session) in sessions.iter().enumerate() {
        own.insert(("session", column), session.clone());
        let other = &sessions[(column + 1) % sessions.len()];
        own.insert(("others_session", column), other.clone());
    }
    assert_ne!(sessions[PATIENT_A], sessions[PATIENT_B]);
    Fixture {
        values,
        own,
        starts,
        slots,
    }
}

/// The id of `provider`'s first appointment type.
async fn first_type(caller: &Caller, provider: uuid::Uuid) -> String {
    let types = caller
        .read(&format!("/api/v1/providers/{provider}/appointment-types"))
        .await;
    types["items"][0]["id"].as_str().expect("a type").to_owned()
}

/// Book `start` with `provider` (for `patient`, when the front desk books); the id.
async fn book(
    caller: &Caller,
    provider: uuid::Uuid,
    type_id: &str,
    start: &str,
    patient: Option<uuid::Uuid>,
) -> String {
    let mut body =
        json!({ "provider_id": provider, "appointment_type_id": type_id, "start": start });
    if let Some(patient) = patient {
        body["patient_id"] = json!(patient);
    }
    caller
        .expect(Method::POST, "/api/v1/appointments", body, 201)
        .await["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

/// Check the visit in and complete it, with scheduling's clock at its start.
async fn complete_visit(stack: &Stack, who: &Caller, id: &str, start: DateTime<Utc>) {
    stack.clock.set(start + Duration::minutes(1));
    for step in ["check-in", "complete"] {
        who.expect(
            Method::POST,
            &format!("/api/v1/appointments/{id}/{step}"),
            Value::Null,
            200,
        )
        .await;
    }
    stack.clock.set(Utc::now());
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

/// The id of the invoice's first line.
async fn first_line(staff: &Caller, invoice: &str) -> String {
    let detail = staff.read(&format!("/api/v1/invoices/{invoice}")).await;
    detail["lines"][0]["id"]
        .as_str()
        .expect("a line")
        .to_owned()
}

/// The id of the session the caller's access token belongs to.
async fn current_session(caller: &Caller) -> String {
    let list = caller.read("/api/v1/auth/sessions").await;
    list["items"]
        .as_array()
        .expect("session items")
        .iter()
        .find(|s| s["current"] == true)
        .and_then(|s| s["id"].as_str())
        .unwrap_or_else(|| panic!("{}: no current session in {list}", caller.name))
        .to_owned()
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
    let now = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut fixture = Fixture {
        values: [
            "patient_a",
            "patient_b",
            "provider_a",
            "provider_b",
            "type",
            "appointment",
            "spare",
            "visit",
            "no_show",
            "cancel",
            "invoice",
            "own_invoice",
            "refund_invoice",
            "line",
            "note",
            "grant",
            "new_user",
            "session",
            "others_session",
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
        own: HashMap::new(),
        starts: HashMap::new(),
        slots: vec![now; 100],
    };
    let http = reqwest::Client::new();
    let mut failures = Vec::new();
    let mut cases = 0;
    for row in MATRIX
        .iter()
        .filter(|r| matches!(r.expect[ANONYMOUS], Expect::Status(401)))
    {
        let path = fixture.fill(row.path, ANONYMOUS);
        let service = routes
            .find(path.split('?').next().unwrap_or_default())
            .map(|r| r.service.clone())
            .expect("a routed path");
        let base = stack.service_url(&service).expect("a running service");
        let body: Option<Value> = row
            .body
            .map(|b| serde_json::from_str(&fixture.fill(b, ANONYMOUS)).expect("JSON"));
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
