//! The appointment read model: prices and parties as scheduling's events told them.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use contracts::scheduling::Appointment;

use crate::domain::money::{Currency, Money};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppointmentRow {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_type_name: String,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub time_zone: String,
    pub price_minor: i64,
    pub currency: Currency,
    pub status: String,
    pub version: i32,
}

/// Apply the appointment's state from `e` (its price checked), unless a newer
/// version is stored.
pub async fn upsert(
    conn: &mut PgConnection,
    e: &Appointment,
    price: Money,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO appointments (id, patient_id, provider_id, appointment_type_name, start_at, end_at,
                                   time_zone, price_minor, currency, status, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (id) DO UPDATE SET patient_id = $2, provider_id = $3, appointment_type_name = $4,
             start_at = $5, end_at = $6, time_zone = $7, price_minor = $8, currency = $9, status = $10,
             version = $11, updated_at = now()
         WHERE appointments.version <= $11",
    )
    .bind(e.appointment_id)
    .bind(e.patient_id)
    .bind(e.provider_id)
    .bind(&e.appointment_type_name)
    .bind(e.start)
    .bind(e.end)
    .bind(&e.time_zone)
    .bind(price.amount_minor)
    .bind(price.currency)
    .bind(e.status.as_str())
    .bind(e.version)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get<'e>(
    ex: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<AppointmentRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, patient_id, provider_id, appointment_type_name, start_at, end_at, time_zone,
                price_minor, currency, status, version
         FROM appointments WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(ex)
    .await
}
