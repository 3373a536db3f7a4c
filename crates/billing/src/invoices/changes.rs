//! Staff's changes to an invoice besides moving money (`payments`): credits,
//! voids, billing to insurance. Each locks the invoice and commits with its
//! audit entry and event.

use contracts::billing::InvoiceVoided;
use platform::events::outbox;
use uuid::Uuid;

use crate::{
    domain::{
        access::Actor,
        attempt::held_back,
        invoice::{check_bill_to_insurance, check_credit, check_void, Creditable, Rejection},
        money::Money,
        totals::PaymentKind,
    },
    error::Error,
    store::{
        attempts, insurance as insurance_store,
        invoices::{self as store, NewLine},
    },
    AppState,
};

use super::{audit, books, committed, detail, envelope, lock_managed, save, InvoiceDetail};

/// A credit against one charge line.
#[derive(Debug, Clone)]
pub struct CreditRequest {
    pub line_id: Uuid,
    /// Net amount to credit (positive).
    pub amount: Money,
    pub reason: String,
}

/// Credit part or all of a charge line (staff): a new negative line at the
/// charge's tax rate, never an edit of the charge.
pub async fn credit(
    state: &AppState,
    actor: Actor,
    id: Uuid,
    c: CreditRequest,
) -> Result<InvoiceDetail, Error> {
    let mut tx = state.db.begin().await?;
    let row = lock_managed(&mut tx, &actor, id).await?;
    let b = books(&mut tx, id).await?;
    let line = b
        .lines
        .iter()
        .find(|l| l.id == c.line_id)
        .ok_or(Error::LineNotFound)?;
    let credited_minor: i64 = b
        .lines
        .iter()
        .filter(|l| l.credits_line_id == Some(line.id))
        .map(|l| l.amount_minor.saturating_neg())
        .fold(0i64, i64::saturating_add);
    let creditable = Creditable {
        net_minor: line.amount_minor,
        is_charge: line.is_charge(),
        credited_minor,
    };
    check_credit(row.status, row.currency, &creditable, &c.amount)?;
    let rate = line.amount().tax_rate_bp;
    let after = b.totals_with(Some((-c.amount.amount_minor, rate)), &[])?;
    let line_id = Uuid::now_v7();
    store::append_line(
        &mut tx,
        &NewLine {
            id: line_id,
            invoice_id: id,
            charge: false,
            description: &format!("Credit: {}", c.reason),
            amount_minor: -c.amount.amount_minor,
            tax_rate_bp: rate,
            credits_line_id: Some(line.id),
            created_by: Some(actor.user_id),
        },
    )
    .await?;
    store::record(
        &mut tx,
        &audit(
            &row,
            "credited",
            &actor,
            serde_json::json!({"line_id": line_id, "credits_line_id": line.id, "amount": c.amount, "reason": c.reason}),
        ),
    )
    .await?;
    let row = save(&mut tx, &actor, &row, &after).await?;
    tx.commit().await?;
    committed(state, &row).await;
    tracing::info!(invoice_id = %id, line_id = %line_id, "credit recorded");
    detail(&state.db, &actor, &row).await
}

/// Void an invoice nobody paid anything on (staff), with a reason.
pub async fn void(
    state: &AppState,
    actor: Actor,
    id: Uuid,
    reason: &str,
) -> Result<InvoiceDetail, Error> {
    let mut tx = state.db.begin().await?;
    let row = lock_managed(&mut tx, &actor, id).await?;
    let b = books(&mut tx, id).await?;
    // A payment the provider may be taking right now counts as paid: a void
    // must not slip in before it is recorded.
    let in_flight = attempts::in_flight(&mut tx, id).await?;
    let totals = b.totals_with(None, &held_back(PaymentKind::Payment, &in_flight))?;
    check_void(row.status, &totals)?;
    let voided = store::void(&mut tx, id, actor.user_id, reason).await?;
    store::record(
        &mut tx,
        &audit(
            &voided,
            "voided",
            &actor,
            serde_json::json!({"reason": reason}),
        ),
    )
    .await?;
    outbox::enqueue(
        &mut tx,
        &envelope::<InvoiceVoided>(&voided, Some(actor.user_id))?,
    )
    .await?;
    tx.commit().await?;
    committed(state, &voided).await;
    metrics::counter!("invoices_voided_total").increment(1);
    tracing::info!(invoice_id = %id, "invoice voided");
    detail(&state.db, &actor, &voided).await
}

/// Bill the invoice to the patient's insurer (staff): the insurance on file is
/// copied onto the invoice, so later changes to it do not rewrite what was billed.
pub async fn bill_to_insurance(
    state: &AppState,
    actor: Actor,
    id: Uuid,
) -> Result<InvoiceDetail, Error> {
    let mut tx = state.db.begin().await?;
    let row = lock_managed(&mut tx, &actor, id).await?;
    let on_file = insurance_store::current(&mut *tx, row.patient_id).await?;
    check_bill_to_insurance(
        row.status,
        row.billed_to_insurance_at.is_some(),
        on_file.is_some(),
    )?;
    let on_file = on_file.ok_or(Rejection::InsuranceMissing)?;
    let billed = store::bill_to_insurance(&mut tx, id, actor.user_id, &on_file.insurance()).await?;
    store::record(
        &mut tx,
        &audit(
            &billed,
            "billed_to_insurance",
            &actor,
            serde_json::json!({"insurance_version": on_file.version}),
        ),
    )
    .await?;
    tx.commit().await?;
    committed(state, &billed).await;
    tracing::info!(invoice_id = %id, "invoice billed to insurance");
    detail(&state.db, &actor, &billed).await
}
