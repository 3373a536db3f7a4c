//! Invoices: issued from appointment events, read by those allowed, and changed
//! by staff — payments, credits, refunds, voids, billing to insurance. Every
//! change locks the invoice, checks the pure rules, appends (never edits)
//! lines/payments, recomputes the totals with the pure functions, records who
//! did what in the audit trail and enqueues its event — all in one transaction.
//! The patient's cached balance is deleted after commit.

use chrono::{DateTime, Utc};
use platform::{
    events::{outbox, Envelope, HandleError},
    idempotency::{self, IdempotencyKey},
};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    domain::{
        access::{can_access_account, invoice_access, list_scope, Actor, InvoiceAccess, ListScope},
        charges::Charge,
        cursor::Cursor,
        insurance::Insurance,
        invoice::{
            check_bill_to_insurance, check_credit, check_payment, check_refund, check_void, settle,
            Creditable, InvoiceReason, InvoiceStatus, Rejection,
        },
        money::{Currency, Money},
        totals::{self, line_tax, PaymentAmount, PaymentKind, Totals},
    },
    error::Error,
    events::{self, AppointmentEvent, InvoiceEvent, TotalsView},
    payment_provider::{PaymentMethod, Transfer},
    store::{
        appointments, insurance as insurance_store,
        invoices::{
            self as store, AuditEntry, InvoiceRow, LineRow, NewLine, NewPayment, PaymentRow,
        },
    },
    AppState,
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
    pub totals: TotalsView,
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
            totals: TotalsView::new(&r.totals(), r.currency),
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
    fn new(l: &LineRow, currency: Currency) -> Self {
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
        extra_payment: Option<PaymentAmount>,
    ) -> Result<Totals, Error> {
        let mut lines: Vec<_> = self.lines.iter().map(LineRow::amount).collect();
        if let Some((net_minor, tax_rate_bp)) = extra_line {
            lines.push(totals::LineAmount {
                net_minor,
                tax_rate_bp,
            });
        }
        let mut payments: Vec<_> = self.payments.iter().map(PaymentRow::amount).collect();
        payments.extend(extra_payment);
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
    b.totals = b.totals_with(None, None)?;
    Ok(b)
}

fn invoice_event(row: &InvoiceRow, changed_by: Option<Uuid>) -> InvoiceEvent {
    InvoiceEvent {
        invoice_id: row.id,
        invoice_number: row.number,
        appointment_id: row.appointment_id,
        patient_id: row.patient_id,
        provider_id: row.provider_id,
        reason: row.reason,
        status: row.status,
        totals: TotalsView::new(&row.totals(), row.currency),
        changed_by,
    }
}

fn envelope(kind: &str, row: &InvoiceRow, changed_by: Option<Uuid>) -> Result<Envelope, Error> {
    events::envelope(kind, &invoice_event(row, changed_by))
        .map_err(|e| Error::Internal(e.to_string()))
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

/// Issue the invoice `charge` calls for, unless one exists for this
/// (appointment, reason) already — then `None`, and nothing is written.
/// Runs in the consumer's transaction.
pub async fn issue_for_appointment(
    conn: &mut PgConnection,
    event_id: Uuid,
    e: &AppointmentEvent,
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
    let event = events::envelope(events::ISSUED, &invoice_event(&row, None))
        .map_err(|e| HandleError::Transient(e.to_string()))?;
    outbox::enqueue(&mut *conn, &event).await?;
    Ok(Some(row))
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
    summary.totals = TotalsView::new(&b.totals, row.currency);
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

/// One invoice, if `actor` may see it (otherwise it does not exist for them).
pub async fn get(state: &AppState, actor: Actor, id: Uuid) -> Result<InvoiceDetail, Error> {
    let row = store::get(&state.db, id)
        .await?
        .ok_or(Error::InvoiceNotFound)?;
    if invoice_access(&actor, row.patient_id, row.provider_id) == InvoiceAccess::None {
        return Err(Error::InvoiceNotFound);
    }
    detail(&state.db, &actor, &row).await
}

/// The audit trail of an invoice (staff and admins).
pub async fn history(state: &AppState, actor: Actor, id: Uuid) -> Result<Vec<HistoryEntry>, Error> {
    let row = store::get(&state.db, id)
        .await?
        .ok_or(Error::InvoiceNotFound)?;
    match invoice_access(&actor, row.patient_id, row.provider_id) {
        InvoiceAccess::None => return Err(Error::InvoiceNotFound),
        InvoiceAccess::Read => return Err(Error::Forbidden),
        InvoiceAccess::Manage => {}
    }
    Ok(store::history(&state.db, id)
        .await?
        .into_iter()
        .map(|r| HistoryEntry {
            action: r.action,
            actor_id: r.actor_id,
            actor_role: r.actor_role,
            source_event_id: r.source_event_id,
            detail: r.detail,
            at: r.at,
        })
        .collect())
}

/// What a list asks for.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub status: Option<InvoiceStatus>,
    pub patient_id: Option<Uuid>,
    pub provider_id: Option<Uuid>,
    pub limit: i64,
    pub cursor: Option<Cursor>,
}

/// Invoices `actor` may see, newest first, one page.
pub async fn list(state: &AppState, actor: Actor, q: ListQuery) -> Result<InvoicePage, Error> {
    let empty = InvoicePage {
        items: Vec::new(),
        next_cursor: None,
    };
    let mut filter = store::ListFilter {
        patient_id: q.patient_id,
        provider_id: q.provider_id,
        status: q.status,
        before: q.cursor.map(|c| c.after),
        limit: q.limit + 1,
    };
    // Asking for someone else's invoices shows none (never one's own instead).
    match list_scope(&actor) {
        ListScope::All => {}
        ListScope::Nothing => return Ok(empty),
        ListScope::Patient(id) => {
            if q.patient_id.is_some_and(|p| p != id) {
                return Ok(empty);
            }
            filter.patient_id = Some(id);
        }
        ListScope::Provider(id) => {
            if q.provider_id.is_some_and(|p| p != id) {
                return Ok(empty);
            }
            filter.provider_id = Some(id);
        }
    }
    let rows = store::list(&state.db, &filter).await?;
    let mut items: Vec<InvoiceSummary> = rows.iter().map(InvoiceSummary::from).collect();
    let limit = usize::try_from(q.limit).unwrap_or(0);
    let next_cursor =
        platform::page::next_page(&mut items, limit, |i| Cursor { after: i.id }.encode());
    Ok(InvoicePage { items, next_cursor })
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
            &envelope(events::PAID, &row, Some(actor.user_id))?,
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
        &envelope(events::VOIDED, &voided, Some(actor.user_id))?,
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
