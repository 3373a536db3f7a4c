//! Carebook notifications: emails to patients and providers about their
//! appointments (confirmation, reschedule, cancellation, reminders), each with
//! a calendar invitation; about every break-glass access to a record (to the
//! patient, and to the privacy contact or every admin); and about accounts
//! (verification and password-reset links, a registration attempt, a changed
//! password, unusual sign-ins); and to a waitlisted patient when a slot opened
//! for them ("A slot opened", with a one-click claim link). All are sent over
//! SMTP from a delivery log that survives redelivered events, crashes and SMTP
//! outages. An appointment email overtaken by a newer version of its
//! appointment is dropped, not sent; the patient's confirmation and reminders
//! carry the cancel and reschedule links of their own version.
//!
//! Events in (`notifications.appointments`, `notifications.records`,
//! `notifications.accounts`, `notifications.people`), rows in its own database
//! (`people`, `appointments`, `appointment_links`, `reminders`, `deliveries`,
//! `delivery_attempts`, `calendar_feeds`),
//! email out through the [`worker::Worker`]. The API: `GET
//! /api/v1/notifications`, the caller's own emails; a provider's calendar
//! feed, managed at `/api/v1/providers/{id}/calendar-feed` and read without
//! an access token at its secret URL `GET /api/v1/calendar-feeds/{token}`
//! (`calendar_feeds`).

pub mod calendar_feeds;
pub mod clock;
pub mod config;
pub mod consumers;
pub mod domain;
pub mod error;
pub mod mailer;
pub mod routes;
pub mod store;
pub mod worker;

use std::sync::Arc;

use anyhow::Context;
use axum::extract::FromRef;
use platform::{
    auth::Verifier,
    events::{consumer, Broker},
    http::{service_router, Readiness, Shell},
    service::Service,
};
use sqlx::{migrate::Migrator, PgPool};
use utoipa::OpenApi;

pub use config::Config;

use crate::{
    clock::{Clock, SystemClock},
    domain::{account::PortalUrl, message::Templates},
    mailer::Mailer,
    worker::Worker,
};

pub static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// Everything a handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub verifier: Arc<Verifier>,
    /// What "now" is for the calendar feed's window.
    pub clock: Arc<dyn Clock>,
    /// The public base of the calendar feed URLs handed out (the portal's
    /// address, which the gateway serves the API under too).
    pub portal_url: PortalUrl,
}

impl FromRef<AppState> for Arc<Verifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// Connect to the database (creating and migrating it) and the broker.
pub async fn connect(config: &Config) -> anyhow::Result<(PgPool, Broker)> {
    let c = &config.common;
    let db =
        platform::db::prepare(&c.database_url, c.database_max_connections, &MIGRATIONS).await?;
    let broker = Broker::connect(c).await?;
    Ok((db, broker))
}

/// The delivery worker for `config`, on `db`, reading time from `clock`.
pub fn worker(config: &Config, db: PgPool, clock: Arc<dyn Clock>) -> anyhow::Result<Worker> {
    let connections = u32::try_from(config.worker.batch).unwrap_or(1);
    let mailer = Mailer::new(&config.smtp, connections).context("setting up the SMTP transport")?;
    let templates = Arc::new(Templates::new().context("compiling the email templates")?);
    Ok(Worker::new(
        db,
        mailer,
        templates,
        clock,
        config.worker.clone(),
        config.smtp.timeout,
        config.portal_url.clone(),
    ))
}

/// Build the service: router, the four consumers and the delivery worker.
pub async fn build(config: &Config) -> anyhow::Result<Service> {
    build_with_verifier(config, Verifier::from_config(&config.common.auth)).await
}

pub async fn build_with_verifier(
    config: &Config,
    verifier: Arc<Verifier>,
) -> anyhow::Result<Service> {
    build_with(config, verifier, Arc::new(SystemClock)).await
}

/// [`build`] with the token verifier and the clock given (tests move the clock).
pub async fn build_with(
    config: &Config,
    verifier: Arc<Verifier>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Service> {
    let (db, broker) = connect(config).await?;
    let worker = worker(config, db.clone(), clock.clone())?;
    let readiness = Readiness {
        db: db.clone(),
        cache: None,
        broker: Some(broker.clone()),
    };
    let shell = Shell::new("notifications", &config.common, routes::ApiDoc::openapi());
    let appointments = Arc::new(consumers::AppointmentsHandler {
        clock: clock.clone(),
        reminder_offsets: config.reminder_offsets.clone(),
        links_wait: chrono::Duration::from_std(config.links_wait)
            .unwrap_or(chrono::Duration::zero()),
    });
    let records = Arc::new(consumers::RecordsHandler {
        clock: clock.clone(),
        privacy_contact: config.privacy_contact.clone(),
    });
    let accounts = Arc::new(consumers::AccountsHandler {
        clock: clock.clone(),
    });
    let appointments_spec = consumers::appointments_spec(&config.common.queue_prefix);
    let records_spec = consumers::records_spec(&config.common.queue_prefix);
    let accounts_spec = consumers::accounts_spec(&config.common.queue_prefix);
    let people_spec = consumers::people_spec(&config.common.queue_prefix);
    let (b1, d1) = (broker.clone(), db.clone());
    let (b2, d2) = (broker.clone(), db.clone());
    let (b3, d3) = (broker.clone(), db.clone());
    let (b4, d4) = (broker.clone(), db.clone());
    let router = service_router(
        shell,
        routes::router(AppState {
            db: db.clone(),
            verifier,
            clock: clock.clone(),
            portal_url: config.portal_url.clone(),
        }),
        readiness,
    );
    Ok(Service::new("notifications", router)
        .with_worker(move |cancel| consumer::run(b1, d1, appointments_spec, appointments, cancel))
        .with_worker(move |cancel| consumer::run(b3, d3, records_spec, records, cancel))
        .with_worker(move |cancel| consumer::run(b4, d4, accounts_spec, accounts, cancel))
        .with_worker(move |cancel| {
            consumer::run(
                b2,
                d2,
                people_spec,
                Arc::new(consumers::PeopleHandler),
                cancel,
            )
        })
        .with_worker(move |cancel| worker.run(cancel))
        .with_broker(broker))
}
