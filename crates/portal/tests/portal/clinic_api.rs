//! What the directory and scheduling answer in the booking, waitlist and
//! link tests: one provider in Berlin with one appointment type (a 25 EUR
//! late-cancellation fee inside 24 hours), one patient, and the JSON of the
//! API's holds, appointments and waitlist entries.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::fake_api::{ok, Call, Reply};

pub const PROVIDER: Uuid = Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_0111);
pub const TYPE: Uuid = Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_0151);
pub const PATIENT: Uuid = Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_0121);
pub const STAFF: Uuid = Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_0131);
pub const HOLD: Uuid = Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_0161);

pub fn page_of(items: Value) -> Reply {
    ok(json!({ "items": items, "next_cursor": null }))
}

pub fn eur(minor: i64) -> Value {
    json!({ "amount_minor": minor, "currency": "EUR" })
}

pub fn provider_json() -> Value {
    json!({
        "id": PROVIDER, "name": "Dr. Lena Vogel", "specialty": "Family medicine",
        "time_zone": "Europe/Berlin", "accepting_new_patients": true,
    })
}

pub fn type_json() -> Value {
    json!({
        "id": TYPE, "provider_id": PROVIDER, "name": "Consultation", "duration_minutes": 30,
        "price": eur(6000), "mode": "in_person", "min_notice_minutes": 60, "horizon_days": 90,
        "cancellation_window_minutes": 1440, "late_cancel_fee": eur(2500), "no_show_fee": eur(3000),
    })
}

/// A free half hour starting at `start`.
pub fn slot_json(start: DateTime<Utc>) -> Value {
    json!({ "start": start, "end": start + Duration::minutes(30) })
}

/// A hold of the type's slot at `start` for Paula, lapsing at `expires_at`.
pub fn hold_json(start: DateTime<Utc>, expires_at: DateTime<Utc>, status: &str) -> Value {
    json!({
        "id": HOLD, "patient_id": PATIENT, "provider_id": PROVIDER, "appointment_type_id": TYPE,
        "start": start, "end": start + Duration::minutes(30), "expires_at": expires_at,
        "status": status,
    })
}

/// The appointment `id` at `start`, with the type's policy.
pub fn appointment_json(id: Uuid, start: DateTime<Utc>, status: &str) -> Value {
    json!({
        "id": id, "patient_id": PATIENT, "provider_id": PROVIDER,
        "appointment_type_id": TYPE, "start": start, "end": start + Duration::minutes(30),
        "status": status, "version": 1, "late_cancellation": false,
        "cancellation_policy": {
            "window_minutes": 1440, "late_cancel_fee": eur(2500), "no_show_fee": eur(3000),
        },
    })
}

/// The directory's provider, her types, the slots of any week (one free
/// time at `free`), Paula's summary; `None` for anything else.
pub fn directory(c: &Call, free: DateTime<Utc>) -> Option<Reply> {
    let provider = format!("/api/v1/providers/{PROVIDER}");
    let types = format!("{provider}/appointment-types");
    let slots = format!("{provider}/slots");
    let summary = format!("/api/v1/patients/{PATIENT}/summary");
    if c.method != "GET" {
        return None;
    }
    Some(match c.path.as_str() {
        p if p == provider => ok(provider_json()),
        p if p == types => page_of(json!([type_json()])),
        p if p == slots => page_of(json!([slot_json(free)])),
        p if p == summary => ok(json!({
            "id": PATIENT, "name": "Paula Patient", "email": "paula@example.test",
        })),
        "/api/v1/providers" => page_of(json!([provider_json()])),
        _ => return None,
    })
}

/// The value of the hidden field `name` of the first form that has one.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("a field {name}: {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}
