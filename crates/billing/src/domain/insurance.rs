//! A patient's insurance details, as billing keeps them: who pays (payer), the
//! member id and, where the plan has one, the group number.

use serde::{Deserialize, Serialize};

/// Longest accepted values, in characters.
pub const PAYER_MAX: usize = 200;
pub const MEMBER_ID_MAX: usize = 64;
pub const GROUP_NUMBER_MAX: usize = 64;

/// Valid insurance details: trimmed, non-empty where required, no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Insurance {
    /// The insurer (`Techniker Krankenkasse`, `Aetna`).
    pub payer: String,
    pub member_id: String,
    #[serde(default)]
    pub group_number: Option<String>,
}

/// One invalid field and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn text(field: &'static str, raw: &str, max: usize, errors: &mut Vec<Invalid>) -> Option<String> {
    let value = raw.trim();
    let message = if value.is_empty() {
        Some("must not be empty".to_owned())
    } else if value.chars().count() > max {
        Some(format!("at most {max} characters"))
    } else if value.chars().any(char::is_control) {
        Some("must not contain control characters".to_owned())
    } else {
        None
    };
    match message {
        Some(message) => {
            errors.push(Invalid { field, message });
            None
        }
        None => Some(value.to_owned()),
    }
}

impl Insurance {
    /// Validate every field; all invalid ones are reported together.
    pub fn parse(
        payer: &str,
        member_id: &str,
        group_number: Option<&str>,
    ) -> Result<Self, Vec<Invalid>> {
        let mut errors = Vec::new();
        let payer = text("payer", payer, PAYER_MAX, &mut errors);
        let member_id = text("member_id", member_id, MEMBER_ID_MAX, &mut errors);
        let group_number = match group_number.map(str::trim).filter(|g| !g.is_empty()) {
            None => Some(None),
            Some(g) => text("group_number", g, GROUP_NUMBER_MAX, &mut errors).map(Some),
        };
        match (payer, member_id, group_number) {
            (Some(payer), Some(member_id), Some(group_number)) if errors.is_empty() => Ok(Self {
                payer,
                member_id,
                group_number,
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn valid_details_are_trimmed() {
        let i = Insurance::parse("  Aetna ", " M-123 ", Some("  ")).unwrap();
        assert_eq!(
            i,
            Insurance {
                payer: "Aetna".into(),
                member_id: "M-123".into(),
                group_number: None
            }
        );
        let i = Insurance::parse("TK", "A1", Some(" G7 ")).unwrap();
        assert_eq!(i.group_number.as_deref(), Some("G7"));
    }

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let errors = Insurance::parse(" ", &"x".repeat(65), Some("a\u{0}b")).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["payer", "member_id", "group_number"]);
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_accepted_values_are_within_limits(
            payer in ".{0,250}", member in ".{0,80}", group in proptest::option::of(".{0,80}"),
        ) {
            if let Ok(i) = Insurance::parse(&payer, &member, group.as_deref()) {
                prop_assert!(!i.payer.is_empty() && i.payer.chars().count() <= PAYER_MAX);
                prop_assert!(!i.member_id.is_empty() && i.member_id.chars().count() <= MEMBER_ID_MAX);
                prop_assert!(i.group_number.as_ref().is_none_or(|g| !g.is_empty() && g.chars().count() <= GROUP_NUMBER_MAX));
            }
        }
    }
}
