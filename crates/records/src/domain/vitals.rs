//! Vital signs: typed readings with their unit and a plausible range. A value
//! outside the range is far more likely a typo (or the wrong unit) than a
//! measurement, so it is refused rather than stored.

use serde::{Deserialize, Serialize};

/// What was measured. Each has one canonical unit.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum VitalKind {
    HeartRate,
    RespiratoryRate,
    Systolic,
    Diastolic,
    Temperature,
    Weight,
    Height,
    Spo2,
}

impl VitalKind {
    pub const ALL: [VitalKind; 8] = [
        VitalKind::HeartRate,
        VitalKind::RespiratoryRate,
        VitalKind::Systolic,
        VitalKind::Diastolic,
        VitalKind::Temperature,
        VitalKind::Weight,
        VitalKind::Height,
        VitalKind::Spo2,
    ];

    /// The unit values are stored and returned in.
    pub fn unit(self) -> &'static str {
        match self {
            VitalKind::HeartRate => "bpm",
            VitalKind::RespiratoryRate => "/min",
            VitalKind::Systolic | VitalKind::Diastolic => "mmHg",
            VitalKind::Temperature => "°C",
            VitalKind::Weight => "kg",
            VitalKind::Height => "cm",
            VitalKind::Spo2 => "%",
        }
    }

    /// Other spellings of the same unit (UCUM codes and common forms).
    fn aliases(self) -> &'static [&'static str] {
        match self {
            VitalKind::HeartRate => &["bpm", "/min", "beats/min"],
            VitalKind::RespiratoryRate => &["/min", "breaths/min"],
            VitalKind::Systolic | VitalKind::Diastolic => &["mmHg", "mm[Hg]"],
            VitalKind::Temperature => &["°C", "Cel", "degC"],
            VitalKind::Weight => &["kg"],
            VitalKind::Height => &["cm"],
            VitalKind::Spo2 => &["%"],
        }
    }

    /// Plausible values, inclusive, in the canonical unit.
    pub fn range(self) -> (f64, f64) {
        match self {
            VitalKind::HeartRate => (20.0, 300.0),
            VitalKind::RespiratoryRate => (4.0, 80.0),
            VitalKind::Systolic => (40.0, 300.0),
            VitalKind::Diastolic => (20.0, 200.0),
            VitalKind::Temperature => (25.0, 45.0),
            VitalKind::Weight => (0.2, 700.0),
            VitalKind::Height => (20.0, 280.0),
            VitalKind::Spo2 => (50.0, 100.0),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VitalKind::HeartRate => "heart_rate",
            VitalKind::RespiratoryRate => "respiratory_rate",
            VitalKind::Systolic => "systolic",
            VitalKind::Diastolic => "diastolic",
            VitalKind::Temperature => "temperature",
            VitalKind::Weight => "weight",
            VitalKind::Height => "height",
            VitalKind::Spo2 => "spo2",
        }
    }
}

/// One measured value, in its kind's canonical unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reading {
    #[serde(rename = "type")]
    pub kind: VitalKind,
    pub value: f64,
    pub unit: String,
}

/// Why a reading was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InvalidReading {
    #[error("unit must be {expected}")]
    Unit { expected: &'static str },
    #[error("must be between {min} and {max} {unit}")]
    OutOfRange {
        min: f64,
        max: f64,
        unit: &'static str,
    },
}

impl Reading {
    /// Check unit and range; the result carries the canonical unit.
    pub fn parse(kind: VitalKind, value: f64, unit: &str) -> Result<Self, InvalidReading> {
        if !kind.aliases().contains(&unit.trim()) {
            return Err(InvalidReading::Unit {
                expected: kind.unit(),
            });
        }
        let (min, max) = kind.range();
        if !value.is_finite() || value < min || value > max {
            return Err(InvalidReading::OutOfRange {
                min,
                max,
                unit: kind.unit(),
            });
        }
        Ok(Self {
            kind,
            value,
            unit: kind.unit().to_owned(),
        })
    }
}

/// Problems with a set of readings taken together, as (field, message).
pub fn check_set(readings: &[Reading]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if readings.is_empty() {
        problems.push(("readings".to_owned(), "at least one reading".to_owned()));
    }
    for (i, r) in readings.iter().enumerate() {
        if readings[..i].iter().any(|earlier| earlier.kind == r.kind) {
            problems.push((
                format!("readings[{i}].type"),
                format!("{} appears more than once", r.kind.as_str()),
            ));
        }
    }
    let value = |k| readings.iter().find(|r| r.kind == k).map(|r| r.value);
    if let (Some(sys), Some(dia)) = (value(VitalKind::Systolic), value(VitalKind::Diastolic)) {
        if dia >= sys {
            problems.push((
                "readings".to_owned(),
                "diastolic must be below systolic".to_owned(),
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plausible_values_in_the_right_unit_are_accepted() {
        for (kind, value, unit) in [
            (VitalKind::HeartRate, 72.0, "bpm"),
            (VitalKind::HeartRate, 72.0, "/min"),
            (VitalKind::RespiratoryRate, 16.0, "/min"),
            (VitalKind::Systolic, 120.0, "mmHg"),
            (VitalKind::Diastolic, 80.0, "mm[Hg]"),
            (VitalKind::Temperature, 36.8, "°C"),
            (VitalKind::Temperature, 36.8, "Cel"),
            (VitalKind::Weight, 3.4, "kg"),
            (VitalKind::Height, 172.5, "cm"),
            (VitalKind::Spo2, 98.0, "%"),
        ] {
            let r = Reading::parse(kind, value, unit).unwrap();
            assert_eq!(r.unit, kind.unit());
        }
    }

    #[test]
    fn wrong_units_and_implausible_values_are_refused() {
        assert_eq!(
            Reading::parse(VitalKind::Temperature, 98.6, "°F"),
            Err(InvalidReading::Unit { expected: "°C" })
        );
        assert!(Reading::parse(VitalKind::Weight, 150.0, "lb").is_err());
        assert!(Reading::parse(VitalKind::Height, 1.8, "m").is_err());
        assert!(Reading::parse(VitalKind::Spo2, 0.98, "%").is_err());
        assert!(Reading::parse(VitalKind::Spo2, 101.0, "%").is_err());
        assert!(Reading::parse(VitalKind::Temperature, 98.6, "°C").is_err());
        assert!(Reading::parse(VitalKind::HeartRate, -1.0, "bpm").is_err());
        assert!(Reading::parse(VitalKind::HeartRate, f64::NAN, "bpm").is_err());
        assert!(Reading::parse(VitalKind::HeartRate, f64::INFINITY, "bpm").is_err());
    }

    #[test]
    fn a_set_needs_readings_once_each_and_diastolic_below_systolic() {
        let r = |k: VitalKind, v| Reading::parse(k, v, k.unit()).unwrap();
        assert!(
            check_set(&[r(VitalKind::Systolic, 120.0), r(VitalKind::Diastolic, 80.0)]).is_empty()
        );
        assert_eq!(check_set(&[]).len(), 1);
        assert_eq!(
            check_set(&[r(VitalKind::HeartRate, 60.0), r(VitalKind::HeartRate, 61.0)])[0].0,
            "readings[1].type"
        );
        assert_eq!(
            check_set(&[r(VitalKind::Systolic, 80.0), r(VitalKind::Diastolic, 90.0)]).len(),
            1
        );
    }

    proptest! {
        #[test]
        fn a_value_is_accepted_exactly_when_inside_its_range(
            kind in proptest::sample::select(VitalKind::ALL.to_vec()),
            value in -1000.0f64..1000.0,
        ) {
            let (min, max) = kind.range();
            let accepted = Reading::parse(kind, value, kind.unit()).is_ok();
            prop_assert_eq!(accepted, value >= min && value <= max);
        }
    }
}
