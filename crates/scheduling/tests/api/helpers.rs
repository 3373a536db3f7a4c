use std::time::Duration;

use chrono::{DateTime, Datelike, Duration as Span, NaiveTime, TimeZone, Utc, Weekday};
use identity::testing::TestIssuer;
use platform::{auth::Role, shutdown::CancellationToken, testing::TestBacking};
use reqwest::{Response, StatusCode};
use scheduling::{store::readmodel, Config};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: PgPool,
    pub keys: TestIssuer,
    pub backing: TestBacking,
    cancel: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The service with at most `connections` database connections.
pub async fn spawn_app_with_pool(connections: u32) -> TestApp {
    spawn_app_with(|c| c.common.database_max_connections = connections).await
}

/// The service with its settings adjusted first (Redis address, cache TTL, pool).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let backing = TestBacking::new("scheduling");
    let keys = TestIssuer::new();
    let verifier = keys.verifier();
    let mut config = Config {
        common: backing.config.clone(),
        slot_cache_ttl: Duration::from_secs(60),
    };
    adjust(&mut config);
    let service = scheduling::build_with_verifier(&config, verifier)
        .await
        .expect("scheduling starts");
    let (addr, cancel) = platform::testing::spawn(service).await;
    let db = platform::db::connect(&config.common.database_url, 4)
        .await
        .unwrap();
    backing.track_queue(&scheduling::consumers::spec(&config.common.queue_prefix).queue);
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        db,
        keys,
        backing,
        cancel,
    }
}

/// A user as the tests see them: id, role and a valid token.
#[derive(Clone)]
pub struct User {
    pub id: Uuid,
    pub token: String,
}

/// A provider with a calendar and one 30-minute type (10 min buffer after).
pub struct Clinic {
    pub provider: User,
    pub type_id: Uuid,
    pub tz: chrono_tz::Tz,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn user(&self, role: Role) -> User {
        let id = Uuid::now_v7();
        User {
            id,
            token: self.keys.token(id, role),
        }
    }

    pub async fn patient(&self) -> User {
        let user = self.user(Role::Patient);
        let mut conn = self.db.acquire().await.unwrap();
        readmodel::ensure_patient(&mut conn, user.id).await.unwrap();
        user
    }

    pub async fn get(&self, user: &User, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, user: &User, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&user.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, user: &User, path: &str, body: &Value) -> Response {
        self.client
            .put(self.url(path))
            .bearer_auth(&user.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, user: &User, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap()
    }

    /// GET expecting 200; the JSON body.
    pub async fn get_ok(&self, user: &User, path: &str) -> Value {
        let r = self.get(user, path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.json().await.unwrap()
    }

    /// A provider in `tz` working every day 09:00–12:00 and 13:00–17:00 local,
    /// set up through the API as the provider would.
    pub async fn clinic(&self, tz: chrono_tz::Tz) -> Clinic {
        let provider = self.user(Role::Provider);
        let mut conn = self.db.acquire().await.unwrap();
        readmodel::upsert_provider(&mut conn, provider.id, "Dr. Test", tz.name(), Utc::now())
            .await
            .unwrap();
        let weekly: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .iter()
            .flat_map(|d| {
                [
                    json!({"weekday": d, "start": "09:00", "end": "12:00"}),
                    json!({"weekday": d, "start": "13:00", "end": "17:00"}),
                ]
            })
            .collect();
        let r = self
            .put(
                &provider,
                &format!("/api/v1/providers/{}/availability", provider.id),
                &json!({"weekly": weekly}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = self
            .post(
                &provider,
                &format!("/api/v1/providers/{}/appointment-types", provider.id),
                &json!({
                    "name": "Consultation", "duration_minutes": 30, "buffer_after_minutes": 10,
                    "price": {"amount_minor": 6000, "currency": "EUR"}, "mode": "in_person",
                    "min_notice_minutes": 60, "horizon_days": 60,
                    "cancellation_window_minutes": 1440, "late_cancel_fee_minor": 2500
                }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let t: Value = r.json().await.unwrap();
        Clinic {
            provider,
            type_id: t["id"].as_str().unwrap().parse().unwrap(),
            tz,
        }
    }

    /// Free slot starts between `from` and `to`.
    pub async fn slots(
        &self,
        user: &User,
        clinic: &Clinic,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let r = self
            .client
            .get(self.url(&format!("/api/v1/providers/{}/slots", clinic.provider.id)))
            .query(&[
                ("appointment_type_id", clinic.type_id.to_string()),
                ("from", from.to_rfc3339()),
                ("to", to.to_rfc3339()),
            ])
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["start"].as_str().unwrap().parse().unwrap())
            .collect()
    }

    pub async fn book(&self, user: &User, clinic: &Clinic, start: DateTime<Utc>) -> Response {
        self.post(user, "/api/v1/appointments", &json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id, "start": start}))
            .await
    }

    /// `POST /api/v1/appointments` with `body` under an `Idempotency-Key`.
    pub async fn book_with_key(&self, user: &User, key: &str, body: &Value) -> Response {
        self.client
            .post(self.url("/api/v1/appointments"))
            .bearer_auth(&user.token)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn outbox(&self, event_type: &str) -> Vec<Value> {
        sqlx::query_scalar("SELECT payload FROM outbox WHERE event_type = $1 ORDER BY id")
            .bind(event_type)
            .fetch_all(&self.db)
            .await
            .unwrap()
    }
}

/// 10:00 local on a weekday a few days ahead (well past notice, inside the horizon).
pub fn ten_am_local(tz: chrono_tz::Tz, days_ahead: i64) -> DateTime<Utc> {
    let mut date = (Utc::now() + Span::days(days_ahead))
        .with_timezone(&tz)
        .date_naive();
    while matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        date = date.succ_opt().unwrap();
    }
    tz.from_local_datetime(&date.and_time(NaiveTime::from_hms_opt(10, 0, 0).unwrap()))
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

pub async fn assert_problem(r: Response, status: StatusCode, kind: &str) -> Value {
    let got = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    assert_eq!(
        body["type"],
        format!("https://carebook.dev/problems/{kind}"),
        "{body}"
    );
    body
}
