//! Appointment types.

use chrono::Duration;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{
    cancellation::{FeeCap, Policy},
    types::{Mode, Money, TypeRules},
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TypeRow {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub name: String,
    pub duration_minutes: i32,
    pub buffer_before_minutes: i32,
    pub buffer_after_minutes: i32,
    pub price_minor: i64,
    pub currency: String,
    pub mode: String,
    pub min_notice_minutes: i32,
    pub horizon_days: i32,
    pub cancellation_window_minutes: i32,
    pub late_cancel_fee_minor: i64,
    /// How far apart slots start (`None`: the visit with its buffers).
    pub slot_step_minutes: Option<i32>,
    /// At most this many of this type a day (`None`: no cap).
    pub daily_cap: Option<i32>,
    /// Bookable from the start of the local day this many days ahead.
    pub min_notice_days: i32,
    /// Reminders, minutes before the start (`None`: the clinic's default).
    pub reminder_offsets_minutes: Option<Vec<i32>>,
}

impl TypeRow {
    pub fn rules(&self) -> TypeRules {
        TypeRules {
            duration: Duration::minutes(self.duration_minutes.into()),
            buffer_before: Duration::minutes(self.buffer_before_minutes.into()),
            buffer_after: Duration::minutes(self.buffer_after_minutes.into()),
            min_notice: Duration::minutes(self.min_notice_minutes.into()),
            horizon: Duration::days(self.horizon_days.into()),
            slot_step: self.slot_step_minutes.map(|m| Duration::minutes(m.into())),
            min_notice_days: self.min_notice_days.unsigned_abs(),
        }
    }

    /// What appointment events say about reminders (`None`: the clinic's default).
    pub fn reminder_offsets(&self) -> Option<Vec<u32>> {
        self.reminder_offsets_minutes
            .as_ref()
            .map(|m| m.iter().map(|v| v.unsigned_abs()).collect())
    }

    pub fn price(&self) -> Money {
        Money {
            amount_minor: self.price_minor,
            currency: self.currency.clone(),
        }
    }

    /// The fee as stored (possibly above today's cap: see [`Self::policy`]).
    pub fn late_cancel_fee(&self) -> Money {
        Money {
            amount_minor: self.late_cancel_fee_minor,
            currency: self.currency.clone(),
        }
    }

    /// The cancellation policy its appointments follow, fees capped by `cap`.
    pub fn policy(&self, cap: FeeCap) -> Policy {
        Policy::new(
            Duration::minutes(self.cancellation_window_minutes.into()),
            &self.price(),
            &self.late_cancel_fee(),
            cap,
        )
    }

    pub fn mode(&self) -> Mode {
        if self.mode == "telehealth" {
            Mode::Telehealth
        } else {
            Mode::InPerson
        }
    }
}

const COLUMNS: &str = "id, provider_id, name, duration_minutes, buffer_before_minutes, buffer_after_minutes, price_minor, currency, mode, min_notice_minutes, horizon_days, cancellation_window_minutes, late_cancel_fee_minor, slot_step_minutes, daily_cap, min_notice_days, reminder_offsets_minutes";

pub async fn for_provider(pool: &PgPool, provider_id: Uuid) -> Result<Vec<TypeRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM appointment_types WHERE provider_id = $1 AND active ORDER BY name, id"))
        .bind(provider_id)
        .fetch_all(pool)
        .await
}

/// The provider's active types, on a connection a caller already holds.
pub async fn active_for_provider(
    db: impl sqlx::PgExecutor<'_>,
    provider_id: Uuid,
) -> Result<Vec<TypeRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM appointment_types WHERE provider_id = $1 AND active ORDER BY name, id"
    ))
    .bind(provider_id)
    .fetch_all(db)
    .await
}

/// On the pool, or on a transaction's connection (a caller holding one must not
/// wait for a second: under load every connection can be such a holder).
pub async fn by_id(
    db: impl sqlx::PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<TypeRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM appointment_types WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A type with its provider's time zone (`None` if scheduling has not heard of
/// the provider), and whether `patient` is known: what a booking reads before
/// it validates, in one round trip.
#[derive(Debug, sqlx::FromRow)]
pub struct TypeInZone {
    #[sqlx(flatten)]
    pub t: TypeRow,
    pub time_zone: Option<String>,
    pub patient_known: bool,
}

pub async fn in_zone(
    db: impl sqlx::PgExecutor<'_>,
    id: Uuid,
    patient: Uuid,
) -> Result<Option<TypeInZone>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS},
           (SELECT time_zone FROM providers WHERE providers.id = appointment_types.provider_id) AS time_zone,
           EXISTS (SELECT 1 FROM patients WHERE patients.id = $2) AS patient_known
         FROM appointment_types WHERE id = $1"
    ))
    .bind(id)
    .bind(patient)
    .fetch_optional(db)
    .await
}

/// A type with what its slots need of the provider asked for: their time
/// zone (`None` when scheduling has not heard of them) and daily cap.
#[derive(Debug, sqlx::FromRow)]
pub struct TypeWithProvider {
    #[sqlx(flatten)]
    pub t: TypeRow,
    pub provider_time_zone: Option<String>,
    pub provider_daily_cap: Option<i32>,
}

/// Type `id` with provider `provider`'s zone and cap, in one round trip (a
/// free-slots read makes it first). The caller checks that the type is that
/// provider's.
pub async fn with_provider(
    db: impl sqlx::PgExecutor<'_>,
    id: Uuid,
    provider: Uuid,
) -> Result<Option<TypeWithProvider>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS},
           (SELECT time_zone FROM providers WHERE providers.id = $2) AS provider_time_zone,
           (SELECT daily_cap FROM providers WHERE providers.id = $2) AS provider_daily_cap
         FROM appointment_types WHERE id = $1"
    ))
    .bind(id)
    .bind(provider)
    .fetch_optional(db)
    .await
}

pub async fn insert(pool: &PgPool, t: &TypeRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO appointment_types ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    ))
    .bind(t.id)
    .bind(t.provider_id)
    .bind(&t.name)
    .bind(t.duration_minutes)
    .bind(t.buffer_before_minutes)
    .bind(t.buffer_after_minutes)
    .bind(t.price_minor)
    .bind(&t.currency)
    .bind(&t.mode)
    .bind(t.min_notice_minutes)
    .bind(t.horizon_days)
    .bind(t.cancellation_window_minutes)
    .bind(t.late_cancel_fee_minor)
    .bind(t.slot_step_minutes)
    .bind(t.daily_cap)
    .bind(t.min_notice_days)
    .bind(&t.reminder_offsets_minutes)
    .execute(pool)
    .await?;
    Ok(())
}
