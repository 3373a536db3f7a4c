//! Front-desk staff's pages: the clinic's day across every provider (with the
//! visit steps), booking for a patient (once or as a recurring series),
//! moving or cancelling an appointment,
//! and invoices with recording payments. Staff see every appointment and
//! invoice, and patients' names, but never clinical records.

mod appointments;
mod booking;
mod day;
mod invoices;
mod series;

use axum::{
    routing::{get, post},
    Router,
};

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/clinic", get(day::show))
        .route("/clinic/appointments/{id}", get(appointments::show))
        .route(
            "/clinic/appointments/{id}/cancel",
            post(appointments::cancel),
        )
        .route(
            "/clinic/appointments/{id}/reschedule",
            get(appointments::reschedule_week).post(appointments::reschedule),
        )
        .route("/clinic/series/{id}", get(series::show))
        .route("/clinic/series/{id}/cancel", post(series::cancel))
        .route("/bookings", get(booking::start).post(booking::book))
        .route("/bookings/series", post(series::book))
        .route("/bookings/holds", post(booking::hold))
        .route("/bookings/holds/{id}", get(booking::held))
        .route("/bookings/holds/{id}/release", post(booking::release))
        .route(
            "/bookings/{patient_id}/{provider_id}/{type_id}",
            get(booking::week),
        )
        .route("/billing", get(invoices::list))
        .route("/billing/{id}", get(invoices::show))
        .route("/billing/{id}/payments", post(invoices::pay))
}
