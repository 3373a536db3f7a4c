//! The forms a provider writes a patient's record with: the fields of each
//! kind of entry (records' `EntryData`), turned into the API's JSON body;
//! an entry's content turned back into form values for an amendment; and the
//! API's field paths (`readings[1].value`) mapped back onto the form's fields.
//! Only the shape is checked here (required fields, dates, numbers); the
//! clinical rules (ICD-10 codes, plausible vitals) are the API's.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::{json, Map, Value};

use super::{feedback::Feedback, local_time};
use crate::api::models::RecordKind;

/// What a form posted (or shows), by field name.
pub type FormValues = BTreeMap<String, String>;

/// Vital signs the form asks for, in order: (type, label, records' canonical unit).
pub const VITALS: [(&str, &str, &str); 8] = [
    ("heart_rate", "Heart rate", "bpm"),
    ("systolic", "Blood pressure, systolic", "mmHg"),
    ("diastolic", "Blood pressure, diastolic", "mmHg"),
    ("temperature", "Temperature", "°C"),
    ("respiratory_rate", "Respiratory rate", "/min"),
    ("spo2", "Oxygen saturation", "%"),
    ("weight", "Weight", "kg"),
    ("height", "Height", "cm"),
];

/// An allergy's severity (records' `Severity`).
pub const SEVERITIES: [(&str, &str); 4] = [
    ("mild", "Mild"),
    ("moderate", "Moderate"),
    ("severe", "Severe"),
    ("life_threatening", "Life-threatening"),
];

/// A diagnosis's clinical status (records' `ClinicalStatus`).
pub const CLINICAL_STATUSES: [(&str, &str); 2] = [("active", "Active"), ("resolved", "Resolved")];

/// The kind a path segment (`notes`, `vitals`) names, among those the chart shows.
pub fn kind_from_segment(segment: &str) -> Option<RecordKind> {
    RecordKind::SHOWN
        .into_iter()
        .find(|k| k.segment() == segment)
}

/// "note", "diagnosis", …: for "Note added".
pub fn noun(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Notes => "note",
        RecordKind::Diagnoses => "diagnosis",
        RecordKind::Allergies => "allergy",
        RecordKind::Medications => "medication",
        RecordKind::Vitals => "vital signs",
    }
}

/// "a note", "an allergy", "vital signs": for "Add a note".
pub fn a_noun(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Notes => "a note",
        RecordKind::Diagnoses => "a diagnosis",
        RecordKind::Allergies => "an allergy",
        RecordKind::Medications => "a medication",
        RecordKind::Vitals => "vital signs",
    }
}

/// The fields of each kind's form, as the API names them in its errors.
pub fn field_names(kind: RecordKind) -> &'static [&'static str] {
    match kind {
        RecordKind::Notes => &["text"],
        RecordKind::Diagnoses => &["code", "description", "onset", "clinical_status"],
        RecordKind::Allergies => &["substance", "reaction", "severity", "onset"],
        RecordKind::Medications => &[
            "name",
            "dose",
            "frequency",
            "start_date",
            "end_date",
            "instructions",
        ],
        RecordKind::Vitals => &[
            "measured_at",
            "heart_rate",
            "systolic",
            "diastolic",
            "temperature",
            "respiratory_rate",
            "spo2",
            "weight",
            "height",
        ],
    }
}

/// A new form's starting values: vitals measured now, a medication started today.
pub fn defaults(kind: RecordKind, now: DateTime<Utc>, tz: Tz) -> FormValues {
    let mut v = FormValues::new();
    match kind {
        RecordKind::Vitals => {
            v.insert("measured_at".into(), local_time::format(now, tz));
        }
        RecordKind::Medications => {
            v.insert("start_date".into(), super::time::today(now, tz).to_string());
        }
        RecordKind::Diagnoses => {
            v.insert("clinical_status".into(), "active".into());
        }
        RecordKind::Notes | RecordKind::Allergies => {}
    }
    v
}

/// Reads one form, collecting every problem before giving up.
struct Reader<'a> {
    form: &'a FormValues,
    body: Map<String, Value>,
    fb: Feedback,
}

impl<'a> Reader<'a> {
    fn raw(&self, name: &str) -> &'a str {
        self.form.get(name).map(|v| v.trim()).unwrap_or("")
    }

    fn text(&mut self, name: &str, missing: &str) {
        let v = self.raw(name);
        if v.is_empty() {
            self.fb = std::mem::take(&mut self.fb).field(name, missing);
        } else {
            self.body.insert(name.into(), Value::String(v.into()));
        }
    }

    fn optional_text(&mut self, name: &str) {
        let v = self.raw(name);
        if !v.is_empty() {
            self.body.insert(name.into(), Value::String(v.into()));
        }
    }

    fn date(&mut self, name: &str, required: bool) {
        let v = self.raw(name);
        if v.is_empty() {
            if required {
                self.fb = std::mem::take(&mut self.fb).field(name, "Enter a date.");
            }
            return;
        }
        match v.parse::<NaiveDate>() {
            Ok(d) => {
                self.body.insert(name.into(), Value::String(d.to_string()));
            }
            Err(_) => {
                self.fb = std::mem::take(&mut self.fb).field(name, "Use a date like 2026-05-04.");
            }
        }
    }

    fn choice(&mut self, name: &str, options: &[(&str, &str)], missing: &str) {
        let v = self.raw(name);
        if options.iter().any(|(value, _)| *value == v) {
            self.body.insert(name.into(), Value::String(v.into()));
        } else {
            self.fb = std::mem::take(&mut self.fb).field(name, missing);
        }
    }

    fn finish(self) -> Result<Value, Feedback> {
        if self.fb.is_empty() {
            Ok(Value::Object(self.body))
        } else {
            let message = self
                .fb
                .message
                .clone()
                .unwrap_or_else(|| "Please correct the highlighted fields.".into());
            Err(Feedback {
                message: Some(message),
                ..self.fb
            })
        }
    }
}

/// A number typed with a point or a comma.
fn number(text: &str) -> Option<f64> {
    text.trim()
        .replace(',', ".")
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
}

/// The API's body for an entry of `kind` from its form; local times are in `tz`.
pub fn body(kind: RecordKind, form: &FormValues, tz: Tz) -> Result<Value, Feedback> {
    let mut r = Reader {
        form,
        body: Map::new(),
        fb: Feedback::default(),
    };
    match kind {
        RecordKind::Notes => {
            r.text("text", "Write the note.");
            // An amended note keeps the encounter it documents.
            if let Ok(id) = r.raw("encounter_id").parse::<uuid::Uuid>() {
                r.body.insert("encounter_id".into(), json!(id));
            }
        }
        RecordKind::Diagnoses => {
            r.text("code", "Enter the ICD-10 code, for example E11.9.");
            r.text("description", "Describe the diagnosis.");
            r.date("onset", false);
            r.choice(
                "clinical_status",
                &CLINICAL_STATUSES,
                "Choose active or resolved.",
            );
        }
        RecordKind::Allergies => {
            r.text("substance", "Name the substance.");
            r.optional_text("reaction");
            r.choice("severity", &SEVERITIES, "Choose how severe it is.");
            r.date("onset", false);
        }
        RecordKind::Medications => {
            r.text("name", "Name the medication.");
            r.text("dose", "Enter the dose, for example 500 mg.");
            r.text("frequency", "Enter how often, for example twice daily.");
            r.date("start_date", true);
            r.date("end_date", false);
            r.optional_text("instructions");
        }
        RecordKind::Vitals => {
            match local_time::parse(r.raw("measured_at"), tz) {
                Some(at) => {
                    r.body.insert("measured_at".into(), json!(at));
                }
                None => {
                    r.fb = std::mem::take(&mut r.fb)
                        .field("measured_at", "Enter when they were measured.");
                }
            }
            let mut readings = Vec::new();
            for (kind, _, unit) in VITALS {
                let v = r.raw(kind);
                if v.is_empty() {
                    continue;
                }
                match number(v) {
                    Some(value) => {
                        readings.push(json!({"type": kind, "value": value, "unit": unit}))
                    }
                    None => r.fb = std::mem::take(&mut r.fb).field(kind, "Enter a number."),
                }
            }
            let unreadable = VITALS.iter().any(|(k, _, _)| r.fb.fields.contains_key(*k));
            if readings.is_empty() && !unreadable {
                r.fb.message = Some("Enter at least one reading.".into());
            }
            r.body.insert("readings".into(), Value::Array(readings));
        }
    }
    r.finish()
}

/// Where an API field path belongs on the form of `kind`: `readings[i].…` is
/// the i-th vital sign the form filled in; other paths are the field itself.
/// `None` for paths about the whole entry (shown in the main message).
pub fn form_field(kind: RecordKind, path: &str, form: &FormValues) -> Option<String> {
    if kind == RecordKind::Vitals {
        if let Some(rest) = path.strip_prefix("readings[") {
            let index: usize = rest.split(']').next()?.parse().ok()?;
            return VITALS
                .iter()
                .filter(|(k, _, _)| form.get(*k).is_some_and(|v| !v.trim().is_empty()))
                .nth(index)
                .map(|(k, _, _)| (*k).to_owned());
        }
        if path == "readings" {
            return None;
        }
    }
    Some(path.split(['.', '[']).next().unwrap_or(path).to_owned())
}

fn shown(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(super::record::number(n)),
        _ => None,
    }
}

/// An entry's content as the values of its form (to amend it); times in `tz`.
pub fn values(kind: RecordKind, data: &Map<String, Value>, tz: Tz) -> FormValues {
    let mut v = FormValues::new();
    let mut copy = |names: &[&str]| {
        for name in names {
            if let Some(s) = data.get(*name).and_then(shown) {
                v.insert((*name).to_owned(), s);
            }
        }
    };
    match kind {
        RecordKind::Notes => copy(&["text", "encounter_id"]),
        RecordKind::Diagnoses | RecordKind::Allergies | RecordKind::Medications => {
            copy(field_names(kind))
        }
        RecordKind::Vitals => {
            if let Some(at) = data
                .get("measured_at")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<DateTime<Utc>>().ok())
            {
                v.insert("measured_at".into(), local_time::format(at, tz));
            }
            for r in data
                .get("readings")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let (Some(kind), Some(value)) = (
                    r.get("type").and_then(Value::as_str),
                    r.get("value").and_then(shown),
                ) {
                    v.insert(kind.to_owned(), value);
                }
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> FormValues {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_note_is_its_trimmed_text() {
        let b = body(
            RecordKind::Notes,
            &form(&[("text", "  Feels better.\n")]),
            Tz::UTC,
        )
        .unwrap();
        assert_eq!(b, json!({"text": "Feels better."}));
        let fb = body(RecordKind::Notes, &form(&[("text", "  ")]), Tz::UTC).unwrap_err();
        assert_eq!(fb.fields["text"], "Write the note.");
    }

    #[test]
    fn optional_fields_are_left_out_when_blank() {
        let b = body(
            RecordKind::Allergies,
            &form(&[
                ("substance", "Penicillin"),
                ("reaction", ""),
                ("severity", "severe"),
                ("onset", ""),
            ]),
            Tz::UTC,
        )
        .unwrap();
        assert_eq!(b, json!({"substance": "Penicillin", "severity": "severe"}));
        let b = body(
            RecordKind::Medications,
            &form(&[
                ("name", "Metformin"),
                ("dose", "500 mg"),
                ("frequency", "twice daily"),
                ("start_date", "2026-05-04"),
            ]),
            Tz::UTC,
        )
        .unwrap();
        assert_eq!(
            b,
            json!({"name": "Metformin", "dose": "500 mg", "frequency": "twice daily", "start_date": "2026-05-04"})
        );
    }

    #[test]
    fn every_missing_or_malformed_field_is_named() {
        let fb = body(
            RecordKind::Diagnoses,
            &form(&[
                ("code", ""),
                ("onset", "last spring"),
                ("clinical_status", "cured"),
            ]),
            Tz::UTC,
        )
        .unwrap_err();
        let named: Vec<&str> = fb.fields.keys().map(String::as_str).collect();
        assert_eq!(named, ["clinical_status", "code", "description", "onset"]);
        assert_eq!(fb.fields["onset"], "Use a date like 2026-05-04.");
    }

    #[test]
    fn vitals_are_read_in_the_providers_zone_with_their_units() {
        let b = body(
            RecordKind::Vitals,
            &form(&[
                ("measured_at", "2026-05-04T09:30"),
                ("heart_rate", "72"),
                ("temperature", "36,8"),
                ("weight", ""),
            ]),
            Tz::Europe__Berlin,
        )
        .unwrap();
        assert_eq!(
            b,
            json!({
                "measured_at": "2026-05-04T07:30:00Z",
                "readings": [
                    {"type": "heart_rate", "value": 72.0, "unit": "bpm"},
                    {"type": "temperature", "value": 36.8, "unit": "°C"},
                ]
            })
        );
        let fb = body(
            RecordKind::Vitals,
            &form(&[("measured_at", "now"), ("spo2", "ninety")]),
            Tz::UTC,
        )
        .unwrap_err();
        assert_eq!(fb.fields.len(), 2);
    }

    #[test]
    fn no_reading_at_all_is_said_in_the_main_message() {
        let fb = body(
            RecordKind::Vitals,
            &form(&[("measured_at", "2026-05-04T09:30")]),
            Tz::UTC,
        )
        .unwrap_err();
        assert_eq!(fb.message.as_deref(), Some("Enter at least one reading."));
        assert!(fb.fields.is_empty());
    }

    #[test]
    fn api_reading_errors_land_on_the_vital_they_are_about() {
        let f = form(&[
            ("heart_rate", ""),
            ("systolic", "120"),
            ("diastolic", "180"),
            ("temperature", "98.6"),
        ]);
        let k = RecordKind::Vitals;
        assert_eq!(
            form_field(k, "readings[1].value", &f).as_deref(),
            Some("diastolic")
        );
        assert_eq!(
            form_field(k, "readings[2].unit", &f).as_deref(),
            Some("temperature")
        );
        assert_eq!(form_field(k, "readings[7].value", &f), None);
        assert_eq!(form_field(k, "readings", &f), None);
        assert_eq!(
            form_field(k, "measured_at", &f).as_deref(),
            Some("measured_at")
        );
        assert_eq!(
            form_field(RecordKind::Diagnoses, "code", &f).as_deref(),
            Some("code")
        );
    }

    #[test]
    fn an_entry_reads_back_into_the_form_that_writes_it() {
        let tz = Tz::America__New_York;
        for (kind, f) in [
            (
                RecordKind::Diagnoses,
                form(&[
                    ("code", "E11.9"),
                    ("description", "Type 2 diabetes"),
                    ("onset", "2025-11-02"),
                    ("clinical_status", "resolved"),
                ]),
            ),
            (
                RecordKind::Vitals,
                form(&[
                    ("measured_at", "2026-05-04T09:30"),
                    ("heart_rate", "72"),
                    ("temperature", "36.8"),
                ]),
            ),
            (
                RecordKind::Notes,
                form(&[
                    ("text", "Follow up in two weeks."),
                    ("encounter_id", "018f0000-0000-7000-8000-0000000000aa"),
                ]),
            ),
        ] {
            let Value::Object(data) = body(kind, &f, tz).unwrap() else {
                panic!("not an object")
            };
            assert_eq!(values(kind, &data, tz), f, "{kind:?}");
        }
    }

    #[test]
    fn new_forms_start_with_sensible_values() {
        let now: DateTime<Utc> = "2026-05-04T22:30:00Z".parse().unwrap();
        let v = defaults(RecordKind::Vitals, now, Tz::Europe__Berlin);
        assert_eq!(v["measured_at"], "2026-05-05T00:30");
        let v = defaults(RecordKind::Medications, now, Tz::America__New_York);
        assert_eq!(v["start_date"], "2026-05-04");
        assert_eq!(kind_from_segment("allergies"), Some(RecordKind::Allergies));
        assert_eq!(kind_from_segment("encounters"), None);
        // Every vital sign the form asks for is one of the form's fields.
        for (k, _, _) in VITALS {
            assert!(field_names(RecordKind::Vitals).contains(&k), "{k}");
        }
    }
}
