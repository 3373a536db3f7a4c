//! Records' read models, kept from other services' events: the patients that
//! exist, and care relationships (one row per appointment).

use async_trait::async_trait;
use platform::{
    auth::Role,
    events::{ConsumerSpec, Envelope, EventHandler, HandleError},
};
use sqlx::PgConnection;

use contracts::{identity::UserRegistered, scheduling::Appointment};

use crate::store::care;

/// Appointment changes: who is in whose care.
pub fn care_spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::of(queue_prefix, &contracts::subscriptions::RECORDS_CARE)
}

/// New patients, so an unknown patient id is told apart from one without entries.
pub fn patients_spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::of(queue_prefix, &contracts::subscriptions::RECORDS_PATIENTS)
}

pub struct CareHandler;

#[async_trait]
impl EventHandler for CareHandler {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        // The platform consumer let through only the appointment events of the
        // contract; every one of them carries the whole appointment.
        let a: Appointment = event.data_as()?;
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
        let user = event.decode::<UserRegistered>()?;
        if user.role == Role::Patient {
            care::ensure_patient(conn, user.user_id).await?;
        }
        Ok(())
    }
}
