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
/// one statement (each round trip costs the database more than the reading).
pub async fn load(
    conn: &mut PgConnection,
    provider_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Availability, sqlx::Error> {
    Ok(load_versioned(conn, provider_id, from, to).await?.0)
}

/// What [`load_versioned`] reads, one array per column (an empty table part
/// is `NULL`, not an empty array).
#[derive(sqlx::FromRow)]
struct CalendarRow {
    version: i64,
    weekdays: Option<Vec<i16>>,
    weekly_starts: Option<Vec<NaiveTime>>,
    weekly_ends: Option<Vec<NaiveTime>>,
    override_dates: Option<Vec<NaiveDate>>,
    override_starts: Option<Vec<Option<NaiveTime>>>,
    override_ends: Option<Vec<Option<NaiveTime>>>,
    time_off_starts: Option<Vec<DateTime<Utc>>>,
    time_off_ends: Option<Vec<DateTime<Utc>>>,
}

/// [`load`], with the calendar's version read in the same snapshot as the
/// rules: a change committed after it has a newer version, which the
/// booking's insert notices (see `appointments::insert_booked`).
pub async fn load_versioned(
    conn: &mut PgConnection,
    provider_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(Availability, i64), sqlx::Error> {
    // Each part's arrays share one ORDER BY, so their elements line up.
    let row: CalendarRow = sqlx::query_as(
        "SELECT COALESCE((SELECT version FROM calendar_versions WHERE provider_id = $1), 0) AS version,
                w.weekdays, w.weekly_starts, w.weekly_ends,
                o.override_dates, o.override_starts, o.override_ends,
                t.time_off_starts, t.time_off_ends
         FROM (SELECT array_agg(weekday ORDER BY weekday, start_time, end_time) AS weekdays,
                      array_agg(start_time ORDER BY weekday, start_time, end_time) AS weekly_starts,
                      array_agg(end_time ORDER BY weekday, start_time, end_time) AS weekly_ends
               FROM weekly_rules WHERE provider_id = $1) w,
              (SELECT array_agg(date ORDER BY date, start_time, end_time) AS override_dates,
                      array_agg(start_time ORDER BY date, start_time, end_time) AS override_starts,
                      array_agg(end_time ORDER BY date, start_time, end_time) AS override_ends
               FROM date_overrides
               WHERE provider_id = $1
                 AND date BETWEEN ($2::timestamptz)::date - 2 AND ($3::timestamptz)::date + 2) o,
              (SELECT array_agg(lower(during) ORDER BY during) AS time_off_starts,
                      array_agg(upper(during) ORDER BY during) AS time_off_ends
               FROM time_off WHERE provider_id = $1 AND during && tstzrange($4, $5)) t",
    )
    .bind(provider_id)
    .bind(from)
    .bind(to)
    .bind(from - chrono::Duration::days(1))
    .bind(to + chrono::Duration::days(1))
    .fetch_one(&mut *conn)
    .await?;
    let weekly = zip3(row.weekdays, row.weekly_starts, row.weekly_ends)
        .map(|(d, start, end)| WeeklyRule {
            weekday: weekday(d),
            start,
            end,
        })
        .collect();
    let overrides = zip3(row.override_dates, row.override_starts, row.override_ends).collect();
    let time_off = row
        .time_off_starts
        .unwrap_or_default()
        .into_iter()
        .zip(row.time_off_ends.unwrap_or_default())
        .map(|(start, end)| TimeOff { start, end })
        .collect();
    let availability = Availability {
        weekly,
        overrides: merge(overrides),
        time_off,
    };
    Ok((availability, row.version))
}

/// Three aggregated columns back into rows.
fn zip3<A, B, C>(
    a: Option<Vec<A>>,
    b: Option<Vec<B>>,
    c: Option<Vec<C>>,
) -> impl Iterator<Item = (A, B, C)> {
    a.unwrap_or_default()
        .into_iter()
        .zip(b.unwrap_or_default())
        .zip(c.unwrap_or_default())
        .map(|((a, b), c)| (a, b, c))
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
