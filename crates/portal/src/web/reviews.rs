//! The admins' break-glass review queue: every emergency access a provider
//! took to a record outside their care, with the reason they gave, unreviewed
//! first; a review (justified or unjustified, with a note) is final, and
//! reviewed grants show their verdict, reviewer and time. Records audits
//! every read of a reason and every review.

use axum::{
    http::StatusCode,
    response::Response,
    routing::{get, post},
    Router,
};
use chrono_tz::Tz;
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    patient::Directory, see_other, visits::Patients, CallError, Ctx, Form, PageError, Path, Query,
};
use crate::{
    api::{
        models::{BreakGlassItem, Page, ReviewOutcome, ReviewRequest},
        ApiRequest,
    },
    domain::{
        access::minutes_left,
        feedback::{self, Feedback},
        policy::duration_text,
        time,
    },
    session::Flash,
    AppState,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/break-glass", get(queue))
        .route("/admin/break-glass/{id}/review", post(review))
}

/// Which grants the queue lists (records' `status` filter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Filter {
    Unreviewed,
    Reviewed,
    All,
}

impl Filter {
    const ALL: [Filter; 3] = [Filter::Unreviewed, Filter::Reviewed, Filter::All];

    /// Unknown or missing: the unreviewed ones, the queue's point.
    fn parse(s: Option<&str>) -> Self {
        Self::ALL
            .into_iter()
            .find(|f| Some(f.as_str()) == s)
            .unwrap_or(Filter::Unreviewed)
    }

    fn as_str(self) -> &'static str {
        match self {
            Filter::Unreviewed => "unreviewed",
            Filter::Reviewed => "reviewed",
            Filter::All => "all",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Filter::Unreviewed => "To review",
            Filter::Reviewed => "Reviewed",
            Filter::All => "All",
        }
    }

    fn href(self) -> String {
        format!("/admin/break-glass?status={}", self.as_str())
    }
}

#[derive(Serialize)]
struct FilterLink {
    href: String,
    label: &'static str,
    current: bool,
}

/// A review as the queue shows it.
#[derive(Serialize)]
struct ReviewView {
    outcome: ReviewOutcome,
    outcome_label: &'static str,
    note: String,
    reviewer: String,
    at: String,
}

/// One grant in the queue.
#[derive(Serialize)]
struct ItemView {
    id: Uuid,
    provider: String,
    patient: String,
    patient_id: Uuid,
    granted: String,
    until: String,
    /// "30 minutes"
    duration: String,
    /// Still running: minutes left.
    minutes_left: Option<i64>,
    reason: String,
    review: Option<ReviewView>,
}

/// The grants of a page, unreviewed first (newest first within each, as
/// records lists them).
fn unreviewed_first(mut items: Vec<BreakGlassItem>) -> Vec<BreakGlassItem> {
    items.sort_by_key(|i| i.review.is_some());
    items
}

/// Who reviewed: the signed-in admin, or another one (reviewers are admins).
fn reviewer_name(reviewer: Uuid, me: Uuid, my_name: &str) -> String {
    if reviewer == me {
        format!("You ({my_name})")
    } else {
        let hex = reviewer.simple().to_string();
        format!("Administrator #{}", &hex[hex.len() - 6..])
    }
}

async fn item_view(
    ctx: &mut Ctx,
    (dir, patients): (&mut Directory, &mut Patients),
    i: BreakGlassItem,
    zone: Tz,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ItemView, CallError> {
    let provider = dir
        .provider(ctx, i.provider_id)
        .await?
        .map_or_else(|| "A provider".to_owned(), |p| p.name);
    let patient = patients.name(ctx, i.patient_id).await?;
    let review = i.review.map(|r| ReviewView {
        outcome: r.outcome,
        outcome_label: r.outcome.label(),
        note: r.note,
        reviewer: reviewer_name(r.reviewed_by, ctx.user.user_id, &ctx.user.name),
        at: time::date_time(r.reviewed_at, zone),
    });
    Ok(ItemView {
        id: i.id,
        provider,
        patient,
        patient_id: i.patient_id,
        granted: time::date_time(i.granted_at, zone),
        until: time::date_time(i.expires_at, zone),
        duration: duration_text((i.expires_at - i.granted_at).num_minutes()),
        minutes_left: (i.expires_at > now).then(|| minutes_left(i.expires_at, now)),
        reason: i.reason,
        review,
    })
}

/// A review form sent back with a problem: which grant's, and what was typed.
#[derive(Default, Serialize)]
struct Typed {
    id: Option<Uuid>,
    outcome: String,
    note: String,
    feedback: Feedback,
}

async fn page(
    ctx: &mut Ctx,
    filter: Filter,
    cursor: Option<&str>,
    typed: Typed,
    status: StatusCode,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Admin])?;
    let mut req = ApiRequest::get("/api/v1/records/break-glass")
        .query("status", filter.as_str())
        .query("limit", 50);
    if let Some(c) = cursor {
        req = req.query("cursor", c);
    }
    let queue: Page<BreakGlassItem> = ctx.call(req).await?;
    let zone = ctx.visit.viewer_tz.unwrap_or(Tz::UTC);
    let now = chrono::Utc::now();
    let (mut dir, mut patients) = (Directory::default(), Patients::default());
    let mut items = Vec::new();
    for i in unreviewed_first(queue.items) {
        items.push(item_view(ctx, (&mut dir, &mut patients), i, zone, now).await?);
    }
    let filters: Vec<FilterLink> = Filter::ALL
        .into_iter()
        .map(|f| FilterLink {
            href: f.href(),
            label: f.label(),
            current: f == filter,
        })
        .collect();
    let more = queue.next_cursor.map(|c| {
        let query = serde_urlencoded::to_string([("status", filter.as_str()), ("cursor", &c)])
            .unwrap_or_default();
        format!("/admin/break-glass?{query}")
    });
    Ok(ctx.render_with(
        status,
        "admin/break_glass.html",
        crate::page! {
            items, filters, more, typed,
            filter => filter.as_str(),
            zone => zone.name(),
        },
    ))
}

#[derive(Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// `GET /admin/break-glass?status=unreviewed|reviewed|all`.
pub async fn queue(mut ctx: Ctx, Query(q): Query<QueueQuery>) -> Result<Response, PageError> {
    let filter = Filter::parse(q.status.as_deref());
    let cursor = q.cursor.as_deref().filter(|c| !c.is_empty());
    page(&mut ctx, filter, cursor, Typed::default(), StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct ReviewForm {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    note: String,
    /// The filter to come back to.
    #[serde(default)]
    status: Option<String>,
}

/// Longest note records keeps (characters).
const MAX_NOTE: usize = 2000;

/// The verdict and note as records takes them, or what to say next to the fields.
fn checked(form: &ReviewForm) -> Result<(ReviewOutcome, &str), Feedback> {
    let outcome = ReviewOutcome::parse(form.outcome.trim());
    let note = form.note.trim();
    let mut fb = Feedback::default();
    if outcome.is_none() {
        fb = fb.field("outcome", "Choose justified or unjustified.");
    }
    match note.chars().count() {
        0 => fb = fb.field("note", "Say what the review found."),
        n if n > MAX_NOTE => fb = fb.field("note", format!("At most {MAX_NOTE} characters.")),
        _ => {}
    }
    match outcome {
        Some(o) if fb.is_empty() => Ok((o, note)),
        _ => Err(Feedback {
            message: Some("Please correct the highlighted fields.".to_owned()),
            ..fb
        }),
    }
}

/// `POST /admin/break-glass/{id}/review`: record the verdict, once.
pub async fn review(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<ReviewForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Admin])?;
    let filter = Filter::parse(form.status.as_deref());
    let typed = |feedback: Feedback| Typed {
        id: Some(id),
        outcome: form.outcome.trim().to_owned(),
        note: form.note.trim().to_owned(),
        feedback,
    };
    let (outcome, note) = match checked(&form) {
        Ok(checked) => checked,
        Err(fb) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return page(&mut ctx, filter, None, typed(fb), status).await;
        }
    };
    let req = ApiRequest::post(
        format!("/api/v1/records/break-glass/{id}/review"),
        &ReviewRequest { outcome, note },
    );
    match ctx.call::<BreakGlassItem>(req).await {
        Ok(_) => {
            ctx.flash(Flash::success(format!(
                "Review recorded: {}. It is final and in the audit log.",
                outcome.label().to_lowercase()
            )))
            .await?;
            Ok(see_other(&filter.href()))
        }
        Err(CallError::Api(e)) if e.status().is_some_and(|s| s.as_u16() == 409) => {
            let text = feedback::from_api(&e).message.unwrap_or_default();
            ctx.flash(Flash::info(text)).await?;
            Ok(see_other(&Filter::Reviewed.href()))
        }
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && !matches!(s.as_u16(), 401 | 403 | 404)) =>
        {
            let status = e.status().unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let fb = feedback::from_api(&e).for_form(&["outcome", "note"]);
            page(&mut ctx, filter, None, typed(fb), status).await
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::BreakGlassReview;

    fn item(n: u128, reviewed: bool) -> BreakGlassItem {
        let at = "2026-05-04T09:00:00Z".parse().unwrap();
        BreakGlassItem {
            id: Uuid::from_u128(n),
            patient_id: Uuid::nil(),
            provider_id: Uuid::nil(),
            granted_at: at,
            expires_at: at + chrono::Duration::minutes(30),
            reason: "Collapsed in the waiting room".into(),
            review: reviewed.then(|| BreakGlassReview {
                outcome: ReviewOutcome::Justified,
                note: "Fine".into(),
                reviewed_by: Uuid::nil(),
                reviewed_at: at,
            }),
        }
    }

    #[test]
    fn unreviewed_grants_come_first_in_their_order() {
        let sorted = unreviewed_first(vec![
            item(1, true),
            item(2, false),
            item(3, true),
            item(4, false),
        ]);
        let ids: Vec<u128> = sorted.iter().map(|i| i.id.as_u128()).collect();
        assert_eq!(ids, [2, 4, 1, 3]);
    }

    #[test]
    fn the_filter_defaults_to_what_needs_review() {
        assert_eq!(Filter::parse(None), Filter::Unreviewed);
        assert_eq!(Filter::parse(Some("all")), Filter::All);
        assert_eq!(Filter::parse(Some("everything")), Filter::Unreviewed);
    }

    #[test]
    fn a_review_needs_a_verdict_and_a_note() {
        let form = |outcome: &str, note: &str| ReviewForm {
            outcome: outcome.into(),
            note: note.into(),
            status: None,
        };
        assert_eq!(
            checked(&form("unjustified", "  No emergency.  ")),
            Ok((ReviewOutcome::Unjustified, "No emergency."))
        );
        let fb = checked(&form("maybe", "")).unwrap_err();
        assert_eq!(
            fb.fields.keys().map(String::as_str).collect::<Vec<_>>(),
            ["note", "outcome"]
        );
        assert!(checked(&form("justified", &"x".repeat(MAX_NOTE + 1))).is_err());
    }

    #[test]
    fn the_reviewer_is_named_when_it_is_you() {
        let me = Uuid::from_u128(7);
        assert_eq!(reviewer_name(me, me, "Ada Admin"), "You (Ada Admin)");
        assert_eq!(
            reviewer_name(Uuid::from_u128(0xabcdef), me, "Ada Admin"),
            "Administrator #abcdef"
        );
    }
}
