//! What scheduling's tests need beyond `platform::testing`: the service built
//! from its `Config` with a clock the test moves, a clinic (a provider with a calendar and a type) set up
//! through the API, patients scheduling knows, free slots, bookings, and the
//! events it has written to its outbox, read by their contract.

use std::{ops::Deref, sync::Arc, time::Duration};

use chrono::{DateTime, Datelike, Duration as Span, NaiveTime, TimeZone, Utc, Weekday};
use contracts::Money;
use identity::testing::TestIssuer;
use platform::{
    auth::Role,
    testing::{self, eventually, EventTap, TestBacking, User, WAIT},
};
use reqwest::{Method, Response, StatusCode};
use scheduling::{
    clock::{Clock, SettableClock},
    store::readmodel,
    Config,
};
use serde_json::{json, Value};
use uuid::Uuid;

/// The running service and the clock it reads (it runs at the real pace from
/// the real time until a test moves it).
pub struct TestApp {
    app: testing::TestApp,
    pub clock: Arc<SettableClock>,
    config: Config,
    keys: Arc<TestIssuer>,
}

impl Deref for TestApp {
    type Target = testing::TestApp;

    fn deref(&self) -> &Self::Target {
        &self.app
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
    let mut config = Config {
        cache_ttl: Duration::from_secs(60),
        backfill_poll: Duration::from_millis(200),
        ..Config::new(backing.config.clone())
    };
    adjust(&mut config);
    let keys = Arc::new(TestIssuer::new());
    let clock = Arc::new(SettableClock::running());
    let service = scheduling::build_with(&config, keys.verifier(), clock.clone() as Arc<dyn Clock>)
        .await
        .expect("scheduling starts");
    let consumers = [scheduling::consumers::spec(&config.common.queue_prefix)];
    let app = testing::TestApp::spawn(backing, service, &consumers, keys.clone()).await;
    TestApp {
        app,
        clock,
        config,
        keys,
    }
}

impl TestApp {
    /// A second replica on the same backing, settings and clock (its own
    /// relay, consumer and backfill worker).
    pub async fn second_replica(&self) -> testing::Replica {
        let clock = self.clock.clone() as Arc<dyn Clock>;
        let service = scheduling::build_with(&self.config, self.keys.verifier(), clock)
            .await
            .expect("a second replica starts");
        self.app.replica(service).await
    }
}

/// A provider with a calendar and one 30-minute type (10 min buffer after),
/// offered on the hour (`slot_step_minutes` 60).
pub struct Clinic {
    pub provider: User,
    pub type_id: Uuid,
    pub tz: chrono_tz::Tz,
}

/// Scheduling's own steps on the running service.
pub trait Scheduling {
    /// A patient scheduling knows (as after `user.registered`).
    async fn patient(&self) -> User;

    /// A provider in `tz` working every day 09:00–12:00 and 13:00–17:00 local,
    /// set up through the API as the provider would.
    async fn clinic(&self, tz: chrono_tz::Tz) -> Clinic;

    /// Free slot starts between `from` and `to`, as `user` sees them.
    async fn slots(
        &self,
        user: &User,
        clinic: &Clinic,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>>;

    /// `POST /api/v1/appointments` for `start` of the clinic's type, as `user`.
    async fn book(&self, user: &User, clinic: &Clinic, start: DateTime<Utc>) -> Response;

    /// `POST /api/v1/appointments` with `body` under an `Idempotency-Key`.
    async fn book_with_key(&self, user: &User, key: &str, body: &Value) -> Response;

    /// Book `start` for `patient` (as `user`, themselves or staff); the appointment's id.
    async fn booked(
        &self,
        user: &User,
        patient: &User,
        clinic: &Clinic,
        start: DateTime<Utc>,
    ) -> String;

    /// `POST /api/v1/appointments/{id}/reschedule` with `body`, as `user`,
    /// under an `Idempotency-Key` when one is given.
    async fn reschedule(&self, user: &User, id: &str, key: Option<&str>, body: &Value) -> Response;

    /// `POST /api/v1/holds` for `start` of the clinic's type, as `user` for themselves.
    async fn hold(&self, user: &User, clinic: &Clinic, start: DateTime<Utc>) -> Response;

    /// `POST /api/v1/waitlist` for the clinic's type with its provider,
    /// between `earliest` and `latest`, as `user` for themselves; the entry.
    async fn waitlisted(
        &self,
        user: &User,
        clinic: &Clinic,
        earliest: DateTime<Utc>,
        latest: DateTime<Utc>,
    ) -> Value;

    /// Wait until the backfill worker has taken every recorded opening (the
    /// offers it made are committed by then).
    async fn backfilled(&self);

    /// A tap on the events `routing_keys` the service relays from now on.
    async fn tap(&self, routing_keys: &[&str]) -> EventTap;
}

impl Scheduling for TestApp {
    async fn patient(&self) -> User {
        let user = self.user(Role::Patient);
        let mut conn = self.db.acquire().await.unwrap();
        readmodel::ensure_patient(&mut conn, user.id).await.unwrap();
        user
    }

    async fn clinic(&self, tz: chrono_tz::Tz) -> Clinic {
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
                    "name": "Consultation", "duration_minutes": 30, "buffer_after_minutes": 10, "slot_step_minutes": 60,
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

    async fn slots(
        &self,
        user: &User,
        clinic: &Clinic,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let path = format!("/api/v1/providers/{}/slots", clinic.provider.id);
        let r = self
            .request(Method::GET, &path, user)
            .query(&[
                ("appointment_type_id", clinic.type_id.to_string()),
                ("from", from.to_rfc3339()),
                ("to", to.to_rfc3339()),
            ])
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

    async fn book(&self, user: &User, clinic: &Clinic, start: DateTime<Utc>) -> Response {
        let body = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id, "start": start});
        self.post(user, "/api/v1/appointments", &body).await
    }

    async fn book_with_key(&self, user: &User, key: &str, body: &Value) -> Response {
        self.request(Method::POST, "/api/v1/appointments", user)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn booked(
        &self,
        user: &User,
        patient: &User,
        clinic: &Clinic,
        start: DateTime<Utc>,
    ) -> String {
        let body = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id,
            "start": start, "patient_id": patient.id});
        let r = self.post(user, "/api/v1/appointments", &body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let a: Value = r.json().await.unwrap();
        a["id"].as_str().unwrap().to_owned()
    }

    async fn reschedule(&self, user: &User, id: &str, key: Option<&str>, body: &Value) -> Response {
        let path = format!("/api/v1/appointments/{id}/reschedule");
        let mut request = self.request(Method::POST, &path, user).json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.unwrap()
    }

    async fn hold(&self, user: &User, clinic: &Clinic, start: DateTime<Utc>) -> Response {
        let body = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id, "start": start});
        self.post(user, "/api/v1/holds", &body).await
    }

    async fn waitlisted(
        &self,
        user: &User,
        clinic: &Clinic,
        earliest: DateTime<Utc>,
        latest: DateTime<Utc>,
    ) -> Value {
        let body = json!({"appointment_type_id": clinic.type_id, "provider_id": clinic.provider.id,
            "earliest": earliest, "latest": latest});
        let r = self.post(user, "/api/v1/waitlist", &body).await;
        let status = r.status();
        let entry: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{entry}");
        entry
    }

    async fn backfilled(&self) {
        let db = &self.db;
        eventually(
            WAIT,
            "the backfill worker to take every opening",
            || async move {
                let left: i64 = sqlx::query_scalar("SELECT count(*) FROM slot_openings")
                    .fetch_one(db)
                    .await
                    .ok()?;
                (left == 0).then_some(())
            },
        )
        .await;
    }

    async fn tap(&self, routing_keys: &[&str]) -> EventTap {
        EventTap::bind(&self.backing, routing_keys).await
    }
}

/// Another type of the clinic's provider, created through the API with
/// `fields` (name, duration, buffers, step…; price and mode are given), as a
/// clinic of its own for the helpers.
pub async fn another_type(app: &TestApp, clinic: &Clinic, fields: Value) -> Clinic {
    let mut body = json!({"price": {"amount_minor": 9000, "currency": "EUR"}, "mode": "in_person"});
    if let (Some(b), Some(f)) = (body.as_object_mut(), fields.as_object()) {
        b.extend(f.clone());
    }
    let r = app
        .post(
            &clinic.provider,
            &format!("/api/v1/providers/{}/appointment-types", clinic.provider.id),
            &body,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let t: Value = r.json().await.unwrap();
    Clinic {
        provider: clinic.provider.clone(),
        type_id: t["id"].as_str().unwrap().parse().unwrap(),
        tz: clinic.tz,
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

/// `amount_minor` cents in euros, the clinic's currency.
pub fn eur(amount_minor: i64) -> Money {
    Money {
        amount_minor,
        currency: "EUR".into(),
    }
}
