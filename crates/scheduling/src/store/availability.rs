//! Weekly rules, date overrides and time off.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc, Weekday};
use sqlx::{postgres::types::PgRange, PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::availability::{Availability, DateOverride, TimeOff, WeeklyRule};

fn weekday(n: i16) -> Weekday {
    Weekday::try_from((n.clamp(1, 7) - 1) as u8).unwrap_or(Weekday::Mon)
}

/// One row of `date_overrides`: a window, or (no times) a closed day.
type OverrideRow = (NaiveDate, Option<NaiveTime>, Option<NaiveTime>);

/// Rows in date order → one override per date (a closed day has no windows).
fn merge(rows: Vec<OverrideRow>) -> Vec<DateOverride> {
    let mut merged: Vec<DateOverride> = Vec::new();
    for (date, start, end) in rows {
        if merged.last().is_none_or(|o| o.date != date) {
            merged.push(DateOverride {
                date,
                windows: Vec::new(),
            });
        }
        if let (Some(s), Some(e), Some(last)) = (start, end, merged.last_mut()) {
            last.windows.push((s, e));
        }
    }
    for o in &mut merged {
        o.windows.sort();
    }
    merged
}

/// A provider's availability, with the time off that touches `[from, to)`;
/// three queries on one connection (each pool checkout costs a round trip).
pub async fn load(
    conn: &mut PgConnection,
    provider_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Availability, sqlx::Error> {
    Ok(load_versioned(conn, provider_id, from, to).await?.0)
}

/// [`load`], with the calendar's version read no later than the rules (in
/// the first query's snapshot): a change committed after it has a newer
/// version, which the booking's insert notices (see
/// `appointments::insert_booked`).
pub async fn load_versioned(
    conn: &mut PgConnection,
    provider_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(Availability, i64), sqlx::Error> {
    type Row = (i64, Option<i16>, Option<NaiveTime>, Option<NaiveTime>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT v.version, w.weekday, w.start_time, w.end_time
         FROM (SELECT COALESCE((SELECT version FROM calendar_versions WHERE provider_id = $1), 0) AS version) v
         LEFT JOIN weekly_rules w ON w.provider_id = $1",
    )
    .bind(provider_id)
    .fetch_all(&mut *conn)
    .await?;
    let version = rows.first().map_or(0, |r| r.0);
    let weekly: Vec<(i16, NaiveTime, NaiveTime)> = rows
        .into_iter()
        .filter_map(|(_, d, s, e)| Some((d?, s?, e?)))
        .collect();
    let overrides: Vec<OverrideRow> = sqlx::query_as(
        "SELECT date, start_time, end_time FROM date_overrides
         WHERE provider_id = $1 AND date BETWEEN ($2::timestamptz)::date - 2 AND ($3::timestamptz)::date + 2 ORDER BY date",
    )
    .bind(provider_id)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?;
    let time_off: Vec<(DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT lower(during), upper(during) FROM time_off WHERE provider_id = $1 AND during && tstzrange($2, $3)",
    )
    .bind(provider_id)
    .bind(from - chrono::Duration::days(1))
    .bind(to + chrono::Duration::days(1))
    .fetch_all(&mut *conn)
    .await?;
    let availability = Availability {
        weekly: weekly
            .into_iter()
            .map(|(d, start, end)| WeeklyRule {
                weekday: weekday(d),
                start,
                end,
            })
            .collect(),
        overrides: merge(overrides),
        time_off: time_off
            .into_iter()
            .map(|(start, end)| TimeOff { start, end })
            .collect(),
    };
    Ok((availability, version))
}

/// A new version of the provider's calendar (under its lock, in the
/// change's transaction): bookings checked against an older one check again.
pub async fn bump_version(conn: &mut PgConnection, provider_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO calendar_versions (provider_id, version) VALUES ($1, 1)
         ON CONFLICT (provider_id) DO UPDATE SET version = calendar_versions.version + 1",
    )
    .bind(provider_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Replace the weekly rules and the given dates' overrides in one transaction.
pub async fn replace(
    pool: &PgPool,
    provider_id: Uuid,
    availability: &Availability,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    replace_in(&mut tx, provider_id, availability).await?;
    tx.commit().await
}

/// [`replace`], in the caller's transaction.
pub async fn replace_in(
    tx: &mut PgConnection,
    provider_id: Uuid,
    availability: &Availability,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM weekly_rules WHERE provider_id = $1")
        .bind(provider_id)
        .execute(&mut *tx)
        .await?;
    for r in &availability.weekly {
        sqlx::query("INSERT INTO weekly_rules (provider_id, weekday, start_time, end_time) VALUES ($1, $2, $3, $4)")
            .bind(provider_id)
            .bind(r.weekday.number_from_monday() as i16)
            .bind(r.start)
            .bind(r.end)
            .execute(&mut *tx)
            .await?;
    }
    for o in &availability.overrides {
        set_override(&mut *tx, provider_id, o).await?;
    }
    Ok(())
}

/// Replace `o.date`'s override rows with `o` (no windows: closed that day).
pub async fn set_override(
    conn: &mut PgConnection,
    provider_id: Uuid,
    o: &DateOverride,
) -> Result<(), sqlx::Error> {
    clear_override(&mut *conn, provider_id, o.date).await?;
    if o.windows.is_empty() {
        sqlx::query("INSERT INTO date_overrides (provider_id, date) VALUES ($1, $2)")
            .bind(provider_id)
            .bind(o.date)
            .execute(&mut *conn)
            .await?;
    }
    for (s, e) in &o.windows {
        sqlx::query("INSERT INTO date_overrides (provider_id, date, start_time, end_time) VALUES ($1, $2, $3, $4)")
            .bind(provider_id)
            .bind(o.date)
            .bind(s)
            .bind(e)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Delete `date`'s override rows; whether there were any.
pub async fn clear_override(
    conn: &mut PgConnection,
    provider_id: Uuid,
    date: NaiveDate,
) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM date_overrides WHERE provider_id = $1 AND date = $2")
        .bind(provider_id)
        .bind(date)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(deleted > 0)
}

/// The overrides of the dates `from` through `to`, in date order.
pub async fn overrides(
    pool: &PgPool,
    provider_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DateOverride>, sqlx::Error> {
    let rows: Vec<OverrideRow> = sqlx::query_as(
        "SELECT date, start_time, end_time FROM date_overrides
         WHERE provider_id = $1 AND date BETWEEN $2 AND $3 ORDER BY date",
    )
    .bind(provider_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(merge(rows))
}

pub async fn weekly(pool: &PgPool, provider_id: Uuid) -> Result<Vec<WeeklyRule>, sqlx::Error> {
    let far = Utc::now();
    Ok(load(&mut *pool.acquire().await?, provider_id, far, far)
        .await?
        .weekly)
}

/// A booked appointment an availability change may strand.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Upcoming {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub version: i32,
}

/// The provider's booked appointments starting at or after `now`, but those
/// an earlier change kept outside the hours at their current version.
pub async fn upcoming(
    conn: &mut PgConnection,
    provider_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Upcoming>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.id, a.patient_id, a.appointment_type_id, lower(a.during) AS start,
                upper(a.during) AS \"end\", a.version
         FROM appointments a
         WHERE a.provider_id = $1 AND a.status = 'booked' AND lower(a.during) >= $2
           AND NOT EXISTS (SELECT 1 FROM availability_exceptions x
                           WHERE x.appointment_id = a.id AND x.appointment_version = a.version)
         ORDER BY lower(a.during), a.id",
    )
    .bind(provider_id)
    .bind(now)
    .fetch_all(conn)
    .await
}

/// Record that `a` stays outside the provider's hours after a `change`.
pub async fn record_exception(
    conn: &mut PgConnection,
    provider_id: Uuid,
    a: &Upcoming,
    change: &str,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO availability_exceptions (id, provider_id, appointment_id, appointment_version, change, recorded_by)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (appointment_id, appointment_version) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(provider_id)
    .bind(a.id)
    .bind(a.version)
    .bind(change)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn add_time_off(
    conn: &mut PgConnection,
    provider_id: Uuid,
    off: &TimeOff,
    reason: Option<&str>,
    by: Uuid,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO time_off (id, provider_id, during, reason, created_by) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(provider_id)
        .bind(PgRange::from(off.start..off.end))
        .bind(reason)
        .bind(by)
        .execute(conn)
        .await?;
    Ok(id)
}

/// One stretch of time off as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TimeOffRow {
    pub id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The provider's time off overlapping `[from, to)`, by start then id, after
/// `after` (a previous page's last), at most `limit` rows.
pub async fn time_off(
    pool: &PgPool,
    provider_id: Uuid,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<TimeOffRow>, sqlx::Error> {
    let (after_start, after_id) = after.unzip();
    sqlx::query_as(
        "SELECT id, lower(during) AS start, upper(during) AS end, reason, created_at
         FROM time_off
         WHERE provider_id = $1 AND during && tstzrange($2, $3)
           AND ($4::timestamptz IS NULL OR (lower(during), id) > ($4, $5))
         ORDER BY lower(during), id
         LIMIT $6",
    )
    .bind(provider_id)
    .bind(from)
    .bind(to)
    .bind(after_start)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Delete one of the provider's time off entries; whether it existed.
pub async fn delete_time_off(
    pool: &PgPool,
    provider_id: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM time_off WHERE provider_id = $1 AND id = $2")
        .bind(provider_id)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(deleted > 0)
}
