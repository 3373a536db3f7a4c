//! The sign-in throttle's counters, the recent failures per account the alert
//! looks at, and the alert's open episodes. Every key is a SHA-256 hash: no
//! email or address is stored in clear.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgExecutor};

use crate::domain::lockout::{self, Counter};

#[derive(sqlx::FromRow)]
struct CounterRow {
    failures: i32,
    window_start: DateTime<Utc>,
    locked_until: Option<DateTime<Utc>>,
}

impl From<CounterRow> for Counter {
    fn from(r: CounterRow) -> Self {
        Counter {
            failures: u32::try_from(r.failures).unwrap_or(0),
            window_start: r.window_start,
            locked_until: r.locked_until,
        }
    }
}

pub async fn counter<'e>(
    db: impl PgExecutor<'e>,
    key: &[u8],
) -> Result<Option<Counter>, sqlx::Error> {
    sqlx::query_as::<_, CounterRow>(
        "SELECT failures, window_start, locked_until FROM login_counters WHERE key = $1",
    )
    .bind(key)
    .fetch_optional(db)
    .await
    .map(|r| r.map(Counter::from))
}

/// Count one more failure on `key` under `limits` (the row locked while the
/// pure rule decides, so concurrent failures are all counted).
pub async fn record_failure(
    conn: &mut PgConnection,
    key: &[u8],
    limits: &lockout::Limits,
    now: DateTime<Utc>,
) -> Result<Counter, sqlx::Error> {
    sqlx::query(
        "INSERT INTO login_counters (key, failures, window_start, updated_at)
         VALUES ($1, 0, $2, $2) ON CONFLICT (key) DO NOTHING",
    )
    .bind(key)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let current: Option<Counter> = sqlx::query_as::<_, CounterRow>(
        "SELECT failures, window_start, locked_until FROM login_counters WHERE key = $1 FOR UPDATE",
    )
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?
    .map(Counter::from)
    .filter(|c| c.failures > 0);
    let next = lockout::after_failure(current.as_ref(), limits, now);
    sqlx::query(
        "UPDATE login_counters SET failures = $2, window_start = $3, locked_until = $4, updated_at = $5
         WHERE key = $1",
    )
    .bind(key)
    .bind(i32::try_from(next.failures).unwrap_or(i32::MAX))
    .bind(next.window_start)
    .bind(next.locked_until)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(next)
}

/// Forget the failures of `key` (a pair that signed in).
pub async fn clear<'e>(db: impl PgExecutor<'e>, key: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_counters WHERE key = $1")
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}

/// Drop up to 100 counters untouched for a day (opportunistic housekeeping).
pub async fn prune(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM login_counters WHERE key IN (
             SELECT key FROM login_counters WHERE updated_at < $1 LIMIT 100)",
    )
    .bind(now - Duration::days(1))
    .execute(conn)
    .await?;
    Ok(())
}

/// What the alert looks at: failures against an account within a window.
pub struct RecentFailures {
    pub failures: u32,
    pub addresses: u32,
    pub since: DateTime<Utc>,
}

/// Log a failure against `account_key` from `address_key` and return the
/// failures within `window` (this one included); older ones are deleted.
pub async fn log_failure(
    conn: &mut PgConnection,
    account_key: &[u8],
    address_key: &[u8],
    window: Duration,
    now: DateTime<Utc>,
) -> Result<RecentFailures, sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE account_key = $1 AND at <= $2")
        .bind(account_key)
        .bind(now - window)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO login_failures (account_key, address_key, at) VALUES ($1, $2, $3)")
        .bind(account_key)
        .bind(address_key)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let (failures, addresses, since): (i64, i64, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT address_key), min(at)
         FROM login_failures WHERE account_key = $1",
    )
    .bind(account_key)
    .fetch_one(conn)
    .await?;
    Ok(RecentFailures {
        failures: u32::try_from(failures).unwrap_or(u32::MAX),
        addresses: u32::try_from(addresses).unwrap_or(u32::MAX),
        since: since.unwrap_or(now),
    })
}

/// The last failure of the account's alerted episode, if there was one.
pub async fn alert_episode<'e>(
    db: impl PgExecutor<'e>,
    account_key: &[u8],
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT last_failure_at FROM signin_alerts WHERE account_key = $1")
        .bind(account_key)
        .fetch_optional(db)
        .await
}

/// Open a new episode unless one is going on (its last failure within
/// `window`): true if this call opened it, so of concurrent failures only one
/// alerts.
pub async fn open_alert_episode(
    conn: &mut PgConnection,
    account_key: &[u8],
    window: Duration,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar::<_, bool>(
        "INSERT INTO signin_alerts (account_key, alerted_at, last_failure_at) VALUES ($1, $2, $2)
         ON CONFLICT (account_key) DO UPDATE SET alerted_at = $2, last_failure_at = $2
         WHERE signin_alerts.last_failure_at <= $3
         RETURNING true",
    )
    .bind(account_key)
    .bind(now)
    .bind(now - window)
    .fetch_optional(conn)
    .await
    .map(|opened| opened.unwrap_or(false))
}

/// The episode goes on: remember this failure as its last.
pub async fn extend_alert_episode(
    conn: &mut PgConnection,
    account_key: &[u8],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE signin_alerts SET last_failure_at = greatest(last_failure_at, $2) WHERE account_key = $1",
    )
    .bind(account_key)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
