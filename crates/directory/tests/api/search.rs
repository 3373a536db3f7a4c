//! Searching the directory: filters, keyset pages without duplicates or gaps,
//! indexes that keep it fast.

use std::collections::HashSet;

use directory::domain::search::{RawSearch, Search};
use platform::{auth::Role, testing::assert_problem};
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp};
use platform::testing::error_fields;

const SPECIALTIES: [&str; 3] = ["Cardiology", "Dermatology", "Family medicine"];

/// 60 providers; names repeat (ties are broken by id) and every third is a cardiologist.
async fn sixty_providers(app: &TestApp) -> Vec<(String, Uuid, String)> {
    let mut all = Vec::new();
    for i in 0..60 {
        let name = format!("Dr. {:02}", i % 25);
        let specialty = SPECIALTIES[i % 3];
        let bio = if i % 10 == 0 {
            "Sees children too."
        } else {
            ""
        };
        let id = app.insert_provider(&name, specialty, bio).await;
        all.push((name, id, specialty.to_owned()));
    }
    all
}

/// Every page of `query` at `limit` items, following `next_cursor`.
async fn all_pages(app: &TestApp, query: &str, limit: u32) -> (Vec<Uuid>, usize) {
    let staff = app.user(Role::Staff);
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/providers?limit={limit}&{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: Value = app.get_ok(&staff, &path).await;
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit as usize);
        ids.extend(
            items
                .iter()
                .map(|p| p["id"].as_str().unwrap().parse::<Uuid>().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(items.len(), limit as usize, "only the last page is short");
                cursor = Some(c.to_owned());
            }
            None => break,
        }
        assert!(pages < 100, "pagination does not end");
    }
    (ids, pages)
}

/// The ids in listing order, as the database sorts `(name, id)`.
async fn expected_order(app: &TestApp, specialty: Option<&str>) -> Vec<Uuid> {
    sqlx::query_scalar(
        "SELECT id FROM providers WHERE $1::text IS NULL OR specialty = $1 ORDER BY name, id",
    )
    .bind(specialty)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn paging_returns_every_provider_once_in_name_order() {
    let app = spawn_app().await;
    sixty_providers(&app).await;
    let (ids, pages) = all_pages(&app, "", 7).await;
    assert_eq!(pages, 9);
    assert_eq!(ids.len(), 60);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        60,
        "no duplicates"
    );
    assert_eq!(
        ids,
        expected_order(&app, None).await,
        "no gaps, stable order"
    );

    // A page size that divides the total exactly ends without an empty page.
    let (ids, pages) = all_pages(&app, "", 20).await;
    assert_eq!((ids.len(), pages), (60, 3));
}

#[tokio::test]
async fn specialty_filters_case_insensitively_across_pages() {
    let app = spawn_app().await;
    sixty_providers(&app).await;
    let (ids, _) = all_pages(&app, "specialty=cARDIOLOGY", 6).await;
    assert_eq!(ids.len(), 20);
    assert_eq!(ids, expected_order(&app, Some("Cardiology")).await);
}

#[tokio::test]
async fn q_matches_name_specialty_and_bio_case_insensitively() {
    let app = spawn_app().await;
    let vogel = app
        .insert_provider("Dr. Lena Vogel", "Family medicine", "Preventive care.")
        .await;
    let reed = app
        .insert_provider("Dr. Marcus Reed", "Cardiology", "Heart failure clinic.")
        .await;
    let nair = app
        .insert_provider(
            "Dr. Priya Nair",
            "Dermatology",
            "Skin, hair and nails; 100% telehealth.",
        )
        .await;
    let staff = app.user(Role::Staff);
    let search = |q: &'static str| {
        let (app, staff) = (&app, &staff);
        async move {
            let page = app.get_ok(staff, &format!("/api/v1/providers?q={q}")).await;
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().parse::<Uuid>().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("VOGEL").await, [vogel]);
    assert_eq!(search("cardio").await, [reed]);
    assert_eq!(search("HAIR").await, [nair]);
    assert_eq!(search("dr.").await, [vogel, reed, nair]);
    // Every word must match, in any field.
    assert_eq!(search("marcus+heart").await, [reed]);
    assert_eq!(search("marcus+skin").await, Vec::<Uuid>::new());
    // LIKE wildcards are literal.
    assert_eq!(search("%25").await, [nair]);
    assert_eq!(search("_").await, Vec::<Uuid>::new());
    // q and specialty together.
    let page = app
        .get_ok(&staff, "/api/v1/providers?q=dr&specialty=dermatology")
        .await;
    assert_eq!(page["items"][0]["id"], nair.to_string());
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_search_parameters_are_problems() {
    let app = spawn_app().await;
    let staff = app.user(Role::Staff);
    let r = app.get(&staff, "/api/v1/providers?limit=0").await;
    let p = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    assert_eq!(error_fields(&p), ["limit"]);
    let r = app.get(&staff, "/api/v1/providers?limit=101").await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    let r = app.get(&staff, "/api/v1/providers?limit=many").await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid-query").await;
    let r = app.get(&staff, "/api/v1/providers?cursor=garbage").await;
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid-cursor").await;
    let long = "x".repeat(101);
    let r = app
        .get(&staff, &format!("/api/v1/providers?q={long}"))
        .await;
    let p = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation-error").await;
    assert_eq!(error_fields(&p), ["q"]);
}

/// At 10k providers the planner must choose the indexes, not scan and sort.
#[tokio::test]
async fn search_uses_the_indexes_at_ten_thousand_providers() {
    let app = spawn_app().await;
    sqlx::query(
        "INSERT INTO providers (id, name, specialty, bio, time_zone)
         SELECT gen_random_uuid(), 'Dr. ' || md5(i::text),
                CASE WHEN i % 100 = 0 THEN 'Neurology'
                     ELSE (ARRAY['Cardiology','Dermatology','Family medicine','Pediatrics'])[1 + i % 4] END,
                'Bio ' || md5((i * 7)::text), 'UTC'
         FROM generate_series(1, 10000) AS i",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("ANALYZE providers")
        .execute(&app.db)
        .await
        .unwrap();

    let plan = |q: Option<&'static str>, specialty: Option<&'static str>, after: bool| {
        let db = app.db.clone();
        async move {
            let cursor = after.then(|| {
                directory::domain::Cursor {
                    name: "Dr. 8".into(),
                    id: Uuid::nil(),
                }
                .encode()
            });
            let search = Search::parse(&RawSearch {
                q,
                specialty,
                limit: Some(20),
                cursor: cursor.as_deref(),
            })
            .unwrap();
            directory::store::explain_search(&db, &search)
                .await
                .unwrap()
        }
    };
    let p = plan(Some("3fa9c"), None, false).await;
    assert!(p.contains("providers_search"), "{p}");
    let p = plan(None, None, true).await;
    assert!(p.contains("providers_by_name"), "{p}");
    assert!(!p.contains("Sort"), "{p}");
    let p = plan(None, Some("neurology"), true).await;
    assert!(p.contains("providers_by_specialty"), "{p}");
    assert!(!p.contains("Sort"), "{p}");
}
