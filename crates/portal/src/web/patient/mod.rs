//! A patient's pages: find a provider, book, manage appointments, read
//! invoices and their record.

pub(crate) mod appointments;
pub(crate) mod booking;
pub(crate) mod invoices;
mod providers;
mod record;

use std::collections::HashMap;

use axum::{
    routing::{get, post},
    Router,
};
use serde::Serialize;
use uuid::Uuid;

use super::{CallError, Ctx};
use crate::{
    api::models::{AppointmentType, Page, Provider},
    domain::{
        money,
        policy::{self, PolicyView},
        time::parse_zone,
    },
    AppState,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/providers", get(providers::search))
        .route("/providers/{id}", get(providers::profile))
        .route("/providers/{id}/preferred", post(providers::make_preferred))
        .route("/providers/{id}/book/{type_id}", get(booking::week))
        .route("/holds", post(booking::hold))
        .route("/holds/{id}", get(booking::held))
        .route("/holds/{id}/release", post(booking::release))
        .route("/appointments", get(appointments::list).post(booking::book))
        .route("/appointments/{id}", get(appointments::show))
        .route("/appointments/{id}/cancel", post(appointments::cancel))
        .route(
            "/appointments/{id}/reschedule",
            get(appointments::reschedule_week).post(appointments::reschedule),
        )
        .route("/invoices", get(invoices::list))
        .route("/invoices/{id}", get(invoices::show))
        .route("/record", get(record::mine))
        .route("/patients/{id}/record", get(record::show))
        .route("/patients/{id}/record/access-log", get(record::access_log))
}

/// Providers and their appointment types looked up once per page.
#[derive(Default)]
pub(crate) struct Directory {
    providers: HashMap<Uuid, Option<Provider>>,
    types: HashMap<Uuid, Vec<AppointmentType>>,
}

impl Directory {
    /// The provider, or `None` when the directory does not know them.
    pub async fn provider(
        &mut self,
        ctx: &mut Ctx,
        id: Uuid,
    ) -> Result<Option<Provider>, CallError> {
        if let Some(known) = self.providers.get(&id) {
            return Ok(known.clone());
        }
        let found = match ctx.get::<Provider>(format!("/api/v1/providers/{id}")).await {
            Ok(p) => Some(p),
            Err(CallError::Api(e)) if e.status().is_some_and(|s| s.as_u16() == 404) => None,
            Err(e) => return Err(e),
        };
        self.providers.insert(id, found.clone());
        Ok(found)
    }

    pub async fn types(
        &mut self,
        ctx: &mut Ctx,
        provider_id: Uuid,
    ) -> Result<Vec<AppointmentType>, CallError> {
        if let Some(known) = self.types.get(&provider_id) {
            return Ok(known.clone());
        }
        let page: Page<AppointmentType> = ctx
            .get(format!("/api/v1/providers/{provider_id}/appointment-types"))
            .await?;
        self.types.insert(provider_id, page.items.clone());
        Ok(page.items)
    }

    pub async fn type_of(
        &mut self,
        ctx: &mut Ctx,
        provider_id: Uuid,
        type_id: Uuid,
    ) -> Result<Option<AppointmentType>, CallError> {
        Ok(self
            .types(ctx, provider_id)
            .await?
            .into_iter()
            .find(|t| t.id == type_id))
    }
}

/// An appointment type as the pages show it.
#[derive(Serialize)]
pub(crate) struct TypeView {
    pub id: Uuid,
    pub name: String,
    pub minutes: i32,
    pub price: String,
    pub mode: &'static str,
    /// "Free cancellation and rescheduling until 24 hours before the start; …"
    pub policy: String,
    /// The policy's parts (the fees), shown before booking.
    pub terms: PolicyView,
}

impl From<&AppointmentType> for TypeView {
    fn from(t: &AppointmentType) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            minutes: t.duration_minutes,
            price: money::format(&t.price),
            mode: if t.mode == "telehealth" {
                "Video call"
            } else {
                "In person"
            },
            policy: policy(t),
            terms: policy::of_type(t),
        }
    }
}

/// The cancellation policy in a sentence (with the no-show fee).
pub(crate) fn policy(t: &AppointmentType) -> String {
    policy::of_type(t).summary
}

/// A provider's time zone (UTC if the directory holds an unknown name).
pub(crate) fn zone_of(p: &Provider) -> chrono_tz::Tz {
    parse_zone(&p.time_zone).unwrap_or(chrono_tz::Tz::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::Money;

    fn kind(window: i32, fee: i64) -> AppointmentType {
        AppointmentType {
            id: Uuid::nil(),
            provider_id: Uuid::nil(),
            name: "Consultation".into(),
            duration_minutes: 30,
            price: Money {
                amount_minor: 4500,
                currency: "EUR".into(),
            },
            mode: "in_person".into(),
            min_notice_minutes: 60,
            horizon_days: 90,
            cancellation_window_minutes: window,
            late_cancel_fee: Some(Money {
                amount_minor: fee,
                currency: "EUR".into(),
            }),
            no_show_fee: Some(Money {
                amount_minor: fee,
                currency: "EUR".into(),
            }),
        }
    }

    #[test]
    fn the_policy_reads_as_a_sentence_with_both_fees() {
        assert_eq!(
            policy(&kind(1440, 2250)),
            "Free cancellation and rescheduling until 24 hours before the start; later, either costs 22.50 EUR. Not coming without cancelling costs 22.50 EUR."
        );
        assert_eq!(
            policy(&kind(90, 100)).split(';').next().unwrap(),
            "Free cancellation and rescheduling until 90 minutes before the start"
        );
        assert_eq!(
            policy(&kind(1440, 0)),
            "Free cancellation and rescheduling at any time."
        );
        let view = TypeView::from(&kind(1440, 2250));
        assert_eq!(view.price, "45.00 EUR");
        assert_eq!(view.terms.no_show_fee.as_deref(), Some("22.50 EUR"));
    }
}
