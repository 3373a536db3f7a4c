//! A person's display name.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidName {
    #[error("name must not be empty")]
    Empty,
    #[error("name must be at most {0} characters")]
    TooLong(usize),
    #[error("name must not contain control characters")]
    ControlCharacters,
}

impl PersonName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, InvalidName> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(InvalidName::Empty);
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(InvalidName::TooLong(Self::MAX_CHARS));
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidName::ControlCharacters);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            PersonName::parse("  Zoë O'Brien ").unwrap().as_str(),
            "Zoë O'Brien"
        );
        assert_eq!(PersonName::parse("   "), Err(InvalidName::Empty));
        assert_eq!(
            PersonName::parse(&"x".repeat(201)),
            Err(InvalidName::TooLong(200))
        );
        assert_eq!(
            PersonName::parse("a\u{0}b"),
            Err(InvalidName::ControlCharacters)
        );
    }

    #[test]
    fn markup_is_kept_as_data() {
        // Escaping is the renderer's job; the name is stored as typed.
        assert!(PersonName::parse("<script>alert(1)</script>").is_ok());
    }
}
