//! The search requests — providers (free-text terms, a specialty) and, for the
//! front desk, patients (name or email) — with a page size and where the page
//! starts, parsed and bounded before any SQL sees them.

use super::{cursor::InvalidCursor, Cursor, Violations};

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
/// Longest `q` accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 100;
/// At most this many words of `q` are matched (each must appear).
pub const MAX_TERMS: usize = 5;
/// Shortest patient search `q`, in characters: a search must narrow the list
/// down, never page through every patient.
pub const MIN_PATIENT_QUERY_CHARS: usize = 2;

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

/// `q`, trimmed, checked for length and control characters.
fn query<'a>(q: Option<&'a str>, v: &mut Violations) -> &'a str {
    let q = q.map(str::trim).unwrap_or("");
    if q.chars().count() > MAX_QUERY_CHARS {
        v.add("q", format!("must be at most {MAX_QUERY_CHARS} characters"));
    }
    if q.chars().any(char::is_control) {
        v.add("q", "must not contain control characters");
    }
    q
}

/// The page size, checked.
fn limit(limit: Option<u32>, v: &mut Violations) -> u32 {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        v.add("limit", format!("must be between 1 and {MAX_LIMIT}"));
    }
    limit
}

/// Where the page starts, once every field is valid.
fn after(v: Violations, cursor: Option<&str>) -> Result<Option<Cursor>, SearchError> {
    if !v.is_empty() {
        return Err(SearchError::Invalid(v));
    }
    match cursor.filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => Cursor::decode(c).map(Some).map_err(SearchError::Cursor),
    }
}

/// One `LIKE` pattern per distinct word of `q`, at most [`MAX_TERMS`].
fn patterns(q: &str) -> Vec<String> {
    let mut terms: Vec<&str> = Vec::new();
    for t in q.split_whitespace() {
        if !terms.contains(&t) {
            terms.push(t);
        }
    }
    terms.truncate(MAX_TERMS);
    terms.into_iter().map(contains_pattern).collect()
}

impl Search {
    pub fn parse(raw: &RawSearch<'_>) -> Result<Self, SearchError> {
        let mut v = Violations::new();
        let q = query(raw.q, &mut v);
        let specialty = raw.specialty.map(str::trim).filter(|s| !s.is_empty());
        if specialty.is_some_and(|s| s.chars().count() > super::text::limits::SPECIALTY) {
            v.add("specialty", "is longer than any specialty");
        }
        let limit = limit(raw.limit, &mut v);
        Ok(Self {
            after: after(v, raw.cursor)?,
            patterns: patterns(q),
            specialty: specialty.map(str::to_owned),
            limit,
        })
    }
}

/// The front desk's patient search as received (`q` is required).
#[derive(Default)]
pub struct RawPatientSearch<'a> {
    pub q: Option<&'a str>,
    pub limit: Option<u32>,
    pub cursor: Option<&'a str>,
}

/// A valid patient search: every word of `q` appears in the patient's name or
/// email (case-insensitive), a page at a time in `(name, id)` order.
#[derive(Debug, PartialEq, Eq)]
pub struct PatientSearch {
    /// As [`Search::patterns`]; never empty.
    pub patterns: Vec<String>,
    pub limit: u32,
    pub after: Option<Cursor>,
}

impl PatientSearch {
    pub fn parse(raw: &RawPatientSearch<'_>) -> Result<Self, SearchError> {
        let mut v = Violations::new();
        let q = query(raw.q, &mut v);
        if q.chars().count() < MIN_PATIENT_QUERY_CHARS {
            v.add(
                "q",
                format!("must be at least {MIN_PATIENT_QUERY_CHARS} characters of a name or email"),
            );
        }
        let limit = limit(raw.limit, &mut v);
        Ok(Self {
            after: after(v, raw.cursor)?,
            patterns: patterns(q),
            limit,
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

    #[test]
    fn a_patient_search_needs_a_query_of_two_characters_or_more() {
        for q in [None, Some(""), Some("   "), Some(" a ")] {
            let err = PatientSearch::parse(&RawPatientSearch {
                q,
                ..Default::default()
            })
            .unwrap_err();
            assert!(
                matches!(&err, SearchError::Invalid(v) if v.iter().any(|x| x.field == "q")),
                "{q:?}"
            );
        }
        let s = PatientSearch::parse(&RawPatientSearch {
            q: Some(" Paula  paula@EXAMPLE.org "),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.patterns, ["%Paula%", "%paula@EXAMPLE.org%"]);
        assert_eq!(s.limit, DEFAULT_LIMIT);
    }

    #[test]
    fn a_patient_search_escapes_wildcards_and_is_bounded() {
        let s = PatientSearch::parse(&RawPatientSearch {
            q: Some("%_"),
            limit: Some(MAX_LIMIT),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.patterns, ["%\\%\\_%"]);
        let err = PatientSearch::parse(&RawPatientSearch {
            q: Some(&"x".repeat(MAX_QUERY_CHARS + 1)),
            limit: Some(0),
            cursor: Some("garbage"),
        })
        .unwrap_err();
        let SearchError::Invalid(v) = err else {
            panic!("fields are checked before the cursor: {err:?}")
        };
        let fields: Vec<&str> = v.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["q", "limit"]);
        assert_eq!(
            PatientSearch::parse(&RawPatientSearch {
                q: Some("vogel"),
                cursor: Some("garbage"),
                ..Default::default()
            }),
            Err(SearchError::Cursor(InvalidCursor))
        );
    }
}
