//! Billing's consumer of scheduling's appointment events: keeps the appointment
//! read model and issues the invoices outcomes call for.
//!
//! The platform consumer already applies each event id once; the
//! `invoices_one_per_appointment_reason` constraint makes the same fact under a
//! different event id a no-op too.

use std::sync::Arc;

use async_trait::async_trait;
use platform::events::{ConsumerSpec, Envelope, EventHandler, HandleError, OutboxRelay};
use sqlx::PgConnection;

use crate::{
    balance_cache::BalanceCache,
    domain::{
        charges::{charge_for, Outcome},
        money::MAX_AMOUNT_MINOR,
    },
    events::{
        AppointmentEvent, AppointmentStatus, APPOINTMENT_BOOKED, APPOINTMENT_CANCELLED,
        APPOINTMENT_COMPLETED, APPOINTMENT_NO_SHOW,
    },
    invoices,
    store::appointments,
};

/// The consumer's stable name (keys `processed_events`).
pub const NAME: &str = "billing.appointments";

/// The consumer's queue: outcomes that bill, and bookings for the read model.
pub fn spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::new(
        queue_prefix,
        NAME,
        &[
            APPOINTMENT_COMPLETED,
            APPOINTMENT_CANCELLED,
            APPOINTMENT_NO_SHOW,
            APPOINTMENT_BOOKED,
        ],
    )
}

pub struct AppointmentsHandler {
    pub balances: BalanceCache,
    pub relay: OutboxRelay,
    /// Tax rate of the lines billing issues (basis points).
    pub tax_rate_bp: u32,
}

impl AppointmentsHandler {
    pub fn new(balances: BalanceCache, relay: OutboxRelay, tax_rate_bp: u32) -> Arc<Self> {
        Arc::new(Self {
            balances,
            relay,
            tax_rate_bp,
        })
    }
}

fn expect_status(
    e: &AppointmentEvent,
    want: AppointmentStatus,
    kind: &str,
) -> Result<(), HandleError> {
    if e.status == want {
        Ok(())
    } else {
        Err(HandleError::Malformed(format!(
            "{kind} for appointment {} has status {}",
            e.appointment_id,
            e.status.as_str()
        )))
    }
}

/// Amounts from events obey the same bounds as amounts from clients.
fn check_amounts(e: &AppointmentEvent) -> Result<(), HandleError> {
    let in_range =
        |m: &crate::domain::money::Money| (0..=MAX_AMOUNT_MINOR).contains(&m.amount_minor);
    if in_range(&e.price) && e.fee.as_ref().is_none_or(in_range) {
        Ok(())
    } else {
        Err(HandleError::Malformed(format!(
            "amount out of range for appointment {}",
            e.appointment_id
        )))
    }
}

#[async_trait]
impl EventHandler for AppointmentsHandler {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let kind = event.event_type.as_str();
        if event.version != 1
            || ![
                APPOINTMENT_BOOKED,
                APPOINTMENT_COMPLETED,
                APPOINTMENT_CANCELLED,
                APPOINTMENT_NO_SHOW,
            ]
            .contains(&kind)
        {
            return Err(HandleError::Malformed(format!(
                "unsupported event {kind} v{}",
                event.version
            )));
        }
        let e: AppointmentEvent = event.data_as()?;
        check_amounts(&e)?;
        let outcome = match kind {
            APPOINTMENT_BOOKED => {
                expect_status(&e, AppointmentStatus::Booked, kind)?;
                Outcome::Scheduled
            }
            APPOINTMENT_COMPLETED => {
                expect_status(&e, AppointmentStatus::Completed, kind)?;
                Outcome::Completed { price: e.price }
            }
            APPOINTMENT_CANCELLED => {
                expect_status(&e, AppointmentStatus::Cancelled, kind)?;
                Outcome::Cancelled {
                    late: e.late,
                    fee: e.fee,
                }
            }
            _ => {
                expect_status(&e, AppointmentStatus::NoShow, kind)?;
                Outcome::NoShow { fee: e.fee }
            }
        };
        appointments::upsert(conn, &e).await?;
        let Some(charge) = charge_for(&outcome, &e.appointment_type_name) else {
            return Ok(());
        };
        match invoices::issue_for_appointment(conn, event.id, &e, &charge, self.tax_rate_bp).await?
        {
            Some(invoice) => {
                metrics::counter!("invoices_issued_total", "reason" => charge.reason.as_str())
                    .increment(1);
                tracing::info!(invoice_id = %invoice.id, appointment_id = %e.appointment_id,
                    reason = charge.reason.as_str(), "invoice issued");
            }
            None => {
                tracing::info!(appointment_id = %e.appointment_id, reason = charge.reason.as_str(),
                    "invoice exists already; event ignored");
            }
        }
        Ok(())
    }

    /// A new invoice changes the patient's balance and leaves an event in the
    /// outbox; both are acted on only once committed.
    async fn after_commit(&self, event: &Envelope) {
        if let Ok(e) = event.data_as::<AppointmentEvent>() {
            self.relay.wake();
            self.balances.invalidate(e.patient_id).await;
        }
    }
}
