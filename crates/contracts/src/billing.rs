//! What billing publishes: invoice changes, ids, status and totals only — no
//! names, no free text.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{examples, Money, Service};

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Being prepared; not yet owed.
    Draft,
    /// Owed by the patient (invoices from appointment events start here).
    Issued,
    /// Settled: nothing is due (a credit balance may remain to be refunded).
    Paid,
    /// Cancelled with a reason; nothing is owed and nothing more can happen.
    Void,
}

impl InvoiceStatus {
    pub const ALL: [InvoiceStatus; 4] = [
        InvoiceStatus::Draft,
        InvoiceStatus::Issued,
        InvoiceStatus::Paid,
        InvoiceStatus::Void,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Issued => "issued",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Why an invoice exists: one invoice per (appointment, reason).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceReason {
    /// The visit took place: the appointment type's price.
    Completed,
    /// The patient cancelled inside the cancellation window: the type's fee.
    LateCancellation,
    /// The patient did not come: the type's fee.
    NoShow,
}

impl InvoiceReason {
    pub const ALL: [InvoiceReason; 3] = [
        InvoiceReason::Completed,
        InvoiceReason::LateCancellation,
        InvoiceReason::NoShow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceReason::Completed => "completed",
            InvoiceReason::LateCancellation => "late_cancellation",
            InvoiceReason::NoShow => "no_show",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// An invoice's totals, each in the invoice's currency (API and events alike).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct InvoiceTotals {
    pub net: Money,
    pub tax: Money,
    pub gross: Money,
    pub paid: Money,
    /// Negative when the patient is owed a refund.
    pub due: Money,
}

/// The payload of every `invoice.*` v1 event: the invoice after the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Invoice {
    pub invoice_id: Uuid,
    pub invoice_number: i64,
    pub appointment_id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub reason: InvoiceReason,
    pub status: InvoiceStatus,
    pub totals: InvoiceTotals,
    /// Who made the change; `None` when billing issued it from an event.
    pub changed_by: Option<Uuid>,
}

fn example(event_type: &str) -> Invoice {
    let eur = |amount_minor| Money {
        amount_minor,
        currency: "EUR".into(),
    };
    let (status, paid, changed_by) = match event_type {
        "invoice.paid" => (InvoiceStatus::Paid, 6000, Some(examples::STAFF)),
        "invoice.voided" => (InvoiceStatus::Void, 0, Some(examples::STAFF)),
        _ => (InvoiceStatus::Issued, 0, None),
    };
    let due = if status == InvoiceStatus::Issued {
        6000
    } else {
        0
    };
    Invoice {
        invoice_id: examples::INVOICE,
        invoice_number: 1042,
        appointment_id: examples::APPOINTMENT,
        patient_id: examples::PATIENT,
        provider_id: examples::PROVIDER,
        reason: InvoiceReason::Completed,
        status,
        totals: InvoiceTotals {
            net: eur(6000),
            tax: eur(0),
            gross: eur(6000),
            paid: eur(paid),
            due: eur(due),
        },
        changed_by,
    }
}

family! {
    Invoice, Service::Billing, example;
    /// `invoice.issued` v1.
    InvoiceIssued = "invoice.issued" version 1: "Billing issued an invoice (a completed visit, a late cancellation or a no-show with a fee).";
    /// `invoice.paid` v1.
    InvoicePaid = "invoice.paid" version 1: "Payments settled an invoice.";
    /// `invoice.voided` v1.
    InvoiceVoided = "invoice.voided" version 1: "Staff voided an invoice.";
}
