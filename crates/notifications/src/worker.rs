//! The delivery worker: turns due reminders into deliveries and sends due
//! deliveries over SMTP. Any number of replicas run it at once: reminders are
//! claimed with `FOR UPDATE SKIP LOCKED` inside the transaction that creates
//! their deliveries, and deliveries are leased (`sending`, `lease_until`) by one
//! committed statement before the SMTP transaction begins.
//!
//! # What is guaranteed
//!
//! Exactly-once delivery over SMTP is impossible: the server's "250 accepted"
//! and our "sent" mark cannot be made atomic, and a reply lost to a timeout
//! leaves it unknown whether the server took the message. What holds:
//!
//! * **One delivery row per (appointment or grant, kind, version, recipient)**,
//!   ever: the row is created in the consumer's transaction (with the event's
//!   `processed_events` row) or the reminder claim's, under a UNIQUE key.
//!   Redelivered events and retried claims create nothing new.
//! * **No concurrent sends of one row:** the lease outlives the send's own
//!   deadline, so another replica only takes a row over when its holder is gone.
//! * **At most one duplicate per crash or ambiguous failure:** a worker that dies
//!   (or loses the database) after the server accepted but before `sent` was
//!   recorded leaves the row `sending`; when its lease runs out the row is sent
//!   again. The same happens when the reply to DATA is lost (timeout).
//! * **Receivers can drop that duplicate:** every attempt carries the same
//!   Message-ID, derived from the delivery's unique key.
//! * **Nothing is retried forever:** a 5xx reply or an unusable address fails the
//!   delivery at once; transient failures back off exponentially and fail after
//!   `max_attempts`. Failed deliveries show in `GET /api/v1/notifications` and in
//!   the `notifications_deliveries_failed` gauge.
//! * **No email contradicts a newer one:** before each attempt an appointment
//!   email is checked against the newest version of its appointment; one
//!   overtaken (a retried confirmation after the cancellation) is `cancelled`
//!   with reason `superseded`, and counted in
//!   `notifications_superseded_total{at="send"}`.
//! * **Links do not outlive their email:** once a delivery is final, the token
//!   of a verification, reset or waitlist-claim link is removed from its
//!   stored payload; a link (or an offer) that expired before it could be sent
//!   is dropped (`expired`).
//! * **Self-service links only of the email's version:** the patient's
//!   confirmation and reminders look up the cancel and reschedule links of
//!   their own version when rendered (an email of an older version is dropped
//!   before that); links are deleted once their appointment starts (each
//!   round) or a newer version is known (by the consumer).

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use platform::shutdown::CancellationToken;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    clock::Clock,
    config::WorkerConfig,
    domain::{
        account::{self, PortalUrl},
        backoff::AfterFailure,
        break_glass,
        format::clean,
        freshness::{self, Stale},
        kinds::{About, Kind, Recipient},
        links,
        message::{compose, subject, zones, Content, Parties, Templates},
        waitlist,
    },
    mailer::{Mailer, Outgoing, SendError},
    store::{
        self,
        deliveries::{Claimed, NewDelivery, Settle},
    },
};

/// Reminders claimed per transaction.
const REMINDER_BATCH: i64 = 100;
/// How often the gauges are refreshed.
const STATS_EVERY: Duration = Duration::from_secs(5);

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Reminders that became deliveries.
    pub reminders: usize,
    /// Deliveries attempted (sent or not).
    pub attempted: usize,
}

/// Sends what is due. Cheap to clone.
#[derive(Clone)]
pub struct Worker {
    db: PgPool,
    mailer: Mailer,
    templates: Arc<Templates>,
    clock: Arc<dyn Clock>,
    config: WorkerConfig,
    /// A send is abandoned (and retried later) after this long.
    send_deadline: Duration,
    /// How long a claimed delivery stays ours: twice the send deadline.
    lease: chrono::Duration,
    /// Where the links in emails point.
    portal: PortalUrl,
}

impl Worker {
    pub fn new(
        db: PgPool,
        mailer: Mailer,
        templates: Arc<Templates>,
        clock: Arc<dyn Clock>,
        config: WorkerConfig,
        smtp_timeout: Duration,
        portal: PortalUrl,
    ) -> Self {
        // A send is several SMTP commands (connect, EHLO, MAIL, RCPT, DATA).
        let send_deadline = smtp_timeout.saturating_mul(4).max(Duration::from_secs(1));
        let lease = chrono::Duration::from_std(send_deadline.saturating_mul(2))
            .unwrap_or(chrono::Duration::minutes(5));
        Self {
            db,
            mailer,
            templates,
            clock,
            config,
            send_deadline,
            lease,
            portal,
        }
    }

    /// Work until cancelled; the batch in hand is finished first.
    pub async fn run(self, cancel: CancellationToken) {
        let mut last_stats: Option<tokio::time::Instant> = None;
        while !cancel.is_cancelled() {
            let more = match self.run_once().await {
                Ok(round) => round.attempted as i64 >= self.config.batch,
                Err(e) => {
                    tracing::warn!(error = %e, "delivery worker round failed");
                    false
                }
            };
            if last_stats.is_none_or(|t| t.elapsed() >= STATS_EVERY) {
                if let Err(e) = self.record_stats().await {
                    tracing::warn!(error = %e, "delivery stats not measured");
                }
                last_stats = Some(tokio::time::Instant::now());
            }
            if more {
                continue;
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
        tracing::info!("delivery worker stopped");
    }

    /// One round: the links of appointments that started are forgotten, due
    /// reminders become deliveries, then one batch of due deliveries is sent.
    pub async fn run_once(&self) -> Result<Round, sqlx::Error> {
        let forgotten = store::links::forget_expired(&self.db, self.clock.now()).await?;
        if forgotten > 0 {
            tracing::debug!(
                forgotten,
                "self-service links of started appointments forgotten"
            );
        }
        let reminders = self.enqueue_due_reminders().await?;
        let attempted = self.send_due().await?;
        Ok(Round {
            reminders,
            attempted,
        })
    }

    /// Turn every reminder due now into a delivery to the patient (or skip it:
    /// the appointment changed, began, or a nearer reminder is due as well).
    pub async fn enqueue_due_reminders(&self) -> Result<usize, sqlx::Error> {
        let mut enqueued = 0;
        loop {
            let now = self.clock.now();
            let mut tx = self.db.begin().await?;
            let due = store::reminders::claim_due(&mut tx, now, REMINDER_BATCH).await?;
            for r in &due {
                let kind = Kind::Reminder {
                    minutes_before: u32::try_from(r.offset_minutes).unwrap_or(0),
                };
                let current = store::appointments::get(&mut tx, r.appointment_id).await?;
                let Some(a) = current.filter(|a| {
                    a.version == r.version
                        && freshness::check(kind, r.version, Some(a), now).is_none()
                }) else {
                    store::reminders::settle(&mut tx, r, "skipped").await?;
                    continue;
                };
                if store::reminders::superseded(&mut tx, r, now).await? {
                    store::reminders::settle(&mut tx, r, "skipped").await?;
                    continue;
                }
                let recipient_id = a.patient_id;
                let patient_zone = store::people::zone(&mut tx, recipient_id).await?;
                let subject = subject(kind, &a, zones(&a, Recipient::Patient, patient_zone));
                let about = About::Appointment {
                    kind,
                    appointment: a,
                };
                store::deliveries::insert(
                    &mut tx,
                    &NewDelivery {
                        about: &about,
                        recipient_id,
                        recipient: Recipient::Patient,
                        address: None,
                        subject: &subject,
                        now,
                        due_at: now,
                    },
                )
                .await?;
                store::reminders::settle(&mut tx, r, "enqueued").await?;
                metrics::counter!("notifications_reminders_enqueued_total").increment(1);
                tracing::info!(appointment_id = %r.appointment_id, minutes_before = r.offset_minutes, "reminder due");
                enqueued += 1;
            }
            tx.commit().await?;
            if (due.len() as i64) < REMINDER_BATCH {
                return Ok(enqueued);
            }
        }
    }

    /// Lease one batch of due deliveries and send them concurrently; returns how many.
    pub async fn send_due(&self) -> Result<usize, sqlx::Error> {
        let now = self.clock.now();
        let claimed =
            store::deliveries::claim(&self.db, now, now + self.lease, self.config.batch).await?;
        let n = claimed.len();
        let results = futures_util::future::join_all(claimed.into_iter().map(|d| {
            let id = d.id;
            async move { (id, self.deliver(d).await) }
        }))
        .await;
        for (id, result) in results {
            if let Err(e) = result {
                // The lease runs out and the row is attempted again.
                tracing::warn!(delivery_id = %id, error = %e, "delivery outcome not recorded");
            }
        }
        Ok(n)
    }

    async fn deliver(&self, d: Claimed) -> Result<(), sqlx::Error> {
        let started = self.clock.now();
        let about = About::read(&d.kind, d.subject_id, &d.snapshot.0);
        let label = about.as_ref().map_or("unknown", About::label);
        let outcome = match &about {
            Ok(about) => self.attempt(&d, about, started).await?,
            Err(e) => {
                tracing::error!(delivery_id = %d.id, error = %e, "delivery unreadable");
                Err(Failure::permanent("unreadable"))
            }
        };
        let subject_id = d.subject_id;
        let settle = match outcome {
            Ok(()) => {
                metrics::counter!("notifications_sent_total", "kind" => label).increment(1);
                tracing::info!(delivery_id = %d.id, %subject_id, kind = label, attempt = d.attempts, "email sent");
                Settle::Sent
            }
            Err(Failure::Skip(reason)) => {
                metrics::counter!("notifications_cancelled_total", "kind" => label).increment(1);
                tracing::info!(delivery_id = %d.id, %subject_id, kind = label, reason, "email no longer needed");
                Settle::Cancelled {
                    reason: reason.to_owned(),
                }
            }
            Err(Failure::Send(SendError::Permanent(code))) => {
                metrics::counter!("notifications_failed_total", "kind" => label, "reason" => code.clone()).increment(1);
                tracing::warn!(delivery_id = %d.id, %subject_id, kind = label, attempt = d.attempts, error = %code, "email failed permanently");
                Settle::Failed { error: code }
            }
            Err(Failure::Send(SendError::Transient(code))) => {
                let attempts = u32::try_from(d.attempts).unwrap_or(u32::MAX);
                match self.config.retry.after_failure(attempts, salt(d.id)) {
                    AfterFailure::RetryIn(delay) => {
                        let at = self.clock.now()
                            + chrono::Duration::from_std(delay)
                                .unwrap_or(chrono::Duration::hours(1));
                        metrics::counter!("notifications_retries_total", "reason" => code.clone())
                            .increment(1);
                        tracing::warn!(delivery_id = %d.id, %subject_id, kind = label, attempt = d.attempts, error = %code, retry_in_ms = delay.as_millis() as u64, "email not sent; will retry");
                        Settle::Retry { at, error: code }
                    }
                    AfterFailure::GiveUp => {
                        metrics::counter!("notifications_failed_total", "kind" => label, "reason" => code.clone()).increment(1);
                        tracing::warn!(delivery_id = %d.id, %subject_id, kind = label, attempt = d.attempts, error = %code, "email failed after the last attempt");
                        Settle::Failed { error: code }
                    }
                }
            }
        };
        store::deliveries::settle(
            &self.db,
            d.id,
            d.attempts,
            started,
            self.clock.now(),
            &settle,
        )
        .await
    }

    /// Render and send one delivery. The outer error is the database's; the
    /// inner one what became of the email.
    async fn attempt(
        &self,
        d: &Claimed,
        about: &About,
        now: DateTime<Utc>,
    ) -> Result<Result<(), Failure>, sqlx::Error> {
        let Some(recipient) = Recipient::parse(&d.recipient_role) else {
            return Ok(Err(Failure::permanent("unknown-recipient")));
        };
        if let Some(reason) = self.no_longer_holds(about, now).await? {
            return Ok(Err(Failure::Skip(reason)));
        }
        // The recipient and everyone the email names. An account email names
        // its holder itself (the event's name and address).
        let mut ids = vec![d.recipient_id];
        match about {
            About::Appointment { appointment, .. } => {
                ids.extend([appointment.patient_id, appointment.provider_id]);
            }
            About::BreakGlass(g) => ids.extend([g.patient_id, g.provider_id]),
            About::Account { .. } => ids.clear(),
            About::WaitlistOffer(o) | About::OfferEnded(o) => ids.push(o.0.provider_id),
        }
        let people = if ids.is_empty() {
            Vec::new()
        } else {
            store::people::get_many(&self.db, &ids).await?
        };
        let name_of = |id: Uuid| people.iter().find(|p| p.id == id).map(|p| p.name.as_str());
        let me = people.iter().find(|p| p.id == d.recipient_id);
        let my_name = match about {
            About::Account { email, .. } => Some(email.name()),
            _ => me.map(|p| p.name.as_str()),
        };
        // A configured address, or an account event's, is on the row; a
        // person's is looked up now.
        let address = d
            .recipient_address
            .as_deref()
            .or_else(|| me.and_then(|p| p.email.as_deref()));
        let Some(address) = address else {
            // Their user.registered / patient.updated has not arrived yet.
            return Ok(Err(Failure::transient("recipient-unknown")));
        };
        let Ok(address) = address.parse::<lettre::Address>() else {
            return Ok(Err(Failure::permanent("invalid-address")));
        };
        let name = my_name.map(|n| clean(n, 120)).filter(|n| !n.is_empty());
        let to = Mailbox::new(name, address);
        let from = self.mailer.from().email.to_string();
        let to_email = to.email.to_string();
        // A patient's confirmation going out without its links (they never came).
        let mut without_links = false;
        let rendered: Result<Content, _> = match about {
            About::Appointment { kind, appointment } => {
                let counterpart_id = match recipient {
                    Recipient::Provider => appointment.patient_id,
                    _ => appointment.provider_id,
                };
                let stored = if links::carries_links(*kind, recipient) {
                    store::links::get(&self.db, appointment.appointment_id, appointment.version)
                        .await?
                } else {
                    None
                };
                let action_links = links::for_email(
                    *kind,
                    recipient,
                    appointment,
                    stored.as_ref(),
                    &self.portal,
                    now,
                );
                without_links = matches!(kind, Kind::Booked | Kind::Rescheduled)
                    && links::carries_links(*kind, recipient)
                    && action_links.is_none();
                compose(
                    &self.templates,
                    *kind,
                    appointment,
                    &Parties {
                        recipient,
                        recipient_name: my_name,
                        counterpart_name: name_of(counterpart_id),
                        from: &from,
                        to: &to_email,
                        links: action_links.as_ref(),
                        recipient_zone: me.and_then(|p| p.zone()),
                    },
                    now,
                )
            }
            About::BreakGlass(g) => break_glass::compose(
                &self.templates,
                g,
                &break_glass::Names {
                    recipient,
                    recipient_name: my_name,
                    provider_name: name_of(g.provider_id),
                    patient_name: name_of(g.patient_id),
                },
            ),
            About::Account { email, .. } => account::compose(&self.templates, email, &self.portal),
            About::WaitlistOffer(offer) => waitlist::compose(
                &self.templates,
                offer,
                &waitlist::Names {
                    recipient_name: my_name,
                    provider_name: name_of(offer.0.provider_id),
                    from: &from,
                    to: &to_email,
                    recipient_zone: me.and_then(|p| p.zone()),
                },
                &self.portal,
                now,
            ),
            About::OfferEnded(offer) => waitlist::compose_ended(
                &self.templates,
                offer,
                &waitlist::Names {
                    recipient_name: my_name,
                    provider_name: name_of(offer.0.provider_id),
                    from: &from,
                    to: &to_email,
                    recipient_zone: me.and_then(|p| p.zone()),
                },
                now,
            ),
        };
        let content = match rendered {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(delivery_id = %d.id, error = %e, "email not rendered");
                return Ok(Err(Failure::permanent("render")));
            }
        };
        let message = match self.mailer.message(&Outgoing {
            to,
            subject: &d.subject,
            message_id: &d.message_id,
            content: &content,
        }) {
            Ok(m) => m,
            Err(e) => return Ok(Err(Failure::Send(e))),
        };
        let sent = tokio::time::timeout(self.send_deadline, self.mailer.send(message)).await;
        let outcome = match sent {
            Ok(result) => result.map_err(Failure::Send),
            Err(_) => Err(Failure::transient("timeout")),
        };
        if without_links && outcome.is_ok() {
            metrics::counter!("notifications_sent_without_links_total", "kind" => about.label())
                .increment(1);
            tracing::info!(delivery_id = %d.id, subject_id = %d.subject_id, version = d.version, "confirmation sent without self-service links");
        }
        Ok(outcome)
    }

    /// Why the email should no longer go out at `now`, if so: an appointment
    /// email about a version older than the newest known (the appointment was
    /// moved or cancelled since: sending it would contradict the newer email),
    /// a reminder of a cancelled or begun appointment, a link or an offer that
    /// expired.
    /// (The check precedes the SMTP transaction: a change arriving during it
    /// is too late for this email, and its own email follows.)
    async fn no_longer_holds(
        &self,
        about: &About,
        now: DateTime<Utc>,
    ) -> Result<Option<&'static str>, sqlx::Error> {
        Ok(match about {
            About::Appointment { kind, appointment } => {
                let mut conn = self.db.acquire().await?;
                let current =
                    store::appointments::get(&mut conn, appointment.appointment_id).await?;
                let stale = freshness::check(*kind, appointment.version, current.as_ref(), now);
                if stale == Some(Stale::Superseded) {
                    metrics::counter!("notifications_superseded_total", "kind" => kind.label(), "at" => "send")
                        .increment(1);
                }
                stale.map(Stale::reason)
            }
            About::Account { email, .. } => email.expired(now).then_some("expired"),
            About::WaitlistOffer(offer) => offer.expired(now).then_some("expired"),
            About::BreakGlass(_) | About::OfferEnded(_) => None,
        })
    }

    /// Refresh the gauges: deliveries waiting, failed for good, and the age of
    /// the oldest unsent one (the run loop does this every few seconds).
    pub async fn record_stats(&self) -> Result<(), sqlx::Error> {
        let (pending, failed, lag) = store::deliveries::stats(&self.db, self.clock.now()).await?;
        metrics::gauge!("notifications_deliveries_pending").set(pending as f64);
        metrics::gauge!("notifications_deliveries_failed").set(failed as f64);
        metrics::gauge!("notifications_delivery_lag_seconds").set(lag);
        Ok(())
    }
}

/// Why an attempt did not send.
enum Failure {
    Send(SendError),
    /// Not an error: the email is no longer wanted.
    Skip(&'static str),
}

impl Failure {
    fn permanent(code: &str) -> Self {
        Failure::Send(SendError::Permanent(code.to_owned()))
    }
    fn transient(code: &str) -> Self {
        Failure::Send(SendError::Transient(code.to_owned()))
    }
}

/// Spreads one delivery's retries differently from another's.
fn salt(id: Uuid) -> u64 {
    let b = id.as_bytes();
    u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]])
}
