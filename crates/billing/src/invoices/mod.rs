//! Invoices: issued from appointment events, read by those allowed, and changed
//! by staff — payments, credits, refunds, voids, billing to insurance. Every
//! change locks the invoice, checks the pure rules, appends (never edits)
//! lines/payments, recomputes the totals with the pure functions, records who
//! did what in the audit trail and enqueues its event — all in one transaction.
//! Payments and refunds take two short ones, with the payment provider asked
//! in between and outside both (`payments`). The patient's cached balance is
//! deleted after commit.
//!
//! `views` are the shapes the API answers with; `issue` turns an appointment
//! outcome into an invoice (in the consumer's transaction); `read` answers
//! reads and lists; `payments` are staff's payments and refunds; `changes`
//! staff's credits, voids and billing to insurance. What they share — the
//! books, the lock, saving totals and the audit entry — is here.

mod changes;
mod issue;
mod payments;
mod read;
mod views;

pub use changes::{bill_to_insurance, credit, void, CreditRequest};
pub use issue::issue_for_appointment;
pub use payments::{pay, refund, MoneyMovement};
pub use read::{get, history, list, ListQuery};
pub use views::{
    AppointmentInfo, HistoryEntry, InvoiceDetail, InvoicePage, InvoiceSummary, LineKind, LineView,
    PaymentView,
};

use contracts::billing::InvoicePaid;
use platform::events::{outbox, Envelope};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    domain::{
        access::{can_access_account, invoice_access, Actor, InvoiceAccess},
        invoice::{settle, InvoiceStatus},
        totals::{self, PaymentAmount, Totals},
    },
    error::Error,
    events,
    store::{
        appointments, insurance as insurance_store,
        invoices::{self as store, AuditEntry, InvoiceRow, LineRow, PaymentRow},
    },
    AppState,
};

/// The lines, payments and totals of a locked or read invoice.
struct Books {
    lines: Vec<LineRow>,
    payments: Vec<PaymentRow>,
    totals: Totals,
}

impl Books {
    fn totals_with(
        &self,
        extra_line: Option<(i64, u32)>,
        extra_payments: &[PaymentAmount],
    ) -> Result<Totals, Error> {
        let mut lines: Vec<_> = self.lines.iter().map(LineRow::amount).collect();
        if let Some((net_minor, tax_rate_bp)) = extra_line {
            lines.push(totals::LineAmount {
                net_minor,
                tax_rate_bp,
            });
        }
        let mut payments: Vec<_> = self.payments.iter().map(PaymentRow::amount).collect();
        payments.extend_from_slice(extra_payments);
        Ok(totals::totals(&lines, &payments)?)
    }
}

async fn books(conn: &mut PgConnection, invoice_id: Uuid) -> Result<Books, Error> {
    let lines = store::lines(&mut *conn, invoice_id).await?;
    let payments = store::payments(&mut *conn, invoice_id).await?;
    let mut b = Books {
        lines,
        payments,
        totals: Totals::default(),
    };
    b.totals = b.totals_with(None, &[])?;
    Ok(b)
}

fn envelope<E: contracts::Event<Payload = contracts::billing::Invoice>>(
    row: &InvoiceRow,
    changed_by: Option<Uuid>,
) -> Result<Envelope, Error> {
    events::envelope::<E>(row, changed_by).map_err(|e| Error::Internal(e.to_string()))
}

fn audit<'a>(
    row: &InvoiceRow,
    action: &'static str,
    actor: &'a Actor,
    detail: serde_json::Value,
) -> AuditEntry<'a> {
    AuditEntry {
        invoice_id: row.id,
        action,
        actor_id: Some(actor.user_id),
        actor_role: Some(actor.role.as_str()),
        source_event_id: None,
        detail,
    }
}

/// Lock the invoice for a change by `actor`: 404 unless they may see it, 403
/// unless they may manage it.
async fn lock_managed(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<InvoiceRow, Error> {
    let row = store::lock(conn, id).await?.ok_or(Error::InvoiceNotFound)?;
    match invoice_access(actor, row.patient_id, row.provider_id) {
        InvoiceAccess::None => Err(Error::InvoiceNotFound),
        InvoiceAccess::Read => Err(Error::Forbidden),
        InvoiceAccess::Manage => Ok(row),
    }
}

/// Store new totals and the status that follows; a newly paid invoice records
/// and announces it.
async fn save(
    conn: &mut PgConnection,
    actor: &Actor,
    before: &InvoiceRow,
    totals: &Totals,
) -> Result<InvoiceRow, Error> {
    let status = settle(before.status, totals);
    let row = store::set_totals(&mut *conn, before.id, status, totals).await?;
    if status == InvoiceStatus::Paid && before.status != InvoiceStatus::Paid {
        store::record(
            &mut *conn,
            &audit(&row, "paid", actor, serde_json::json!({})),
        )
        .await?;
        outbox::enqueue(
            &mut *conn,
            &envelope::<InvoicePaid>(&row, Some(actor.user_id))?,
        )
        .await?;
    }
    Ok(row)
}

/// After a committed change: publish now, forget the patient's cached balance.
async fn committed(state: &AppState, row: &InvoiceRow) {
    state.relay.wake();
    state.balances.invalidate(row.patient_id).await;
}

/// The invoice as `actor` may see it.
async fn detail(pool: &PgPool, actor: &Actor, row: &InvoiceRow) -> Result<InvoiceDetail, Error> {
    let mut conn = pool.acquire().await?;
    let b = books(&mut conn, row.id).await?;
    let insurance = if can_access_account(actor, row.patient_id).allowed() {
        match &row.insurance {
            Some(snapshot) => Some(snapshot.0.clone()),
            None => insurance_store::current(&mut *conn, row.patient_id)
                .await?
                .map(|r| r.insurance()),
        }
    } else {
        None
    };
    let appointment = appointments::get(&mut *conn, row.appointment_id)
        .await?
        .map(|a| AppointmentInfo {
            appointment_type_name: a.appointment_type_name,
            start: a.start_at,
            end: a.end_at,
            time_zone: a.time_zone,
        });
    let mut summary = InvoiceSummary::from(row);
    // The books are the truth; the row's totals are their copy.
    summary.totals = events::totals(&b.totals, row.currency);
    Ok(InvoiceDetail {
        summary,
        lines: b
            .lines
            .iter()
            .map(|l| LineView::new(l, row.currency))
            .collect(),
        payments: b.payments.iter().map(PaymentView::from).collect(),
        insurance,
        void_reason: row.void_reason.clone(),
        appointment,
    })
}
