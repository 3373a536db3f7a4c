//! Invoices, their lines and payments, and the audit trail of every change.

use chrono::{DateTime, Utc};
use sqlx::{types::Json, PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::domain::{
    insurance::Insurance,
    invoice::{InvoiceReason, InvoiceStatus},
    money::{Currency, Money},
    totals::{LineAmount, PaymentAmount, PaymentKind, Totals},
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: Uuid,
    pub number: i64,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_id: Uuid,
    pub reason: InvoiceReason,
    pub status: InvoiceStatus,
    pub currency: Currency,
    pub net_minor: i64,
    pub tax_minor: i64,
    pub gross_minor: i64,
    pub paid_minor: i64,
    pub due_minor: i64,
    pub issued_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
    pub void_reason: Option<String>,
    pub billed_to_insurance_at: Option<DateTime<Utc>>,
    pub insurance: Option<Json<Insurance>>,
    pub created_at: DateTime<Utc>,
}

impl InvoiceRow {
    /// The totals as stored with the row.
    pub fn totals(&self) -> Totals {
        Totals {
            net: self.net_minor,
            tax: self.tax_minor,
            gross: self.gross_minor,
            paid: self.paid_minor,
            due: self.due_minor,
        }
    }
}

const INVOICE_COLUMNS: &str = "id, number, patient_id, provider_id, appointment_id, reason, status, currency, \
     net_minor, tax_minor, gross_minor, paid_minor, due_minor, issued_at, paid_at, voided_at, void_reason, \
     billed_to_insurance_at, insurance, created_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LineRow {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub position: i32,
    pub kind: String,
    pub description: String,
    pub amount_minor: i64,
    pub tax_rate_bp: i32,
    pub credits_line_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl LineRow {
    pub fn is_charge(&self) -> bool {
        self.kind == "charge"
    }

    pub fn amount(&self) -> LineAmount {
        LineAmount {
            net_minor: self.amount_minor,
            // The column's CHECK keeps it within 0..=10 000.
            tax_rate_bp: u32::try_from(self.tax_rate_bp).unwrap_or(0),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub kind: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub method: String,
    pub reference: Option<String>,
    pub processor: String,
    pub processor_reference: Option<String>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

impl PaymentRow {
    pub fn kind(&self) -> PaymentKind {
        PaymentKind::parse(&self.kind).unwrap_or(PaymentKind::Payment)
    }

    pub fn amount(&self) -> PaymentAmount {
        PaymentAmount {
            kind: self.kind(),
            amount_minor: self.amount_minor,
        }
    }
}

/// A new issued invoice from an appointment event.
pub struct NewInvoice {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_id: Uuid,
    pub reason: InvoiceReason,
    pub currency: Currency,
    pub source_event_id: Uuid,
}

/// Insert the invoice, issued now, unless one exists for (appointment, reason):
/// then `None`, and nothing was written.
pub async fn insert_issued(
    conn: &mut PgConnection,
    i: &NewInvoice,
) -> Result<Option<InvoiceRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO invoices (id, patient_id, provider_id, appointment_id, reason, status, currency,
                               issued_at, source_event_id)
         VALUES ($1, $2, $3, $4, $5, 'issued', $6, now(), $7)
         ON CONFLICT ON CONSTRAINT invoices_one_per_appointment_reason DO NOTHING
         RETURNING {INVOICE_COLUMNS}"
    ))
    .bind(i.id)
    .bind(i.patient_id)
    .bind(i.provider_id)
    .bind(i.appointment_id)
    .bind(i.reason)
    .bind(i.currency)
    .bind(i.source_event_id)
    .fetch_optional(conn)
    .await
}

pub async fn get<'e>(ex: impl PgExecutor<'e>, id: Uuid) -> Result<Option<InvoiceRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(ex)
    .await
}

/// The invoice, locked until the caller's transaction ends.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<InvoiceRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn lines<'e>(
    ex: impl PgExecutor<'e>,
    invoice_id: Uuid,
) -> Result<Vec<LineRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, invoice_id, position, kind, description, amount_minor, tax_rate_bp, credits_line_id, created_at
         FROM invoice_lines WHERE invoice_id = $1 ORDER BY position",
    )
    .bind(invoice_id)
    .fetch_all(ex)
    .await
}

pub async fn payments<'e>(
    ex: impl PgExecutor<'e>,
    invoice_id: Uuid,
) -> Result<Vec<PaymentRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, invoice_id, kind, amount_minor, currency, method, reference, processor,
                processor_reference, recorded_by, recorded_at
         FROM payments WHERE invoice_id = $1 ORDER BY recorded_at, id",
    )
    .bind(invoice_id)
    .fetch_all(ex)
    .await
}

/// A line to append.
pub struct NewLine<'a> {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub charge: bool,
    pub description: &'a str,
    pub amount_minor: i64,
    pub tax_rate_bp: u32,
    pub credits_line_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
}

/// Append a line after the invoice's last one (the caller holds the invoice's lock).
pub async fn append_line(conn: &mut PgConnection, l: &NewLine<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO invoice_lines (id, invoice_id, position, kind, description, amount_minor, tax_rate_bp,
                                    credits_line_id, created_by)
         SELECT $1, $2, COALESCE(max(position), 0) + 1, $3, $4, $5, $6, $7, $8
         FROM invoice_lines WHERE invoice_id = $2",
    )
    .bind(l.id)
    .bind(l.invoice_id)
    .bind(if l.charge { "charge" } else { "credit" })
    .bind(l.description)
    .bind(l.amount_minor)
    .bind(i32::try_from(l.tax_rate_bp).unwrap_or(i32::MAX))
    .bind(l.credits_line_id)
    .bind(l.created_by)
    .execute(conn)
    .await?;
    Ok(())
}

/// A payment or refund to record.
pub struct NewPayment<'a> {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub kind: PaymentKind,
    pub amount: Money,
    pub method: &'a str,
    pub reference: Option<&'a str>,
    pub processor: &'a str,
    pub processor_reference: Option<&'a str>,
    pub recorded_by: Uuid,
}

pub async fn insert_payment(
    conn: &mut PgConnection,
    p: &NewPayment<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO payments (id, invoice_id, kind, amount_minor, currency, method, reference, processor,
                               processor_reference, recorded_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(p.id)
    .bind(p.invoice_id)
    .bind(p.kind.as_str())
    .bind(p.amount.amount_minor)
    .bind(p.amount.currency)
    .bind(p.method)
    .bind(p.reference)
    .bind(p.processor)
    .bind(p.processor_reference)
    .bind(p.recorded_by)
    .execute(conn)
    .await?;
    Ok(())
}

/// Store freshly computed totals and the status that follows from them.
pub async fn set_totals(
    conn: &mut PgConnection,
    id: Uuid,
    status: InvoiceStatus,
    t: &Totals,
) -> Result<InvoiceRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE invoices SET status = $2, net_minor = $3, tax_minor = $4, gross_minor = $5, paid_minor = $6,
             paid_at = CASE WHEN $2 = 'paid' THEN COALESCE(paid_at, now()) ELSE paid_at END,
             updated_at = now()
         WHERE id = $1 RETURNING {INVOICE_COLUMNS}"
    ))
    .bind(id)
    .bind(status)
    .bind(t.net)
    .bind(t.tax)
    .bind(t.gross)
    .bind(t.paid)
    .fetch_one(conn)
    .await
}

pub async fn void(
    conn: &mut PgConnection,
    id: Uuid,
    by: Uuid,
    reason: &str,
) -> Result<InvoiceRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE invoices SET status = 'void', voided_at = now(), voided_by = $2, void_reason = $3, updated_at = now()
         WHERE id = $1 RETURNING {INVOICE_COLUMNS}"
    ))
    .bind(id)
    .bind(by)
    .bind(reason)
    .fetch_one(conn)
    .await
}

pub async fn bill_to_insurance(
    conn: &mut PgConnection,
    id: Uuid,
    by: Uuid,
    insurance: &Insurance,
) -> Result<InvoiceRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE invoices SET billed_to_insurance_at = now(), billed_to_insurance_by = $2, insurance = $3,
             updated_at = now()
         WHERE id = $1 RETURNING {INVOICE_COLUMNS}"
    ))
    .bind(id)
    .bind(by)
    .bind(Json(insurance))
    .fetch_one(conn)
    .await
}

/// One entry of an invoice's audit trail.
pub struct AuditEntry<'a> {
    pub invoice_id: Uuid,
    pub action: &'static str,
    /// `None`: billing itself, following `source_event_id`.
    pub actor_id: Option<Uuid>,
    pub actor_role: Option<&'a str>,
    pub source_event_id: Option<Uuid>,
    pub detail: serde_json::Value,
}

pub async fn record(conn: &mut PgConnection, e: &AuditEntry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO invoice_events (invoice_id, action, actor_id, actor_role, source_event_id, detail)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(e.invoice_id)
    .bind(e.action)
    .bind(e.actor_id)
    .bind(e.actor_role)
    .bind(e.source_event_id)
    .bind(&e.detail)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub action: String,
    pub actor_id: Option<Uuid>,
    pub actor_role: Option<String>,
    pub source_event_id: Option<Uuid>,
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

pub async fn history(pool: &PgPool, invoice_id: Uuid) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, action, actor_id, actor_role, source_event_id, detail, at
         FROM invoice_events WHERE invoice_id = $1 ORDER BY id",
    )
    .bind(invoice_id)
    .fetch_all(pool)
    .await
}

/// Which invoices a list shows; `None` fields do not filter.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub patient_id: Option<Uuid>,
    pub provider_id: Option<Uuid>,
    pub status: Option<InvoiceStatus>,
    /// Keyset: ids below this one (newest first).
    pub before: Option<Uuid>,
    pub limit: i64,
}

pub async fn list(pool: &PgPool, f: &ListFilter) -> Result<Vec<InvoiceRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices
         WHERE ($1::uuid IS NULL OR patient_id = $1)
           AND ($2::uuid IS NULL OR provider_id = $2)
           AND ($3::text IS NULL OR status = $3)
           AND ($4::uuid IS NULL OR id < $4)
         ORDER BY id DESC LIMIT $5"
    ))
    .bind(f.patient_id)
    .bind(f.provider_id)
    .bind(f.status)
    .bind(f.before)
    .bind(f.limit)
    .fetch_all(pool)
    .await
}

/// A patient's open balance per currency: the sum of what is due on issued
/// and paid invoices (a credit on a paid invoice counts against it).
pub struct BalanceRow {
    pub currency: Currency,
    pub due_minor: i64,
    pub open_invoices: i64,
}

pub async fn balance(pool: &PgPool, patient_id: Uuid) -> Result<Vec<BalanceRow>, sqlx::Error> {
    let rows: Vec<(Currency, i64, i64)> = sqlx::query_as(
        "SELECT currency, sum(due_minor)::bigint, count(*) FILTER (WHERE status = 'issued')
         FROM invoices WHERE patient_id = $1 AND status IN ('issued', 'paid')
         GROUP BY currency HAVING sum(due_minor) <> 0 OR count(*) FILTER (WHERE status = 'issued') > 0
         ORDER BY currency",
    )
    .bind(patient_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(currency, due_minor, open_invoices)| BalanceRow {
            currency,
            due_minor,
            open_invoices,
        })
        .collect())
}
