//! The provider's schedule: one day (today unless a date is named) or one
//! week, in their own time zone, each appointment with its visit steps.

use axum::response::Response;
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use super::me;
use crate::{
    domain::{
        schedule::{self, by_local_day},
        time,
        week::Week,
    },
    web::{
        visits::{appointments_between, Rows, VisitRow},
        Ctx, PageError, Query,
    },
};

#[derive(Deserialize)]
pub struct DayQuery {
    date: Option<String>,
}

fn day_link(date: NaiveDate) -> String {
    format!("/schedule?date={date}")
}

fn week_link(monday: NaiveDate) -> String {
    format!("/schedule/week?week={monday}")
}

pub async fn day(mut ctx: Ctx, Query(q): Query<DayQuery>) -> Result<Response, PageError> {
    let (_, zone) = me(&mut ctx).await?;
    let today = time::today(ctx.now(), zone);
    let date = schedule::date_param(q.date.as_deref(), today);
    let from = time::start_of_day(date, zone);
    let to = time::start_of_day(date + Duration::days(1), zone);
    let appointments = appointments_between(&mut ctx, from, to, None).await?;
    let here = ctx.visit.path.clone();
    let mut rows_of = Rows::default();
    let mut rows = Vec::new();
    for a in &appointments {
        rows.push(rows_of.row(&mut ctx, a, &here).await?);
    }
    Ok(ctx.render(
        "provider/day.html",
        crate::page! {
            rows,
            title => schedule::day_title(date, today),
            is_today => date == today,
            previous => day_link(date - Duration::days(1)),
            next => day_link(date + Duration::days(1)),
            week => week_link(Week::containing(date).monday),
            zone => zone.name(),
        },
    ))
}

#[derive(Deserialize)]
pub struct WeekQuery {
    week: Option<String>,
}

#[derive(Serialize)]
struct DayView {
    heading: String,
    link: String,
    is_today: bool,
    rows: Vec<VisitRow>,
}

pub async fn week(mut ctx: Ctx, Query(q): Query<WeekQuery>) -> Result<Response, PageError> {
    let (_, zone) = me(&mut ctx).await?;
    let today = time::today(ctx.now(), zone);
    let week = Week::containing(schedule::date_param(q.week.as_deref(), today));
    let (from, to) = week.bounds(zone);
    let appointments = appointments_between(&mut ctx, from, to, None).await?;
    let dates: Vec<NaiveDate> = week.days().collect();
    let grouped = by_local_day(&dates, appointments, zone, |a| a.start);
    let here = ctx.visit.path.clone();
    let mut rows_of = Rows::default();
    let mut days = Vec::new();
    for (date, appointments) in dates.iter().zip(grouped) {
        let mut rows = Vec::new();
        for a in &appointments {
            rows.push(rows_of.row(&mut ctx, a, &here).await?);
        }
        days.push(DayView {
            heading: date.format("%A %-d %B").to_string(),
            link: day_link(*date),
            is_today: *date == today,
            rows,
        });
    }
    let this_week = week == Week::containing(today);
    let count: usize = days.iter().map(|d| d.rows.len()).sum();
    Ok(ctx.render(
        "provider/week.html",
        crate::page! {
            days, this_week, count,
            title => week.title(),
            previous => week_link(week.previous().monday),
            next => week_link(week.next().monday),
            today => day_link(today),
            zone => zone.name(),
        },
    ))
}
