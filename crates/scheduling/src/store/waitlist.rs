//! The waitlist: entries, the offers made to them, and the queue of freed
//! time the backfill worker offers (`slot_openings`).

use chrono::{DateTime, NaiveTime, Utc, Weekday};
use sqlx::{postgres::types::PgRange, PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{
    slots::Busy,
    waitlist::{self, EntryStatus},
};

/// An entry with its type's name and, while one stands, its open offer.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EntryRow {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub appointment_type_id: Uuid,
    pub type_name: String,
    pub provider_id: Option<Uuid>,
    pub specialty: Option<String>,
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
    pub weekdays: Vec<i16>,
    pub day_start: Option<NaiveTime>,
    pub day_end: Option<NaiveTime>,
    pub priority: i32,
    pub status: String,
    pub appointment_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub offer_id: Option<Uuid>,
    pub offer_hold_id: Option<Uuid>,
    pub offer_start: Option<DateTime<Utc>>,
    pub offer_provider_id: Option<Uuid>,
    pub offer_expires_at: Option<DateTime<Utc>>,
}

/// ISO weekday number (1 = Monday) as stored.
pub fn weekday_number(d: Weekday) -> i16 {
    d.number_from_monday() as i16
}

fn weekday_of(n: i16) -> Option<Weekday> {
    u8::try_from(n - 1)
        .ok()
        .and_then(|n| Weekday::try_from(n).ok())
}

impl EntryRow {
    pub fn status(&self) -> EntryStatus {
        // The column's CHECK constraint admits only known states.
        EntryStatus::parse(&self.status).unwrap_or(EntryStatus::Left)
    }

    pub fn weekdays(&self) -> Vec<Weekday> {
        self.weekdays
            .iter()
            .filter_map(|n| weekday_of(*n))
            .collect()
    }

    pub fn time_of_day(&self) -> Option<(NaiveTime, NaiveTime)> {
        self.day_start.zip(self.day_end)
    }

    /// The entry as ranking sees it.
    pub fn entry(&self) -> waitlist::Entry {
        waitlist::Entry {
            id: self.id,
            patient_id: self.patient_id,
            appointment_type_id: self.appointment_type_id,
            type_name: self.type_name.clone(),
            target: match (&self.provider_id, &self.specialty) {
                (Some(p), _) => waitlist::Target::Provider(*p),
                (None, s) => waitlist::Target::Specialty(s.clone().unwrap_or_default()),
            },
            earliest: self.earliest,
            latest: self.latest,
            weekdays: self.weekdays(),
            time_of_day: self.time_of_day(),
            priority: self.priority,
            created_at: self.created_at,
        }
    }
}

const SELECT: &str =
    "SELECT e.id, e.patient_id, e.appointment_type_id, t.name AS type_name, e.provider_id,
       e.specialty, e.earliest, e.latest, e.weekdays, e.day_start, e.day_end, e.priority, e.status,
       e.appointment_id, e.created_at, o.id AS offer_id, o.hold_id AS offer_hold_id,
       o.start AS offer_start, o.provider_id AS offer_provider_id, o.expires_at AS offer_expires_at
     FROM waitlist_entries e
     JOIN appointment_types t ON t.id = e.appointment_type_id
     LEFT JOIN waitlist_offers o ON o.entry_id = e.id AND o.status = 'open'";

pub struct NewEntry {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub appointment_type_id: Uuid,
    pub request: waitlist::Request,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut PgConnection, e: &NewEntry) -> Result<(), sqlx::Error> {
    let r = &e.request;
    let (provider_id, specialty) = match &r.target {
        waitlist::Target::Provider(p) => (Some(*p), None),
        waitlist::Target::Specialty(s) => (None, Some(s.as_str())),
    };
    let weekdays: Vec<i16> = r.weekdays.iter().map(|d| weekday_number(*d)).collect();
    sqlx::query(
        "INSERT INTO waitlist_entries (id, patient_id, appointment_type_id, provider_id, specialty,
            earliest, latest, weekdays, day_start, day_end, priority, status, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'waiting', $12, $13)",
    )
    .bind(e.id)
    .bind(e.patient_id)
    .bind(e.appointment_type_id)
    .bind(provider_id)
    .bind(specialty)
    .bind(r.earliest)
    .bind(r.latest)
    .bind(weekdays)
    .bind(r.time_of_day.map(|(s, _)| s))
    .bind(r.time_of_day.map(|(_, e)| e))
    .bind(r.priority)
    .bind(e.created_by)
    .bind(e.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(db: impl sqlx::PgExecutor<'_>, id: Uuid) -> Result<Option<EntryRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE e.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The entry, locked until the caller's transaction ends.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<EntryRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE e.id = $1 FOR UPDATE OF e"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The patient's entries still waiting or offered whose range has not run
/// out by `now` (one whose `latest` has passed can never be offered a slot,
/// so it does not count against the patient's limit).
pub async fn active_for_patient(
    db: impl sqlx::PgExecutor<'_>,
    patient_id: Uuid,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM waitlist_entries
         WHERE patient_id = $1 AND status IN ('waiting', 'offered') AND latest > $2",
    )
    .bind(patient_id)
    .bind(now)
    .fetch_one(db)
    .await
}

pub async fn set_status(
    conn: &mut PgConnection,
    id: Uuid,
    status: EntryStatus,
    appointment_id: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE waitlist_entries SET status = $2, appointment_id = COALESCE($3, appointment_id),
            updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(appointment_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_priority(
    conn: &mut PgConnection,
    id: Uuid,
    priority: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE waitlist_entries SET priority = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(priority)
        .execute(conn)
        .await?;
    Ok(())
}

/// Which entries a list shows; `None` fields do not filter.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub patient_id: Option<Uuid>,
    pub provider_id: Option<Uuid>,
    pub appointment_type_id: Option<Uuid>,
    pub status: Option<EntryStatus>,
    /// Keyset: entries after this (created_at, id).
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// Oldest first; as `appointments::list`, only the filters given reach the SQL.
pub async fn list(pool: &PgPool, f: &ListFilter) -> Result<Vec<EntryRow>, sqlx::Error> {
    let mut q = sqlx::QueryBuilder::new(SELECT);
    q.push(" WHERE true");
    if let Some(patient) = f.patient_id {
        q.push(" AND e.patient_id = ").push_bind(patient);
    }
    if let Some(provider) = f.provider_id {
        q.push(" AND e.provider_id = ").push_bind(provider);
    }
    if let Some(t) = f.appointment_type_id {
        q.push(" AND e.appointment_type_id = ").push_bind(t);
    }
    if let Some(status) = f.status {
        q.push(" AND e.status = ").push_bind(status.as_str());
    }
    if let Some((at, id)) = f.after {
        q.push(" AND (e.created_at, e.id) > (")
            .push_bind(at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    q.push(" ORDER BY e.created_at, e.id LIMIT ")
        .push_bind(f.limit);
    q.build_query_as().fetch_all(pool).await
}

/// Entries waiting for `provider_id` (or its `specialty`) whose range
/// overlaps `[from, to)`: who a slot opening there may suit.
pub async fn waiting_for(
    conn: &mut PgConnection,
    provider_id: Uuid,
    specialty: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<EntryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE e.status = 'waiting' AND e.earliest < $4 AND e.latest > $3
           AND (e.provider_id = $1 OR ($2 <> '' AND lower(e.specialty) = lower($2)))"
    ))
    .bind(provider_id)
    .bind(specialty.trim())
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// An offer's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferStatus {
    Open,
    Claimed,
    /// Not claimed in time: passed on to the next entry.
    Lapsed,
    /// Its patient released the hold.
    Declined,
    /// Its entry left the waitlist.
    Withdrawn,
}

impl OfferStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OfferStatus::Open => "open",
            OfferStatus::Claimed => "claimed",
            OfferStatus::Lapsed => "lapsed",
            OfferStatus::Declined => "declined",
            OfferStatus::Withdrawn => "withdrawn",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OfferRow {
    pub id: Uuid,
    pub entry_id: Uuid,
    pub hold_id: Uuid,
    pub provider_id: Uuid,
    pub start: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub status: String,
}

impl OfferRow {
    pub fn is_open(&self) -> bool {
        self.status == OfferStatus::Open.as_str()
    }
}

const OFFER: &str =
    "SELECT id, entry_id, hold_id, provider_id, start, opened_at, expires_at, status
     FROM waitlist_offers";

pub struct NewOffer {
    pub id: Uuid,
    pub entry_id: Uuid,
    pub hold_id: Uuid,
    pub token_hash: Vec<u8>,
    pub provider_id: Uuid,
    pub start: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    pub offered_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_offer(conn: &mut PgConnection, o: &NewOffer) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO waitlist_offers (id, entry_id, hold_id, token_hash, provider_id, start,
            opened_at, offered_at, expires_at, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open')",
    )
    .bind(o.id)
    .bind(o.entry_id)
    .bind(o.hold_id)
    .bind(&o.token_hash)
    .bind(o.provider_id)
    .bind(o.start)
    .bind(o.opened_at)
    .bind(o.offered_at)
    .bind(o.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The offer whose token hashes to `token_hash`.
pub async fn offer_by_token(
    db: impl sqlx::PgExecutor<'_>,
    token_hash: &[u8],
) -> Result<Option<OfferRow>, sqlx::Error> {
    sqlx::query_as(&format!("{OFFER} WHERE token_hash = $1"))
        .bind(token_hash)
        .fetch_optional(db)
        .await
}

/// The offer, locked until the caller's transaction ends.
pub async fn lock_offer(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<OfferRow>, sqlx::Error> {
    sqlx::query_as(&format!("{OFFER} WHERE id = $1 FOR UPDATE"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The open offer a hold was made for, if it was one.
pub async fn open_offer_for_hold(
    db: impl sqlx::PgExecutor<'_>,
    hold_id: Uuid,
) -> Result<Option<OfferRow>, sqlx::Error> {
    sqlx::query_as(&format!("{OFFER} WHERE hold_id = $1 AND status = 'open'"))
        .bind(hold_id)
        .fetch_optional(db)
        .await
}

/// Close an open offer; `false` if it was not open.
pub async fn close_offer(
    conn: &mut PgConnection,
    id: Uuid,
    status: OfferStatus,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE waitlist_offers SET status = $2, closed_at = $3 WHERE id = $1 AND status = 'open'",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// (entry, start) pairs offered at `provider_id` in `[from, to)` and let go
/// (lapsed or declined): those entries are not offered those slots again.
pub async fn passed_over(
    conn: &mut PgConnection,
    provider_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(Uuid, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT entry_id, start FROM waitlist_offers
         WHERE provider_id = $1 AND start >= $2 AND start < $3 AND status IN ('lapsed', 'declined')",
    )
    .bind(provider_id)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// Why time opened on a calendar (the `cause` of `waitlist_slots_freed_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    Cancelled,
    Rescheduled,
    /// Availability, an override or time off changed.
    Hours,
    HoldExpired,
    HoldReleased,
    /// An offer lapsed, was declined or withdrawn: the next entry's turn.
    OfferPassed,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Cancelled => "cancelled",
            Cause::Rescheduled => "rescheduled",
            Cause::Hours => "hours",
            Cause::HoldExpired => "hold_expired",
            Cause::HoldReleased => "hold_released",
            Cause::OfferPassed => "offer_passed",
        }
    }
}

/// Time freed on a provider's calendar, waiting to be offered.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpeningRow {
    pub id: i64,
    pub provider_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub cause: String,
    pub opened_at: DateTime<Utc>,
}

/// Record that `during` opened on `provider_id`'s calendar, in the
/// transaction that freed it.
pub async fn record_opening(
    db: impl sqlx::PgExecutor<'_>,
    provider_id: Uuid,
    during: Busy,
    cause: Cause,
    opened_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if during.end <= during.start {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO slot_openings (provider_id, during, cause, opened_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(provider_id)
    .bind(PgRange::from(during.start..during.end))
    .bind(cause.as_str())
    .bind(opened_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Take the oldest opening no other replica is handling; it is gone once the
/// caller's transaction commits.
/// Whether any opening waits to be taken (one statement outside a
/// transaction: an idle round costs one round trip, not three).
pub async fn any_opening(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM slot_openings)")
        .fetch_one(pool)
        .await
}

pub async fn take_opening(conn: &mut PgConnection) -> Result<Option<OpeningRow>, sqlx::Error> {
    sqlx::query_as(
        "DELETE FROM slot_openings WHERE id = (
             SELECT id FROM slot_openings ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING id, provider_id, lower(during) AS start, upper(during) AS \"end\", cause, opened_at",
    )
    .fetch_optional(conn)
    .await
}
