//! Records latency over HTTP against the real service on the real PostgreSQL,
//! Redis and RabbitMQ: reads of a provider's view of a patient's notes (a list
//! of 20 and a single note) cached and uncached, and writes. Every request is
//! authorized (care relationship lookup), decrypted (AES-256-GCM envelope) and
//! audited (a hash-chain append), exactly as in production. "Uncached" bumps
//! the patient's cache generation before each request (outside the timing), as
//! a write would. Prints figures; asserts nothing about timing.
//!
//! Run with `scripts/bench-records` (or `cargo bench -p records --bench records`).
//! Counts: `BENCH_READS` (1000), `BENCH_WRITES` (500), `BENCH_CLIENTS` (8).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark stops at its first failure

use platform::bench::{ms, print_table, setting, Row};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use contracts::scheduling::AppointmentStatus;
use identity::{tokens::access_claims, SigningKeys};
use platform::{
    auth::{KeySource, Role, Verifier},
    config::{DEFAULT_AUDIENCE, DEFAULT_ISSUER},
    testing::{appointment, TestBacking},
};
use records::{keys::MasterKeys, store::care, Config};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

/// The service's own default pool, not the smaller one the test backing picks.
const DB_POOL: u32 = 10;
const WARM_UP: usize = 50;
const NOTES: usize = 40;
const TOKEN_TTL_SECONDS: i64 = 3600;

struct Bench {
    client: reqwest::Client,
    redis: redis::aio::MultiplexedConnection,
    generation_key: String,
    provider_token: String,
}

impl Bench {
    /// One GET as the provider; its latency.
    async fn read(&self, url: &str) -> Duration {
        let start = Instant::now();
        let r = self
            .client
            .get(url)
            .bearer_auth(&self.provider_token)
            .send()
            .await
            .expect("read reaches the service");
        let status = r.status();
        let body = r.bytes().await.expect("read answers");
        let took = start.elapsed();
        assert_eq!(status, StatusCode::OK, "GET {url}: {body:?}");
        took
    }

    async fn write(&self, url: &str, text: &str) -> (Duration, Value) {
        let start = Instant::now();
        let r = self
            .client
            .post(url)
            .bearer_auth(&self.provider_token)
            .json(&json!({ "text": text }))
            .send()
            .await
            .expect("write reaches the service");
        let status = r.status();
        let body: Value = r.json().await.expect("write answers JSON");
        let took = start.elapsed();
        assert_eq!(status, StatusCode::CREATED, "POST {url}: {body}");
        (took, body)
    }

    /// As a write would: everything cached for the patient is abandoned.
    async fn invalidate(&mut self) {
        redis::cmd("INCR")
            .arg(&self.generation_key)
            .query_async::<i64>(&mut self.redis)
            .await
            .expect("Redis answers");
    }

    async fn reads(&mut self, url: &str, n: usize, cached: bool) -> (Vec<Duration>, Duration) {
        for _ in 0..WARM_UP {
            self.read(url).await;
        }
        let mut samples = Vec::with_capacity(n);
        let mut busy = Duration::ZERO;
        for _ in 0..n {
            if !cached {
                self.invalidate().await;
            }
            let took = self.read(url).await;
            busy += took;
            samples.push(took);
        }
        (samples, busy)
    }
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs bench targets without `--bench`: skip there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("records bench: skipped (run it with `cargo bench -p records --bench records`)");
        return;
    }
    let reads = setting("BENCH_READS", 1000);
    let writes = setting("BENCH_WRITES", 500);
    let clients = setting("BENCH_CLIENTS", 8);

    let backing = TestBacking::new("records");
    let mut common = backing.config.clone();
    common.database_max_connections = DB_POOL;
    let key = records::keys::generate("bench").expect("a key id");
    let config = Config {
        common,
        master_keys: MasterKeys::parse(&key).expect("a master key"),
        cache_ttl: Duration::from_secs(300),
        break_glass: chrono::Duration::minutes(30),
        break_glass_daily_limit: 3,
        care: platform::care::CarePolicy::default(),
    };
    let signing = Arc::new(
        SigningKeys::from_pems([("bench", SigningKeys::generate_pem().expect("a key"))])
            .expect("signing keys"),
    );
    let verifier = Arc::new(Verifier::new(
        KeySource::Static(signing.jwks().clone()),
        DEFAULT_ISSUER,
        DEFAULT_AUDIENCE,
    ));
    let service = records::build_with_verifier(&config, verifier)
        .await
        .expect("records starts");
    let prefix = &config.common.queue_prefix;
    backing.track_queue(&records::consumers::care_spec(prefix).queue);
    backing.track_queue(&records::consumers::patients_spec(prefix).queue);
    let (addr, cancel) = platform::testing::spawn(service).await;
    let base = format!("http://{addr}");

    // A patient in the care of a provider (the relationship as the consumer stores it).
    let db = platform::db::connect(&config.common.database_url, 2)
        .await
        .expect("database");
    let (patient_id, provider_id) = (Uuid::now_v7(), Uuid::now_v7());
    let mut conn = db.acquire().await.expect("a connection");
    care::ensure_patient(&mut conn, patient_id)
        .await
        .expect("patient");
    let start = Utc::now() + chrono::Duration::days(1);
    let booked = appointment(
        Uuid::now_v7(),
        patient_id,
        provider_id,
        start,
        AppointmentStatus::Booked,
        1,
    );
    care::apply_appointment(&mut conn, &booked, None)
        .await
        .expect("relationship");
    drop(conn);
    let claims = access_claims(
        provider_id,
        Role::Provider,
        DEFAULT_ISSUER,
        DEFAULT_AUDIENCE,
        Utc::now(),
        TOKEN_TTL_SECONDS,
    );
    let redis = redis::Client::open(config.common.redis_url.as_str())
        .expect("Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    let mut bench = Bench {
        client: reqwest::Client::new(),
        redis,
        generation_key: format!(
            "{}records:generation:{patient_id}",
            config.common.redis_prefix
        ),
        provider_token: signing.sign(&claims).expect("a token"),
    };
    let notes = format!("{base}/api/v1/patients/{patient_id}/records/notes");
    let text = "Patient reports intermittent chest tightness on exertion, no radiation. \
                BP 138/86, HR 78 regular. ECG unremarkable. Plan: stress test, statin review. "
        .repeat(4);

    println!(
        "records bench: {NOTES} notes of {} characters per patient, lists of 20",
        text.len()
    );
    let mut note_ids = Vec::new();
    for i in 0..NOTES {
        let (_, body) = bench.write(&notes, &format!("{text} #{i}")).await;
        note_ids.push(body["id"].as_str().expect("an id").to_owned());
    }
    let list = format!("{notes}?limit=20");
    let one = format!("{notes}/{}", note_ids[NOTES / 2]);
    let mut rows = Vec::new();

    for (what, url, cached) in [
        ("read list of 20, cached", &list, true),
        ("read list of 20, uncached", &list, false),
        ("read one note, cached", &one, true),
        ("read one note, uncached", &one, false),
    ] {
        let wall = Instant::now();
        let (samples, _) = bench.reads(url, reads, cached).await;
        rows.push(Row::latencies(what, samples, wall.elapsed()));
    }

    // Cached reads from several clients at once.
    let wall = Instant::now();
    let per_client = reads / clients.max(1);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let client = bench.client.clone();
        let token = bench.provider_token.clone();
        let url = list.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                let start = Instant::now();
                let r = client
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("read reaches the service");
                assert_eq!(r.status(), StatusCode::OK);
                r.bytes().await.expect("read answers");
                samples.push(start.elapsed());
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await.expect("a client"));
    }
    rows.push(Row::latencies(
        format!("read list of 20, cached, {clients} clients"),
        samples,
        wall.elapsed(),
    ));

    let wall = Instant::now();
    let mut samples = Vec::with_capacity(writes);
    for i in 0..writes {
        let (took, _) = bench.write(&notes, &format!("{text} write {i}")).await;
        samples.push(took);
    }
    rows.push(Row::latencies("write note", samples, wall.elapsed()));

    print_table(&rows);
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&db)
        .await
        .expect("audit count");
    let verify = Instant::now();
    let verified = records::audit::verify(&db)
        .await
        .expect("the chain verifies");
    println!(
        "audit: {audited} entries appended; chain verified ({verified} entries) in {}",
        ms(verify.elapsed())
    );
    cancel.cancel();
    db.close().await;
}
