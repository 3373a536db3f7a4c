//! Invoices issued from appointment outcomes, in the consumer's transaction.

use contracts::billing::InvoiceIssued;
use platform::events::{outbox, HandleError};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    domain::{
        charges::Charge,
        invoice::{settle, InvoiceStatus},
        totals::{self},
    },
    events,
    store::invoices::{self as store, AuditEntry, InvoiceRow, NewLine},
};

/// Issue the invoice `charge` calls for, unless one exists for this
/// (appointment, reason) already — then `None`, and nothing is written.
/// Runs in the consumer's transaction.
pub async fn issue_for_appointment(
    conn: &mut PgConnection,
    event_id: Uuid,
    e: &contracts::scheduling::Appointment,
    charge: &Charge,
    tax_rate_bp: u32,
) -> Result<Option<InvoiceRow>, HandleError> {
    let new = store::NewInvoice {
        id: Uuid::now_v7(),
        patient_id: e.patient_id,
        provider_id: e.provider_id,
        appointment_id: e.appointment_id,
        reason: charge.reason,
        currency: charge.amount.currency,
        source_event_id: event_id,
    };
    let Some(inserted) = store::insert_issued(&mut *conn, &new).await? else {
        return Ok(None);
    };
    store::append_line(
        &mut *conn,
        &NewLine {
            id: Uuid::now_v7(),
            invoice_id: inserted.id,
            charge: true,
            description: &charge.description,
            amount_minor: charge.amount.amount_minor,
            tax_rate_bp,
            credits_line_id: None,
            created_by: None,
        },
    )
    .await?;
    let t = totals::totals(
        &[totals::LineAmount {
            net_minor: charge.amount.amount_minor,
            tax_rate_bp,
        }],
        &[],
    )
    .map_err(|_| HandleError::Malformed("amount out of range".to_owned()))?;
    let status = settle(InvoiceStatus::Issued, &t);
    let row = store::set_totals(&mut *conn, inserted.id, status, &t).await?;
    store::record(
        &mut *conn,
        &AuditEntry {
            invoice_id: row.id,
            action: "issued",
            actor_id: None,
            actor_role: None,
            source_event_id: Some(event_id),
            detail: serde_json::json!({
                "reason": charge.reason,
                "amount": charge.amount,
                "tax_rate_bp": tax_rate_bp,
                "appointment_changed_by": e.changed_by,
            }),
        },
    )
    .await?;
    let event = events::envelope::<InvoiceIssued>(&row, None)
        .map_err(|e| HandleError::Transient(e.to_string()))?;
    outbox::enqueue(&mut *conn, &event).await?;
    Ok(Some(row))
}
