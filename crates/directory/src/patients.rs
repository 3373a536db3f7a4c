//! Patient profiles: reading (cache-aside) and editing, by the patient or by
//! staff; summaries for the providers in whose care a patient is; the front
//! desk's search. Every change and its `patient.updated` event commit
//! together, and the cached copy is invalidated after the commit.

use chrono::{DateTime, NaiveDate, Utc};
use platform::{auth::Role, care, events::outbox};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::{
    cache::Entity,
    domain::{
        access::{
            can_access_patient, can_read_patient_summary, can_search_patients, own_patient_id,
            Actor, CareRelationship, Decision,
        },
        cursor::next_page,
        patient::{Address, Insurance, PatientDetails, PatientInput},
        search::{PatientSearch, RawPatientSearch},
        Cursor,
    },
    error::Error,
    events,
    store::{self, PatientRow, PatientWriteError},
    AppState,
};

/// A patient's profile, as shown to the patient and to staff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Patient {
    /// The patient's user id.
    pub id: Uuid,
    pub name: String,
    /// The account's email (changed through identity, not here).
    pub email: String,
    pub date_of_birth: Option<NaiveDate>,
    pub phone: Option<String>,
    pub address: Option<Address>,
    pub insurance: Option<Insurance>,
    pub preferred_provider_id: Option<Uuid>,
    /// The patient's IANA time zone (`America/New_York`); `null` while unknown.
    #[serde(default)]
    #[schema(example = "America/New_York")]
    pub time_zone: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl From<PatientRow> for Patient {
    fn from(r: PatientRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            email: r.email,
            date_of_birth: r.date_of_birth,
            phone: r.phone,
            address: r.address.map(|a| a.0),
            insurance: r.insurance.map(|i| i.0),
            preferred_provider_id: r.preferred_provider_id,
            time_zone: r.time_zone,
            updated_at: r.updated_at,
        }
    }
}

/// Who a patient is, as the clinicians in their care and the front desk need
/// it: enough to tell them apart and reach them, nothing of their address,
/// insurance or preferences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PatientSummary {
    /// The patient's user id.
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub date_of_birth: Option<NaiveDate>,
    pub phone: Option<String>,
}

impl From<Patient> for PatientSummary {
    fn from(p: Patient) -> Self {
        Self {
            id: p.id,
            name: p.name,
            email: p.email,
            date_of_birth: p.date_of_birth,
            phone: p.phone,
        }
    }
}

impl From<PatientRow> for PatientSummary {
    fn from(r: PatientRow) -> Self {
        Patient::from(r).into()
    }
}

/// One page of the patient search.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PatientPage {
    pub items: Vec<PatientSummary>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The patient behind `/patients/me`: patients only.
pub fn me(actor: &Actor) -> Result<Uuid, Error> {
    own_patient_id(actor).ok_or(Error::Forbidden)
}

fn authorize(actor: &Actor, id: Uuid) -> Result<(), Error> {
    match can_access_patient(actor, id) {
        Decision::Allow => Ok(()),
        Decision::Deny => Err(Error::Forbidden),
    }
}

/// The latest calendar date anywhere on Earth (UTC+14): a patient born "today"
/// in Kiribati is not refused for being born tomorrow in UTC.
fn latest_today() -> NaiveDate {
    (Utc::now() + chrono::Duration::hours(14)).date_naive()
}

pub async fn get(state: &AppState, actor: &Actor, id: Uuid) -> Result<Patient, Error> {
    authorize(actor, id)?;
    load(state, id).await
}

/// Patient `id`'s summary: for the patient, the front desk, and a provider
/// inside the care window of one of their appointments with the patient (any
/// other provider is refused whether or not the patient exists).
pub async fn summary(state: &AppState, actor: &Actor, id: Uuid) -> Result<PatientSummary, Error> {
    let care = match actor.provider_id {
        Some(provider_id) => {
            let visits = store::care_visits(&state.db, provider_id, id).await?;
            Some(CareRelationship {
                provider_id,
                patient_id: id,
                access: care::access(&visits, &state.care, Utc::now()),
            })
        }
        None => None,
    };
    if can_read_patient_summary(actor, id, care) == Decision::Deny {
        return Err(Error::Forbidden);
    }
    load(state, id).await.map(PatientSummary::from)
}

/// Patients whose name or email holds every word searched (front desk only;
/// anyone else is refused before the search is even read).
pub async fn search(
    state: &AppState,
    actor: &Actor,
    raw: &RawPatientSearch<'_>,
) -> Result<PatientPage, Error> {
    if can_search_patients(actor) == Decision::Deny {
        return Err(Error::Forbidden);
    }
    let search = PatientSearch::parse(raw)?;
    let in_care_of = actor.provider_id.filter(|_| actor.role == Role::Provider);
    let mut rows = store::search_patients(&state.db, &search, in_care_of).await?;
    // The page ends where the scan ended, so a provider's page may hold fewer
    // than `limit` (patients whose care window is closed are left out).
    let next_cursor = next_page(&mut rows, search.limit, |last| Cursor {
        name: last.name.clone(),
        id: last.id,
    });
    if let Some(provider_id) = in_care_of {
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let visits = store::care_visits_of(&state.db, provider_id, &ids).await?;
        let now = Utc::now();
        rows.retain(|r| {
            let care = CareRelationship {
                provider_id,
                patient_id: r.id,
                access: care::access(
                    visits.get(&r.id).map(Vec::as_slice).unwrap_or_default(),
                    &state.care,
                    now,
                ),
            };
            can_read_patient_summary(actor, r.id, Some(care)) == Decision::Allow
        });
    }
    Ok(PatientPage {
        items: rows.into_iter().map(PatientSummary::from).collect(),
        next_cursor,
    })
}

/// Patient `id`'s profile, from the cache when it holds it.
async fn load(state: &AppState, id: Uuid) -> Result<Patient, Error> {
    if let Some(cached) = state.cache.get(Entity::Patient, id).await {
        return Ok(cached);
    }
    let row = store::patient(&state.db, id)
        .await?
        .ok_or(Error::PatientNotFound)?;
    let version = row.version;
    let patient = Patient::from(row);
    state
        .cache
        .fill(Entity::Patient, id, version, &patient)
        .await;
    Ok(patient)
}

/// Replace patient `id`'s editable details.
pub async fn update(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    input: &PatientInput<'_>,
) -> Result<Patient, Error> {
    authorize(actor, id)?;
    let details = PatientDetails::parse(input, latest_today())?;
    let mut tx = state.db.begin().await?;
    let row = store::update_patient(&mut tx, id, &details)
        .await?
        .ok_or(Error::PatientNotFound)?;
    commit(state, tx, &row).await?;
    tracing::info!(patient_id = %id, actor_id = %actor.user_id, "patient profile updated");
    Ok(Patient::from(row))
}

/// Set (`Some`) or clear (`None`) patient `id`'s preferred provider.
pub async fn set_preferred_provider(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    provider_id: Option<Uuid>,
) -> Result<Patient, Error> {
    authorize(actor, id)?;
    let mut tx = state.db.begin().await?;
    let row = store::set_preferred_provider(&mut tx, id, provider_id)
        .await
        .map_err(|e| match e {
            PatientWriteError::UnknownProvider => Error::ProviderNotFound,
            PatientWriteError::Db(e) => e.into(),
        })?
        .ok_or(Error::PatientNotFound)?;
    commit(state, tx, &row).await?;
    tracing::info!(patient_id = %id, actor_id = %actor.user_id, "preferred provider changed");
    Ok(Patient::from(row))
}

/// Publish `patient.updated` with the change, commit, then drop the cached copy.
async fn commit(
    state: &AppState,
    mut tx: Transaction<'_, Postgres>,
    row: &PatientRow,
) -> Result<(), Error> {
    let event = events::patient_updated(row).map_err(|e| Error::Internal(e.to_string()))?;
    outbox::enqueue(&mut tx, &event).await?;
    tx.commit().await?;
    state.relay.wake();
    state
        .cache
        .invalidate(Entity::Patient, row.id, row.version)
        .await;
    Ok(())
}
