//! Billing's consumer of scheduling's appointment events: keeps the appointment
//! read model and issues the invoices outcomes call for.
//!
//! The platform consumer already applies each event id once; the
//! `invoices_one_per_appointment_reason` constraint makes the same fact under a
//! different event id a no-op too.

use std::sync::Arc;

use async_trait::async_trait;
use contracts::{
    scheduling::{
        Appointment, AppointmentBooked, AppointmentCancelled, AppointmentCompleted,
        AppointmentNoShow, AppointmentRescheduled, AppointmentStatus,
    },
    Event,
};
use platform::events::{ConsumerSpec, Envelope, EventHandler, HandleError, OutboxRelay};
use sqlx::PgConnection;

use crate::{
    cache::BalanceCache,
    domain::{
        charges::{charge_for, Outcome},
        money::{Money, MAX_AMOUNT_MINOR},
    },
    invoices,
    store::appointments,
};

/// The consumer's queue: outcomes that bill, and bookings for the read model.
pub fn spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::of(
        queue_prefix,
        &contracts::subscriptions::BILLING_APPOINTMENTS,
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

fn expect_status(e: &Appointment, want: AppointmentStatus, kind: &str) -> Result<(), HandleError> {
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

/// An amount from an event, held to the same rules as an amount from a
/// client: a real currency, within range.
fn amount(m: &contracts::Money, e: &Appointment) -> Result<Money, HandleError> {
    let out_of_range = || {
        HandleError::Malformed(format!(
            "amount out of range for appointment {}",
            e.appointment_id
        ))
    };
    let money = Money::try_from(m).map_err(|_| out_of_range())?;
    if (0..=MAX_AMOUNT_MINOR).contains(&money.amount_minor) {
        Ok(money)
    } else {
        Err(out_of_range())
    }
}

#[async_trait]
impl EventHandler for AppointmentsHandler {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let kind = event.event_type.as_str();
        // Every event of the subscription carries the whole appointment.
        let e: Appointment = event.data_as()?;
        let price = amount(&e.price, &e)?;
        let fee = e.fee.as_ref().map(|f| amount(f, &e)).transpose()?;
        let outcome = match kind {
            AppointmentBooked::TYPE => {
                expect_status(&e, AppointmentStatus::Booked, kind)?;
                Outcome::Scheduled
            }
            AppointmentCompleted::TYPE => {
                expect_status(&e, AppointmentStatus::Completed, kind)?;
                Outcome::Completed { price }
            }
            AppointmentCancelled::TYPE => {
                expect_status(&e, AppointmentStatus::Cancelled, kind)?;
                Outcome::Cancelled { late: e.late, fee }
            }
            AppointmentNoShow::TYPE => {
                expect_status(&e, AppointmentStatus::NoShow, kind)?;
                Outcome::NoShow { fee }
            }
            AppointmentRescheduled::TYPE => {
                expect_status(&e, AppointmentStatus::Booked, kind)?;
                Outcome::Rescheduled { late: e.late, fee }
            }
            other => return Err(HandleError::unsupported(other, event.version)),
        };
        appointments::upsert(conn, &e, price).await?;
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
        if let Ok(e) = event.data_as::<Appointment>() {
            // A booking never invoices: nothing waits in the outbox for it.
            if event.event_type != AppointmentBooked::TYPE {
                self.relay.wake();
            }
            self.balances.invalidate(e.patient_id).await;
        }
    }
}
