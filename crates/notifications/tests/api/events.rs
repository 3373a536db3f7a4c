//! The consumers: redelivered events change nothing, poison messages are
//! dead-lettered, stale versions are ignored (and an email overtaken by a newer
//! version before it went out is dropped), people are kept up to date.

use contracts::{
    directory::{PatientUpdated, ProviderUpdated},
    identity::UserRegistered,
    scheduling::{AppointmentBooked, AppointmentStatus},
    Event,
};
use platform::{
    events::Envelope,
    testing::{eventually, maildev::MailDev, WAIT},
};
use serde_json::json;

use crate::helpers::{spawn_app, specs};
use platform::testing::metric;

#[tokio::test]
async fn the_same_event_delivered_three_times_sends_one_email_per_recipient() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let b = app.booking(3).await;
    let booked = b.booked();
    for _ in 0..3 {
        app.publish(&booked).await;
    }
    // A different event saying the same thing (same appointment and version).
    let mut again = b.booked();
    again.id = uuid::Uuid::now_v7();
    app.publish(&again).await;

    eventually(WAIT, "all four messages consumed", || async {
        let m = app.metrics().await;
        let seen = metric(
            &m,
            "events_consumed_total{consumer=\"notifications.appointments\"",
        );
        (seen >= 4.0).then_some(())
    })
    .await;
    let metrics = app.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "events_consumed_total{consumer=\"notifications.appointments\",outcome=\"Duplicate\"}"
        ),
        2.0,
        "{metrics}"
    );
    app.settled(b.appointment_id).await;
    assert_eq!(app.deliveries(b.appointment_id).await.len(), 2);
    let emails = mail.emails().await;
    assert_eq!(emails.len(), 2, "{emails:?}");
    assert_eq!(
        emails.iter().filter(|e| e.is_to(&b.patient.email)).count(),
        1
    );
    assert_eq!(
        emails.iter().filter(|e| e.is_to(&b.provider.email)).count(),
        1
    );
}

#[tokio::test]
async fn poison_messages_land_in_the_dead_letter_queue_and_the_rest_flows() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let [appointments, people, _records, _accounts] = specs(&app.config);
    let b = app.booking(3).await;

    app.publish_raw("appointment.booked", b"not json").await;
    let mut unknown_version = b.booked();
    unknown_version.version = 2;
    app.publish(&unknown_version).await;
    let mut missing_field = b.booked();
    missing_field.data.as_object_mut().unwrap().remove("start");
    app.publish(&missing_field).await;
    let mut on_mars = b.appointment(AppointmentStatus::Booked, 1);
    on_mars.time_zone = "Mars/Olympus".into();
    let bad_zone = Envelope::of::<AppointmentBooked>(&on_mars).unwrap();
    app.publish(&bad_zone).await;
    let bad_person = Envelope::new(
        UserRegistered::TYPE,
        UserRegistered::VERSION,
        UserRegistered::PRODUCER.as_str(),
        &json!({"user_id": "nope"}),
    )
    .unwrap();
    app.publish(&bad_person).await;
    // A valid event behind them still goes through.
    app.publish(&b.booked()).await;

    mail.wait_for(2, "the valid booking's emails", |e| {
        e.subject().starts_with("Appointment confirmed")
    })
    .await;
    let dead = std::sync::Mutex::new(Vec::new());
    let queue = appointments.dead_letter_queue();
    eventually(WAIT, "four poison messages in the DLQ", || async {
        while let Some(m) = app.take(&queue).await {
            dead.lock().unwrap().push(m);
        }
        (dead.lock().unwrap().len() >= 4).then_some(())
    })
    .await;
    let dead = dead.into_inner().unwrap();
    assert_eq!(dead.len(), 4);
    assert!(dead.iter().any(|m| m == b"not json"));
    let person = eventually(WAIT, "the bad registration in its DLQ", || async {
        app.take(&people.dead_letter_queue()).await
    })
    .await;
    let person: Envelope = serde_json::from_slice(&person).unwrap();
    assert_eq!(person.id, bad_person.id);
    assert_eq!(app.queue_depth(&appointments.queue).await, Some(0));
    assert_eq!(app.deliveries(b.appointment_id).await.len(), 2);
}

#[tokio::test]
async fn an_older_version_arriving_after_a_newer_one_sends_nothing() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let b = app.booking(3).await;
    app.publish(&b.cancelled(2, "")).await;
    mail.wait_for(2, "the cancellations", |e| {
        e.subject().starts_with("Appointment cancelled")
    })
    .await;
    // Consumed (and recorded as processed) without a delivery.
    app.deliver(&b.booked()).await;
    app.settled(b.appointment_id).await;
    let kinds: Vec<String> = app
        .deliveries(b.appointment_id)
        .await
        .into_iter()
        .map(|d| d.0)
        .collect();
    assert_eq!(kinds, ["cancelled", "cancelled"]);
    assert!(app.reminders(b.appointment_id).await.is_empty());
    assert_eq!(mail.emails().await.len(), 2);
    let metrics = app.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "notifications_superseded_total{kind=\"booked\",at=\"event\"}"
        ),
        1.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn a_confirmation_still_unsent_when_the_cancellation_arrives_is_dropped_not_sent() {
    let mut mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let b = app.booking(3).await;
    // SMTP is down: the confirmations wait, retrying.
    mail.stop();
    app.deliver(&b.booked()).await;
    eventually(
        WAIT,
        "the confirmations failing while SMTP is down",
        || async {
            let rows = app.deliveries(b.appointment_id).await;
            (rows.len() == 2 && rows.iter().all(|r| r.4 >= 1)).then_some(())
        },
    )
    .await;
    // The cancellation (version 2) arrives before any confirmation went out.
    app.deliver(&b.cancelled(2, "")).await;
    mail.restart().await;
    mail.wait_for(2, "the cancellations", |e| {
        e.subject().starts_with("Appointment cancelled")
    })
    .await;
    app.settled(b.appointment_id).await;

    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT kind, status, last_error FROM deliveries WHERE appointment_id = $1 ORDER BY kind",
    )
    .bind(b.appointment_id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let superseded = (
        "booked".to_owned(),
        "cancelled".to_owned(),
        Some("superseded".to_owned()),
    );
    let sent = ("cancelled".to_owned(), "sent".to_owned(), None);
    assert_eq!(rows, [superseded.clone(), superseded, sent.clone(), sent]);
    let emails = mail.emails().await;
    assert_eq!(emails.len(), 2, "no confirmation after its cancellation");
    assert!(emails
        .iter()
        .all(|e| !e.subject().starts_with("Appointment confirmed")));
    let metrics = app.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "notifications_superseded_total{kind=\"booked\",at=\"send\"}"
        ),
        2.0,
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "notifications_cancelled_total{kind=\"booked\"}"),
        2.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn profile_updates_change_names_and_addresses_but_older_ones_do_not() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let b = app.booking(3).await;
    let patient = |name: &str, email: &str| PatientUpdated {
        patient_id: b.patient.user.id,
        name: name.into(),
        email: email.into(),
        preferred_provider_id: None,
        time_zone: None,
    };
    let newer =
        Envelope::of::<PatientUpdated>(&patient("Paula P. Newname", "paula.new@example.org"))
            .unwrap();
    let mut older =
        Envelope::of::<PatientUpdated>(&patient("Old Name", "old@example.org")).unwrap();
    older.occurred_at = newer.occurred_at - chrono::Duration::minutes(5);
    let provider = Envelope::of::<ProviderUpdated>(&ProviderUpdated {
        provider_id: b.provider.user.id,
        name: "Dr. Lena Vogel-Berg".into(),
        specialty: "Family medicine".into(),
        time_zone: "Europe/Berlin".into(),
        accepting_new_patients: true,
    })
    .unwrap();
    for e in [&newer, &older, &provider] {
        app.publish(e).await;
    }
    for e in [&newer, &older, &provider] {
        app.wait_for_event(e.id).await;
    }
    app.publish(&b.booked()).await;
    let emails = mail
        .wait_for(2, "the confirmations", |e| {
            e.subject().starts_with("Appointment confirmed")
        })
        .await;
    let to_patient = emails
        .iter()
        .find(|e| e.is_to("paula.new@example.org"))
        .expect("sent to the new address");
    assert!(to_patient.text().contains("Hello Paula P. Newname,"));
    assert!(to_patient.text().contains("Dr. Lena Vogel-Berg"));
    let to_provider = emails
        .iter()
        .find(|e| e.is_to(&b.provider.email))
        .expect("the provider keeps the registered address");
    assert!(to_provider.text().contains("Paula P. Newname"));
}
