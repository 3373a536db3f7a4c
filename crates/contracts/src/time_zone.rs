//! The IANA time zone names events carry (`Europe/Berlin`): a provider's
//! (scheduling computes weekly availability in it) and a patient's (emails
//! show times in it). Only names in the tz database are accepted, so every
//! consumer can rely on them.

use std::str::FromStr;

use chrono_tz::Tz;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeZone(Tz);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("must be an IANA time zone name such as Europe/Berlin or America/New_York")]
pub struct UnknownTimeZone;

impl TimeZone {
    /// What a profile gets until its provider sets one.
    pub const UTC: TimeZone = TimeZone(Tz::UTC);

    /// An exact tz database name (case matters, as in the database), trimmed.
    pub fn parse(raw: &str) -> Result<Self, UnknownTimeZone> {
        let name = raw.trim();
        // Bound the lookup; the longest tz names are about 30 characters.
        if name.is_empty() || name.len() > 64 {
            return Err(UnknownTimeZone);
        }
        Tz::from_str(name).map(Self).map_err(|_| UnknownTimeZone)
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    pub fn tz(&self) -> Tz {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iana_names_are_accepted() {
        for name in ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"] {
            assert_eq!(TimeZone::parse(name).unwrap().name(), name);
        }
        assert_eq!(
            TimeZone::parse(" Asia/Kolkata ").unwrap().name(),
            "Asia/Kolkata"
        );
        assert_eq!(TimeZone::UTC.name(), "UTC");
    }

    #[test]
    fn unknown_and_sloppy_names_are_refused() {
        for name in [
            "",
            "Mars/Olympus_Mons",
            "europe/berlin",
            "CEST",
            "+02:00",
            "Europe/Berlin/Mitte",
            "Europe/\u{0}Berlin",
        ] {
            assert_eq!(TimeZone::parse(name), Err(UnknownTimeZone), "{name:?}");
        }
        assert!(TimeZone::parse(&"A".repeat(100)).is_err());
    }
}
