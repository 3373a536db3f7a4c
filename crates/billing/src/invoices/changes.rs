//! Staff's changes to an invoice: payments, refunds, credits, voids, billing
//! to insurance. Each locks the invoice and commits with its audit entry and event.

use contracts::billing::InvoiceVoided;
use platform::{
    events::outbox,
    idempotency::{self, IdempotencyKey},
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    domain::{
        access::Actor,
        invoice::{
            check_bill_to_insurance, check_credit, check_payment, check_refund, check_void,
            Creditable, Rejection,
        },
        money::Money,
        totals::{PaymentAmount, PaymentKind},
    },
    error::Error,
    payment_provider::{PaymentMethod, Transfer},
    store::{
        insurance as insurance_store,
        invoices::{self as store, NewLine, NewPayment},
    },
    AppState,
};

use super::{audit, books, committed, detail, envelope, lock_managed, save, InvoiceDetail};

/// A payment or refund as asked for.
#[derive(Debug, Clone)]
pub struct MoneyMovement {
    pub amount: Money,
    pub method: PaymentMethod,
    pub reference: Option<String>,
}

/// Record a payment (staff): partial payments are fine, more than is due is not.
pub async fn pay(
    state: &AppState,
    actor: Actor,
    id: Uuid,
    m: MoneyMovement,
    key: Option<&IdempotencyKey>,
) -> Result<InvoiceDetail, Error> {
    let mut tx = state.db.begin().await?;
    let row = lock_managed(&mut tx, &actor, id).await?;
    if already_done(&mut tx, &actor, key).await? {
        drop(tx);
        return detail(&state.db, &actor, &row).await;
    }
    let b = books(&mut tx, id).await?;
    check_payment(row.status, row.currency, &b.totals, &m.amount)?;
    let after = b.totals_with(
        None,
        Some(PaymentAmount {
            kind: PaymentKind::Payment,
            amount_minor: m.amount.amount_minor,
        }),
    )?;
    let transfer = Transfer {
        payment_id: Uuid::now_v7(),
        invoice_id: id,
        amount: m.amount,
        method: m.method,
        reference: m.reference.clone(),
    };
    // A refusal or outage drops the transaction: nothing is recorded.
    let receipt = state.payments.collect(&transfer).await?;
    store::insert_payment(
        &mut tx,
        &NewPayment {
            id: transfer.payment_id,
            invoice_id: id,
            kind: PaymentKind::Payment,
            amount: m.amount,
            method: m.method.as_str(),
            reference: m.reference.as_deref(),
            processor: state.payments.name(),
            processor_reference: receipt.provider_reference.as_deref(),
            recorded_by: actor.user_id,
        },
    )
    .await?;
    store::record(
        &mut tx,
        &audit(
            &row,
            "payment_recorded",
            &actor,
            serde_json::json!({"payment_id": transfer.payment_id, "amount": m.amount, "method": m.method}),
        ),
    )
    .await?;
    let row = save(&mut tx, &actor, &row, &after).await?;
    remember(&mut tx, &actor, key, id).await?;
    tx.commit().await?;
    committed(state, &row).await;
    metrics::counter!("payments_recorded_total", "kind" => "payment").increment(1);
    tracing::info!(invoice_id = %id, payment_id = %transfer.payment_id, status = row.status.as_str(), "payment recorded");
    detail(&state.db, &actor, &row).await
}

/// Whether a request with this `Idempotency-Key` was already carried out (a
/// retry records nothing and answers with the invoice as it is now). Runs under
/// the invoice's lock, so a concurrent retry waits for the first to commit.
async fn already_done(
    tx: &mut PgConnection,
    actor: &Actor,
    key: Option<&IdempotencyKey>,
) -> Result<bool, Error> {
    let Some(k) = key else {
        return Ok(false);
    };
    match idempotency::claim(tx, actor.user_id, &k.key, &k.request_hash).await? {
        idempotency::Claim::Fresh => Ok(false),
        idempotency::Claim::Replay { .. } => Ok(true),
        idempotency::Claim::Mismatch => Err(Error::IdempotencyKeyReused),
    }
}

/// Mark the key's request done, in the transaction of its effect.
async fn remember(
    tx: &mut PgConnection,
    actor: &Actor,
    key: Option<&IdempotencyKey>,
    invoice: Uuid,
) -> Result<(), Error> {
    if let Some(k) = key {
        let body = serde_json::json!({ "invoice_id": invoice });
        idempotency::save(tx, actor.user_id, &k.key, 201, &body).await?;
    }
    Ok(())
}

/// Return money the patient paid beyond what the invoice asks for (staff).
pub async fn refund(
    state: &AppState,
    actor: Actor,
    id: Uuid,
    m: MoneyMovement,
    key: Option<&IdempotencyKey>,
) -> Result<InvoiceDetail, Error> {
    let mut tx = state.db.begin().await?;
    let row = lock_managed(&mut tx, &actor, id).await?;
    if already_done(&mut tx, &actor, key).await? {
        drop(tx);
        return detail(&state.db, &actor, &row).await;
    }
    let b = books(&mut tx, id).await?;
    check_refund(row.status, row.currency, &b.totals, &m.amount)?;
    let after = b.totals_with(
        None,
        Some(PaymentAmount {
            kind: PaymentKind::Refund,
            amount_minor: m.amount.amount_minor,
        }),
    )?;
    let transfer = Transfer {
        payment_id: Uuid::now_v7(),
        invoice_id: id,
        amount: m.amount,
        method: m.method,
        reference: m.reference.clone(),
    };
    let receipt = state.payments.refund(&transfer).await?;
    store::insert_payment(
        &mut tx,
        &NewPayment {
            id: transfer.payment_id,
            invoice_id: id,
            kind: PaymentKind::Refund,
            amount: m.amount,
            method: m.method.as_str(),
            reference: m.reference.as_deref(),
            processor: state.payments.name(),
            processor_reference: receipt.provider_reference.as_deref(),
            recorded_by: actor.user_id,
        },
    )
    .await?;
    store::record(
        &mut tx,
        &audit(
            &row,
            "refunded",
            &actor,
            serde_json::json!({"payment_id": transfer.payment_id, "amount": m.amount, "method": m.method}),
        ),
    )
    .await?;
    let row = save(&mut tx, &actor, &row, &after).await?;
    remember(&mut tx, &actor, key, id).await?;
    tx.commit().await?;
    committed(state, &row).await;
    metrics::counter!("payments_recorded_total", "kind" => "refund").increment(1);
    tracing::info!(invoice_id = %id, payment_id = %transfer.payment_id, "refund recorded");
    detail(&state.db, &actor, &row).await
}

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
    let after = b.totals_with(Some((-c.amount.amount_minor, rate)), None)?;
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
    check_void(row.status, &b.totals)?;
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
