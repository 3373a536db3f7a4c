//! What this server supports, in one table: the CapabilityStatement is built
//! from it, and a test walks it against the running service, so what the
//! statement lists is what answers.

use serde_json::{json, Value};

/// One resource type: its interactions and search parameters (name, FHIR type).
pub struct Supported {
    pub resource: &'static str,
    pub interactions: &'static [&'static str],
    pub search: &'static [(&'static str, &'static str)],
}

const COMMON: &[(&str, &str)] = &[("_count", "number"), ("_summary", "token")];

pub const SUPPORTED: &[Supported] = &[
    Supported {
        resource: "Practitioner",
        interactions: &["read", "search-type"],
        search: &[("_id", "token"), ("name", "string")],
    },
    Supported {
        resource: "PractitionerRole",
        interactions: &["read", "search-type"],
        search: &[("practitioner", "reference"), ("specialty", "token")],
    },
    Supported {
        resource: "Schedule",
        interactions: &["read", "search-type"],
        search: &[("actor", "reference"), ("service-type", "token")],
    },
    Supported {
        resource: "Slot",
        interactions: &["read", "search-type"],
        search: &[
            ("schedule", "reference"),
            ("schedule.actor", "reference"),
            ("start", "date"),
            ("service-type", "token"),
            ("status", "token"),
        ],
    },
    Supported {
        resource: "Appointment",
        interactions: &["read", "search-type", "create", "update", "patch"],
        search: &[
            ("patient", "reference"),
            ("practitioner", "reference"),
            ("date", "date"),
            ("status", "token"),
        ],
    },
    Supported {
        resource: "Patient",
        interactions: &["read", "search-type"],
        search: &[
            ("_id", "token"),
            ("identifier", "token"),
            ("name", "string"),
        ],
    },
    Supported {
        resource: "AllergyIntolerance",
        interactions: &["search-type"],
        search: &[("patient", "reference")],
    },
    Supported {
        resource: "Condition",
        interactions: &["search-type"],
        search: &[("patient", "reference")],
    },
    Supported {
        resource: "MedicationStatement",
        interactions: &["search-type"],
        search: &[("patient", "reference")],
    },
    Supported {
        resource: "Observation",
        interactions: &["search-type"],
        search: &[("patient", "reference"), ("category", "token")],
    },
    Supported {
        resource: "DocumentReference",
        interactions: &["search-type"],
        search: &[("patient", "reference")],
    },
    Supported {
        resource: "AuditEvent",
        interactions: &["search-type"],
        search: &[("patient", "reference")],
    },
];

pub fn supports(resource: &str, interaction: &str) -> bool {
    SUPPORTED
        .iter()
        .any(|s| s.resource == resource && s.interactions.contains(&interaction))
}

/// The CapabilityStatement of the server at `base`, dated `date` (the build's).
pub fn statement(base: &str, public: &str, version: &str, date: &str) -> Value {
    let resources: Vec<Value> = SUPPORTED
        .iter()
        .map(|s| {
            json!({
                "type": s.resource,
                "interaction": s.interactions.iter().map(|i| json!({"code": i})).collect::<Vec<_>>(),
                "searchParam": s.search.iter().chain(COMMON)
                    .map(|(name, kind)| json!({"name": name, "type": kind}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "Carebook",
        "kind": "instance",
        "software": {"name": "Carebook", "version": version},
        "implementation": {"description": "Carebook FHIR R4 API: a view onto the scheduling, directory and records services", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "security": {
                "cors": true,
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR"
                }]}],
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [
                        {"url": "token", "valueUri": format!("{public}/api/v1/auth/login")},
                        {"url": "authorize", "valueUri": format!("{public}/login")},
                        {"url": "revoke", "valueUri": format!("{public}/api/v1/auth/logout")}
                    ]
                }]
            },
            "resource": resources,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_lists_the_table() {
        let s = statement(
            "https://c.test/fhir/R4",
            "https://c.test",
            "0.1.0",
            "2026-12-03",
        );
        let listed = s["rest"][0]["resource"].as_array().unwrap();
        assert_eq!(listed.len(), SUPPORTED.len());
        assert_eq!(listed[4]["type"], "Appointment");
        assert!(listed[4]["interaction"]
            .as_array()
            .unwrap()
            .contains(&json!({"code": "create"})));
        assert!(supports("Slot", "search-type"));
        assert!(!supports("AllergyIntolerance", "read"));
        assert!(!supports("Invoice", "read"));
    }
}
