//! Retries with growing delays, through the broker: the names of the retry
//! queues, where a failed delivery goes next, and the headers that carry its
//! history. Pure functions; the consumer and `carebook events dlq` apply them.
//!
//! Per consumer queue `<q>` there is one durable quorum queue per delay,
//! `<q>.retry.<delay>` (`<q>.retry.1s`, `.10s`, `.1m`, `.10m`, `.1h` by
//! default), with that delay as its message TTL (`x-message-ttl`) and the retry
//! exchange `<exchange>.retry` as its dead-letter exchange, routing key `<q>`:
//! a message waits there for the delay, then goes back to `<q>`. One queue per
//! delay (not a TTL per message), so a message never waits behind a longer one.
//!
//! A delivery whose handler fails for a reason that may pass (the database is
//! down) is published to the next retry queue with publisher confirms, and only
//! then acknowledged; after the last delay it goes to `<q>.dlq` instead.
//! Messages that can never be applied (undecodable, outside their contract,
//! malformed) go to `<q>.dlq` at once.

use std::{collections::BTreeMap, fmt, time::Duration};

use chrono::{DateTime, SecondsFormat, Utc};
use lapin::types::{AMQPValue, FieldTable, ShortString};

/// Failed deliveries so far on the current path (absent: none). Reset to 0 by
/// a replay from the dead-letter queue.
pub const ATTEMPTS: &str = "x-carebook-attempts";
/// The broker-validated `user-id` of whoever first published the event (empty:
/// none), kept when a consumer (or `carebook events dlq replay`, as that
/// service) republishes it under its own user. Believed only on a message
/// whose `user-id` is the consumer's own user.
pub const PUBLISHER: &str = "x-carebook-publisher";
/// Why and when the first delivery failed (RFC 3339).
pub const FIRST_FAILURE: &str = "x-carebook-first-failure";
pub const FIRST_FAILED_AT: &str = "x-carebook-first-failed-at";
/// Why and when the latest delivery failed.
pub const LAST_FAILURE: &str = "x-carebook-last-failure";
pub const LAST_FAILED_AT: &str = "x-carebook-last-failed-at";
/// How often the message was sent back from the dead-letter queue.
pub const REPLAYS: &str = "x-carebook-replays";

/// Headers the broker sets when it delivers or dead-letters a message. A
/// republished copy drops them: RabbitMQ silently drops a message that is
/// dead-lettered into a queue its `x-death` already names (a "cycle"), and
/// `x-delivery-count` belongs to the queue it was read from.
const BROKER_HEADERS: [&str; 8] = [
    "x-death",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
    "x-delivery-count",
];

/// The default delays: 1 s, 10 s, 1 min, 10 min, 1 h (71 min in all, so a
/// database outage of half an hour dead-letters nothing).
pub const DEFAULT_DELAYS: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(600),
    Duration::from_secs(3600),
];

/// The longest delay a queue TTL can hold (`x-message-ttl` is at most 2^32-1 ms).
const MAX_DELAY: Duration = Duration::from_millis(u32::MAX as u64);

/// A delay as it appears in a retry queue's name: `250ms`, `1s`, `10m`, `1h`.
pub fn format_delay(delay: Duration) -> String {
    let ms = delay.as_millis();
    match ms {
        0 => "0ms".to_owned(),
        _ if ms.is_multiple_of(3_600_000) => format!("{}h", ms / 3_600_000),
        _ if ms.is_multiple_of(60_000) => format!("{}m", ms / 60_000),
        _ if ms.is_multiple_of(1_000) => format!("{}s", ms / 1_000),
        _ => format!("{ms}ms"),
    }
}

/// One delay: a whole number with a unit `ms`, `s`, `m` or `h`.
fn parse_delay(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a number with a unit (ms, s, m, h)"))?;
    let unit_ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("{s:?} has no unit ms, s, m or h")),
    };
    let delay = Duration::from_millis(n.saturating_mul(unit_ms));
    if delay.is_zero() || delay > MAX_DELAY {
        return Err(format!("{s:?} is not between 1ms and 49 days"));
    }
    Ok(delay)
}

/// A comma-separated list of delays (`1s,10s,1m,10m,1h`); at least one, each
/// at most once (a delay names its queue).
pub fn parse_delays(s: &str) -> Result<Vec<Duration>, String> {
    let delays = s
        .split(',')
        .map(parse_delay)
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = delays.clone();
    seen.sort();
    seen.dedup();
    if seen.len() != delays.len() {
        return Err("a delay is listed twice".to_owned());
    }
    Ok(delays)
}

/// The retry queue of `queue` that holds messages for `delay`.
pub fn retry_queue(queue: &str, delay: Duration) -> String {
    format!("{queue}.retry.{}", format_delay(delay))
}

/// The dead-letter queue of `queue`.
pub fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dlq")
}

/// Where a delivery that failed goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// The retry queue of this delay.
    Retry(Duration),
    /// The dead-letter queue: every delay has been waited out.
    DeadLetter,
}

/// The next stop of a message that has failed `attempts_before` times before
/// this failure: the `attempts_before`-th delay, or the dead-letter queue.
pub fn next_step(attempts_before: u32, delays: &[Duration]) -> Next {
    delays
        .get(attempts_before as usize)
        .map_or(Next::DeadLetter, |d| Next::Retry(*d))
}

/// Why a delivery failed, as its headers and the dead-letter listing show it.
/// Never the event's data: a malformed event's error may quote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The body is not an envelope.
    Undecodable,
    /// The event is outside its contract (`unknown-type`, `forged-publisher`, …).
    Contract(&'static str),
    /// The handler can never apply it.
    Malformed,
    /// The handler failed for a reason that may pass; the text is the error's
    /// own (a database or broker message), as the consumer logs it.
    Transient(String),
}

impl Failure {
    /// Whether a later attempt may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Failure::Transient(_))
    }
}

/// Longest failure text kept in a header.
const MAX_REASON: usize = 200;

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Undecodable => f.write_str("undecodable"),
            Failure::Contract(violation) => write!(f, "contract: {violation}"),
            Failure::Malformed => f.write_str("malformed"),
            Failure::Transient(reason) => {
                let cut = reason
                    .char_indices()
                    .nth(MAX_REASON)
                    .map_or(reason.len(), |(i, _)| i);
                write!(f, "transient: {}", &reason[..cut])
            }
        }
    }
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(s.into())
}

/// A header as text, if it is a string.
pub fn text(headers: Option<&FieldTable>, name: &str) -> Option<String> {
    match headers?.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// A header as a count, if it is a non-negative integer.
pub fn count(headers: Option<&FieldTable>, name: &str) -> Option<u32> {
    match headers?.inner().get(name)? {
        AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
        AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
        AMQPValue::LongUInt(n) => Some(*n),
        AMQPValue::ShortInt(n) => u32::try_from(*n).ok(),
        AMQPValue::ShortUInt(n) => Some(u32::from(*n)),
        AMQPValue::ShortShortInt(n) => u32::try_from(*n).ok(),
        AMQPValue::ShortShortUInt(n) => Some(u32::from(*n)),
        _ => None,
    }
}

/// Failed deliveries so far (the [`ATTEMPTS`] header; 0 when absent).
pub fn attempts(headers: Option<&FieldTable>) -> u32 {
    count(headers, ATTEMPTS).unwrap_or(0)
}

/// Who published a delivered message, as far as the broker vouches for it: its
/// `user-id`, unless that is `own_user` (this consumer's service) and the
/// message carries [`PUBLISHER`] — then it is a copy this service republished
/// (a retry, a replay) and the header names the original publisher (empty:
/// there was none). Another user's [`PUBLISHER`] header is ignored.
pub fn trusted_publisher(
    user_id: Option<&str>,
    headers: Option<&FieldTable>,
    own_user: &str,
) -> Option<String> {
    match (user_id, text(headers, PUBLISHER)) {
        (Some(user), Some(original)) if user == own_user => {
            (!original.is_empty()).then_some(original)
        }
        (user, _) => user.map(str::to_owned),
    }
}

/// The headers of `original` without the broker's own.
fn without_broker_headers(original: Option<&FieldTable>) -> BTreeMap<ShortString, AMQPValue> {
    let mut headers = original.map(|h| h.inner().clone()).unwrap_or_default();
    for name in BROKER_HEADERS {
        headers.remove(name);
    }
    headers
}

/// The headers of the copy of a failed delivery sent to its next stop: the
/// original's (without the broker's), the vouched-for `publisher`, one more
/// attempt, the first failure kept and this one recorded as the last.
pub fn failure_headers(
    original: Option<&FieldTable>,
    publisher: Option<&str>,
    failure: &Failure,
    now: DateTime<Utc>,
) -> FieldTable {
    let attempts = attempts(original).saturating_add(1);
    let mut headers = without_broker_headers(original);
    let reason = failure.to_string();
    let at = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    headers.insert(PUBLISHER.into(), long_string(publisher.unwrap_or("")));
    headers.insert(ATTEMPTS.into(), AMQPValue::LongLongInt(i64::from(attempts)));
    if text(original, FIRST_FAILURE).is_none() {
        headers.insert(FIRST_FAILURE.into(), long_string(&reason));
        headers.insert(FIRST_FAILED_AT.into(), long_string(&at));
    }
    headers.insert(LAST_FAILURE.into(), long_string(&reason));
    headers.insert(LAST_FAILED_AT.into(), long_string(&at));
    FieldTable::from(headers)
}

/// The headers of a dead letter sent back to its queue: a fresh run of every
/// delay ([`ATTEMPTS`] 0), one more replay, the failure history kept.
pub fn replay_headers(original: Option<&FieldTable>, publisher: Option<&str>) -> FieldTable {
    let replays = count(original, REPLAYS).unwrap_or(0).saturating_add(1);
    let mut headers = without_broker_headers(original);
    headers.insert(PUBLISHER.into(), long_string(publisher.unwrap_or("")));
    headers.insert(ATTEMPTS.into(), AMQPValue::LongLongInt(0));
    headers.insert(REPLAYS.into(), AMQPValue::LongLongInt(i64::from(replays)));
    FieldTable::from(headers)
}

/// Why and when the broker dead-lettered a message itself (a consumer that
/// could not publish rejected it, or the queue's delivery limit was hit): the
/// `reason` and `time` of its latest `x-death` entry.
pub fn broker_death(headers: Option<&FieldTable>) -> Option<(String, Option<u64>)> {
    let AMQPValue::FieldArray(deaths) = headers?.inner().get("x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(latest) = deaths.as_slice().first()? else {
        return None;
    };
    let reason = text(Some(latest), "reason")?;
    let time = match latest.inner().get("time") {
        Some(AMQPValue::Timestamp(t)) => Some(*t),
        _ => None,
    };
    Some((reason, time))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_default_delays_name_the_documented_queues() {
        let names: Vec<String> = DEFAULT_DELAYS
            .iter()
            .map(|d| retry_queue("carebook.billing.appointments", *d))
            .collect();
        assert_eq!(
            names,
            [
                "carebook.billing.appointments.retry.1s",
                "carebook.billing.appointments.retry.10s",
                "carebook.billing.appointments.retry.1m",
                "carebook.billing.appointments.retry.10m",
                "carebook.billing.appointments.retry.1h",
            ]
        );
        assert_eq!(parse_delays("1s,10s,1m,10m,1h").unwrap(), DEFAULT_DELAYS);
        assert_eq!(format_delay(Duration::from_millis(250)), "250ms");
        assert_eq!(format_delay(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_delay(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn bad_delay_lists_are_refused() {
        for bad in [
            "", "1", "1x", "s", "0s", "1s,1s", "1s,,2s", "-1s", "50d", "1000000h",
        ] {
            assert!(parse_delays(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_delays(" 200ms , 1s ").unwrap(),
            [Duration::from_millis(200), Duration::from_secs(1)]
        );
    }

    proptest! {
        #[test]
        fn a_delay_reads_back_as_its_name(ms in 1u64..u32::MAX as u64) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(parse_delays(&format_delay(d)).unwrap(), vec![d]);
        }
    }

    #[test]
    fn each_failure_waits_the_next_delay_then_goes_to_the_dead_letter_queue() {
        let delays = DEFAULT_DELAYS;
        let stops: Vec<Next> = (0..6).map(|n| next_step(n, &delays)).collect();
        assert_eq!(
            stops,
            [
                Next::Retry(Duration::from_secs(1)),
                Next::Retry(Duration::from_secs(10)),
                Next::Retry(Duration::from_secs(60)),
                Next::Retry(Duration::from_secs(600)),
                Next::Retry(Duration::from_secs(3600)),
                Next::DeadLetter,
            ]
        );
        assert_eq!(next_step(0, &[]), Next::DeadLetter);
    }

    fn table(pairs: &[(&str, AMQPValue)]) -> FieldTable {
        let mut t = FieldTable::default();
        for (k, v) in pairs {
            t.insert((*k).into(), v.clone());
        }
        t
    }

    #[test]
    fn failures_count_up_and_keep_the_first_reason() {
        let t0 = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let original = table(&[
            ("x-death", AMQPValue::FieldArray(Default::default())),
            ("x-delivery-count", AMQPValue::LongLongInt(2)),
            ("x-custom", long_string("kept")),
        ]);
        let first = failure_headers(
            Some(&original),
            Some("carebook_scheduling"),
            &Failure::Transient("pool timed out".into()),
            t0,
        );
        assert_eq!(attempts(Some(&first)), 1);
        assert!(!first.contains_key("x-death") && !first.contains_key("x-delivery-count"));
        assert_eq!(text(Some(&first), "x-custom").as_deref(), Some("kept"));
        assert_eq!(
            text(Some(&first), PUBLISHER).as_deref(),
            Some("carebook_scheduling")
        );
        let second = failure_headers(
            Some(&first),
            Some("carebook_scheduling"),
            &Failure::Malformed,
            t0 + chrono::Duration::seconds(1),
        );
        assert_eq!(attempts(Some(&second)), 2);
        assert_eq!(
            text(Some(&second), FIRST_FAILURE).as_deref(),
            Some("transient: pool timed out")
        );
        assert_eq!(
            text(Some(&second), FIRST_FAILED_AT).as_deref(),
            Some("2026-12-01T10:00:00.000Z")
        );
        assert_eq!(
            text(Some(&second), LAST_FAILURE).as_deref(),
            Some("malformed")
        );
        assert_eq!(
            text(Some(&second), LAST_FAILED_AT).as_deref(),
            Some("2026-12-01T10:00:01.000Z")
        );

        let replayed = replay_headers(Some(&second), Some("carebook_scheduling"));
        assert_eq!(attempts(Some(&replayed)), 0);
        assert_eq!(count(Some(&replayed), REPLAYS), Some(1));
        assert_eq!(
            text(Some(&replayed), FIRST_FAILURE).as_deref(),
            Some("transient: pool timed out")
        );
        let again = replay_headers(Some(&replayed), None);
        assert_eq!(count(Some(&again), REPLAYS), Some(2));
        assert_eq!(text(Some(&again), PUBLISHER).as_deref(), Some(""));
    }

    #[test]
    fn a_long_transient_reason_is_cut() {
        let reason = "é".repeat(500);
        let shown = Failure::Transient(reason).to_string();
        assert_eq!(shown.chars().count(), "transient: ".len() + MAX_REASON);
        assert_eq!(
            Failure::Contract("forged-publisher").to_string(),
            "contract: forged-publisher"
        );
    }

    #[test]
    fn only_our_own_copies_may_name_another_publisher() {
        let copy = table(&[(PUBLISHER, long_string("carebook_scheduling"))]);
        let none = table(&[(PUBLISHER, long_string(""))]);
        let own = "carebook_billing";
        // Our retry or replay of scheduling's event.
        assert_eq!(
            trusted_publisher(Some(own), Some(&copy), own).as_deref(),
            Some("carebook_scheduling")
        );
        // Our copy of an event that had no user-id stays without a publisher.
        assert_eq!(trusted_publisher(Some(own), Some(&none), own), None);
        // Someone else cannot vouch for a publisher.
        assert_eq!(
            trusted_publisher(Some("carebook_records"), Some(&copy), own).as_deref(),
            Some("carebook_records")
        );
        assert_eq!(trusted_publisher(None, Some(&copy), own), None);
        // Our own event, published first-hand.
        assert_eq!(
            trusted_publisher(Some(own), None, own).as_deref(),
            Some(own)
        );
    }

    #[test]
    fn the_brokers_reason_comes_from_the_latest_death() {
        let death = table(&[
            ("reason", long_string("delivery_limit")),
            ("time", AMQPValue::Timestamp(1_800_000_000)),
        ]);
        let headers = table(&[(
            "x-death",
            AMQPValue::FieldArray(vec![AMQPValue::FieldTable(death)].into()),
        )]);
        assert_eq!(
            broker_death(Some(&headers)),
            Some(("delivery_limit".to_owned(), Some(1_800_000_000)))
        );
        assert_eq!(broker_death(None), None);
    }
}
