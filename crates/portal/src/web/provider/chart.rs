//! A patient's chart as their provider works with it: entries by kind, adding
//! one, an entry's versions, amending it (a new version; If-Match so a
//! concurrent edit is not overwritten) and marking it entered in error.
//! Every page says what the provider's access rests on and when it ends
//! (records' `/records/access`). Without a care relationship the chart offers
//! break-glass: read-only emergency access for a chosen time, with a stated
//! reason, flagged in the audit and in the patient's access log, and reviewed
//! by an admin; under it the write forms are not offered.

use std::collections::HashMap;

use axum::{http::StatusCode, response::Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::me;
use crate::{
    api::{
        models::{
            AccessBasis, BreakGlassGrant, BreakGlassRequest, Page, Reason, RecordAccess,
            RecordEntry, RecordKind,
        },
        ApiError, ApiRequest,
    },
    domain::{
        access::{
            self, AccessView, BREAK_GLASS_MINUTES, DEFAULT_BREAK_GLASS_MINUTES,
            MIN_BREAK_GLASS_REASON,
        },
        chart::{self, FormValues, CLINICAL_STATUSES, SEVERITIES, VITALS},
        feedback::{self, Feedback},
        policy, record, time,
    },
    session::Flash,
    web::{
        patient::Directory,
        see_other,
        visits::{patient_reference, Patients},
        CallError, Ctx, Form, PageError, Path,
    },
};

fn records_path(patient_id: Uuid, kind: RecordKind) -> String {
    format!("/api/v1/patients/{patient_id}/records/{}", kind.segment())
}

fn chart_path(patient_id: Uuid) -> String {
    format!("/patients/{patient_id}/chart")
}

fn entry_path(patient_id: Uuid, kind: RecordKind, entry_id: Uuid) -> String {
    format!("/patients/{patient_id}/chart/{}/{entry_id}", kind.segment())
}

fn kind_of(segment: &str) -> Result<RecordKind, PageError> {
    chart::kind_from_segment(segment).ok_or(PageError::NotFound)
}

fn is_forbidden(e: &CallError) -> bool {
    matches!(e, CallError::Api(e) if e.status().is_some_and(|s| s.as_u16() == 403))
}

/// A refused write, said on the chart it returns to: under break-glass alone
/// records answers `care-relationship-required` (read-only); otherwise access
/// ended meanwhile.
async fn write_refused(ctx: &Ctx, e: &CallError, patient_id: Uuid) -> Result<Response, PageError> {
    let read_only = matches!(e, CallError::Api(e)
        if e.problem().is_some_and(|p| p.code() == "care-relationship-required"));
    let text = match e {
        CallError::Api(e) if read_only => feedback::from_api(e).message.unwrap_or_default(),
        _ => "Nothing was saved: you no longer have access to this record.".to_owned(),
    };
    ctx.flash(Flash::info(text)).await?;
    Ok(see_other(&chart_path(patient_id)))
}

/// What the provider's access to this patient's record rests on now.
async fn record_access(ctx: &mut Ctx, patient_id: Uuid) -> Result<RecordAccess, CallError> {
    ctx.get(format!("/api/v1/patients/{patient_id}/records/access"))
        .await
}

/// The access banner of the chart's pages, in the provider's zone.
async fn access_view(
    ctx: &mut Ctx,
    patient_id: Uuid,
    zone: chrono_tz::Tz,
) -> Result<AccessView, CallError> {
    let access = record_access(ctx, patient_id).await?;
    Ok(access::explain(&access, chrono::Utc::now(), zone))
}

/// A refusal a form can explain next to its fields.
fn form_refusal(e: &ApiError) -> bool {
    e.status()
        .is_some_and(|s| s.is_client_error() && !matches!(s.as_u16(), 401 | 403 | 404))
}

/// The form's posted fields, without the CSRF token.
fn posted(form: HashMap<String, String>) -> FormValues {
    form.into_iter()
        .filter(|(k, _)| k != "csrf_token")
        .collect()
}

/// An entry version as a list shows it.
#[derive(Serialize)]
struct EntryRow {
    id: Uuid,
    #[serde(flatten)]
    view: record::EntryView,
    author: String,
    written: String,
    href: String,
}

/// Who wrote an entry: the provider reading it, or a colleague from the directory.
async fn author(ctx: &mut Ctx, dir: &mut Directory, id: Uuid) -> Result<String, CallError> {
    if id == ctx.user.user_id {
        return Ok("You".to_owned());
    }
    Ok(dir
        .provider(ctx, id)
        .await?
        .map(|p| p.name)
        .unwrap_or_else(|| "A clinician".to_owned()))
}

async fn entry_row(
    ctx: &mut Ctx,
    dir: &mut Directory,
    patient_id: Uuid,
    kind: RecordKind,
    e: &RecordEntry,
    zone: chrono_tz::Tz,
) -> Result<EntryRow, CallError> {
    Ok(EntryRow {
        id: e.id,
        view: record::view(kind, e),
        author: author(ctx, dir, e.author_id).await?,
        written: time::date_time(e.created_at, zone),
        href: entry_path(patient_id, kind, e.id),
    })
}

#[derive(Serialize)]
struct Section {
    kind: &'static str,
    title: &'static str,
    noun: &'static str,
    entries: Vec<EntryRow>,
}

pub async fn show(mut ctx: Ctx, Path(patient_id): Path<Uuid>) -> Result<Response, PageError> {
    let (_, zone) = me(&mut ctx).await?;
    let access = access_view(&mut ctx, patient_id, zone).await?;
    if access.basis == AccessBasis::None {
        return break_glass_page(
            &mut ctx,
            patient_id,
            StatusCode::FORBIDDEN,
            &BreakGlassForm::default(),
            Feedback::default(),
        )
        .await;
    }
    let mut dir = Directory::default();
    let mut sections = Vec::new();
    for kind in RecordKind::SHOWN {
        let req = ApiRequest::get(records_path(patient_id, kind))
            .query("limit", 100)
            .query("include_entered_in_error", true);
        let page: Page<RecordEntry> = match ctx.call(req).await {
            Ok(page) => page,
            Err(e) if is_forbidden(&e) => {
                // Access ended between the two calls.
                return break_glass_page(
                    &mut ctx,
                    patient_id,
                    StatusCode::FORBIDDEN,
                    &BreakGlassForm::default(),
                    Feedback::default(),
                )
                .await;
            }
            Err(e) => return Err(e.into()),
        };
        let mut entries = Vec::new();
        for e in &page.items {
            entries.push(entry_row(&mut ctx, &mut dir, patient_id, kind, e, zone).await?);
        }
        sections.push(Section {
            kind: kind.segment(),
            title: kind.title(),
            noun: chart::a_noun(kind),
            entries,
        });
    }
    let summary = Patients::default().summary(&mut ctx, patient_id).await?;
    Ok(ctx.render(
        "provider/chart.html",
        crate::page! {
            sections, patient_id, access,
            patient => summary.as_ref().map_or_else(|| patient_reference(patient_id), |p| p.name.clone()),
            born => summary.and_then(|p| p.date_of_birth).map(time::birth_date),
            zone => zone.name(),
        },
    ))
}

/// The patient's name as the chart's pages head it (their reference when the
/// directory does not share it with this provider).
async fn patient_name(ctx: &mut Ctx, patient_id: Uuid) -> Result<String, CallError> {
    Patients::default().name(ctx, patient_id).await
}

async fn break_glass_page(
    ctx: &mut Ctx,
    patient_id: Uuid,
    status: StatusCode,
    form: &BreakGlassForm,
    feedback: Feedback,
) -> Result<Response, PageError> {
    let patient = patient_name(ctx, patient_id).await?;
    let durations: Vec<(String, &str)> = BREAK_GLASS_MINUTES
        .iter()
        .map(|(m, label)| (m.to_string(), *label))
        .collect();
    let minutes = match form.minutes.trim() {
        "" => DEFAULT_BREAK_GLASS_MINUTES.to_string(),
        typed => typed.to_owned(),
    };
    Ok(ctx.render_with(
        status,
        "provider/break_glass.html",
        crate::page! {
            patient_id, feedback, patient, durations, minutes,
            reason => form.reason.trim(),
            min_reason => MIN_BREAK_GLASS_REASON,
        },
    ))
}

#[derive(Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    reason: String,
}

/// The break-glass form: the emergency, and for how long.
#[derive(Default, Deserialize)]
pub struct BreakGlassForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    minutes: String,
}

pub async fn break_glass(
    mut ctx: Ctx,
    Path(patient_id): Path<Uuid>,
    Form(form): Form<BreakGlassForm>,
) -> Result<Response, PageError> {
    let (_, zone) = me(&mut ctx).await?;
    let reason = form.reason.trim();
    let minutes = access::parse_minutes(&form.minutes);
    let mut fb = Feedback::default();
    if reason.chars().count() < MIN_BREAK_GLASS_REASON {
        fb = fb.field(
            "reason",
            format!("At least {MIN_BREAK_GLASS_REASON} characters: what is the emergency?"),
        );
    }
    if let Err(message) = &minutes {
        fb = fb.field("minutes", message.clone());
    }
    let minutes = match minutes {
        Ok(m) if fb.is_empty() => m,
        _ => {
            let fb = Feedback {
                message: Some("Say why you need emergency access, and for how long.".to_owned()),
                ..fb
            };
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return break_glass_page(&mut ctx, patient_id, status, &form, fb).await;
        }
    };
    let req = ApiRequest::post(
        format!("/api/v1/patients/{patient_id}/records/break-glass"),
        &BreakGlassRequest { reason, minutes },
    );
    match ctx.call::<BreakGlassGrant>(req).await {
        Ok(grant) => {
            ctx.flash(Flash::success(format!(
                "Read-only emergency access granted for {}, until {}. Every view is flagged in the audit and in the patient's access log, the patient is told, and an administrator reviews it.",
                policy::duration_text(minutes),
                time::date_time(grant.expires_at, zone)
            )))
            .await?;
            Ok(see_other(&chart_path(patient_id)))
        }
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && s.as_u16() != 401) =>
        {
            let status = e.status().unwrap_or(StatusCode::FORBIDDEN);
            let fb = feedback::from_api(&e).for_form(&["reason", "minutes"]);
            break_glass_page(&mut ctx, patient_id, status, &form, fb).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The choices and vital signs every entry form may show.
#[derive(Serialize)]
struct FormChoices {
    severities: &'static [(&'static str, &'static str)],
    statuses: &'static [(&'static str, &'static str)],
    vitals: &'static [(&'static str, &'static str, &'static str)],
}

const CHOICES: FormChoices = FormChoices {
    severities: &SEVERITIES,
    statuses: &CLINICAL_STATUSES,
    vitals: &VITALS,
};

async fn new_entry_page(
    ctx: &mut Ctx,
    patient_id: Uuid,
    kind: RecordKind,
    values: &FormValues,
    feedback: Feedback,
    status: StatusCode,
    zone: chrono_tz::Tz,
) -> Result<Response, PageError> {
    let patient = patient_name(ctx, patient_id).await?;
    Ok(ctx.render_with(
        status,
        "provider/entry_new.html",
        crate::page! {
            patient_id, values, feedback, patient,
            choices => CHOICES,
            kind => kind.segment(),
            noun => chart::a_noun(kind),
            title => kind.title(),
            zone => zone.name(),
        },
    ))
}

pub async fn new_entry(
    mut ctx: Ctx,
    Path((patient_id, segment)): Path<(Uuid, String)>,
) -> Result<Response, PageError> {
    let kind = kind_of(&segment)?;
    let (_, zone) = me(&mut ctx).await?;
    let access = access_view(&mut ctx, patient_id, zone).await?;
    if !access.writable {
        if access.basis == AccessBasis::BreakGlass {
            ctx.flash(Flash::info(
                "Emergency access is read-only: adding to the record needs a care relationship.",
            ))
            .await?;
        }
        return Ok(see_other(&chart_path(patient_id)));
    }
    let values = chart::defaults(kind, chrono::Utc::now(), zone);
    new_entry_page(
        &mut ctx,
        patient_id,
        kind,
        &values,
        Feedback::default(),
        StatusCode::OK,
        zone,
    )
    .await
}

/// What the API said about a form of `kind`, each message next to its field.
fn form_feedback(e: &ApiError, kind: RecordKind, form: &FormValues) -> Feedback {
    feedback::from_api_mapped(e, |path| chart::form_field(kind, path, form))
        .for_form(chart::field_names(kind))
}

pub async fn create(
    mut ctx: Ctx,
    Path((patient_id, segment)): Path<(Uuid, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let kind = kind_of(&segment)?;
    let (_, zone) = me(&mut ctx).await?;
    let form = posted(form);
    let body = match chart::body(kind, &form, zone) {
        Ok(body) => body,
        Err(fb) => {
            return new_entry_page(
                &mut ctx,
                patient_id,
                kind,
                &form,
                fb,
                StatusCode::UNPROCESSABLE_ENTITY,
                zone,
            )
            .await;
        }
    };
    let req = ApiRequest::post(records_path(patient_id, kind), &body);
    match ctx.call::<RecordEntry>(req).await {
        Ok(_) => {
            ctx.flash(Flash::success(format!(
                "{} added to the record.",
                capitalised(chart::noun(kind))
            )))
            .await?;
            Ok(see_other(&format!(
                "{}#{}",
                chart_path(patient_id),
                kind.segment()
            )))
        }
        Err(CallError::Api(e)) if form_refusal(&e) => {
            let status = e.status().unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let fb = form_feedback(&e, kind, &form);
            new_entry_page(&mut ctx, patient_id, kind, &form, fb, status, zone).await
        }
        // Read-only or ended meanwhile: the chart says so (and offers break-glass).
        Err(e) if is_forbidden(&e) => write_refused(&ctx, &e, patient_id).await,
        Err(e) => Err(e.into()),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// What the entry page shows besides the entry: the typed amendment (after a
/// refusal) and the messages for each of its two forms.
#[derive(Default)]
struct EntryPageState {
    typed: Option<FormValues>,
    amend: Feedback,
    in_error: Feedback,
    reason: String,
}

async fn entry_page(
    ctx: &mut Ctx,
    patient_id: Uuid,
    kind: RecordKind,
    entry_id: Uuid,
    state: EntryPageState,
    status: StatusCode,
) -> Result<Response, PageError> {
    let (_, zone) = me(ctx).await?;
    let path = format!("{}/{entry_id}", records_path(patient_id, kind));
    let latest: RecordEntry = match ctx.get(path.clone()).await {
        Ok(e) => e,
        Err(e) if is_forbidden(&e) => return Ok(see_other(&chart_path(patient_id))),
        Err(e) => return Err(e.into()),
    };
    let history: Page<RecordEntry> = ctx.get(format!("{path}/history")).await?;
    let mut dir = Directory::default();
    let current = entry_row(ctx, &mut dir, patient_id, kind, &latest, zone).await?;
    let mut versions = Vec::new();
    for v in history.items.iter().rev() {
        versions.push(entry_row(ctx, &mut dir, patient_id, kind, v, zone).await?);
    }
    let values = state
        .typed
        .unwrap_or_else(|| chart::values(kind, &latest.data, zone));
    let patient = patient_name(ctx, patient_id).await?;
    let access = access_view(ctx, patient_id, zone).await?;
    Ok(ctx.render_with(
        status,
        "provider/entry.html",
        crate::page! {
            patient_id, current, versions, values, access,
            feedback => state.amend,
            error_feedback => state.in_error,
            reason => state.reason,
            choices => CHOICES,
            version => latest.version,
            entered_in_error => latest.status == "entered_in_error",
            patient,
            kind => kind.segment(),
            title => kind.title(),
            zone => zone.name(),
        },
    ))
}

pub async fn entry(
    mut ctx: Ctx,
    Path((patient_id, segment, entry_id)): Path<(Uuid, String, Uuid)>,
) -> Result<Response, PageError> {
    let kind = kind_of(&segment)?;
    entry_page(
        &mut ctx,
        patient_id,
        kind,
        entry_id,
        EntryPageState::default(),
        StatusCode::OK,
    )
    .await
}

pub async fn amend(
    mut ctx: Ctx,
    Path((patient_id, segment, entry_id)): Path<(Uuid, String, Uuid)>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let kind = kind_of(&segment)?;
    let (_, zone) = me(&mut ctx).await?;
    let mut form = posted(form);
    let version = form
        .remove("version")
        .and_then(|v| v.trim().parse::<i32>().ok())
        .ok_or(PageError::BadRequest)?;
    let refused = |typed: Option<FormValues>, amend: Feedback| EntryPageState {
        typed,
        amend,
        ..Default::default()
    };
    let body = match chart::body(kind, &form, zone) {
        Ok(body) => body,
        Err(fb) => {
            let state = refused(Some(form), fb);
            return entry_page(
                &mut ctx,
                patient_id,
                kind,
                entry_id,
                state,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let req = ApiRequest::put(
        format!("{}/{entry_id}", records_path(patient_id, kind)),
        &body,
    )
    .if_match(version);
    match ctx.call::<RecordEntry>(req).await {
        Ok(e) => {
            ctx.flash(Flash::success(format!(
                "Saved as version {}. Earlier versions stay in the history.",
                e.version
            )))
            .await?;
            Ok(see_other(&entry_path(patient_id, kind, entry_id)))
        }
        Err(CallError::Api(e)) if form_refusal(&e) => {
            let status = e.status().unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            // Someone else's newer version: show it, not what was typed over the old one.
            let stale = matches!(status.as_u16(), 409 | 412);
            let fb = form_feedback(&e, kind, &form);
            let state = refused((!stale).then_some(form), fb);
            entry_page(&mut ctx, patient_id, kind, entry_id, state, status).await
        }
        Err(e) if is_forbidden(&e) => write_refused(&ctx, &e, patient_id).await,
        Err(e) => Err(e.into()),
    }
}

pub async fn enter_in_error(
    mut ctx: Ctx,
    Path((patient_id, segment, entry_id)): Path<(Uuid, String, Uuid)>,
    Form(form): Form<ReasonForm>,
) -> Result<Response, PageError> {
    let kind = kind_of(&segment)?;
    me(&mut ctx).await?;
    let reason = form.reason.trim();
    let refused = |fb: Feedback| EntryPageState {
        in_error: fb,
        reason: reason.to_owned(),
        ..Default::default()
    };
    if reason.is_empty() {
        let fb = Feedback::message("Say why the entry is wrong.")
            .field("reason", "Say why the entry is wrong.");
        return entry_page(
            &mut ctx,
            patient_id,
            kind,
            entry_id,
            refused(fb),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let req = ApiRequest::post(
        format!(
            "{}/{entry_id}/entered-in-error",
            records_path(patient_id, kind)
        ),
        &Reason { reason },
    );
    match ctx.call::<RecordEntry>(req).await {
        Ok(_) => {
            ctx.flash(Flash::success(
                "Marked as entered in error. It stays in the record, struck through.",
            ))
            .await?;
            Ok(see_other(&entry_path(patient_id, kind, entry_id)))
        }
        Err(CallError::Api(e)) if form_refusal(&e) => {
            let status = e.status().unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let fb = feedback::from_api(&e).for_form(&["reason"]);
            entry_page(&mut ctx, patient_id, kind, entry_id, refused(fb), status).await
        }
        Err(e) if is_forbidden(&e) => write_refused(&ctx, &e, patient_id).await,
        Err(e) => Err(e.into()),
    }
}
