//! The session cookie: `carebook_session`, HttpOnly (scripts never see it),
//! SameSite=Lax (other sites' forms do not carry it), Path=/, and Secure when
//! browsers come over HTTPS.

use axum::http::{header, HeaderMap, HeaderValue};
use cookie::{Cookie, SameSite};

use super::SessionId;

pub const SESSION_COOKIE: &str = "carebook_session";
/// The browser's IANA time zone, written by `/static/portal.js`; only a display preference.
pub const TIME_ZONE_COOKIE: &str = "carebook_tz";

/// `Set-Cookie` for a session.
pub fn session(id: &SessionId, secure: bool) -> HeaderValue {
    build(Cookie::new(SESSION_COOKIE, id.as_str().to_owned()), secure)
}

/// `Set-Cookie` that removes the session cookie.
pub fn cleared(secure: bool) -> HeaderValue {
    let mut c = Cookie::new(SESSION_COOKIE, "");
    c.set_max_age(cookie::time::Duration::ZERO);
    build(c, secure)
}

fn build(mut c: Cookie<'static>, secure: bool) -> HeaderValue {
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_path("/");
    c.set_secure(secure);
    // Cookie names and our base64url values are always valid header text.
    HeaderValue::from_str(&c.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// The value of cookie `name` in the request, if sent.
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_http_only_lax_and_site_wide() {
        let id = SessionId::generate();
        let v = session(&id, false);
        let v = v.to_str().unwrap();
        assert!(
            v.starts_with(&format!("carebook_session={}", id.as_str())),
            "{v}"
        );
        assert!(v.contains("HttpOnly"), "{v}");
        assert!(v.contains("SameSite=Lax"), "{v}");
        assert!(v.contains("Path=/"), "{v}");
        assert!(!v.contains("Secure"), "{v}");
        assert!(session(&id, true).to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn clearing_expires_the_cookie_at_once() {
        let v = cleared(true);
        let v = v.to_str().unwrap();
        assert!(v.contains("Max-Age=0"), "{v}");
        assert!(v.contains("Secure"), "{v}");
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; carebook_tz=Europe/Berlin"),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("carebook_session=xyz"),
        );
        assert_eq!(read(&h, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(read(&h, TIME_ZONE_COOKIE).as_deref(), Some("Europe/Berlin"));
        assert_eq!(read(&h, "missing"), None);
    }
}
