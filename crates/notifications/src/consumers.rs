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

use contracts::{
    directory::{PatientUpdated, ProviderUpdated},
    identity::UserRegistered,
    subscriptions, Event,
};

use crate::{
    clock::Clock,
    domain::{
        appointment::{Appointment, AppointmentExt},
        kinds::{Kind, Recipient},
        message::subject,
        reminders,
    },
    store::{self, deliveries::NewDelivery},
};

/// Appointment changes, to email about.
pub fn appointments_spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::of(queue_prefix, &subscriptions::NOTIFICATIONS_APPOINTMENTS)
}

/// People's names and addresses.
pub fn people_spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::of(queue_prefix, &subscriptions::NOTIFICATIONS_PEOPLE)
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
        let Some(kind) = Kind::for_event(&event.event_type) else {
            return Err(HandleError::unsupported(&event.event_type, event.version));
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
        match event.event_type.as_str() {
            UserRegistered::TYPE => {
                let u = event.decode::<UserRegistered>()?;
                let role = match u.role {
                    Role::Patient => Recipient::Patient,
                    Role::Provider => Recipient::Provider,
                    // Staff and admins get no appointment emails: keep nothing about them.
                    Role::Staff | Role::Admin => return Ok(()),
                };
                store::people::upsert(conn, u.user_id, role, &u.name, Some(&u.email), at).await?;
            }
            PatientUpdated::TYPE => {
                let p = event.decode::<PatientUpdated>()?;
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
            ProviderUpdated::TYPE => {
                let p = event.decode::<ProviderUpdated>()?;
                store::people::upsert(conn, p.provider_id, Recipient::Provider, &p.name, None, at)
                    .await?;
            }
            other => return Err(HandleError::unsupported(other, event.version)),
        }
        Ok(())
    }
}
