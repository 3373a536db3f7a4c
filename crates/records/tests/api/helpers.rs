//! What records' tests need beyond `platform::testing`: the service built from
//! its `Config` (master keys, cache TTL), a replica with other keys, patients
//! and care relationships learned as in production, notes, the access log, the
//! audit table, and the schemas of its OpenAPI document.

use std::{ops::Deref, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use contracts::scheduling::{
    Appointment, AppointmentBooked, AppointmentCancelled, AppointmentCheckedIn,
    AppointmentCompleted, AppointmentNoShow, AppointmentStatus,
};
use identity::testing::TestIssuer;
use platform::{
    auth::Role,
    events::{ConsumerSpec, Envelope},
    testing::{self, appointment, Replica, TestBacking, User},
};
use records::{keys::MasterKeys, Config};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

/// The real records service (`platform::testing::TestApp`) with the
/// configuration it was built from and the key its tokens are signed with.
pub struct TestApp {
    app: testing::TestApp,
    pub config: Config,
    pub keys: Arc<TestIssuer>,
}

impl Deref for TestApp {
    type Target = testing::TestApp;

    fn deref(&self) -> &Self::Target {
        &self.app
    }
}

/// A fresh master key entry `id:base64`.
pub fn master_key(id: &str) -> String {
    records::keys::generate(id).unwrap()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Start the service with its configuration adjusted by `adjust`.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let backing = TestBacking::new("records");
    let mut config = Config {
        common: backing.config.clone(),
        master_keys: MasterKeys::parse(&master_key("test-a")).unwrap(),
        cache_ttl: Duration::from_secs(300),
        break_glass: chrono::Duration::minutes(30),
        break_glass_daily_limit: 3,
        care: platform::care::CarePolicy::default(),
    };
    config.common.max_body_bytes = 256 * 1024;
    adjust(&mut config);
    let keys = Arc::new(TestIssuer::new());
    let service = records::build_with_verifier(&config, keys.verifier())
        .await
        .expect("records starts");
    let app = testing::TestApp::spawn(backing, service, &specs(&config), keys.clone()).await;
    TestApp { app, config, keys }
}

/// The service's two consumers: care relationships and patients.
fn specs(config: &Config) -> [ConsumerSpec; 2] {
    let prefix = &config.common.queue_prefix;
    [
        records::consumers::care_spec(prefix),
        records::consumers::patients_spec(prefix),
    ]
}

impl TestApp {
    /// A patient records knows of (as after `user.registered`).
    pub async fn patient(&self) -> User {
        let user = self.user(Role::Patient);
        let mut conn = self.db.acquire().await.unwrap();
        records::store::care::ensure_patient(&mut conn, user.id)
            .await
            .unwrap();
        user
    }

    /// A provider with a booked appointment with `patient`, learned the way
    /// production learns it: scheduling's `appointment.booked` on the exchange.
    pub async fn provider_caring_for(&self, patient: &User) -> (User, Uuid) {
        let provider = self.user(Role::Provider);
        let booked = appointment(
            Uuid::now_v7(),
            patient.id,
            provider.id,
            Utc::now() + chrono::Duration::days(2),
            AppointmentStatus::Booked,
            1,
        );
        self.deliver(&Envelope::of::<AppointmentBooked>(&booked).unwrap())
            .await;
        (provider, booked.appointment_id)
    }

    /// Scheduling's `appointment.<status>` event for `a`, as if it happened at
    /// `occurred_at`, delivered and applied.
    pub async fn appointment_event(&self, a: &Appointment, occurred_at: DateTime<Utc>) {
        let mut event = match a.status {
            AppointmentStatus::Booked => Envelope::of::<AppointmentBooked>(a),
            AppointmentStatus::CheckedIn => Envelope::of::<AppointmentCheckedIn>(a),
            AppointmentStatus::Completed => Envelope::of::<AppointmentCompleted>(a),
            AppointmentStatus::Cancelled => Envelope::of::<AppointmentCancelled>(a),
            AppointmentStatus::NoShow => Envelope::of::<AppointmentNoShow>(a),
        }
        .unwrap();
        event.occurred_at = occurred_at;
        self.deliver(&event).await;
    }

    /// A new provider with one appointment with `patient` starting at `start`,
    /// booked, then changed to each of `changes` (status, when) in turn.
    pub async fn provider_with_appointment(
        &self,
        patient: &User,
        start: DateTime<Utc>,
        changes: &[(AppointmentStatus, DateTime<Utc>)],
    ) -> (User, Uuid) {
        let provider = self.user(Role::Provider);
        let id = Uuid::now_v7();
        let booked = appointment(
            id,
            patient.id,
            provider.id,
            start,
            AppointmentStatus::Booked,
            1,
        );
        self.appointment_event(&booked, Utc::now()).await;
        for (i, (status, at)) in changes.iter().enumerate() {
            let version = i32::try_from(i).unwrap() + 2;
            let changed = appointment(id, patient.id, provider.id, start, *status, version);
            self.appointment_event(&changed, *at).await;
        }
        (provider, id)
    }

    /// Break the glass as `provider` for `patient` with `body`; the response.
    pub async fn break_glass(
        &self,
        provider: &User,
        patient: Uuid,
        body: &Value,
    ) -> reqwest::Response {
        self.post(
            provider,
            &format!("/api/v1/patients/{patient}/records/break-glass"),
            body,
        )
        .await
    }

    /// Break the glass with a valid reason; the grant.
    pub async fn grant(&self, provider: &User, patient: Uuid) -> Value {
        let r = self
            .break_glass(
                provider,
                patient,
                &json!({"reason": "unconscious patient in the emergency room"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }

    /// Write a note as `author` for `patient`; the created entry.
    pub async fn note(&self, author: &User, patient: Uuid, text: &str) -> Value {
        let r = self
            .post(author, &notes(patient), &json!({ "text": text }))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }

    /// The patient's access log, as the patient sees it.
    pub async fn access_log(&self, patient: &User) -> Vec<Value> {
        let body = self
            .get_ok(
                patient,
                &format!(
                    "/api/v1/patients/{}/records/access-log?limit=100",
                    patient.id
                ),
            )
            .await;
        body["items"].as_array().unwrap().clone()
    }

    pub async fn audit_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_log")
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// Start another instance on the same database with its configuration adjusted.
    pub async fn replica(&self, adjust: impl FnOnce(&mut Config)) -> Replica {
        let mut config = self.config.clone();
        adjust(&mut config);
        let service = records::build_with_verifier(&config, self.keys.verifier())
            .await
            .expect("replica starts");
        self.app.replica(service).await
    }

    /// A validator for component schema `name` of the document this service
    /// serves at `/openapi.json`: responses must match what it promises.
    pub async fn schema(&self, name: &str) -> jsonschema::Validator {
        let doc: Value = reqwest::get(self.url("/openapi.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let root = json!({
            "$ref": format!("#/components/schemas/{name}"),
            "components": doc["components"],
        });
        jsonschema::draft202012::new(&root).expect("the document's schemas compile")
    }
}

pub fn notes(patient: Uuid) -> String {
    format!("/api/v1/patients/{patient}/records/notes")
}
