//! Reading and removing time off and date overrides: the provider and staff
//! manage them, everyone else is refused, and every change shows in the free
//! slots at once.

use chrono::{DateTime, Duration, Utc};
use platform::{
    auth::Role,
    testing::{assert_problem, User},
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, ten_am_local, Clinic, Scheduling, TestApp};

fn time_off_path(clinic: &Clinic) -> String {
    format!("/api/v1/providers/{}/time-off", clinic.provider.id)
}

fn overrides_path(clinic: &Clinic) -> String {
    format!(
        "/api/v1/providers/{}/availability/overrides",
        clinic.provider.id
    )
}

async fn add_time_off(
    app: &TestApp,
    clinic: &Clinic,
    start: DateTime<Utc>,
    hours: i64,
    reason: &str,
) -> Uuid {
    let r = app
        .post(
            &clinic.provider,
            &time_off_path(clinic),
            &json!({"start": start, "end": start + Duration::hours(hours), "reason": reason}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    body["id"].as_str().unwrap().parse().unwrap()
}

fn ids(list: &Value) -> Vec<Uuid> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[tokio::test]
async fn the_provider_and_staff_list_time_off_in_order_a_page_at_a_time() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::Europe::Berlin).await;
    let soon = ten_am_local(clinic.tz, 3);
    let later = add_time_off(&app, &clinic, soon + Duration::days(7), 2, "conference").await;
    let first = add_time_off(&app, &clinic, soon, 1, "training").await;
    let past = add_time_off(&app, &clinic, Utc::now() - Duration::days(3), 2, "sick").await;
    let far = add_time_off(
        &app,
        &clinic,
        Utc::now() + Duration::days(400),
        2,
        "sabbatical",
    )
    .await;

    // By default: what has not ended yet, for a year.
    let list = app.get_ok(&clinic.provider, &time_off_path(&clinic)).await;
    assert_eq!(ids(&list), [first, later]);
    assert_eq!(list["items"][0]["reason"], "training");
    assert_eq!(
        list["items"][0]["start"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        soon
    );
    assert_eq!(list["next_cursor"], Value::Null);
    // A range of one's own, and staff see the same.
    let staff = app.user(Role::Staff);
    let from = stamp(Utc::now() - Duration::days(10));
    let to = stamp(Utc::now() + Duration::days(366 - 10));
    let path = format!("{}?from={from}&to={to}", time_off_path(&clinic));
    assert_eq!(ids(&app.get_ok(&staff, &path).await), [past, first, later]);
    // Paged.
    let page = app.get_ok(&staff, &format!("{path}&limit=2")).await;
    assert_eq!(ids(&page), [past, first]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = app
        .get_ok(&staff, &format!("{path}&limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids(&rest), [later]);
    assert_eq!(rest["next_cursor"], Value::Null);
    let next_year = format!(
        "{}?from={}&to={}",
        time_off_path(&clinic),
        stamp(Utc::now() + Duration::days(300)),
        stamp(Utc::now() + Duration::days(600))
    );
    assert_eq!(ids(&app.get_ok(&staff, &next_year).await), [far]);
}

#[tokio::test]
async fn time_off_is_private_to_the_provider_and_staff_and_bad_ranges_are_problems() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    add_time_off(&app, &clinic, ten_am_local(clinic.tz, 3), 1, "personal").await;
    let path = time_off_path(&clinic);
    for user in [app.patient().await, app.user(Role::Provider)] {
        assert_problem(
            app.get(&user, &path).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    let staff = app.user(Role::Staff);
    let unknown = format!("/api/v1/providers/{}/time-off", Uuid::now_v7());
    assert_problem(
        app.get(&staff, &unknown).await,
        StatusCode::NOT_FOUND,
        "provider-not-found",
    )
    .await;

    let now = Utc::now();
    for (from, to) in [
        (now, now),
        (now, now - Duration::hours(1)),
        (now, now + Duration::days(367)),
    ] {
        let r = app
            .get(
                &staff,
                &format!("{path}?from={}&to={}", stamp(from), stamp(to)),
            )
            .await;
        assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    }
    for query in ["limit=0", "limit=101", "cursor=garbage"] {
        let r = app.get(&staff, &format!("{path}?{query}")).await;
        assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    }
    let r = app.get(&staff, &format!("{path}?from=yesterday")).await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid-query").await;
}

#[tokio::test]
async fn removing_time_off_frees_its_slots_and_only_the_provider_or_staff_may() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 4);
    let day = (start - Duration::hours(10), start + Duration::hours(10));
    let off = add_time_off(&app, &clinic, start, 1, "training").await;
    assert!(!app
        .slots(&patient, &clinic, day.0, day.1)
        .await
        .contains(&start));

    let one = format!("{}/{off}", time_off_path(&clinic));
    let other_provider = app.user(Role::Provider);
    for user in [&patient, &other_provider] {
        assert_problem(
            app.delete(user, &one).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    // Another provider's calendar does not hold this entry.
    let other = app.clinic(chrono_tz::UTC).await;
    let r = app
        .delete(&other.provider, &format!("{}/{off}", time_off_path(&other)))
        .await;
    assert_problem(r, StatusCode::NOT_FOUND, "time-off-not-found").await;

    let r = app.delete(&clinic.provider, &one).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(app
        .slots(&patient, &clinic, day.0, day.1)
        .await
        .contains(&start));
    assert!(ids(&app.get_ok(&clinic.provider, &time_off_path(&clinic)).await).is_empty());
    let r = app.delete(&clinic.provider, &one).await;
    assert_problem(r, StatusCode::NOT_FOUND, "time-off-not-found").await;

    let staff = app.user(Role::Staff);
    let again = add_time_off(&app, &clinic, start, 1, "training").await;
    let r = app
        .delete(&staff, &format!("{}/{again}", time_off_path(&clinic)))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .delete(&staff, &format!("{}/not-an-id", time_off_path(&clinic)))
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid-path").await;
}

/// Free slot starts on `start`'s day.
async fn slots_that_day(
    app: &TestApp,
    user: &User,
    clinic: &Clinic,
    start: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    app.slots(
        user,
        clinic,
        start - Duration::hours(10),
        start + Duration::hours(12),
    )
    .await
}

#[tokio::test]
async fn date_overrides_are_set_listed_and_removed_one_date_at_a_time() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 5);
    let date = start.date_naive();
    let one = format!("{}/{date}", overrides_path(&clinic));
    let weekly = slots_that_day(&app, &patient, &clinic, start).await;
    assert!(weekly.contains(&start));

    // Windows given out of order come back sorted; the day offers only them.
    let r = app
        .put(
            &clinic.provider,
            &one,
            &json!({"windows": [{"start": "15:00", "end": "16:00"}, {"start": "07:00", "end": "08:00"}]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let saved: Value = r.json().await.unwrap();
    assert_eq!(
        saved,
        json!({"date": date, "windows": [{"start": "07:00", "end": "08:00"}, {"start": "15:00", "end": "16:00"}]})
    );
    let offered = slots_that_day(&app, &patient, &clinic, start).await;
    assert!(!offered.contains(&start));
    assert_eq!(offered.first(), Some(&(start - Duration::hours(3))));

    // A second date, closed; both listed in date order, to anyone signed in.
    let closed = date + Duration::days(1);
    let r = app
        .put(
            &app.user(Role::Staff),
            &format!("{}/{closed}", overrides_path(&clinic)),
            &json!({"windows": []}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let list = app.get_ok(&patient, &overrides_path(&clinic)).await;
    assert_eq!(
        list["items"],
        json!([saved, {"date": closed, "windows": []}])
    );
    let range = format!("{}?from={closed}&to={closed}", overrides_path(&clinic));
    assert_eq!(
        app.get_ok(&patient, &range).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Setting a date again replaces it.
    let r = app
        .put(
            &clinic.provider,
            &one,
            &json!({"windows": [{"start": "09:00", "end": "10:00"}]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let list = app.get_ok(&clinic.provider, &overrides_path(&clinic)).await;
    assert_eq!(
        list["items"][0]["windows"],
        json!([{"start": "09:00", "end": "10:00"}])
    );

    // Removing it brings the weekly hours back at once.
    let r = app.delete(&clinic.provider, &one).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(slots_that_day(&app, &patient, &clinic, start).await, weekly);
    let r = app.delete(&clinic.provider, &one).await;
    assert_problem(r, StatusCode::NOT_FOUND, "date-override-not-found").await;
}

#[tokio::test]
async fn date_overrides_are_the_providers_and_staffs_to_change_and_checked() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let date = ten_am_local(clinic.tz, 5).date_naive();
    let one = format!("{}/{date}", overrides_path(&clinic));
    let body = json!({"windows": [{"start": "09:00", "end": "10:00"}]});
    for user in [app.patient().await, app.user(Role::Provider)] {
        assert_problem(
            app.put(&user, &one, &body).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        assert_problem(
            app.delete(&user, &one).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    let unknown = format!(
        "/api/v1/providers/{}/availability/overrides",
        Uuid::now_v7()
    );
    let staff = app.user(Role::Staff);
    assert_problem(
        app.get(&staff, &unknown).await,
        StatusCode::NOT_FOUND,
        "provider-not-found",
    )
    .await;
    assert_problem(
        app.put(&staff, &format!("{unknown}/{date}"), &body).await,
        StatusCode::NOT_FOUND,
        "provider-not-found",
    )
    .await;

    for windows in [
        json!([{"start": "10:00", "end": "09:00"}]),
        json!([{"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]),
        json!([{"start": "9am", "end": "12:00"}]),
        json!((0..25).map(|h| json!({"start": format!("{:02}:00", h % 24), "end": format!("{:02}:30", h % 24)})).collect::<Vec<_>>()),
    ] {
        let r = app
            .put(&clinic.provider, &one, &json!({"windows": windows}))
            .await;
        assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    }
    let r = app
        .put(
            &clinic.provider,
            &format!("{}/31-12-2026", overrides_path(&clinic)),
            &body,
        )
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid-path").await;
    let list = app.get_ok(&clinic.provider, &overrides_path(&clinic)).await;
    assert_eq!(list["items"], json!([]), "nothing refused was saved");

    let path = overrides_path(&clinic);
    for query in [
        "from=2026-06-10&to=2026-06-09",
        "from=2026-01-01&to=2027-01-02",
    ] {
        let r = app.get(&staff, &format!("{path}?{query}")).await;
        assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    }
    let r = app
        .get(&staff, &format!("{path}?from=2026-01-01&to=2027-01-01"))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "366 dates are one listing");
}
