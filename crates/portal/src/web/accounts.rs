//! The admin's account list: find accounts by name or email, page through
//! them, and disable or enable one with a reason (kept in the audit log). A
//! disabled account is signed out everywhere and cannot sign in.

use std::collections::BTreeMap;

use axum::{http::StatusCode, response::Response, routing::get, routing::post, Router};
use chrono_tz::Tz;
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{see_other, CallError, Ctx, Form, PageError, Path, Query};
use crate::{
    api::{
        models::{AdminUser, Page, Reason},
        ApiRequest,
    },
    domain::{
        account,
        feedback::{self, Feedback},
        time,
    },
    session::Flash,
    AppState,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/accounts", get(list))
        .route("/admin/accounts/{id}/{action}", post(change))
}

/// Accounts per page.
const PAGE_SIZE: u32 = 25;

#[derive(Clone, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: String,
}

impl ListQuery {
    /// `/admin/accounts?…` for this search at `cursor` (the first page without one).
    fn href(&self, cursor: Option<&str>) -> String {
        let mut params: Vec<(&str, &str)> = Vec::new();
        if !self.q.trim().is_empty() {
            params.push(("q", self.q.trim()));
        }
        if let Some(c) = cursor.filter(|c| !c.is_empty()) {
            params.push(("cursor", c));
        }
        if params.is_empty() {
            return "/admin/accounts".to_owned();
        }
        let query = serde_urlencoded::to_string(&params).unwrap_or_default();
        format!("/admin/accounts?{query}")
    }
}

#[derive(Serialize)]
struct Row {
    id: Uuid,
    name: String,
    email: String,
    role: &'static str,
    verified: bool,
    disabled: bool,
    mfa_enabled: bool,
    created: String,
    /// The signed-in admin's own account (it cannot be disabled here).
    me: bool,
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Patient => "Patient",
        Role::Provider => "Provider",
        Role::Staff => "Front-desk staff",
        Role::Admin => "Administrator",
    }
}

/// A form on one row that was refused, to show there.
struct RowProblem {
    id: Uuid,
    reason: String,
    feedback: Feedback,
}

async fn page(
    ctx: &mut Ctx,
    status: StatusCode,
    q: &ListQuery,
    problem: Option<RowProblem>,
) -> Result<Response, PageError> {
    let req = ApiRequest::get("/api/v1/admin/users")
        .query("q", q.q.trim())
        .query("cursor", &q.cursor)
        .query("limit", PAGE_SIZE);
    let (found, search_feedback) = match ctx.call::<Page<AdminUser>>(req).await {
        Ok(found) => (found, Feedback::default()),
        Err(CallError::Api(e)) if e.status().is_some_and(|s| s.is_client_error()) => {
            let fb = if e.code() == Some("invalid-cursor") {
                Feedback::message(
                    "That page of the list is no longer valid. Start from the first page.",
                )
            } else {
                feedback::from_api(&e).for_form(&["q"])
            };
            (
                Page {
                    items: Vec::new(),
                    next_cursor: None,
                },
                fb,
            )
        }
        Err(e) => return Err(e.into()),
    };
    let tz = ctx.visit.viewer_tz.unwrap_or(Tz::UTC);
    let me = ctx.user.user_id;
    let rows: Vec<Row> = found
        .items
        .iter()
        .map(|u| Row {
            id: u.id,
            name: u.name.clone(),
            email: u.email.clone(),
            role: role_label(u.role),
            verified: u.verified,
            disabled: u.disabled,
            mfa_enabled: u.mfa_enabled,
            created: time::date(u.created_at, tz),
            me: u.id == me,
        })
        .collect();
    let next = found.next_cursor.as_deref().map(|c| q.href(Some(c)));
    let first = (!q.cursor.is_empty()).then(|| q.href(None));
    let (problem_id, problem_reason, problem_feedback) = match problem {
        Some(p) => (Some(p.id), p.reason, p.feedback),
        None => (None, String::new(), Feedback::default()),
    };
    let row_errors: BTreeMap<String, String> = problem_id
        .map(|id| {
            let text = problem_feedback
                .fields
                .get("reason")
                .cloned()
                .or(problem_feedback.message.clone())
                .unwrap_or_default();
            BTreeMap::from([(id.to_string(), text)])
        })
        .unwrap_or_default();
    Ok(ctx.render_with(
        status,
        "admin/accounts.html",
        crate::page! {
            rows, q => q.q.trim(), cursor => q.cursor.as_str(), next, first,
            feedback => search_feedback, row_errors, problem_reason,
        },
    ))
}

/// `/admin/accounts?q=…&cursor=…`.
pub async fn list(mut ctx: Ctx, Query(q): Query<ListQuery>) -> Result<Response, PageError> {
    ctx.require(&[Role::Admin])?;
    page(&mut ctx, StatusCode::OK, &q, None).await
}

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    reason: String,
    /// The list the form was on, to return to.
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: String,
}

/// `POST /admin/accounts/{id}/disable|enable`.
pub async fn change(
    mut ctx: Ctx,
    Path((id, action)): Path<(Uuid, String)>,
    Form(form): Form<ChangeForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Admin])?;
    let disable = match action.as_str() {
        "disable" => true,
        "enable" => false,
        _ => return Err(PageError::NotFound),
    };
    let back = ListQuery {
        q: form.q.clone(),
        cursor: form.cursor.clone(),
    };
    let reason = match account::reason(&form.reason) {
        Ok(reason) => reason,
        Err(why) => {
            let problem = RowProblem {
                id,
                reason: form.reason.clone(),
                feedback: Feedback::message(why).field("reason", why),
            };
            return page(
                &mut ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                &back,
                Some(problem),
            )
            .await;
        }
    };
    let req = ApiRequest::post(
        format!("/api/v1/admin/users/{id}/{action}"),
        &Reason { reason },
    );
    match ctx.call::<AdminUser>(req).await {
        Ok(user) => {
            let text = if disable {
                format!(
                    "{} ({}) is disabled and signed out everywhere.",
                    user.name, user.email
                )
            } else {
                format!(
                    "{} ({}) is enabled again and can log in.",
                    user.name, user.email
                )
            };
            ctx.flash(Flash::success(text)).await?;
            Ok(see_other(&back.href(Some(&back.cursor))))
        }
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && s.as_u16() != 401 && s.as_u16() != 404) =>
        {
            let status = e.status().unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let problem = RowProblem {
                id,
                reason: form.reason.clone(),
                feedback: feedback::from_api(&e).for_form(&["reason"]),
            };
            page(&mut ctx, status, &back, Some(problem)).await
        }
        Err(e) => Err(e.into()),
    }
}
