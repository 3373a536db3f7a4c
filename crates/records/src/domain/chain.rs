//! The audit log's hash chain, as pure functions: each entry's hash is SHA-256
//! over an unambiguous (length-prefixed, fixed-order) encoding of all its
//! fields and the previous entry's hash, so editing, removing or reordering
//! any entry breaks every hash after it.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The `prev_hash` of the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

const DOMAIN: &[u8] = b"carebook.records.audit.v1";

/// One audit entry's content, without its own hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditFields {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Uuid,
    pub role: String,
    pub patient_id: Uuid,
    pub action: String,
    /// The entry kind acted on, if any (`note`, …).
    pub kind: Option<String>,
    pub entry_ids: Vec<Uuid>,
    /// `allowed` or `denied`.
    pub outcome: String,
    /// Why access was denied, if it was.
    pub reason: Option<String>,
    /// `break_glass`, …
    pub flags: Vec<String>,
    pub prev_hash: Vec<u8>,
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn put_opt(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            put_bytes(out, v.as_bytes());
        }
    }
}

/// The canonical encoding hashed into the chain.
pub fn canonical(f: &AuditFields) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    put_bytes(&mut out, DOMAIN);
    out.extend_from_slice(&f.seq.to_be_bytes());
    out.extend_from_slice(&f.at.timestamp_micros().to_be_bytes());
    out.extend_from_slice(f.actor_id.as_bytes());
    put_bytes(&mut out, f.role.as_bytes());
    out.extend_from_slice(f.patient_id.as_bytes());
    put_bytes(&mut out, f.action.as_bytes());
    put_opt(&mut out, f.kind.as_deref());
    out.extend_from_slice(&(f.entry_ids.len() as u64).to_be_bytes());
    for id in &f.entry_ids {
        out.extend_from_slice(id.as_bytes());
    }
    put_bytes(&mut out, f.outcome.as_bytes());
    put_opt(&mut out, f.reason.as_deref());
    out.extend_from_slice(&(f.flags.len() as u64).to_be_bytes());
    for flag in &f.flags {
        put_bytes(&mut out, flag.as_bytes());
    }
    put_bytes(&mut out, &f.prev_hash);
    out
}

/// The entry's hash: SHA-256 of its canonical encoding.
pub fn hash(f: &AuditFields) -> [u8; 32] {
    Sha256::digest(canonical(f)).into()
}

/// Why a chain does not verify, at the first entry that breaks it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at seq {seq}: {reason}")]
pub struct AuditBreak {
    pub seq: i64,
    pub reason: String,
}

/// Walks a chain in order, one entry at a time (so the log need not fit in memory).
#[derive(Debug)]
pub struct ChainCheck {
    expected_seq: i64,
    prev_hash: Vec<u8>,
}

impl Default for ChainCheck {
    fn default() -> Self {
        Self {
            expected_seq: 1,
            prev_hash: GENESIS.to_vec(),
        }
    }
}

impl ChainCheck {
    /// Check the next entry and its stored hash.
    pub fn next(&mut self, f: &AuditFields, stored_hash: &[u8]) -> Result<(), AuditBreak> {
        let fail = |seq: i64, reason: &str| AuditBreak {
            seq,
            reason: reason.to_owned(),
        };
        if f.seq != self.expected_seq {
            return Err(fail(
                self.expected_seq,
                &format!("entry missing (next present is seq {})", f.seq),
            ));
        }
        if f.prev_hash != self.prev_hash {
            return Err(fail(f.seq, "prev_hash does not match the previous entry"));
        }
        if hash(f).as_slice() != stored_hash {
            return Err(fail(f.seq, "content does not match its hash"));
        }
        self.expected_seq += 1;
        self.prev_hash = stored_hash.to_vec();
        Ok(())
    }

    /// After the last entry: it must be the head the writers recorded.
    pub fn finish(self, head_seq: i64, head_hash: &[u8]) -> Result<usize, AuditBreak> {
        let last = self.expected_seq - 1;
        if last != head_seq {
            return Err(AuditBreak {
                seq: last + 1,
                reason: format!("the chain ends at seq {last} but its head is seq {head_seq}"),
            });
        }
        if self.prev_hash != head_hash {
            return Err(AuditBreak {
                seq: last,
                reason: "the last entry is not the recorded head".to_owned(),
            });
        }
        Ok(last as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, prev: &[u8]) -> AuditFields {
        AuditFields {
            seq,
            at: DateTime::from_timestamp_micros(1_780_000_000_000_000 + seq).unwrap(),
            actor_id: Uuid::from_u128(7),
            role: "provider".into(),
            patient_id: Uuid::from_u128(9),
            action: "read".into(),
            kind: Some("note".into()),
            entry_ids: vec![Uuid::from_u128(seq as u128)],
            outcome: "allowed".into(),
            reason: None,
            flags: vec![],
            prev_hash: prev.to_vec(),
        }
    }

    fn chain(n: i64) -> Vec<(AuditFields, [u8; 32])> {
        let mut prev = GENESIS.to_vec();
        (1..=n)
            .map(|seq| {
                let e = entry(seq, &prev);
                let h = hash(&e);
                prev = h.to_vec();
                (e, h)
            })
            .collect()
    }

    fn verify(
        entries: &[(AuditFields, [u8; 32])],
        head: (i64, &[u8]),
    ) -> Result<usize, AuditBreak> {
        let mut check = ChainCheck::default();
        for (e, h) in entries {
            check.next(e, h)?;
        }
        check.finish(head.0, head.1)
    }

    #[test]
    fn a_clean_chain_verifies() {
        let c = chain(5);
        assert_eq!(verify(&c, (5, &c[4].1)), Ok(5));
        assert_eq!(verify(&[], (0, &GENESIS)), Ok(0));
    }

    #[test]
    fn the_hash_is_stable_and_covers_every_field() {
        let e = entry(1, &GENESIS);
        assert_eq!(hash(&e), hash(&e.clone()));
        let variants: Vec<AuditFields> = vec![
            AuditFields {
                seq: 2,
                ..e.clone()
            },
            AuditFields {
                at: e.at + chrono::Duration::microseconds(1),
                ..e.clone()
            },
            AuditFields {
                actor_id: Uuid::from_u128(8),
                ..e.clone()
            },
            AuditFields {
                role: "admin".into(),
                ..e.clone()
            },
            AuditFields {
                patient_id: Uuid::from_u128(10),
                ..e.clone()
            },
            AuditFields {
                action: "write".into(),
                ..e.clone()
            },
            AuditFields {
                kind: None,
                ..e.clone()
            },
            AuditFields {
                entry_ids: vec![],
                ..e.clone()
            },
            AuditFields {
                outcome: "denied".into(),
                ..e.clone()
            },
            AuditFields {
                reason: Some("x".into()),
                ..e.clone()
            },
            AuditFields {
                flags: vec!["break_glass".into()],
                ..e.clone()
            },
            AuditFields {
                prev_hash: vec![1; 32],
                ..e.clone()
            },
        ];
        for v in variants {
            assert_ne!(hash(&v), hash(&e), "{v:?}");
        }
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let e = entry(1, &GENESIS);
        let a = AuditFields {
            role: "ab".into(),
            action: "c".into(),
            ..e.clone()
        };
        let b = AuditFields {
            role: "a".into(),
            action: "bc".into(),
            ..e.clone()
        };
        assert_ne!(hash(&a), hash(&b));
        let a = AuditFields {
            flags: vec!["ab".into()],
            ..e.clone()
        };
        let b = AuditFields {
            flags: vec!["a".into(), "b".into()],
            ..e
        };
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn an_edited_entry_is_found() {
        let mut c = chain(5);
        c[2].0.outcome = "denied".into();
        assert_eq!(verify(&c, (5, &c[4].1.clone())).unwrap_err().seq, 3);
        // Rehashing the edited entry moves the break to the next one.
        let mut c = chain(5);
        c[2].0.actor_id = Uuid::from_u128(99);
        c[2].1 = hash(&c[2].0);
        assert_eq!(verify(&c, (5, &c[4].1.clone())).unwrap_err().seq, 4);
    }

    #[test]
    fn a_removed_entry_is_found() {
        let mut c = chain(5);
        let head = c[4].1;
        c.remove(1);
        assert_eq!(verify(&c, (5, &head)).unwrap_err().seq, 2);
        // Removing the last one: the head remembers it.
        let mut c = chain(5);
        let head = c[4].1;
        c.pop();
        assert_eq!(verify(&c, (5, &head)).unwrap_err().seq, 5);
    }
}
