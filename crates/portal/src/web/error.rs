//! Why a page cannot be shown, and how each reason looks to a person: a
//! redirect to the login page, or an error page with a plain sentence.
//! Handlers return [`PageError`]; the session layer renders the page around it
//! (it knows who is signed in, for the navigation).

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

use crate::{api::ApiError, domain::feedback, session::StoreError};

#[derive(Debug)]
pub enum PageError {
    /// Not signed in (or the session ended): to the login page, then back to `next`.
    LoginRequired {
        next: String,
    },
    /// Signed in, but this page is not for them.
    Forbidden,
    NotFound,
    /// A malformed form or query the pages themselves never send.
    BadRequest,
    /// Sessions or the API are unreachable.
    Unavailable,
    /// The API refused; its problem says why.
    Api(ApiError),
}

/// The error page a [`PageError`] becomes, carried in the response's
/// extensions until the session layer renders it.
#[derive(Clone, Debug)]
pub struct ErrorPage {
    pub title: &'static str,
    pub message: String,
}

impl PageError {
    fn page(&self) -> (StatusCode, ErrorPage) {
        let page = |title, message: &str| ErrorPage {
            title,
            message: message.to_owned(),
        };
        match self {
            PageError::LoginRequired { .. } => (
                StatusCode::UNAUTHORIZED,
                page("Please log in", "Please log in to continue."),
            ),
            PageError::Forbidden => (
                StatusCode::FORBIDDEN,
                page("Not allowed", "This page is not available to your account."),
            ),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                page(
                    "Page not found",
                    "We could not find that page. It may have been removed, or the link is wrong.",
                ),
            ),
            PageError::BadRequest => (
                StatusCode::BAD_REQUEST,
                page(
                    "Something is wrong with that request",
                    "Please go back and try again.",
                ),
            ),
            PageError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                page(
                    "Briefly unavailable",
                    "The service is briefly unavailable. Please try again in a moment.",
                ),
            ),
            PageError::Api(e) => match e.status().map(|s| s.as_u16()) {
                Some(403) => PageError::Forbidden.page(),
                Some(404) => PageError::NotFound.page(),
                Some(s) if (400..500).contains(&s) => (
                    StatusCode::from_u16(s).unwrap_or(StatusCode::BAD_REQUEST),
                    ErrorPage {
                        title: "That did not work",
                        message: feedback::from_api(e).message.unwrap_or_default(),
                    },
                ),
                _ => PageError::Unavailable.page(),
            },
        }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        tracing::warn!(error = %e, "session store failed");
        PageError::Unavailable
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if let PageError::LoginRequired { next } = &self {
            return super::see_other(&login_url(next));
        }
        if let PageError::Api(e) = &self {
            if e.status().is_none_or(|s| s.is_server_error()) {
                tracing::warn!(error = %e, "API call failed");
            }
        }
        let (status, page) = self.page();
        let mut response = status.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        response.extensions_mut().insert(page);
        response
    }
}

/// `/login?next=…` for a page the visitor wanted.
pub fn login_url(next: &str) -> String {
    if next.is_empty() || next == "/" {
        return "/login".to_owned();
    }
    let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    format!("/login?{query}")
}

/// Where to go after login: only a path on this site (`/x`), never `//evil` or a URL.
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?.trim();
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && !next.starts_with("/login")
        && !next.starts_with("/logout");
    local.then(|| next.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(
            safe_next(Some("/appointments?x=1")).as_deref(),
            Some("/appointments?x=1")
        );
        for bad in [
            "https://evil.test/",
            "//evil.test",
            "/\\evil.test",
            "evil",
            "/login",
            "/logout",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad}");
        }
        assert_eq!(safe_next(None), None);
    }

    #[test]
    fn the_login_url_carries_the_page_wanted() {
        assert_eq!(login_url("/"), "/login");
        assert_eq!(
            login_url("/appointments/1?a=b"),
            "/login?next=%2Fappointments%2F1%3Fa%3Db"
        );
    }

    #[test]
    fn api_refusals_become_the_matching_page() {
        use reqwest::StatusCode as S;
        let api = |status: S| {
            PageError::Api(ApiError::Status {
                status,
                problem: None,
                retry_after: None,
            })
        };
        assert_eq!(api(S::FORBIDDEN).page().0, StatusCode::FORBIDDEN);
        assert_eq!(api(S::NOT_FOUND).page().0, StatusCode::NOT_FOUND);
        assert_eq!(api(S::CONFLICT).page().0, StatusCode::CONFLICT);
        assert_eq!(
            api(S::BAD_GATEWAY).page().0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let unreachable = PageError::Api(ApiError::Unreachable("x".into()));
        assert_eq!(unreachable.page().0, StatusCode::SERVICE_UNAVAILABLE);
    }
}
