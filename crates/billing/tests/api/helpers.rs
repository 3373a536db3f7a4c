//! Billing under test: the shared `platform::testing::TestApp` running billing
//! with its own `Config` (tax rate, balance cache) and payment provider,
//! scheduling's appointment events as billing receives them, and the invoice
//! lookups the tests share.

use std::{ops::Deref, sync::Arc, time::Duration};

use billing::{payment_provider::PaymentProvider, Config};
use chrono::{Duration as Span, Utc};
use contracts::{
    scheduling::{
        Appointment, AppointmentBooked, AppointmentCancelled, AppointmentCompleted,
        AppointmentNoShow, AppointmentStatus,
    },
    Event, Money,
};
use identity::testing::TestIssuer;
use platform::{
    events::Envelope,
    testing::{appointment, eventually, TestBacking, User, WAIT},
};
use reqwest::Response;
use serde_json::Value;
use uuid::Uuid;

/// The shared test app, plus the configuration billing was started with.
pub struct TestApp {
    app: platform::testing::TestApp,
    pub config: Config,
}

impl Deref for TestApp {
    type Target = platform::testing::TestApp;

    fn deref(&self) -> &Self::Target {
        &self.app
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}, None).await
}

/// Start billing with adjusted settings and, optionally, another payment provider.
pub async fn spawn_app_with(
    adjust: impl FnOnce(&mut Config),
    payments: Option<Arc<dyn PaymentProvider>>,
) -> TestApp {
    let backing = TestBacking::new("billing");
    let keys = Arc::new(TestIssuer::new());
    let verifier = keys.verifier();
    let mut config = Config {
        common: backing.config.clone(),
        cache_ttl: Duration::from_secs(60),
        tax_rate_bp: 0,
    };
    adjust(&mut config);
    let service = match payments {
        Some(p) => billing::build_with(&config, verifier, p).await,
        None => billing::build_with_verifier(&config, verifier).await,
    }
    .expect("billing starts");
    let consumers = [billing::consumers::spec(&config.common.queue_prefix)];
    let app = platform::testing::TestApp::spawn(backing, service, &consumers, keys).await;
    TestApp { app, config }
}

/// An appointment as scheduling would announce it.
#[derive(Clone)]
pub struct Visit {
    pub id: Uuid,
    pub patient: Uuid,
    pub provider: Uuid,
    pub price_minor: i64,
    pub currency: &'static str,
}

impl Visit {
    pub fn new(patient: &User, provider: &User) -> Self {
        Self {
            id: Uuid::now_v7(),
            patient: patient.id,
            provider: provider.id,
            price_minor: 6000,
            currency: "EUR",
        }
    }

    /// The appointment, two hours ago, at this visit's price, changed by the provider.
    pub fn data(&self, status: AppointmentStatus, version: i32) -> Appointment {
        let start = Utc::now() - Span::hours(2);
        Appointment {
            price: self.money(self.price_minor),
            changed_by: self.provider,
            ..appointment(self.id, self.patient, self.provider, start, status, version)
        }
    }

    fn money(&self, amount_minor: i64) -> Money {
        Money {
            amount_minor,
            currency: self.currency.into(),
        }
    }

    pub fn booked(&self) -> Envelope {
        event::<AppointmentBooked>(&self.data(AppointmentStatus::Booked, 1))
    }

    pub fn completed(&self) -> Envelope {
        event::<AppointmentCompleted>(&self.data(AppointmentStatus::Completed, 3))
    }

    pub fn cancelled(&self, late: bool, fee: Option<i64>) -> Envelope {
        event::<AppointmentCancelled>(&Appointment {
            reason: Some("feeling better".into()),
            late,
            fee: fee.map(|f| self.money(f)),
            changed_by: self.patient,
            ..self.data(AppointmentStatus::Cancelled, 2)
        })
    }

    pub fn no_show(&self, fee: Option<i64>) -> Envelope {
        event::<AppointmentNoShow>(&Appointment {
            fee: fee.map(|f| self.money(f)),
            ..self.data(AppointmentStatus::NoShow, 2)
        })
    }
}

fn event<E: Event<Payload = Appointment>>(appointment: &Appointment) -> Envelope {
    Envelope::of::<E>(appointment).unwrap()
}

impl TestApp {
    /// Record a payment as `user`.
    pub async fn pay(
        &self,
        user: &User,
        invoice: Uuid,
        amount_minor: i64,
        currency: &str,
    ) -> Response {
        self.post(
            user,
            &format!("/api/v1/invoices/{invoice}/payments"),
            &serde_json::json!({
                "amount": money(amount_minor, currency),
                "method": "card",
                "reference": "terminal-42"
            }),
        )
        .await
    }

    pub fn dead_letter_queue(&self) -> String {
        billing::consumers::spec(&self.config.common.queue_prefix).dead_letter_queue()
    }

    /// The invoice billing issued for (appointment, reason), once it exists.
    pub async fn invoice_for(&self, appointment: Uuid, reason: &str) -> Uuid {
        let db = &self.db;
        eventually(WAIT, "the invoice", || async move {
            sqlx::query_scalar("SELECT id FROM invoices WHERE appointment_id = $1 AND reason = $2")
                .bind(appointment)
                .bind(reason)
                .fetch_optional(db)
                .await
                .ok()?
        })
        .await
    }

    /// Complete `visit` through an event and return the invoice it produced.
    pub async fn completed_invoice(&self, visit: &Visit) -> Uuid {
        self.publish(&visit.completed()).await;
        self.invoice_for(visit.id, "completed").await
    }

    /// `sql` (a `count(*)` with one parameter) for `id`.
    pub async fn count(&self, sql: &str, id: Uuid) -> i64 {
        sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// A Redis connection and the key of `patient`'s cached balance.
    pub async fn balance_key(&self, patient: Uuid) -> (redis::aio::MultiplexedConnection, String) {
        let client = redis::Client::open(platform::testing::redis_url()).unwrap();
        let conn = client.get_multiplexed_async_connection().await.unwrap();
        let key = format!(
            "{}billing:balance:{patient}",
            self.config.common.redis_prefix
        );
        (conn, key)
    }
}

/// An amount as the API writes it.
pub fn money(amount_minor: i64, currency: &str) -> Value {
    serde_json::json!({"amount_minor": amount_minor, "currency": currency})
}
