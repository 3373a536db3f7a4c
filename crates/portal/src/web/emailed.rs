//! The pages the emailed links open, and the forms that send those emails:
//! confirming an address (and asking for a new link), and resetting a
//! forgotten password.
//!
//! A link's token is single use, and mail scanners fetch links before people
//! do: opening a link (GET) only shows a button, and the token is spent by
//! pressing it (POST). Whatever the address, the answer to "send me a link"
//! is the same sentence, as the API's is. Tokens arrive in query strings: the
//! portal's request log records paths only (see `crate::router`).

use axum::{extract::State, http::header, http::StatusCode, response::Response};
use serde::Deserialize;

use super::{Form, PageError, Query, Visit};
use crate::{
    api::{
        models::{EmailAddress, LinkToken, ResetConfirm},
        ApiError, ApiRequest,
    },
    domain::{
        account,
        feedback::{self, Feedback},
    },
    session::cookie,
    AppState,
};

/// The status a failed form answers with: the API's client error, else 503.
fn failure_status(e: &ApiError) -> StatusCode {
    match e.status() {
        Some(s) if s.is_client_error() => s,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// "Check your email", after registering (`resent`: after asking for a new link).
pub fn check_email(state: &AppState, visit: &Visit, email: &str, resent: bool) -> Response {
    visit.render(
        state,
        StatusCode::OK,
        "auth/check_email.html",
        crate::page! { email, resent },
    )
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: Option<String>,
}

/// The link's token, if it looks like one at all.
fn token_of(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 512)
        .map(str::to_owned)
}

/// What the verification page shows: the confirm button (with the link's
/// token), or why not and a form for a new link.
fn verify_page(
    state: &AppState,
    visit: &Visit,
    status: StatusCode,
    token: Option<String>,
    email: &str,
    feedback: Feedback,
) -> Response {
    visit.render(
        state,
        status,
        "auth/verify_email.html",
        crate::page! { token, email, feedback },
    )
}

/// `GET /verify-email?token=…`: the emailed link. Spends nothing.
pub async fn verify_form(
    State(state): State<AppState>,
    visit: Visit,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = token_of(q.token.as_deref());
    let feedback = match token {
        Some(_) => Feedback::default(),
        None => Feedback::message(
            "This link is incomplete. Open the link from the email again, or ask for a new one below.",
        ),
    };
    verify_page(&state, &visit, StatusCode::OK, token, "", feedback)
}

#[derive(Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    token: String,
}

/// `POST /verify-email`: "Confirm my email" pressed.
pub async fn verify(
    State(state): State<AppState>,
    visit: Visit,
    Form(form): Form<VerifyForm>,
) -> Response {
    let Some(token) = token_of(Some(&form.token)) else {
        return verify_page(
            &state,
            &visit,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            "",
            Feedback::message("This link is incomplete. Ask for a new one below."),
        );
    };
    let request = ApiRequest::post("/api/v1/auth/verify-email", &LinkToken { token: &token });
    match state.api.send(&request, None, &visit.origin).await {
        Ok(_) => visit.render(
            &state,
            StatusCode::OK,
            "auth/verified.html",
            crate::page! {},
        ),
        Err(e) if failure_status(&e).is_client_error() => {
            let mut fb = feedback::from_api(&e).for_form(&[]);
            if e.code() == Some("invalid-token") {
                fb.message = fb.message.map(|m| {
                    format!("{m} If you have confirmed your address already, just log in; otherwise ask for a new link below.")
                });
            }
            verify_page(&state, &visit, failure_status(&e), None, "", fb)
        }
        // Nothing was spent: the same button works once the API is back.
        Err(e) => verify_page(
            &state,
            &visit,
            StatusCode::SERVICE_UNAVAILABLE,
            Some(token),
            "",
            feedback::from_api(&e),
        ),
    }
}

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
}

/// `POST /verify-email/resend`: a new confirmation link, if the address has an
/// account waiting for one (the answer never says whether it has).
pub async fn resend(
    State(state): State<AppState>,
    visit: Visit,
    Form(form): Form<EmailForm>,
) -> Response {
    let email = form.email.trim();
    if email.is_empty() {
        let fb = Feedback::message("Enter the email address you registered with.")
            .field("email", "Enter your email address.");
        return verify_page(
            &state,
            &visit,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            "",
            fb,
        );
    }
    let request = ApiRequest::post("/api/v1/auth/verify-email/resend", &EmailAddress { email });
    match state.api.send(&request, None, &visit.origin).await {
        Ok(_) => check_email(&state, &visit, email, true),
        Err(e) => verify_page(
            &state,
            &visit,
            failure_status(&e),
            None,
            email,
            feedback::from_api(&e).for_form(&["email"]),
        ),
    }
}

fn reset_page(
    state: &AppState,
    visit: &Visit,
    status: StatusCode,
    email: &str,
    sent: bool,
    feedback: Feedback,
) -> Response {
    visit.render(
        state,
        status,
        "auth/password_reset.html",
        crate::page! { email, sent, feedback },
    )
}

/// `GET /password-reset`: ask for a reset link.
pub async fn reset_form(State(state): State<AppState>, visit: Visit) -> Response {
    reset_page(
        &state,
        &visit,
        StatusCode::OK,
        "",
        false,
        Feedback::default(),
    )
}

/// `POST /password-reset`: always "if an account exists, we sent a link".
pub async fn reset(
    State(state): State<AppState>,
    visit: Visit,
    Form(form): Form<EmailForm>,
) -> Response {
    let email = form.email.trim();
    if email.is_empty() {
        let fb = Feedback::message("Enter the email address of your account.")
            .field("email", "Enter your email address.");
        return reset_page(
            &state,
            &visit,
            StatusCode::UNPROCESSABLE_ENTITY,
            email,
            false,
            fb,
        );
    }
    let request = ApiRequest::post("/api/v1/auth/password-reset", &EmailAddress { email });
    match state.api.send(&request, None, &visit.origin).await {
        Ok(_) => reset_page(
            &state,
            &visit,
            StatusCode::OK,
            email,
            true,
            Feedback::default(),
        ),
        Err(e) => reset_page(
            &state,
            &visit,
            failure_status(&e),
            email,
            false,
            feedback::from_api(&e).for_form(&["email"]),
        ),
    }
}

fn new_password_page(
    state: &AppState,
    visit: &Visit,
    status: StatusCode,
    token: Option<String>,
    feedback: Feedback,
) -> Response {
    visit.render(
        state,
        status,
        "auth/password_reset_confirm.html",
        crate::page! { token, feedback },
    )
}

/// `GET /password-reset/confirm?token=…`: the emailed link; a form for the new password.
pub async fn new_password_form(
    State(state): State<AppState>,
    visit: Visit,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = token_of(q.token.as_deref());
    let feedback = match token {
        Some(_) => Feedback::default(),
        None => Feedback::message(
            "This link is incomplete. Open the link from the email again, or ask for a new one.",
        ),
    };
    new_password_page(&state, &visit, StatusCode::OK, token, feedback)
}

#[derive(Deserialize)]
pub struct NewPasswordForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    repeat_password: String,
}

/// `POST /password-reset/confirm`: set the new password. The API signs the
/// account out everywhere, this browser included.
pub async fn new_password(
    State(state): State<AppState>,
    visit: Visit,
    Form(form): Form<NewPasswordForm>,
) -> Result<Response, PageError> {
    let Some(token) = token_of(Some(&form.token)) else {
        return Ok(new_password_page(
            &state,
            &visit,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Feedback::message("This link is incomplete. Ask for a new one."),
        ));
    };
    if let Err(why) = account::repeated(&form.new_password, &form.repeat_password) {
        let fb = Feedback::message("Please correct the highlighted fields.")
            .field("repeat_password", why);
        return Ok(new_password_page(
            &state,
            &visit,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(token),
            fb,
        ));
    }
    let request = ApiRequest::post(
        "/api/v1/auth/password-reset/confirm",
        &ResetConfirm {
            token: &token,
            new_password: &form.new_password,
        },
    );
    match state.api.send(&request, None, &visit.origin).await {
        Ok(_) => {
            // Every session of the account ended: if this browser was signed in, so does it here.
            let mut shown = visit.clone();
            let signed_out = match &visit.session {
                Some((id, data)) if data.user.is_some() => {
                    state.sessions.delete(id).await?;
                    shown.session = None;
                    true
                }
                _ => false,
            };
            let mut response = shown.render(
                &state,
                StatusCode::OK,
                "auth/password_reset_done.html",
                crate::page! {},
            );
            if signed_out {
                response
                    .headers_mut()
                    .append(header::SET_COOKIE, cookie::cleared(state.secure_cookies));
            }
            Ok(response)
        }
        // A spent or expired link: the form is no use any more.
        Err(e) if e.code() == Some("invalid-token") => Ok(new_password_page(
            &state,
            &visit,
            failure_status(&e),
            None,
            feedback::from_api(&e),
        )),
        Err(e) => Ok(new_password_page(
            &state,
            &visit,
            failure_status(&e),
            Some(token),
            feedback::from_api(&e).for_form(&["new_password"]),
        )),
    }
}
