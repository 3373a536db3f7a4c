//! Recurring series and their planned occurrences.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SeriesRow {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub patient_id: Uuid,
    pub appointment_type_id: Uuid,
    pub every_weeks: i32,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OccurrenceRow {
    pub position: i32,
    pub local_date: NaiveDate,
    pub start: Option<DateTime<Utc>>,
    pub appointment_id: Option<Uuid>,
    /// The problem a single booking of it would have got.
    pub not_booked: Option<sqlx::types::Json<platform::problem::ProblemBody>>,
}

pub async fn insert(conn: &mut PgConnection, s: &SeriesRow, by: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO appointment_series (id, provider_id, patient_id, appointment_type_id, every_weeks, created_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(s.id)
    .bind(s.provider_id)
    .bind(s.patient_id)
    .bind(s.appointment_type_id)
    .bind(s.every_weeks)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn insert_occurrences(
    conn: &mut PgConnection,
    series_id: Uuid,
    occurrences: &[OccurrenceRow],
) -> Result<(), sqlx::Error> {
    let mut q = sqlx::QueryBuilder::new(
        "INSERT INTO series_occurrences (series_id, position, local_date, start, appointment_id, not_booked) ",
    );
    q.push_values(occurrences, |mut b, o| {
        b.push_bind(series_id)
            .push_bind(o.position)
            .push_bind(o.local_date)
            .push_bind(o.start)
            .push_bind(o.appointment_id)
            .push_bind(&o.not_booked);
    });
    q.build().execute(conn).await?;
    Ok(())
}

pub async fn get(
    db: impl sqlx::PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<SeriesRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, provider_id, patient_id, appointment_type_id, every_weeks FROM appointment_series WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn occurrences(
    db: impl sqlx::PgExecutor<'_>,
    id: Uuid,
) -> Result<Vec<OccurrenceRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT position, local_date, start, appointment_id, not_booked
         FROM series_occurrences WHERE series_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(db)
    .await
}
