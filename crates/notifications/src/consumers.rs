//! The four consumers: appointment events become deliveries and reminders,
//! their self-service links are kept for the patient's emails of their version,
//! and waitlist offers become a delivery to the patient; break-glass grants
//! become deliveries to the patient and to whoever reviews them; account
//! events become a delivery to the account's holder; identity's and the
//! directory's events keep the people read model (whom to write to).
//! All run in the platform's idempotent consumer: whatever a handler writes
//! commits together with the event's `processed_events` row.

use std::sync::Arc;

use async_trait::async_trait;
use platform::{
    auth::Role,
    events::{ConsumerSpec, Envelope, EventHandler, HandleError},
};
use sqlx::PgConnection;

use contracts::{
    directory::{PatientUpdated, ProviderUpdated},
    identity::UserRegistered,
    records::BreakGlassGranted,
    scheduling::{
        AppointmentCheckedIn, AppointmentCompleted, AppointmentLinksIssued, AppointmentNoShow,
        Hold, HoldExpired, HoldReleased, WaitlistOffered,
    },
    subscriptions, Event,
};

use crate::{
    clock::Clock,
    domain::{
        account::AccountEmail,
        appointment::{Appointment, AppointmentExt},
        break_glass,
        format::own_zone,
        kinds::{About, Kind, Recipient, PRIVACY_CONTACT_ID},
        links::{self, StoredLinks},
        message::{subject, zones},
        reminders,
        waitlist::{self, Offer},
    },
    store::{self, deliveries::NewDelivery},
};

/// Appointment changes, to email about; their self-service links; waitlist
/// offers.
pub fn appointments_spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::of(queue_prefix, &subscriptions::NOTIFICATIONS_APPOINTMENTS)
}

/// Break-glass grants, to tell the patient and the privacy contact about.
pub fn records_spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::of(queue_prefix, &subscriptions::NOTIFICATIONS_RECORDS)
}

/// Account links and notices identity asks to have emailed.
pub fn accounts_spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::of(queue_prefix, &subscriptions::NOTIFICATIONS_ACCOUNTS)
}

/// People's names and addresses.
pub fn people_spec(queue_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::of(queue_prefix, &subscriptions::NOTIFICATIONS_PEOPLE)
}

/// Turns an appointment event into one delivery per recipient and plans,
/// moves or cancels its reminders; keeps the self-service links of an
/// appointment's newest version; turns a waitlist offer into an email to its
/// patient.
pub struct AppointmentsHandler {
    pub clock: Arc<dyn Clock>,
    pub reminder_offsets: Vec<chrono::Duration>,
    /// How long the patient's confirmation waits for its links (`links_wait`).
    pub links_wait: chrono::Duration,
}

#[async_trait]
impl EventHandler for AppointmentsHandler {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        match event.event_type.as_str() {
            AppointmentLinksIssued::TYPE => return self.links_issued(conn, event).await,
            WaitlistOffered::TYPE => return self.offered(conn, event).await,
            AppointmentCheckedIn::TYPE | AppointmentCompleted::TYPE | AppointmentNoShow::TYPE => {
                return self.visit_step(conn, event).await
            }
            HoldExpired::TYPE | HoldReleased::TYPE => return self.hold_ended(conn, event).await,
            _ => {}
        }
        let Some(kind) = Kind::for_event(&event.event_type) else {
            return Err(HandleError::unsupported(&event.event_type, event.version));
        };
        let a: Appointment = event.data_as()?;
        a.validate()
            .map_err(|e| HandleError::Malformed(e.to_string()))?;
        if !store::appointments::apply(conn, &a).await? {
            // An older (or the same) version after a newer one: what it says was
            // already superseded, and sending it now would contradict the newer email.
            metrics::counter!("notifications_superseded_total", "kind" => kind.label(), "at" => "event")
                .increment(1);
            tracing::info!(appointment_id = %a.appointment_id, version = a.version, kind = kind.label(), "stale appointment event ignored");
            return Ok(());
        }
        // The links of older versions no longer work: forget them now.
        let have_links = store::links::keep_only(conn, a.appointment_id, a.version).await?;
        let now = self.clock.now();
        match kind {
            Kind::Cancelled => {
                store::reminders::cancel_pending(conn, a.appointment_id).await?;
            }
            _ => {
                let offsets = reminders::offsets_for(
                    a.reminder_offsets_minutes.as_deref(),
                    &self.reminder_offsets,
                );
                let planned = reminders::plan(a.start, &offsets, now);
                store::reminders::replace(conn, a.appointment_id, a.version, &planned).await?;
            }
        }
        // Each recipient's subject is on their own clock: the patient's zone
        // as known now (the body is rendered when sent, with the zone then).
        let patient_zone = store::people::zone(conn, a.patient_id).await?;
        let subjects = [
            subject(kind, &a, zones(&a, Recipient::Patient, patient_zone)),
            subject(kind, &a, zones(&a, Recipient::Provider, None)),
        ];
        let (appointment_id, version) = (a.appointment_id, a.version);
        let recipients = [
            (Recipient::Patient, a.patient_id),
            (Recipient::Provider, a.provider_id),
        ];
        let about = About::Appointment {
            kind,
            appointment: a,
        };
        let deliveries = recipients
            .into_iter()
            .zip(&subjects)
            .map(|((recipient, recipient_id), subject)| NewDelivery {
                about: &about,
                recipient_id,
                recipient,
                address: None,
                subject,
                now,
                due_at: links::due_at(kind, recipient, have_links, now, self.links_wait),
            })
            .collect::<Vec<_>>();
        let created = store::deliveries::insert_all(conn, &deliveries).await?;
        tracing::info!(%appointment_id, version, kind = kind.label(), created, "deliveries recorded");
        Ok(())
    }
}

impl AppointmentsHandler {
    /// Keep the links of an appointment version (unless a newer version is
    /// known or the appointment has started) and make its patient's
    /// confirmation, if it is waiting for them, due now. The tokens are never
    /// logged.
    async fn links_issued(
        &self,
        conn: &mut PgConnection,
        event: &Envelope,
    ) -> Result<(), HandleError> {
        let issued = event.decode::<AppointmentLinksIssued>()?;
        if issued.version < 1 {
            return Err(HandleError::Malformed("version must be at least 1".into()));
        }
        let links = StoredLinks::from(issued);
        let (appointment_id, version) = (links.appointment_id, links.version);
        let now = self.clock.now();
        let newest = store::links::newest_version(conn, appointment_id).await?;
        if let Err(why) = links::keep(version, links.expires_at, newest, now) {
            metrics::counter!("notifications_links_dropped_total", "reason" => why.reason())
                .increment(1);
            tracing::info!(%appointment_id, version, reason = why.reason(), "self-service links not kept");
            return Ok(());
        }
        if !store::links::store(conn, &links, now).await? {
            // These links (or another issue of this version's) are kept already.
            return Ok(());
        }
        let woken = store::links::wake_confirmation(conn, appointment_id, version, now).await?;
        tracing::info!(%appointment_id, version, woken, "self-service links kept");
        Ok(())
    }

    /// One email per offer, to its patient at the address the people read
    /// model knows. The payload (with its claim token) is stored for the
    /// worker to render, and its token removed once the email is final.
    /// A visit checked in, completed or missed: nobody is emailed, but the
    /// read model follows (the calendar feed shows the visit's status, a
    /// no-show drops out of it) and no reminder is left to send.
    async fn visit_step(
        &self,
        conn: &mut PgConnection,
        event: &Envelope,
    ) -> Result<(), HandleError> {
        let a: Appointment = event.data_as()?;
        a.validate()
            .map_err(|e| HandleError::Malformed(e.to_string()))?;
        if store::appointments::apply(conn, &a).await? {
            store::reminders::cancel_pending(conn, a.appointment_id).await?;
        }
        Ok(())
    }

    /// A hold ended unbooked. When it was a waitlist offer whose email went
    /// out, the patient is told, with a cancellation of the tentative
    /// calendar entry the offer email carried; other holds need no email.
    async fn hold_ended(
        &self,
        conn: &mut PgConnection,
        event: &Envelope,
    ) -> Result<(), HandleError> {
        let hold: Hold = event.data_as()?;
        if hold.waitlist_entry_id.is_none() {
            return Ok(());
        }
        let Some(snapshot) = store::deliveries::sent_offer_for_hold(conn, hold.hold_id).await?
        else {
            // Never emailed (or not yet): nothing is in the patient's calendar.
            return Ok(());
        };
        let offer: Offer =
            serde_json::from_value(snapshot).map_err(|e| HandleError::Malformed(e.to_string()))?;
        let now = self.clock.now();
        let about = About::OfferEnded(offer);
        let created = store::deliveries::insert(
            conn,
            &NewDelivery {
                about: &about,
                recipient_id: hold.patient_id,
                recipient: Recipient::Patient,
                address: None,
                subject: waitlist::ENDED_SUBJECT,
                now,
                due_at: now,
            },
        )
        .await?;
        tracing::info!(hold_id = %hold.hold_id, kind = about.label(), created, "deliveries recorded");
        Ok(())
    }

    async fn offered(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let offer = Offer(event.decode::<WaitlistOffered>()?);
        offer
            .validate()
            .map_err(|e| HandleError::Malformed(e.to_string()))?;
        let (offer_id, patient_id) = (offer.0.offer_id, offer.0.patient_id);
        let now = self.clock.now();
        let about = About::WaitlistOffer(offer);
        let created = store::deliveries::insert(
            conn,
            &NewDelivery {
                about: &about,
                recipient_id: patient_id,
                recipient: Recipient::Patient,
                address: None,
                subject: waitlist::SUBJECT,
                now,
                due_at: now,
            },
        )
        .await?;
        tracing::info!(%offer_id, %patient_id, kind = about.label(), created, "deliveries recorded");
        Ok(())
    }
}

/// Turns a break-glass grant into an email to the patient and one to the
/// privacy contact, or, when none is configured, one to every admin known.
pub struct RecordsHandler {
    pub clock: Arc<dyn Clock>,
    /// `NOTIFICATIONS_PRIVACY_CONTACT`.
    pub privacy_contact: Option<lettre::Address>,
}

#[async_trait]
impl EventHandler for RecordsHandler {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        if event.event_type != BreakGlassGranted::TYPE {
            return Err(HandleError::unsupported(&event.event_type, event.version));
        }
        let grant = event.decode::<BreakGlassGranted>()?;
        let grant_id = grant.grant_id;
        let now = self.clock.now();
        // Each grant happens once: a redelivered or repeated event finds its
        // deliveries already recorded (the unique key) and adds nothing. A
        // late one is still sent: the access happened, whenever we hear of it.
        let mut recipients = vec![(Recipient::Patient, grant.patient_id, None)];
        match &self.privacy_contact {
            Some(address) => recipients.push((
                Recipient::PrivacyContact,
                PRIVACY_CONTACT_ID,
                Some(address.to_string()),
            )),
            None => {
                let admins = store::people::admins(conn).await?;
                if admins.is_empty() {
                    tracing::warn!(%grant_id, "no privacy contact configured and no admin known: only the patient is told of this break-glass access");
                }
                recipients.extend(admins.into_iter().map(|p| (Recipient::Admin, p.id, None)));
            }
        }
        let about = About::BreakGlass(grant);
        let mut created = 0;
        for (recipient, recipient_id, address) in &recipients {
            let fresh = store::deliveries::insert(
                conn,
                &NewDelivery {
                    about: &about,
                    recipient_id: *recipient_id,
                    recipient: *recipient,
                    address: address.as_deref(),
                    subject: break_glass::subject(*recipient),
                    now,
                    due_at: now,
                },
            )
            .await?;
            created += usize::from(fresh);
        }
        tracing::info!(%grant_id, kind = about.label(), created, "deliveries recorded");
        Ok(())
    }
}

/// Turns an account event into one email to the account's holder, at the
/// address the event names. Each event is one email: its id is the delivery's
/// subject, so a redelivered event (or a replayed one) adds nothing, while a
/// second link asked for is a second email. The payload (with its token) is
/// stored for the worker to render, and its token removed once sent.
pub struct AccountsHandler {
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl EventHandler for AccountsHandler {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        if event.version != 1 {
            return Err(HandleError::unsupported(&event.event_type, event.version));
        }
        // serde's messages name fields and types, never a string's value: no
        // token or address reaches the dead-letter reason.
        let Some(email) = AccountEmail::from_event(&event.event_type, &event.data)? else {
            return Err(HandleError::unsupported(&event.event_type, event.version));
        };
        let (user_id, subject) = (email.user_id(), email.subject());
        let now = self.clock.now();
        let address = email.address().to_owned();
        let about = About::Account {
            event_id: event.id,
            email,
        };
        let created = store::deliveries::insert(
            conn,
            &NewDelivery {
                about: &about,
                recipient_id: user_id,
                recipient: Recipient::AccountHolder,
                address: Some(&address),
                subject,
                now,
                due_at: now,
            },
        )
        .await?;
        tracing::info!(event_id = %event.id, %user_id, kind = about.label(), created, "deliveries recorded");
        Ok(())
    }
}

/// Keeps names, addresses and own time zones of patients, providers and
/// admins. A zone that is missing, or not an IANA name this build knows, is
/// unknown: it leaves a stored one alone and never fails the event.
pub struct PeopleHandler;

#[async_trait]
impl EventHandler for PeopleHandler {
    async fn handle(&self, conn: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let at = event.occurred_at;
        match event.event_type.as_str() {
            UserRegistered::TYPE => {
                let u = event.decode::<UserRegistered>()?;
                let role = match u.role {
                    Role::Patient => Recipient::Patient,
                    Role::Provider => Recipient::Provider,
                    // Admins review break-glass access (without a privacy contact).
                    Role::Admin => Recipient::Admin,
                    // Staff get no emails: keep nothing about them.
                    Role::Staff => return Ok(()),
                };
                let zone = person_zone(u.time_zone.as_deref(), u.user_id);
                store::people::upsert(conn, u.user_id, role, &u.name, Some(&u.email), zone, at)
                    .await?;
            }
            PatientUpdated::TYPE => {
                let p = event.decode::<PatientUpdated>()?;
                store::people::upsert(
                    conn,
                    p.patient_id,
                    Recipient::Patient,
                    &p.name,
                    Some(&p.email),
                    person_zone(p.time_zone.as_deref(), p.patient_id),
                    at,
                )
                .await?;
            }
            ProviderUpdated::TYPE => {
                let p = event.decode::<ProviderUpdated>()?;
                // The provider's `time_zone` is their calendar's, which every
                // appointment carries: emails to providers use that one.
                store::people::upsert(
                    conn,
                    p.provider_id,
                    Recipient::Provider,
                    &p.name,
                    None,
                    None,
                    at,
                )
                .await?;
            }
            other => return Err(HandleError::unsupported(other, event.version)),
        }
        Ok(())
    }
}

/// The person's zone if the event names a known one; a name given but not
/// known is counted (never logged: it came from a browser) and ignored.
fn person_zone(name: Option<&str>, person_id: uuid::Uuid) -> Option<chrono_tz::Tz> {
    let zone = own_zone(name);
    if zone.is_none() && name.is_some() {
        metrics::counter!("notifications_time_zones_ignored_total").increment(1);
        tracing::info!(%person_id, "unknown time zone ignored");
    }
    zone
}
