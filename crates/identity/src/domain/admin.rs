//! What an administrator asks of the account list: a search with a page size
//! and where the page starts, and the reason given for disabling or enabling
//! an account — parsed and bounded before any SQL sees them.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;
/// Longest `q` accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 100;
/// At most this many words of `q` are matched (each must appear).
pub const MAX_TERMS: usize = 5;
/// Longer cursors are refused before decoding.
const MAX_CURSOR_LEN: usize = 1024;

/// Where the next page starts: strictly after `(email, id)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "e")]
    pub email: String,
    #[serde(rename = "i")]
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        // A string and a UUID always serialize.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(raw: &str) -> Option<Self> {
        if raw.is_empty() || raw.len() > MAX_CURSOR_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Why a search was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SearchError {
    /// Field and message.
    Invalid(&'static str, String),
    Cursor,
}

/// A valid search of the account list: every word of `q` appears in the
/// account's name or email (case-insensitive), a page at a time in
/// `(email, id)` order.
#[derive(Debug, PartialEq, Eq)]
pub struct UserSearch {
    /// One `LIKE` pattern `%word%` per distinct word (`%`, `_`, `\` escaped).
    pub patterns: Vec<String>,
    pub limit: u32,
    pub after: Option<Cursor>,
}

/// `term` as a `LIKE` pattern matching it anywhere, wildcards escaped.
pub fn contains_pattern(term: &str) -> String {
    let mut p = String::with_capacity(term.len() + 2);
    p.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl UserSearch {
    pub fn parse(
        q: Option<&str>,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Self, SearchError> {
        let q = q.map(str::trim).unwrap_or("");
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(SearchError::Invalid(
                "q",
                format!("must be at most {MAX_QUERY_CHARS} characters"),
            ));
        }
        if q.chars().any(char::is_control) {
            return Err(SearchError::Invalid(
                "q",
                "must not contain control characters".into(),
            ));
        }
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(SearchError::Invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = match cursor.filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(Cursor::decode(c).ok_or(SearchError::Cursor)?),
        };
        let mut terms: Vec<&str> = Vec::new();
        for t in q.split_whitespace() {
            if !terms.contains(&t) {
                terms.push(t);
            }
        }
        terms.truncate(MAX_TERMS);
        Ok(Self {
            patterns: terms.into_iter().map(contains_pattern).collect(),
            limit,
            after,
        })
    }
}

/// Why an administrator disabled or enabled an account: 3–500 characters of
/// text, kept in the audit log (never in logs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditReason(String);

pub const MIN_REASON_CHARS: usize = 3;
pub const MAX_REASON_CHARS: usize = 500;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidReason {
    #[error("give a reason of at least {MIN_REASON_CHARS} characters")]
    TooShort,
    #[error("the reason must be at most {MAX_REASON_CHARS} characters")]
    TooLong,
    #[error("the reason must not contain control characters")]
    ControlCharacters,
}

impl AuditReason {
    pub fn parse(raw: &str) -> Result<Self, InvalidReason> {
        let reason = raw.trim();
        let chars = reason.chars().count();
        if chars < MIN_REASON_CHARS {
            return Err(InvalidReason::TooShort);
        }
        if chars > MAX_REASON_CHARS {
            return Err(InvalidReason::TooLong);
        }
        if reason.chars().any(|c| c.is_control() && c != '\n') {
            return Err(InvalidReason::ControlCharacters);
        }
        Ok(Self(reason.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_search_has_defaults_distinct_terms_and_escaped_wildcards() {
        let s = UserSearch::parse(Some("  ada  ada 50%_ "), None, None).unwrap();
        assert_eq!(s.patterns, ["%ada%", "%50\\%\\_%"]);
        assert_eq!(s.limit, DEFAULT_LIMIT);
        assert_eq!(s.after, None);
        assert!(UserSearch::parse(None, None, Some(""))
            .unwrap()
            .patterns
            .is_empty());
        let many = UserSearch::parse(Some("a b c d e f g"), None, None).unwrap();
        assert_eq!(many.patterns.len(), MAX_TERMS);
    }

    #[test]
    fn a_search_is_bounded() {
        for limit in [0, MAX_LIMIT + 1] {
            assert!(matches!(
                UserSearch::parse(None, Some(limit), None),
                Err(SearchError::Invalid("limit", _))
            ));
        }
        let long = "x".repeat(MAX_QUERY_CHARS + 1);
        assert!(matches!(
            UserSearch::parse(Some(&long), None, None),
            Err(SearchError::Invalid("q", _))
        ));
        assert_eq!(
            UserSearch::parse(None, None, Some("garbage")),
            Err(SearchError::Cursor)
        );
    }

    #[test]
    fn cursors_round_trip() {
        let c = Cursor {
            email: "zoë+x@example.org".into(),
            id: Uuid::now_v7(),
        };
        let s = UserSearch::parse(None, None, Some(&c.encode())).unwrap();
        assert_eq!(s.after, Some(c));
    }

    #[test]
    fn reasons_are_trimmed_and_bounded() {
        assert_eq!(
            AuditReason::parse("  left the clinic ").unwrap().as_str(),
            "left the clinic"
        );
        assert_eq!(AuditReason::parse(" ab "), Err(InvalidReason::TooShort));
        assert_eq!(
            AuditReason::parse(&"x".repeat(501)),
            Err(InvalidReason::TooLong)
        );
        assert!(AuditReason::parse(&"é".repeat(500)).is_ok());
        assert_eq!(
            AuditReason::parse("bad\u{7}reason"),
            Err(InvalidReason::ControlCharacters)
        );
        assert!(AuditReason::parse("line one\nline two").is_ok());
    }

    proptest! {
        #[test]
        fn cursor_decoding_never_panics(raw in ".{0,300}") {
            let _ = Cursor::decode(&raw);
        }
    }
}
