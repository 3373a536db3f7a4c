//! The clinic's day: every provider's appointments on one date, each in the
//! provider's own time zone (their local day), with the visit steps and a
//! way to change each booking.

use axum::response::Response;
use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    api::{
        models::{Appointment, AppointmentStatus, Page, Provider},
        ApiRequest,
    },
    domain::{schedule, time},
    web::{
        patient::zone_of,
        visits::{appointments_between, Rows, VisitRow},
        Ctx, PageError, Query,
    },
};

#[derive(Deserialize)]
pub struct DayQuery {
    date: Option<String>,
}

#[derive(Serialize)]
struct ProviderDay {
    id: Uuid,
    name: String,
    specialty: String,
    zone: String,
    rows: Vec<VisitRow>,
    /// Appointments still to happen or under way.
    active: usize,
}

/// Each provider's appointments on their own local `date`, in provider order.
fn per_provider<'a>(
    providers: &'a [Provider],
    appointments: &'a [Appointment],
    date: NaiveDate,
) -> Vec<(&'a Provider, Vec<&'a Appointment>)> {
    providers
        .iter()
        .map(|p| {
            let zone: Tz = zone_of(p);
            let theirs = appointments
                .iter()
                .filter(|a| a.provider_id == p.id && time::today(a.start, zone) == date)
                .collect();
            (p, theirs)
        })
        .collect()
}

fn day_link(date: NaiveDate) -> String {
    format!("/clinic?date={date}")
}

pub async fn show(mut ctx: Ctx, Query(q): Query<DayQuery>) -> Result<Response, PageError> {
    ctx.require(&[Role::Staff])?;
    let providers: Page<Provider> = ctx
        .call(ApiRequest::get("/api/v1/providers").query("limit", 100))
        .await?;
    let zones: Vec<Tz> = providers.items.iter().map(zone_of).collect();
    // "Today" at the desk: the viewer's own date.
    let today = time::today(ctx.now(), ctx.visit.viewer_tz.unwrap_or(Tz::UTC));
    let date = schedule::date_param(q.date.as_deref(), today);
    let (from, to) = schedule::day_window(date, &zones);
    let appointments = appointments_between(&mut ctx, from, to, None).await?;
    let here = ctx.visit.path.clone();
    let mut rows_of = Rows::default();
    let mut days = Vec::new();
    for (p, theirs) in per_provider(&providers.items, &appointments, date) {
        let active = theirs
            .iter()
            .filter(|a| {
                matches!(
                    a.status,
                    AppointmentStatus::Booked | AppointmentStatus::CheckedIn
                )
            })
            .count();
        let mut rows = Vec::new();
        for a in theirs {
            rows.push(rows_of.row(&mut ctx, a, &here).await?);
        }
        days.push(ProviderDay {
            id: p.id,
            name: p.name.clone(),
            specialty: p.specialty.clone(),
            zone: zone_of(p).name().to_owned(),
            rows,
            active,
        });
    }
    let total: usize = days.iter().map(|d| d.rows.len()).sum();
    Ok(ctx.render(
        "staff/day.html",
        crate::page! {
            providers => days, total,
            title => schedule::day_title(date, today),
            is_today => date == today,
            date => date.to_string(),
            previous => day_link(date - Duration::days(1)),
            next => day_link(date + Duration::days(1)),
            today => day_link(today),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn provider(id: u128, zone: &str) -> Provider {
        Provider {
            id: Uuid::from_u128(id),
            name: format!("P{id}"),
            specialty: "General".into(),
            bio: String::new(),
            languages: Vec::new(),
            location: String::new(),
            time_zone: zone.into(),
            accepting_new_patients: true,
        }
    }

    fn appointment(provider: u128, start: &str) -> Appointment {
        let start: DateTime<Utc> = start.parse().unwrap();
        Appointment {
            id: Uuid::now_v7(),
            patient_id: Uuid::nil(),
            provider_id: Uuid::from_u128(provider),
            appointment_type_id: Uuid::nil(),
            start,
            end: start + Duration::minutes(30),
            status: AppointmentStatus::Booked,
            cancel_reason: None,
            late_cancellation: false,
            cancellation_policy: None,
        }
    }

    #[test]
    fn each_provider_gets_the_appointments_of_their_own_local_day() {
        let providers = [provider(1, "Asia/Kolkata"), provider(2, "America/New_York")];
        let appointments = [
            // Sun 3 May 20:00 UTC is Mon 4 May 01:30 in Kolkata, still Sunday in New York.
            appointment(1, "2026-05-03T20:00:00Z"),
            appointment(2, "2026-05-03T20:00:00Z"),
            // Tue 5 May 02:00 UTC is Mon 4 May 22:00 in New York.
            appointment(2, "2026-05-05T02:00:00Z"),
        ];
        let date: NaiveDate = "2026-05-04".parse().unwrap();
        let days = per_provider(&providers, &appointments, date);
        assert_eq!(days[0].1.len(), 1);
        assert_eq!(days[1].1.len(), 1);
        assert_eq!(days[1].1[0].start, appointments[2].start);
    }
}
