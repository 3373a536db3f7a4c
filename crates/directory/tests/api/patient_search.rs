//! The patient search: by name or email, case-insensitive, every word must
//! match, wildcards literal, paged by cursor; staff and admins over every
//! patient, a provider over the patients in their care, patients not at all.

use chrono::{Duration, Utc};
use contracts::scheduling::AppointmentBooked;
use directory::domain::search::{PatientSearch, RawPatientSearch};
use platform::{auth::Role, events::Envelope, testing::assert_problem};
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{booking_at, spawn_app, TestApp};
use platform::testing::error_fields;

async fn patient(app: &TestApp, name: &str, email: &str) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO patients (id, name, email) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(name)
        .bind(email)
        .execute(&app.db)
        .await
        .unwrap();
    id
}

fn ids(page: &Value) -> Vec<Uuid> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn staff_find_patients_by_name_or_email() {
    let app = spawn_app().await;
    let paula = patient(&app, "Paula Patient", "paula@example.org").await;
    let peter = patient(&app, "Peter Park", "pp_1990@example.org").await;
    let zoe = patient(&app, "Zoë O'Brien", "zoe.obrien@mail.test").await;
    let staff = app.user(Role::Staff);
    let search = |q: &'static str| {
        let (app, staff) = (&app, &staff);
        async move { ids(&app.get_ok(staff, &format!("/api/v1/patients?q={q}")).await) }
    };
    assert_eq!(search("PAULA").await, [paula]);
    assert_eq!(search("example.ORG").await, [paula, peter]);
    assert_eq!(search("zoË").await, [zoe], "case folds beyond ASCII");
    assert_eq!(search("o%27brien").await, [zoe]);
    // Every word must match, in the name or the email.
    assert_eq!(search("peter+1990").await, [peter]);
    assert_eq!(search("peter+paula").await, Vec::<Uuid>::new());
    // LIKE wildcards and quotes are literal.
    assert_eq!(search("p_").await, [peter]);
    assert_eq!(search("%25%25").await, Vec::<Uuid>::new());
    assert_eq!(
        search("%27%3B+DROP+TABLE+patients%3B--").await,
        Vec::<Uuid>::new()
    );

    let page = app.get_ok(&staff, "/api/v1/patients?q=paula").await;
    let item = &page["items"][0];
    assert_eq!(item["name"], "Paula Patient");
    assert_eq!(item["email"], "paula@example.org");
    assert!(item.get("insurance").is_none() && item.get("address").is_none());
    assert_eq!(page["next_cursor"], Value::Null);

    let admin = app.user(Role::Admin);
    assert_eq!(
        ids(&app.get_ok(&admin, "/api/v1/patients?q=park").await),
        [peter]
    );
}

#[tokio::test]
async fn results_page_by_cursor_in_name_order() {
    let app = spawn_app().await;
    let mut expected = Vec::new();
    for i in 0..7 {
        // Names out of insertion order; two share a name and are ordered by id.
        let name = format!("Smith {}", (i * 3) % 5);
        expected.push((
            name.clone(),
            patient(&app, &name, &format!("s{i}@example.org")).await,
        ));
    }
    patient(&app, "Jones", "jones@example.org").await;
    expected.sort();
    let staff = app.user(Role::Staff);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/patients?q=smith&limit=3&cursor={c}"),
            None => "/api/v1/patients?q=smith&limit=3".to_owned(),
        };
        let page = app.get_ok(&staff, &path).await;
        let items = ids(&page);
        assert!(items.len() <= 3);
        seen.extend(items);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let want: Vec<Uuid> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn patients_cannot_search_and_bad_searches_are_problems() {
    let app = spawn_app().await;
    patient(&app, "Paula Patient", "paula@example.org").await;
    let someone = app.patient("Someone").await;
    for q in ["paula", "", "x"] {
        let r = app.get(&someone, &format!("/api/v1/patients?q={q}")).await;
        assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    }

    let staff = app.user(Role::Staff);
    for path in [
        "/api/v1/patients",
        "/api/v1/patients?q=+p+",
        "/api/v1/patients?q=p",
    ] {
        let r = app.get(&staff, path).await;
        let p = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
        assert_eq!(error_fields(&p), ["q"], "{path}");
    }
    let r = app
        .get(&staff, &format!("/api/v1/patients?q={}", "x".repeat(101)))
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    for limit in ["0", "101"] {
        let r = app
            .get(&staff, &format!("/api/v1/patients?q=paula&limit={limit}"))
            .await;
        let p = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
        assert_eq!(error_fields(&p), ["limit"]);
    }
    let r = app
        .get(&staff, "/api/v1/patients?q=paula&cursor=garbage")
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid-cursor").await;
    let r = app.get(&staff, "/api/v1/patients?q=paula&limit=many").await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid-query").await;
}

/// At 10k patients the planner must use the trigram index, not scan.
#[tokio::test]
async fn search_uses_the_trigram_index_at_ten_thousand_patients() {
    let app = spawn_app().await;
    sqlx::query(
        "INSERT INTO patients (id, name, email)
         SELECT gen_random_uuid(), 'Patient ' || md5(i::text), md5((i * 7)::text) || '@example.org'
         FROM generate_series(1, 10000) AS i",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("ANALYZE patients")
        .execute(&app.db)
        .await
        .unwrap();
    let search = PatientSearch::parse(&RawPatientSearch {
        q: Some("3fa9c"),
        limit: Some(20),
        cursor: None,
    })
    .unwrap();
    let plan = directory::store::explain_patient_search(&app.db, &search)
        .await
        .unwrap();
    assert!(plan.contains("patients_search"), "{plan}");
}

#[tokio::test]
async fn a_provider_finds_only_the_patients_in_their_care() {
    let app = spawn_app().await;
    let provider = app.user(Role::Provider);
    let other_provider = app.user(Role::Provider);
    let booked = patient(&app, "Paula Booked", "paula.booked@example.org").await;
    let far = patient(&app, "Paula Far", "paula.far@example.org").await;
    let elsewhere = patient(&app, "Paula Elsewhere", "paula.elsewhere@example.org").await;
    patient(&app, "Paula Stranger", "paula.stranger@example.org").await;
    // In care: booked two days ahead. Not yet: booked a month ahead (the
    // window opens 7 days before). Not theirs: booked with someone else.
    for (who, with, start) in [
        (booked, provider.id, Utc::now() + Duration::days(2)),
        (far, provider.id, Utc::now() + Duration::days(30)),
        (elsewhere, other_provider.id, Utc::now() + Duration::days(2)),
    ] {
        let appointment = booking_at(Uuid::now_v7(), who, with, start);
        app.deliver(&Envelope::of::<AppointmentBooked>(&appointment).unwrap())
            .await;
    }

    let found = app.get_ok(&provider, "/api/v1/patients?q=paula").await;
    assert_eq!(ids(&found), [booked], "{found}");
    // Page by page (one scanned row each), the same one patient.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/patients?q=paula&limit=1&cursor={c}"),
            None => "/api/v1/patients?q=paula&limit=1".to_owned(),
        };
        let page = app.get_ok(&provider, &path).await;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, [booked]);
    let theirs = app
        .get_ok(&other_provider, "/api/v1/patients?q=paula")
        .await;
    assert_eq!(ids(&theirs), [elsewhere], "{theirs}");
    let staff = app
        .get_ok(&app.user(Role::Staff), "/api/v1/patients?q=paula")
        .await;
    assert_eq!(ids(&staff).len(), 4, "{staff}");
}
