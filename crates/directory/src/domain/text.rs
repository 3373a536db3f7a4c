//! Bounded free text: trimmed, length-limited, no control characters (line
//! breaks only where a field is multi-line). Markup is kept as typed: escaping
//! is the renderer's job.

/// Whether a field may span lines (a bio) or not (a name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lines {
    Single,
    Multi,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control characters")]
    ControlCharacters,
}

/// Limits of the directory's text fields, in characters.
pub mod limits {
    pub const NAME: usize = 200;
    pub const SPECIALTY: usize = 100;
    pub const BIO: usize = 2000;
    pub const LOCATION: usize = 200;
    pub const ADDRESS_LINE: usize = 200;
    pub const CITY: usize = 100;
    pub const REGION: usize = 100;
    pub const POSTAL_CODE: usize = 20;
    pub const PAYER: usize = 100;
    pub const MEMBER_ID: usize = 64;
    pub const GROUP_NUMBER: usize = 64;
}

/// Trimmed text of at most `max` characters, possibly empty.
pub fn bounded(raw: &str, max: usize, lines: Lines) -> Result<String, TextError> {
    let text = raw.trim();
    if text.chars().count() > max {
        return Err(TextError::TooLong(max));
    }
    let allowed = |c: char| lines == Lines::Multi && matches!(c, '\n' | '\r' | '\t');
    if text.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(TextError::ControlCharacters);
    }
    Ok(text.to_owned())
}

/// Like [`bounded`], but empty (or blank) text is refused.
pub fn required(raw: &str, max: usize) -> Result<String, TextError> {
    let text = bounded(raw, max, Lines::Single)?;
    if text.is_empty() {
        return Err(TextError::Empty);
    }
    Ok(text)
}

/// Like [`bounded`] (single line), but blank text means "none".
pub fn optional(raw: Option<&str>, max: usize) -> Result<Option<String>, TextError> {
    match raw {
        None => Ok(None),
        Some(raw) => bounded(raw, max, Lines::Single).map(|t| (!t.is_empty()).then_some(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded_in_characters_not_bytes() {
        assert_eq!(required("  Zoë  ", 4).unwrap(), "Zoë");
        assert_eq!(required("ëëëëë", 4), Err(TextError::TooLong(4)));
        assert_eq!(required("   ", 4), Err(TextError::Empty));
        assert_eq!(optional(Some("  "), 4), Ok(None));
        assert_eq!(optional(None, 4), Ok(None));
    }

    #[test]
    fn line_breaks_only_in_multi_line_fields() {
        assert!(bounded("one\ntwo", 100, Lines::Multi).is_ok());
        assert_eq!(
            bounded("one\ntwo", 100, Lines::Single),
            Err(TextError::ControlCharacters)
        );
        assert_eq!(
            bounded("a\u{0}b", 100, Lines::Multi),
            Err(TextError::ControlCharacters)
        );
    }

    #[test]
    fn markup_is_kept_as_data() {
        assert_eq!(required("<b>Dr</b>", 100).unwrap(), "<b>Dr</b>");
    }
}
