//! Providers, their appointment types, slots and appointments as FHIR
//! resources, and a FHIR Appointment back into what the REST API books.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{
    ids::{referenced, SlotId},
    models::{Appointment, AppointmentType, Provider},
};

/// Appointment types are the ServiceType codes.
pub const SERVICE_TYPE_SYSTEM: &str = "https://carebook.dev/fhir/CodeSystem/appointment-type";
/// The IANA zone of a provider's calendar (FHIR's core extension).
pub const TIMEZONE_EXTENSION: &str = "http://hl7.org/fhir/StructureDefinition/timezone";

fn time_zone(zone: &str) -> Value {
    json!([{"url": TIMEZONE_EXTENSION, "valueCode": zone}])
}

pub fn service_type(type_id: Uuid, name: Option<&str>) -> Value {
    let mut coding = json!({"system": SERVICE_TYPE_SYSTEM, "code": type_id.to_string()});
    if let Some(name) = name {
        coding["display"] = json!(name);
    }
    json!([{"coding": [coding], "text": name}])
}

pub fn practitioner(p: &Provider) -> Value {
    let mut resource = json!({
        "resourceType": "Practitioner",
        "id": p.id.to_string(),
        "active": true,
        "name": [{"text": p.name}],
    });
    if !p.languages.is_empty() {
        resource["communication"] = p.languages.iter().map(|l| json!({"text": l})).collect();
    }
    resource
}

/// One role per provider: what they do, where, in which zone.
pub fn practitioner_role(p: &Provider) -> Value {
    let mut resource = json!({
        "resourceType": "PractitionerRole",
        "id": p.id.to_string(),
        "extension": time_zone(&p.time_zone),
        "active": true,
        "practitioner": {"reference": format!("Practitioner/{}", p.id), "display": p.name},
        "specialty": [{"text": p.specialty}],
    });
    if !p.location.is_empty() {
        resource["location"] = json!([{"display": p.location}]);
    }
    if !p.accepting_new_patients {
        resource["availabilityExceptions"] = json!("Not accepting new patients");
    }
    resource
}

/// One schedule per provider and appointment type, open as far ahead as the type allows.
pub fn schedule(t: &AppointmentType, zone: &str, now: DateTime<Utc>) -> Value {
    json!({
        "resourceType": "Schedule",
        "id": t.id.to_string(),
        "extension": time_zone(zone),
        "active": true,
        "serviceType": service_type(t.id, Some(&t.name)),
        "actor": [
            {"reference": format!("Practitioner/{}", t.provider_id)},
            {"reference": format!("PractitionerRole/{}", t.provider_id)}
        ],
        "planningHorizon": {
            "start": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "end": (now + Duration::days(i64::from(t.horizon_days))).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        },
        "comment": format!("{} ({} minutes)", t.name, t.duration_minutes),
    })
}

fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn slot(t: &AppointmentType, start: DateTime<Utc>, end: DateTime<Utc>) -> Value {
    json!({
        "resourceType": "Slot",
        "id": SlotId { type_id: t.id, start }.to_string(),
        "serviceType": service_type(t.id, Some(&t.name)),
        "schedule": {"reference": format!("Schedule/{}", t.id)},
        "status": "free",
        "start": instant(start),
        "end": instant(end),
    })
}

/// FHIR's appointment status for ours.
pub fn fhir_status(status: &str) -> &'static str {
    match status {
        "checked_in" => "arrived",
        "completed" => "fulfilled",
        "cancelled" => "cancelled",
        "no_show" => "noshow",
        _ => "booked",
    }
}

/// Ours for FHIR's, where we have one.
pub fn rest_status(status: &str) -> Option<&'static str> {
    Some(match status {
        "booked" => "booked",
        "arrived" => "checked_in",
        "fulfilled" => "completed",
        "cancelled" => "cancelled",
        "noshow" => "no_show",
        _ => return None,
    })
}

pub fn appointment(a: &Appointment, type_name: Option<&str>) -> Value {
    let mut resource = json!({
        "resourceType": "Appointment",
        "id": a.id.to_string(),
        "status": fhir_status(&a.status),
        "serviceType": service_type(a.appointment_type_id, type_name),
        "start": instant(a.start),
        "end": instant(a.end),
        "minutesDuration": (a.end - a.start).num_minutes(),
        "slot": [{"reference": format!("Slot/{}", SlotId { type_id: a.appointment_type_id, start: a.start })}],
        "participant": [
            {"actor": {"reference": format!("Patient/{}", a.patient_id)}, "required": "required", "status": "accepted"},
            {"actor": {"reference": format!("Practitioner/{}", a.provider_id)}, "required": "required", "status": "accepted"}
        ],
    });
    if a.status == "cancelled" {
        if let Some(reason) = &a.cancel_reason {
            resource["cancelationReason"] = json!({"text": reason});
        }
    }
    resource
}

/// What a posted Appointment asks to book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booking {
    /// The slot it names, or the type from its serviceType.
    pub type_id: Uuid,
    pub start: DateTime<Utc>,
    /// The practitioner participant, when given (checked against the type's).
    pub provider_id: Option<Uuid>,
    /// The patient participant, when given.
    pub patient_id: Option<Uuid>,
}

/// Read a posted Appointment: a `Slot` reference, or `start` with a ServiceType code.
pub fn booking_of(resource: &Value) -> Result<Booking, String> {
    if resource["resourceType"] != "Appointment" {
        return Err("the body must be an Appointment resource".into());
    }
    match resource["status"].as_str() {
        None | Some("booked" | "proposed" | "pending") => {}
        Some(other) => return Err(format!("a new appointment cannot have status `{other}`")),
    }
    let participant = |kind: &str| -> Result<Option<Uuid>, String> {
        let mut found = None;
        for p in resource["participant"].as_array().into_iter().flatten() {
            let Some(reference) = p["actor"]["reference"].as_str() else {
                continue;
            };
            if reference.contains(&format!("{kind}/")) {
                let id = referenced(reference, kind)
                    .ok_or_else(|| format!("`{reference}` is not a {kind} of this server"))?;
                if found.replace(id).is_some() {
                    return Err(format!("name one {kind} participant"));
                }
            }
        }
        Ok(found)
    };
    let patient_id = participant("Patient")?;
    let provider_id = participant("Practitioner")?;
    let slots: Vec<&str> = resource["slot"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["reference"].as_str())
        .collect();
    let (type_id, start) = match slots.as_slice() {
        [one] => {
            let id = one.strip_prefix("Slot/").unwrap_or(one);
            let slot = SlotId::parse(id.rsplit('/').next().unwrap_or(id))
                .ok_or_else(|| format!("`{one}` is not a Slot of this server"))?;
            (slot.type_id, slot.start)
        }
        [] => {
            let start = resource["start"]
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .ok_or("give a `slot` reference, or `start` (an instant) with a `serviceType`")?
                .with_timezone(&Utc);
            let type_id = resource["serviceType"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| c["coding"].as_array().into_iter().flatten())
                .find(|c| c["system"] == SERVICE_TYPE_SYSTEM)
                .and_then(|c| c["code"].as_str())
                .and_then(|code| Uuid::try_parse(code).ok())
                .ok_or_else(|| {
                    format!("`serviceType` needs a coding from {SERVICE_TYPE_SYSTEM}")
                })?;
            (type_id, start)
        }
        _ => return Err("book one slot at a time".into()),
    };
    Ok(Booking {
        type_id,
        start,
        provider_id,
        patient_id,
    })
}

/// What an update asks of an appointment: only cancelling is an update here.
/// `Ok(Some(reason))` cancels; `Ok(None)` changes nothing.
pub fn cancellation_of(current: &Value, proposed: &Value) -> Result<Option<String>, String> {
    if proposed["resourceType"] != "Appointment" {
        return Err("the body must be an Appointment resource".into());
    }
    if proposed.get("id").is_some_and(|id| id != &current["id"]) {
        return Err("the body's `id` is not the appointment's".into());
    }
    let unchanged = |field: &str| {
        proposed
            .get(field)
            .is_none_or(|v| Some(v) == current.get(field))
    };
    for field in ["start", "end", "participant", "slot", "serviceType"] {
        if !unchanged(field) {
            return Err(format!(
                "`{field}` cannot be changed here: cancel and book again, or reschedule through the REST API"
            ));
        }
    }
    match proposed["status"].as_str() {
        Some(same) if Some(same) == current["status"].as_str() => Ok(None),
        Some("cancelled") => Ok(Some(
            proposed["cancelationReason"]["text"]
                .as_str()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .unwrap_or("Cancelled through the FHIR API")
                .to_owned(),
        )),
        Some(other) => Err(format!(
            "`status` can only become `cancelled` here (asked: `{other}`)"
        )),
        None => Err("`status` is required".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appt(status: &str) -> Appointment {
        Appointment {
            id: Uuid::now_v7(),
            patient_id: Uuid::now_v7(),
            provider_id: Uuid::now_v7(),
            appointment_type_id: Uuid::now_v7(),
            start: "2027-03-01T09:00:00Z".parse().unwrap(),
            end: "2027-03-01T09:30:00Z".parse().unwrap(),
            status: status.into(),
            cancel_reason: Some("ill".into()),
        }
    }

    #[test]
    fn statuses_map_both_ways() {
        for ours in ["booked", "checked_in", "completed", "cancelled", "no_show"] {
            assert_eq!(rest_status(fhir_status(ours)), Some(ours));
        }
        assert_eq!(rest_status("waitlist"), None);
    }

    #[test]
    fn an_appointment_names_its_slot_patient_and_practitioner() {
        let a = appt("cancelled");
        let r = appointment(&a, Some("Checkup"));
        assert_eq!(r["status"], "cancelled");
        assert_eq!(r["cancelationReason"]["text"], "ill");
        assert_eq!(r["minutesDuration"], 30);
        let slot = r["slot"][0]["reference"].as_str().unwrap();
        let parsed = SlotId::parse(slot.trim_start_matches("Slot/")).unwrap();
        assert_eq!(
            (parsed.type_id, parsed.start),
            (a.appointment_type_id, a.start)
        );
        assert_eq!(
            r["participant"][0]["actor"]["reference"],
            format!("Patient/{}", a.patient_id)
        );
        assert_eq!(r["serviceType"][0]["coding"][0]["display"], "Checkup");
    }

    #[test]
    fn a_booking_comes_from_a_slot_or_a_start_and_a_service_type() {
        let type_id = Uuid::now_v7();
        let start: DateTime<Utc> = "2027-03-01T09:00:00Z".parse().unwrap();
        let patient = Uuid::now_v7();
        let by_slot = json!({
            "resourceType": "Appointment", "status": "booked",
            "slot": [{"reference": format!("Slot/{}", SlotId { type_id, start })}],
            "participant": [{"actor": {"reference": format!("Patient/{patient}")}, "status": "accepted"}]
        });
        let b = booking_of(&by_slot).unwrap();
        assert_eq!(
            (b.type_id, b.start, b.patient_id, b.provider_id),
            (type_id, start, Some(patient), None)
        );
        let by_start = json!({
            "resourceType": "Appointment", "status": "proposed", "start": "2027-03-01T10:00:00+01:00",
            "serviceType": [{"coding": [{"system": SERVICE_TYPE_SYSTEM, "code": type_id.to_string()}]}]
        });
        let b = booking_of(&by_start).unwrap();
        assert_eq!((b.type_id, b.start), (type_id, start));
    }

    #[test]
    fn what_cannot_be_booked_says_why() {
        for bad in [
            json!({"resourceType": "Patient"}),
            json!({"resourceType": "Appointment", "status": "cancelled"}),
            json!({"resourceType": "Appointment"}),
            json!({"resourceType": "Appointment", "slot": [{"reference": "Slot/nope"}]}),
            json!({"resourceType": "Appointment", "start": "2027-03-01T09:00:00Z"}),
            json!({"resourceType": "Appointment", "slot": [{"reference": "Slot/a"}, {"reference": "Slot/b"}]}),
        ] {
            assert!(booking_of(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_update_may_only_cancel() {
        let current = appointment(&appt("booked"), None);
        let mut cancel = current.clone();
        cancel["status"] = json!("cancelled");
        assert_eq!(
            cancellation_of(&current, &cancel),
            Ok(Some("Cancelled through the FHIR API".into()))
        );
        cancel["cancelationReason"] = json!({"text": "Feeling better"});
        assert_eq!(
            cancellation_of(&current, &cancel),
            Ok(Some("Feeling better".into()))
        );
        assert_eq!(cancellation_of(&current, &current), Ok(None));
        let mut moved = cancel.clone();
        moved["start"] = json!("2027-03-02T09:00:00Z");
        assert!(cancellation_of(&current, &moved).is_err());
        let mut arrived = current.clone();
        arrived["status"] = json!("arrived");
        assert!(cancellation_of(&current, &arrived).is_err());
    }
}
