//! The portal's pages. Every page is plain HTML that works without
//! JavaScript (links, forms, redirects after POST); htmx only makes navigation
//! and a few updates smoother. One module per area; each role's pages add
//! their routes in [`router`] and their menu in [`nav`].

pub mod account;
pub mod accounts;
pub mod admin;
pub mod auth;
pub mod context;
pub mod emailed;
pub mod error;
pub mod hold;
pub mod links;
pub mod nav;
pub mod patient;
pub mod provider;
pub mod reviews;
pub mod staff;
pub mod visits;
pub mod waitlist;

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts, HeaderValue, StatusCode},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use serde::de::DeserializeOwned;

pub use context::{CallError, Ctx, Visit};
pub use error::PageError;

use crate::AppState;

/// Every page route, behind the session layer (sessions, CSRF, error pages).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(auth::home))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/register", get(auth::register_form).post(auth::register))
        .route("/login/code", get(auth::code_form).post(auth::code))
        .route("/login/enrol", get(auth::enrol_form).post(auth::enrol))
        .route(
            "/verify-email",
            get(emailed::verify_form).post(emailed::verify),
        )
        .route("/verify-email/resend", post(emailed::resend))
        .route(
            "/password-reset",
            get(emailed::reset_form).post(emailed::reset),
        )
        .route(
            "/password-reset/confirm",
            get(emailed::new_password_form).post(emailed::new_password),
        )
        .merge(account::routes())
        .route("/logout", post(auth::logout))
        .merge(patient::routes())
        .merge(provider::routes())
        .merge(staff::routes())
        .route("/visits/{id}/{step}", post(visits::step))
        .route("/waitlist", get(waitlist::list).post(waitlist::join))
        .route("/waitlist/join", get(waitlist::join_form))
        .route("/waitlist/{id}/leave", post(waitlist::leave))
        .route("/waitlist/{id}/priority", post(waitlist::set_priority))
        .route(
            "/waitlist/offers/{token}",
            get(waitlist::offer).post(waitlist::claim),
        )
        .route(
            "/appointment-links/{token}",
            get(links::show).post(links::act),
        )
        .merge(admin::routes())
        .merge(reviews::routes())
        .merge(accounts::routes())
        .fallback(|| async { PageError::NotFound })
        .method_not_allowed_fallback(|| async { PageError::NotFound })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            context::session_layer,
        ))
        .with_state(state)
}

/// 303 See Other: where a browser goes after a POST (never re-posting on reload).
pub fn see_other(path: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(path).unwrap_or(HeaderValue::from_static("/")),
        )],
    )
        .into_response()
}

/// A URL-encoded form; a malformed one is a 400 page (our pages never send one).
pub struct Form<T>(pub T);

impl<T, S> FromRequest<S> for Form<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, PageError> {
        axum::Form::<T>::from_request(req, state)
            .await
            .map(|axum::Form(v)| Form(v))
            .map_err(|_| PageError::BadRequest)
    }
}

/// A query string; malformed → 400 page.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|_| PageError::BadRequest)
    }
}

/// A path parameter; a malformed id is simply a page that does not exist.
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|_| PageError::NotFound)
    }
}
