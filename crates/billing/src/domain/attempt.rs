//! A payment or refund in flight. Billing records the attempt, then asks the
//! payment provider outside any transaction (a slow provider holds no invoice
//! lock and no pooled connection), then records the outcome. The attempt's id
//! is the transfer's idempotency key at the provider, the same for every try of
//! one request, so a retry — or a concurrent copy — of the request asks for the
//! same transfer and can never move the money twice.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::totals::{PaymentAmount, PaymentKind};

/// Where an attempt stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptStatus {
    /// Recorded before asking the provider; its outcome is not recorded yet
    /// (being asked now, or the answer or its recording was lost).
    Pending,
    /// The provider moved the money and the payment or refund is recorded. Final.
    Completed,
    /// The provider declined or could not be reached; nothing moved. A retry
    /// of the same request asks again, with the same key.
    Failed,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Pending => "pending",
            AttemptStatus::Completed => "completed",
            AttemptStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            AttemptStatus::Pending,
            AttemptStatus::Completed,
            AttemptStatus::Failed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// Why a try failed, as stored (never the provider's own words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    Declined,
    Unavailable,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Declined => "declined",
            Failure::Unavailable => "unavailable",
        }
    }
}

/// What a request does, given the attempt already recorded under its
/// `Idempotency-Key` (if any).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing yet: check the rules, record a pending attempt, ask the provider.
    Start,
    /// A try of this request is in flight, or its outcome was lost: ask the
    /// provider again with the same key (it answers with the same transfer).
    /// The rules were checked, and the amount held back, when it started.
    Resume,
    /// The last try failed, so nothing is held back any more: check the rules
    /// again, then ask with the same key.
    Retry,
    /// Already recorded: answer with the invoice as it is now.
    Done,
}

/// The `Idempotency-Key` was used before for a different request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the idempotency key was used for a different request")]
pub struct KeyReused;

/// The attempt recorded under a request's key, as far as deciding goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Existing {
    pub status: AttemptStatus,
    /// Whether it was recorded for this very request (target, amount, method, reference).
    pub same_request: bool,
}

/// What to do about `existing`, the attempt recorded under the request's key.
pub fn next(existing: Option<Existing>) -> Result<Next, KeyReused> {
    match existing {
        None => Ok(Next::Start),
        Some(Existing {
            same_request: false,
            ..
        }) => Err(KeyReused),
        Some(Existing { status, .. }) => Ok(match status {
            AttemptStatus::Pending => Next::Resume,
            AttemptStatus::Failed => Next::Retry,
            AttemptStatus::Completed => Next::Done,
        }),
    }
}

/// The transfer key of the request that `user` sent with `Idempotency-Key`
/// `key` to move money of `kind` on `invoice`: every try of the request
/// derives the same one, and no other request shares it. A name-based UUID
/// (version 8 over SHA-256, as RFC 9562 suggests).
pub fn transfer_key(kind: PaymentKind, invoice: Uuid, user: Uuid, key: &str) -> Uuid {
    let digest = Sha256::digest(format!(
        "carebook.billing.transfer\n{}\n{invoice}\n{user}\n{key}",
        kind.as_str()
    ));
    let mut bytes = [0u8; 16];
    for (b, d) in bytes.iter_mut().zip(digest.iter()) {
        *b = *d;
    }
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// The money in flight a new movement of `kind` is checked against, given the
/// pending attempts: those the same way count as if they had moved (ten desks
/// taking the last 1000 at once cannot all pass, a refund cannot spend a credit
/// another refund is taking); those the other way count only once they land,
/// so an uncertain payment never makes room for a refund.
pub fn held_back(kind: PaymentKind, pending: &[PaymentAmount]) -> Vec<PaymentAmount> {
    pending.iter().copied().filter(|p| p.kind == kind).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing(status: AttemptStatus, same_request: bool) -> Option<Existing> {
        Some(Existing {
            status,
            same_request,
        })
    }

    #[test]
    fn statuses_round_trip_their_names() {
        for s in [
            AttemptStatus::Pending,
            AttemptStatus::Completed,
            AttemptStatus::Failed,
        ] {
            assert_eq!(AttemptStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(AttemptStatus::parse("done"), None);
    }

    #[test]
    fn a_new_key_starts_and_a_retry_resumes_where_the_last_try_stopped() {
        assert_eq!(next(None), Ok(Next::Start));
        assert_eq!(
            next(existing(AttemptStatus::Pending, true)),
            Ok(Next::Resume)
        );
        assert_eq!(next(existing(AttemptStatus::Failed, true)), Ok(Next::Retry));
        assert_eq!(
            next(existing(AttemptStatus::Completed, true)),
            Ok(Next::Done)
        );
    }

    #[test]
    fn a_key_reused_for_another_request_is_refused_whatever_its_state() {
        for s in [
            AttemptStatus::Pending,
            AttemptStatus::Completed,
            AttemptStatus::Failed,
        ] {
            assert_eq!(next(existing(s, false)), Err(KeyReused));
        }
    }

    #[test]
    fn the_transfer_key_is_stable_per_request_and_differs_between_requests() {
        let (invoice, user) = (Uuid::now_v7(), Uuid::now_v7());
        let k = transfer_key(PaymentKind::Payment, invoice, user, "desk-42");
        assert_eq!(
            k,
            transfer_key(PaymentKind::Payment, invoice, user, "desk-42")
        );
        assert_eq!(k.get_version_num(), 8);
        for other in [
            transfer_key(PaymentKind::Refund, invoice, user, "desk-42"),
            transfer_key(PaymentKind::Payment, Uuid::now_v7(), user, "desk-42"),
            transfer_key(PaymentKind::Payment, invoice, Uuid::now_v7(), "desk-42"),
            transfer_key(PaymentKind::Payment, invoice, user, "desk-43"),
        ] {
            assert_ne!(k, other);
        }
    }

    #[test]
    fn only_money_in_flight_the_same_way_is_held_back() {
        let pay = |amount_minor| PaymentAmount {
            kind: PaymentKind::Payment,
            amount_minor,
        };
        let refund = |amount_minor| PaymentAmount {
            kind: PaymentKind::Refund,
            amount_minor,
        };
        let pending = [pay(1000), refund(300), pay(200)];
        assert_eq!(
            held_back(PaymentKind::Payment, &pending),
            [pay(1000), pay(200)]
        );
        assert_eq!(held_back(PaymentKind::Refund, &pending), [refund(300)]);
        assert!(held_back(PaymentKind::Payment, &[]).is_empty());
    }
}
