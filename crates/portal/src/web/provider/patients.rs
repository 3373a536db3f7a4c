//! The patients in a provider's care: everyone with an appointment with them
//! in the last 90 days (records keeps the care relationship that long) or
//! coming up, by name and date of birth, with their last and next visit; and
//! opening any patient's chart by id (which may need break-glass).

use std::collections::BTreeMap;

use axum::{http::StatusCode, response::Response};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::me;
use crate::{
    api::models::{Appointment, AppointmentStatus},
    domain::{feedback::Feedback, time},
    web::{
        see_other,
        visits::{appointments_between, patient_reference, Patients},
        Ctx, PageError, Query,
    },
};

/// How far back and ahead the list looks.
const CARE_DAYS_BACK: i64 = 90;
const CARE_DAYS_AHEAD: i64 = 180;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct CareRow {
    id: Uuid,
    /// The patient's name (their reference until the directory shares it).
    label: String,
    born: Option<String>,
    last: Option<String>,
    next: Option<String>,
}

/// A patient's latest visit so far and their next one.
#[derive(Default)]
struct Visits {
    last: Option<DateTime<Utc>>,
    next: Option<DateTime<Utc>>,
}

/// One row per patient, soonest next visit first, then most recent last visit.
/// Cancelled appointments count for neither (no visit happens).
fn care_list(appointments: &[Appointment], now: DateTime<Utc>, zone: Tz) -> Vec<CareRow> {
    let mut by_patient: BTreeMap<Uuid, Visits> = BTreeMap::new();
    for a in appointments {
        let visits = by_patient.entry(a.patient_id).or_default();
        if a.status == AppointmentStatus::Cancelled {
            continue;
        }
        let upcoming = a.end > now
            && matches!(
                a.status,
                AppointmentStatus::Booked | AppointmentStatus::CheckedIn
            );
        if upcoming {
            visits.next = Some(visits.next.map_or(a.start, |n| n.min(a.start)));
        } else if a.start <= now {
            visits.last = Some(visits.last.map_or(a.start, |l| l.max(a.start)));
        }
    }
    let mut rows: Vec<(Uuid, Visits)> = by_patient.into_iter().collect();
    rows.sort_by_key(|(_, v)| (v.next.is_none(), v.next, std::cmp::Reverse(v.last)));
    rows.into_iter()
        .map(|(id, v)| CareRow {
            id,
            label: patient_reference(id),
            born: None,
            last: v.last.map(|t| time::date_time(t, zone)),
            next: v.next.map(|t| time::date_time(t, zone)),
        })
        .collect()
}

async fn page(
    ctx: &mut Ctx,
    status: StatusCode,
    typed: &str,
    feedback: Feedback,
) -> Result<Response, PageError> {
    let (_, zone) = me(ctx).await?;
    let now = ctx.now();
    let appointments = appointments_between(
        ctx,
        now - Duration::days(CARE_DAYS_BACK),
        now + Duration::days(CARE_DAYS_AHEAD),
        None,
    )
    .await?;
    let mut patients = care_list(&appointments, now, zone);
    let mut who = Patients::default();
    for row in &mut patients {
        if let Some(p) = who.summary(ctx, row.id).await? {
            row.label = p.name;
            row.born = p.date_of_birth.map(time::birth_date);
        }
    }
    Ok(ctx.render_with(
        status,
        "provider/patients.html",
        crate::page! { patients, feedback, patient_id => typed, zone => zone.name() },
    ))
}

pub async fn list(mut ctx: Ctx) -> Result<Response, PageError> {
    page(&mut ctx, StatusCode::OK, "", Feedback::default()).await
}

#[derive(Deserialize)]
pub struct OpenQuery {
    #[serde(default)]
    patient_id: String,
}

/// `GET /patients/open?patient_id=…`: to that patient's chart.
pub async fn open(mut ctx: Ctx, Query(q): Query<OpenQuery>) -> Result<Response, PageError> {
    match q.patient_id.trim().parse::<Uuid>() {
        Ok(id) => {
            me(&mut ctx).await?;
            Ok(see_other(&format!("/patients/{id}/chart")))
        }
        Err(_) => {
            let fb = Feedback::message("That is not a patient id.").field(
                "patient_id",
                "Enter the full patient id, like 018f0000-0000-7000-8000-000000000021.",
            );
            page(
                &mut ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                q.patient_id.trim(),
                fb,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appointment(patient: u128, start: &str, status: AppointmentStatus) -> Appointment {
        let start: DateTime<Utc> = start.parse().unwrap();
        Appointment {
            id: Uuid::now_v7(),
            patient_id: Uuid::from_u128(patient),
            provider_id: Uuid::nil(),
            appointment_type_id: Uuid::nil(),
            start,
            end: start + Duration::minutes(30),
            status,
            cancel_reason: None,
            late_cancellation: false,
            cancellation_policy: None,
        }
    }

    #[test]
    fn each_patient_once_with_last_and_next_visit_soonest_first() {
        use AppointmentStatus::*;
        let now: DateTime<Utc> = "2026-05-04T12:00:00Z".parse().unwrap();
        let list = care_list(
            &[
                appointment(1, "2026-04-01T09:00:00Z", Completed),
                appointment(1, "2026-05-20T09:00:00Z", Booked),
                appointment(2, "2026-05-06T09:00:00Z", Booked),
                appointment(3, "2026-04-20T09:00:00Z", NoShow),
                appointment(3, "2026-05-10T09:00:00Z", Cancelled),
                appointment(4, "2026-03-01T09:00:00Z", Completed),
            ],
            now,
            Tz::UTC,
        );
        let order: Vec<u128> = list.iter().map(|r| r.id.as_u128()).collect();
        assert_eq!(order, [2, 1, 3, 4]);
        assert_eq!(list[1].last.as_deref(), Some("Wed 1 Apr 2026, 09:00 UTC"));
        assert_eq!(list[1].next.as_deref(), Some("Wed 20 May 2026, 09:00 UTC"));
        assert_eq!(list[2].next, None, "a cancelled visit is not a next visit");
    }
}
