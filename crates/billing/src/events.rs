//! What billing publishes: `invoice.issued`, `invoice.paid` and
//! `invoice.voided` (v1) through the outbox, in the transaction of the change —
//! ids, status and totals only, no names, no free text. It consumes scheduling's
//! `appointment.*` events (`consumers`).

use contracts::billing::{Invoice, InvoiceTotals};
use platform::events::Envelope;
use uuid::Uuid;

use crate::{
    domain::{money::Currency, money::Money, totals::Totals},
    store::invoices::InvoiceRow,
};

/// An invoice's totals in its currency, as the API and the events show them.
pub fn totals(t: &Totals, currency: Currency) -> InvoiceTotals {
    let m = |n| Money::new(n, currency).into();
    InvoiceTotals {
        net: m(t.net),
        tax: m(t.tax),
        gross: m(t.gross),
        paid: m(t.paid),
        due: m(t.due),
    }
}

/// The invoice `row` after a change by `changed_by` (`None`: billing acted on an event).
pub fn invoice(row: &InvoiceRow, changed_by: Option<Uuid>) -> Invoice {
    Invoice {
        invoice_id: row.id,
        invoice_number: row.number,
        appointment_id: row.appointment_id,
        patient_id: row.patient_id,
        provider_id: row.provider_id,
        reason: row.reason,
        status: row.status,
        totals: totals(&row.totals(), row.currency),
        changed_by,
    }
}

/// Event `E` about `row`.
pub fn envelope<E: contracts::Event<Payload = Invoice>>(
    row: &InvoiceRow,
    changed_by: Option<Uuid>,
) -> Result<Envelope, serde_json::Error> {
    Envelope::of::<E>(&invoice(row, changed_by))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_money_in_the_invoice_currency() {
        let eur = Currency::parse("EUR").unwrap();
        let t = totals(
            &Totals {
                net: 6000,
                tax: 0,
                gross: 6000,
                paid: 0,
                due: 6000,
            },
            eur,
        );
        assert_eq!(
            serde_json::to_value(&t.due).unwrap(),
            serde_json::json!({"amount_minor": 6000, "currency": "EUR"})
        );
    }
}
