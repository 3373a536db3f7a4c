//! Records' read models, kept from other services' events: the patients that
//! exist, and care relationships (one row per appointment).

use async_trait::async_trait;
use platform::{
    auth::Role,
    events::{ConsumerSpec, Envelope, EventHandler, HandleError},
};
use sqlx::PgConnection;

use crate::{
    events::{AppointmentChanged, UserRegistered, APPOINTMENT_EVENTS},
    store::care,
};

/// Appointment changes: who is in whose care.
pub fn care_spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::new(queue_prefix, "records.care", &["appointment.*"])
}

/// New patients, so an unknown patient id is told apart from one without entries.
pub fn patients_spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::new(queue_prefix, "records.patients", &["user.registered"])
}

pub struct CareHandler;

#[async_trait]
impl EventHandler for CareHandler {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let kind = event.event_type.as_str();
        if !APPOINTMENT_EVENTS.contains(&kind) {
            // A new appointment.* type says nothing about care we know how to read.
            tracing::debug!(event_type = kind, "appointment event ignored");
            return Ok(());
        }
        if event.version != 1 {
            return Err(HandleError::Malformed(format!(
                "unsupported event {kind} v{}",
                event.version
            )));
        }
        let a: AppointmentChanged = event.data_as()?;
        if a.end < a.start {
            return Err(HandleError::Malformed(format!(
                "appointment {} ends before it starts",
                a.appointment_id
            )));
        }
        let closed_at = (!a.status.is_active()).then_some(event.occurred_at);
        care::ensure_patient(conn, a.patient_id).await?;
        care::apply_appointment(conn, &a, closed_at).await?;
        Ok(())
    }
}

pub struct PatientsHandler;

#[async_trait]
impl EventHandler for PatientsHandler {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        match (event.event_type.as_str(), event.version) {
            ("user.registered", 1) => {
                let user: UserRegistered = event.data_as()?;
                if user.role == Role::Patient {
                    care::ensure_patient(conn, user.user_id).await?;
                }
                Ok(())
            }
            (kind, version) => Err(HandleError::Malformed(format!(
                "unsupported event {kind} v{version}"
            ))),
        }
    }
}
