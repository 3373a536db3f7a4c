//! Cache-aside for reads, in Redis, holding only what the database holds:
//! encrypted version rows (ciphertext, wrapped data key, ids). Keys carry ids,
//! never PHI: `<prefix>records:<entity>:v1:<patient id>:<generation>:<ids…>`.
//!
//! Every entry is authenticated: stored with `HMAC-SHA256(k, key ‖ value)`
//! (see [`seal`]), `k` derived from a master key
//! ([`KeyProvider::cache_mac_key`]), so whoever can write to Redis cannot make
//! records serve a row it did not cache under that very key: a tampered
//! entry, or one copied from another patient's or entry's key, fails the check
//! and is never served; it is deleted, counted in
//! `records_cache_integrity_failures_total`, and the database answers. (The
//! rows are encrypted and bound to their ids anyway; the MAC also stops a
//! genuine row from being served under the wrong key, e.g. one entry's rows as
//! another's.) The `v1` in keys is the entry format: replicas of a release
//! before it stored unauthenticated entries under keys without it, so during
//! a rolling upgrade neither reads the other's entries.
//!
//! Every key embeds the patient's *generation*, a counter raised after each
//! committed write to that patient's record. A reader notes the generation
//! before reading the database and fills under it, so a read that raced a
//! write fills a generation no one asks for again: no stale entry is ever
//! served. If raising the counter fails (Redis unreachable), this process stops
//! using the cache for one TTL, by which time anything cached before the write
//! has expired. (Other replicas bound staleness by the TTL.)
//!
//! Redis is an optimization, never the authority: each call has a short
//! timeout, any failure is a miss, and after a failure Redis is left alone for
//! a moment so an outage does not add its timeout to every request. The
//! service starts without Redis and connects once it answers.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use hmac::{Hmac, Mac};
use platform::{
    cache::{Cache, LazyCache},
    config::CommonConfig,
    shutdown::CancellationToken,
};
use redis::AsyncCommands;
use serde::{de::DeserializeOwned, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::keys::{CacheMacKey, KeyProvider};

/// No cache operation may hold up a request longer than this.
const OP_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, skip Redis this long.
const BACKOFF: Duration = Duration::from_secs(1);
/// Generations outlive every entry filled under them.
const GENERATION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The format of entries, part of their keys (see the module's documentation).
const FORMAT: &str = "v1";
/// Length of an HMAC-SHA256 tag.
const TAG_LEN: usize = 32;

#[derive(Clone)]
pub struct RecordCache {
    inner: Arc<Inner>,
}

struct Inner {
    redis: LazyCache,
    ttl: Duration,
    /// Everything skips Redis until then (after any failure).
    resting_until: Mutex<Option<Instant>>,
    /// Where the MAC keys of entries come from.
    keys: Arc<dyn KeyProvider>,
}

/// A cache key under a patient's generation, and the ids it names (for logs).
#[derive(Clone, Debug)]
pub struct Slot {
    key: String,
    patient_id: Uuid,
    entity: String,
    id: String,
}

/// Why a stored entry is not served.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    /// Authenticated under a master key this process does not hold (a replica
    /// already using a newer key filled it): not checkable here, so a plain
    /// miss, and left for the replicas that can check it.
    UnknownKey,
    /// Malformed, or its tag does not match this key and value: tampered with
    /// or copied from another key.
    Forged,
}

/// (`None` never happens: HMAC takes keys of any length.)
fn tag(mac_key: &CacheMacKey, redis_key: &str, value: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(mac_key.as_bytes()).ok()?;
    // The key's length first, so no (key, value) pair reads as another one
    // whose key is a prefix of it: `key ‖ value` made unambiguous.
    mac.update(&(redis_key.len() as u64).to_be_bytes());
    mac.update(redis_key.as_bytes());
    mac.update(value);
    Some(mac)
}

/// What is stored at `redis_key` for `value`, authenticated under the MAC key
/// of master key `key_id`: `[len(key_id): u8][key_id][tag: 32][value]`, where
/// `tag = HMAC-SHA256(mac_key, be64(len(redis_key)) ‖ redis_key ‖ value)`.
/// `None` when `key_id` is too long to store (over 255 bytes).
pub fn seal(mac_key: &CacheMacKey, key_id: &str, redis_key: &str, value: &[u8]) -> Option<Vec<u8>> {
    let id_len = u8::try_from(key_id.len()).ok()?;
    let tag = tag(mac_key, redis_key, value)?.finalize().into_bytes();
    let mut stored = Vec::with_capacity(1 + key_id.len() + TAG_LEN + value.len());
    stored.push(id_len);
    stored.extend_from_slice(key_id.as_bytes());
    stored.extend_from_slice(&tag);
    stored.extend_from_slice(value);
    Some(stored)
}

/// The value sealed in `stored`, if it was sealed for `redis_key` under a
/// key `mac_key_of` knows (compared in constant time).
pub fn open<'a, 'k>(
    stored: &'a [u8],
    redis_key: &str,
    mac_key_of: impl FnOnce(&str) -> Option<&'k CacheMacKey>,
) -> Result<&'a [u8], Rejected> {
    let (&id_len, rest) = stored.split_first().ok_or(Rejected::Forged)?;
    let id_len = usize::from(id_len);
    if rest.len() < id_len + TAG_LEN {
        return Err(Rejected::Forged);
    }
    let (key_id, rest) = rest.split_at(id_len);
    let (expected, value) = rest.split_at(TAG_LEN);
    let key_id = std::str::from_utf8(key_id).map_err(|_| Rejected::Forged)?;
    let mac_key = mac_key_of(key_id).ok_or(Rejected::UnknownKey)?;
    tag(mac_key, redis_key, value)
        .ok_or(Rejected::Forged)?
        .verify_slice(expected)
        .map_err(|_| Rejected::Forged)?;
    Ok(value)
}

fn count(outcome: &'static str) {
    metrics::counter!("cache_requests_total", "service" => "records", "outcome" => outcome)
        .increment(1);
}

fn until_passed(cell: &Mutex<Option<Instant>>) -> bool {
    let Ok(mut until) = cell.lock() else {
        return false;
    };
    match *until {
        Some(t) if Instant::now() < t => false,
        Some(_) => {
            *until = None;
            true
        }
        None => true,
    }
}

fn set_until(cell: &Mutex<Option<Instant>>, d: Duration) {
    if let Ok(mut until) = cell.lock() {
        *until = Some(Instant::now() + d);
    }
}

impl RecordCache {
    /// Connect if Redis answers now; otherwise start without it. Entries are
    /// authenticated with the MAC keys `keys` derives from its master keys.
    pub async fn connect(common: &CommonConfig, ttl: Duration, keys: Arc<dyn KeyProvider>) -> Self {
        if keys.cache_mac_key(keys.current_key_id()).is_none() {
            tracing::warn!(
                key_id = keys.current_key_id(),
                "the key provider gives no cache MAC key for its current key; nothing will be cached"
            );
        }
        Self {
            inner: Arc::new(Inner {
                redis: LazyCache::connect(common).await,
                ttl,
                resting_until: Mutex::new(None),
                keys,
            }),
        }
    }

    /// Background worker: until connected (or cancelled), retry every few seconds.
    pub async fn keep_connecting(self, cancel: CancellationToken) {
        self.inner.redis.clone().keep_connecting(cancel).await
    }

    /// The Redis handle, once connected.
    pub fn redis(&self) -> Option<Cache> {
        self.inner.redis.get()
    }

    fn ttl_ms(&self) -> u64 {
        self.inner.ttl.as_millis().try_into().unwrap_or(u64::MAX)
    }

    /// Redis for reads and fills, unless down, resting or distrusted.
    fn usable(&self) -> Option<Cache> {
        if !until_passed(&self.inner.resting_until) {
            count("unavailable");
            return None;
        }
        self.inner
            .redis
            .usable()
            .map_err(|why| count(why.as_str()))
            .ok()
    }

    fn failed(&self, what: &str, error: &str) {
        tracing::warn!(
            operation = what,
            error,
            "record cache failed; using the database"
        );
        count("error");
        set_until(&self.inner.resting_until, BACKOFF);
    }

    fn generation_key(redis: &Cache, patient_id: Uuid) -> String {
        redis.key("generation", &patient_id.to_string())
    }

    /// Where `entity`/`id` of this patient lives now; `None` when the cache is not usable.
    pub async fn slot(&self, patient_id: Uuid, entity: &str, id: &str) -> Option<Slot> {
        let redis = self.usable()?;
        let mut conn = redis.conn();
        let key = Self::generation_key(&redis, patient_id);
        match tokio::time::timeout(OP_TIMEOUT, conn.get::<_, Option<u64>>(&key)).await {
            Ok(Ok(generation)) => Some(Slot {
                key: redis.key(
                    entity,
                    &format!("{FORMAT}:{patient_id}:{}:{id}", generation.unwrap_or(0)),
                ),
                patient_id,
                entity: entity.to_owned(),
                id: id.to_owned(),
            }),
            Ok(Err(e)) => {
                self.failed("generation", &e.to_string());
                None
            }
            Err(_) => {
                self.failed("generation", "timed out");
                None
            }
        }
    }

    /// The cached value at `slot`, or `None` (miss, Redis down, failed its
    /// integrity check, undecodable).
    pub async fn get<T: DeserializeOwned>(&self, slot: &Slot) -> Option<T> {
        let redis = self.usable()?;
        let mut conn = redis.conn();
        match tokio::time::timeout(OP_TIMEOUT, conn.get::<_, Option<Vec<u8>>>(&slot.key)).await {
            Ok(Ok(Some(stored))) => {
                let value = match open(&stored, &slot.key, |id| self.inner.keys.cache_mac_key(id)) {
                    Ok(value) => value,
                    Err(Rejected::UnknownKey) => {
                        count("miss");
                        return None;
                    }
                    Err(Rejected::Forged) => {
                        self.forged(&redis, slot).await;
                        return None;
                    }
                };
                match serde_json::from_slice(value) {
                    Ok(v) => {
                        count("hit");
                        Some(v)
                    }
                    Err(_) => {
                        count("miss");
                        None
                    }
                }
            }
            Ok(Ok(None)) => {
                count("miss");
                None
            }
            Ok(Err(e)) => {
                self.failed("get", &e.to_string());
                None
            }
            Err(_) => {
                self.failed("get", "timed out");
                None
            }
        }
    }

    /// An entry failed its integrity check: a miss, counted, logged by ids,
    /// and deleted so it is not checked again (the read then fills afresh).
    async fn forged(&self, redis: &Cache, slot: &Slot) {
        count("miss");
        metrics::counter!("records_cache_integrity_failures_total").increment(1);
        tracing::warn!(
            patient_id = %slot.patient_id,
            entity = %slot.entity,
            id = %slot.id,
            "record cache entry failed its integrity check; deleted, reading the database"
        );
        let mut conn = redis.conn();
        match tokio::time::timeout(OP_TIMEOUT, conn.del::<_, ()>(&slot.key)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.failed("delete", &e.to_string()),
            Err(_) => self.failed("delete", "timed out"),
        }
    }

    /// Cache `value` at `slot` (read from the database after the slot was
    /// taken), authenticated under the current master key's MAC key.
    pub async fn put<T: Serialize>(&self, slot: &Slot, value: &T) {
        let Some(redis) = self.usable() else { return };
        let keys = &self.inner.keys;
        let key_id = keys.current_key_id();
        let Some(mac_key) = keys.cache_mac_key(key_id) else {
            return;
        };
        let Ok(bytes) = serde_json::to_vec(value) else {
            return;
        };
        let Some(stored) = seal(mac_key, key_id, &slot.key, &bytes) else {
            return;
        };
        let mut conn = redis.conn();
        let set = conn.pset_ex::<_, _, ()>(&slot.key, stored, self.ttl_ms());
        match tokio::time::timeout(OP_TIMEOUT, set).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.failed("put", &e.to_string()),
            Err(_) => self.failed("put", "timed out"),
        }
    }

    /// After a committed write to this patient's record: abandon everything
    /// cached for them.
    pub async fn invalidate(&self, patient_id: Uuid) {
        // Tried even while resting or distrusted: it is what makes the cache right again.
        let Some(redis) = self.redis() else {
            self.distrust_for_one_ttl();
            return;
        };
        let key = Self::generation_key(&redis, patient_id);
        let mut conn = redis.conn();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .incr(&key, 1)
            .ignore()
            .pexpire(&key, GENERATION_TTL.as_millis() as i64)
            .ignore();
        let failure =
            match tokio::time::timeout(OP_TIMEOUT, pipe.query_async::<()>(&mut conn)).await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => e.to_string(),
                Err(_) => "timed out".to_owned(),
            };
        tracing::warn!(%patient_id, error = %failure, "record cache invalidation failed; bypassing the cache for one TTL");
        count("invalidation_failed");
        set_until(&self.inner.resting_until, BACKOFF);
        self.distrust_for_one_ttl();
    }

    fn distrust_for_one_ttl(&self) {
        self.inner.redis.distrust_for(self.inner.ttl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> CacheMacKey {
        CacheMacKey::derive(&[byte; 32])
    }

    const A: &str = "carebook:records:entry:v1:0190a1b2-0000-7000-8000-00000000000a:3:note:x";
    const B: &str = "carebook:records:entry:v1:0190a1b2-0000-7000-8000-00000000000b:3:note:x";

    #[test]
    fn a_sealed_entry_opens_under_its_own_key_only() {
        let k = key(1);
        let stored = seal(&k, "key-a", A, b"[1,2,3]").unwrap();
        assert_eq!(
            open(&stored, A, |id| (id == "key-a").then_some(&k)),
            Ok(&b"[1,2,3]"[..])
        );
        // Copied to another patient's (or entry's) key: rejected.
        assert_eq!(open(&stored, B, |_| Some(&k)), Err(Rejected::Forged));
    }

    #[test]
    fn any_flipped_bit_is_detected() {
        let k = key(1);
        let stored = seal(&k, "key-a", A, br#"[{"ciphertext":"AAAA"}]"#).unwrap();
        for i in 0..stored.len() {
            for bit in 0..8 {
                let mut tampered = stored.clone();
                tampered[i] ^= 1 << bit;
                assert!(
                    open(&tampered, A, |id| (id == "key-a").then_some(&k)).is_err(),
                    "byte {i} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn another_key_a_truncation_or_garbage_is_forged() {
        let (right, other) = (key(1), key(2));
        let stored = seal(&right, "key-a", A, b"[]").unwrap();
        assert_eq!(open(&stored, A, |_| Some(&other)), Err(Rejected::Forged));
        for len in 0..stored.len() {
            assert!(open(&stored[..len], A, |_| Some(&right)).is_err(), "{len}");
        }
        // A value cached before entries were authenticated.
        assert_eq!(open(b"[]", A, |_| Some(&right)), Err(Rejected::Forged));
        // A longer value with the tag of the shorter one.
        let mut extended = stored.clone();
        extended.extend_from_slice(b" ");
        assert_eq!(open(&extended, A, |_| Some(&right)), Err(Rejected::Forged));
    }

    #[test]
    fn an_entry_of_a_master_key_not_held_here_is_not_checkable() {
        let stored = seal(&key(1), "key-new", A, b"[]").unwrap();
        let old = key(2);
        assert_eq!(
            open(&stored, A, |id| (id == "key-old").then_some(&old)),
            Err(Rejected::UnknownKey)
        );
    }

    #[test]
    fn the_key_and_value_boundary_cannot_be_moved() {
        // `k:ab` + `c` and `k:a` + `bc` concatenate alike; their tags differ.
        let k = key(1);
        let stored = seal(&k, "id", "k:ab", b"c").unwrap();
        let mut moved = stored[..1 + 2 + TAG_LEN].to_vec();
        moved.extend_from_slice(b"bc");
        assert_eq!(open(&moved, "k:a", |_| Some(&k)), Err(Rejected::Forged));
    }

    #[test]
    fn key_ids_too_long_to_store_are_not_sealed() {
        assert!(seal(&key(1), &"k".repeat(256), A, b"[]").is_none());
        assert!(seal(&key(1), &"k".repeat(255), A, b"[]").is_some());
    }
}
