//! Invoices at the front desk: every invoice (filtered by status, newest
//! first, with the patient's name), one invoice's lines and payments, and
//! recording a payment (amount, method, reference). Billing refuses what
//! does not fit (more than is due, a void invoice) and the form says why.

use axum::{http::StatusCode, response::Response};
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    api::{
        models::{InvoiceDetail, InvoiceSummary, Money, Page, Payment},
        ApiRequest,
    },
    domain::{
        feedback::{self, Feedback},
        money,
    },
    session::Flash,
    web::{
        patient::{
            invoices::{invoice_view, row, InvoiceRow},
            Directory,
        },
        see_other,
        visits::Patients,
        CallError, Ctx, Form, PageError, Path, Query,
    },
};

/// Billing's payment methods and how the form names them.
const METHODS: [(&str, &str); 5] = [
    ("card", "Card"),
    ("cash", "Cash"),
    ("bank_transfer", "Bank transfer"),
    ("insurance", "Insurance"),
    ("other", "Other"),
];

/// The list's status filter: billing's statuses, "issued" read as "due".
const STATUSES: [(&str, &str); 4] = [
    ("issued", "Due"),
    ("paid", "Paid"),
    ("void", "Void"),
    ("draft", "Draft"),
];

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct StaffRow {
    #[serde(flatten)]
    row: InvoiceRow,
    patient: String,
}

pub async fn list(mut ctx: Ctx, Query(q): Query<ListQuery>) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let status = STATUSES
        .iter()
        .find(|(s, _)| *s == q.status.trim())
        .map_or("", |(s, _)| *s);
    let page: Page<InvoiceSummary> = ctx
        .call(
            ApiRequest::get("/api/v1/invoices")
                .query("status", status)
                .query("limit", 50)
                .query("cursor", q.cursor.as_deref().unwrap_or_default()),
        )
        .await?;
    let mut dir = Directory::default();
    let mut patients = Patients::default();
    let mut invoices = Vec::new();
    for i in &page.items {
        invoices.push(StaffRow {
            row: row(&mut ctx, &mut dir, i).await?,
            patient: patients.name(&mut ctx, i.patient_id).await?,
        });
    }
    let more = page.next_cursor.map(|cursor| {
        let query = serde_urlencoded::to_string([("status", status), ("cursor", &cursor)])
            .unwrap_or_default();
        format!("/billing?{query}")
    });
    Ok(ctx.render(
        "staff/invoices.html",
        crate::page! { invoices, more, status, statuses => STATUSES },
    ))
}

/// The payment form as typed.
#[derive(Default, Deserialize)]
pub struct PaymentForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    reference: String,
}

async fn invoice_page(
    ctx: &mut Ctx,
    id: Uuid,
    typed: Option<PaymentForm>,
    feedback: Feedback,
    status: StatusCode,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let invoice: InvoiceDetail = ctx.get(format!("/api/v1/invoices/{id}")).await?;
    let view = invoice_view(ctx, &invoice).await?;
    let patient = Patients::default()
        .name(ctx, invoice.summary.patient_id)
        .await?;
    let due = &invoice.summary.totals.due;
    let payable = invoice.summary.status == "issued" && due.amount_minor > 0;
    let form = typed.unwrap_or_else(|| PaymentForm {
        amount: money::input_value(due),
        method: "card".to_owned(),
        reference: String::new(),
    });
    let page = minijinja::context! {
        patient,
        payable,
        currency => due.currency.clone(),
        amount => form.amount,
        method => form.method,
        reference => form.reference,
        methods => METHODS,
        feedback => minijinja::Value::from(minijinja::value::Serde(&feedback)),
        ..minijinja::Value::from(minijinja::value::Serde(&view))
    };
    Ok(ctx.render_with(status, "staff/invoice.html", page))
}

pub async fn show(mut ctx: Ctx, Path(id): Path<Uuid>) -> Result<Response, PageError> {
    invoice_page(&mut ctx, id, None, Feedback::default(), StatusCode::OK).await
}

/// The amount typed, in the invoice's currency, or the field's message.
fn amount(form: &PaymentForm, currency: &str) -> Result<Money, Feedback> {
    money::parse_amount(&form.amount, currency)
        .map(|amount_minor| Money {
            amount_minor,
            currency: currency.to_owned(),
        })
        .ok_or_else(|| {
            Feedback::message("Please correct the highlighted fields.").field(
                "amount",
                format!("Enter an amount in {currency}, like 45.00."),
            )
        })
}

pub async fn pay(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<PaymentForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let invoice: InvoiceDetail = ctx.get(format!("/api/v1/invoices/{id}")).await?;
    let currency = invoice.summary.totals.due.currency.clone();
    let method = METHODS.iter().find(|(m, _)| *m == form.method.trim());
    let checked = match (amount(&form, &currency), method) {
        (Ok(amount), Some((method, _))) => Ok((amount, *method)),
        (Ok(_), None) => Err(Feedback::message("Please correct the highlighted fields.")
            .field("method", "Choose how it was paid.")),
        (Err(fb), None) => Err(fb.field("method", "Choose how it was paid.")),
        (Err(fb), Some(_)) => Err(fb),
    };
    let (amount, method) = match checked {
        Ok(checked) => checked,
        Err(fb) => {
            return invoice_page(
                &mut ctx,
                id,
                Some(form),
                fb,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };
    let reference = form.reference.trim();
    let req = ApiRequest::post(
        format!("/api/v1/invoices/{id}/payments"),
        &Payment {
            amount: amount.clone(),
            method,
            reference: (!reference.is_empty()).then_some(reference),
        },
    );
    match ctx.call::<InvoiceDetail>(req).await {
        Ok(after) => {
            let due = &after.summary.totals.due;
            let text = if due.amount_minor > 0 {
                format!(
                    "Payment of {} recorded. {} is still due.",
                    money::format(&amount),
                    money::format(due)
                )
            } else {
                format!(
                    "Payment of {} recorded. The invoice is paid in full.",
                    money::format(&amount)
                )
            };
            ctx.flash(Flash::success(text)).await?;
            Ok(see_other(&format!("/billing/{id}")))
        }
        Err(CallError::Api(e))
            if e.status()
                .is_some_and(|s| s.is_client_error() && !matches!(s.as_u16(), 401 | 404)) =>
        {
            let status = e.status().unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let mut fb = feedback::from_api(&e).for_form(&["amount", "method", "reference"]);
            if e.problem().map(|p| p.code()) == Some("payment-exceeds-balance") {
                let due = money::format(&invoice.summary.totals.due);
                fb = fb.field("amount", format!("At most {due}."));
            }
            invoice_page(&mut ctx, id, Some(form), fb, status).await
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_amount_is_read_in_the_invoices_currency() {
        let form = |amount: &str| PaymentForm {
            amount: amount.into(),
            ..Default::default()
        };
        assert_eq!(
            amount(&form("45.50"), "EUR").unwrap(),
            Money {
                amount_minor: 4550,
                currency: "EUR".into()
            }
        );
        let fb = amount(&form("45.50"), "JPY").unwrap_err();
        assert_eq!(fb.fields["amount"], "Enter an amount in JPY, like 45.00.");
        assert!(amount(&form("-3"), "EUR").is_err());
    }
}
