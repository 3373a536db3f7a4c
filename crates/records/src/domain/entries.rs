//! The kinds of clinical entry and what makes one valid. A request body is
//! parsed into [`EntryData`] only through [`EntryData::parse`], which checks
//! every field and reports every problem at once; what comes back out of
//! storage was valid when it went in.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use uuid::Uuid;

use super::{
    icd10::Icd10Code,
    vitals::{check_set, InvalidReading, Reading},
};

/// Longest clinical note, in characters.
pub const MAX_NOTE_CHARS: usize = 20_000;
/// How far ahead of the server clock a measurement time may be (clock skew).
const FUTURE_SKEW_MINUTES: i64 = 5;

/// The kinds of clinical entry, one path segment each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Encounter,
    Note,
    Diagnosis,
    Allergy,
    Medication,
    Vitals,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Encounter,
        Kind::Note,
        Kind::Diagnosis,
        Kind::Allergy,
        Kind::Medication,
        Kind::Vitals,
    ];

    /// The name stored in the database and bound into the ciphertext.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Encounter => "encounter",
            Kind::Note => "note",
            Kind::Diagnosis => "diagnosis",
            Kind::Allergy => "allergy",
            Kind::Medication => "medication",
            Kind::Vitals => "vitals",
        }
    }

    /// The path segment under `/records/`.
    pub fn segment(self) -> &'static str {
        match self {
            Kind::Encounter => "encounters",
            Kind::Note => "notes",
            Kind::Diagnosis => "diagnoses",
            Kind::Allergy => "allergies",
            Kind::Medication => "medications",
            Kind::Vitals => "vitals",
        }
    }

    pub fn from_segment(segment: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.segment() == segment)
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// A version's standing: entries are never deleted, only marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    EnteredInError,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::EnteredInError => "entered_in_error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Status::Active, Status::EnteredInError]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A clinical note.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub text: String,
    /// The encounter the note documents, if any (an encounter of this patient).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter_id: Option<Uuid>,
}

/// A visit, linked to the appointment it happened in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Encounter {
    /// An appointment of this patient (known to records from scheduling's events).
    pub appointment_id: Uuid,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClinicalStatus {
    #[default]
    Active,
    Resolved,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Diagnosis {
    /// ICD-10 code, e.g. `E11.9`.
    #[schema(value_type = String, example = "E11.9")]
    pub code: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset: Option<NaiveDate>,
    #[serde(default)]
    pub clinical_status: ClinicalStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Mild,
    Moderate,
    Severe,
    LifeThreatening,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Allergy {
    pub substance: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction: Option<String>,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset: Option<NaiveDate>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Medication {
    pub name: String,
    /// As prescribed, e.g. `500 mg`.
    pub dose: String,
    /// e.g. `twice daily`.
    pub frequency: String,
    pub start_date: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Vitals {
    pub measured_at: DateTime<Utc>,
    pub readings: Vec<Reading>,
}

/// The clinical content of one entry version: what is encrypted at rest.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum EntryData {
    Encounter(Encounter),
    Note(Note),
    Diagnosis(Diagnosis),
    Allergy(Allergy),
    Medication(Medication),
    Vitals(Vitals),
}

/// Every invalid field, as (field, message).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid entry: {0:?}")]
pub struct Violations(pub Vec<(String, String)>);

/// Why a body is not an entry of its kind.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not the fields of this kind, or values of the wrong type (422 `invalid-body`).
    #[error("{0}")]
    Shape(String),
    /// The right shape, but values that break a rule (422 `validation-error`).
    #[error(transparent)]
    Invalid(#[from] Violations),
}

struct Check {
    now: DateTime<Utc>,
    problems: Vec<(String, String)>,
}

impl Check {
    fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push((field.into(), message.into()));
    }

    /// Required text: not blank, at most `max` characters, no control characters
    /// other than line breaks and tabs.
    fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.fail(field, "must not be empty");
        }
        self.optional_text(field, Some(value), max);
    }

    fn optional_text(&mut self, field: &str, value: Option<&str>, max: usize) {
        let Some(value) = value else { return };
        if value.chars().count() > max {
            self.fail(field, format!("at most {max} characters"));
        }
        if value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            self.fail(field, "control characters are not allowed");
        }
    }

    fn past_instant(&mut self, field: &str, at: DateTime<Utc>) {
        if at > self.now + Duration::minutes(FUTURE_SKEW_MINUTES) {
            self.fail(field, "must not be in the future");
        }
        if at.date_naive() < earliest() {
            self.fail(field, "must be after 1900-01-01");
        }
    }

    fn past_date(&mut self, field: &str, date: NaiveDate) {
        if date > self.now.date_naive() {
            self.fail(field, "must not be in the future");
        }
        if date < earliest() {
            self.fail(field, "must be after 1900-01-01");
        }
    }

    fn finish(self) -> Result<(), Violations> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(Violations(self.problems))
        }
    }
}

fn earliest() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN)
}

fn shape<T: DeserializeOwned>(body: serde_json::Value) -> Result<T, ParseError> {
    // serde names the field and the expected type; the body may hold PHI, so the
    // message goes back to its sender only, never into a log.
    serde_json::from_value(body).map_err(|e| ParseError::Shape(e.to_string()))
}

/// Trim optional text and drop it when blank.
fn tidy(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl EntryData {
    pub fn kind(&self) -> Kind {
        match self {
            EntryData::Encounter(_) => Kind::Encounter,
            EntryData::Note(_) => Kind::Note,
            EntryData::Diagnosis(_) => Kind::Diagnosis,
            EntryData::Allergy(_) => Kind::Allergy,
            EntryData::Medication(_) => Kind::Medication,
            EntryData::Vitals(_) => Kind::Vitals,
        }
    }

    /// A request body as an entry of `kind`, checked against every rule at `now`.
    pub fn parse(
        kind: Kind,
        body: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Self, ParseError> {
        let mut c = Check {
            now,
            problems: Vec::new(),
        };
        let data = match kind {
            Kind::Note => {
                let n: Note = shape(body)?;
                c.text("text", &n.text, MAX_NOTE_CHARS);
                EntryData::Note(n)
            }
            Kind::Encounter => {
                let e: Encounter = shape(body)?;
                c.past_instant("started_at", e.started_at);
                if let Some(end) = e.ended_at {
                    c.past_instant("ended_at", end);
                    if end < e.started_at {
                        c.fail("ended_at", "must not be before started_at");
                    }
                }
                c.optional_text("reason", e.reason.as_deref(), 1000);
                c.optional_text("summary", e.summary.as_deref(), MAX_NOTE_CHARS);
                EntryData::Encounter(Encounter {
                    reason: tidy(e.reason),
                    summary: tidy(e.summary),
                    ..e
                })
            }
            Kind::Diagnosis => {
                let d: Diagnosis = shape(body)?;
                let code = match Icd10Code::parse(&d.code) {
                    Ok(code) => code.to_string(),
                    Err(e) => {
                        c.fail("code", e.to_string());
                        d.code.clone()
                    }
                };
                c.text("description", &d.description, 500);
                if let Some(onset) = d.onset {
                    c.past_date("onset", onset);
                }
                EntryData::Diagnosis(Diagnosis {
                    code,
                    description: d.description.trim().to_owned(),
                    ..d
                })
            }
            Kind::Allergy => {
                let a: Allergy = shape(body)?;
                c.text("substance", &a.substance, 200);
                c.optional_text("reaction", a.reaction.as_deref(), 1000);
                if let Some(onset) = a.onset {
                    c.past_date("onset", onset);
                }
                EntryData::Allergy(Allergy {
                    substance: a.substance.trim().to_owned(),
                    reaction: tidy(a.reaction),
                    ..a
                })
            }
            Kind::Medication => {
                let m: Medication = shape(body)?;
                c.text("name", &m.name, 200);
                c.text("dose", &m.dose, 100);
                c.text("frequency", &m.frequency, 100);
                c.optional_text("instructions", m.instructions.as_deref(), 2000);
                if m.start_date < earliest() {
                    c.fail("start_date", "must be after 1900-01-01");
                }
                if m.start_date > now.date_naive() + Duration::days(366) {
                    c.fail("start_date", "at most a year ahead");
                }
                if m.end_date.is_some_and(|end| end < m.start_date) {
                    c.fail("end_date", "must not be before start_date");
                }
                EntryData::Medication(Medication {
                    name: m.name.trim().to_owned(),
                    dose: m.dose.trim().to_owned(),
                    frequency: m.frequency.trim().to_owned(),
                    instructions: tidy(m.instructions),
                    ..m
                })
            }
            Kind::Vitals => {
                let v: Vitals = shape(body)?;
                c.past_instant("measured_at", v.measured_at);
                let mut readings = Vec::with_capacity(v.readings.len());
                for (i, r) in v.readings.iter().enumerate() {
                    match Reading::parse(r.kind, r.value, &r.unit) {
                        Ok(r) => readings.push(r),
                        Err(e) => {
                            let field = match e {
                                InvalidReading::Unit { .. } => "unit",
                                InvalidReading::OutOfRange { .. } => "value",
                            };
                            c.fail(format!("readings[{i}].{field}"), e.to_string());
                        }
                    }
                }
                if readings.len() == v.readings.len() {
                    for (field, message) in check_set(&readings) {
                        c.fail(field, message);
                    }
                }
                EntryData::Vitals(Vitals {
                    measured_at: v.measured_at,
                    readings,
                })
            }
        };
        c.finish()?;
        Ok(data)
    }

    /// Decrypted content as stored (it was valid when written).
    pub fn from_stored(kind: Kind, value: serde_json::Value) -> Result<Self, serde_json::Error> {
        Ok(match kind {
            Kind::Encounter => EntryData::Encounter(serde_json::from_value(value)?),
            Kind::Note => EntryData::Note(serde_json::from_value(value)?),
            Kind::Diagnosis => EntryData::Diagnosis(serde_json::from_value(value)?),
            Kind::Allergy => EntryData::Allergy(serde_json::from_value(value)?),
            Kind::Medication => EntryData::Medication(serde_json::from_value(value)?),
            Kind::Vitals => EntryData::Vitals(serde_json::from_value(value)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-06-01T12:00:00Z".parse().unwrap()
    }

    fn invalid(kind: Kind, body: serde_json::Value) -> Vec<String> {
        match EntryData::parse(kind, body, now()) {
            Err(ParseError::Invalid(Violations(v))) => v.into_iter().map(|(f, _)| f).collect(),
            other => panic!("expected violations, got {other:?}"),
        }
    }

    fn misshapen(kind: Kind, body: serde_json::Value) {
        assert!(
            matches!(
                EntryData::parse(kind, body, now()),
                Err(ParseError::Shape(_))
            ),
            "expected a shape error"
        );
    }

    #[test]
    fn kinds_have_distinct_segments_and_names() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_segment(k.segment()), Some(k));
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::from_segment("access-log"), None);
    }

    #[test]
    fn notes_up_to_the_limit_are_accepted_and_beyond_refused() {
        let at_limit = "é".repeat(MAX_NOTE_CHARS);
        assert!(EntryData::parse(Kind::Note, json!({"text": at_limit}), now()).is_ok());
        let over = "a".repeat(MAX_NOTE_CHARS + 1);
        assert_eq!(invalid(Kind::Note, json!({"text": over})), ["text"]);
        assert_eq!(invalid(Kind::Note, json!({"text": "  \n "})), ["text"]);
        assert_eq!(invalid(Kind::Note, json!({"text": "a\u{0}b"})), ["text"]);
        // Markup is data: stored and returned as typed.
        let n = EntryData::parse(
            Kind::Note,
            json!({"text": "<script>alert(1)</script>"}),
            now(),
        )
        .unwrap();
        assert_eq!(
            n,
            EntryData::Note(Note {
                text: "<script>alert(1)</script>".into(),
                encounter_id: None
            })
        );
        misshapen(Kind::Note, json!({"text": 5}));
        misshapen(Kind::Note, json!({"text": "x", "author_id": Uuid::nil()}));
    }

    #[test]
    fn diagnoses_need_a_well_formed_icd10_code() {
        let d = EntryData::parse(
            Kind::Diagnosis,
            json!({"code": "e119", "description": " Type 2 diabetes "}),
            now(),
        )
        .unwrap();
        let EntryData::Diagnosis(d) = d else { panic!() };
        assert_eq!(
            (d.code.as_str(), d.description.as_str()),
            ("E11.9", "Type 2 diabetes")
        );
        assert_eq!(d.clinical_status, ClinicalStatus::Active);
        assert_eq!(
            invalid(
                Kind::Diagnosis,
                json!({"code": "diabetes", "description": "x"})
            ),
            ["code"]
        );
        assert_eq!(
            invalid(
                Kind::Diagnosis,
                json!({"code": "E11.9", "description": "x", "onset": "2027-01-01"})
            ),
            ["onset"]
        );
        misshapen(
            Kind::Diagnosis,
            json!({"code": "E11.9", "description": "x", "onset": "2026-02-30"}),
        );
    }

    #[test]
    fn allergies_have_a_severity_from_the_list() {
        assert!(EntryData::parse(
            Kind::Allergy,
            json!({"substance": "Penicillin", "reaction": "hives", "severity": "severe"}),
            now()
        )
        .is_ok());
        misshapen(
            Kind::Allergy,
            json!({"substance": "Penicillin", "severity": "deadly"}),
        );
        assert_eq!(
            invalid(Kind::Allergy, json!({"substance": "", "severity": "mild"})),
            ["substance"]
        );
    }

    #[test]
    fn medications_end_after_they_start() {
        assert!(EntryData::parse(
            Kind::Medication,
            json!({"name": "Metformin", "dose": "500 mg", "frequency": "twice daily", "start_date": "2026-01-01", "end_date": "2026-03-01"}),
            now()
        )
        .is_ok());
        assert_eq!(
            invalid(
                Kind::Medication,
                json!({"name": "Metformin", "dose": "500 mg", "frequency": "daily", "start_date": "2026-03-01", "end_date": "2026-01-01"})
            ),
            ["end_date"]
        );
        assert_eq!(
            invalid(
                Kind::Medication,
                json!({"name": "Metformin", "dose": "500 mg", "frequency": "daily", "start_date": "1850-03-01"})
            ),
            ["start_date"]
        );
        misshapen(
            Kind::Medication,
            json!({"name": "Metformin", "dose": "500 mg", "frequency": "daily", "start_date": "yesterday"}),
        );
    }

    #[test]
    fn encounters_end_after_they_start_and_not_in_the_future() {
        let appointment_id = Uuid::now_v7();
        assert!(EntryData::parse(
            Kind::Encounter,
            json!({"appointment_id": appointment_id, "started_at": "2026-06-01T09:00:00Z", "ended_at": "2026-06-01T09:30:00Z"}),
            now()
        )
        .is_ok());
        assert_eq!(
            invalid(
                Kind::Encounter,
                json!({"appointment_id": appointment_id, "started_at": "2026-06-01T09:00:00Z", "ended_at": "2026-06-01T08:00:00Z"})
            ),
            ["ended_at"]
        );
        assert_eq!(
            invalid(
                Kind::Encounter,
                json!({"appointment_id": appointment_id, "started_at": "2026-06-02T09:00:00Z"})
            ),
            ["started_at"]
        );
    }

    #[test]
    fn vitals_are_typed_with_units_and_ranges() {
        let ok = EntryData::parse(
            Kind::Vitals,
            json!({"measured_at": "2026-06-01T11:00:00Z", "readings": [
                {"type": "heart_rate", "value": 72, "unit": "bpm"},
                {"type": "systolic", "value": 120, "unit": "mmHg"},
                {"type": "diastolic", "value": 80, "unit": "mm[Hg]"},
                {"type": "temperature", "value": 36.8, "unit": "Cel"},
                {"type": "spo2", "value": 98, "unit": "%"}
            ]}),
            now(),
        )
        .unwrap();
        let EntryData::Vitals(v) = ok else { panic!() };
        assert_eq!(v.readings[2].unit, "mmHg");
        assert_eq!(v.readings[3].unit, "°C");
        assert_eq!(
            invalid(
                Kind::Vitals,
                json!({"measured_at": "2026-06-01T11:00:00Z", "readings": [
                    {"type": "temperature", "value": 98.6, "unit": "°F"},
                    {"type": "weight", "value": 7000, "unit": "kg"}
                ]})
            ),
            ["readings[0].unit", "readings[1].value"]
        );
        assert_eq!(
            invalid(
                Kind::Vitals,
                json!({"measured_at": "2026-06-01T11:00:00Z", "readings": []})
            ),
            ["readings"]
        );
        misshapen(
            Kind::Vitals,
            json!({"measured_at": "2026-06-01T11:00:00Z", "readings": [{"type": "mood", "value": 1, "unit": "x"}]}),
        );
    }

    #[test]
    fn stored_content_reads_back_as_written() {
        for (kind, body) in [
            (Kind::Note, json!({"text": "Patient reports headache."})),
            (
                Kind::Allergy,
                json!({"substance": "Latex", "severity": "mild"}),
            ),
        ] {
            let data = EntryData::parse(kind, body, now()).unwrap();
            let stored = serde_json::to_value(&data).unwrap();
            assert_eq!(EntryData::from_stored(kind, stored).unwrap(), data);
        }
    }
}
