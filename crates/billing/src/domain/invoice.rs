//! The invoice's life: `draft → issued → paid | void`, and the rules every
//! change (payment, credit, refund, void, billing to insurance) must pass.
//! Each refusal is its own [`Rejection`], so clients can tell them apart.
//!
//! Nothing here edits history: a payment or refund is a new record, a credit a
//! new negative line; the status follows from the totals.

use super::{
    money::{Currency, Money, MAX_AMOUNT_MINOR},
    totals::Totals,
};

/// An invoice's status and why it exists: what invoice events carry.
pub use contracts::billing::{InvoiceReason, InvoiceStatus};

/// Why a change to an invoice was refused; each is a distinct problem type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the amount must be positive and at most {MAX_AMOUNT_MINOR} minor units")]
    InvalidAmount,
    #[error("the amount is not in the invoice's currency")]
    CurrencyMismatch,
    #[error("the invoice is void")]
    InvoiceVoid,
    #[error("the invoice is already paid")]
    InvoicePaid,
    #[error("the invoice has not been issued")]
    InvoiceNotIssued,
    #[error("the payment is larger than the amount due")]
    PaymentExceedsBalance,
    #[error("payments were recorded on the invoice")]
    InvoiceHasPayments,
    #[error("the credit is larger than what remains of the line")]
    CreditExceedsLine,
    #[error("only charge lines can be credited")]
    NotACharge,
    #[error("the refund is larger than the patient's credit on the invoice")]
    RefundExceedsCredit,
    #[error("the patient has no insurance details on file")]
    InsuranceMissing,
    #[error("the invoice was already billed to insurance")]
    AlreadyBilledToInsurance,
}

/// A client-supplied amount: positive, bounded, in the invoice's currency.
fn check_amount(currency: Currency, amount: &Money) -> Result<(), Rejection> {
    if amount.amount_minor <= 0 || amount.amount_minor > MAX_AMOUNT_MINOR {
        return Err(Rejection::InvalidAmount);
    }
    if amount.currency != currency {
        return Err(Rejection::CurrencyMismatch);
    }
    Ok(())
}

/// The invoice accepts money only while issued.
fn check_open(status: InvoiceStatus) -> Result<(), Rejection> {
    match status {
        InvoiceStatus::Issued => Ok(()),
        InvoiceStatus::Void => Err(Rejection::InvoiceVoid),
        InvoiceStatus::Paid => Err(Rejection::InvoicePaid),
        InvoiceStatus::Draft => Err(Rejection::InvoiceNotIssued),
    }
}

/// The status after a change left the invoice with `totals`: an issued
/// invoice with nothing left to pay is paid; every other status stays.
pub fn settle(status: InvoiceStatus, totals: &Totals) -> InvoiceStatus {
    match status {
        InvoiceStatus::Issued if totals.due <= 0 => InvoiceStatus::Paid,
        other => other,
    }
}

/// May `amount` be paid on an invoice in this state? Partial payments are
/// fine; more than is due is not.
pub fn check_payment(
    status: InvoiceStatus,
    currency: Currency,
    totals: &Totals,
    amount: &Money,
) -> Result<(), Rejection> {
    check_amount(currency, amount)?;
    check_open(status)?;
    if amount.amount_minor > totals.due {
        return Err(Rejection::PaymentExceedsBalance);
    }
    Ok(())
}

/// A charge line as far as crediting it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Creditable {
    /// The line's net amount; positive for a charge.
    pub net_minor: i64,
    pub is_charge: bool,
    /// Net already credited against it (positive).
    pub credited_minor: i64,
}

/// May `amount` (net, positive) be credited against this line? A credit never
/// exceeds what remains of the line, so an invoice's gross never goes negative.
pub fn check_credit(
    status: InvoiceStatus,
    currency: Currency,
    line: &Creditable,
    amount: &Money,
) -> Result<(), Rejection> {
    check_amount(currency, amount)?;
    match status {
        InvoiceStatus::Void => return Err(Rejection::InvoiceVoid),
        InvoiceStatus::Draft => return Err(Rejection::InvoiceNotIssued),
        InvoiceStatus::Issued | InvoiceStatus::Paid => {}
    }
    if !line.is_charge {
        return Err(Rejection::NotACharge);
    }
    let remaining = line.net_minor.saturating_sub(line.credited_minor);
    if amount.amount_minor > remaining {
        return Err(Rejection::CreditExceedsLine);
    }
    Ok(())
}

/// May `amount` be refunded? Only what the patient paid beyond what the
/// invoice (after credits) asks for: a refund never makes money due again.
pub fn check_refund(
    status: InvoiceStatus,
    currency: Currency,
    totals: &Totals,
    amount: &Money,
) -> Result<(), Rejection> {
    check_amount(currency, amount)?;
    match status {
        InvoiceStatus::Void => return Err(Rejection::InvoiceVoid),
        InvoiceStatus::Draft => return Err(Rejection::InvoiceNotIssued),
        InvoiceStatus::Issued | InvoiceStatus::Paid => {}
    }
    let credit = totals.due.saturating_neg();
    if amount.amount_minor > credit || amount.amount_minor > totals.paid {
        return Err(Rejection::RefundExceedsCredit);
    }
    Ok(())
}

/// May the invoice be voided? Not once money moved on it: credit and refund instead.
pub fn check_void(status: InvoiceStatus, totals: &Totals) -> Result<(), Rejection> {
    match status {
        InvoiceStatus::Void => Err(Rejection::InvoiceVoid),
        InvoiceStatus::Paid => Err(Rejection::InvoicePaid),
        InvoiceStatus::Draft | InvoiceStatus::Issued if totals.paid != 0 => {
            Err(Rejection::InvoiceHasPayments)
        }
        InvoiceStatus::Draft | InvoiceStatus::Issued => Ok(()),
    }
}

/// May the invoice be billed to the patient's insurer?
pub fn check_bill_to_insurance(
    status: InvoiceStatus,
    already_billed: bool,
    has_insurance: bool,
) -> Result<(), Rejection> {
    check_open(status)?;
    if already_billed {
        return Err(Rejection::AlreadyBilledToInsurance);
    }
    if !has_insurance {
        return Err(Rejection::InsuranceMissing);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::totals::{totals, LineAmount, PaymentAmount, PaymentKind};
    use proptest::prelude::*;
    use InvoiceStatus::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    fn money(n: i64) -> Money {
        Money::new(n, eur())
    }

    fn owing(gross: i64, paid: i64) -> Totals {
        Totals {
            net: gross,
            tax: 0,
            gross,
            paid,
            due: gross - paid,
        }
    }

    #[test]
    fn statuses_and_reasons_round_trip_their_names() {
        for s in InvoiceStatus::ALL {
            assert_eq!(InvoiceStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for r in InvoiceReason::ALL {
            assert_eq!(InvoiceReason::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert_eq!(InvoiceStatus::parse("open"), None);
    }

    #[test]
    fn each_bad_payment_has_its_own_rejection() {
        let t = owing(6000, 1000);
        let usd = Money::new(100, Currency::parse("USD").unwrap());
        let cases = [
            (Issued, money(0), Rejection::InvalidAmount),
            (Issued, money(-5), Rejection::InvalidAmount),
            (
                Issued,
                money(MAX_AMOUNT_MINOR + 1),
                Rejection::InvalidAmount,
            ),
            (Issued, usd, Rejection::CurrencyMismatch),
            (Void, money(100), Rejection::InvoiceVoid),
            (Paid, money(100), Rejection::InvoicePaid),
            (Draft, money(100), Rejection::InvoiceNotIssued),
            (Issued, money(5001), Rejection::PaymentExceedsBalance),
        ];
        for (status, amount, want) in cases {
            assert_eq!(
                check_payment(status, eur(), &t, &amount),
                Err(want),
                "{status:?} {amount:?}"
            );
        }
        assert_eq!(check_payment(Issued, eur(), &t, &money(5000)), Ok(()));
        assert_eq!(check_payment(Issued, eur(), &t, &money(1)), Ok(()));
    }

    #[test]
    fn an_issued_invoice_with_nothing_due_is_paid() {
        assert_eq!(settle(Issued, &owing(6000, 6000)), Paid);
        assert_eq!(settle(Issued, &owing(6000, 5999)), Issued);
        assert_eq!(settle(Issued, &owing(0, 0)), Paid);
        // Other states never move by themselves.
        assert_eq!(settle(Void, &owing(6000, 6000)), Void);
        assert_eq!(settle(Draft, &owing(0, 0)), Draft);
        assert_eq!(settle(Paid, &owing(6000, 7000)), Paid);
    }

    #[test]
    fn credits_stay_within_the_line() {
        let line = Creditable {
            net_minor: 6000,
            is_charge: true,
            credited_minor: 1000,
        };
        assert_eq!(check_credit(Issued, eur(), &line, &money(5000)), Ok(()));
        assert_eq!(check_credit(Paid, eur(), &line, &money(1)), Ok(()));
        assert_eq!(
            check_credit(Issued, eur(), &line, &money(5001)),
            Err(Rejection::CreditExceedsLine)
        );
        assert_eq!(
            check_credit(Void, eur(), &line, &money(1)),
            Err(Rejection::InvoiceVoid)
        );
        let credit_line = Creditable {
            net_minor: -100,
            is_charge: false,
            credited_minor: 0,
        };
        assert_eq!(
            check_credit(Issued, eur(), &credit_line, &money(1)),
            Err(Rejection::NotACharge)
        );
        assert_eq!(
            check_credit(Issued, eur(), &line, &money(0)),
            Err(Rejection::InvalidAmount)
        );
    }

    #[test]
    fn refunds_return_only_a_credit_balance() {
        // Paid 6000, then 2000 credited: the patient is owed 2000.
        let t = owing(4000, 6000);
        assert_eq!(check_refund(Paid, eur(), &t, &money(2000)), Ok(()));
        assert_eq!(
            check_refund(Paid, eur(), &t, &money(2001)),
            Err(Rejection::RefundExceedsCredit)
        );
        assert_eq!(
            check_refund(Issued, eur(), &owing(6000, 1000), &money(1)),
            Err(Rejection::RefundExceedsCredit)
        );
        assert_eq!(
            check_refund(Void, eur(), &t, &money(1)),
            Err(Rejection::InvoiceVoid)
        );
    }

    #[test]
    fn only_untouched_open_invoices_can_be_voided() {
        assert_eq!(check_void(Issued, &owing(6000, 0)), Ok(()));
        assert_eq!(check_void(Draft, &owing(6000, 0)), Ok(()));
        assert_eq!(
            check_void(Issued, &owing(6000, 100)),
            Err(Rejection::InvoiceHasPayments)
        );
        assert_eq!(check_void(Void, &owing(0, 0)), Err(Rejection::InvoiceVoid));
        assert_eq!(
            check_void(Paid, &owing(6000, 6000)),
            Err(Rejection::InvoicePaid)
        );
    }

    #[test]
    fn billing_to_insurance_needs_an_open_invoice_and_insurance() {
        assert_eq!(check_bill_to_insurance(Issued, false, true), Ok(()));
        assert_eq!(
            check_bill_to_insurance(Issued, false, false),
            Err(Rejection::InsuranceMissing)
        );
        assert_eq!(
            check_bill_to_insurance(Issued, true, true),
            Err(Rejection::AlreadyBilledToInsurance)
        );
        assert_eq!(
            check_bill_to_insurance(Void, false, true),
            Err(Rejection::InvoiceVoid)
        );
        assert_eq!(
            check_bill_to_insurance(Paid, false, true),
            Err(Rejection::InvoicePaid)
        );
    }

    proptest! {
        /// Whatever sequence of payments is attempted, the accepted ones never
        /// overpay, and the invoice is paid exactly when nothing is left.
        #[test]
        fn accepted_payments_never_overpay(
            gross in 1..1_000_000i64,
            attempts in proptest::collection::vec(-10..2_000_000i64, 0..30),
        ) {
            let lines = [LineAmount { net_minor: gross, tax_rate_bp: 0 }];
            let mut payments: Vec<PaymentAmount> = Vec::new();
            let mut status = Issued;
            for a in attempts {
                let t = totals(&lines, &payments).unwrap();
                if check_payment(status, eur(), &t, &money(a)).is_ok() {
                    payments.push(PaymentAmount { kind: PaymentKind::Payment, amount_minor: a });
                    status = settle(status, &totals(&lines, &payments).unwrap());
                }
                let t = totals(&lines, &payments).unwrap();
                prop_assert!(t.due >= 0 && t.paid <= t.gross);
                prop_assert_eq!(status == Paid, t.due == 0);
            }
        }

        /// Credits and refunds never make the gross negative or money due again.
        #[test]
        fn credits_then_refunds_keep_the_books_consistent(
            gross in 1..1_000_000i64,
            paid_share in 0..=100i64,
            credits in proptest::collection::vec(1..500_000i64, 0..10),
            refunds in proptest::collection::vec(1..500_000i64, 0..10),
        ) {
            let mut lines = vec![LineAmount { net_minor: gross, tax_rate_bp: 0 }];
            let paid = gross * paid_share / 100;
            let mut payments = Vec::new();
            if paid > 0 {
                payments.push(PaymentAmount { kind: PaymentKind::Payment, amount_minor: paid });
            }
            let mut status = settle(Issued, &totals(&lines, &payments).unwrap());
            let mut credited = 0;
            for c in credits {
                let line = Creditable { net_minor: gross, is_charge: true, credited_minor: credited };
                if check_credit(status, eur(), &line, &money(c)).is_ok() {
                    credited += c;
                    lines.push(LineAmount { net_minor: -c, tax_rate_bp: 0 });
                    status = settle(status, &totals(&lines, &payments).unwrap());
                }
            }
            let due_before_refunds = totals(&lines, &payments).unwrap().due;
            for r in refunds {
                let t = totals(&lines, &payments).unwrap();
                if check_refund(status, eur(), &t, &money(r)).is_ok() {
                    payments.push(PaymentAmount { kind: PaymentKind::Refund, amount_minor: r });
                }
            }
            let t = totals(&lines, &payments).unwrap();
            prop_assert!(t.gross >= 0);
            prop_assert!(t.paid >= 0);
            if due_before_refunds <= 0 {
                prop_assert!(t.due <= 0, "a refund made money due again: {:?}", t);
            } else {
                prop_assert_eq!(t.due, due_before_refunds);
            }
        }
    }
}
