//! A patient's record (notes, diagnoses, allergies, medications, vitals) and
//! who accessed it. Read-only here; the API decides who may read (the patient
//! themselves; another patient gets its 403).

use std::collections::HashMap;

use axum::response::Response;
use platform::auth::Role;
use serde::Serialize;
use uuid::Uuid;

use super::Directory;
use crate::{
    api::{
        models::{AccessLogEntry, Page, RecordEntry, RecordKind},
        ApiRequest,
    },
    domain::{record, time},
    web::{see_other, CallError, Ctx, PageError, Path},
};

/// `/record`: the signed-in patient's own record.
pub async fn mine(ctx: Ctx) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    let id = ctx.user.patient_id.ok_or(PageError::Forbidden)?;
    Ok(see_other(&format!("/patients/{id}/record")))
}

#[derive(Serialize)]
struct Section {
    kind: &'static str,
    title: &'static str,
    entries: Vec<EntryRow>,
}

#[derive(Serialize)]
struct EntryRow {
    #[serde(flatten)]
    view: record::EntryView,
    author: String,
    written: String,
}

/// Who someone in the record or its log is, as the patient sees them.
async fn who(
    ctx: &mut Ctx,
    dir: &mut Directory,
    names: &mut HashMap<Uuid, String>,
    id: Uuid,
    role: &str,
) -> Result<String, CallError> {
    if Some(id) == ctx.user.patient_id || id == ctx.user.user_id {
        return Ok("You".to_owned());
    }
    if let Some(name) = names.get(&id) {
        return Ok(name.clone());
    }
    let name = match role {
        "provider" => dir
            .provider(ctx, id)
            .await?
            .map(|p| p.name)
            .unwrap_or_else(|| "A provider".to_owned()),
        "staff" => "Clinic staff".to_owned(),
        "admin" => "An administrator".to_owned(),
        "patient" => "A patient".to_owned(),
        _ => "Someone".to_owned(),
    };
    names.insert(id, name.clone());
    Ok(name)
}

pub async fn show(mut ctx: Ctx, Path(patient_id): Path<Uuid>) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    let mut dir = Directory::default();
    let mut names = HashMap::new();
    let mut sections = Vec::new();
    for kind in RecordKind::SHOWN {
        let page: Page<RecordEntry> = ctx
            .call(
                ApiRequest::get(format!(
                    "/api/v1/patients/{patient_id}/records/{}",
                    kind.segment()
                ))
                .query("limit", 100),
            )
            .await?;
        let mut entries = Vec::new();
        for e in &page.items {
            entries.push(EntryRow {
                view: record::view(kind, e),
                // Record entries are written by clinicians.
                author: who(&mut ctx, &mut dir, &mut names, e.author_id, "provider").await?,
                written: time::date_time(
                    e.created_at,
                    ctx.visit.viewer_tz.unwrap_or(chrono_tz::Tz::UTC),
                ),
            });
        }
        sections.push(Section {
            kind: kind.segment(),
            title: kind.title(),
            entries,
        });
    }
    Ok(ctx.render(
        "patient/record.html",
        crate::page! { sections, patient_id, zone => ctx.visit.viewer_tz.unwrap_or(chrono_tz::Tz::UTC).name() },
    ))
}

#[derive(Serialize)]
struct LogRow {
    at: String,
    who: String,
    what: String,
    outcome: String,
    break_glass: bool,
    /// For a grant, until when it lets the provider read; for an access it
    /// allowed, that it was one.
    note: Option<String>,
}

fn action_label(action: &str, kind: Option<&str>) -> String {
    let what = kind
        .map(|k| k.replace('_', " "))
        .unwrap_or_else(|| "record".to_owned());
    match action {
        "read" => format!("Viewed {what}"),
        "create" => format!("Added {what}"),
        "amend" => format!("Edited {what}"),
        "enter_in_error" => format!("Marked {what} as entered in error"),
        "break_glass" => "Emergency access (break-glass)".to_owned(),
        "read_access_log" => "Viewed this access log".to_owned(),
        "read_break_glass_reason" => {
            "Read the reason for an emergency access, to review it".to_owned()
        }
        "break_glass_review" => "Reviewed an emergency access".to_owned(),
        other => other.replace('_', " "),
    }
}

/// The result, with why when refused (records' reason codes).
fn outcome_label(outcome: &str, reason: Option<&str>) -> String {
    match outcome {
        "allowed" => "Allowed".to_owned(),
        "denied" => match reason {
            Some("no_care_relationship") => "Refused: no care relationship".to_owned(),
            Some("break_glass_expired") => "Refused: emergency access had ended".to_owned(),
            Some("break_glass_read_only") => "Refused: emergency access is read-only".to_owned(),
            Some("break_glass_limit") => "Refused: emergency access limit reached".to_owned(),
            _ => "Refused".to_owned(),
        },
        "not_found" => "Not found".to_owned(),
        _ => "Error".to_owned(),
    }
}

/// A break-glass grant that was given (a refused request grants nothing).
fn is_grant(e: &AccessLogEntry) -> bool {
    e.action == "break_glass" && e.outcome == "allowed"
}

pub async fn access_log(mut ctx: Ctx, Path(patient_id): Path<Uuid>) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    let page: Page<AccessLogEntry> = ctx
        .call(
            ApiRequest::get(format!("/api/v1/patients/{patient_id}/records/access-log"))
                .query("limit", 100),
        )
        .await?;
    let zone = ctx.visit.viewer_tz.unwrap_or(chrono_tz::Tz::UTC);
    let mut dir = Directory::default();
    let mut names = HashMap::new();
    let mut rows = Vec::new();
    for e in &page.items {
        let note = match (is_grant(e), e.expires_at) {
            (true, Some(until)) => {
                Some(format!("Read-only, until {}", time::date_time(until, zone)))
            }
            (false, _) if e.break_glass => Some("Under emergency access".to_owned()),
            _ => None,
        };
        rows.push(LogRow {
            at: time::date_time(e.at, zone),
            who: who(&mut ctx, &mut dir, &mut names, e.actor_id, &e.role).await?,
            what: action_label(&e.action, e.kind.as_deref()),
            outcome: outcome_label(&e.outcome, e.reason.as_deref()),
            break_glass: e.break_glass || e.action == "break_glass",
            note,
        });
    }
    let grants = page.items.iter().filter(|e| is_grant(e)).count();
    Ok(ctx.render(
        "patient/access_log.html",
        crate::page! { rows, patient_id, grants, zone => zone.name() },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_actions_read_as_plain_words() {
        assert_eq!(action_label("read", Some("note")), "Viewed note");
        assert_eq!(action_label("create", Some("vitals")), "Added vitals");
        assert_eq!(
            action_label("break_glass", None),
            "Emergency access (break-glass)"
        );
        assert_eq!(outcome_label("denied", None), "Refused");
        assert_eq!(
            outcome_label("denied", Some("break_glass_read_only")),
            "Refused: emergency access is read-only"
        );
        assert_eq!(
            action_label("break_glass_review", None),
            "Reviewed an emergency access"
        );
    }
}
