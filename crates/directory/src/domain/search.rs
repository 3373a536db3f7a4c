//! The provider search request: free-text terms, a specialty, a page size and
//! where the page starts — parsed and bounded before any SQL sees it.

use super::{cursor::InvalidCursor, Cursor, Violations};

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
/// Longest `q` accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 100;
/// At most this many words of `q` are matched (each must appear).
pub const MAX_TERMS: usize = 5;

/// The query string as received.
#[derive(Default)]
pub struct RawSearch<'a> {
    pub q: Option<&'a str>,
    pub specialty: Option<&'a str>,
    pub limit: Option<u32>,
    pub cursor: Option<&'a str>,
}

/// A valid search.
#[derive(Debug, PartialEq, Eq)]
pub struct Search {
    /// One `LIKE` pattern `%word%` per distinct word of `q` (`%`, `_` and `\`
    /// escaped); every one must match. The database lower-cases both sides, so
    /// case folding follows one set of rules.
    pub patterns: Vec<String>,
    /// Matched case-insensitively and exactly.
    pub specialty: Option<String>,
    pub limit: u32,
    pub after: Option<Cursor>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SearchError {
    Invalid(Violations),
    Cursor(InvalidCursor),
}

/// `term` as a `LIKE` pattern matching it anywhere, with wildcards escaped.
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

impl Search {
    pub fn parse(raw: &RawSearch<'_>) -> Result<Self, SearchError> {
        let mut v = Violations::new();
        let q = raw.q.map(str::trim).unwrap_or("");
        if q.chars().count() > MAX_QUERY_CHARS {
            v.add("q", format!("must be at most {MAX_QUERY_CHARS} characters"));
        }
        if q.chars().any(char::is_control) {
            v.add("q", "must not contain control characters");
        }
        let specialty = raw.specialty.map(str::trim).filter(|s| !s.is_empty());
        if specialty.is_some_and(|s| s.chars().count() > super::text::limits::SPECIALTY) {
            v.add("specialty", "is longer than any specialty");
        }
        let limit = raw.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            v.add("limit", format!("must be between 1 and {MAX_LIMIT}"));
        }
        if !v.is_empty() {
            return Err(SearchError::Invalid(v));
        }
        let after = match raw.cursor.filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(Cursor::decode(c).map_err(SearchError::Cursor)?),
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
            specialty: specialty.map(str::to_owned),
            limit,
            after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn wildcards_in_terms_are_literal() {
        assert_eq!(contains_pattern("vogel"), "%vogel%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn defaults_and_terms() {
        let s = Search::parse(&RawSearch {
            q: Some("  lena  vogel lena "),
            specialty: Some("  "),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.patterns, ["%lena%", "%vogel%"]);
        assert_eq!(s.specialty, None);
        assert_eq!(s.limit, DEFAULT_LIMIT);
        assert_eq!(s.after, None);
        let many = "a b c d e f g";
        let s = Search::parse(&RawSearch {
            q: Some(many),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.patterns.len(), MAX_TERMS);
    }

    #[test]
    fn bounds_are_enforced() {
        for limit in [0, MAX_LIMIT + 1] {
            let err = Search::parse(&RawSearch {
                limit: Some(limit),
                ..Default::default()
            })
            .unwrap_err();
            assert!(matches!(err, SearchError::Invalid(v) if v.iter().any(|x| x.field == "limit")));
        }
        let long = "x".repeat(MAX_QUERY_CHARS + 1);
        assert!(matches!(
            Search::parse(&RawSearch {
                q: Some(&long),
                ..Default::default()
            }),
            Err(SearchError::Invalid(_))
        ));
    }

    #[test]
    fn cursors_are_checked() {
        assert_eq!(
            Search::parse(&RawSearch {
                cursor: Some("nope"),
                ..Default::default()
            }),
            Err(SearchError::Cursor(InvalidCursor))
        );
        let c = Cursor {
            name: "Dr. A".into(),
            id: Uuid::now_v7(),
        };
        let s = Search::parse(&RawSearch {
            cursor: Some(&c.encode()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.after, Some(c));
    }
}
