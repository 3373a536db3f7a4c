//! Billing's HTTP API (thin handlers: extract, call, map).

mod invoices;
mod patients;

use axum::{
    routing::{get, post},
    Router,
};
use platform::auth::AuthUser;
use utoipa::OpenApi;

use crate::{domain::access::Actor, AppState};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/invoices", get(invoices::list))
        .route("/api/v1/invoices/{id}", get(invoices::get))
        .route("/api/v1/invoices/{id}/history", get(invoices::history))
        .route("/api/v1/invoices/{id}/payments", post(invoices::pay))
        .route("/api/v1/invoices/{id}/refunds", post(invoices::refund))
        .route("/api/v1/invoices/{id}/credits", post(invoices::credit))
        .route("/api/v1/invoices/{id}/void", post(invoices::void))
        .route(
            "/api/v1/invoices/{id}/bill-to-insurance",
            post(invoices::bill_to_insurance),
        )
        .route(
            "/api/v1/patients/{id}/insurance",
            get(patients::get_insurance).put(patients::put_insurance),
        )
        .route("/api/v1/patients/{id}/balance", get(patients::balance))
        .with_state(state)
}

pub(crate) fn actor(user: &AuthUser) -> Actor {
    Actor::from(user.claims())
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Carebook billing", description = "Invoices from appointments, payments, credits and refunds, insurance details, patient balances."),
    paths(
        invoices::list, invoices::get, invoices::history, invoices::pay, invoices::refund,
        invoices::credit, invoices::void, invoices::bill_to_insurance,
        patients::get_insurance, patients::put_insurance, patients::balance,
    ),
    components(schemas(
        crate::invoices::InvoiceSummary,
        crate::invoices::InvoiceDetail,
        crate::invoices::InvoicePage,
        crate::invoices::LineView,
        crate::invoices::LineKind,
        crate::invoices::PaymentView,
        crate::invoices::AppointmentInfo,
        crate::invoices::HistoryEntry,
        contracts::billing::InvoiceTotals,
        crate::domain::money::Money,
        crate::domain::invoice::InvoiceStatus,
        crate::domain::invoice::InvoiceReason,
        crate::domain::totals::PaymentKind,
        crate::domain::insurance::Insurance,
        crate::payment_provider::PaymentMethod,
        crate::patients::InsuranceView,
        crate::patients::Balance,
        invoices::AmountBody, invoices::PaymentRequest, invoices::CreditBody, invoices::VoidRequest,
        patients::InsuranceRequest,
        platform::problem::ProblemBody,
    )),
    tags(
        (name = "invoices", description = "Invoices, payments, credits, refunds"),
        (name = "accounts", description = "Patients' insurance details and balances"),
    )
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_money_documents_the_provider_outage_and_what_the_key_promises() {
        let doc = ApiDoc::openapi();
        for path in [
            "/api/v1/invoices/{id}/payments",
            "/api/v1/invoices/{id}/refunds",
        ] {
            let op = doc.paths.paths[path].post.as_ref().unwrap();
            assert!(op.responses.responses.contains_key("503"), "{path}");
            let key = op
                .parameters
                .iter()
                .flatten()
                .find(|p| p.name == "Idempotency-Key")
                .unwrap();
            assert!(
                key.description.as_deref().unwrap().contains("at most once"),
                "{path}"
            );
        }
    }
}
