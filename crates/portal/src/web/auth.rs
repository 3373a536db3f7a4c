//! Logging in and out, and patients registering. Login replaces the visitor's
//! session with a new one (a new id: an id planted before login is worthless),
//! holding the tokens the API issued; logout revokes the refresh token.
//!
//! A login with a second factor has two steps: the password, then a code. The
//! API's step token between them stays in the visitor's session (in Redis,
//! encrypted), never in the page; an account that must have a second factor
//! and has none sets up an authenticator in between, with the same token.
//! Registering sends a confirmation link and says so, whether or not the
//! address already had an account (the API answers alike).

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::Response,
};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::{
    error::{safe_next, PageError},
    nav, see_other, Form, Query, Visit,
};
use crate::{
    api::{
        models::{
            Account, Credentials, Enrolment, LoginOutcome, MfaChallenge, MfaCode, MfaEnrol,
            MfaVerify, RecoveryCodes, RefreshToken, Registration, TokenPair,
        },
        ApiError, ApiRequest,
    },
    domain::{
        account,
        feedback::{self, Feedback},
        time,
    },
    session::{
        cookie, Flash, PendingLogin, SessionData, SessionId, SignedIn, StoreError, Tokens,
        TotpSetup,
    },
    AppState,
};

/// How long the second step may take when the API does not say (its default).
const STEP_SECONDS: i64 = 300;

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
        LoginView {
            next: safe_next(q.next.as_deref()),
            email: String::new(),
            unverified: false,
        },
        feedback,
    )
}

/// What the login page shows besides its feedback.
#[derive(Serialize)]
struct LoginView {
    next: Option<String>,
    email: String,
    /// The password was right but the address is unconfirmed: offer a new link.
    unverified: bool,
}

fn login_page(
    state: &AppState,
    visit: &Visit,
    status: StatusCode,
    view: LoginView,
    feedback: Feedback,
) -> Response {
    visit.render(
        state,
        status,
        "login.html",
        crate::page! { next => view.next, email => view.email, unverified => view.unverified, feedback },
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
    let email = form.email.trim();
    let request = ApiRequest::post(
        "/api/v1/auth/login",
        &Credentials {
            email,
            password: &form.password,
        },
    );
    let outcome: Result<LoginOutcome, ApiError> =
        state.api.json(&request, None, &visit.origin).await;
    let result = match outcome {
        Ok(LoginOutcome::Tokens(pair)) => start_session(&state, &visit, &pair, next.clone()).await,
        Ok(LoginOutcome::Mfa(challenge)) => {
            second_step(&state, &visit, challenge, next.clone()).await
        }
        Err(e) => Err(SignInError::Api(e)),
    };
    match result {
        Ok(response) => Ok(response),
        Err(SignInError::Api(e)) => {
            let unverified = e.code() == Some("email-unverified");
            let fb = feedback::from_api(&e).for_form(&[]);
            Ok(login_page(
                &state,
                &visit,
                failure_status(&e),
                LoginView {
                    next,
                    email: email.to_owned(),
                    unverified,
                },
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

/// Start a fresh session with the API's tokens, and send the browser on.
async fn start_session(
    state: &AppState,
    visit: &Visit,
    pair: &TokenPair,
    next: Option<String>,
) -> Result<Response, SignInError> {
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
        tokens: Tokens::from_pair(pair, now),
    };
    // The session before login (with any pending step) ends; nothing carries over.
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

/// The password was right and a second factor is due: keep the step token in
/// the visitor's session and ask for a code (or, for an account that must
/// have a second factor and has none, set one up first).
async fn second_step(
    state: &AppState,
    visit: &Visit,
    challenge: MfaChallenge,
    next: Option<String>,
) -> Result<Response, SignInError> {
    // The login form's CSRF check proved the visitor has a session.
    let Some((id, data)) = &visit.session else {
        return Err(SignInError::Store(StoreError::Unavailable));
    };
    let enrolment = if challenge.enrolment_required {
        let request = ApiRequest::post(
            "/api/v1/auth/mfa/totp",
            &MfaEnrol {
                mfa_token: Some(&challenge.mfa_token),
            },
        );
        let enrolment: Enrolment = state.api.json(&request, None, &visit.origin).await?;
        Some(TotpSetup {
            secret: enrolment.secret,
            otpauth_uri: enrolment.otpauth_uri,
        })
    } else {
        None
    };
    let seconds = match i64::try_from(challenge.expires_in) {
        Ok(s) if s > 0 => s,
        _ => STEP_SECONDS,
    };
    let to = if enrolment.is_some() {
        "/login/enrol"
    } else {
        "/login/code"
    };
    let mut data = data.clone();
    data.pending_login = Some(PendingLogin {
        mfa_token: challenge.mfa_token,
        expires_at: Utc::now() + chrono::Duration::seconds(seconds),
        next,
        enrolment,
    });
    state.sessions.save(id, &data).await?;
    Ok(see_other(to))
}

/// The visitor's login waiting for its second factor, with their session.
fn pending(visit: &Visit) -> Option<(&SessionId, &SessionData, &PendingLogin)> {
    let (id, data) = visit.session.as_ref()?;
    data.pending_login.as_ref().map(|p| (id, data, p))
}

/// Forget the pending step and send the visitor back to the login form with `why`.
async fn restart_login(state: &AppState, visit: &Visit, why: &str) -> Result<Response, PageError> {
    if let Some((id, data)) = &visit.session {
        let mut data = data.clone();
        data.pending_login = None;
        data.flash = Some(Flash::info(why));
        state.sessions.save(id, &data).await?;
    }
    Ok(see_other("/login"))
}

const STEP_EXPIRED: &str = "Your sign-in took too long. Please log in again.";

#[derive(Default, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// `/login/code`: the second step.
pub async fn code_form(State(state): State<AppState>, visit: Visit) -> Result<Response, PageError> {
    let Some((_, _, pending)) = pending(&visit) else {
        return Ok(see_other("/login"));
    };
    if pending.expired(Utc::now()) {
        return restart_login(&state, &visit, STEP_EXPIRED).await;
    }
    if pending.enrolment.is_some() {
        return Ok(see_other("/login/enrol"));
    }
    Ok(code_page(
        &state,
        &visit,
        StatusCode::OK,
        Feedback::default(),
    ))
}

fn code_page(state: &AppState, visit: &Visit, status: StatusCode, feedback: Feedback) -> Response {
    visit.render(state, status, "auth/code.html", crate::page! { feedback })
}

pub async fn code(
    State(state): State<AppState>,
    visit: Visit,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    let Some((_, _, pending)) = pending(&visit) else {
        return Ok(see_other("/login"));
    };
    if pending.expired(Utc::now()) {
        return restart_login(&state, &visit, STEP_EXPIRED).await;
    }
    let code = account::code(&form.code);
    if code.is_empty() {
        let fb = Feedback::message("Enter the code from your authenticator app.").field(
            "code",
            "Enter the six digits your app shows, or a recovery code.",
        );
        return Ok(code_page(
            &state,
            &visit,
            StatusCode::UNPROCESSABLE_ENTITY,
            fb,
        ));
    }
    let request = ApiRequest::post(
        "/api/v1/auth/mfa/verify",
        &MfaVerify {
            mfa_token: &pending.mfa_token,
            code: &code,
        },
    );
    let verified: Result<TokenPair, ApiError> = state.api.json(&request, None, &visit.origin).await;
    let result = match verified {
        Ok(pair) => start_session(&state, &visit, &pair, pending.next.clone()).await,
        Err(e) => Err(SignInError::Api(e)),
    };
    match result {
        Ok(response) => Ok(response),
        Err(SignInError::Api(e)) => match e.code() {
            Some("invalid-mfa-token") | Some("mfa-enrolment-required") => {
                restart_login(&state, &visit, STEP_EXPIRED).await
            }
            _ => Ok(code_page(
                &state,
                &visit,
                failure_status(&e),
                feedback::from_api(&e).for_form(&["code"]),
            )),
        },
        Err(SignInError::Store(e)) => Err(e.into()),
    }
}

/// A new authenticator's secret as a page shows it.
#[derive(Serialize)]
pub struct SetupView {
    /// In groups of four, for typing.
    pub grouped: String,
    pub secret: String,
    pub otpauth_uri: String,
}

impl SetupView {
    pub fn of(setup: &TotpSetup) -> Self {
        Self {
            grouped: account::grouped(&setup.secret),
            secret: setup.secret.clone(),
            otpauth_uri: setup.otpauth_uri.clone(),
        }
    }
}

/// `/login/enrol`: an account that must sign in with a second factor sets one up.
pub async fn enrol_form(
    State(state): State<AppState>,
    visit: Visit,
) -> Result<Response, PageError> {
    let Some((_, _, pending)) = pending(&visit) else {
        return Ok(see_other("/login"));
    };
    if pending.expired(Utc::now()) {
        return restart_login(&state, &visit, STEP_EXPIRED).await;
    }
    let Some(setup) = &pending.enrolment else {
        return Ok(see_other("/login/code"));
    };
    Ok(enrol_page(
        &state,
        &visit,
        StatusCode::OK,
        setup,
        Feedback::default(),
    ))
}

fn enrol_page(
    state: &AppState,
    visit: &Visit,
    status: StatusCode,
    setup: &TotpSetup,
    feedback: Feedback,
) -> Response {
    visit.render(
        state,
        status,
        "auth/enrol.html",
        crate::page! { setup => SetupView::of(setup), feedback },
    )
}

pub async fn enrol(
    State(state): State<AppState>,
    visit: Visit,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    let Some((id, data, pending)) = pending(&visit) else {
        return Ok(see_other("/login"));
    };
    if pending.expired(Utc::now()) {
        return restart_login(&state, &visit, STEP_EXPIRED).await;
    }
    let Some(setup) = &pending.enrolment else {
        return Ok(see_other("/login/code"));
    };
    let code = account::code(&form.code);
    if code.is_empty() {
        let fb = Feedback::message("Enter the code your app shows for Carebook.")
            .field("code", "Enter the six digits your app shows.");
        return Ok(enrol_page(
            &state,
            &visit,
            StatusCode::UNPROCESSABLE_ENTITY,
            setup,
            fb,
        ));
    }
    let request = ApiRequest::post(
        "/api/v1/auth/mfa/totp/confirm",
        &MfaCode {
            code: &code,
            mfa_token: Some(&pending.mfa_token),
        },
    );
    let confirmed: Result<RecoveryCodes, ApiError> =
        state.api.json(&request, None, &visit.origin).await;
    let enrolled = |data: &SessionData| {
        let mut data = data.clone();
        if let Some(p) = data.pending_login.as_mut() {
            p.enrolment = None;
        }
        data
    };
    match confirmed {
        Ok(codes) => {
            state.sessions.save(id, &enrolled(data)).await?;
            // Shown this once; the sign-in ends with the app's next code.
            Ok(visit.render(
                &state,
                StatusCode::OK,
                "auth/recovery_codes.html",
                crate::page! {
                    codes => codes.recovery_codes, during_login => true, feedback => Feedback::default(),
                },
            ))
        }
        Err(e) => match e.code() {
            Some("invalid-mfa-token") => restart_login(&state, &visit, STEP_EXPIRED).await,
            Some("mfa-already-enabled") => {
                state.sessions.save(id, &enrolled(data)).await?;
                Ok(see_other("/login/code"))
            }
            _ => Ok(enrol_page(
                &state,
                &visit,
                failure_status(&e),
                setup,
                feedback::from_api(&e).for_form(&["code"]),
            )),
        },
    }
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
    /// Filled in by `portal.js` from the browser (empty without scripts).
    #[serde(default)]
    time_zone: String,
}

/// Ask for a patient account; the answer is "check your email" whether or
/// not the address already had one (the API's 202 is the same).
pub async fn register(
    State(state): State<AppState>,
    visit: Visit,
    Form(form): Form<RegisterForm>,
) -> Result<Response, PageError> {
    let (name, email) = (form.name.trim(), form.email.trim());
    // The form's zone, else the one `portal.js` left in its cookie; a name the
    // portal does not know is left out rather than failing the registration.
    let time_zone = time::parse_zone(&form.time_zone)
        .or(visit.viewer_tz)
        .map(|tz| tz.name());
    let req = ApiRequest::post(
        "/api/v1/auth/register",
        &Registration {
            email,
            password: &form.password,
            name,
            time_zone,
        },
    );
    match state.api.send(&req, None, &visit.origin).await {
        Ok(_) => Ok(super::emailed::check_email(&state, &visit, email, false)),
        Err(e) => {
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
