//! The invoice as the API shows it: summaries, lines, payments, history.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    domain::{
        insurance::Insurance,
        invoice::{InvoiceReason, InvoiceStatus},
        money::{Currency, Money},
        totals::{line_tax, PaymentKind},
    },
    events,
    store::invoices::{InvoiceRow, LineRow, PaymentRow},
};

/// An invoice in lists: who, why, where it stands.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceSummary {
    pub id: Uuid,
    /// Human-friendly, increasing invoice number.
    pub number: i64,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_id: Uuid,
    pub reason: InvoiceReason,
    pub status: InvoiceStatus,
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    pub totals: contracts::billing::InvoiceTotals,
    pub issued_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
    pub billed_to_insurance_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<&InvoiceRow> for InvoiceSummary {
    fn from(r: &InvoiceRow) -> Self {
        Self {
            id: r.id,
            number: r.number,
            patient_id: r.patient_id,
            provider_id: r.provider_id,
            appointment_id: r.appointment_id,
            reason: r.reason,
            status: r.status,
            currency: r.currency,
            totals: events::totals(&r.totals(), r.currency),
            issued_at: r.issued_at,
            paid_at: r.paid_at,
            voided_at: r.voided_at,
            billed_to_insurance_at: r.billed_to_insurance_at,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Charge,
    /// A negative line reducing an earlier charge (a credit note).
    Credit,
}

/// One line: its net amount, tax rate, and the tax and gross that follow.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineView {
    pub id: Uuid,
    pub kind: LineKind,
    pub description: String,
    /// Net amount; negative on credit lines.
    pub amount: Money,
    /// Tax rate in basis points (`1900` = 19 %).
    pub tax_rate_bp: u32,
    /// `amount × tax_rate_bp / 10 000`, rounded half-up per line in minor units.
    pub tax: Money,
    pub gross: Money,
    /// On credits: the charge line credited.
    pub credits_line_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl LineView {
    pub(super) fn new(l: &LineRow, currency: Currency) -> Self {
        let a = l.amount();
        let tax = line_tax(a.net_minor, a.tax_rate_bp);
        Self {
            id: l.id,
            kind: if l.is_charge() {
                LineKind::Charge
            } else {
                LineKind::Credit
            },
            description: l.description.clone(),
            amount: Money::new(a.net_minor, currency),
            tax_rate_bp: a.tax_rate_bp,
            tax: Money::new(tax, currency),
            gross: Money::new(a.net_minor.saturating_add(tax), currency),
            credits_line_id: l.credits_line_id,
            created_at: l.created_at,
        }
    }
}

/// A payment received or a refund returned.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentView {
    pub id: Uuid,
    pub kind: PaymentKind,
    /// Always positive; `kind` says which way the money went.
    pub amount: Money,
    pub method: String,
    pub reference: Option<String>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

impl From<&PaymentRow> for PaymentView {
    fn from(p: &PaymentRow) -> Self {
        Self {
            id: p.id,
            kind: p.kind(),
            amount: Money::new(p.amount_minor, p.currency),
            method: p.method.clone(),
            reference: p.reference.clone(),
            recorded_by: p.recorded_by,
            recorded_at: p.recorded_at,
        }
    }
}

/// The appointment billed, as billing's read model knows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppointmentInfo {
    pub appointment_type_name: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The provider's IANA time zone, for showing local times.
    pub time_zone: String,
}

/// One invoice with everything on it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceDetail {
    #[serde(flatten)]
    pub summary: InvoiceSummary,
    pub lines: Vec<LineView>,
    pub payments: Vec<PaymentView>,
    /// The insurance billed (once billed to insurance) or on file; shown to
    /// the patient and staff only.
    pub insurance: Option<Insurance>,
    pub void_reason: Option<String>,
    pub appointment: Option<AppointmentInfo>,
}

/// A page of invoices, newest first.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoicePage {
    pub items: Vec<InvoiceSummary>,
    pub next_cursor: Option<String>,
}

/// One entry of an invoice's audit trail.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub action: String,
    /// Who; `null` when billing acted on an event (`source_event_id`).
    pub actor_id: Option<Uuid>,
    pub actor_role: Option<String>,
    pub source_event_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}
