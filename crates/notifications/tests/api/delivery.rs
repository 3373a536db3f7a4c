//! Appointment events become one email per recipient with a calendar invitation.

use icalendar::parser::{read_calendar, unfold};
use platform::testing::{eventually, maildev::MailDev, WAIT};

use crate::helpers::{ics_lines, ics_utc, spawn_app};
use platform::testing::metric;

#[tokio::test]
async fn a_booking_emails_the_patient_and_the_provider_a_calendar_request() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let b = app.booking(3).await;
    app.publish(&b.booked()).await;

    let emails = mail
        .wait_for(2, "two confirmations", |e| {
            e.subject().starts_with("Appointment confirmed")
        })
        .await;
    let to_patient = emails
        .iter()
        .find(|e| e.is_to(&b.patient.email))
        .expect("the patient's");
    let to_provider = emails
        .iter()
        .find(|e| e.is_to(&b.provider.email))
        .expect("the provider's");
    assert!(to_patient.text().contains("Your appointment is confirmed."));
    assert!(to_patient.text().contains("Dr. Lena Vogel"));
    assert!(to_patient.text().contains("(Europe/Berlin)"));
    assert!(to_provider
        .text()
        .contains("A new appointment was booked with you."));
    assert!(to_provider.text().contains("Paula Patient"));
    assert!(to_provider.html().contains("Paula Patient"));

    for email in [to_patient, to_provider] {
        let types: Vec<_> = email
            .attachments()
            .iter()
            .map(|a| a["contentType"].clone())
            .collect();
        assert_eq!(types, ["text/calendar"], "{}", email.0);
        let ics = mail.calendar(email).await;
        let lines = ics_lines(&ics);
        for expected in [
            "METHOD:REQUEST".to_owned(),
            format!("UID:{}@carebook.dev", b.appointment_id),
            "SEQUENCE:1".to_owned(),
            format!("DTSTART:{}", ics_utc(b.start)),
            format!("DTEND:{}", ics_utc(b.start + chrono::Duration::minutes(30))),
            "STATUS:CONFIRMED".to_owned(),
        ] {
            assert!(lines.contains(&expected), "{expected} not in\n{ics}");
        }
        let unfolded = unfold(&ics);
        let calendar = read_calendar(&unfolded).expect("a valid iCalendar object");
        assert_eq!(
            calendar
                .components
                .iter()
                .filter(|c| c.name == "VEVENT")
                .count(),
            1
        );
    }

    app.settled(b.appointment_id).await;
    let rows = app.deliveries(b.appointment_id).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.0 == "booked" && r.1 == 1 && r.3 == "sent" && r.4 == 1),
        "{rows:?}"
    );
    let metrics = app.metrics().await;
    assert_eq!(
        metric(&metrics, "notifications_sent_total{kind=\"booked\"}"),
        2.0,
        "{metrics}"
    );
    // The same Message-ID on every attempt: derived from the delivery's key.
    let message_id = to_patient.0["headers"]["message-id"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message_id.contains(&format!(
            "{}.booked.v1.{}",
            b.appointment_id, b.patient.user.id
        )),
        "{message_id}"
    );
}

#[tokio::test]
async fn a_reschedule_sends_an_update_with_a_higher_sequence_and_moves_reminders() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let mut b = app.booking(3).await;
    let first_start = b.start;
    app.publish(&b.booked()).await;
    mail.wait_for(2, "two confirmations", |e| {
        e.subject().starts_with("Appointment confirmed")
    })
    .await;

    let new_start = first_start + chrono::Duration::days(1) + chrono::Duration::hours(2);
    app.publish(&b.rescheduled(new_start, 2)).await;
    let updates = mail
        .wait_for(2, "two reschedule emails", |e| {
            e.subject().starts_with("Appointment rescheduled")
        })
        .await;
    for email in &updates {
        let ics = mail.calendar(email).await;
        let lines = ics_lines(&ics);
        assert!(lines.contains(&"METHOD:REQUEST".to_owned()), "{ics}");
        assert!(lines.contains(&"SEQUENCE:2".to_owned()), "{ics}");
        assert!(
            lines.contains(&format!("UID:{}@carebook.dev", b.appointment_id)),
            "{ics}"
        );
        assert!(
            lines.contains(&format!("DTSTART:{}", ics_utc(new_start))),
            "{ics}"
        );
    }
    let patient_update = updates.iter().find(|e| e.is_to(&b.patient.email)).unwrap();
    assert!(
        patient_update.text().contains("It was on"),
        "{}",
        patient_update.text()
    );

    let reminders = app.reminders(b.appointment_id).await;
    assert_eq!(
        reminders
            .iter()
            .map(|r| (r.0, r.1, r.2, r.3.as_str()))
            .collect::<Vec<_>>(),
        [
            (1440, 2, new_start - chrono::Duration::hours(24), "pending"),
            (120, 2, new_start - chrono::Duration::hours(2), "pending"),
        ]
    );
}

#[tokio::test]
async fn a_cancellation_sends_method_cancel_and_no_reminder_follows() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let b = app.booking(3).await;
    app.publish(&b.booked()).await;
    mail.wait_for(2, "two confirmations", |e| {
        e.subject().starts_with("Appointment confirmed")
    })
    .await;
    app.publish(&b.cancelled(2, "Feeling better")).await;
    let cancellations = mail
        .wait_for(2, "two cancellations", |e| {
            e.subject().starts_with("Appointment cancelled")
        })
        .await;
    for email in &cancellations {
        let ics = mail.calendar(email).await;
        let lines = ics_lines(&ics);
        assert!(lines.contains(&"METHOD:CANCEL".to_owned()), "{ics}");
        assert!(lines.contains(&"STATUS:CANCELLED".to_owned()), "{ics}");
        assert!(lines.contains(&"SEQUENCE:2".to_owned()), "{ics}");
        assert!(
            lines.contains(&format!("UID:{}@carebook.dev", b.appointment_id)),
            "{ics}"
        );
        let attachment = &email.attachments()[0];
        assert_eq!(attachment["contentType"], "text/calendar");
        assert!(email.text().contains("Reason given: Feeling better"));
    }
    let reminders = app.reminders(b.appointment_id).await;
    assert!(
        reminders.iter().all(|r| r.3 == "cancelled"),
        "{reminders:?}"
    );

    // Past both reminder times: a worker round finds nothing to remind of.
    app.clock.set(b.start - chrono::Duration::minutes(30));
    let worker = notifications::worker(&app.config, app.db.clone(), app.clock.clone()).unwrap();
    let round = worker.run_once().await.unwrap();
    assert_eq!(round.reminders, 0);
    app.settled(b.appointment_id).await;
    let kinds: Vec<String> = app
        .deliveries(b.appointment_id)
        .await
        .into_iter()
        .map(|d| d.0)
        .collect();
    assert_eq!(kinds, ["booked", "booked", "cancelled", "cancelled"]);
    assert_eq!(mail.emails().await.len(), 4);
}

#[tokio::test]
async fn emails_wait_out_an_smtp_outage_and_go_out_when_it_returns() {
    let mut mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let b = app.booking(3).await;
    mail.stop();
    app.publish(&b.booked()).await;

    // Attempts fail and are rescheduled while the server is down.
    eventually(WAIT, "failed attempts while SMTP is down", || async {
        let rows = app.deliveries(b.appointment_id).await;
        (rows.len() == 2 && rows.iter().all(|r| r.4 >= 2 && r.3 != "sent")).then_some(())
    })
    .await;
    let last_error: Vec<Option<String>> =
        sqlx::query_scalar("SELECT last_error FROM deliveries WHERE appointment_id = $1")
            .bind(b.appointment_id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(
        last_error
            .iter()
            .all(|e| e.as_deref() == Some("connection")),
        "{last_error:?}"
    );

    mail.restart().await;
    let emails = mail
        .wait_for(2, "the confirmations after the outage", |e| {
            e.subject().starts_with("Appointment confirmed")
        })
        .await;
    assert!(emails.iter().any(|e| e.is_to(&b.patient.email)));
    assert!(emails.iter().any(|e| e.is_to(&b.provider.email)));
    app.settled(b.appointment_id).await;
    let rows = app.deliveries(b.appointment_id).await;
    assert!(rows.iter().all(|r| r.3 == "sent"), "{rows:?}");
    let attempts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
         WHERE d.appointment_id = $1 AND a.outcome = 'retry'",
    )
    .bind(b.appointment_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(attempts >= 2, "{attempts}");
    assert!(metric(&app.metrics().await, "notifications_retries_total") >= 2.0);
    assert_eq!(mail.emails().await.len(), 2);
}

#[tokio::test]
async fn a_restarted_smtp_server_costs_a_reconnect_not_a_failed_send() {
    let mut mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let first = app.booking(3).await;
    app.publish(&first.booked()).await;
    mail.wait_for(2, "the first confirmations", |e| {
        e.subject().starts_with("Appointment confirmed")
    })
    .await;
    app.settled(first.appointment_id).await;

    // The pooled connections now lead to a server that is gone.
    mail.restart().await;
    let second = app.booking(4).await;
    app.publish(&second.booked()).await;
    // Mail received before the restart stays: four in all.
    let emails = mail
        .wait_for(4, "the confirmations after the restart", |e| {
            e.subject().starts_with("Appointment confirmed")
        })
        .await;
    assert!(emails.iter().any(|e| e.is_to(&second.patient.email)));
    assert!(emails.iter().any(|e| e.is_to(&second.provider.email)));
    app.settled(second.appointment_id).await;
    let rows = app.deliveries(second.appointment_id).await;
    // Sent at the first attempt: the dead connections were found before use.
    assert!(rows.iter().all(|r| r.3 == "sent" && r.4 == 1), "{rows:?}");
}

#[tokio::test]
async fn a_permanent_smtp_refusal_fails_the_delivery_without_retrying() {
    let mail = MailDev::requiring_auth().await;
    let app = spawn_app(&mail).await;
    let b = app.booking(3).await;
    app.publish(&b.booked()).await;
    app.settled(b.appointment_id).await;
    let rows: Vec<(String, i32, Option<String>)> = sqlx::query_as(
        "SELECT status, attempts, last_error FROM deliveries WHERE appointment_id = $1",
    )
    .bind(b.appointment_id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    for (status, attempts, error) in &rows {
        assert_eq!(status, "failed");
        assert_eq!(*attempts, 1, "a 5xx is not retried");
        assert!(
            error.as_deref().is_some_and(|e| e.starts_with("smtp-5")),
            "{error:?}"
        );
    }
    let metrics = app.metrics().await;
    assert_eq!(
        metric(&metrics, "notifications_failed_total{kind=\"booked\""),
        2.0,
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "notifications_retries_total"),
        0.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn an_unusable_address_fails_at_once_and_the_other_recipient_still_gets_mail() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let mut b = app.booking(3).await;
    b.patient = app
        .register(platform::auth::Role::Patient, "No Mail", "not an address")
        .await;
    app.publish(&b.booked()).await;
    mail.wait_for(1, "the provider's confirmation", |e| {
        e.is_to(&b.provider.email)
    })
    .await;
    app.settled(b.appointment_id).await;
    let failed: (String, i32, Option<String>) = sqlx::query_as(
        "SELECT status, attempts, last_error FROM deliveries WHERE recipient_id = $1",
    )
    .bind(b.patient.user.id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(failed, ("failed".into(), 1, Some("invalid-address".into())));
    assert_eq!(mail.emails().await.len(), 1);
}

/// The worker's claim: each delivery leased to one claimer at a time, and a
/// lease that ran out (its holder crashed) claimed again, before newer work.
#[tokio::test]
async fn a_claim_leases_each_delivery_once_until_its_lease_runs_out() {
    let mail = MailDev::start().await;
    // The service's own worker waits an hour between rounds: this test claims.
    let app = crate::helpers::spawn_app_with(&mail, |c| {
        c.worker.poll_interval = std::time::Duration::from_secs(3600);
    })
    .await;
    let b = app.booking(3).await;
    app.publish(&b.booked()).await;
    eventually(WAIT, "two deliveries recorded", || async {
        (app.deliveries(b.appointment_id).await.len() == 2).then_some(())
    })
    .await;
    let claim = |now: chrono::DateTime<chrono::Utc>, limit| {
        notifications::store::deliveries::claim(
            &app.db,
            now,
            now + chrono::Duration::seconds(60),
            limit,
        )
    };
    let now = chrono::Utc::now();
    let first = claim(now, 1).await.unwrap();
    let second = claim(now, 1).await.unwrap();
    assert_eq!((first.len(), second.len()), (1, 1));
    assert_ne!(
        first[0].id, second[0].id,
        "a leased delivery is not claimed twice"
    );
    assert!(claim(now, 8).await.unwrap().is_empty(), "both are leased");

    let later = now + chrono::Duration::seconds(61);
    let mut again: Vec<_> = claim(later, 8).await.unwrap();
    again.sort_by_key(|c| c.id);
    let mut expected = vec![first[0].id, second[0].id];
    expected.sort();
    assert_eq!(again.iter().map(|c| c.id).collect::<Vec<_>>(), expected);
    assert!(
        again.iter().all(|c| c.attempts == 2),
        "a second attempt each"
    );
}
