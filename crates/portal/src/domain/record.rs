//! Record entries as a page shows them: a heading and labelled details per
//! kind, from the entry's JSON. Values stay text; the templates escape them.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::api::models::{RecordEntry, RecordKind};

/// One entry, ready to show.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EntryView {
    pub heading: String,
    /// Longer free text (a note's body), shown as a paragraph.
    pub body: Option<String>,
    pub details: Vec<(String, String)>,
    pub version: i32,
    pub entered_in_error: bool,
    pub status_reason: Option<String>,
}

fn text(data: &Map<String, Value>, key: &str) -> Option<String> {
    match data.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(number(n)),
        _ => None,
    }
}

/// A number as people write it: `72`, not the `72.0` records stores for a float.
pub fn number(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => n.to_string(),
    }
}

fn humanize(code: &str) -> String {
    let spaced = code.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn vital_label(kind: &str) -> String {
    match kind {
        "heart_rate" => "Heart rate".to_owned(),
        "respiratory_rate" => "Respiratory rate".to_owned(),
        "systolic" => "Blood pressure (systolic)".to_owned(),
        "diastolic" => "Blood pressure (diastolic)".to_owned(),
        "spo2" => "Oxygen saturation".to_owned(),
        other => humanize(other),
    }
}

pub fn view(kind: RecordKind, e: &RecordEntry) -> EntryView {
    let d = &e.data;
    let mut details = Vec::new();
    let mut push = |label: &str, value: Option<String>| {
        if let Some(v) = value {
            details.push((label.to_owned(), v));
        }
    };
    let (heading, body) = match kind {
        RecordKind::Notes => ("Note".to_owned(), text(d, "text")),
        RecordKind::Diagnoses => {
            let code = text(d, "code").unwrap_or_default();
            let description = text(d, "description").unwrap_or_default();
            push("Onset", text(d, "onset"));
            push("Status", text(d, "clinical_status").map(|s| humanize(&s)));
            (format!("{description} ({code})"), None)
        }
        RecordKind::Allergies => {
            push("Severity", text(d, "severity").map(|s| humanize(&s)));
            push("Reaction", text(d, "reaction"));
            push("Onset", text(d, "onset"));
            (text(d, "substance").unwrap_or_default(), None)
        }
        RecordKind::Medications => {
            push("Dose", text(d, "dose"));
            push("Frequency", text(d, "frequency"));
            push("From", text(d, "start_date"));
            push("Until", text(d, "end_date"));
            push("Instructions", text(d, "instructions"));
            (text(d, "name").unwrap_or_default(), None)
        }
        RecordKind::Vitals => {
            if let Some(Value::Array(readings)) = d.get("readings") {
                for r in readings.iter().filter_map(Value::as_object) {
                    let label = vital_label(&text(r, "type").unwrap_or_default());
                    let value = format!(
                        "{} {}",
                        text(r, "value").unwrap_or_default(),
                        text(r, "unit").unwrap_or_default()
                    );
                    push(&label, Some(value.trim().to_owned()));
                }
            }
            ("Vital signs".to_owned(), None)
        }
    };
    EntryView {
        heading,
        body,
        details,
        version: e.version,
        entered_in_error: e.status == "entered_in_error",
        status_reason: e.status_reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(json: &str) -> RecordEntry {
        serde_json::from_str(json).unwrap()
    }

    const COMMON: &str = r#""id":"018f0000-0000-7000-8000-0000000000aa","kind":"x","version":2,"status":"active","author_id":"018f0000-0000-7000-8000-000000000011","created_at":"2026-05-04T09:00:00Z""#;

    #[test]
    fn a_note_is_its_text_unchanged() {
        let e = entry(&format!(
            r#"{{{COMMON},"text":"<script>alert(1)</script> feels better"}}"#
        ));
        let v = view(RecordKind::Notes, &e);
        assert_eq!(
            v.body.as_deref(),
            Some("<script>alert(1)</script> feels better")
        );
        assert_eq!(v.version, 2);
        assert!(!v.entered_in_error);
    }

    #[test]
    fn diagnoses_allergies_and_medications_read_as_labelled_details() {
        let dx = view(
            RecordKind::Diagnoses,
            &entry(&format!(
                r#"{{{COMMON},"code":"E11.9","description":"Type 2 diabetes","clinical_status":"active"}}"#
            )),
        );
        assert_eq!(dx.heading, "Type 2 diabetes (E11.9)");
        assert_eq!(dx.details, vec![("Status".to_owned(), "Active".to_owned())]);

        let al = view(
            RecordKind::Allergies,
            &entry(&format!(
                r#"{{{COMMON},"substance":"Penicillin","severity":"life_threatening","reaction":"Hives"}}"#
            )),
        );
        assert_eq!(al.heading, "Penicillin");
        assert_eq!(
            al.details[0],
            ("Severity".to_owned(), "Life threatening".to_owned())
        );

        let med = view(
            RecordKind::Medications,
            &entry(&format!(
                r#"{{{COMMON},"name":"Metformin","dose":"500 mg","frequency":"twice daily","start_date":"2026-05-01"}}"#
            )),
        );
        assert_eq!(med.heading, "Metformin");
        assert!(med
            .details
            .contains(&("From".to_owned(), "2026-05-01".to_owned())));
    }

    #[test]
    fn vitals_list_each_reading_with_its_unit() {
        let v = view(
            RecordKind::Vitals,
            &entry(&format!(
                r#"{{{COMMON},"measured_at":"2026-05-04T09:00:00Z","readings":[{{"type":"heart_rate","value":72.0,"unit":"/min"}},{{"type":"spo2","value":98.5,"unit":"%"}}]}}"#
            )),
        );
        assert_eq!(
            v.details,
            vec![
                ("Heart rate".to_owned(), "72 /min".to_owned()),
                ("Oxygen saturation".to_owned(), "98.5 %".to_owned())
            ]
        );
    }

    #[test]
    fn entries_in_error_are_flagged_with_the_reason() {
        let e = entry(
            r#"{"id":"018f0000-0000-7000-8000-0000000000aa","version":3,"status":"entered_in_error","status_reason":"wrong patient","author_id":"018f0000-0000-7000-8000-000000000011","created_at":"2026-05-04T09:00:00Z","text":"x"}"#,
        );
        let v = view(RecordKind::Notes, &e);
        assert!(v.entered_in_error);
        assert_eq!(v.status_reason.as_deref(), Some("wrong patient"));
    }
}
