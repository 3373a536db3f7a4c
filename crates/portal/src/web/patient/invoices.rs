//! My invoices: the list, and one invoice's lines, payments and what is due.

use axum::response::Response;
use platform::auth::Role;
use serde::Serialize;
use uuid::Uuid;

use super::{zone_of, Directory};
use crate::{
    api::{
        models::{InvoiceDetail, InvoiceSummary, Page},
        ApiRequest,
    },
    domain::{money, time},
    web::{CallError, Ctx, PageError, Path},
};

#[derive(Serialize)]
pub(crate) struct InvoiceRow {
    id: Uuid,
    number: i64,
    provider: String,
    reason: &'static str,
    status: String,
    status_label: &'static str,
    total: String,
    due: String,
    issued: String,
}

pub(crate) fn reason_label(reason: &str) -> &'static str {
    match reason {
        "completed" => "Visit",
        "late_cancellation" => "Late cancellation fee",
        "no_show" => "Missed appointment fee",
        _ => "Charge",
    }
}

pub(crate) fn status_label(status: &str) -> &'static str {
    match status {
        "draft" => "Draft",
        "issued" => "Due",
        "paid" => "Paid",
        "void" => "Void",
        _ => "Unknown",
    }
}

pub(crate) async fn row(
    ctx: &mut Ctx,
    dir: &mut Directory,
    i: &InvoiceSummary,
) -> Result<InvoiceRow, CallError> {
    let provider = dir.provider(ctx, i.provider_id).await?;
    let zone = provider.as_ref().map(zone_of).unwrap_or(chrono_tz::Tz::UTC);
    Ok(InvoiceRow {
        id: i.id,
        number: i.number,
        provider: provider
            .map(|p| p.name)
            .unwrap_or_else(|| "Unknown provider".to_owned()),
        reason: reason_label(&i.reason),
        status: i.status.clone(),
        status_label: status_label(&i.status),
        total: money::format(&i.totals.gross),
        due: money::format(&i.totals.due),
        issued: time::date(i.issued_at.unwrap_or(i.created_at), zone),
    })
}

pub async fn list(mut ctx: Ctx) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    let page: Page<InvoiceSummary> = ctx
        .call(ApiRequest::get("/api/v1/invoices").query("limit", 100))
        .await?;
    let mut dir = Directory::default();
    let mut invoices = Vec::new();
    for i in &page.items {
        invoices.push(row(&mut ctx, &mut dir, i).await?);
    }
    Ok(ctx.render("patient/invoices.html", crate::page! { invoices }))
}

#[derive(Serialize)]
struct LineRow {
    description: String,
    credit: bool,
    amount: String,
    tax_rate: String,
    tax: String,
    gross: String,
}

#[derive(Serialize)]
struct PaymentRow {
    refund: bool,
    amount: String,
    method: String,
    reference: Option<String>,
    at: String,
}

/// One invoice as its page shows it (patients' and staff's alike).
#[derive(Serialize)]
pub(crate) struct InvoiceView {
    invoice: InvoiceRow,
    lines: Vec<LineRow>,
    payments: Vec<PaymentRow>,
    net: String,
    tax: String,
    gross: String,
    paid: String,
    due: String,
    owed: bool,
    void_reason: Option<String>,
    visit: Option<String>,
}

pub(crate) async fn invoice_view(
    ctx: &mut Ctx,
    invoice: &InvoiceDetail,
) -> Result<InvoiceView, CallError> {
    let mut dir = Directory::default();
    let summary = row(ctx, &mut dir, &invoice.summary).await?;
    let zone = invoice
        .appointment
        .as_ref()
        .and_then(|a| time::parse_zone(&a.time_zone))
        .unwrap_or(chrono_tz::Tz::UTC);
    let lines: Vec<LineRow> = invoice
        .lines
        .iter()
        .map(|l| LineRow {
            description: l.description.clone(),
            credit: l.kind == "credit",
            amount: money::format(&l.amount),
            tax_rate: format!("{}.{:02} %", l.tax_rate_bp / 100, l.tax_rate_bp % 100),
            tax: money::format(&l.tax),
            gross: money::format(&l.gross),
        })
        .collect();
    let payments: Vec<PaymentRow> = invoice
        .payments
        .iter()
        .map(|p| PaymentRow {
            refund: p.kind == "refund",
            amount: money::format(&p.amount),
            method: p.method.replace('_', " "),
            reference: p.reference.clone(),
            at: time::date_time(p.recorded_at, zone),
        })
        .collect();
    let t = &invoice.summary.totals;
    Ok(InvoiceView {
        invoice: summary,
        lines,
        payments,
        net: money::format(&t.net),
        tax: money::format(&t.tax),
        gross: money::format(&t.gross),
        paid: money::format(&t.paid),
        due: money::format(&t.due),
        owed: t.due.amount_minor > 0,
        void_reason: invoice.void_reason.clone(),
        visit: invoice.appointment.as_ref().map(|a| {
            format!(
                "{}, {}",
                a.appointment_type_name,
                time::date_time(a.start, zone)
            )
        }),
    })
}

pub async fn show(mut ctx: Ctx, Path(id): Path<Uuid>) -> Result<Response, PageError> {
    let invoice: InvoiceDetail = ctx.get(format!("/api/v1/invoices/{id}")).await?;
    let view = invoice_view(&mut ctx, &invoice).await?;
    Ok(ctx.render(
        "patient/invoice.html",
        minijinja::Value::from(minijinja::value::Serde(&view)),
    ))
}
