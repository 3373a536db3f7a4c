//! The identity service's public keys as this process knows them: fetched from
//! its JWKS on a schedule and when a token names a key we do not hold.
//!
//! - The key set in use is an `Arc` swapped whole after each successful fetch,
//!   so no lock is held across a fetch and a key that left the JWKS is dropped
//!   with it (tokens it signed stop verifying at the next refresh, at most
//!   [`JwksPolicy::refresh_every`] later).
//! - At most one fetch is in flight; it runs on its own task, so a token check
//!   that stops waiting for it (after [`JwksPolicy::wait`]) does not cancel it
//!   and the next check benefits.
//! - When fetches start is decided by the pure [`Gate`]: an unknown `kid` may
//!   start one at most every [`JwksPolicy::min_interval`] after a success
//!   (forged `kid`s cannot make us hammer identity), and after failures only
//!   once a pause has passed that doubles per failure up to
//!   [`JwksPolicy::backoff_max`]; the schedule retries on the same pauses.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, PoisonError, RwLock, Weak,
    },
    time::{Duration, Instant},
};

use jsonwebtoken::{
    jwk::{Jwk, JwkSet},
    DecodingKey,
};
use tokio::sync::watch;

use super::TokenError;
use crate::config::Env;

/// When the key set is fetched, and how long a token check waits for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwksPolicy {
    /// The key set is fetched again this often while all is well
    /// (`JWKS_REFRESH_SECONDS`, default 300): the longest a withdrawn key
    /// stays trusted.
    pub refresh_every: Duration,
    /// The longest a token check waits for a fetch (`JWKS_WAIT_MS`, default
    /// 2000); then it answers "keys unavailable" (503) and the fetch goes on.
    pub wait: Duration,
    /// After a successful fetch, unknown `kid`s start another one at most this
    /// often (10 s).
    pub min_interval: Duration,
    /// The pause after a failed fetch, doubled per further failure (500 ms)…
    pub backoff_base: Duration,
    /// …up to this (10 s), which is also the longest identity's keys stay
    /// unknown here after it comes back.
    pub backoff_max: Duration,
    /// A fetch taking longer counts as failed (10 s).
    pub fetch_timeout: Duration,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        Self {
            refresh_every: Duration::from_secs(300),
            wait: Duration::from_secs(2),
            min_interval: Duration::from_secs(10),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(10),
        }
    }
}

impl JwksPolicy {
    /// `JWKS_REFRESH_SECONDS` and `JWKS_WAIT_MS` (service-specific or `CAREBOOK_`).
    pub fn load(env: &mut Env) -> Self {
        let defaults = Self::default();
        let refresh_seconds: u64 = env.parsed("JWKS_REFRESH_SECONDS", 300);
        if !(1..=86_400).contains(&refresh_seconds) {
            env.invalid("JWKS_REFRESH_SECONDS must be between 1 and 86400");
        }
        let wait = env.millis("JWKS_WAIT_MS", defaults.wait);
        if wait.is_zero() || wait > Duration::from_secs(30) {
            env.invalid("JWKS_WAIT_MS must be between 1 and 30000");
        }
        Self {
            refresh_every: Duration::from_secs(refresh_seconds),
            wait,
            ..defaults
        }
    }

    /// The pause before fetching again after `failures` failed fetches in a
    /// row: `backoff_base`, doubled per further failure, at most `backoff_max`.
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.backoff_base
            .saturating_mul(1u32 << doublings)
            .min(self.backoff_max)
    }
}

/// Why a fetch is wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A token names a key we do not hold.
    UnknownKid,
    /// The refresh schedule (or an explicit refresh).
    Schedule,
}

/// What to do about a wanted fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begin {
    /// Start one: none is in flight.
    Start,
    /// Wait for the one in flight.
    Join,
    /// Not now (too soon after the last fetch).
    Refuse,
}

/// When fetches may start: the pure rules, apart from any I/O.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gate {
    in_flight: bool,
    /// Failed fetches in a row (0 after a success).
    failures: u32,
    /// No fetch for an unknown `kid` starts before this.
    quiet_until: Option<Instant>,
    /// How the last fetch ended (`None`: none has yet).
    last_ok: Option<bool>,
}

impl Gate {
    /// Decide about a fetch wanted `now`; `Start` marks one in flight.
    pub fn begin(&mut self, trigger: Trigger, now: Instant) -> Begin {
        if self.in_flight {
            return Begin::Join;
        }
        if trigger == Trigger::UnknownKid && self.quiet_until.is_some_and(|t| now < t) {
            return Begin::Refuse;
        }
        self.in_flight = true;
        Begin::Start
    }

    /// Record the end of the fetch in flight.
    pub fn finish(&mut self, ok: bool, now: Instant, policy: &JwksPolicy) {
        self.in_flight = false;
        self.last_ok = Some(ok);
        let pause = if ok {
            self.failures = 0;
            policy.min_interval
        } else {
            self.failures = self.failures.saturating_add(1);
            policy.backoff(self.failures)
        };
        self.quiet_until = now.checked_add(pause);
    }

    /// How long the schedule sleeps after a fetch: the refresh interval when
    /// it succeeded, the backoff when it failed.
    pub fn next_scheduled(&self, policy: &JwksPolicy) -> Duration {
        match self.last_ok {
            Some(true) => policy.refresh_every,
            _ => policy.backoff(self.failures),
        }
    }

    /// Why a token whose `kid` we do not hold is refused: the key is unknown
    /// when the last fetch succeeded; otherwise we cannot tell.
    pub fn refusal(&self) -> TokenError {
        match self.last_ok {
            Some(true) => TokenError::UnknownKey,
            _ => TokenError::KeysUnavailable,
        }
    }
}

/// Where the public keys come from.
#[derive(Clone)]
pub enum KeySource {
    /// The identity service's `/.well-known/jwks.json`.
    Http {
        client: reqwest::Client,
        url: String,
    },
    /// Keys already in hand (the identity service itself, tests).
    Static(JwkSet),
}

/// One public key. Kept behind an `Arc` that survives refreshes while the key
/// is unchanged, so "is this still the key we checked with" is a pointer test.
pub struct Key {
    pub kid: String,
    jwk: Jwk,
    pub decoding: DecodingKey,
}

/// The keys in use, by `kid`.
#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<Key>>,
}

impl KeySet {
    /// The usable keys of `set` (with a `kid`, of a supported type), reusing
    /// `previous`'s `Arc` for each key that did not change.
    fn from_jwks(set: &JwkSet, previous: &KeySet) -> Self {
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                if let Some(same) = previous.keys.get(&kid).filter(|k| k.jwk == *jwk) {
                    return Some((kid, same.clone()));
                }
                let decoding = DecodingKey::from_jwk(jwk).ok()?;
                Some((
                    kid.clone(),
                    Arc::new(Key {
                        kid,
                        jwk: jwk.clone(),
                        decoding,
                    }),
                ))
            })
            .collect();
        Self { keys }
    }
}

/// The key set, its fetches and its schedule. Shared by a verifier and the
/// tasks fetching for it.
pub(crate) struct KeyRing {
    source: KeySource,
    policy: JwksPolicy,
    current: RwLock<Arc<KeySet>>,
    gate: Mutex<Gate>,
    /// How many fetches have finished; waiters watch it move.
    finished: watch::Sender<u64>,
    /// Whether the refresh schedule runs.
    scheduled: AtomicBool,
}

impl KeyRing {
    pub(crate) fn new(source: KeySource, policy: JwksPolicy) -> Arc<Self> {
        let (current, gate) = match &source {
            KeySource::Static(set) => (
                KeySet::from_jwks(set, &KeySet::default()),
                Gate {
                    last_ok: Some(true),
                    ..Gate::default()
                },
            ),
            KeySource::Http { .. } => (KeySet::default(), Gate::default()),
        };
        Arc::new(Self {
            source,
            policy,
            current: RwLock::new(Arc::new(current)),
            gate: Mutex::new(gate),
            finished: watch::channel(0).0,
            scheduled: AtomicBool::new(false),
        })
    }

    fn lookup(&self, kid: &str) -> Option<Arc<Key>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys
            .get(kid)
            .cloned()
    }

    /// Whether any key is held: static keys, or a fetch has brought some.
    pub(crate) fn holds_keys(&self) -> bool {
        !self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys
            .is_empty()
    }

    /// Whether `key` is still the key published under its `kid`.
    pub(crate) fn is_current(&self, key: &Arc<Key>) -> bool {
        self.lookup(&key.kid)
            .is_some_and(|current| Arc::ptr_eq(&current, key))
    }

    fn gate(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key named `kid`, fetching the key set if we do not hold it and the
    /// gate allows; waits at most [`JwksPolicy::wait`] for a fetch.
    pub(crate) async fn key(self: &Arc<Self>, kid: &str) -> Result<Arc<Key>, TokenError> {
        if let Some(key) = self.lookup(kid) {
            return Ok(key);
        }
        if matches!(self.source, KeySource::Static(_)) {
            return Err(TokenError::UnknownKey);
        }
        self.keep_fresh();
        let seen = {
            let mut gate = self.gate();
            // A fetch may have brought it since we looked.
            if let Some(key) = self.lookup(kid) {
                return Ok(key);
            }
            let begin = gate.begin(Trigger::UnknownKid, Instant::now());
            if begin == Begin::Refuse {
                return Err(gate.refusal());
            }
            (*self.finished.borrow(), begin)
        };
        self.await_fetch(seen, Some(self.policy.wait)).await?;
        match self.lookup(kid) {
            Some(key) => Ok(key),
            None => Err(self.gate().refusal()),
        }
    }

    /// Fetch now (or join the fetch in flight) and wait for it, at most
    /// [`JwksPolicy::wait`]. Static keys need no fetch.
    pub(crate) async fn refresh(self: &Arc<Self>) -> Result<(), TokenError> {
        if matches!(self.source, KeySource::Static(_)) {
            return Ok(());
        }
        let seen = {
            let mut gate = self.gate();
            (
                *self.finished.borrow(),
                gate.begin(Trigger::Schedule, Instant::now()),
            )
        };
        self.await_fetch(seen, Some(self.policy.wait)).await?;
        match self.gate().last_ok {
            Some(true) => Ok(()),
            _ => Err(TokenError::KeysUnavailable),
        }
    }

    /// Start the fetch if `begin` says so, then wait until a fetch finished
    /// after `finished` was `count` (at most `wait`). The gate lock is not
    /// held here: a fetch dropped as soon as spawned (runtime shutting down)
    /// records its end under that lock.
    async fn await_fetch(
        self: &Arc<Self>,
        (count, begin): (u64, Begin),
        wait: Option<Duration>,
    ) -> Result<(), TokenError> {
        if begin == Begin::Start {
            self.spawn_fetch();
        }
        let mut finished = self.finished.subscribe();
        let done = finished.wait_for(|n| *n > count);
        match wait {
            None => {
                let _ = done.await;
            }
            Some(limit) => {
                if tokio::time::timeout(limit, done).await.is_err() {
                    ::metrics::counter!("jwks_waits_timed_out_total").increment(1);
                    tracing::warn!(
                        wait_ms = limit.as_millis() as u64,
                        "JWKS fetch slower than a token check may wait"
                    );
                    return Err(TokenError::KeysUnavailable);
                }
            }
        }
        Ok(())
    }

    fn spawn_fetch(self: &Arc<Self>) {
        let KeySource::Http { client, url } = &self.source else {
            return;
        };
        let (client, url) = (client.clone(), url.clone());
        let fetch = Fetch {
            ring: self.clone(),
            outcome: None,
        };
        let limit = self.policy.fetch_timeout;
        tokio::spawn(async move {
            let outcome = match tokio::time::timeout(limit, get(&client, &url)).await {
                Ok(result) => result,
                Err(_) => Err(format!("no answer within {} ms", limit.as_millis())),
            };
            fetch.end(outcome);
        });
    }

    /// Record a finished fetch: install its keys, update the gate, wake waiters.
    fn finish(&self, outcome: Result<JwkSet, String>) {
        let mut gate = self.gate();
        let ok = match outcome {
            Ok(set) => {
                let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
                let next = KeySet::from_jwks(&set, &current);
                if next.keys.is_empty() {
                    tracing::warn!("the JWKS lists no usable key");
                }
                *current = Arc::new(next);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, failures = gate.failures + 1, "JWKS fetch failed");
                false
            }
        };
        ::metrics::counter!("jwks_fetches_total", "outcome" => if ok { "ok" } else { "failed" })
            .increment(1);
        gate.finish(ok, Instant::now(), &self.policy);
        self.finished.send_modify(|n| *n += 1);
    }

    /// Run the refresh schedule (fetching at once) while this ring lives, if
    /// its keys come over HTTP and a runtime is at hand; idempotent.
    pub(crate) fn keep_fresh(self: &Arc<Self>) {
        if !matches!(self.source, KeySource::Http { .. })
            || self.scheduled.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.scheduled.store(false, Ordering::SeqCst);
            return;
        };
        let schedule = Schedule(Arc::downgrade(self));
        runtime.spawn(async move {
            loop {
                let Some(ring) = schedule.0.upgrade() else {
                    return;
                };
                let seen = {
                    let mut gate = ring.gate();
                    (
                        *ring.finished.borrow(),
                        gate.begin(Trigger::Schedule, Instant::now()),
                    )
                };
                // Never fails without a limit; the fetch has its own timeout.
                let _ = ring.await_fetch(seen, None).await;
                let pause = ring.gate().next_scheduled(&ring.policy);
                drop(ring);
                tokio::time::sleep(pause).await;
            }
        });
    }
}

/// A fetch in flight. However its task ends (even dropped with its runtime),
/// dropping this records the end, so the gate never stays "in flight".
struct Fetch {
    ring: Arc<KeyRing>,
    outcome: Option<Result<JwkSet, String>>,
}

impl Fetch {
    /// Record how the fetch ended (by dropping it).
    fn end(mut self, outcome: Result<JwkSet, String>) {
        self.outcome = Some(outcome);
    }
}

impl Drop for Fetch {
    fn drop(&mut self) {
        let outcome = self
            .outcome
            .take()
            .unwrap_or_else(|| Err("the fetch was cancelled".to_owned()));
        self.ring.finish(outcome);
    }
}

/// The refresh schedule's task; if it ends (its runtime stopped), the next
/// use of the ring starts another.
struct Schedule(Weak<KeyRing>);

impl Drop for Schedule {
    fn drop(&mut self) {
        if let Some(ring) = self.0.upgrade() {
            ring.scheduled.store(false, Ordering::SeqCst);
        }
    }
}

/// GET the key set. Errors never carry the URL's query or a body.
async fn get(client: &reqwest::Client, url: &str) -> Result<JwkSet, String> {
    client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| e.without_url().to_string())?
        .json::<JwkSet>()
        .await
        .map_err(|e| e.without_url().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> JwksPolicy {
        JwksPolicy::default()
    }

    #[test]
    fn an_unknown_kid_starts_one_fetch_and_later_ones_join_it() {
        let mut gate = Gate::default();
        let now = Instant::now();
        assert_eq!(gate.begin(Trigger::UnknownKid, now), Begin::Start);
        assert_eq!(gate.begin(Trigger::UnknownKid, now), Begin::Join);
        assert_eq!(gate.begin(Trigger::Schedule, now), Begin::Join);
    }

    #[test]
    fn after_a_success_unknown_kids_fetch_at_most_once_per_min_interval() {
        let p = policy();
        let mut gate = Gate::default();
        let t0 = Instant::now();
        gate.begin(Trigger::UnknownKid, t0);
        gate.finish(true, t0, &p);
        assert_eq!(gate.begin(Trigger::UnknownKid, t0), Begin::Refuse);
        assert_eq!(gate.refusal(), TokenError::UnknownKey);
        let later = t0 + p.min_interval;
        assert_eq!(gate.begin(Trigger::UnknownKid, later), Begin::Start);
    }

    #[test]
    fn failed_fetches_back_off_doubling_up_to_the_maximum() {
        let p = policy();
        let pauses: Vec<u64> = (1..=8).map(|n| p.backoff(n).as_millis() as u64).collect();
        assert_eq!(
            pauses,
            [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]
        );
        assert_eq!(p.backoff(u32::MAX), p.backoff_max);

        let mut gate = Gate::default();
        let t0 = Instant::now();
        for n in 1..=3 {
            assert_eq!(gate.begin(Trigger::Schedule, t0), Begin::Start);
            gate.finish(false, t0, &p);
            assert_eq!(gate.next_scheduled(&p), p.backoff(n));
        }
        assert_eq!(gate.refusal(), TokenError::KeysUnavailable);
        assert_eq!(
            gate.begin(
                Trigger::UnknownKid,
                t0 + p.backoff(3) - Duration::from_millis(1)
            ),
            Begin::Refuse
        );
        assert_eq!(
            gate.begin(Trigger::UnknownKid, t0 + p.backoff(3)),
            Begin::Start
        );
        gate.finish(true, t0, &p);
        assert_eq!(gate.next_scheduled(&p), p.refresh_every, "healthy again");
    }

    #[test]
    fn the_schedule_fetches_whatever_the_pause_unless_one_is_in_flight() {
        let p = policy();
        let mut gate = Gate::default();
        let t0 = Instant::now();
        gate.begin(Trigger::Schedule, t0);
        gate.finish(true, t0, &p);
        assert_eq!(gate.begin(Trigger::Schedule, t0), Begin::Start);
        assert_eq!(gate.begin(Trigger::Schedule, t0), Begin::Join);
    }

    #[test]
    fn before_any_fetch_an_unknown_kid_is_a_key_we_cannot_check() {
        assert_eq!(Gate::default().refusal(), TokenError::KeysUnavailable);
    }

    #[test]
    fn the_policy_reads_its_two_settings_and_refuses_nonsense() {
        let mut env = Env::from_map(
            "gateway",
            [
                ("GATEWAY_JWKS_REFRESH_SECONDS", "60"),
                ("CAREBOOK_JWKS_WAIT_MS", "750"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        let p = JwksPolicy::load(&mut env);
        assert!(env.finish().is_ok());
        assert_eq!(p.refresh_every, Duration::from_secs(60));
        assert_eq!(p.wait, Duration::from_millis(750));
        assert_eq!(p.min_interval, JwksPolicy::default().min_interval);

        let mut env = Env::from_map(
            "gateway",
            [
                ("CAREBOOK_JWKS_REFRESH_SECONDS", "0"),
                ("CAREBOOK_JWKS_WAIT_MS", "0"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        JwksPolicy::load(&mut env);
        let errors = env.finish().map(|_| Vec::new()).unwrap_or_else(|e| e.0);
        assert_eq!(errors.len(), 2, "{errors:?}");
    }
}
