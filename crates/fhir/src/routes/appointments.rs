//! Appointment: read and search through scheduling's API, book with the same
//! guarantees as a REST booking (it is one), cancel with the cancellation
//! policy by setting `status` to `cancelled`.

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{scheduling::appointment_type, searching::Search, Answer, Caller, Fhir};
use crate::{
    api::Call,
    domain::{
        bundle::Page,
        ids::{referenced, uuid_of},
        models::Appointment,
        outcome::Outcome,
        scheduling::{appointment, booking_of, cancellation_of, rest_status},
        search::Range,
    },
    AppState,
};

/// The appointment types' names for `appointments`, for `serviceType.display`
/// (a type that cannot be read is shown without its name).
async fn type_names(
    state: &AppState,
    caller: &Caller,
    appointments: &[Appointment],
) -> HashMap<Uuid, String> {
    let mut names = HashMap::new();
    for a in appointments {
        if !names.contains_key(&a.appointment_type_id) {
            if let Ok(t) = appointment_type(state, caller, a.appointment_type_id).await {
                names.insert(t.id, t.name);
            }
        }
    }
    names
}

async fn fetch(state: &AppState, caller: &Caller, id: Uuid) -> Result<Appointment, Outcome> {
    state
        .api
        .read(
            Call::get(format!("/api/v1/appointments/{id}")),
            &caller.origin,
        )
        .await
}

async fn resource(state: &AppState, caller: &Caller, a: &Appointment) -> Value {
    let names = type_names(state, caller, std::slice::from_ref(a)).await;
    appointment(a, names.get(&a.appointment_type_id).map(String::as_str))
}

pub async fn read(state: &AppState, caller: &Caller, id: &str) -> Result<Value, Outcome> {
    let id = uuid_of(id).ok_or_else(|| Outcome::not_found("Appointment"))?;
    let a = fetch(state, caller, id).await?;
    Ok(resource(state, caller, &a).await)
}

pub async fn search(ctx: Search<'_>) -> Result<Value, Outcome> {
    let reference = |name: &str, kind: &str| -> Result<Option<Uuid>, Outcome> {
        ctx.one(name)?
            .map(|v| {
                referenced(v, kind)
                    .ok_or_else(|| Outcome::invalid(format!("`{name}` must reference a {kind}")))
            })
            .transpose()
    };
    let patient = reference("patient", "Patient")?;
    let practitioner = reference("practitioner", "Practitioner")?;
    let status = match ctx.one("status")? {
        Some(s) => Some(rest_status(s).ok_or_else(|| {
            Outcome::invalid("`status` is one of booked, arrived, fulfilled, cancelled, noshow")
        })?),
        None => None,
    };
    let range = Range::of(&ctx.params.all("date")).map_err(Outcome::invalid)?;
    let (items, next_cursor, total) = if range.is_empty() {
        (Vec::new(), None, Some(0))
    } else {
        ctx.rest_page::<Appointment>(|limit, cursor| {
            Call::get("/api/v1/appointments")
                .query("patient_id", patient)
                .query("provider_id", practitioner)
                .query("status", status)
                .query("from", range.from.map(|t| t.to_rfc3339()))
                .query("to", range.to.map(|t| t.to_rfc3339()))
                .query("limit", Some(limit))
                .query("cursor", cursor)
        })
        .await?
    };
    let names = type_names(ctx.state, ctx.caller, &items).await;
    let resources = items
        .iter()
        .map(|a| appointment(a, names.get(&a.appointment_type_id).map(String::as_str)))
        .collect();
    Ok(ctx.bundle(
        &["patient", "practitioner", "date", "status"],
        Page {
            resources,
            total,
            next_cursor,
        },
    ))
}

/// The idempotency key of a create: `Idempotency-Key` as given, or one
/// derived from `If-None-Exist` (the same condition sent twice books once).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Outcome> {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().map(str::to_owned));
    match (header("idempotency-key"), header("if-none-exist")) {
        (Some(Ok(key)), _) => Ok(Some(key)),
        (None, Some(Ok(condition))) => {
            let digest = Sha256::digest(condition.trim().as_bytes());
            Ok(Some(format!("fhir-if-none-exist-{digest:x}")))
        }
        (Some(Err(_)), _) | (None, Some(Err(_))) => Err(Outcome::invalid(
            "`Idempotency-Key` and `If-None-Exist` must be visible ASCII",
        )),
        (None, None) => Ok(None),
    }
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: &Value,
) -> Answer {
    let booking = booking_of(body).map_err(Outcome::unprocessable)?;
    let key = idempotency_key(headers)?;
    let t = match appointment_type(state, caller, booking.type_id).await {
        Err(o) if o.status == 404 => {
            return Err(Outcome::unprocessable(
                "the slot's or serviceType's appointment type does not exist",
            ))
        }
        other => other?,
    };
    if booking.provider_id.is_some_and(|p| p != t.provider_id) {
        return Err(Outcome::unprocessable(
            "the Practitioner participant does not offer that slot's appointment type",
        ));
    }
    let request = json!({
        "provider_id": t.provider_id,
        "appointment_type_id": t.id,
        "start": booking.start,
        "patient_id": booking.patient_id,
    });
    let reply = state
        .api
        .send(
            Call::post("/api/v1/appointments", &request).idempotency_key(key.as_deref()),
            &caller.origin,
        )
        .await?;
    let a: Appointment = serde_json::from_value(reply.json)
        .map_err(|_| Outcome::new(502, "The booking answered unexpectedly."))?;
    let body = appointment(&a, Some(&t.name));
    // A repeat of the same create is answered as a read of what it made.
    Ok(Fhir {
        status: if reply.replayed {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        location: Some(format!("{}/Appointment/{}", state.base, a.id)),
        body,
    })
}

pub enum Change {
    Replace(Value),
    Patch(json_patch::Patch),
}

/// An update may only cancel: anything else is 422, so nothing changes
/// behind a client's back.
pub async fn update(state: &AppState, caller: &Caller, id: &str, change: Change) -> Answer {
    let id = uuid_of(id).ok_or_else(|| Outcome::not_found("Appointment"))?;
    let stored = fetch(state, caller, id).await?;
    let names = type_names(state, caller, std::slice::from_ref(&stored)).await;
    let type_name = names.get(&stored.appointment_type_id).map(String::as_str);
    let current = appointment(&stored, type_name);
    let proposed = match change {
        Change::Replace(body) => body,
        Change::Patch(patch) => {
            let mut patched = current.clone();
            json_patch::patch(&mut patched, &patch)
                .map_err(|e| Outcome::unprocessable(format!("the patch does not apply: {e}")))?;
            patched
        }
    };
    let Some(reason) = cancellation_of(&current, &proposed).map_err(Outcome::unprocessable)? else {
        return Ok(Fhir::ok(current));
    };
    // The cancellation answers with the appointment as it now is.
    let cancelled: Appointment = state
        .api
        .read(
            Call::post(
                format!("/api/v1/appointments/{id}/cancel"),
                &json!({"reason": reason}),
            ),
            &caller.origin,
        )
        .await?;
    Ok(Fhir::ok(appointment(&cancelled, type_name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn if_none_exist_becomes_a_stable_key() {
        let mut h = HeaderMap::new();
        assert_eq!(idempotency_key(&h).unwrap(), None);
        h.insert("if-none-exist", HeaderValue::from_static("identifier=x|1"));
        let a = idempotency_key(&h).unwrap().unwrap();
        assert!(a.starts_with("fhir-if-none-exist-") && a.len() <= 200);
        assert_eq!(idempotency_key(&h).unwrap(), Some(a));
        h.insert("idempotency-key", HeaderValue::from_static("k1"));
        assert_eq!(idempotency_key(&h).unwrap().as_deref(), Some("k1"));
    }
}
