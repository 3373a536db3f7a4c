//! What notifications' tests need beyond `platform::testing`: the service built
//! with a clock the test moves and a fast worker, people registered through
//! identity's event, a booking to announce as scheduling would, and queries on
//! the delivery log and the reminders.

use std::{ops::Deref, sync::Arc, time::Duration};

use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use contracts::{
    identity::UserRegistered,
    scheduling::{
        Appointment, AppointmentBooked, AppointmentCancelled, AppointmentRescheduled,
        AppointmentStatus,
    },
};
use identity::testing::TestIssuer;
use notifications::{
    clock::{Clock, SettableClock},
    config::SmtpConfig,
    consumers, Config,
};
use platform::{
    auth::Role,
    events::{ConsumerSpec, Envelope},
    testing::{self, eventually, maildev::MailDev, TestBacking, User, WAIT},
};
use uuid::Uuid;

/// The shared test app, with notifications' config and the clock it reads.
pub struct TestApp {
    app: testing::TestApp,
    pub config: Config,
    pub clock: Arc<SettableClock>,
}

impl Deref for TestApp {
    type Target = testing::TestApp;

    fn deref(&self) -> &Self::Target {
        &self.app
    }
}

/// The service sending to `mail`, with a clock the test moves, a fast worker,
/// quick retries (100 ms doubling to 1 s, 50 attempts), and confirmations that
/// do not wait for self-service links (the tests of links set the wait).
pub async fn spawn_app(mail: &MailDev) -> TestApp {
    spawn_app_with(mail, |_| {}).await
}

pub async fn spawn_app_with(mail: &MailDev, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let backing = TestBacking::new("notifications");
    let keys = TestIssuer::new();
    let mut config = Config::new(backing.config.clone(), SmtpConfig::local(mail.smtp_port));
    config.worker.poll_interval = Duration::from_millis(50);
    config.worker.retry.base = Duration::from_millis(100);
    config.worker.retry.max_delay = Duration::from_secs(1);
    config.worker.retry.max_attempts = 50;
    config.links_wait = Duration::ZERO;
    tweak(&mut config);
    let clock = Arc::new(SettableClock::running());
    let service =
        notifications::build_with(&config, keys.verifier(), clock.clone() as Arc<dyn Clock>)
            .await
            .expect("notifications starts");
    let app = testing::TestApp::spawn(backing, service, &specs(&config), Arc::new(keys)).await;
    TestApp { app, config, clock }
}

/// The service's four consumers: appointments, people, records and accounts.
pub fn specs(config: &Config) -> [ConsumerSpec; 4] {
    [
        consumers::appointments_spec(&config.common.queue_prefix),
        consumers::people_spec(&config.common.queue_prefix),
        consumers::records_spec(&config.common.queue_prefix),
        consumers::accounts_spec(&config.common.queue_prefix),
    ]
}

/// A patient, provider or admin known to notifications (by `user.registered`).
#[derive(Clone, Debug)]
pub struct Person {
    pub user: User,
    pub email: String,
}

/// A booking as scheduling would announce it.
#[derive(Clone, Debug)]
pub struct Booking {
    pub appointment_id: Uuid,
    pub patient: Person,
    pub provider: Person,
    pub start: DateTime<Utc>,
}

impl TestApp {
    /// Register someone through identity's event and wait until notifications knows them.
    pub async fn register(&self, role: Role, name: &str, email: &str) -> Person {
        self.register_in(role, name, email, None).await
    }

    /// Register someone who registered from `time_zone` (an IANA name, or
    /// anything a browser might send) and wait until notifications knows them.
    pub async fn register_in(
        &self,
        role: Role,
        name: &str,
        email: &str,
        time_zone: Option<&str>,
    ) -> Person {
        let user = self.user(role);
        let registered = UserRegistered {
            user_id: user.id,
            role,
            name: name.to_owned(),
            email: email.to_owned(),
            time_zone: time_zone.map(str::to_owned),
        };
        self.deliver(&Envelope::of::<UserRegistered>(&registered).unwrap())
            .await;
        Person {
            user,
            email: email.to_owned(),
        }
    }

    /// A patient and a provider, and an appointment between them `days` ahead
    /// at a whole hour (not yet announced).
    pub async fn booking(&self, days: i64) -> Booking {
        self.booking_for_patient_in(days, None).await
    }

    /// [`Self::booking`] with a patient who registered from `time_zone` (the
    /// provider's calendar is in Europe/Berlin).
    pub async fn booking_for_patient_in(&self, days: i64, time_zone: Option<&str>) -> Booking {
        let n = Uuid::now_v7().simple().to_string();
        let patient = self
            .register_in(
                Role::Patient,
                "Paula Patient",
                &format!("paula.{}@example.org", &n[20..]),
                time_zone,
            )
            .await;
        let provider = self
            .register(
                Role::Provider,
                "Dr. Lena Vogel",
                &format!("vogel.{}@example.org", &n[20..]),
            )
            .await;
        let start = (self.clock.now() + Span::days(days))
            .duration_trunc(Span::hours(1))
            .unwrap();
        Booking {
            appointment_id: Uuid::now_v7(),
            patient,
            provider,
            start,
        }
    }

    /// Deliveries as (kind, version, recipient_id, status, attempts).
    pub async fn deliveries(&self, appointment_id: Uuid) -> Vec<(String, i32, Uuid, String, i32)> {
        sqlx::query_as(
            "SELECT kind, version, recipient_id, status, attempts FROM deliveries
             WHERE appointment_id = $1 ORDER BY created_at, id",
        )
        .bind(appointment_id)
        .fetch_all(&self.db)
        .await
        .unwrap()
    }

    /// The time zone notifications keeps for a person.
    pub async fn stored_zone(&self, id: Uuid) -> Option<String> {
        sqlx::query_scalar("SELECT time_zone FROM people WHERE id = $1")
            .bind(id)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// Reminders as (offset_minutes, version, due_at, status).
    pub async fn reminders(&self, appointment_id: Uuid) -> Vec<(i32, i32, DateTime<Utc>, String)> {
        sqlx::query_as(
            "SELECT offset_minutes, version, due_at, status FROM reminders
             WHERE appointment_id = $1 ORDER BY offset_minutes DESC",
        )
        .bind(appointment_id)
        .fetch_all(&self.db)
        .await
        .unwrap()
    }

    /// Wait until the appointment has deliveries and every one reached a final state.
    pub async fn settled(&self, appointment_id: Uuid) {
        eventually(WAIT, "every delivery settled", || async move {
            let (all, open): (i64, i64) = sqlx::query_as(
                "SELECT count(*), count(*) FILTER (WHERE status IN ('pending', 'sending'))
                 FROM deliveries WHERE appointment_id = $1",
            )
            .bind(appointment_id)
            .fetch_one(&self.db)
            .await
            .ok()?;
            (all > 0 && open == 0).then_some(())
        })
        .await;
    }
}

impl Booking {
    /// The appointment as of `version`, in `status`.
    pub fn appointment(&self, status: AppointmentStatus, version: i32) -> Appointment {
        testing::appointment(
            self.appointment_id,
            self.patient.user.id,
            self.provider.user.id,
            self.start,
            status,
            version,
        )
    }

    pub fn booked(&self) -> Envelope {
        Envelope::of::<AppointmentBooked>(&self.appointment(AppointmentStatus::Booked, 1)).unwrap()
    }

    /// Moved to `new_start` as version `version`.
    pub fn rescheduled(&mut self, new_start: DateTime<Utc>, version: i32) -> Envelope {
        let previous = self.start;
        self.start = new_start;
        let moved = Appointment {
            previous_start: Some(previous),
            previous_end: Some(previous + Span::minutes(30)),
            ..self.appointment(AppointmentStatus::Booked, version)
        };
        Envelope::of::<AppointmentRescheduled>(&moved).unwrap()
    }

    pub fn cancelled(&self, version: i32, reason: &str) -> Envelope {
        let cancelled = Appointment {
            reason: Some(reason.to_owned()),
            ..self.appointment(AppointmentStatus::Cancelled, version)
        };
        Envelope::of::<AppointmentCancelled>(&cancelled).unwrap()
    }
}

/// Unfolded `.ics` lines.
pub fn ics_lines(ics: &str) -> Vec<String> {
    ics.replace("\r\n ", "")
        .split("\r\n")
        .map(str::to_owned)
        .collect()
}

/// `20260303T090000Z`.
pub fn ics_utc(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}
