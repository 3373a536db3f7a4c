//! Identity service latency and throughput: login (argon2id-bound) and
//! access-token verification, against the real service on the real PostgreSQL,
//! Redis and RabbitMQ. Prints figures; asserts nothing about timing.
//!
//! Run with `scripts/bench-identity` (or `cargo bench -p identity --bench auth`).
//! Iteration counts: `BENCH_LOGINS`, `BENCH_CONCURRENT_LOGINS`, `BENCH_CLIENTS`,
//! `BENCH_ARGON2`, `BENCH_VERIFY_SECS`, `BENCH_VERIFY_SAMPLE`, `BENCH_ME`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark stops at its first failure

use platform::bench::{ms, print_table, setting, us, Row};
use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use identity::{passwords::Hasher, Config, SigningKeys};
use platform::{
    auth::{KeySource, Verifier},
    testing::TestBacking,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PASSWORD: &str = "a long enough passphrase";
const WARM_UP: usize = 5;
/// Matches the semaphore a small deployment runs with; the bench host has about as many cores.
const HASH_CONCURRENCY: usize = 2;

struct Bench {
    base: String,
    client: reqwest::Client,
    /// The service's database, to mark benchmark accounts verified (as
    /// `carebook accounts verify` does).
    db: sqlx::PgPool,
}

impl Bench {
    async fn register(&self, email: &str) {
        let r = self
            .client
            .post(format!("{}/api/v1/auth/register", self.base))
            .json(&json!({"email": email, "password": PASSWORD, "name": "Bench Patient"}))
            .send()
            .await
            .expect("register request reaches the service");
        assert_eq!(r.status(), StatusCode::ACCEPTED, "register {email}");
        identity::accounts::mark_verified_by_email(&self.db, email, chrono::Utc::now())
            .await
            .expect("mark the account verified")
            .expect("the account exists");
    }

    /// Log in; returns the access token and how long the request took.
    async fn login(&self, email: &str) -> (String, Duration) {
        let start = Instant::now();
        let r = self
            .client
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("login request reaches the service");
        let status = r.status();
        let body: Value = r.json().await.expect("login answers JSON");
        let took = start.elapsed();
        assert_eq!(status, StatusCode::OK, "login {email}: {body}");
        let token = body["access_token"]
            .as_str()
            .expect("login returns an access_token")
            .to_owned();
        (token, took)
    }

    async fn me(&self, token: &str) -> Duration {
        let start = Instant::now();
        let r = self
            .client
            .get(format!("{}/api/v1/auth/me", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("me request reaches the service");
        let status = r.status();
        let body = r.bytes().await.expect("me answers a body");
        let took = start.elapsed();
        assert_eq!(status, StatusCode::OK, "GET /me: {body:?}");
        took
    }
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs bench targets without `--bench`: skip there,
    // a benchmark is not a test.
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "identity auth bench: skipped (run it with `cargo bench -p identity --bench auth`)"
        );
        return;
    }
    let logins = setting("BENCH_LOGINS", 100);
    let concurrent_logins = setting("BENCH_CONCURRENT_LOGINS", 200);
    let clients = setting("BENCH_CLIENTS", 4);
    let argon2_runs = setting("BENCH_ARGON2", 20);
    let verify_secs = setting("BENCH_VERIFY_SECS", 2);
    let verify_sample = setting("BENCH_VERIFY_SAMPLE", 10_000);
    let me_requests = setting("BENCH_ME", 1000);

    let backing = TestBacking::new("identity");
    let config = Config {
        common: backing.config.clone(),
        signing_keys_dir: "unused".into(),
        access_ttl: Duration::from_secs(600),
        refresh_ttl: Duration::from_secs(3600),
        hash_concurrency: HASH_CONCURRENCY,
    };
    let pem = SigningKeys::generate_pem().expect("generate an Ed25519 key");
    let keys = SigningKeys::from_pems([("bench", pem)]).expect("load the generated key");
    let jwks = keys.jwks().clone();
    let service = identity::build_with_keys(&config, keys)
        .await
        .expect("identity starts (are PostgreSQL, Redis and RabbitMQ running?)");
    let (addr, cancel) = platform::testing::spawn(service).await;
    let bench = Arc::new(Bench {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        db: platform::db::connect(&backing.config.database_url, 2)
            .await
            .expect("connect to the bench database"),
    });

    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!();
    println!(
        "identity auth benchmark — {cpus} CPU(s), hash_concurrency = {HASH_CONCURRENCY}, argon2id m=19 MiB t=2 p=1"
    );
    println!();
    let mut rows = Vec::new();

    // Login, one at a time.
    let email = "bench-0@example.org";
    bench.register(email).await;
    for _ in 0..WARM_UP {
        bench.login(email).await;
    }
    let mut samples = Vec::with_capacity(logins);
    let start = Instant::now();
    let mut token = String::new();
    for _ in 0..logins {
        let (t, took) = bench.login(email).await;
        samples.push(took);
        token = t;
    }
    rows.push(Row::latencies_with(
        "POST /auth/login, sequential",
        samples,
        start.elapsed(),
        "logins",
        ms,
    ));

    // Login from several clients at once: the argon2 semaphore and the cores decide.
    for c in 1..clients {
        bench.register(&format!("bench-{c}@example.org")).await;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (bench, next) = (bench.clone(), next.clone());
            tokio::spawn(async move {
                let email = format!("bench-{c}@example.org");
                let mut samples = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < concurrent_logins {
                    samples.push(bench.login(&email).await.1);
                }
                samples
            })
        })
        .collect();
    let mut samples = Vec::with_capacity(concurrent_logins);
    for task in tasks {
        samples.extend(task.await.expect("login client finishes"));
    }
    rows.push(Row::latencies_with(
        format!("POST /auth/login, {clients} concurrent clients"),
        samples,
        start.elapsed(),
        "logins",
        ms,
    ));

    // Argon2id alone, for comparison with the login figures.
    let hasher = Hasher::new(1).expect("argon2 hasher");
    let phc = hasher
        .hash(PASSWORD)
        .await
        .expect("hash the bench password");
    let mut samples = Vec::with_capacity(argon2_runs);
    let start = Instant::now();
    for _ in 0..argon2_runs {
        let t = Instant::now();
        let ok = hasher.verify(PASSWORD, Some(&phc)).await;
        samples.push(t.elapsed());
        assert!(matches!(ok, Ok(true)), "argon2 verifies the bench password");
    }
    rows.push(Row::latencies_with(
        "argon2id verify alone, in-process",
        samples,
        start.elapsed(),
        "verifies",
        ms,
    ));

    // Access-token verification, in-process, on this one task.
    let c = &config.common.auth;
    let verifier = Verifier::new(KeySource::Static(jwks), &c.issuer, &c.audience);
    for _ in 0..1000 {
        verifier
            .verify(&token)
            .await
            .expect("the login's access token verifies");
    }
    let budget = Duration::from_secs(verify_secs as u64);
    let mut verified = 0usize;
    let start = Instant::now();
    while start.elapsed() < budget {
        // Check the clock every 256 calls so timing barely shows in the figure.
        for _ in 0..256 {
            let claims = verifier.verify(&token).await;
            std::hint::black_box(claims.expect("token verifies"));
        }
        verified += 256;
    }
    let wall = start.elapsed();
    let mut samples = Vec::with_capacity(verify_sample);
    for _ in 0..verify_sample {
        let t = Instant::now();
        let claims = verifier.verify(&token).await;
        samples.push(t.elapsed());
        std::hint::black_box(claims.expect("token verifies"));
    }
    let mut verify_row = Row::latencies_with(
        format!("access-token verify, in-process ({verify_sample}-call sample)"),
        samples,
        wall,
        "verifies",
        us,
    );
    // The timed loop, not the sample, gives the rate: no clock reads per call.
    verify_row.rate = format!("{:.0} verifies/s", verified as f64 / wall.as_secs_f64());
    let verify_mean = Duration::from_secs_f64(wall.as_secs_f64() / verified as f64);

    // GET /me: token verification plus one database read, end to end.
    for _ in 0..WARM_UP {
        bench.me(&token).await;
    }
    let mut samples = Vec::with_capacity(me_requests);
    let start = Instant::now();
    for _ in 0..me_requests {
        samples.push(bench.me(&token).await);
    }
    let me_row = Row::latencies_with(
        "GET /auth/me, sequential",
        samples,
        start.elapsed(),
        "requests",
        ms,
    );
    rows.push(verify_row);
    rows.push(me_row);

    print_table(&rows);
    println!();
    println!(
        "access-token verify, timed loop: {verified} verifies in {:.2} s, mean {} per verify",
        wall.as_secs_f64(),
        us(verify_mean)
    );
    println!(
        "(percentiles are nearest-rank; login rows: {WARM_UP} warm-up logins not counted; throughput = n / wall time)"
    );

    cancel.cancel();
    // Give the server a moment to close its pool before the database is dropped.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(backing);
}
