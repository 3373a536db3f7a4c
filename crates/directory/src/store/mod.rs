//! The directory's SQL, one module per table group: provider profiles, patient
//! profiles, care visits; the keyset-paged search both profile lists
//! share is here.

mod care;
mod patients;
mod providers;

pub use care::{apply_appointment, care_visits, care_visits_of};
pub use patients::{
    explain_patient_search, insert_patient, patient, search_patients, seed_patient,
    set_preferred_provider, update_patient, PatientRow, PatientWriteError,
};
pub use providers::{
    explain_search, insert_provider, provider, search_providers, seed_provider, update_provider,
    ProviderRow,
};

use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::domain::Cursor;

/// The lines of an `EXPLAIN` query, joined.
async fn explain(pool: &PgPool, mut qb: QueryBuilder<'_, Postgres>) -> Result<String, sqlx::Error> {
    let lines: Vec<String> = qb.build_query_scalar().fetch_all(pool).await?;
    Ok(lines.join("\n"))
}

/// Every pattern must match `text` (an indexed expression), case-insensitively.
fn push_patterns<'a>(qb: &mut QueryBuilder<'a, Postgres>, text: &str, patterns: &'a [String]) {
    for pattern in patterns {
        qb.push(format!(" AND {text} LIKE lower("))
            .push_bind(pattern)
            .push(")");
    }
}

/// The page in `(name, id)` order after `after`, plus one row more when a next
/// page exists.
fn push_page<'a>(qb: &mut QueryBuilder<'a, Postgres>, after: Option<&'a Cursor>, limit: u32) {
    if let Some(after) = after {
        qb.push(" AND (name, id) > (")
            .push_bind(&after.name)
            .push(", ")
            .push_bind(after.id)
            .push(")");
    }
    qb.push(" ORDER BY name, id LIMIT ")
        .push_bind(i64::from(limit) + 1);
}
