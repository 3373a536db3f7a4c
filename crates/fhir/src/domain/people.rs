//! Patients as FHIR Patient resources (from the directory's summary: name,
//! email, phone, date of birth; never the address or insurance).

use serde_json::{json, Value};

use super::models::PatientSummary;

/// Carebook's patient ids as an identifier system.
pub const PATIENT_ID_SYSTEM: &str = "https://carebook.dev/fhir/NamingSystem/patient-id";

pub fn patient(p: &PatientSummary) -> Value {
    let mut telecom = Vec::new();
    if let Some(email) = p.email.as_deref().filter(|e| !e.is_empty()) {
        telecom.push(json!({"system": "email", "value": email}));
    }
    if let Some(phone) = p.phone.as_deref().filter(|e| !e.is_empty()) {
        telecom.push(json!({"system": "phone", "value": phone}));
    }
    let mut r = json!({
        "resourceType": "Patient",
        "id": p.id.to_string(),
        "identifier": [{"system": PATIENT_ID_SYSTEM, "value": p.id.to_string()}],
        "active": true,
        "name": [{"text": p.name}],
    });
    if !telecom.is_empty() {
        r["telecom"] = json!(telecom);
    }
    if let Some(born) = p.date_of_birth {
        r["birthDate"] = json!(born.to_string());
    }
    r
}

/// The patient id an `identifier` search value names (`system|value` or `value`).
pub fn identifier_value(token: &str) -> Option<uuid::Uuid> {
    let value = match token.split_once('|') {
        Some((system, value)) if system.is_empty() || system == PATIENT_ID_SYSTEM => value,
        Some(_) => return None,
        None => token,
    };
    uuid::Uuid::try_parse(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn a_patient_has_its_id_as_identifier_and_no_empty_parts() {
        let p = PatientSummary {
            id: Uuid::now_v7(),
            name: "Ada Lovelace".into(),
            email: Some("ada@x.test".into()),
            date_of_birth: None,
            phone: Some(String::new()),
        };
        let r = patient(&p);
        assert_eq!(r["identifier"][0]["value"], p.id.to_string());
        assert_eq!(r["telecom"].as_array().unwrap().len(), 1);
        assert!(r.get("birthDate").is_none());
    }

    #[test]
    fn identifier_tokens_name_our_system_only() {
        let id = Uuid::now_v7();
        assert_eq!(
            identifier_value(&format!("{PATIENT_ID_SYSTEM}|{id}")),
            Some(id)
        );
        assert_eq!(identifier_value(&format!("|{id}")), Some(id));
        assert_eq!(identifier_value(&id.to_string()), Some(id));
        assert_eq!(identifier_value(&format!("urn:other|{id}")), None);
    }
}
