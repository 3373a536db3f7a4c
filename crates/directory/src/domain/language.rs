//! Languages a provider speaks, as BCP 47-style tags (`en`, `pt-BR`,
//! `zh-Hant-TW`), normalized to the conventional case so `EN-us` and `en-US`
//! are the same language.

/// At most this many languages per profile.
pub const MAX_LANGUAGES: usize = 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LanguageError {
    #[error("{0:?} is not a language tag such as en, de or pt-BR")]
    Invalid(String),
    #[error("at most {MAX_LANGUAGES} languages")]
    TooMany,
}

/// One tag: a 2–3 letter language, then subtags of 1–8 letters or digits.
/// Language lower-case, 4-letter scripts title-case, regions upper-case.
pub fn parse_tag(raw: &str) -> Result<String, LanguageError> {
    let invalid = || LanguageError::Invalid(raw.chars().take(40).collect());
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 35 {
        return Err(invalid());
    }
    let mut out = Vec::new();
    for (i, subtag) in raw.split(['-', '_']).enumerate() {
        let ok = if i == 0 {
            (2..=3).contains(&subtag.len()) && subtag.chars().all(|c| c.is_ascii_alphabetic())
        } else {
            (1..=8).contains(&subtag.len()) && subtag.chars().all(|c| c.is_ascii_alphanumeric())
        };
        if !ok {
            return Err(invalid());
        }
        let normalized = match (i, subtag.len()) {
            (0, _) => subtag.to_ascii_lowercase(),
            (_, 4) if subtag.chars().all(|c| c.is_ascii_alphabetic()) => {
                let lower = subtag.to_ascii_lowercase();
                let mut chars = lower.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            }
            (_, 2) if subtag.chars().all(|c| c.is_ascii_alphabetic()) => {
                subtag.to_ascii_uppercase()
            }
            _ => subtag.to_ascii_lowercase(),
        };
        out.push(normalized);
    }
    Ok(out.join("-"))
}

/// A list of tags, normalized, without duplicates, in the given order.
pub fn parse_languages(raw: &[String]) -> Result<Vec<String>, LanguageError> {
    if raw.len() > MAX_LANGUAGES {
        return Err(LanguageError::TooMany);
    }
    let mut tags: Vec<String> = Vec::with_capacity(raw.len());
    for r in raw {
        let tag = parse_tag(r)?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_normalized() {
        assert_eq!(parse_tag("EN").unwrap(), "en");
        assert_eq!(parse_tag("pt-br").unwrap(), "pt-BR");
        assert_eq!(parse_tag("zh_hant_tw").unwrap(), "zh-Hant-TW");
        assert_eq!(parse_tag("es-419").unwrap(), "es-419");
        assert_eq!(parse_tag("yue").unwrap(), "yue");
    }

    #[test]
    fn junk_is_refused() {
        for bad in [
            "",
            "e",
            "english",
            "en-",
            "en--US",
            "12",
            "en US",
            "de-ÄÖ",
            "x-verylongsubtag",
        ] {
            assert!(parse_tag(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lists_are_deduplicated_and_bounded() {
        let raw: Vec<String> = ["de", "EN", "en", "de-AT"].map(String::from).to_vec();
        assert_eq!(parse_languages(&raw).unwrap(), ["de", "en", "de-AT"]);
        let many = vec!["en".to_owned(); MAX_LANGUAGES + 1];
        assert_eq!(parse_languages(&many), Err(LanguageError::TooMany));
    }
}
