//! The tokens of one-click links in emails that sit in a page's path
//! (`/appointment-links/{token}`, `/waitlist/offers/{token}`): what one may
//! look like, and which pages act on one alone. A token is the whole
//! authority of its link: the request log replaces it
//! (`platform::http::loggable_path`), and only a token of the shape the API
//! issues is ever put into an API path (one with `/`, `.` or `?` could reach
//! another endpoint).

use std::fmt;

/// The longest token accepted (scheduling's are well under it).
const MAX_LEN: usize = 512;

/// A link's token: base64url characters only (scheduling's signed links and
/// `wo_…` offer tokens), so it is one path segment and nothing else.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkToken(String);

impl LinkToken {
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkToken(..)")
    }
}

/// Pages that act on a link's token alone, without a session: the token in
/// the path is the proof, which a forged cross-site request cannot know, and
/// they never use the visitor's own session, so they need no CSRF token.
pub fn is_token_authorized(path: &str) -> bool {
    path.starts_with("/appointment-links/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_token_is_exactly_a_base64url_word(ok in "[A-Za-z0-9_-]{1,200}", bad in "[A-Za-z0-9_-]{0,20}[/.?#%\\ ][A-Za-z0-9_./-]{0,20}") {
            prop_assert!(LinkToken::parse(&ok).is_some());
            prop_assert!(LinkToken::parse(&bad).is_none(), "{}", bad);
        }
    }

    #[test]
    fn tokens_are_one_url_safe_segment() {
        assert!(LinkToken::parse("wo_AbC-12_x").is_some());
        for bad in ["", "a/b", "..", "a.b", "a?b", "a%2Fb", "a b", "a#b", "a\\b"] {
            assert!(LinkToken::parse(bad).is_none(), "{bad:?}");
        }
        assert!(LinkToken::parse(&"a".repeat(513)).is_none());
        assert_eq!(
            format!("{:?}", LinkToken::parse("secret").unwrap()),
            "LinkToken(..)"
        );
    }

    #[test]
    fn only_link_pages_go_without_a_session_token() {
        assert!(is_token_authorized("/appointment-links/abc"));
        assert!(!is_token_authorized("/waitlist/offers/abc"));
        assert!(!is_token_authorized("/appointments/abc/cancel"));
    }
}
