//! Booking for a patient at the front desk: find the patient by name or
//! email (the directory's search), choose the provider, then the appointment
//! type, then a free slot, which is held for the patient while the desk
//! confirms (as on the patients' pages, see [`crate::web::hold`]).

use axum::{http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    api::{
        models::{Appointment, BookingFor, Hold, Page, PatientSummary, Provider},
        ApiError, ApiRequest,
    },
    domain::{
        feedback::{self, Feedback},
        hold::HoldState,
        series::{self, RepeatForm},
        time,
    },
    session::Flash,
    web::{
        hold::{self as holding, HoldView, SlotChoice},
        patient::{
            booking::{slot_week, WeekOf},
            zone_of, Directory, TypeView,
        },
        see_other,
        visits::Patients,
        CallError, Ctx, Form, PageError, Path, Query,
    },
};

/// Patients shown per page of search results.
const RESULTS_PER_PAGE: u32 = 20;

#[derive(Deserialize)]
pub struct StartQuery {
    /// Words of the patient's name or email.
    #[serde(default)]
    q: String,
    /// Where the next page of results starts.
    #[serde(default)]
    cursor: String,
    /// The patient chosen from the results.
    #[serde(default)]
    patient_id: String,
    #[serde(default)]
    provider_id: String,
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
}

/// One patient the search found, with the link that chooses them.
#[derive(Serialize)]
struct Found {
    name: String,
    email: String,
    born: Option<String>,
    href: String,
}

/// `/bookings` with these parameters (empty ones left out).
fn start_link(params: &[(&str, &str)]) -> String {
    let params: Vec<(&str, &str)> = params
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    match serde_urlencoded::to_string(params) {
        Ok(query) if !query.is_empty() => format!("/bookings?{query}"),
        _ => "/bookings".to_owned(),
    }
}

/// A page of the patients matching `q`, and the link to the next page; or
/// what to say next to the search field.
async fn find_patients(
    ctx: &mut Ctx,
    q: &StartQuery,
) -> Result<(Vec<Found>, Option<String>), Feedback> {
    let req = ApiRequest::get("/api/v1/patients")
        .query("q", q.q.trim())
        .query("limit", RESULTS_PER_PAGE)
        .query("cursor", q.cursor.trim());
    let page: Page<PatientSummary> = match ctx.call(req).await {
        Ok(page) => page,
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && s.as_u16() != 401) =>
        {
            return Err(feedback::from_api(&e).for_form(&["q"]));
        }
        Err(_) => {
            return Err(
                Feedback::default().field("q", "We could not search just now. Please try again.")
            )
        }
    };
    let provider_id = q.provider_id.trim();
    let found = page
        .items
        .into_iter()
        .map(|p| Found {
            href: start_link(&[
                ("patient_id", &p.id.to_string()),
                ("provider_id", provider_id),
            ]),
            born: p.date_of_birth.map(time::birth_date),
            name: p.name,
            email: p.email,
        })
        .collect();
    let more = page.next_cursor.map(|cursor| {
        start_link(&[
            ("q", q.q.trim()),
            ("cursor", &cursor),
            ("provider_id", provider_id),
        ])
    });
    Ok((found, more))
}

/// The patient the page names, or what to say next to the search field.
async fn chosen_patient(ctx: &mut Ctx, q: &StartQuery) -> Result<Option<PatientSummary>, Feedback> {
    let raw = q.patient_id.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let again = |text: &str| Feedback::default().field("q", text);
    let Ok(id) = raw.parse::<Uuid>() else {
        return Err(again(
            "Search for the patient and choose them from the results.",
        ));
    };
    match Patients::default().summary(ctx, id).await {
        Ok(Some(p)) => Ok(Some(p)),
        Ok(None) => Err(again("That patient was not found. Search for them again.")),
        Err(_) => Err(again(
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
    let (results, more) = match (&patient, q.q.trim()) {
        (None, typed) if !typed.is_empty() => match find_patients(&mut ctx, &q).await {
            Ok(found) => found,
            Err(e) => {
                fb.message = e.message;
                fb.fields.extend(e.fields);
                (Vec::new(), None)
            }
        },
        _ => (Vec::new(), None),
    };
    let provider = match (&patient, q.provider_id.trim()) {
        (_, "") | (None, _) => None,
        (Some(_), raw) => {
            let found = providers.items.iter().find(|p| p.id.to_string() == raw);
            if found.is_none() {
                fb = fb.field("provider_id", "Choose a provider from the list.");
            }
            found.cloned()
        }
    };
    let types: Vec<TypeView> = match (&patient, &provider) {
        (Some(_), Some(p)) => Directory::default()
            .types(&mut ctx, p.id)
            .await?
            .iter()
            .map(TypeView::from)
            .collect(),
        _ => Vec::new(),
    };
    if !fb.fields.is_empty() && fb.message.is_none() {
        fb.message = Some("Please correct the highlighted fields.".to_owned());
    }
    let status = if fb.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let provider_choices: Vec<Choice> = providers
        .items
        .iter()
        .map(|p| Choice {
            value: p.id.to_string(),
            label: format!("{} ({})", p.name, p.specialty),
        })
        .collect();
    let searched = patient.is_none() && !q.q.trim().is_empty() && fb.is_empty();
    Ok(ctx.render_with(
        status,
        "staff/book.html",
        crate::page! {
            results, more, searched, types, feedback => fb,
            providers => provider_choices,
            q => q.q.trim(),
            provider_id => q.provider_id.trim(),
            patient => patient.as_ref().map(|p| p.name.clone()),
            patient_email => patient.as_ref().map(|p| p.email.clone()),
            patient_born => patient.as_ref().and_then(|p| p.date_of_birth).map(time::birth_date),
            patient_uuid => patient.as_ref().map(|p| p.id),
            change_patient => start_link(&[("provider_id", q.provider_id.trim())]),
            provider => provider.as_ref().map(|p| p.name.clone()),
            provider_uuid => provider.as_ref().map(|p| p.id),
        },
    ))
}

#[derive(Deserialize)]
pub struct WeekQuery {
    week: Option<String>,
}

pub(super) async fn week_page(
    ctx: &mut Ctx,
    (patient_id, provider_id, type_id): (Uuid, Uuid, Uuid),
    week_of: WeekOf,
    feedback: Feedback,
    status: StatusCode,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let patient: PatientSummary = ctx
        .get(format!("/api/v1/patients/{patient_id}/summary"))
        .await?;
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

/// `POST /bookings/holds`: a slot button pressed; hold it for the patient.
pub async fn hold(mut ctx: Ctx, Form(choice): Form<SlotChoice>) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let patient_id = choice.patient_id.ok_or(PageError::BadRequest)?;
    match holding::hold_slot(&mut ctx, &choice, patient_id).await {
        Ok(id) => Ok(see_other(&format!("/bookings/holds/{id}"))),
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && s.as_u16() != 401) =>
        {
            let status = e.status().unwrap_or(StatusCode::CONFLICT);
            week_page(
                &mut ctx,
                (patient_id, choice.provider_id, choice.appointment_type_id),
                WeekOf::Slot(choice.start),
                desk_feedback(&e),
                status,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /bookings/holds/{id}`: the time held for the patient, to confirm
/// (once, or as the first visit of a recurring series).
pub async fn held(mut ctx: Ctx, Path(id): Path<Uuid>) -> Result<Response, PageError> {
    let repeat = (RepeatForm::initial(), Feedback::default());
    hold_page(&mut ctx, id, repeat, StatusCode::OK).await
}

/// The held time's page, with the series form as typed (`repeat`) and what
/// was wrong with it.
pub(super) async fn hold_page(
    ctx: &mut Ctx,
    id: Uuid,
    (repeat, repeat_feedback): (RepeatForm, Feedback),
    status: StatusCode,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let hold: Hold = ctx.get(format!("/api/v1/holds/{id}")).await?;
    let ids = (hold.patient_id, hold.provider_id, hold.appointment_type_id);
    let mut dir = Directory::default();
    let provider = dir
        .provider(ctx, hold.provider_id)
        .await?
        .ok_or(PageError::NotFound)?;
    match holding::state_of(&hold, ctx.now()) {
        HoldState::Booked => Ok(see_other(&format!("/clinic/appointments/{}", hold.id))),
        HoldState::Ended => {
            holding::forget(ctx, hold.id).await?;
            week_page(
                ctx,
                ids,
                WeekOf::Slot(hold.start),
                Feedback::message(holding::ended_message(&hold, &provider)),
                StatusCode::OK,
            )
            .await
        }
        HoldState::Live => {
            let patient: PatientSummary = ctx
                .get(format!("/api/v1/patients/{}/summary", hold.patient_id))
                .await?;
            let kind = dir
                .type_of(ctx, hold.provider_id, hold.appointment_type_id)
                .await?
                .ok_or(PageError::NotFound)?;
            let view = HoldView::of(&hold, &provider, &kind, ctx.visit.viewer_tz, ctx.now());
            let first_day = time::today(hold.start, zone_of(&provider));
            Ok(ctx.render_with(
                status,
                "hold.html",
                crate::page! {
                    hold => view,
                    patient => Some(patient.name),
                    patient_id => hold.patient_id,
                    confirm_action => "/bookings",
                    release_action => format!("/bookings/holds/{id}/release"),
                    feedback => Feedback::default(),
                    series_action => "/bookings/series",
                    repeat, repeat_feedback,
                    first_day => first_day.to_string(),
                    max_weeks => series::MAX_WEEKS,
                    max_visits => series::MAX_VISITS,
                },
            ))
        }
    }
}

/// `POST /bookings/holds/{id}/release`: "Choose another time".
pub async fn release(mut ctx: Ctx, Path(id): Path<Uuid>) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    holding::release_to(&mut ctx, id, "/clinic/appointments", |hold| {
        format!(
            "/bookings/{}/{}/{}",
            hold.patient_id, hold.provider_id, hold.appointment_type_id
        )
    })
    .await
}

#[derive(Deserialize)]
pub struct BookForm {
    patient_id: Uuid,
    provider_id: Uuid,
    appointment_type_id: Uuid,
    start: DateTime<Utc>,
    idempotency_key: Uuid,
    /// The hold the confirmation page books.
    #[serde(default)]
    hold_id: Option<Uuid>,
}

/// The API's refusal as the desk reads it: "the patient", not "you".
pub(super) fn desk_feedback(e: &ApiError) -> Feedback {
    let fb = feedback::from_api(e).for_form(&[]);
    match e.problem().map(|p| p.code()) {
        Some("patient-double-booked") => {
            Feedback::message("The patient already has an appointment at that time.")
        }
        Some("hold-limit-reached") => Feedback::message(
            "The patient has too many times held at once. Confirm one, or wait a few minutes for the others to lapse.",
        ),
        _ => fb,
    }
}

/// `POST /bookings`: "Confirm booking" on the hold's page (or a slot booked at once).
pub async fn book(mut ctx: Ctx, Form(form): Form<BookForm>) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let req = ApiRequest::post(
        "/api/v1/appointments",
        &BookingFor {
            provider_id: form.provider_id,
            appointment_type_id: form.appointment_type_id,
            start: form.start,
            patient_id: form.patient_id,
            hold_id: form.hold_id,
        },
    )
    .idempotency_key(form.idempotency_key.to_string());
    match ctx.call::<Appointment>(req).await {
        Ok(a) => {
            if let Some(hold) = form.hold_id {
                holding::forget(&ctx, hold).await?;
            }
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
        // Confirmed twice (a reload between): the first press booked it.
        Err(CallError::Api(e)) if form.hold_id.is_some() && e.code() == Some("hold-converted") => {
            let id = form.hold_id.unwrap_or_default();
            holding::forget(&ctx, id).await?;
            Ok(see_other(&format!("/clinic/appointments/{id}")))
        }
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && s.as_u16() != 401) =>
        {
            if let Some(hold) = form.hold_id.filter(|_| holding::hold_ended(&e)) {
                holding::forget(&ctx, hold).await?;
            }
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
