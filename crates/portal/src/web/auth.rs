//! Logging in and out, and patients registering. Login replaces the visitor's
//! session with a new one (a new id: an id planted before login is worthless),
//! holding the tokens the API issued; logout revokes the refresh token.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::Response,
};
use chrono::Utc;
use serde::Deserialize;

use super::{
    error::{safe_next, PageError},
    nav, see_other, Form, Query, Visit,
};
use crate::{
    api::{
        models::{Account, Credentials, RefreshToken, Registration, TokenPair},
        ApiError, ApiRequest,
    },
    domain::feedback::{self, Feedback},
    session::{cookie, SessionData, SignedIn, StoreError, Tokens},
    AppState,
};

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    /// Set after logout, to say so.
    bye: Option<String>,
}

/// `/`: the landing page, or the signed-in user's own start page.
pub async fn home(State(state): State<AppState>, visit: Visit) -> Response {
    if let Some(user) = visit.user() {
        let to = nav::home(user.role);
        if to != "/" {
            return see_other(to);
        }
    }
    visit.render(&state, StatusCode::OK, "home.html", crate::page! {})
}

pub async fn login_form(
    State(state): State<AppState>,
    visit: Visit,
    Query(q): Query<LoginQuery>,
) -> Response {
    if let Some(user) = visit.user() {
        return see_other(nav::home(user.role));
    }
    let feedback = match q.bye {
        Some(_) => Feedback::message("You have logged out."),
        None => Feedback::default(),
    };
    login_page(
        &state,
        &visit,
        StatusCode::OK,
        safe_next(q.next.as_deref()),
        "",
        feedback,
    )
}

fn login_page(
    state: &AppState,
    visit: &Visit,
    status: StatusCode,
    next: Option<String>,
    email: &str,
    feedback: Feedback,
) -> Response {
    visit.render(
        state,
        status,
        "login.html",
        crate::page! { next, email, feedback },
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    visit: Visit,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let next = safe_next(form.next.as_deref());
    match sign_in(
        &state,
        &visit,
        form.email.trim(),
        &form.password,
        next.clone(),
    )
    .await
    {
        Ok(response) => Ok(response),
        Err(SignInError::Api(e)) => {
            let status = failure_status(&e);
            let fb = feedback::from_api(&e).for_form(&[]);
            Ok(login_page(
                &state,
                &visit,
                status,
                next,
                form.email.trim(),
                fb,
            ))
        }
        Err(SignInError::Store(e)) => Err(e.into()),
    }
}

/// The status a failed form answers with: the API's client error, else 503.
fn failure_status(e: &ApiError) -> StatusCode {
    match e.status() {
        Some(s) if s.is_client_error() => s,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

enum SignInError {
    Api(ApiError),
    Store(StoreError),
}

impl From<ApiError> for SignInError {
    fn from(e: ApiError) -> Self {
        SignInError::Api(e)
    }
}

impl From<StoreError> for SignInError {
    fn from(e: StoreError) -> Self {
        SignInError::Store(e)
    }
}

/// Log in through the API, start a fresh session, and send the browser on.
async fn sign_in(
    state: &AppState,
    visit: &Visit,
    email: &str,
    password: &str,
    next: Option<String>,
) -> Result<Response, SignInError> {
    let login = ApiRequest::post("/api/v1/auth/login", &Credentials { email, password });
    let pair: TokenPair = state.api.json(&login, None, &visit.origin).await?;
    let me = ApiRequest::get("/api/v1/auth/me");
    let account: Account = state
        .api
        .json(&me, Some(&pair.access_token), &visit.origin)
        .await?;
    let now = Utc::now();
    let role = account.role;
    let user = SignedIn {
        user_id: account.id,
        name: account.name,
        email: account.email,
        role,
        patient_id: account.patient_id,
        provider_id: account.provider_id,
        tokens: Tokens::from_pair(&pair, now),
    };
    if let Some((old, _)) = &visit.session {
        state.sessions.delete(old).await?;
    }
    let id = state
        .sessions
        .create(&SessionData::signed_in(user, now))
        .await?;
    tracing::info!(user_id = %account.id, role = role.as_str(), "signed in to the portal");
    let to = next.unwrap_or_else(|| nav::home(role).to_owned());
    let mut response = see_other(&to);
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie::session(&id, state.secure_cookies),
    );
    Ok(response)
}

pub async fn register_form(State(state): State<AppState>, visit: Visit) -> Response {
    if let Some(user) = visit.user() {
        return see_other(nav::home(user.role));
    }
    register_page(&state, &visit, StatusCode::OK, "", "", Feedback::default())
}

fn register_page(
    state: &AppState,
    visit: &Visit,
    status: StatusCode,
    name: &str,
    email: &str,
    feedback: Feedback,
) -> Response {
    visit.render(
        state,
        status,
        "register.html",
        crate::page! { name, email, feedback },
    )
}

#[derive(Deserialize)]
pub struct RegisterForm {
    name: String,
    email: String,
    password: String,
}

/// Create a patient account, then log straight in.
pub async fn register(
    State(state): State<AppState>,
    visit: Visit,
    Form(form): Form<RegisterForm>,
) -> Result<Response, PageError> {
    let (name, email) = (form.name.trim(), form.email.trim());
    let req = ApiRequest::post(
        "/api/v1/auth/register",
        &Registration {
            email,
            password: &form.password,
            name,
        },
    );
    let created = state.api.send(&req, None, &visit.origin).await;
    let result = match created {
        Ok(_) => {
            sign_in(
                &state,
                &visit,
                email,
                &form.password,
                Some("/providers".to_owned()),
            )
            .await
        }
        Err(e) => Err(SignInError::Api(e)),
    };
    match result {
        Ok(response) => Ok(response),
        Err(SignInError::Api(e)) => {
            let fb = feedback::from_api(&e).for_form(&["name", "email", "password"]);
            Ok(register_page(
                &state,
                &visit,
                failure_status(&e),
                name,
                email,
                fb,
            ))
        }
        Err(SignInError::Store(e)) => Err(e.into()),
    }
}

/// Revoke the refresh token, end the session, forget the cookie.
pub async fn logout(State(state): State<AppState>, visit: Visit) -> Result<Response, PageError> {
    if let Some((id, data)) = &visit.session {
        if let Some(user) = &data.user {
            let req = ApiRequest::post(
                "/api/v1/auth/logout",
                &RefreshToken {
                    refresh_token: &user.tokens.refresh,
                },
            );
            // The session ends either way; an unrevoked token only lives out its lifetime.
            if let Err(e) = state.api.send(&req, None, &visit.origin).await {
                tracing::warn!(user_id = %user.user_id, error = %e, "refresh token not revoked at logout");
            }
        }
        state.sessions.delete(id).await?;
    }
    let mut response = see_other("/login?bye=1");
    response
        .headers_mut()
        .append(header::SET_COOKIE, cookie::cleared(state.secure_cookies));
    Ok(response)
}
