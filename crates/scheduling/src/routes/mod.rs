//! Scheduling's HTTP API (thin handlers: extract, call, map).

mod appointments;
mod calendar;
mod cursor;
mod holds;
mod links;
mod series;
mod waitlist;

use axum::{
    routing::{delete, get, patch, post, put},
    Router,
};
use platform::auth::AuthUser;
use utoipa::OpenApi;

use crate::{domain::access::Actor, AppState};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/v1/providers/{id}/appointment-types",
            get(calendar::list_types).post(calendar::create_type),
        )
        .route("/api/v1/appointment-types/{id}", get(calendar::get_type))
        .route(
            "/api/v1/providers/{id}/availability",
            get(calendar::get_availability).put(calendar::put_availability),
        )
        .route(
            "/api/v1/providers/{id}/availability/daily-cap",
            get(calendar::get_daily_cap).put(calendar::put_daily_cap),
        )
        .route(
            "/api/v1/providers/{id}/availability/overrides",
            get(calendar::list_overrides),
        )
        .route(
            "/api/v1/providers/{id}/availability/overrides/{date}",
            put(calendar::put_override).delete(calendar::delete_override),
        )
        .route(
            "/api/v1/providers/{id}/time-off",
            post(calendar::add_time_off).get(calendar::list_time_off),
        )
        .route(
            "/api/v1/providers/{id}/time-off/{time_off_id}",
            delete(calendar::delete_time_off),
        )
        .route("/api/v1/providers/{id}/slots", get(calendar::slots))
        .route(
            "/api/v1/appointments",
            post(appointments::book).get(appointments::list),
        )
        .route("/api/v1/appointments/{id}", get(appointments::get))
        .route(
            "/api/v1/appointments/{id}/cancel",
            post(appointments::cancel),
        )
        .route(
            "/api/v1/appointments/{id}/reschedule",
            post(appointments::reschedule),
        )
        .route(
            "/api/v1/appointments/{id}/check-in",
            post(appointments::check_in),
        )
        .route(
            "/api/v1/appointments/{id}/complete",
            post(appointments::complete),
        )
        .route(
            "/api/v1/appointments/{id}/no-show",
            post(appointments::no_show),
        )
        .route("/api/v1/appointment-series", post(series::create))
        .route("/api/v1/appointment-series/{id}", get(series::get))
        .route(
            "/api/v1/appointment-series/{id}/cancel",
            post(series::cancel),
        )
        .route("/api/v1/holds", post(holds::create))
        .route("/api/v1/holds/{id}", get(holds::get).delete(holds::release))
        .route("/api/v1/waitlist", post(waitlist::join).get(waitlist::list))
        .route(
            "/api/v1/waitlist/{id}",
            patch(waitlist::set_priority).delete(waitlist::leave),
        )
        .route(
            "/api/v1/waitlist/offers/{token}/claim",
            post(waitlist::claim),
        )
        .route("/api/v1/appointment-links/{token}", get(links::preview))
        .route("/api/v1/appointment-links/{token}/slots", get(links::slots))
        .route(
            "/api/v1/appointment-links/{token}/cancel",
            post(links::cancel),
        )
        .route(
            "/api/v1/appointment-links/{token}/reschedule",
            post(links::reschedule),
        )
        .with_state(state)
}

pub(crate) fn actor(user: &AuthUser) -> Actor {
    Actor::from(user)
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Carebook scheduling", description = "Appointment types, availability, free slots, booking and the appointment lifecycle, holds, the waitlist and self-service links."),
    paths(
        calendar::list_types, calendar::get_type, calendar::create_type, calendar::get_availability, calendar::put_availability,
        calendar::list_overrides, calendar::put_override, calendar::delete_override,
        calendar::add_time_off, calendar::list_time_off, calendar::delete_time_off, calendar::slots,
        calendar::get_daily_cap, calendar::put_daily_cap,
        appointments::book, appointments::list, appointments::get, appointments::cancel, appointments::reschedule,
        appointments::check_in, appointments::complete, appointments::no_show,
        series::create, series::get, series::cancel,
        holds::create, holds::get, holds::release,
        waitlist::join, waitlist::list, waitlist::set_priority, waitlist::leave, waitlist::claim,
        links::preview, links::slots, links::cancel, links::reschedule,
    ),
    components(schemas(
        crate::appointments::Appointment, crate::appointments::AppointmentDetail,
        crate::appointments::CancellationPolicy, crate::appointments::Rescheduled,
        crate::domain::slots::Slot,
        crate::domain::types::Money,
        crate::domain::types::Mode,
        crate::domain::lifecycle::Status,
        calendar::AppointmentTypeView, calendar::TypeList, calendar::NewAppointmentType, calendar::AvailabilityBody, calendar::WeeklyRuleBody,
        calendar::OverrideBody, calendar::WindowBody, calendar::TimeOffBody, calendar::SlotList,
        calendar::OverrideList, calendar::OverrideWindows, calendar::TimeOffView, calendar::TimeOffList,
        calendar::TimeOffCreated, calendar::OverrideSaved, calendar::AvailabilityConflictsBody, calendar::DailyCapBody,
        crate::calendar::OnConflict, crate::calendar::Stranded, crate::calendar::Resolved,
        appointments::BookRequest, appointments::CancelRequest, appointments::RescheduleRequest, appointments::AppointmentList,
        crate::series::Series, crate::series::Occurrence, series::SeriesBody, series::CancelSeriesBody,
        crate::holds::Hold, crate::holds::HoldStatus, holds::HoldBody,
        crate::waitlist::WaitlistEntry, crate::waitlist::Offer, crate::waitlist::TimeOfDay,
        crate::domain::waitlist::EntryStatus, waitlist::JoinBody, waitlist::WaitlistList, waitlist::PriorityBody,
        crate::links::LinkPreview, crate::domain::links::LinkAction, links::LinkCancelRequest, links::LinkRescheduleRequest,
        platform::problem::ProblemBody,
    )),
    tags((name = "scheduling", description = "Calendars and appointments"))
)]
pub struct ApiDoc;
