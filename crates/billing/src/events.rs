//! What billing publishes and consumes.
//!
//! Publishes `invoice.issued`, `invoice.paid` and `invoice.voided` (v1) through
//! the outbox, in the transaction of the change: ids, status and totals only —
//! no names, no free text. Consumes scheduling's `appointment.*` events (v1).

use chrono::{DateTime, Utc};
use platform::events::Envelope;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{
    invoice::{InvoiceReason, InvoiceStatus},
    money::{Currency, Money},
    totals::Totals,
};

pub const SOURCE: &str = "billing";
pub const ISSUED: &str = "invoice.issued";
pub const PAID: &str = "invoice.paid";
pub const VOIDED: &str = "invoice.voided";

pub const APPOINTMENT_BOOKED: &str = "appointment.booked";
pub const APPOINTMENT_COMPLETED: &str = "appointment.completed";
pub const APPOINTMENT_CANCELLED: &str = "appointment.cancelled";
pub const APPOINTMENT_NO_SHOW: &str = "appointment.no_show";

/// An invoice's totals, each in the invoice's currency (API and events alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TotalsView {
    pub net: Money,
    pub tax: Money,
    pub gross: Money,
    pub paid: Money,
    /// Negative when the patient is owed a refund.
    pub due: Money,
}

impl TotalsView {
    pub fn new(t: &Totals, currency: Currency) -> Self {
        let m = |n| Money::new(n, currency);
        Self {
            net: m(t.net),
            tax: m(t.tax),
            gross: m(t.gross),
            paid: m(t.paid),
            due: m(t.due),
        }
    }
}

/// `invoice.issued|paid|voided` v1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceEvent {
    pub invoice_id: Uuid,
    pub invoice_number: i64,
    pub appointment_id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub reason: InvoiceReason,
    pub status: InvoiceStatus,
    pub totals: TotalsView,
    /// Who made the change; `None` when billing issued it from an event.
    pub changed_by: Option<Uuid>,
}

pub fn envelope(kind: &str, data: &InvoiceEvent) -> Result<Envelope, serde_json::Error> {
    Envelope::new(kind, 1, SOURCE, data)
}

/// An appointment's status as scheduling names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Booked,
    CheckedIn,
    Completed,
    Cancelled,
    NoShow,
}

impl AppointmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Booked => "booked",
            AppointmentStatus::CheckedIn => "checked_in",
            AppointmentStatus::Completed => "completed",
            AppointmentStatus::Cancelled => "cancelled",
            AppointmentStatus::NoShow => "no_show",
        }
    }
}

/// `appointment.*` v1 as scheduling publishes it (the fields billing reads;
/// others are ignored, so scheduling may add fields without breaking us).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppointmentEvent {
    pub appointment_id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_type_name: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub time_zone: String,
    pub price: Money,
    pub status: AppointmentStatus,
    pub version: i32,
    /// Cancelled / no-show: the reason given (free text: never stored or logged here).
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub late: bool,
    /// Late cancellations and no-shows of a type with a fee.
    #[serde(default)]
    pub fee: Option<Money>,
    pub changed_by: Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Billing reads exactly what scheduling writes (scheduling is only a
    /// dev-dependency: the contract is the JSON, not the crate).
    #[test]
    fn reads_scheduling_s_appointment_event() {
        let theirs = scheduling::events::AppointmentEvent {
            appointment_id: Uuid::now_v7(),
            patient_id: Uuid::now_v7(),
            provider_id: Uuid::now_v7(),
            appointment_type_id: Uuid::now_v7(),
            appointment_type_name: "Consultation".into(),
            start: "2026-05-01T09:00:00Z".parse().unwrap(),
            end: "2026-05-01T09:30:00Z".parse().unwrap(),
            time_zone: "Europe/Berlin".into(),
            mode: scheduling::domain::types::Mode::InPerson,
            price: scheduling::domain::types::Money {
                amount_minor: 6000,
                currency: "EUR".into(),
            },
            status: scheduling::domain::lifecycle::Status::Cancelled,
            version: 3,
            previous_start: None,
            previous_end: None,
            reason: Some("sick".into()),
            late: true,
            fee: Some(scheduling::domain::types::Money {
                amount_minor: 2500,
                currency: "EUR".into(),
            }),
            changed_by: Uuid::now_v7(),
        };
        let ours: AppointmentEvent =
            serde_json::from_value(serde_json::to_value(&theirs).unwrap()).unwrap();
        assert_eq!(ours.appointment_id, theirs.appointment_id);
        assert_eq!(ours.price.amount_minor, 6000);
        assert_eq!(ours.price.currency.as_str(), "EUR");
        assert_eq!(ours.status, AppointmentStatus::Cancelled);
        assert!(ours.late);
        assert_eq!(ours.fee.map(|f| f.amount_minor), Some(2500));
        assert_eq!(ours.version, 3);
        for s in scheduling::domain::lifecycle::Status::ALL {
            let v = serde_json::to_value(s).unwrap();
            let mine: AppointmentStatus = serde_json::from_value(v).unwrap();
            assert_eq!(mine.as_str(), s.as_str());
        }
    }

    #[test]
    fn invoice_events_carry_ids_and_totals_only() {
        let eur = Currency::parse("EUR").unwrap();
        let e = InvoiceEvent {
            invoice_id: Uuid::now_v7(),
            invoice_number: 7,
            appointment_id: Uuid::now_v7(),
            patient_id: Uuid::now_v7(),
            provider_id: Uuid::now_v7(),
            reason: InvoiceReason::Completed,
            status: InvoiceStatus::Issued,
            totals: TotalsView::new(
                &Totals {
                    net: 6000,
                    tax: 0,
                    gross: 6000,
                    paid: 0,
                    due: 6000,
                },
                eur,
            ),
            changed_by: None,
        };
        let env = envelope(ISSUED, &e).unwrap();
        assert_eq!((env.version, env.source.as_str()), (1, "billing"));
        let data = &env.data;
        assert_eq!(
            data["totals"]["due"],
            serde_json::json!({"amount_minor": 6000, "currency": "EUR"})
        );
        let keys: Vec<&str> = data
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert!(keys.iter().all(|k| !k.contains("name")), "{keys:?}");
    }
}
