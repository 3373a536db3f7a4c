//! Scheduling latency and race safety, against the real service on the real
//! PostgreSQL, Redis and RabbitMQ, over HTTP on loopback:
//!
//! 1. free-slot search for one week, uncached (the provider's cache generation
//!    bumped before every call, as a calendar change would) and cached;
//! 2. booking at a sustained open-loop rate: each request leaves at its planned
//!    time whatever earlier ones are doing, and latency counts from that planned
//!    time, so a stall shows in the figures instead of slowing the load down;
//! 3. contention: rounds of concurrent clients (distinct patients) booking the
//!    same slot, then the winners per slot and, from SQL, the active rows per
//!    slot and the overlapping active rows.
//!
//! Prints figures and the contention outcome; asserts nothing about timing.
//! Run with `scripts/bench-scheduling` (or `cargo bench -p scheduling --bench booking`).
//! Counts: `BENCH_SLOT_QUERIES` (500), `BENCH_RATE` (200 bookings/s),
//! `BENCH_SECONDS` (10), `BENCH_ROUNDS` (1000), `BENCH_CLIENTS` (32).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark stops at its first failure

use platform::bench::{ms, print_table, setting, Row};
use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Days, Utc};
use identity::{tokens::access_claims, SigningKeys};
use platform::{
    auth::{KeySource, Role, Verifier},
    cache::{Cache, LazyCache},
    config::{DEFAULT_AUDIENCE, DEFAULT_ISSUER},
    testing::TestBacking,
};
use reqwest::StatusCode;
use scheduling::{
    cache::SlotCache,
    store::{appointments, readmodel},
    Config,
};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::sync::Barrier;
use uuid::Uuid;

/// The service's own defaults (`CAREBOOK_DATABASE_MAX_CONNECTIONS`, `CACHE_TTL_SECONDS`),
/// not the smaller pool the test backing picks.
const DB_POOL: u32 = 10;
const SLOT_CACHE_TTL: Duration = Duration::from_secs(300);
const BOOKING_PROVIDERS: usize = 20;
const WARM_UP: usize = 40;
/// Outlives the whole run, whatever the counts.
const TOKEN_TTL_SECONDS: i64 = 3600;
const PROBLEM_PREFIX: &str = "https://carebook.dev/problems/";

/// A user the bench acts as: id and a valid access token.
#[derive(Clone)]
struct User {
    id: Uuid,
    token: String,
}

/// A provider with a calendar and one appointment type.
struct Calendar {
    provider: User,
    type_id: Uuid,
}

/// What one request came back with: the status and, for a problem, its type.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Status(u16, Option<String>),
    /// The request never got an HTTP answer.
    Transport(String),
}

impl Outcome {
    fn created(&self) -> bool {
        matches!(self, Outcome::Status(201, _))
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Status(s, None) => write!(f, "{s}"),
            Outcome::Status(s, Some(kind)) => write!(f, "{s} {kind}"),
            Outcome::Transport(e) => write!(f, "no response ({e})"),
        }
    }
}

fn print_outcomes(label: &str, outcomes: &BTreeMap<Outcome, usize>) {
    let parts: Vec<String> = outcomes.iter().map(|(o, n)| format!("{o}: {n}")).collect();
    println!("{label}: {}", parts.join(", "));
}

struct Bench {
    base: String,
    client: reqwest::Client,
    keys: SigningKeys,
    db: PgPool,
}

impl Bench {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn user(&self, role: Role) -> User {
        let id = Uuid::now_v7();
        let claims = access_claims(
            id,
            role,
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
            Utc::now(),
            TOKEN_TTL_SECONDS,
        );
        User {
            id,
            token: self.keys.sign(&claims).expect("sign an access token"),
        }
    }

    /// `n` patients, known to scheduling's read model as the patient events would make them.
    async fn patients(&self, n: usize) -> Vec<User> {
        let mut conn = self.db.acquire().await.expect("a database connection");
        let mut patients = Vec::with_capacity(n);
        for _ in 0..n {
            let user = self.user(Role::Patient);
            readmodel::ensure_patient(&mut conn, user.id)
                .await
                .expect("insert a patient");
            patients.push(user);
        }
        patients
    }

    async fn send(&self, request: reqwest::RequestBuilder, expected: StatusCode) -> Value {
        let r = request.send().await.expect("request reaches the service");
        let status = r.status();
        let body = if status == StatusCode::NO_CONTENT {
            Value::Null
        } else {
            r.json().await.expect("the service answers JSON")
        };
        assert_eq!(status, expected, "{body}");
        body
    }

    /// A provider in `tz` with weekly `windows` (local `HH:MM` pairs, every day) and one type,
    /// set up through the API as the provider would.
    async fn calendar(
        &self,
        tz: &str,
        windows: &[(&str, &str)],
        appointment_type: Value,
    ) -> Calendar {
        let provider = self.user(Role::Provider);
        let mut conn = self.db.acquire().await.expect("a database connection");
        readmodel::upsert_provider(&mut conn, provider.id, "Dr. Bench", tz, Utc::now())
            .await
            .expect("insert a provider");
        let weekly: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .iter()
            .flat_map(|d| {
                windows
                    .iter()
                    .map(move |(s, e)| json!({"weekday": d, "start": s, "end": e}))
            })
            .collect();
        let path = format!("/api/v1/providers/{}/availability", provider.id);
        self.send(
            self.client
                .put(self.url(&path))
                .bearer_auth(&provider.token)
                .json(&json!({ "weekly": weekly })),
            StatusCode::NO_CONTENT,
        )
        .await;
        let path = format!("/api/v1/providers/{}/appointment-types", provider.id);
        let t = self
            .send(
                self.client
                    .post(self.url(&path))
                    .bearer_auth(&provider.token)
                    .json(&appointment_type),
                StatusCode::CREATED,
            )
            .await;
        Calendar {
            type_id: t["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("the new type has an id"),
            provider,
        }
    }

    /// Free slot starts in `[from, to)`, and how long the request took.
    async fn slots(
        &self,
        user: &User,
        c: &Calendar,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> (Vec<DateTime<Utc>>, Duration) {
        let start = Instant::now();
        let r = self
            .client
            .get(self.url(&format!("/api/v1/providers/{}/slots", c.provider.id)))
            .query(&[
                ("appointment_type_id", c.type_id.to_string()),
                ("from", from.to_rfc3339()),
                ("to", to.to_rfc3339()),
            ])
            .bearer_auth(&user.token)
            .send()
            .await
            .expect("slot request reaches the service");
        let status = r.status();
        let body: Value = r.json().await.expect("slots answer JSON");
        let took = start.elapsed();
        assert_eq!(status, StatusCode::OK, "slots: {body}");
        let starts = body["items"]
            .as_array()
            .expect("slots have items")
            .iter()
            .map(|s| {
                s["start"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .expect("a slot has a start")
            })
            .collect();
        (starts, took)
    }

    /// Book `start` as `patient`; the outcome and how long the request took.
    async fn book(
        &self,
        patient: &User,
        c: &Calendar,
        start: DateTime<Utc>,
    ) -> (Outcome, Duration) {
        let sent = Instant::now();
        let r = self
            .client
            .post(self.url("/api/v1/appointments"))
            .bearer_auth(&patient.token)
            .json(&json!({"provider_id": c.provider.id, "appointment_type_id": c.type_id, "start": start}))
            .send()
            .await;
        let outcome = match r {
            Err(e) => Outcome::Transport(e.to_string()),
            Ok(r) => {
                let status = r.status().as_u16();
                match r.json::<Value>().await {
                    Ok(_) if status == 201 => Outcome::Status(status, None),
                    Ok(body) => Outcome::Status(
                        status,
                        body["type"]
                            .as_str()
                            .map(|t| t.trim_start_matches(PROBLEM_PREFIX).to_owned()),
                    ),
                    Err(e) => Outcome::Transport(format!("{status} with an unreadable body: {e}")),
                }
            }
        };
        (outcome, sent.elapsed())
    }
}

/// A 15-minute type with no buffers, bookable at once and far ahead: enough free slots for any run.
fn quarter_hour_type() -> Value {
    json!({
        "name": "Quick check", "duration_minutes": 15,
        "price": {"amount_minor": 3000, "currency": "EUR"}, "mode": "telehealth",
        "min_notice_minutes": 0, "horizon_days": 60, "cancellation_window_minutes": 0
    })
}

/// Midnight UTC after next: far enough ahead that no slot of a run slips into the past.
fn day_after_tomorrow() -> DateTime<Utc> {
    (Utc::now().date_naive() + Days::new(2))
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
}

/// The first `n` free starts of `c` from the day after tomorrow (up to 31 days ahead).
async fn free_starts(bench: &Bench, c: &Calendar, n: usize) -> Vec<DateTime<Utc>> {
    let from = day_after_tomorrow();
    // 94 quarter hours a day in 00:00–23:30, a day's margin for the zone.
    let days = (n / 90 + 2).min(31) as u64;
    let (mut starts, _) = bench
        .slots(&c.provider, c, from, from + Days::new(days))
        .await;
    assert!(
        starts.len() >= n,
        "a calendar offers {} free slots in {days} days, the run needs {n}: lower the counts",
        starts.len()
    );
    starts.truncate(n);
    starts
}

async fn slot_search(bench: &Bench, cache: &SlotCache, queries: usize, rows: &mut Vec<Row>) {
    // A clinic's week: 09:00–12:00 and 13:00–17:00 Berlin time, 30 minutes plus 10 after.
    let clinic = bench
        .calendar(
            "Europe/Berlin",
            &[("09:00", "12:00"), ("13:00", "17:00")],
            json!({
                "name": "Consultation", "duration_minutes": 30, "buffer_after_minutes": 10,
                "price": {"amount_minor": 6000, "currency": "EUR"}, "mode": "in_person",
                "min_notice_minutes": 60, "horizon_days": 60,
                "cancellation_window_minutes": 1440, "late_cancel_fee_minor": 2500
            }),
        )
        .await;
    let from = day_after_tomorrow();
    let to = from + Days::new(7);
    let (offered, _) = bench.slots(&clinic.provider, &clinic, from, to).await;
    // Every fourth slot booked, so each answer subtracts real bookings and their buffers.
    let booked: Vec<_> = offered.iter().step_by(4).copied().collect();
    let patients = bench.patients(booked.len()).await;
    for (patient, start) in patients.iter().zip(&booked) {
        let (outcome, _) = bench.book(patient, &clinic, *start).await;
        assert!(outcome.created(), "booking the clinic's {start}: {outcome}");
    }
    let searcher = &patients[0];

    let mut uncached = Vec::with_capacity(queries);
    let mut cached = Vec::with_capacity(queries);
    let mut free = 0;
    for _ in 0..WARM_UP / 2 {
        cache.invalidate(clinic.provider.id).await;
        bench.slots(searcher, &clinic, from, to).await;
    }
    for _ in 0..queries {
        cache.invalidate(clinic.provider.id).await;
        let (slots, took) = bench.slots(searcher, &clinic, from, to).await;
        uncached.push(took);
        free = slots.len();
    }
    // Time spent invalidating is not request time; the rate is requests over their own time.
    let uncached_wall = uncached.iter().sum();
    for _ in 0..WARM_UP / 2 {
        bench.slots(searcher, &clinic, from, to).await;
    }
    let start_cached = Instant::now();
    for _ in 0..queries {
        let (slots, took) = bench.slots(searcher, &clinic, from, to).await;
        assert_eq!(slots.len(), free, "cached and uncached answers agree");
        cached.push(took);
    }
    let cached_wall = start_cached.elapsed();
    println!(
        "slot search: one week (7 cached UTC days) of a Berlin clinic, 9–12 and 13–17 daily, 30 min + 10 min \
         buffer: {} offered, {} booked, {free} free per answer; uncached = provider's cache generation bumped \
         before each call, as a calendar change does",
        offered.len(),
        booked.len(),
    );
    rows.push(Row::latencies(
        "GET slots, 1 week, uncached",
        uncached,
        uncached_wall,
    ));
    rows.push(Row::latencies(
        "GET slots, 1 week, cached",
        cached,
        cached_wall,
    ));
}

/// One planned booking of the open-loop run.
struct Planned {
    calendar: usize,
    patient: User,
    start: DateTime<Utc>,
}

async fn booking_run(
    bench: &Arc<Bench>,
    rate: usize,
    seconds: usize,
    rows: &mut Vec<Row>,
) -> Vec<Calendar> {
    let total = rate * seconds;
    let per_provider = (total + WARM_UP).div_ceil(BOOKING_PROVIDERS);
    let zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"];
    let mut calendars = Vec::with_capacity(BOOKING_PROVIDERS);
    let mut starts = Vec::with_capacity(BOOKING_PROVIDERS);
    for i in 0..BOOKING_PROVIDERS {
        let c = bench
            .calendar(
                zones[i % zones.len()],
                &[("00:00", "23:30")],
                quarter_hour_type(),
            )
            .await;
        starts.push(free_starts(bench, &c, per_provider).await);
        calendars.push(c);
    }
    // Booking i goes to provider i mod 20, as its provider's next free slot, by a patient of its own.
    let patients = bench.patients(total + WARM_UP).await;
    let mut plan: Vec<Planned> = patients
        .into_iter()
        .enumerate()
        .map(|(i, patient)| Planned {
            calendar: i % BOOKING_PROVIDERS,
            patient,
            start: starts[i % BOOKING_PROVIDERS][i / BOOKING_PROVIDERS],
        })
        .collect();
    let calendars = Arc::new(calendars);

    // Warm-up, ten at a time so every pooled database connection has prepared its statements.
    let warm: Vec<Planned> = plan.drain(..WARM_UP).collect();
    for chunk in warm.chunks(10) {
        let attempts = chunk
            .iter()
            .map(|p| bench.book(&p.patient, &calendars[p.calendar], p.start));
        for (outcome, _) in futures_util::future::join_all(attempts).await {
            assert!(outcome.created(), "warm-up booking: {outcome}");
        }
    }

    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let t0 = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(total);
    for (i, p) in plan.into_iter().enumerate() {
        let planned = t0 + interval.mul_f64(i as f64);
        tokio::time::sleep_until(planned).await;
        let (bench, calendars) = (bench.clone(), calendars.clone());
        tasks.push(tokio::spawn(async move {
            let lag = planned.elapsed();
            let (outcome, service) = bench
                .book(&p.patient, &calendars[p.calendar], p.start)
                .await;
            (outcome, planned.elapsed(), service, lag)
        }));
    }
    let mut from_planned = Vec::with_capacity(total);
    let mut from_sent = Vec::with_capacity(total);
    let mut max_lag = Duration::ZERO;
    let mut outcomes: BTreeMap<Outcome, usize> = BTreeMap::new();
    for task in tasks {
        let (outcome, latency, service, lag) = task.await.expect("a booking task finishes");
        from_planned.push(latency);
        from_sent.push(service);
        max_lag = max_lag.max(lag);
        *outcomes.entry(outcome).or_default() += 1;
    }
    let wall = t0.elapsed();
    println!(
        "booking run: open loop at {rate}/s for {seconds} s, {BOOKING_PROVIDERS} providers (00:00–23:30 daily, 15 min, \
         4 zones), one patient and one distinct free slot per booking; {WARM_UP} warm-up bookings not counted"
    );
    println!(
        "booking run: {total} sent in {:.2} s (all answered), latest send {} after its planned time",
        wall.as_secs_f64(),
        ms(max_lag)
    );
    let failed: BTreeMap<Outcome, usize> = outcomes
        .iter()
        .filter(|(o, _)| !o.created())
        .map(|(o, n)| (o.clone(), *n))
        .collect();
    let created = outcomes
        .get(&Outcome::Status(201, None))
        .copied()
        .unwrap_or(0);
    println!("booking run: {created} × 201, {} not 201", total - created);
    if !failed.is_empty() {
        print_outcomes("booking run, not 201", &failed);
    }
    rows.push(Row::latencies(
        format!("POST appointments at {rate}/s, from planned send"),
        from_planned,
        wall,
    ));
    rows.push(Row::latencies(
        format!("POST appointments at {rate}/s, from actual send"),
        from_sent,
        wall,
    ));
    Arc::try_unwrap(calendars).unwrap_or_else(|_| panic!("booking tasks are done"))
}

async fn contention(
    bench: &Arc<Bench>,
    rounds: usize,
    clients: usize,
    rows: &mut Vec<Row>,
) -> Calendar {
    let c = Arc::new(
        bench
            .calendar("Europe/Berlin", &[("00:00", "23:30")], quarter_hour_type())
            .await,
    );
    let starts = free_starts(bench, &c, rounds).await;
    let patients = Arc::new(bench.patients(clients).await);

    let mut winners: BTreeMap<usize, usize> = BTreeMap::new();
    let mut outcomes: BTreeMap<Outcome, usize> = BTreeMap::new();
    let mut latencies = Vec::with_capacity(rounds * clients);
    let mut round_times = Vec::with_capacity(rounds);
    // The responses of the first few rounds without exactly one winner, to show how they failed.
    let mut odd_rounds: Vec<(usize, DateTime<Utc>, BTreeMap<Outcome, usize>)> = Vec::new();
    let mut odd_count = 0;
    let wall = Instant::now();
    for (round, start) in starts.iter().enumerate() {
        let round_began = Instant::now();
        let barrier = Arc::new(Barrier::new(clients));
        let tasks: Vec<_> = (0..clients)
            .map(|k| {
                let (bench, c, patients, barrier, start) = (
                    bench.clone(),
                    c.clone(),
                    patients.clone(),
                    barrier.clone(),
                    *start,
                );
                tokio::spawn(async move {
                    barrier.wait().await;
                    bench.book(&patients[k], &c, start).await
                })
            })
            .collect();
        let mut won = 0;
        let mut this_round: BTreeMap<Outcome, usize> = BTreeMap::new();
        for task in tasks {
            let (outcome, took) = task.await.expect("a contending client finishes");
            won += usize::from(outcome.created());
            latencies.push(took);
            *this_round.entry(outcome).or_default() += 1;
        }
        round_times.push(round_began.elapsed());
        *winners.entry(won).or_default() += 1;
        if won != 1 {
            odd_count += 1;
            if odd_rounds.len() < 5 {
                odd_rounds.push((round, *start, this_round.clone()));
            }
        }
        for (outcome, n) in this_round {
            *outcomes.entry(outcome).or_default() += n;
        }
    }
    let wall = wall.elapsed();

    // What the database holds, whatever the responses said.
    let per_slot: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT rows, count(*) FROM (
           SELECT count(a.id) AS rows FROM unnest($2::timestamptz[]) AS s(start)
           LEFT JOIN appointments a ON a.provider_id = $1 AND lower(a.during) = s.start
             AND a.status IN ('booked', 'checked_in')
           GROUP BY s.start) AS per_slot
         GROUP BY rows ORDER BY rows",
    )
    .bind(c.provider.id)
    .bind(&starts)
    .fetch_all(&bench.db)
    .await
    .expect("count rows per raced slot");
    let overlapping = appointments::count_overlapping_active(&bench.db, c.provider.id)
        .await
        .expect("count overlapping rows");

    println!(
        "contention: {rounds} rounds × {clients} concurrent clients (distinct patients) on one slot each \
         (a different slot per round), {:.1} s",
        wall.as_secs_f64()
    );
    let show = |label: &str, m: &BTreeMap<usize, usize>| {
        m.iter()
            .map(|(k, n)| format!("{label}={k}: {n} rounds"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("contention, 201s per slot: {}", show("winners", &winners));
    print_outcomes("contention, responses", &outcomes);
    for (round, start, outcomes) in &odd_rounds {
        print_outcomes(
            &format!("contention, round {round} ({start}) responses"),
            outcomes,
        );
    }
    if odd_count > odd_rounds.len() {
        println!(
            "contention: {} more round(s) without exactly one winner not shown",
            odd_count - odd_rounds.len()
        );
    }
    let rows_per_slot: BTreeMap<usize, usize> = per_slot
        .iter()
        .map(|(r, n)| (*r as usize, *n as usize))
        .collect();
    println!(
        "contention, active rows per raced slot (SQL): {}",
        show("rows", &rows_per_slot)
    );
    println!("contention, overlapping active rows for the provider (SQL): {overlapping}");
    let bad_winners: usize = winners
        .iter()
        .filter(|(w, _)| **w != 1)
        .map(|(_, n)| n)
        .sum();
    let bad_rows: usize = rows_per_slot
        .iter()
        .filter(|(r, _)| **r != 1)
        .map(|(_, n)| n)
        .sum();
    if bad_winners == 0 && bad_rows == 0 && overlapping == 0 {
        println!("contention: OK — exactly one winner and one row per slot, 0 overlapping rows");
    } else {
        println!(
            "contention: PROBLEM — {bad_winners} slot(s) with ≠ 1 winner, {bad_rows} slot(s) with ≠ 1 row, \
             {overlapping} overlapping row pair(s)"
        );
    }
    rows.push(Row::latencies(
        format!("POST appointments, {clients} racing per slot"),
        latencies,
        wall,
    ));
    let mut round_row = Row::latencies(
        format!("contention round ({clients} racing, all answered)"),
        round_times,
        wall,
    );
    round_row.rate = format!("{:.1} rounds/s", rounds as f64 / wall.as_secs_f64());
    rows.push(round_row);
    Arc::try_unwrap(c).unwrap_or_else(|_| panic!("contending clients are done"))
}

/// Delete every Redis key under `prefix` (generation keys have no TTL; the test backing
/// drops the database and the broker topology, not Redis keys).
async fn forget_keys(cache: &Cache, prefix: &str) {
    let mut conn = cache.conn();
    let mut cursor = 0u64;
    loop {
        let page: redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await;
        let Ok((next, keys)) = page else {
            eprintln!("bench Redis keys under {prefix} not deleted");
            return;
        };
        if !keys.is_empty() {
            let _: redis::RedisResult<()> =
                redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs bench targets without `--bench`: skip there,
    // a benchmark is not a test.
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "scheduling booking bench: skipped (run it with `cargo bench -p scheduling --bench booking`)"
        );
        return;
    }
    let queries = setting("BENCH_SLOT_QUERIES", 500);
    let rate = setting("BENCH_RATE", 200);
    let seconds = setting("BENCH_SECONDS", 10);
    let rounds = setting("BENCH_ROUNDS", 1000);
    let clients = setting("BENCH_CLIENTS", 32);

    let began = Instant::now();
    let backing = TestBacking::new("scheduling");
    let mut common = backing.config.clone();
    common.database_max_connections = DB_POOL;
    let config = Config {
        cache_ttl: SLOT_CACHE_TTL,
        ..Config::new(common)
    };
    let pem = SigningKeys::generate_pem().expect("generate an Ed25519 key");
    let keys = SigningKeys::from_pems([("bench", pem)]).expect("load the generated key");
    let verifier = Arc::new(Verifier::new(
        KeySource::Static(keys.jwks().clone()),
        DEFAULT_ISSUER,
        DEFAULT_AUDIENCE,
    ));
    let service = scheduling::build_with_verifier(&config, verifier)
        .await
        .expect("scheduling starts (are PostgreSQL, Redis and RabbitMQ running?)");
    let (addr, cancel) = platform::testing::spawn(service).await;
    backing.track_queue(&scheduling::consumers::spec(&config.common.queue_prefix).queue);
    let c = &config.common;
    let db = platform::db::connect(&c.database_url, 4)
        .await
        .expect("connect to the bench database");
    // The service's own cache handle: bumping a generation here is what a calendar change does.
    let cache = Cache::connect(&c.redis_url, &c.redis_prefix, &c.service, None)
        .await
        .expect("connect to Redis");
    let slot_cache = SlotCache::new(LazyCache::connect(c).await, SLOT_CACHE_TTL.as_secs());
    let bench = Arc::new(Bench {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        keys,
        db,
    });

    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pg: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&bench.db)
        .await
        .expect("PostgreSQL version");
    println!();
    println!(
        "scheduling benchmark — {cpus} CPU(s) shared by client, service, PostgreSQL {pg}, Redis and RabbitMQ; \
         release build, DB pool {DB_POOL}, slot cache TTL {} s, HTTP/1.1 over loopback",
        SLOT_CACHE_TTL.as_secs()
    );
    println!();

    let mut rows = Vec::new();
    slot_search(&bench, &slot_cache, queries, &mut rows).await;
    let calendars = booking_run(&bench, rate, seconds, &mut rows).await;
    let raced = contention(&bench, rounds, clients, &mut rows).await;
    let mut overlapping = 0;
    for c in calendars.iter().chain([&raced]) {
        overlapping += appointments::count_overlapping_active(&bench.db, c.provider.id)
            .await
            .expect("count overlapping rows");
    }
    println!(
        "all {} bench providers of the booking run and the race: {overlapping} overlapping active row pair(s) (SQL)",
        calendars.len() + 1
    );
    println!();
    print_table(&rows);
    println!();
    println!(
        "(percentiles are nearest-rank; latency is client-side, request sent to body read; \
         open-loop figures count from each request's planned send time; total run {:.1} s)",
        began.elapsed().as_secs_f64()
    );

    cancel.cancel();
    // Give the server a moment to close its pool before the database is dropped.
    tokio::time::sleep(Duration::from_millis(200)).await;
    bench.db.close().await;
    forget_keys(&cache, &c.redis_prefix).await;
    drop(backing);
}
