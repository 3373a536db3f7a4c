//! A provider's editable profile and what makes it valid.

use super::{
    language::parse_languages,
    text::{self, limits, Lines},
    TimeZone, Violations,
};

/// The specialty a profile gets until its provider sets one.
pub const DEFAULT_SPECIALTY: &str = "General practice";

/// A profile as submitted, before validation.
pub struct ProviderInput<'a> {
    pub name: &'a str,
    pub specialty: &'a str,
    pub bio: &'a str,
    pub languages: &'a [String],
    pub location: &'a str,
    pub time_zone: &'a str,
    pub accepting_new_patients: bool,
}

/// A valid provider profile: every field trimmed and within its limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderProfile {
    pub name: String,
    pub specialty: String,
    pub bio: String,
    pub languages: Vec<String>,
    pub location: String,
    pub time_zone: TimeZone,
    pub accepting_new_patients: bool,
}

impl ProviderProfile {
    /// Validate every field; all invalid fields are reported together.
    pub fn parse(input: &ProviderInput<'_>) -> Result<Self, Violations> {
        let mut v = Violations::new();
        let name = v.check("name", text::required(input.name, limits::NAME));
        let specialty = v.check(
            "specialty",
            text::required(input.specialty, limits::SPECIALTY),
        );
        let bio = v.check("bio", text::bounded(input.bio, limits::BIO, Lines::Multi));
        let languages = v.check("languages", parse_languages(input.languages));
        let location = v.check(
            "location",
            text::bounded(input.location, limits::LOCATION, Lines::Single),
        );
        let time_zone = v.check("time_zone", TimeZone::parse(input.time_zone));
        v.finish(|| {
            Some(Self {
                name: name?,
                specialty: specialty?,
                bio: bio?,
                languages: languages?,
                location: location?,
                time_zone: time_zone?,
                accepting_new_patients: input.accepting_new_patients,
            })
        })
    }

    /// The profile a new provider account starts with.
    pub fn initial(name: &str) -> Self {
        Self {
            name: name.trim().to_owned(),
            specialty: DEFAULT_SPECIALTY.to_owned(),
            bio: String::new(),
            languages: Vec::new(),
            location: String::new(),
            time_zone: TimeZone::UTC,
            accepting_new_patients: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(languages: &'a [String], time_zone: &'a str) -> ProviderInput<'a> {
        ProviderInput {
            name: " Dr. Lena Vogel ",
            specialty: "Family medicine",
            bio: "Line one\nLine two",
            languages,
            location: "Berlin",
            time_zone,
            accepting_new_patients: false,
        }
    }

    #[test]
    fn a_valid_profile_is_normalized() {
        let langs = vec!["DE".to_owned(), "en".to_owned()];
        let p = ProviderProfile::parse(&input(&langs, "Europe/Berlin")).unwrap();
        assert_eq!(p.name, "Dr. Lena Vogel");
        assert_eq!(p.languages, ["de", "en"]);
        assert_eq!(p.time_zone.name(), "Europe/Berlin");
        assert!(!p.accepting_new_patients);
    }

    #[test]
    fn every_invalid_field_is_reported() {
        let langs = vec!["english please".to_owned()];
        let mut raw = input(&langs, "Berlin");
        let long_bio = "x".repeat(limits::BIO + 1);
        raw.bio = &long_bio;
        raw.specialty = "";
        let err = ProviderProfile::parse(&raw).unwrap_err();
        let fields: Vec<_> = err.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["specialty", "bio", "languages", "time_zone"]);
    }

    #[test]
    fn new_providers_start_in_utc_in_general_practice() {
        let p = ProviderProfile::initial("Dr. New");
        assert_eq!(p.time_zone, TimeZone::UTC);
        assert_eq!(p.specialty, DEFAULT_SPECIALTY);
        assert!(p.accepting_new_patients);
    }
}
