//! An invoice's totals, computed from its lines and payments by pure functions.
//!
//! **Rounding rule.** Tax is computed per line, in minor units, as
//! `net × rate / 10 000` (rate in basis points) rounded half-up on the
//! magnitude — half away from zero — so `0.5` of a cent becomes `1` and `-0.5`
//! becomes `-1`. A credit line that reverses a whole charge therefore reverses
//! exactly the tax that charge carried. The invoice's tax is the sum of the
//! rounded line taxes (never the rounded tax of the sum).
//!
//! - net   = Σ line net amounts (credit lines are negative)
//! - tax   = Σ line taxes
//! - gross = net + tax
//! - paid  = Σ payments − Σ refunds
//! - due   = gross − paid (negative: the patient is owed a refund)

use serde::{Deserialize, Serialize};

use super::money::{add, sub, AmountOverflow};

/// Basis points in one whole (100 %).
pub const BASIS_POINTS: u32 = 10_000;

/// What a line contributes to the totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineAmount {
    /// Net amount in minor units; negative on credit lines.
    pub net_minor: i64,
    /// Tax rate in basis points (`1900` = 19 %), `0..=10 000`.
    pub tax_rate_bp: u32,
}

/// Which way money moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    /// Money received from (or on behalf of) the patient.
    Payment,
    /// Money returned to the patient.
    Refund,
}

impl PaymentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentKind::Payment => "payment",
            PaymentKind::Refund => "refund",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [PaymentKind::Payment, PaymentKind::Refund]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// What a payment or refund contributes to the totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaymentAmount {
    pub kind: PaymentKind,
    /// Always positive; the kind gives the direction.
    pub amount_minor: i64,
}

/// An invoice's totals in minor units of its currency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub net: i64,
    pub tax: i64,
    pub gross: i64,
    pub paid: i64,
    pub due: i64,
}

/// The tax of one line: `net × rate_bp / 10 000`, rounded half away from zero.
pub fn line_tax(net_minor: i64, tax_rate_bp: u32) -> i64 {
    let rate = i128::from(tax_rate_bp.min(BASIS_POINTS));
    let product = i128::from(net_minor) * rate;
    let whole = i128::from(BASIS_POINTS);
    let quotient = product / whole;
    let remainder = product % whole;
    let rounded = if remainder.abs() * 2 >= whole {
        quotient + product.signum()
    } else {
        quotient
    };
    // |tax| ≤ |net| because the rate is at most 100 %, so it fits in i64.
    i64::try_from(rounded).unwrap_or(if rounded < 0 { i64::MIN } else { i64::MAX })
}

/// Totals of an invoice with these lines and payments.
pub fn totals(lines: &[LineAmount], payments: &[PaymentAmount]) -> Result<Totals, AmountOverflow> {
    let mut t = Totals::default();
    for line in lines {
        t.net = add(t.net, line.net_minor)?;
        t.tax = add(t.tax, line_tax(line.net_minor, line.tax_rate_bp))?;
    }
    t.gross = add(t.net, t.tax)?;
    for p in payments {
        t.paid = match p.kind {
            PaymentKind::Payment => add(t.paid, p.amount_minor)?,
            PaymentKind::Refund => sub(t.paid, p.amount_minor)?,
        };
    }
    t.due = sub(t.gross, t.paid)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::domain::money::MAX_AMOUNT_MINOR;

    fn line(net_minor: i64, tax_rate_bp: u32) -> LineAmount {
        LineAmount {
            net_minor,
            tax_rate_bp,
        }
    }

    fn pay(amount_minor: i64) -> PaymentAmount {
        PaymentAmount {
            kind: PaymentKind::Payment,
            amount_minor,
        }
    }

    #[test]
    fn tax_rounds_half_up_per_line_in_minor_units() {
        assert_eq!(line_tax(6000, 0), 0);
        assert_eq!(line_tax(6000, 1900), 1140);
        // 1 × 19 % = 0.19 → 0; 3 × 19 % = 0.57 → 1; 50 × 1 % = 0.5 → 1; 49 × 1 % = 0.49 → 0.
        assert_eq!(line_tax(1, 1900), 0);
        assert_eq!(line_tax(3, 1900), 1);
        assert_eq!(line_tax(50, 100), 1);
        assert_eq!(line_tax(49, 100), 0);
        // Half away from zero: a credit reverses exactly the charge's tax.
        assert_eq!(line_tax(-50, 100), -1);
        assert_eq!(line_tax(-49, 100), 0);
        assert_eq!(line_tax(1234, BASIS_POINTS), 1234);
    }

    #[test]
    fn invoice_tax_is_the_sum_of_rounded_line_taxes() {
        // Each line's 0.5 cent of tax rounds up to 1 on its own: two such lines
        // owe 2 cents, although the exact tax of the sum is 1 cent.
        let t = totals(&[line(50, 100), line(50, 100)], &[]).unwrap();
        assert_eq!((t.net, t.tax, t.gross), (100, 2, 102));
    }

    #[test]
    fn totals_of_a_partly_paid_invoice_with_a_credit() {
        let t = totals(
            &[line(10_000, 700), line(-2_000, 700)],
            &[
                pay(5_000),
                PaymentAmount {
                    kind: PaymentKind::Refund,
                    amount_minor: 1_000,
                },
            ],
        )
        .unwrap();
        assert_eq!(
            t,
            Totals {
                net: 8_000,
                tax: 560,
                gross: 8_560,
                paid: 4_000,
                due: 4_560
            }
        );
    }

    #[test]
    fn an_empty_invoice_owes_nothing() {
        assert_eq!(totals(&[], &[]).unwrap(), Totals::default());
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert_eq!(
            totals(&[line(i64::MAX, 0), line(1, 0)], &[]),
            Err(AmountOverflow)
        );
        assert_eq!(
            totals(
                &[],
                &[
                    PaymentAmount {
                        kind: PaymentKind::Refund,
                        amount_minor: i64::MAX
                    },
                    PaymentAmount {
                        kind: PaymentKind::Refund,
                        amount_minor: 2
                    }
                ]
            ),
            Err(AmountOverflow)
        );
    }

    fn amount() -> impl Strategy<Value = i64> {
        -MAX_AMOUNT_MINOR..=MAX_AMOUNT_MINOR
    }

    fn rate() -> impl Strategy<Value = u32> {
        0..=BASIS_POINTS
    }

    proptest! {
        #[test]
        fn line_tax_is_within_half_a_minor_unit_of_the_exact_tax(net in amount(), bp in rate()) {
            let tax = i128::from(line_tax(net, bp));
            let exact_times_10k = i128::from(net) * i128::from(bp);
            // |tax × 10 000 − net × bp| ≤ 5 000, i.e. at most half a minor unit off.
            prop_assert!((tax * 10_000 - exact_times_10k).abs() <= 5_000);
        }

        #[test]
        fn line_tax_is_symmetric(net in amount(), bp in rate()) {
            prop_assert_eq!(line_tax(-net, bp), -line_tax(net, bp));
        }

        #[test]
        fn line_tax_never_grows_faster_than_net(a in amount(), b in amount(), bp in rate()) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(line_tax(lo, bp) <= line_tax(hi, bp));
            prop_assert!(line_tax(hi, bp).abs() <= hi.abs());
        }

        #[test]
        fn totals_hold_their_identities(
            lines in proptest::collection::vec((amount(), rate()), 0..20),
            payments in proptest::collection::vec((any::<bool>(), 1..MAX_AMOUNT_MINOR), 0..10),
        ) {
            let lines: Vec<LineAmount> = lines.into_iter().map(|(n, r)| line(n, r)).collect();
            let payments: Vec<PaymentAmount> = payments.into_iter().map(|(refund, a)| PaymentAmount {
                kind: if refund { PaymentKind::Refund } else { PaymentKind::Payment },
                amount_minor: a,
            }).collect();
            let t = totals(&lines, &payments).unwrap();
            prop_assert_eq!(t.gross, t.net + t.tax);
            prop_assert_eq!(t.due, t.gross - t.paid);
            prop_assert_eq!(t.net, lines.iter().map(|l| l.net_minor).sum::<i64>());
            prop_assert_eq!(t.tax, lines.iter().map(|l| line_tax(l.net_minor, l.tax_rate_bp)).sum::<i64>());
            // The order of lines and payments never matters.
            let mut rl = lines.clone();
            rl.reverse();
            let mut rp = payments.clone();
            rp.reverse();
            prop_assert_eq!(totals(&rl, &rp).unwrap(), t);
        }

        #[test]
        fn a_credit_of_the_whole_charge_cancels_it(net in 0..MAX_AMOUNT_MINOR, bp in rate()) {
            let t = totals(&[line(net, bp), line(-net, bp)], &[]).unwrap();
            prop_assert_eq!(t, Totals::default());
        }
    }
}
