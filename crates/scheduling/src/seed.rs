//! The demo clinic's calendars: each demo provider works Monday to Friday,
//! 09:00–12:00 and 13:00–17:00 in their own time zone, with two or three
//! appointment types. Idempotent: existing rules and types are left alone.

use chrono::{NaiveTime, Weekday};
use platform::{auth::Role, demo::DEMO_USERS};
use uuid::Uuid;

use crate::{
    domain::availability::{Availability, WeeklyRule},
    store::{availability, readmodel, types, types::TypeRow},
    AppState,
};

struct DemoType {
    name: &'static str,
    minutes: i32,
    price_minor: i64,
    currency: &'static str,
    telehealth: bool,
}

fn demo_types(time_zone: &str) -> &'static [DemoType] {
    match time_zone {
        "Europe/Berlin" => &[
            DemoType {
                name: "Consultation",
                minutes: 30,
                price_minor: 6000,
                currency: "EUR",
                telehealth: false,
            },
            DemoType {
                name: "Follow-up",
                minutes: 15,
                price_minor: 3500,
                currency: "EUR",
                telehealth: true,
            },
        ],
        "America/New_York" => &[
            DemoType {
                name: "New patient visit",
                minutes: 45,
                price_minor: 15000,
                currency: "USD",
                telehealth: false,
            },
            DemoType {
                name: "Telehealth check-in",
                minutes: 20,
                price_minor: 8000,
                currency: "USD",
                telehealth: true,
            },
            DemoType {
                name: "Annual physical",
                minutes: 60,
                price_minor: 22000,
                currency: "USD",
                telehealth: false,
            },
        ],
        _ => &[
            DemoType {
                name: "General consultation",
                minutes: 30,
                price_minor: 150000,
                currency: "INR",
                telehealth: false,
            },
            DemoType {
                name: "Extended consultation",
                minutes: 60,
                price_minor: 280000,
                currency: "INR",
                telehealth: false,
            },
        ],
    }
}

fn t(h: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN)
}

pub async fn demo(state: &AppState) -> anyhow::Result<usize> {
    let mut changed = 0;
    for user in DEMO_USERS.iter() {
        let mut conn = state.db.acquire().await?;
        match user.role {
            Role::Patient => readmodel::ensure_patient(&mut conn, user.id).await?,
            Role::Provider => {
                let tz = user.time_zone.unwrap_or("UTC");
                readmodel::upsert_provider(
                    &mut conn,
                    user.id,
                    user.name,
                    tz,
                    chrono::DateTime::UNIX_EPOCH,
                )
                .await?;
                if availability::weekly(&state.db, user.id).await?.is_empty() {
                    let weekly = [
                        Weekday::Mon,
                        Weekday::Tue,
                        Weekday::Wed,
                        Weekday::Thu,
                        Weekday::Fri,
                    ]
                    .iter()
                    .flat_map(|d| {
                        [(9, 12), (13, 17)].map(|(s, e)| WeeklyRule {
                            weekday: *d,
                            start: t(s),
                            end: t(e),
                        })
                    })
                    .collect();
                    availability::replace(
                        &state.db,
                        user.id,
                        &Availability {
                            weekly,
                            ..Default::default()
                        },
                    )
                    .await?;
                    changed += 1;
                }
                if types::for_provider(&state.db, user.id).await?.is_empty() {
                    for d in demo_types(tz) {
                        types::insert(
                            &state.db,
                            &TypeRow {
                                id: Uuid::now_v7(),
                                provider_id: user.id,
                                name: d.name.to_owned(),
                                duration_minutes: d.minutes,
                                buffer_before_minutes: 0,
                                buffer_after_minutes: 5,
                                price_minor: d.price_minor,
                                currency: d.currency.to_owned(),
                                mode: if d.telehealth {
                                    "telehealth"
                                } else {
                                    "in_person"
                                }
                                .to_owned(),
                                min_notice_minutes: 60,
                                horizon_days: 120,
                                cancellation_window_minutes: 24 * 60,
                                late_cancel_fee_minor: d.price_minor / 2,
                                slot_step_minutes: None,
                                daily_cap: None,
                                min_notice_days: 0,
                                reminder_offsets_minutes: None,
                            },
                        )
                        .await?;
                    }
                    changed += 1;
                }
                state.slots.invalidate(user.id).await;
            }
            Role::Staff | Role::Admin => {}
        }
    }
    Ok(changed)
}
