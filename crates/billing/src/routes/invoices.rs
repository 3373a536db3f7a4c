use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
};
use platform::{
    auth::AuthUser,
    extract::{Json, Path, Query},
    idempotency::IdempotencyKey,
    problem::ProblemBody,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::actor;
use crate::{
    domain::{
        cursor::Cursor,
        invoice::InvoiceStatus,
        money::{Currency, Money},
    },
    error::Error,
    invoices::{
        self as app, CreditRequest, HistoryEntry, InvoiceDetail, InvoicePage, ListQuery,
        MoneyMovement,
    },
    payment_provider::PaymentMethod,
    AppState,
};

/// Longest free text accepted (references, reasons), in characters.
const TEXT_MAX: usize = 500;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    pub status: Option<InvoiceStatus>,
    /// Staff: one patient's invoices.
    pub patient_id: Option<Uuid>,
    /// Staff: invoices of one provider's appointments.
    pub provider_id: Option<Uuid>,
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Invoices the caller may see, newest first: patients their own, providers
/// those of their appointments, staff all.
#[utoipa::path(get, path = "/api/v1/invoices", tag = "invoices", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = InvoicePage), (status = 400, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(p): Query<ListParams>,
) -> Result<Json<InvoicePage>, Error> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid("limit", "between 1 and 100"));
    }
    let cursor = p
        .cursor
        .as_deref()
        .map(Cursor::decode)
        .transpose()
        .map_err(|e| Error::invalid("cursor", e.to_string()))?;
    let q = ListQuery {
        status: p.status,
        patient_id: p.patient_id,
        provider_id: p.provider_id,
        limit,
        cursor,
    };
    app::list(&state, actor(&user), q).await.map(Json)
}

/// One invoice with its lines, payments, totals and insurance (404 when it is
/// not the caller's to see).
#[utoipa::path(get, path = "/api/v1/invoices/{id}", tag = "invoices", security(("bearer" = [])),
    responses((status = 200, body = InvoiceDetail), (status = 404, body = ProblemBody)))]
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<InvoiceDetail>, Error> {
    app::get(&state, actor(&user), id).await.map(Json)
}

/// Every change to the invoice: what, who and when (staff).
#[utoipa::path(get, path = "/api/v1/invoices/{id}/history", tag = "invoices", security(("bearer" = [])),
    responses((status = 200, body = [HistoryEntry]), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn history(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<HistoryEntry>>, Error> {
    app::history(&state, actor(&user), id).await.map(Json)
}

/// An amount as sent: the currency is checked by billing, so a malformed one
/// is a field error rather than an unreadable body.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmountBody {
    pub amount_minor: i64,
    pub currency: String,
}

impl AmountBody {
    fn parse(&self) -> Result<Money, Error> {
        let currency = Currency::parse(&self.currency)
            .map_err(|e| Error::invalid("amount.currency", e.to_string()))?;
        Ok(Money::new(self.amount_minor, currency))
    }
}

fn text(field: &'static str, raw: Option<&str>, required: bool) -> Result<Option<String>, Error> {
    let value = raw.map(str::trim).filter(|s| !s.is_empty());
    match value {
        None if required => Err(Error::invalid(field, "must not be empty")),
        None => Ok(None),
        Some(v) if v.chars().count() > TEXT_MAX => Err(Error::invalid(
            field,
            format!("at most {TEXT_MAX} characters"),
        )),
        Some(v) if v.chars().any(char::is_control) => {
            Err(Error::invalid(field, "must not contain control characters"))
        }
        Some(v) => Ok(Some(v.to_owned())),
    }
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    pub amount: AmountBody,
    pub method: PaymentMethod,
    /// Receipt number, terminal slip, transfer reference.
    #[serde(default)]
    pub reference: Option<String>,
}

impl PaymentRequest {
    fn parse(&self) -> Result<MoneyMovement, Error> {
        Ok(MoneyMovement {
            amount: self.amount.parse()?,
            method: self.method,
            reference: text("reference", self.reference.as_deref(), false)?,
        })
    }
}

/// What the `Idempotency-Key` of a payment or refund promises (OpenAPI).
const MONEY_KEY: &str =
    "A retry with the same key moves the money at most once: it answers with the invoice once \
    recorded, and otherwise asks the payment provider again for the same transfer";

/// The `Idempotency-Key` of a payment or refund: the same key for the same
/// invoice, amount, method and reference is one movement of money.
fn money_key(
    headers: &HeaderMap,
    kind: &str,
    invoice: Uuid,
    body: &PaymentRequest,
) -> Result<Option<IdempotencyKey>, Error> {
    let canonical = format!(
        "{kind}|{invoice}|{}|{}|{:?}|{}",
        body.amount.amount_minor,
        body.amount.currency,
        body.method,
        body.reference.as_deref().unwrap_or("")
    );
    IdempotencyKey::from_headers(headers, &canonical)
        .map_err(|e| Error::invalid("Idempotency-Key", e.to_string()))
}

/// Record a payment (staff). Partial payments are fine; each refusal has its
/// own problem type (`payment-exceeds-balance`, `currency-mismatch`,
/// `invalid-amount`, `invoice-void`, `invoice-paid`, `payment-declined`) and
/// changes nothing. A payment provider that cannot be reached is 503
/// `payment-provider-unavailable`: retry with the same `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/invoices/{id}/payments", tag = "invoices", request_body = PaymentRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = MONEY_KEY)),
    responses((status = 201, body = InvoiceDetail), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody),
        (status = 503, description = "The payment provider could not be reached (`payment-provider-unavailable`); nothing was recorded", body = ProblemBody)))]
pub async fn pay(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(body): Json<PaymentRequest>,
) -> Result<impl IntoResponse, Error> {
    let key = money_key(&headers, "pay", id, &body)?;
    let m = body.parse()?;
    let invoice = app::pay(&state, actor(&user), id, m, key.as_ref()).await?;
    Ok((StatusCode::CREATED, Json(invoice)))
}

/// Return money paid beyond what the invoice asks for after credits (staff).
/// Refusals and provider outages as for payments.
#[utoipa::path(post, path = "/api/v1/invoices/{id}/refunds", tag = "invoices", request_body = PaymentRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = MONEY_KEY)),
    responses((status = 201, body = InvoiceDetail), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody),
        (status = 503, description = "The payment provider could not be reached (`payment-provider-unavailable`); nothing was recorded", body = ProblemBody)))]
pub async fn refund(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(body): Json<PaymentRequest>,
) -> Result<impl IntoResponse, Error> {
    let key = money_key(&headers, "refund", id, &body)?;
    let m = body.parse()?;
    let invoice = app::refund(&state, actor(&user), id, m, key.as_ref()).await?;
    Ok((StatusCode::CREATED, Json(invoice)))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditBody {
    /// The charge line to credit.
    pub line_id: Uuid,
    /// Net amount to credit (positive); tax follows at the line's rate.
    pub amount: AmountBody,
    pub reason: String,
}

/// Credit part or all of a charge line (staff): a new negative line, the charge stays.
#[utoipa::path(post, path = "/api/v1/invoices/{id}/credits", tag = "invoices", request_body = CreditBody, security(("bearer" = [])),
    responses((status = 201, body = InvoiceDetail), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn credit(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<CreditBody>,
) -> Result<impl IntoResponse, Error> {
    let c = CreditRequest {
        line_id: body.line_id,
        amount: body.amount.parse()?,
        reason: text("reason", Some(&body.reason), true)?.unwrap_or_default(),
    };
    let invoice = app::credit(&state, actor(&user), id, c).await?;
    Ok((StatusCode::CREATED, Json(invoice)))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidRequest {
    pub reason: String,
}

/// Void an invoice nothing was paid on (staff), with a reason.
#[utoipa::path(post, path = "/api/v1/invoices/{id}/void", tag = "invoices", request_body = VoidRequest, security(("bearer" = [])),
    responses((status = 200, body = InvoiceDetail), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn void(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<VoidRequest>,
) -> Result<Json<InvoiceDetail>, Error> {
    let reason = text("reason", Some(&body.reason), true)?.unwrap_or_default();
    app::void(&state, actor(&user), id, &reason).await.map(Json)
}

/// Bill the invoice to the patient's insurer (staff); the insurance on file is
/// copied onto the invoice.
#[utoipa::path(post, path = "/api/v1/invoices/{id}/bill-to-insurance", tag = "invoices", security(("bearer" = [])),
    responses((status = 200, body = InvoiceDetail), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn bill_to_insurance(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<InvoiceDetail>, Error> {
    app::bill_to_insurance(&state, actor(&user), id)
        .await
        .map(Json)
}
