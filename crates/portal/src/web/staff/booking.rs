//! Booking for a patient at the front desk: choose the patient (from those
//! the clinic has seen lately, or by their patient id: the API has no patient
//! search) and the provider, then the appointment type, then a free slot.
//! Each slot button carries its own Idempotency-Key, as on the patients' page.

use std::collections::BTreeSet;

use axum::{http::StatusCode, response::Response};
use chrono::{DateTime, Duration, Utc};
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    api::{
        models::{Appointment, BookingFor, Page, PatientCard, Provider},
        ApiError, ApiRequest,
    },
    domain::{
        feedback::{self, Feedback},
        time,
    },
    session::Flash,
    web::{
        patient::{
            booking::{slot_week, WeekOf},
            zone_of, Directory, TypeView,
        },
        see_other,
        visits::{appointments_between, Patients},
        CallError, Ctx, Form, PageError, Path, Query,
    },
};

/// How far back and ahead "patients seen lately" looks.
const RECENT_DAYS: i64 = 60;
/// At most this many of them in the list.
const RECENT_MAX: usize = 100;

#[derive(Deserialize)]
pub struct StartQuery {
    #[serde(default)]
    patient_id: String,
    /// A patient id typed in, which wins over the list's choice.
    #[serde(default)]
    patient_ref: String,
    #[serde(default)]
    provider_id: String,
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
}

/// The patients with an appointment in the last or next two months, by name.
async fn recent_patients(ctx: &mut Ctx) -> Result<Vec<Choice>, CallError> {
    let now = Utc::now();
    let appointments = appointments_between(
        ctx,
        now - Duration::days(RECENT_DAYS),
        now + Duration::days(RECENT_DAYS),
        None,
    )
    .await?;
    let ids: BTreeSet<Uuid> = appointments.iter().map(|a| a.patient_id).collect();
    let mut names = Patients::default();
    let mut choices = Vec::new();
    for id in ids.into_iter().take(RECENT_MAX) {
        choices.push(Choice {
            value: id.to_string(),
            label: names.name(ctx, id).await?,
        });
    }
    choices.sort_by_key(|c| c.label.to_lowercase());
    Ok(choices)
}

/// The patient the form names, or the message to show next to the field.
async fn chosen_patient(ctx: &mut Ctx, q: &StartQuery) -> Result<Option<PatientCard>, Feedback> {
    let typed = q.patient_ref.trim();
    let (raw, field) = if typed.is_empty() {
        (q.patient_id.trim(), "patient_id")
    } else {
        (typed, "patient_ref")
    };
    if raw.is_empty() {
        return Ok(None);
    }
    let not_found = || Feedback::default().field(field, "No patient has this id.");
    let Ok(id) = raw.parse::<Uuid>() else {
        return Err(Feedback::default().field(
            field,
            "Enter the full patient id, like 018f0000-0000-7000-8000-000000000021.",
        ));
    };
    match ctx
        .get::<PatientCard>(format!("/api/v1/patients/{id}"))
        .await
    {
        Ok(p) => Ok(Some(p)),
        Err(CallError::Api(e)) if e.status().is_some_and(|s| s.as_u16() == 404) => Err(not_found()),
        Err(_) => Err(Feedback::default().field(
            field,
            "We could not look this patient up just now. Please try again.",
        )),
    }
}

pub async fn start(mut ctx: Ctx, Query(q): Query<StartQuery>) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let providers: Page<Provider> = ctx
        .call(ApiRequest::get("/api/v1/providers").query("limit", 100))
        .await?;
    let mut fb = Feedback::default();
    let patient = match chosen_patient(&mut ctx, &q).await {
        Ok(p) => p,
        Err(e) => {
            fb.fields.extend(e.fields);
            None
        }
    };
    let provider = match q.provider_id.trim() {
        "" => None,
        raw => {
            let found = providers.items.iter().find(|p| p.id.to_string() == raw);
            if found.is_none() {
                fb = fb.field("provider_id", "Choose a provider from the list.");
            }
            found.cloned()
        }
    };
    let asked = !q.patient_id.trim().is_empty()
        || !q.patient_ref.trim().is_empty()
        || !q.provider_id.trim().is_empty();
    if asked && patient.is_none() && !fb.fields.contains_key("patient_ref") {
        fb.fields
            .entry("patient_id".to_owned())
            .or_insert_with(|| "Choose the patient, or type their patient id below.".to_owned());
    }
    if asked && provider.is_none() {
        fb.fields
            .entry("provider_id".to_owned())
            .or_insert_with(|| "Choose a provider.".to_owned());
    }
    let types: Vec<TypeView> = match (&patient, &provider) {
        (Some(_), Some(p)) => Directory::default()
            .types(&mut ctx, p.id)
            .await?
            .iter()
            .map(TypeView::from)
            .collect(),
        _ => Vec::new(),
    };
    if !fb.fields.is_empty() {
        fb.message = Some("Please correct the highlighted fields.".to_owned());
    }
    let status = if fb.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let patients = recent_patients(&mut ctx).await?;
    let provider_choices: Vec<Choice> = providers
        .items
        .iter()
        .map(|p| Choice {
            value: p.id.to_string(),
            label: format!("{} ({})", p.name, p.specialty),
        })
        .collect();
    Ok(ctx.render_with(
        status,
        "staff/book.html",
        crate::page! {
            patients, types, feedback => fb,
            providers => provider_choices,
            patient_id => patient.as_ref().map(|p| p.id.to_string()).unwrap_or_else(|| q.patient_id.trim().to_owned()),
            patient_ref => q.patient_ref.trim(),
            provider_id => q.provider_id.trim(),
            patient => patient.as_ref().map(|p| format!("{} ({})", p.name, p.email)),
            patient_uuid => patient.as_ref().map(|p| p.id),
            provider => provider.as_ref().map(|p| p.name.clone()),
            provider_uuid => provider.as_ref().map(|p| p.id),
        },
    ))
}

#[derive(Deserialize)]
pub struct WeekQuery {
    week: Option<String>,
}

async fn week_page(
    ctx: &mut Ctx,
    (patient_id, provider_id, type_id): (Uuid, Uuid, Uuid),
    week_of: WeekOf,
    feedback: Feedback,
    status: StatusCode,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let patient: PatientCard = ctx.get(format!("/api/v1/patients/{patient_id}")).await?;
    let mut dir = Directory::default();
    let provider = dir
        .provider(ctx, provider_id)
        .await?
        .ok_or(PageError::NotFound)?;
    let kind = dir
        .type_of(ctx, provider_id, type_id)
        .await?
        .ok_or(PageError::NotFound)?;
    let base = format!("/bookings/{patient_id}/{provider_id}/{type_id}");
    let week_param = week_of.param(&provider);
    let week = slot_week(
        ctx,
        &provider,
        type_id,
        kind.horizon_days,
        week_param.as_deref(),
        &base,
    )
    .await?;
    Ok(ctx.render_with(
        status,
        "staff/book_week.html",
        crate::page! {
            week, feedback, patient_id, provider_id,
            patient => patient.name,
            provider => provider.name,
            kind => TypeView::from(&kind),
            back => format!("/bookings?patient_id={patient_id}&provider_id={provider_id}"),
        },
    ))
}

pub async fn week(
    mut ctx: Ctx,
    Path(ids): Path<(Uuid, Uuid, Uuid)>,
    Query(q): Query<WeekQuery>,
) -> Result<Response, PageError> {
    week_page(
        &mut ctx,
        ids,
        WeekOf::Param(q.week),
        Feedback::default(),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
pub struct BookForm {
    patient_id: Uuid,
    provider_id: Uuid,
    appointment_type_id: Uuid,
    start: DateTime<Utc>,
    idempotency_key: Uuid,
}

/// The API's refusal as the desk reads it: "the patient", not "you".
fn desk_feedback(e: &ApiError) -> Feedback {
    let fb = feedback::from_api(e).for_form(&[]);
    match e.problem().map(|p| p.code()) {
        Some("patient-double-booked") => {
            Feedback::message("The patient already has an appointment at that time.")
        }
        _ => fb,
    }
}

pub async fn book(mut ctx: Ctx, Form(form): Form<BookForm>) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let req = ApiRequest::post(
        "/api/v1/appointments",
        &BookingFor {
            provider_id: form.provider_id,
            appointment_type_id: form.appointment_type_id,
            start: form.start,
            patient_id: form.patient_id,
        },
    )
    .idempotency_key(form.idempotency_key.to_string());
    match ctx.call::<Appointment>(req).await {
        Ok(a) => {
            let provider = Directory::default()
                .provider(&mut ctx, a.provider_id)
                .await?;
            let zone = provider.as_ref().map(zone_of).unwrap_or(chrono_tz::Tz::UTC);
            ctx.flash(Flash::success(format!(
                "Booked for {}. The patient gets a confirmation email.",
                time::span(a.start, a.end, zone)
            )))
            .await?;
            Ok(see_other(&format!("/clinic/appointments/{}", a.id)))
        }
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && s.as_u16() != 401) =>
        {
            let status = e.status().unwrap_or(StatusCode::CONFLICT);
            week_page(
                &mut ctx,
                (form.patient_id, form.provider_id, form.appointment_type_id),
                WeekOf::Slot(form.start),
                desk_feedback(&e),
                status,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
