//! Self-service links (`appointment.links_issued`): the patient's confirmation
//! and reminders of a version carry its "Reschedule" and "Cancel this
//! appointment" links into the portal. The links may arrive before or after
//! the booking: the confirmation waits for them up to `links_wait`, then goes
//! without them. Links of an older version never go out, and no token is kept
//! once a newer version is known or the appointment starts.

use std::time::Duration as StdDuration;

use chrono::Duration;
use contracts::scheduling::AppointmentLinksIssued;
use platform::{
    events::Envelope,
    testing::{eventually, maildev::MailDev, metric, WAIT},
};
use uuid::Uuid;

use crate::helpers::{spawn_app_with, Booking, TestApp};

const PORTAL: &str = "https://portal.clinic.example/carebook";

/// The service with links into [`PORTAL`], whose confirmations wait an hour
/// for their links (the tests move the clock past it when they mean to).
async fn app(mail: &MailDev) -> TestApp {
    spawn_app_with(mail, |c| {
        c.portal_url = PORTAL.parse().unwrap();
        c.links_wait = StdDuration::from_secs(3600);
    })
    .await
}

/// Links of `b`'s `version`, as scheduling issues them (expiring at its start).
struct Links {
    event: Envelope,
    cancel: String,
    reschedule: String,
}

impl Links {
    fn of(b: &Booking, version: i32) -> Self {
        let cancel = format!("cx{version}_{}", Uuid::new_v4().simple());
        let reschedule = format!("rs{version}_{}", Uuid::new_v4().simple());
        let event = Envelope::of::<AppointmentLinksIssued>(&AppointmentLinksIssued {
            appointment_id: b.appointment_id,
            patient_id: b.patient.user.id,
            version,
            cancel_token: cancel.clone(),
            reschedule_token: reschedule.clone(),
            expires_at: b.start,
        })
        .unwrap();
        Self {
            event,
            cancel,
            reschedule,
        }
    }

    fn cancel_url(&self) -> String {
        format!("{PORTAL}/appointment-links/{}", self.cancel)
    }

    fn reschedule_url(&self) -> String {
        format!("{PORTAL}/appointment-links/{}", self.reschedule)
    }

    /// Whether `text` carries both links, each under its label.
    fn assert_in(&self, text: &str) {
        assert!(
            text.contains(&format!("Reschedule:\n{}\n", self.reschedule_url())),
            "no reschedule link in\n{text}"
        );
        assert!(
            text.contains(&format!(
                "Cancel this appointment:\n{}\n",
                self.cancel_url()
            )),
            "no cancel link in\n{text}"
        );
    }

    fn appears_in(&self, text: &str) -> bool {
        text.contains(&self.cancel) || text.contains(&self.reschedule)
    }
}

/// The stored links as (version, cancel token).
async fn stored_links(app: &TestApp, appointment_id: Uuid) -> Vec<(i32, String)> {
    sqlx::query_as("SELECT version, cancel_token FROM appointment_links WHERE appointment_id = $1")
        .bind(appointment_id)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

/// The whole delivery log of the appointment, as text.
async fn log(app: &TestApp, appointment_id: Uuid) -> String {
    sqlx::query_scalar(
        "SELECT coalesce(string_agg(d::text, ' '), '') FROM deliveries d WHERE appointment_id = $1",
    )
    .bind(appointment_id)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// The patient's delivery of `kind` as (status, attempts).
async fn patients(app: &TestApp, b: &Booking, kind: &str) -> Option<(String, i32)> {
    sqlx::query_as(
        "SELECT status, attempts FROM deliveries
         WHERE appointment_id = $1 AND recipient_id = $2 AND kind = $3",
    )
    .bind(b.appointment_id)
    .bind(b.patient.user.id)
    .bind(kind)
    .fetch_optional(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_confirmation_waits_for_the_links_of_its_version_and_it_and_the_reminders_carry_them() {
    let mail = MailDev::start().await;
    let app = app(&mail).await;
    let b = app.booking(3).await;
    app.deliver(&b.booked()).await;

    // The provider's confirmation goes at once and carries no links.
    let to_provider = mail
        .wait_for(1, "the provider's confirmation", |e| {
            e.is_to(&b.provider.email)
        })
        .await;
    assert!(!to_provider[0].text().contains("appointment-links"));
    // The patient's waits for its links.
    assert_eq!(
        patients(&app, &b, "booked").await,
        Some(("pending".to_owned(), 0))
    );

    let links = Links::of(&b, 1);
    app.deliver(&links.event).await;
    let to_patient = mail
        .wait_for(1, "the patient's confirmation", |e| {
            e.is_to(&b.patient.email)
        })
        .await;
    let confirmation = &to_patient[0];
    assert!(confirmation.subject().starts_with("Appointment confirmed"));
    links.assert_in(confirmation.text());
    let html = confirmation.html();
    assert!(html.contains(">Cancel this appointment</a>"), "{html}");
    assert!(html.contains(">Reschedule</a>"), "{html}");
    assert!(html.contains(&links.cancel) && html.contains(&links.reschedule));

    // The reminder of the same version carries them too.
    app.clock
        .set(b.start - Duration::hours(24) + Duration::minutes(1));
    let reminder = mail
        .wait_for(1, "the 24-hour reminder", |e| {
            e.subject().starts_with("Reminder:")
        })
        .await;
    links.assert_in(reminder[0].text());

    // The delivery log never held a token; the links table forgets them once
    // the appointment starts.
    assert!(!links.appears_in(&log(&app, b.appointment_id).await));
    assert_eq!(stored_links(&app, b.appointment_id).await.len(), 1);
    app.clock.set(b.start + Duration::minutes(1));
    eventually(WAIT, "the links forgotten at the start", || async {
        stored_links(&app, b.appointment_id)
            .await
            .is_empty()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn links_that_arrive_before_the_booking_go_out_with_its_confirmation_at_once() {
    let mail = MailDev::start().await;
    let app = app(&mail).await;
    let b = app.booking(3).await;
    let links = Links::of(&b, 1);
    app.deliver(&links.event).await;
    app.deliver(&b.booked()).await;
    // Well within the hour the confirmation would wait.
    let to_patient = mail
        .wait_for(1, "the patient's confirmation", |e| {
            e.is_to(&b.patient.email)
        })
        .await;
    links.assert_in(to_patient[0].text());
}

#[tokio::test]
async fn without_links_the_confirmation_goes_out_after_the_wait_without_them() {
    let mail = MailDev::start().await;
    let app = app(&mail).await;
    let b = app.booking(3).await;
    app.deliver(&b.booked()).await;
    mail.wait_for(1, "the provider's confirmation", |e| {
        e.is_to(&b.provider.email)
    })
    .await;
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    assert!(
        mail.emails()
            .await
            .iter()
            .all(|e| !e.is_to(&b.patient.email)),
        "the patient's confirmation did not wait"
    );

    app.clock.advance(Duration::hours(1));
    let to_patient = mail
        .wait_for(1, "the patient's confirmation", |e| {
            e.is_to(&b.patient.email)
        })
        .await;
    let text = to_patient[0].text();
    assert!(text.contains("Your appointment is confirmed."), "{text}");
    assert!(!text.contains("appointment-links"), "{text}");
    assert!(!text.contains("Cancel this appointment"), "{text}");
    assert_eq!(
        metric(
            &app.metrics().await,
            "notifications_sent_without_links_total{kind=\"booked\"}"
        ),
        1.0
    );
}

#[tokio::test]
async fn links_of_an_older_version_never_go_out_and_are_forgotten_when_a_newer_one_arrives() {
    let mail = MailDev::start().await;
    let app = app(&mail).await;
    let mut b = app.booking(3).await;
    app.deliver(&b.booked()).await;
    let v1 = Links::of(&b, 1);
    app.deliver(&v1.event).await;
    let first = mail
        .wait_for(1, "the patient's confirmation", |e| {
            e.is_to(&b.patient.email)
        })
        .await;
    v1.assert_in(first[0].text());
    assert_eq!(
        stored_links(&app, b.appointment_id).await,
        [(1, v1.cancel.clone())]
    );

    // Moved: version 2. The links of version 1 are forgotten at once.
    let moved = b.rescheduled(b.start + Duration::days(1), 2);
    app.deliver(&moved).await;
    assert!(stored_links(&app, b.appointment_id).await.is_empty());
    // Links of version 1 arriving late (a replay) are not kept.
    let late = Links::of(&b, 1);
    app.deliver(&late.event).await;
    assert!(stored_links(&app, b.appointment_id).await.is_empty());
    assert_eq!(
        patients(&app, &b, "rescheduled").await,
        Some(("pending".to_owned(), 0)),
        "the reschedule waits for the links of version 2"
    );

    let v2 = Links::of(&b, 2);
    app.deliver(&v2.event).await;
    let rescheduled = mail
        .wait_for(1, "the patient's reschedule", |e| {
            e.is_to(&b.patient.email) && e.subject().starts_with("Appointment rescheduled")
        })
        .await;
    v2.assert_in(rescheduled[0].text());
    // Version 1's links again, after version 2's: still not kept.
    let later = Links::of(&b, 1);
    app.deliver(&later.event).await;
    assert_eq!(
        stored_links(&app, b.appointment_id).await,
        [(2, v2.cancel.clone())]
    );

    // The reminder of version 2 carries version 2's links.
    app.clock
        .set(b.start - Duration::hours(24) + Duration::minutes(1));
    let reminder = mail
        .wait_for(1, "the 24-hour reminder", |e| {
            e.subject().starts_with("Reminder:")
        })
        .await;
    v2.assert_in(reminder[0].text());

    // Apart from the first confirmation, no email carried an older link.
    let emails = mail.emails().await;
    for email in emails.iter().filter(|e| e.id() != first[0].id()) {
        for old in [&v1, &late, &later] {
            assert!(
                !old.appears_in(email.text()) && !old.appears_in(email.html()),
                "{} carries a link of version 1",
                email.subject()
            );
        }
    }
    assert!(emails
        .iter()
        .all(|e| ![&late, &later].iter().any(|l| l.appears_in(e.text()))));
    assert_eq!(
        metric(
            &app.metrics().await,
            "notifications_links_dropped_total{reason=\"superseded\"}"
        ),
        2.0
    );
    for links in [&v1, &late, &later, &v2] {
        assert!(!links.appears_in(&log(&app, b.appointment_id).await));
    }
}
