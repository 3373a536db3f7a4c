//! Reminders go out when the (test's) clock reaches their time, not before.

use chrono::Duration;
use platform::testing::{eventually, maildev::MailDev, WAIT};

use crate::helpers::spawn_app;

#[tokio::test]
async fn reminders_go_out_24_and_2_hours_before_as_the_clock_reaches_them() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let b = app.booking(3).await;
    app.publish(&b.booked()).await;
    mail.wait_for(2, "two confirmations", |e| {
        e.subject().starts_with("Appointment confirmed")
    })
    .await;
    let reminders = app.reminders(b.appointment_id).await;
    assert_eq!(
        reminders
            .iter()
            .map(|r| (r.0, r.1, r.2, r.3.as_str()))
            .collect::<Vec<_>>(),
        [
            (1440, 1, b.start - Duration::hours(24), "pending"),
            (120, 1, b.start - Duration::hours(2), "pending"),
        ]
    );

    // Just before the 24-hour mark nothing is due.
    app.clock
        .set(b.start - Duration::hours(24) - Duration::minutes(1));
    let worker = notifications::worker(&app.config, app.db.clone(), app.clock.clone()).unwrap();
    assert_eq!(worker.enqueue_due_reminders().await.unwrap(), 0);

    // Past it, the 24-hour reminder goes to the patient.
    app.clock
        .set(b.start - Duration::hours(24) + Duration::minutes(1));
    let first = mail
        .wait_for(1, "the 24-hour reminder", |e| {
            e.subject().starts_with("Reminder:")
        })
        .await;
    assert!(first[0].is_to(&b.patient.email));
    assert!(first[0].text().contains("your appointment is in 24 hours"));
    let ics = mail.calendar(&first[0]).await;
    assert!(ics.contains("METHOD:REQUEST"), "{ics}");
    let rows = app.reminders(b.appointment_id).await;
    assert_eq!(
        (rows[0].3.as_str(), rows[1].3.as_str()),
        ("enqueued", "pending")
    );

    app.clock
        .set(b.start - Duration::hours(2) + Duration::minutes(1));
    let both = mail
        .wait_for(2, "the 2-hour reminder", |e| {
            e.subject().starts_with("Reminder:")
        })
        .await;
    assert!(both
        .iter()
        .all(|e| e.is_to(&b.patient.email) && !e.is_to(&b.provider.email)));
    assert!(both[1].text().contains("your appointment is in 2 hours"));
    app.settled(b.appointment_id).await;
    let kinds: Vec<(String, String)> = app
        .deliveries(b.appointment_id)
        .await
        .into_iter()
        .map(|d| (d.0, d.3))
        .collect();
    assert_eq!(
        kinds,
        [
            ("booked".into(), "sent".into()),
            ("booked".into(), "sent".into()),
            ("reminder-1440".into(), "sent".into()),
            ("reminder-120".into(), "sent".into()),
        ]
    );
}

#[tokio::test]
async fn an_appointment_types_own_offsets_replace_the_clinics() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let b = app.booking(3).await;
    let two_days_and_half_an_hour = contracts::scheduling::Appointment {
        reminder_offsets_minutes: Some(vec![30, 2880]),
        ..b.appointment(contracts::scheduling::AppointmentStatus::Booked, 1)
    };
    app.publish(
        &platform::events::Envelope::of::<contracts::scheduling::AppointmentBooked>(
            &two_days_and_half_an_hour,
        )
        .unwrap(),
    )
    .await;
    eventually(WAIT, "the type's reminders planned", || async {
        let planned: Vec<(i32, chrono::DateTime<chrono::Utc>)> = app
            .reminders(b.appointment_id)
            .await
            .into_iter()
            .map(|r| (r.0, r.2))
            .collect();
        (planned
            == [
                (2880, b.start - Duration::days(2)),
                (30, b.start - Duration::minutes(30)),
            ])
        .then_some(())
    })
    .await;

    // A type without reminders: none at all, the confirmation still goes out.
    let quiet = app.booking(3).await;
    let none = contracts::scheduling::Appointment {
        reminder_offsets_minutes: Some(vec![]),
        ..quiet.appointment(contracts::scheduling::AppointmentStatus::Booked, 1)
    };
    app.publish(
        &platform::events::Envelope::of::<contracts::scheduling::AppointmentBooked>(&none).unwrap(),
    )
    .await;
    app.settled(quiet.appointment_id).await;
    assert!(app.reminders(quiet.appointment_id).await.is_empty());
}

#[tokio::test]
async fn a_cancelled_appointment_gets_no_reminder_even_once_due() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let b = app.booking(3).await;
    app.publish(&b.booked()).await;
    app.publish(&b.cancelled(2, "")).await;
    mail.wait_for(2, "two cancellations", |e| {
        e.subject().starts_with("Appointment cancelled")
    })
    .await;
    app.clock.set(b.start - Duration::hours(1));
    let worker = notifications::worker(&app.config, app.db.clone(), app.clock.clone()).unwrap();
    assert_eq!(worker.enqueue_due_reminders().await.unwrap(), 0);
    app.settled(b.appointment_id).await;
    let reminders: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE appointment_id = $1 AND kind LIKE 'reminder-%'",
    )
    .bind(b.appointment_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(reminders, 0);
    assert!(mail
        .emails()
        .await
        .iter()
        .all(|e| !e.subject().starts_with("Reminder:")));
}

#[tokio::test]
async fn a_reminder_for_an_appointment_moved_in_the_meantime_is_not_sent() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let mut b = app.booking(3).await;
    let old_start = b.start;
    app.publish(&b.booked()).await;
    mail.wait_for(2, "two confirmations", |e| {
        e.subject().starts_with("Appointment confirmed")
    })
    .await;
    let new_start = old_start + Duration::days(2);
    app.publish(&b.rescheduled(new_start, 2)).await;
    mail.wait_for(2, "two updates", |e| {
        e.subject().starts_with("Appointment rescheduled")
    })
    .await;
    // The old 24-hour time passes: the moved reminder is not due yet.
    app.clock.set(old_start - Duration::hours(23));
    let worker = notifications::worker(&app.config, app.db.clone(), app.clock.clone()).unwrap();
    assert_eq!(worker.enqueue_due_reminders().await.unwrap(), 0);
    // The new one is.
    app.clock.set(new_start - Duration::hours(23));
    let reminder = mail
        .wait_for(1, "the reminder at the new time", |e| {
            e.subject().starts_with("Reminder:")
        })
        .await;
    let ics = mail.calendar(&reminder[0]).await;
    assert!(ics.contains("SEQUENCE:2"), "{ics}");
    eventually(WAIT, "the 24-hour reminder enqueued", || async {
        let rows = app.reminders(b.appointment_id).await;
        (rows[0].3 == "enqueued" && rows[0].1 == 2).then_some(())
    })
    .await;
}
