//! Reading invoices: one, its audit trail, and pages of those an actor may see.

use uuid::Uuid;

use crate::{
    domain::{
        access::{invoice_access, list_scope, Actor, InvoiceAccess, ListScope},
        cursor::Cursor,
        invoice::InvoiceStatus,
    },
    error::Error,
    store::invoices::{self as store},
    AppState,
};

use super::{detail, HistoryEntry, InvoiceDetail, InvoicePage, InvoiceSummary};

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
