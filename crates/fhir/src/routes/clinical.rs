//! Clinical resources and the access log, from the records service: it
//! decrypts only for callers its access rules allow and audits every read.

use serde_json::Value;
use uuid::Uuid;

use super::searching::Search;
use crate::{
    api::Call,
    domain::{
        bundle::Page,
        clinical::{audit_event, Clinical},
        ids::referenced,
        models::{AccessLogEntry, RecordEntry},
        outcome::Outcome,
    },
};

/// The patient a clinical search is about: `patient`, or the caller when a
/// patient asks without one.
fn patient(ctx: &Search<'_>) -> Result<Uuid, Outcome> {
    match (ctx.one("patient")?, ctx.caller.patient_id()) {
        (Some(v), _) => referenced(v, "Patient")
            .ok_or_else(|| Outcome::invalid("`patient` must reference a Patient")),
        (None, Some(me)) => Ok(me),
        (None, None) => Err(Outcome::invalid("search by `patient` (`Patient/{id}`)")),
    }
}

pub async fn search(ctx: Search<'_>) -> Result<Value, Outcome> {
    let kind = Clinical::parse(ctx.resource).ok_or_else(|| Outcome::not_found(ctx.resource))?;
    let patient = patient(&ctx)?;
    let category_ok = ctx
        .params
        .all("category")
        .iter()
        .all(|c| c.rsplit('|').next() == Some("vital-signs"));
    let (entries, next_cursor, total) = if kind == Clinical::Observation && !category_ok {
        (Vec::new(), None, Some(0))
    } else {
        ctx.rest_page::<RecordEntry>(|limit, cursor| {
            Call::get(format!(
                "/api/v1/patients/{patient}/records/{}",
                kind.records_segment()
            ))
            .query("limit", Some(limit))
            .query("cursor", cursor)
        })
        .await?
    };
    let resources: Vec<Value> = entries
        .iter()
        .flat_map(|e| kind.resources(e, patient))
        .collect();
    // Vitals: one entry is several Observations, so the total counts entries
    // only where it is the same thing.
    let total = if kind == Clinical::Observation && next_cursor.is_some() {
        None
    } else if kind == Clinical::Observation {
        Some(resources.len())
    } else {
        total
    };
    Ok(ctx.bundle(
        &["patient", "category"],
        Page {
            resources,
            total,
            next_cursor,
        },
    ))
}

pub async fn search_audit(ctx: Search<'_>) -> Result<Value, Outcome> {
    let patient = patient(&ctx)?;
    let (lines, next_cursor, total) = ctx
        .rest_page::<AccessLogEntry>(|limit, cursor| {
            Call::get(format!("/api/v1/patients/{patient}/records/access-log"))
                .query("limit", Some(limit))
                .query("cursor", cursor)
        })
        .await?;
    Ok(ctx.bundle(
        &["patient"],
        Page {
            resources: lines.iter().map(|l| audit_event(l, patient)).collect(),
            total,
            next_cursor,
        },
    ))
}
