//! A patient's account in billing: insurance details and the open balance.
//! Both are for the patient themself and staff; everyone else is refused
//! before any lookup.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    cache::Lookup,
    domain::{
        access::{can_access_account, Actor},
        insurance::Insurance,
        money::Money,
    },
    error::Error,
    store::{insurance as store, invoices},
    AppState,
};

/// The insurance details on file.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InsuranceView {
    pub patient_id: Uuid,
    #[serde(flatten)]
    pub insurance: Insurance,
    /// Increases with every change; earlier versions are kept.
    pub version: i32,
    pub recorded_at: DateTime<Utc>,
}

impl From<store::InsuranceRow> for InsuranceView {
    fn from(r: store::InsuranceRow) -> Self {
        Self {
            patient_id: r.patient_id,
            insurance: r.insurance(),
            version: r.version,
            recorded_at: r.recorded_at,
        }
    }
}

pub(crate) fn allow(actor: &Actor, patient_id: Uuid) -> Result<(), Error> {
    if can_access_account(actor, patient_id).allowed() {
        Ok(())
    } else {
        Err(Error::Forbidden)
    }
}

pub async fn get_insurance(
    state: &AppState,
    actor: Actor,
    patient_id: Uuid,
) -> Result<InsuranceView, Error> {
    allow(&actor, patient_id)?;
    store::current(&state.db, patient_id)
        .await?
        .map(InsuranceView::from)
        .ok_or(Error::InsuranceNotFound)
}

/// Record new insurance details (a new version; the old ones stay).
pub async fn put_insurance(
    state: &AppState,
    actor: Actor,
    patient_id: Uuid,
    insurance: Insurance,
) -> Result<InsuranceView, Error> {
    allow(&actor, patient_id)?;
    let row = store::record(&state.db, patient_id, &insurance, actor.user_id).await?;
    tracing::info!(patient_id = %patient_id, version = row.version, "insurance details recorded");
    Ok(row.into())
}

/// What a patient owes (positive) or is owed (negative), per currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Balance {
    pub patient_id: Uuid,
    /// One entry per currency with anything open; empty when all is settled.
    pub balances: Vec<Money>,
    /// Issued invoices not yet paid.
    pub open_invoices: i64,
}

/// The patient's open balance: from Redis when cached, else from the database
/// (and then cached, unless the patient's invoices changed meanwhile).
pub async fn balance(state: &AppState, actor: Actor, patient_id: Uuid) -> Result<Balance, Error> {
    allow(&actor, patient_id)?;
    let generation = match state.balances.get::<Balance>(patient_id).await {
        Lookup::Hit(b) => return Ok(b),
        Lookup::Miss(generation) => generation,
    };
    let rows = invoices::balance(&state.db, patient_id).await?;
    let b = Balance {
        patient_id,
        balances: rows
            .iter()
            .filter(|r| r.due_minor != 0)
            .map(|r| Money::new(r.due_minor, r.currency))
            .collect(),
        open_invoices: rows.iter().map(|r| r.open_invoices).sum(),
    };
    if let Some(generation) = generation {
        state.balances.fill(patient_id, &generation, &b).await;
    }
    Ok(b)
}
