//! Every signed-in user's own account: change the password, see where they
//! are signed in and sign other sessions out, and turn the authenticator app
//! (two-step sign-in) on or off; a patient also sets the time zone their
//! emails and reminders are written in (kept in their directory profile).
//!
//! Changing the password signs out every other session; the API keeps the
//! one whose token asks (the portal's own), so the user stays signed in here.

use axum::{http::StatusCode, response::Response, routing::get, routing::post, Router};
use chrono_tz::Tz;
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{auth::SetupView, see_other, CallError, Ctx, Form, PageError, Path};
use crate::{
    api::{
        models::{
            Account, Enrolment, MfaCode, MfaEnrol, PasswordChange, PatientDetails, RecoveryCodes,
            SessionInfo, SessionList,
        },
        ApiError, ApiRequest,
    },
    domain::{
        account,
        feedback::{self, Feedback},
        time,
    },
    session::{Flash, TotpSetup},
    AppState,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account", get(show))
        .route("/account/password", post(change_password))
        .route("/account/time-zone", post(change_time_zone))
        .route("/account/sessions/{id}/sign-out", post(sign_out_one))
        .route("/account/sessions/sign-out-others", post(sign_out_others))
        .route("/account/totp", get(setup_form).post(start_setup))
        .route("/account/totp/confirm", post(confirm_setup))
        .route("/account/totp/disable", post(turn_off))
}

/// A session as the account page lists it.
#[derive(Serialize)]
struct SessionRow {
    id: Uuid,
    device: String,
    network: Option<String>,
    signed_in: String,
    last_used: String,
    ends: String,
    current: bool,
}

fn session_row(s: &SessionInfo, tz: Tz) -> SessionRow {
    SessionRow {
        id: s.id,
        device: account::device(s.user_agent.as_deref()),
        network: s.network.clone(),
        signed_in: time::date_time(s.created_at, tz),
        last_used: time::date_time(s.last_used_at, tz),
        ends: time::date(s.expires_at, tz),
        current: s.current,
    }
}

/// The feedback of each form on the page (one is shown at a time).
#[derive(Default)]
struct Forms {
    password: Feedback,
    totp: Feedback,
    time_zone: Feedback,
    /// The zone as entered, shown again when it was refused.
    time_zone_entered: Option<String>,
}

/// What the time-zone form shows a patient.
#[derive(Serialize)]
struct ZoneView {
    /// The zone in the profile (`None`: not set).
    current: Option<String>,
    /// The value of the input: what was entered, else the current zone.
    value: String,
    /// The browser's zone, offered when it differs from the current one.
    browser: Option<&'static str>,
}

const ROLE_LABELS: &[(&str, &str)] = &[
    ("patient", "Patient"),
    ("provider", "Provider"),
    ("staff", "Front-desk staff"),
    ("admin", "Administrator"),
];

async fn page(ctx: &mut Ctx, status: StatusCode, forms: Forms) -> Result<Response, PageError> {
    let me: Account = ctx.get("/api/v1/auth/me").await?;
    let sessions: SessionList = ctx.get("/api/v1/auth/sessions").await?;
    let tz = ctx.visit.viewer_tz.unwrap_or(Tz::UTC);
    let rows: Vec<SessionRow> = sessions.items.iter().map(|s| session_row(s, tz)).collect();
    let others = rows.iter().filter(|s| !s.current).count();
    let role = ROLE_LABELS
        .iter()
        .find(|(r, _)| *r == me.role.as_str())
        .map_or(me.role.as_str(), |(_, l)| l);
    let patient_zone = if me.role == Role::Patient {
        let details: PatientDetails = ctx.get("/api/v1/patients/me").await?;
        let browser = ctx
            .visit
            .viewer_tz
            .map(|z| z.name())
            .filter(|b| details.time_zone.as_deref() != Some(*b));
        Some(ZoneView {
            value: forms
                .time_zone_entered
                .or_else(|| details.time_zone.clone())
                .unwrap_or_default(),
            current: details.time_zone,
            browser,
        })
    } else {
        None
    };
    Ok(ctx.render_with(
        status,
        "account/index.html",
        crate::page! {
            name => me.name, email => me.email, role, mfa_enabled => me.mfa_enabled,
            sessions => rows, others, zone => tz.name(), patient_zone,
            password_feedback => forms.password, totp_feedback => forms.totp,
            time_zone_feedback => forms.time_zone,
        },
    ))
}

/// `/account`.
pub async fn show(mut ctx: Ctx) -> Result<Response, PageError> {
    page(&mut ctx, StatusCode::OK, Forms::default()).await
}

/// A client error of the API for a form on this page, or the page error it is.
fn refused(e: CallError) -> Result<ApiError, PageError> {
    match e {
        CallError::Api(e) if e.status().is_some_and(|s| s.is_client_error()) => Ok(e),
        other => Err(other.into()),
    }
}

fn status_of(e: &ApiError) -> StatusCode {
    e.status().unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    repeat_password: String,
}

pub async fn change_password(
    mut ctx: Ctx,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    if let Err(why) = account::repeated(&form.new_password, &form.repeat_password) {
        let fb = Feedback::message("Please correct the highlighted fields.")
            .field("repeat_password", why);
        return page(
            &mut ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            Forms {
                password: fb,
                ..Forms::default()
            },
        )
        .await;
    }
    let req = ApiRequest::post(
        "/api/v1/auth/password",
        &PasswordChange {
            current_password: &form.current_password,
            new_password: &form.new_password,
        },
    );
    match ctx.call_for_effect(req).await {
        Ok(()) => {
            ctx.flash(Flash::success(
                "Your password has been changed. Every other session of your account was signed out.",
            ))
            .await?;
            Ok(see_other("/account"))
        }
        Err(e) => {
            let e = refused(e)?;
            let mut fb = feedback::from_api(&e).for_form(&["current_password", "new_password"]);
            if e.code() == Some("invalid-current-password") {
                fb.fields.insert(
                    "current_password".to_owned(),
                    "This is not your current password.".to_owned(),
                );
            }
            let status = status_of(&e);
            page(
                &mut ctx,
                status,
                Forms {
                    password: fb,
                    ..Forms::default()
                },
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct TimeZoneForm {
    #[serde(default)]
    time_zone: String,
}

/// `POST /account/time-zone`: a patient sets (or, left empty, clears) their
/// time zone. The directory checks the name; its refusal is shown on the form.
pub async fn change_time_zone(
    mut ctx: Ctx,
    Form(form): Form<TimeZoneForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    let mut details: PatientDetails = ctx.get("/api/v1/patients/me").await?;
    let wanted = form.time_zone.trim();
    details.time_zone = (!wanted.is_empty()).then(|| wanted.to_owned());
    let req = ApiRequest::put("/api/v1/patients/me", &details);
    match ctx.call_for_effect(req).await {
        Ok(()) => {
            let said = match &details.time_zone {
                Some(zone) => format!("Your time zone is now {zone}."),
                None => "Your time zone was cleared.".to_owned(),
            };
            ctx.flash(Flash::success(said)).await?;
            Ok(see_other("/account"))
        }
        Err(e) => {
            let e = refused(e)?;
            let status = status_of(&e);
            page(
                &mut ctx,
                status,
                Forms {
                    time_zone: feedback::from_api(&e).for_form(&["time_zone"]),
                    time_zone_entered: Some(wanted.to_owned()),
                    ..Forms::default()
                },
            )
            .await
        }
    }
}

pub async fn sign_out_one(mut ctx: Ctx, Path(id): Path<Uuid>) -> Result<Response, PageError> {
    let req = ApiRequest::delete(format!("/api/v1/auth/sessions/{id}"));
    let flash = match ctx.call_for_effect(req).await {
        Ok(()) => Flash::success("That session was signed out."),
        Err(CallError::Api(e)) if e.status().is_some_and(|s| s.as_u16() == 404) => {
            Flash::info("That session had already ended.")
        }
        Err(e) => return Err(e.into()),
    };
    ctx.flash(flash).await?;
    Ok(see_other("/account"))
}

pub async fn sign_out_others(mut ctx: Ctx) -> Result<Response, PageError> {
    ctx.call_for_effect(ApiRequest::delete("/api/v1/auth/sessions"))
        .await?;
    ctx.flash(Flash::success(
        "Every other session was signed out. This one stays signed in.",
    ))
    .await?;
    Ok(see_other("/account"))
}

/// `POST /account/totp`: start setting up an authenticator app.
pub async fn start_setup(mut ctx: Ctx) -> Result<Response, PageError> {
    let req = ApiRequest::post("/api/v1/auth/mfa/totp", &MfaEnrol { mfa_token: None });
    match ctx.call::<Enrolment>(req).await {
        Ok(enrolment) => {
            ctx.edit_session(|data| {
                data.totp_setup = Some(TotpSetup {
                    secret: enrolment.secret,
                    otpauth_uri: enrolment.otpauth_uri,
                });
            })
            .await?;
            Ok(see_other("/account/totp"))
        }
        Err(CallError::Api(e)) if e.code() == Some("mfa-already-enabled") => {
            ctx.flash(Flash::info("Two-step sign-in is on already."))
                .await?;
            Ok(see_other("/account"))
        }
        Err(e) => Err(e.into()),
    }
}

fn setup_page(ctx: &Ctx, status: StatusCode, setup: &TotpSetup, feedback: Feedback) -> Response {
    ctx.render_with(
        status,
        "account/totp.html",
        crate::page! { setup => SetupView::of(setup), feedback },
    )
}

/// The authenticator being set up, if any.
fn pending_setup(ctx: &Ctx) -> Option<TotpSetup> {
    ctx.visit
        .session
        .as_ref()
        .and_then(|(_, d)| d.totp_setup.clone())
}

/// `GET /account/totp`: the new secret and the confirmation form.
pub async fn setup_form(ctx: Ctx) -> Result<Response, PageError> {
    match pending_setup(&ctx) {
        Some(setup) => Ok(setup_page(
            &ctx,
            StatusCode::OK,
            &setup,
            Feedback::default(),
        )),
        None => Ok(see_other("/account")),
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// `POST /account/totp/confirm`: a code from the app turns it on; the
/// recovery codes are shown this once.
pub async fn confirm_setup(
    mut ctx: Ctx,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    let Some(setup) = pending_setup(&ctx) else {
        return Ok(see_other("/account"));
    };
    let code = account::code(&form.code);
    if code.is_empty() {
        let fb = Feedback::message("Enter the code your app shows for Carebook.")
            .field("code", "Enter the six digits your app shows.");
        return Ok(setup_page(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            &setup,
            fb,
        ));
    }
    let req = ApiRequest::post(
        "/api/v1/auth/mfa/totp/confirm",
        &MfaCode {
            code: &code,
            mfa_token: None,
        },
    );
    match ctx.call::<RecoveryCodes>(req).await {
        Ok(codes) => {
            ctx.edit_session(|data| data.totp_setup = None).await?;
            tracing::info!(user_id = %ctx.user.user_id, "two-step sign-in turned on in the portal");
            Ok(ctx.render(
                "auth/recovery_codes.html",
                crate::page! {
                    codes => codes.recovery_codes, during_login => false, feedback => Feedback::default(),
                },
            ))
        }
        Err(CallError::Api(e))
            if matches!(e.code(), Some("mfa-already-enabled" | "mfa-not-enabled")) =>
        {
            ctx.edit_session(|data| data.totp_setup = None).await?;
            ctx.flash(Flash::info(
                "That setup is no longer pending. The page shows where two-step sign-in stands.",
            ))
            .await?;
            Ok(see_other("/account"))
        }
        Err(e) => {
            let e = refused(e)?;
            Ok(setup_page(
                &ctx,
                status_of(&e),
                &setup,
                feedback::from_api(&e).for_form(&["code"]),
            ))
        }
    }
}

/// `POST /account/totp/disable`: turn the app off with one of its codes.
pub async fn turn_off(mut ctx: Ctx, Form(form): Form<CodeForm>) -> Result<Response, PageError> {
    let code = account::code(&form.code);
    if code.is_empty() {
        let fb = Feedback::message("Enter a code from your app to turn it off.").field(
            "code",
            "Enter the six digits your app shows, or a recovery code.",
        );
        return page(
            &mut ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            Forms {
                totp: fb,
                ..Forms::default()
            },
        )
        .await;
    }
    let req = ApiRequest::delete_with(
        "/api/v1/auth/mfa/totp",
        &MfaCode {
            code: &code,
            mfa_token: None,
        },
    );
    match ctx.call_for_effect(req).await {
        Ok(()) => {
            ctx.flash(Flash::success(
                "Two-step sign-in is off. You sign in with your password alone.",
            ))
            .await?;
            Ok(see_other("/account"))
        }
        Err(e) => {
            let e = refused(e)?;
            let status = status_of(&e);
            page(
                &mut ctx,
                status,
                Forms {
                    totp: feedback::from_api(&e).for_form(&["code"]),
                    ..Forms::default()
                },
            )
            .await
        }
    }
}
