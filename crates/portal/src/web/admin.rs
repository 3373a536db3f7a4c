//! The admin's page: create provider and staff accounts (patients register
//! themselves).

use axum::{http::StatusCode, response::Response, routing::get, Router};
use platform::auth::Role;
use serde::Deserialize;

use super::{see_other, CallError, Ctx, Form, PageError};
use crate::{
    api::{
        models::{Account, NewAccount},
        ApiRequest,
    },
    domain::feedback::{self, Feedback},
    session::Flash,
    AppState,
};

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/users", get(new_account).post(create_account))
}

/// The roles an admin creates here, with their labels.
const ROLES: &[(&str, &str)] = &[("provider", "Provider"), ("staff", "Front-desk staff")];

fn page(ctx: &Ctx, status: StatusCode, form: &AccountForm, feedback: Feedback) -> Response {
    ctx.render_with(
        status,
        "admin/users.html",
        crate::page! {
            roles => ROLES, feedback,
            name => form.name.trim(), email => form.email.trim(), role => form.role.trim(),
        },
    )
}

pub async fn new_account(ctx: Ctx) -> Result<Response, PageError> {
    ctx.require(&[Role::Admin])?;
    Ok(page(
        &ctx,
        StatusCode::OK,
        &AccountForm::default(),
        Feedback::default(),
    ))
}

#[derive(Default, Deserialize)]
pub struct AccountForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
}

pub async fn create_account(
    mut ctx: Ctx,
    Form(form): Form<AccountForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Admin])?;
    let Some(role) = ROLES
        .iter()
        .find(|(r, _)| *r == form.role.trim())
        .and_then(|(r, _)| r.parse::<Role>().ok())
    else {
        let fb = Feedback::message("Choose the kind of account.")
            .field("role", "Choose provider or staff.");
        return Ok(page(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &form, fb));
    };
    let req = ApiRequest::post(
        "/api/v1/admin/users",
        &NewAccount {
            email: form.email.trim(),
            password: &form.password,
            name: form.name.trim(),
            role,
        },
    );
    match ctx.call::<Account>(req).await {
        Ok(account) => {
            let label = ROLES
                .iter()
                .find(|(r, _)| *r == role.as_str())
                .map_or("", |(_, l)| l);
            ctx.flash(Flash::success(format!(
                "{label} account created for {} ({}).",
                account.name, account.email
            )))
            .await?;
            Ok(see_other("/admin/users"))
        }
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && s.as_u16() != 401) =>
        {
            let status = e.status().unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let fb = feedback::from_api(&e).for_form(&["name", "email", "password", "role"]);
            Ok(page(&ctx, status, &form, fb))
        }
        Err(e) => Err(e.into()),
    }
}
