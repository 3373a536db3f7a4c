//! The event pipeline's settings, read with the rest of `CommonConfig`: retry
//! delays, how long consumers remember processed events and idempotency keys
//! live, and the outbox relay's lease and confirm timeout.

use std::time::Duration;

use crate::config::Env;

use super::retry;

/// How events are retried, published and forgotten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSettings {
    /// The retry queues' delays, in order; after the last, the dead-letter
    /// queue (`EVENTS_RETRY_DELAYS`, default `1s,10s,1m,10m,1h`).
    pub retry_delays: Vec<Duration>,
    /// How long a consumer remembers an event it applied (`processed_events`),
    /// so that a redelivery, a retry or a replay is recognised
    /// (`PROCESSED_EVENTS_RETENTION_DAYS`, default 30; longer than every delay together).
    pub processed_retention: Duration,
    /// How long an `Idempotency-Key` and its stored answer live
    /// (`IDEMPOTENCY_KEY_TTL_HOURS`, default 24).
    pub idempotency_ttl: Duration,
    /// How often old `processed_events`, idempotency keys and published outbox
    /// rows are deleted (`PRUNE_INTERVAL_SECONDS`, default 3600; also once at start).
    pub prune_interval: Duration,
    /// How long a relay's claim on a batch of outbox rows holds; a relay that
    /// died holding one leaves it to the others after this (`OUTBOX_LEASE_MS`, default 30 000).
    pub outbox_lease: Duration,
    /// How long a publisher waits for the broker's confirms
    /// (`OUTBOX_CONFIRM_TIMEOUT_MS`, default 10 000; less than the lease).
    pub confirm_timeout: Duration,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            retry_delays: retry::DEFAULT_DELAYS.to_vec(),
            processed_retention: Duration::from_secs(30 * 24 * 3600),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            prune_interval: Duration::from_secs(3600),
            outbox_lease: Duration::from_secs(30),
            confirm_timeout: Duration::from_secs(10),
        }
    }
}

impl EventSettings {
    /// Read the settings (`<SERVICE>_…`, then `CAREBOOK_…`), recording every
    /// invalid one in `env`.
    pub fn load(env: &mut Env) -> Self {
        let defaults = Self::default();
        let retry_delays = match env.optional("EVENTS_RETRY_DELAYS") {
            None => defaults.retry_delays,
            Some(raw) => match retry::parse_delays(&raw) {
                Ok(delays) => delays,
                Err(e) => {
                    env.invalid(format!("EVENTS_RETRY_DELAYS={raw:?} is invalid: {e}"));
                    defaults.retry_delays
                }
            },
        };
        let days: u64 = env.parsed("PROCESSED_EVENTS_RETENTION_DAYS", 30);
        let hours: u64 = env.parsed("IDEMPOTENCY_KEY_TTL_HOURS", 24);
        let prune_seconds: u64 = env.parsed("PRUNE_INTERVAL_SECONDS", 3600);
        let settings = Self {
            retry_delays,
            processed_retention: Duration::from_secs(days.saturating_mul(24 * 3600)),
            idempotency_ttl: Duration::from_secs(hours.saturating_mul(3600)),
            prune_interval: Duration::from_secs(prune_seconds),
            outbox_lease: env.millis("OUTBOX_LEASE_MS", defaults.outbox_lease),
            confirm_timeout: env.millis("OUTBOX_CONFIRM_TIMEOUT_MS", defaults.confirm_timeout),
        };
        for problem in settings.problems() {
            env.invalid(problem);
        }
        settings
    }

    /// Every delay waited out in turn: how long a failing event may take to
    /// reach the dead-letter queue.
    pub fn retry_path(&self) -> Duration {
        self.retry_delays.iter().sum()
    }

    /// What is wrong with these settings taken together.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.processed_retention < Duration::from_secs(24 * 3600) {
            problems.push("PROCESSED_EVENTS_RETENTION_DAYS must be at least 1".to_owned());
        } else if self.processed_retention <= self.retry_path() {
            problems.push(format!(
                "PROCESSED_EVENTS_RETENTION_DAYS must outlast the retry delays together ({} s): \
                 a retried event must still be recognised",
                self.retry_path().as_secs()
            ));
        }
        if self.idempotency_ttl < Duration::from_secs(3600) {
            problems.push("IDEMPOTENCY_KEY_TTL_HOURS must be at least 1".to_owned());
        }
        if self.prune_interval < Duration::from_secs(1) {
            problems.push("PRUNE_INTERVAL_SECONDS must be at least 1".to_owned());
        }
        if self.confirm_timeout < Duration::from_millis(100) {
            problems.push("OUTBOX_CONFIRM_TIMEOUT_MS must be at least 100".to_owned());
        }
        if self.outbox_lease <= self.confirm_timeout {
            problems.push(
                "OUTBOX_LEASE_MS must be longer than OUTBOX_CONFIRM_TIMEOUT_MS: a claim must \
                 outlast the publish it covers"
                    .to_owned(),
            );
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(pairs: &[(&str, &str)]) -> Result<EventSettings, String> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut env = Env::from_map("billing", vars);
        let settings = EventSettings::load(&mut env);
        env.finish().map(|()| settings).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = load(&[]).unwrap();
        assert_eq!(s, EventSettings::default());
        assert_eq!(
            s.retry_path(),
            Duration::from_secs(1 + 10 + 60 + 600 + 3600)
        );
        assert_eq!(s.processed_retention, Duration::from_secs(30 * 86_400));
        assert_eq!(s.idempotency_ttl, Duration::from_secs(86_400));
    }

    #[test]
    fn a_service_may_override_the_shared_value() {
        let s = load(&[
            ("CAREBOOK_EVENTS_RETRY_DELAYS", "1s,5s"),
            ("BILLING_EVENTS_RETRY_DELAYS", "200ms,1s,3s"),
            ("CAREBOOK_OUTBOX_LEASE_MS", "60000"),
        ])
        .unwrap();
        assert_eq!(
            s.retry_delays,
            [
                Duration::from_millis(200),
                Duration::from_secs(1),
                Duration::from_secs(3)
            ]
        );
        assert_eq!(s.outbox_lease, Duration::from_secs(60));
    }

    #[test]
    fn settings_that_could_lose_or_repeat_work_are_refused() {
        let err = load(&[
            ("CAREBOOK_EVENTS_RETRY_DELAYS", "1s,1x"),
            ("CAREBOOK_OUTBOX_LEASE_MS", "5000"),
            ("CAREBOOK_IDEMPOTENCY_KEY_TTL_HOURS", "0"),
        ])
        .unwrap_err();
        assert!(
            err.contains("EVENTS_RETRY_DELAYS=\"1s,1x\" is invalid"),
            "{err}"
        );
        assert!(err.contains("OUTBOX_LEASE_MS must be longer"), "{err}");
        assert!(
            err.contains("IDEMPOTENCY_KEY_TTL_HOURS must be at least 1"),
            "{err}"
        );
        let err = load(&[
            ("CAREBOOK_EVENTS_RETRY_DELAYS", "1h,20h,10h"),
            ("CAREBOOK_PROCESSED_EVENTS_RETENTION_DAYS", "1"),
        ])
        .unwrap_err();
        assert!(err.contains("must outlast the retry delays"), "{err}");
    }
}
