//! Billing's errors and their problem+json form: every refusal a client can
//! cause has its own stable `type`.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use platform::Problem;

use crate::{
    domain::{insurance::Invalid, invoice::Rejection, money::AmountOverflow},
    payment_provider::PaymentError,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No invoice with this id — or none the caller may see.
    #[error("invoice not found")]
    InvoiceNotFound,
    /// No line with this id on the invoice.
    #[error("invoice line not found")]
    LineNotFound,
    /// The patient has no insurance details on file.
    #[error("insurance not found")]
    InsuranceNotFound,
    /// The caller may see the resource but not change it (or not see this account).
    #[error("forbidden")]
    Forbidden,
    /// The change breaks an invoice rule (each rule its own problem type).
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The payment provider refused; the message is safe to show.
    #[error("payment declined")]
    Declined(String),
    /// The payment provider could not be reached; nothing was recorded, and a
    /// retry with the same `Idempotency-Key` asks for the same transfer.
    #[error("payment provider unavailable: {0}")]
    ProviderUnavailable(String),
    /// The `Idempotency-Key` was used before for a different request.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// One or more fields failed validation.
    #[error("invalid request")]
    Invalid(Vec<Invalid>),
    #[error(transparent)]
    Problem(#[from] Problem),
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid(vec![Invalid {
            field,
            message: message.into(),
        }])
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Problem(Problem::from(e))
    }
}

impl From<AmountOverflow> for Error {
    fn from(_: AmountOverflow) -> Self {
        Error::Internal("invoice totals out of range".to_owned())
    }
}

impl From<PaymentError> for Error {
    fn from(e: PaymentError) -> Self {
        match e {
            PaymentError::Declined(message) => Error::Declined(message),
            PaymentError::Unavailable(cause) => Error::ProviderUnavailable(cause),
        }
    }
}

fn unprocessable(kind: &'static str, title: &'static str, detail: &str) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, kind, title).with_detail(detail)
}

fn rejection(r: Rejection) -> Problem {
    match r {
        Rejection::InvalidAmount => unprocessable(
            "invalid-amount",
            "Invalid amount",
            "The amount must be a positive whole number of minor units (cents), at most 10^12.",
        )
        .with_field("amount.amount_minor", "must be positive"),
        Rejection::CurrencyMismatch => unprocessable(
            "currency-mismatch",
            "Wrong currency",
            "The amount must be in the invoice's currency.",
        )
        .with_field("amount.currency", "must be the invoice's currency"),
        Rejection::InvoiceVoid => unprocessable(
            "invoice-void",
            "The invoice is void",
            "A void invoice cannot be paid or changed.",
        ),
        Rejection::InvoicePaid => unprocessable(
            "invoice-paid",
            "The invoice is already paid",
            "Nothing is due on this invoice.",
        ),
        Rejection::InvoiceNotIssued => unprocessable(
            "invoice-not-issued",
            "The invoice is a draft",
            "Issue the invoice first.",
        ),
        Rejection::PaymentExceedsBalance => unprocessable(
            "payment-exceeds-balance",
            "More than is due",
            "The payment is larger than the amount due; record at most the amount due.",
        ),
        Rejection::InvoiceHasPayments => unprocessable(
            "invoice-has-payments",
            "Payments were recorded",
            "An invoice with payments cannot be voided; credit its lines and refund instead.",
        ),
        Rejection::CreditExceedsLine => unprocessable(
            "credit-exceeds-line",
            "More than the line",
            "The credit is larger than what remains of the line after earlier credits.",
        ),
        Rejection::NotACharge => unprocessable(
            "line-not-a-charge",
            "Not a charge line",
            "Only charge lines can be credited.",
        ),
        Rejection::RefundExceedsCredit => unprocessable(
            "refund-exceeds-credit",
            "More than the patient's credit",
            "Only what was paid beyond the amount due (after credits) can be refunded.",
        ),
        Rejection::InsuranceMissing => unprocessable(
            "insurance-missing",
            "No insurance on file",
            "Record the patient's insurance details first.",
        ),
        Rejection::AlreadyBilledToInsurance => {
            Problem::conflict("already-billed-to-insurance", "Already billed to insurance")
                .with_detail("This invoice was billed to the patient's insurer before.")
        }
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        match e {
            Error::InvoiceNotFound => Problem::not_found("invoice"),
            Error::LineNotFound => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "line-not-found",
                "No such line",
            )
            .with_detail("The invoice has no line with this id.")
            .with_field("line_id", "not a line of this invoice"),
            Error::InsuranceNotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "insurance-not-found",
                "No insurance on file",
            )
            .with_detail("No insurance details are recorded for this patient."),
            Error::Forbidden => Problem::forbidden(),
            Error::Rejected(r) => rejection(r),
            Error::Declined(message) => {
                unprocessable("payment-declined", "Payment declined", &message)
            }
            Error::ProviderUnavailable(cause) => {
                tracing::warn!(error = %cause, "payment provider unavailable");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "payment-provider-unavailable",
                    "Payment provider unavailable",
                )
                .with_detail(
                    "The payment provider could not be reached; nothing was recorded. \
                     Retry with the same Idempotency-Key: the money is moved at most once.",
                )
                .with_retry_after(5)
            }
            Error::IdempotencyKeyReused => unprocessable(
                "idempotency-key-reused",
                "Idempotency-Key reused",
                "This Idempotency-Key was already used for a different request.",
            ),
            Error::Invalid(fields) => fields.into_iter().fold(
                Problem::validation("One or more fields are not valid; see `errors`."),
                |p, f| p.with_field(f.field, f.message),
            ),
            Error::Problem(p) => p,
            Error::Internal(cause) => Problem::internal(&cause),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rejection_has_its_own_problem_type() {
        let all = [
            Rejection::InvalidAmount,
            Rejection::CurrencyMismatch,
            Rejection::InvoiceVoid,
            Rejection::InvoicePaid,
            Rejection::InvoiceNotIssued,
            Rejection::PaymentExceedsBalance,
            Rejection::InvoiceHasPayments,
            Rejection::CreditExceedsLine,
            Rejection::NotACharge,
            Rejection::RefundExceedsCredit,
            Rejection::InsuranceMissing,
            Rejection::AlreadyBilledToInsurance,
        ];
        let kinds: std::collections::HashSet<_> = all
            .iter()
            .map(|r| Problem::from(Error::Rejected(*r)).kind)
            .collect();
        assert_eq!(kinds.len(), all.len());
        for (r, kind) in [
            (Rejection::PaymentExceedsBalance, "payment-exceeds-balance"),
            (Rejection::CurrencyMismatch, "currency-mismatch"),
            (Rejection::InvalidAmount, "invalid-amount"),
            (Rejection::InvoiceVoid, "invoice-void"),
            (Rejection::InvoicePaid, "invoice-paid"),
        ] {
            let p = Problem::from(Error::Rejected(r));
            assert_eq!((p.status, p.kind), (StatusCode::UNPROCESSABLE_ENTITY, kind));
        }
    }

    #[test]
    fn an_unreachable_provider_is_a_retryable_problem_of_its_own() {
        let p = Problem::from(Error::from(PaymentError::Unavailable(
            "connect timeout".into(),
        )));
        assert_eq!(
            (p.status, p.kind),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "payment-provider-unavailable"
            )
        );
        assert_eq!(p.retry_after, Some(5));
        // The cause is logged, not shown.
        assert!(!p.detail.unwrap_or_default().contains("connect timeout"));
    }
}
