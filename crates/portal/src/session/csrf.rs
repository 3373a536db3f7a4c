//! CSRF synchronizer tokens: one random token per session, echoed by every
//! form (hidden field) and htmx request (header), compared in constant time.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use subtle::ConstantTimeEq;

/// The hidden form field carrying the token.
pub const FORM_FIELD: &str = "csrf_token";
/// The header htmx sends it in (`hx-headers` on `<body>`).
pub const HEADER: &str = "x-csrf-token";

pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `given` is the session's token. Empty never matches.
pub fn matches(expected: &str, given: Option<&str>) -> bool {
    match given {
        Some(given) if !expected.is_empty() => {
            expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
        }
        _ => false,
    }
}

/// The token of a URL-encoded form body, if it has one.
pub fn from_form(body: &[u8]) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == FORM_FIELD).then_some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_sessions_own_token_matches() {
        let token = new_token();
        assert!(matches(&token, Some(&token)));
        assert!(!matches(&token, Some(&new_token())));
        assert!(!matches(&token, Some("")));
        assert!(!matches(&token, None));
        assert!(!matches(&token, Some(&token[..10])));
        assert!(!matches("", Some("")));
    }

    #[test]
    fn tokens_are_unguessable_and_url_safe() {
        let a = new_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, new_token());
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn the_token_is_read_from_a_form_body() {
        assert_eq!(
            from_form(b"reason=too+late&csrf_token=abc-_123").as_deref(),
            Some("abc-_123")
        );
        assert_eq!(from_form(b"reason=x"), None);
        assert_eq!(from_form(b"%ZZ=\xff"), None);
    }
}
