//! The two consumers: appointment events become deliveries and reminders;
//! identity's and the directory's events keep the people read model (whom to
//! write to). Both run in the platform's idempotent consumer: whatever a
//! handler writes commits together with the event's `processed_events` row.

use std::sync::Arc;

use async_trait::async_trait;
use platform::{
    auth::Role,
    events::{ConsumerSpec, Envelope, EventHandler, HandleError},
};
use sqlx::PgConnection;

use crate::{
    clock::Clock,
    domain::{
        appointment::Appointment,
        kinds::{Kind, Recipient},
        message::subject,
        reminders,
    },
    events::{
        PatientUpdated, ProviderUpdated, UserRegistered, BOOKED, CANCELLED, PATIENT_UPDATED,
        PROVIDER_UPDATED, RESCHEDULED, USER_REGISTERED,
    },
    store::{self, deliveries::NewDelivery},
};

/// Appointment changes, to email about.
pub fn appointments_spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::new(
        queue_prefix,
        "notifications.appointments",
        &[BOOKED, RESCHEDULED, CANCELLED],
    )
}

/// People's names and addresses.
pub fn people_spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::new(
        queue_prefix,
        "notifications.people",
        &[USER_REGISTERED, PATIENT_UPDATED, PROVIDER_UPDATED],
    )
}

/// Turns an appointment event into one delivery per recipient and plans,
/// moves or cancels its reminders.
pub struct AppointmentsHandler {
    pub clock: Arc<dyn Clock>,
    pub reminder_offsets: Vec<chrono::Duration>,
}

#[async_trait]
impl EventHandler for AppointmentsHandler {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let kind = match (Kind::for_event(&event.event_type), event.version) {
            (Some(kind), 1) => kind,
            (_, version) => {
                return Err(HandleError::Malformed(format!(
                    "unsupported event {} v{version}",
                    event.event_type
                )))
            }
        };
        let a: Appointment = event.data_as()?;
        a.validate()
            .map_err(|e| HandleError::Malformed(e.to_string()))?;
        if !store::appointments::apply(conn, &a).await? {
            // An older (or the same) version after a newer one: what it says was
            // already superseded, and sending it now would contradict the newer email.
            tracing::info!(appointment_id = %a.appointment_id, version = a.version, "stale appointment event ignored");
            return Ok(());
        }
        let now = self.clock.now();
        match kind {
            Kind::Cancelled => {
                store::reminders::cancel_pending(conn, a.appointment_id).await?;
            }
            _ => {
                let planned = reminders::plan(a.start, &self.reminder_offsets, now);
                store::reminders::replace(conn, a.appointment_id, a.version, &planned).await?;
            }
        }
        let subject = subject(kind, &a);
        let mut created = 0;
        for (recipient, recipient_id) in [
            (Recipient::Patient, a.patient_id),
            (Recipient::Provider, a.provider_id),
        ] {
            let fresh = store::deliveries::insert(
                conn,
                &NewDelivery {
                    appointment: &a,
                    kind,
                    recipient_id,
                    recipient,
                    subject: &subject,
                    now,
                },
            )
            .await?;
            created += usize::from(fresh);
        }
        tracing::info!(appointment_id = %a.appointment_id, version = a.version, kind = kind.label(), created, "deliveries recorded");
        Ok(())
    }
}

/// Keeps names and addresses of patients and providers.
pub struct PeopleHandler;

#[async_trait]
impl EventHandler for PeopleHandler {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let at = event.occurred_at;
        match (event.event_type.as_str(), event.version) {
            (USER_REGISTERED, 1) => {
                let u: UserRegistered = event.data_as()?;
                let role = match u.role {
                    Role::Patient => Recipient::Patient,
                    Role::Provider => Recipient::Provider,
                    // Staff and admins get no appointment emails: keep nothing about them.
                    Role::Staff | Role::Admin => return Ok(()),
                };
                store::people::upsert(conn, u.user_id, role, &u.name, Some(&u.email), at).await?;
            }
            (PATIENT_UPDATED, 1) => {
                let p: PatientUpdated = event.data_as()?;
                store::people::upsert(
                    conn,
                    p.patient_id,
                    Recipient::Patient,
                    &p.name,
                    Some(&p.email),
                    at,
                )
                .await?;
            }
            (PROVIDER_UPDATED, 1) => {
                let p: ProviderUpdated = event.data_as()?;
                store::people::upsert(conn, p.provider_id, Recipient::Provider, &p.name, None, at)
                    .await?;
            }
            (kind, version) => {
                return Err(HandleError::Malformed(format!(
                    "unsupported event {kind} v{version}"
                )));
            }
        }
        Ok(())
    }
}
