//! What the directory's tests need beyond `platform::testing`: the service
//! built from its `Config`, a second replica, profile fixtures, the cache's
//! Redis keys and a tap on what the directory publishes.

use std::{ops::Deref, sync::Arc, time::Duration};

use contracts::scheduling::{Appointment, AppointmentStatus};
use directory::Config;
use identity::testing::TestIssuer;
use platform::{
    auth::Role,
    care::CarePolicy,
    events::ConsumerSpec,
    testing::{eventually, Replica, TestBacking, User, WAIT},
};
use uuid::Uuid;

/// The real directory service (`platform::testing::TestApp`), with the
/// configuration it was built from and the key its tokens are signed with.
pub struct TestApp {
    app: platform::testing::TestApp,
    pub config: Config,
    pub keys: Arc<TestIssuer>,
}

impl Deref for TestApp {
    type Target = platform::testing::TestApp;

    fn deref(&self) -> &Self::Target {
        &self.app
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Start the service with its configuration adjusted by `adjust`.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let backing = TestBacking::new("directory");
    let mut config = Config {
        common: backing.config.clone(),
        cache_ttl: Duration::from_secs(300),
        care: CarePolicy::default(),
    };
    adjust(&mut config);
    let keys = Arc::new(TestIssuer::new());
    let service = directory::build_with_verifier(&config, keys.verifier())
        .await
        .expect("directory starts");
    let app =
        platform::testing::TestApp::spawn(backing, service, &consumer_specs(&config), keys.clone())
            .await;
    TestApp { app, config, keys }
}

/// The queues the directory consumes from.
fn consumer_specs(config: &Config) -> [ConsumerSpec; 2] {
    let prefix = &config.common.queue_prefix;
    [
        directory::consumers::registrations_spec(prefix),
        directory::consumers::care_spec(prefix),
    ]
}

/// Another replica of the same service (same database and exchange); stops when dropped.
impl TestApp {
    /// Start a second replica of this service, its configuration adjusted by `adjust`.
    pub async fn replica(&self, adjust: impl FnOnce(&mut Config)) -> Replica {
        let mut config = self.config.clone();
        adjust(&mut config);
        let service = directory::build_with_verifier(&config, self.keys.verifier())
            .await
            .expect("replica starts");
        self.app.replica(service).await
    }

    /// A provider profile inserted straight into the database.
    pub async fn insert_provider(&self, name: &str, specialty: &str, bio: &str) -> Uuid {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO providers (id, name, specialty, bio, time_zone) VALUES ($1, $2, $3, $4, 'UTC')",
        )
        .bind(id)
        .bind(name)
        .bind(specialty)
        .bind(bio)
        .execute(&self.db)
        .await
        .unwrap();
        id
    }

    /// A patient profile inserted straight into the database (as after registration).
    pub async fn insert_patient(&self, name: &str) -> Uuid {
        let id = Uuid::now_v7();
        sqlx::query("INSERT INTO patients (id, name, email) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(name)
            .bind(format!("{}@example.org", id.simple()))
            .execute(&self.db)
            .await
            .unwrap();
        id
    }

    /// A patient with a profile and a token of their own.
    pub async fn patient(&self, name: &str) -> User {
        let id = self.insert_patient(name).await;
        self.user_with_id(id, Role::Patient)
    }

    /// A direct Redis connection, and the key the service caches `entity` `id` under.
    pub async fn redis_key(
        &self,
        entity: &str,
        id: Uuid,
    ) -> (redis::aio::MultiplexedConnection, String) {
        let client = redis::Client::open(platform::testing::redis_url()).unwrap();
        let conn = client.get_multiplexed_async_connection().await.unwrap();
        let key = format!("{}directory:{entity}:{id}", self.config.common.redis_prefix);
        (conn, key)
    }
}

/// An appointment of `patient` with `provider` two days ahead (inside its care
/// window), as scheduling announces it when booked.
pub fn booking(appointment_id: Uuid, patient: Uuid, provider: Uuid) -> Appointment {
    booking_at(
        appointment_id,
        patient,
        provider,
        chrono::Utc::now() + chrono::Duration::days(2),
    )
}

/// An appointment of `patient` with `provider` starting at `start`, as
/// scheduling announces it when booked.
pub fn booking_at(
    appointment_id: Uuid,
    patient: Uuid,
    provider: Uuid,
    start: chrono::DateTime<chrono::Utc>,
) -> Appointment {
    platform::testing::appointment(
        appointment_id,
        patient,
        provider,
        start,
        AppointmentStatus::Booked,
        1,
    )
}

/// Read `/patients/me` until Redis holds the profile under `key` with `name`.
pub async fn eventually_cached(app: &TestApp, patient: &User, key: &str, name: &str) {
    let (redis, _) = app.redis_key("patient", Uuid::nil()).await;
    eventually(WAIT, "the profile to be cached again", || {
        let mut redis = redis.clone();
        async move {
            let me = app.get_ok(patient, "/api/v1/patients/me").await;
            assert_eq!(me["name"], name);
            let cached: Option<String> = redis::AsyncCommands::get(&mut redis, key).await.ok()?;
            cached.filter(|c| c.contains(name)).map(|_| ())
        }
    })
    .await;
}
