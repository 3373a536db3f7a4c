//! Record entries as FHIR clinical resources. The records service decides
//! who may read them and audits each read; this only says them in FHIR.

use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};
use uuid::Uuid;

use super::models::{AccessLogEntry, RecordEntry};

pub const ICD10_SYSTEM: &str = "http://hl7.org/fhir/sid/icd-10";
pub const LOINC_SYSTEM: &str = "http://loinc.org";
pub const UCUM_SYSTEM: &str = "http://unitsofmeasure.org";

/// The clinical resources this view serves and the records kind behind each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clinical {
    AllergyIntolerance,
    Condition,
    MedicationStatement,
    Observation,
    DocumentReference,
}

impl Clinical {
    pub const ALL: [Clinical; 5] = [
        Clinical::AllergyIntolerance,
        Clinical::Condition,
        Clinical::MedicationStatement,
        Clinical::Observation,
        Clinical::DocumentReference,
    ];

    pub fn parse(resource: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.resource() == resource)
    }

    pub fn resource(self) -> &'static str {
        match self {
            Clinical::AllergyIntolerance => "AllergyIntolerance",
            Clinical::Condition => "Condition",
            Clinical::MedicationStatement => "MedicationStatement",
            Clinical::Observation => "Observation",
            Clinical::DocumentReference => "DocumentReference",
        }
    }

    /// The path segment under `/api/v1/patients/{id}/records/`.
    pub fn records_segment(self) -> &'static str {
        match self {
            Clinical::AllergyIntolerance => "allergies",
            Clinical::Condition => "diagnoses",
            Clinical::MedicationStatement => "medications",
            Clinical::Observation => "vitals",
            Clinical::DocumentReference => "notes",
        }
    }

    /// The entry as resources (vitals: one Observation per reading).
    pub fn resources(self, entry: &RecordEntry, patient: Uuid) -> Vec<Value> {
        match self {
            Clinical::AllergyIntolerance => vec![allergy(entry, patient)],
            Clinical::Condition => vec![condition(entry, patient)],
            Clinical::MedicationStatement => vec![medication(entry, patient)],
            Clinical::Observation => vitals(entry, patient),
            Clinical::DocumentReference => vec![note(entry, patient)],
        }
    }
}

fn text<'a>(entry: &'a RecordEntry, field: &str) -> Option<&'a str> {
    entry.data.get(field).and_then(Value::as_str)
}

fn in_error(entry: &RecordEntry) -> bool {
    entry.status == "entered_in_error"
}

fn instant(entry: &RecordEntry) -> String {
    entry
        .created_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn coded(system: &str, code: &str) -> Value {
    json!({"coding": [{"system": system, "code": code}]})
}

/// Every entry's common parts: id, version, patient, who recorded it.
fn base(resource: &str, id: String, entry: &RecordEntry) -> Value {
    json!({
        "resourceType": resource,
        "id": id,
        "meta": {"versionId": entry.version.to_string(), "lastUpdated": instant(entry)},
    })
}

fn allergy(entry: &RecordEntry, patient: Uuid) -> Value {
    let mut r = base("AllergyIntolerance", entry.id.to_string(), entry);
    let severity = text(entry, "severity").unwrap_or("moderate");
    r["clinicalStatus"] = coded(
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
        "active",
    );
    r["verificationStatus"] = coded(
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
        if in_error(entry) {
            "entered-in-error"
        } else {
            "confirmed"
        },
    );
    r["criticality"] = json!(match severity {
        "severe" | "life_threatening" => "high",
        _ => "low",
    });
    r["code"] = json!({"text": text(entry, "substance").unwrap_or_default()});
    r["patient"] = json!({"reference": format!("Patient/{patient}")});
    r["recordedDate"] = json!(instant(entry));
    r["recorder"] = json!({"reference": format!("Practitioner/{}", entry.author_id)});
    if let Some(onset) = text(entry, "onset") {
        r["onsetDateTime"] = json!(onset);
    }
    if let Some(reaction) = text(entry, "reaction") {
        r["reaction"] = json!([{
            "manifestation": [{"text": reaction}],
            "severity": match severity {
                "mild" => "mild",
                "moderate" => "moderate",
                _ => "severe",
            }
        }]);
    }
    r
}

fn condition(entry: &RecordEntry, patient: Uuid) -> Value {
    let mut r = base("Condition", entry.id.to_string(), entry);
    let clinical = match text(entry, "clinical_status") {
        Some("resolved") => "resolved",
        _ => "active",
    };
    r["clinicalStatus"] = coded(
        "http://terminology.hl7.org/CodeSystem/condition-clinical",
        clinical,
    );
    r["verificationStatus"] = coded(
        "http://terminology.hl7.org/CodeSystem/condition-ver-status",
        if in_error(entry) {
            "entered-in-error"
        } else {
            "confirmed"
        },
    );
    r["category"] = json!([coded(
        "http://terminology.hl7.org/CodeSystem/condition-category",
        "encounter-diagnosis"
    )]);
    let description = text(entry, "description").unwrap_or_default();
    r["code"] = json!({
        "coding": [{"system": ICD10_SYSTEM, "code": text(entry, "code").unwrap_or_default(), "display": description}],
        "text": description,
    });
    r["subject"] = json!({"reference": format!("Patient/{patient}")});
    r["recordedDate"] = json!(instant(entry));
    r["recorder"] = json!({"reference": format!("Practitioner/{}", entry.author_id)});
    if let Some(onset) = text(entry, "onset") {
        r["onsetDateTime"] = json!(onset);
    }
    r
}

fn medication(entry: &RecordEntry, patient: Uuid) -> Value {
    let mut r = base("MedicationStatement", entry.id.to_string(), entry);
    let ended = text(entry, "end_date")
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .is_some_and(|d| d < entry.created_at.date_naive());
    r["status"] = json!(if in_error(entry) {
        "entered-in-error"
    } else if ended {
        "completed"
    } else {
        "active"
    });
    r["medicationCodeableConcept"] = json!({"text": text(entry, "name").unwrap_or_default()});
    r["subject"] = json!({"reference": format!("Patient/{patient}")});
    let mut period = json!({});
    if let Some(start) = text(entry, "start_date") {
        period["start"] = json!(start);
    }
    if let Some(end) = text(entry, "end_date") {
        period["end"] = json!(end);
    }
    r["effectivePeriod"] = period;
    r["dateAsserted"] = json!(instant(entry));
    r["informationSource"] = json!({"reference": format!("Practitioner/{}", entry.author_id)});
    let mut dosage = json!({"text": format!(
        "{} {}",
        text(entry, "dose").unwrap_or_default(),
        text(entry, "frequency").unwrap_or_default()
    ).trim()});
    if let Some(instructions) = text(entry, "instructions") {
        dosage["patientInstruction"] = json!(instructions);
    }
    r["dosage"] = json!([dosage]);
    r
}

/// LOINC code, display and UCUM unit of each vital sign we record.
pub fn vital_code(kind: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match kind {
        "heart_rate" => ("8867-4", "Heart rate", "/min"),
        "respiratory_rate" => ("9279-1", "Respiratory rate", "/min"),
        "systolic" => ("8480-6", "Systolic blood pressure", "mm[Hg]"),
        "diastolic" => ("8462-4", "Diastolic blood pressure", "mm[Hg]"),
        "temperature" => ("8310-5", "Body temperature", "Cel"),
        "weight" => ("29463-7", "Body weight", "kg"),
        "height" => ("8302-2", "Body height", "cm"),
        "spo2" => (
            "59408-5",
            "Oxygen saturation in Arterial blood by Pulse oximetry",
            "%",
        ),
        _ => return None,
    })
}

/// Each reading of a vitals entry as its own vital-signs Observation.
fn vitals(entry: &RecordEntry, patient: Uuid) -> Vec<Value> {
    let measured = text(entry, "measured_at").map(str::to_owned);
    let readings = entry
        .data
        .get("readings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    readings
        .iter()
        .enumerate()
        .filter_map(|(i, reading)| {
            let (code, display, unit) = vital_code(reading["type"].as_str()?)?;
            let mut r = base("Observation", format!("{}-{i}", entry.id), entry);
            r["status"] = json!(if in_error(entry) { "entered-in-error" } else { "final" });
            r["category"] = json!([{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "vital-signs",
                "display": "Vital Signs"
            }]}]);
            r["code"] = json!({"coding": [{"system": LOINC_SYSTEM, "code": code, "display": display}], "text": display});
            r["subject"] = json!({"reference": format!("Patient/{patient}")});
            r["effectiveDateTime"] = json!(measured.clone().unwrap_or_else(|| instant(entry)));
            r["performer"] = json!([{"reference": format!("Practitioner/{}", entry.author_id)}]);
            r["valueQuantity"] = json!({
                "value": reading["value"],
                "unit": unit,
                "system": UCUM_SYSTEM,
                "code": unit,
            });
            Some(r)
        })
        .collect()
}

/// A clinical note as a progress-note DocumentReference with the text attached.
fn note(entry: &RecordEntry, patient: Uuid) -> Value {
    let mut r = base("DocumentReference", entry.id.to_string(), entry);
    r["status"] = json!(if in_error(entry) {
        "entered-in-error"
    } else {
        "current"
    });
    r["type"] = json!({"coding": [{"system": LOINC_SYSTEM, "code": "11506-3", "display": "Progress note"}]});
    r["subject"] = json!({"reference": format!("Patient/{patient}")});
    r["date"] = json!(instant(entry));
    r["author"] = json!([{"reference": format!("Practitioner/{}", entry.author_id)}]);
    r["content"] = json!([{"attachment": {
        "contentType": "text/plain; charset=utf-8",
        "data": STANDARD.encode(text(entry, "text").unwrap_or_default()),
    }}]);
    r
}

/// One access-log line as an AuditEvent (R4).
pub fn audit_event(line: &AccessLogEntry, patient: Uuid) -> Value {
    let action = match line.action.as_str() {
        "create" => "C",
        "amend" | "enter_in_error" => "U",
        "read" | "read_access_log" | "read_break_glass_reason" => "R",
        _ => "E",
    };
    let who = match line.role.as_str() {
        "patient" => format!("Patient/{}", line.actor_id),
        "provider" => format!("Practitioner/{}", line.actor_id),
        _ => format!("Practitioner/{}", line.actor_id),
    };
    let mut r = json!({
        "resourceType": "AuditEvent",
        "id": line.seq.to_string(),
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": "https://carebook.dev/fhir/CodeSystem/record-action", "code": line.action}],
        "action": action,
        "recorded": line.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "outcome": if line.outcome == "allowed" { "0" } else { "4" },
        "outcomeDesc": line.outcome,
        "agent": [{
            "who": {"reference": who},
            "requestor": true,
            "role": [{"text": line.role}]
        }],
        "source": {"observer": {"display": "Carebook records"}},
        "entity": [{"what": {"reference": format!("Patient/{patient}")}}],
    });
    if let Some(kind) = &line.kind {
        r["entity"][0]["description"] = json!(kind);
    }
    if line.break_glass {
        r["purposeOfEvent"] = json!([{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
            "code": "BTG",
            "display": "break the glass"
        }]}]);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(data: Value, status: &str) -> RecordEntry {
        RecordEntry {
            id: Uuid::now_v7(),
            version: 2,
            status: status.into(),
            author_id: Uuid::now_v7(),
            created_at: "2027-03-01T09:00:00Z".parse().unwrap(),
            data: data.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn an_allergy_keeps_substance_reaction_and_severity() {
        let patient = Uuid::now_v7();
        let e = entry(
            json!({"substance": "Penicillin", "reaction": "Hives", "severity": "life_threatening"}),
            "active",
        );
        let r = Clinical::AllergyIntolerance
            .resources(&e, patient)
            .remove(0);
        assert_eq!(r["code"]["text"], "Penicillin");
        assert_eq!(r["criticality"], "high");
        assert_eq!(r["reaction"][0]["severity"], "severe");
        assert_eq!(r["patient"]["reference"], format!("Patient/{patient}"));
        assert_eq!(r["meta"]["versionId"], "2");
    }

    #[test]
    fn a_diagnosis_is_an_icd10_condition() {
        let e = entry(
            json!({"code": "J45.909", "description": "Asthma", "clinical_status": "resolved"}),
            "entered_in_error",
        );
        let r = Clinical::Condition.resources(&e, Uuid::now_v7()).remove(0);
        assert_eq!(r["code"]["coding"][0]["system"], ICD10_SYSTEM);
        assert_eq!(r["code"]["coding"][0]["code"], "J45.909");
        assert_eq!(r["clinicalStatus"]["coding"][0]["code"], "resolved");
        assert_eq!(
            r["verificationStatus"]["coding"][0]["code"],
            "entered-in-error"
        );
    }

    #[test]
    fn each_vital_reading_is_a_loinc_observation_in_ucum() {
        let e = entry(
            json!({"measured_at": "2027-03-01T08:55:00Z", "readings": [
                {"type": "systolic", "value": 120.0, "unit": "mmHg"},
                {"type": "temperature", "value": 37.2, "unit": "°C"},
                {"type": "unknown", "value": 1.0, "unit": "x"}
            ]}),
            "active",
        );
        let rs = Clinical::Observation.resources(&e, Uuid::now_v7());
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0]["id"], format!("{}-0", e.id));
        assert_eq!(rs[0]["code"]["coding"][0]["code"], "8480-6");
        assert_eq!(rs[0]["valueQuantity"]["code"], "mm[Hg]");
        assert_eq!(rs[1]["valueQuantity"]["code"], "Cel");
        assert_eq!(rs[1]["category"][0]["coding"][0]["code"], "vital-signs");
        assert_eq!(rs[1]["effectiveDateTime"], "2027-03-01T08:55:00Z");
    }

    #[test]
    fn a_note_carries_its_text_as_an_attachment() {
        let e = entry(json!({"text": "Feeling better."}), "active");
        let r = Clinical::DocumentReference
            .resources(&e, Uuid::now_v7())
            .remove(0);
        let data = r["content"][0]["attachment"]["data"].as_str().unwrap();
        assert_eq!(STANDARD.decode(data).unwrap(), b"Feeling better.");
        assert_eq!(r["status"], "current");
    }

    #[test]
    fn a_break_glass_read_is_marked_in_the_audit_event() {
        let line = AccessLogEntry {
            seq: 42,
            at: "2027-03-01T09:00:00Z".parse().unwrap(),
            actor_id: Uuid::now_v7(),
            role: "provider".into(),
            action: "read".into(),
            kind: Some("allergy".into()),
            outcome: "allowed".into(),
            break_glass: true,
        };
        let r = audit_event(&line, Uuid::now_v7());
        assert_eq!(r["id"], "42");
        assert_eq!(r["action"], "R");
        assert_eq!(r["outcome"], "0");
        assert_eq!(r["purposeOfEvent"][0]["coding"][0]["code"], "BTG");
    }
}
