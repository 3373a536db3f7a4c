//! Payments and refunds (staff). The payment provider is never asked inside a
//! database transaction — a slow provider would hold the invoice's lock and a
//! pooled connection, and a commit failing after the provider moved the money
//! would lose track of it. Instead, three steps:
//!
//! 1. [`begin`]: in a short transaction, lock the invoice, check the rules
//!    (money already in flight held back) and record a pending attempt whose id
//!    is the transfer's idempotency key; commit.
//! 2. Ask the provider with that key, holding no lock and no connection (in a
//!    task of its own, so a client that goes away does not abandon it).
//! 3. [`finish`]: in a second short transaction, lock the invoice and record the
//!    payment or refund under the attempt's id, with totals, audit entry and
//!    event, and mark the attempt completed; commit. If the provider declined
//!    or could not be reached, the attempt is marked failed instead.
//!
//! With an `Idempotency-Key`, the key is derived from the request, so a retry
//! (or a concurrent copy) finds the attempt: a completed one answers with the
//! invoice, a pending one is resumed and a failed one retried — both asking the
//! provider for the same transfer again, which the provider contract makes one
//! movement of money.

use platform::idempotency::IdempotencyKey;
use uuid::Uuid;

use crate::{
    domain::{
        access::Actor,
        attempt::{self, held_back, transfer_key, AttemptStatus, Existing, Failure, Next},
        invoice::{check_payment, check_refund},
        money::Money,
        totals::{PaymentAmount, PaymentKind},
    },
    error::Error,
    payment_provider::{PaymentError, PaymentMethod, Receipt, Transfer},
    store::{
        attempts::{self, NewAttempt},
        invoices::{self as store, InvoiceRow, NewPayment},
    },
    AppState,
};

use super::{audit, books, committed, detail, lock_managed, save, Books, InvoiceDetail};

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
    move_money(state, &actor, id, PaymentKind::Payment, &m, key).await
}

/// Return money the patient paid beyond what the invoice asks for (staff).
pub async fn refund(
    state: &AppState,
    actor: Actor,
    id: Uuid,
    m: MoneyMovement,
    key: Option<&IdempotencyKey>,
) -> Result<InvoiceDetail, Error> {
    move_money(state, &actor, id, PaymentKind::Refund, &m, key).await
}

async fn move_money(
    state: &AppState,
    actor: &Actor,
    invoice: Uuid,
    kind: PaymentKind,
    m: &MoneyMovement,
    key: Option<&IdempotencyKey>,
) -> Result<InvoiceDetail, Error> {
    let transfer = match begin(state, actor, invoice, kind, m, key).await? {
        Begun::Recorded(row) => return detail(&state.db, actor, &row).await,
        Begun::Ask(transfer) => transfer,
    };
    // Once the attempt is committed, asking and recording run to the end even
    // if the client goes away or the request times out: an abandoned attempt
    // would stay pending, holding its amount back, until retried.
    let (task_state, task_actor) = (state.clone(), *actor);
    let row =
        tokio::spawn(
            async move { ask_and_record(&task_state, &task_actor, kind, &transfer).await },
        )
        .await
        .map_err(|e| Error::Internal(format!("the payment task ended early: {e}")))??;
    detail(&state.db, actor, &row).await
}

/// Steps 2 and 3: ask the provider, record what it says.
async fn ask_and_record(
    state: &AppState,
    actor: &Actor,
    kind: PaymentKind,
    transfer: &Transfer,
) -> Result<InvoiceRow, Error> {
    let answer = match kind {
        PaymentKind::Payment => state.payments.collect(transfer).await,
        PaymentKind::Refund => state.payments.refund(transfer).await,
    };
    match answer {
        Ok(receipt) => finish(state, actor, kind, transfer, &receipt).await,
        Err(e) => {
            failed(state, kind, transfer, &e).await;
            Err(e.into())
        }
    }
}

/// How step 1 ended.
enum Begun {
    /// The request was carried out before: the invoice as it is.
    Recorded(InvoiceRow),
    /// Ask the provider for this transfer (its attempt is committed).
    Ask(Transfer),
}

/// Step 1: check and record the attempt, or find the one this request made.
async fn begin(
    state: &AppState,
    actor: &Actor,
    invoice: Uuid,
    kind: PaymentKind,
    m: &MoneyMovement,
    key: Option<&IdempotencyKey>,
) -> Result<Begun, Error> {
    let mut tx = state.db.begin().await?;
    let row = lock_managed(&mut tx, actor, invoice).await?;
    let (id, existing) = match key {
        Some(k) => (
            transfer_key(kind, invoice, actor.user_id, &k.key),
            recorded_under(&mut tx, actor, k).await?,
        ),
        // No way to retry, but the attempt is stored before the provider is
        // asked all the same: money in flight is held back and on record.
        None => (Uuid::now_v7(), None),
    };
    let transfer = Transfer {
        payment_id: id,
        invoice_id: invoice,
        amount: m.amount,
        method: m.method,
        reference: m.reference.clone(),
    };
    let next = attempt::next(existing).map_err(|_| Error::IdempotencyKeyReused)?;
    match next {
        // Nothing to write: the transaction ends with the lock.
        Next::Done => return Ok(Begun::Recorded(row)),
        Next::Resume => return Ok(Begun::Ask(transfer)),
        Next::Start | Next::Retry => {}
    }
    let b = books(&mut tx, invoice).await?;
    let in_flight = attempts::in_flight(&mut tx, invoice).await?;
    check(&row, &b, kind, &in_flight, &m.amount)?;
    if next == Next::Retry {
        attempts::retry(&mut tx, id).await?;
    } else {
        let inserted = attempts::insert(
            &mut tx,
            &NewAttempt {
                id,
                invoice_id: invoice,
                kind,
                amount: m.amount,
                method: m.method,
                reference: m.reference.as_deref(),
                processor: state.payments.name(),
                requested_by: actor.user_id,
                key: key.map(|k| (k.key.as_str(), k.request_hash.as_slice())),
            },
        )
        .await?;
        if !inserted {
            return Err(Error::IdempotencyKeyReused);
        }
    }
    tx.commit().await?;
    Ok(Begun::Ask(transfer))
}

/// What `actor` already did under the request's key: the attempt recorded
/// with it, or an answer stored before payments recorded attempts.
async fn recorded_under(
    conn: &mut sqlx::PgConnection,
    actor: &Actor,
    k: &IdempotencyKey,
) -> Result<Option<Existing>, Error> {
    if let Some(a) = attempts::by_key(conn, actor.user_id, &k.key).await? {
        return Ok(Some(Existing {
            status: a.status,
            same_request: a.request_hash.as_deref() == Some(k.request_hash.as_slice()),
        }));
    }
    Ok(attempts::answered_before(conn, actor.user_id, &k.key)
        .await?
        .map(|hash| Existing {
            status: AttemptStatus::Completed,
            same_request: hash == k.request_hash,
        }))
}

/// The rules for a new movement of `kind`, with the money in flight the same
/// way held back; and the totals after it must be computable.
fn check(
    row: &InvoiceRow,
    b: &Books,
    kind: PaymentKind,
    in_flight: &[PaymentAmount],
    amount: &Money,
) -> Result<(), Error> {
    let totals = b.totals_with(None, &held_back(kind, in_flight))?;
    match kind {
        PaymentKind::Payment => check_payment(row.status, row.currency, &totals, amount)?,
        PaymentKind::Refund => check_refund(row.status, row.currency, &totals, amount)?,
    }
    b.totals_with(None, &[movement(kind, amount)])?;
    Ok(())
}

fn movement(kind: PaymentKind, amount: &Money) -> PaymentAmount {
    PaymentAmount {
        kind,
        amount_minor: amount.amount_minor,
    }
}

/// Step 3: the provider moved the money; record it, once.
///
/// What is re-checked under the lock is whether this attempt is recorded
/// already (a concurrent try of the same request may have got there first).
/// The invoice rules were checked in step 1 with the amount held back from
/// every later payment, refund and void, so money the provider confirms is
/// always recorded: the books never leave out money that moved. (A credit in
/// between may leave the invoice overpaid; that shows as a credit due back.)
async fn finish(
    state: &AppState,
    actor: &Actor,
    kind: PaymentKind,
    t: &Transfer,
    receipt: &Receipt,
) -> Result<InvoiceRow, Error> {
    let recorded = record(state, actor, kind, t, receipt).await;
    if recorded.is_err() {
        // Not an error a client caused; the answer is the database's. Money
        // moved, so say where to look (ids only).
        tracing::warn!(invoice_id = %t.invoice_id, payment_id = %t.payment_id, kind = kind.as_str(),
            "the provider moved the money but recording it failed; the attempt stays pending until a retry with the same Idempotency-Key records it");
    }
    recorded
}

async fn record(
    state: &AppState,
    actor: &Actor,
    kind: PaymentKind,
    t: &Transfer,
    receipt: &Receipt,
) -> Result<InvoiceRow, Error> {
    let mut tx = state.db.begin().await?;
    let row = lock_managed(&mut tx, actor, t.invoice_id).await?;
    let attempt = attempts::get(&mut tx, t.payment_id)
        .await?
        .ok_or_else(|| Error::Internal(format!("payment attempt {} missing", t.payment_id)))?;
    if attempt.status == AttemptStatus::Completed {
        return Ok(row);
    }
    let b = books(&mut tx, t.invoice_id).await?;
    let after = b.totals_with(None, &[movement(kind, &t.amount)])?;
    store::insert_payment(
        &mut tx,
        &NewPayment {
            id: t.payment_id,
            invoice_id: t.invoice_id,
            kind,
            amount: t.amount,
            method: t.method.as_str(),
            reference: t.reference.as_deref(),
            processor: state.payments.name(),
            processor_reference: receipt.provider_reference.as_deref(),
            recorded_by: actor.user_id,
        },
    )
    .await?;
    let action = match kind {
        PaymentKind::Payment => "payment_recorded",
        PaymentKind::Refund => "refunded",
    };
    store::record(
        &mut tx,
        &audit(
            &row,
            action,
            actor,
            serde_json::json!({"payment_id": t.payment_id, "amount": t.amount, "method": t.method}),
        ),
    )
    .await?;
    let row = save(&mut tx, actor, &row, &after).await?;
    attempts::complete(&mut tx, t.payment_id).await?;
    tx.commit().await?;
    committed(state, &row).await;
    metrics::counter!("payments_recorded_total", "kind" => kind.as_str()).increment(1);
    tracing::info!(invoice_id = %t.invoice_id, payment_id = %t.payment_id, kind = kind.as_str(),
        status = row.status.as_str(), "payment recorded");
    Ok(row)
}

/// The provider declined or could not be reached: nothing moved, so the
/// attempt no longer holds the amount back; a retry of the same request asks
/// again with the same key.
async fn failed(state: &AppState, kind: PaymentKind, t: &Transfer, e: &PaymentError) {
    let failure = match e {
        PaymentError::Declined(_) => Failure::Declined,
        PaymentError::Unavailable(_) => Failure::Unavailable,
    };
    metrics::counter!("payment_attempts_failed_total", "kind" => kind.as_str(), "failure" => failure.as_str())
        .increment(1);
    if let Err(db) = attempts::fail(&state.db, t.payment_id, failure).await {
        // It stays pending (holding the amount back) until a retry settles it.
        tracing::warn!(error = %db, payment_id = %t.payment_id, "could not mark the payment attempt failed");
    }
}
