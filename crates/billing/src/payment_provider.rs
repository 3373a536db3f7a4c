//! The seam to whoever moves the money. Today [`RecordedPayment`] only records
//! what staff report (cash at the desk, a card terminal, a bank transfer); a
//! card processor implements the same trait later.
//!
//! Billing asks the provider outside any database transaction: it first
//! records a pending attempt, then asks, then records the outcome
//! (`invoices::payments`). The contract that makes this safe: a provider is
//! idempotent on [`Transfer::payment_id`] — the same key is the same transfer,
//! however often and however concurrently it is asked for, and answers with
//! the same receipt — so a retry after a timeout or a lost commit cannot
//! charge twice.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::money::Money;

/// How the money was (or is to be) moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Cash,
    Card,
    BankTransfer,
    /// Paid by the patient's insurer.
    Insurance,
    Other,
}

impl PaymentMethod {
    pub const ALL: [PaymentMethod; 5] = [
        PaymentMethod::Cash,
        PaymentMethod::Card,
        PaymentMethod::BankTransfer,
        PaymentMethod::Insurance,
        PaymentMethod::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Cash => "cash",
            PaymentMethod::Card => "card",
            PaymentMethod::BankTransfer => "bank_transfer",
            PaymentMethod::Insurance => "insurance",
            PaymentMethod::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// One movement of money asked of the provider.
#[derive(Clone, Debug)]
pub struct Transfer {
    /// The transfer's idempotency key: the same for every try of one payment
    /// or refund request, and the id of the payment row once recorded.
    pub payment_id: Uuid,
    pub invoice_id: Uuid,
    pub amount: Money,
    pub method: PaymentMethod,
    /// What staff gave: a receipt number, a terminal slip, a transfer reference.
    pub reference: Option<String>,
}

/// What the provider says happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Receipt {
    /// The provider's own id for the transfer, if it has one.
    pub provider_reference: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// Refused (card declined, limit reached). The message is shown to the client,
    /// so it must be safe to show: no card numbers, no internals.
    #[error("declined: {0}")]
    Declined(String),
    /// Could not be reached or answered oddly; nothing happened. Billing asks
    /// again with the same key when the client retries.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    /// Stored with every payment (`recorded`, later `stripe`, …).
    fn name(&self) -> &'static str;
    /// Take a payment; idempotent on `transfer.payment_id`.
    async fn collect(&self, transfer: &Transfer) -> Result<Receipt, PaymentError>;
    /// Return money to the patient; idempotent on `transfer.payment_id`.
    async fn refund(&self, transfer: &Transfer) -> Result<Receipt, PaymentError>;
}

/// Payments taken outside Carebook and recorded by staff: always accepted.
#[derive(Clone, Copy, Debug, Default)]
pub struct RecordedPayment;

#[async_trait]
impl PaymentProvider for RecordedPayment {
    fn name(&self) -> &'static str {
        "recorded"
    }

    async fn collect(&self, _: &Transfer) -> Result<Receipt, PaymentError> {
        Ok(Receipt::default())
    }

    async fn refund(&self, _: &Transfer) -> Result<Receipt, PaymentError> {
        Ok(Receipt::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_round_trip_their_names() {
        for m in PaymentMethod::ALL {
            assert_eq!(PaymentMethod::parse(m.as_str()), Some(m));
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
    }
}
