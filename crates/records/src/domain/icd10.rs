//! ICD-10 codes, checked by shape: a letter, two characters of category (the
//! second a digit, the third a digit or — as in ICD-10-CM `C4A`, `M1A` — a
//! letter), then optionally a dot and one to four characters of subdivision
//! (`E11.9`, `S52.521A`, `U07.1`). Whether a well-formed code exists in a given
//! release is a terminology-server question, not ours.

use std::fmt;

use serde::{Serialize, Serializer};

/// A well-formed ICD-10 code, upper-case, with its dot (`E11.9`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Icd10Code(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not an ICD-10 code: expected a letter, two digits (the second may be a letter) and an optional subdivision such as E11.9")]
pub struct InvalidIcd10;

impl Icd10Code {
    /// Accepts any case and surrounding spaces, and the dotless form (`E119`).
    pub fn parse(raw: &str) -> Result<Self, InvalidIcd10> {
        let code: String = raw.trim().to_ascii_uppercase();
        if !code.is_ascii() {
            return Err(InvalidIcd10);
        }
        let (category, subdivision) = match code.split_once('.') {
            Some((c, s)) => {
                if s.is_empty() {
                    return Err(InvalidIcd10);
                }
                (c, s)
            }
            None if code.len() > 3 => code.split_at(3),
            None => (code.as_str(), ""),
        };
        let c = category.as_bytes();
        let category_ok = c.len() == 3
            && c[0].is_ascii_uppercase()
            && c[1].is_ascii_digit()
            && (c[2].is_ascii_digit() || c[2].is_ascii_uppercase());
        let subdivision_ok = subdivision.len() <= 4
            && subdivision
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
        if !category_ok || !subdivision_ok {
            return Err(InvalidIcd10);
        }
        Ok(Self(if subdivision.is_empty() {
            category.to_owned()
        } else {
            format!("{category}.{subdivision}")
        }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Icd10Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Icd10Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn real_codes_are_accepted_and_normalized() {
        for (raw, want) in [
            ("E11.9", "E11.9"),
            ("e11.9", "E11.9"),
            (" I10 ", "I10"),
            ("J45.909", "J45.909"),
            ("S52.521A", "S52.521A"),
            ("U07.1", "U07.1"),
            ("C4A.0", "C4A.0"),
            ("M1A.071", "M1A.071"),
            ("E119", "E11.9"),
            ("Z3A.20", "Z3A.20"),
        ] {
            assert_eq!(Icd10Code::parse(raw).unwrap().as_str(), want, "{raw}");
        }
    }

    #[test]
    fn malformed_codes_are_rejected() {
        for raw in [
            "",
            "E",
            "E1",
            "11.9",
            "EE1.9",
            "1E1",
            "E11.",
            "E11.12345",
            "E11..9",
            "E11-9",
            "E11.9 x",
            "Ē11.9",
            "E11.9;",
            "<script>",
            "E11.9.1",
        ] {
            assert_eq!(Icd10Code::parse(raw), Err(InvalidIcd10), "{raw:?}");
        }
    }

    proptest! {
        #[test]
        fn every_well_formed_code_round_trips(
            letter in "[A-Z]",
            digit in "[0-9]",
            third in "[0-9A-Z]",
            sub in proptest::option::of("[0-9A-Z]{1,4}"),
        ) {
            let raw = match &sub {
                Some(s) => format!("{letter}{digit}{third}.{s}"),
                None => format!("{letter}{digit}{third}"),
            };
            let code = Icd10Code::parse(&raw).unwrap();
            prop_assert_eq!(code.as_str(), raw.as_str());
            prop_assert_eq!(Icd10Code::parse(&raw.to_lowercase()).unwrap(), code.clone());
            prop_assert_eq!(Icd10Code::parse(code.as_str()).unwrap(), code);
        }

        #[test]
        fn parsed_codes_always_have_the_canonical_shape(raw in "\\PC{0,12}") {
            if let Ok(code) = Icd10Code::parse(&raw) {
                let s = code.as_str();
                prop_assert!(s.len() == 3 || (s.len() >= 5 && s.len() <= 8 && &s[3..4] == "."));
                prop_assert!(s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase() || b == b'.'));
            }
        }
    }
}
