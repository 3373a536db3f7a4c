//! Every person's time zone: a patient's emails show times on their own clock
//! first and on the provider's when it reads differently; providers' emails
//! stay on the provider's clock; the zone is kept from identity's and the
//! directory's events, and an event without one (or with one nobody knows)
//! never loses a known zone.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::{America::New_York, Europe::Berlin, Tz};
use contracts::directory::PatientUpdated;
use platform::{
    events::Envelope,
    testing::{maildev::MailDev, metric},
};

use crate::helpers::{spawn_app, Booking, TestApp};

/// `Tuesday 3 March 2026, 04:00 EST – 04:30` on `tz`'s clock.
fn long(b: &Booking, tz: Tz) -> String {
    let (start, end) = (
        b.start.with_timezone(&tz),
        (b.start + Duration::minutes(30)).with_timezone(&tz),
    );
    format!(
        "{} – {}",
        start.format("%A %-d %B %Y, %H:%M %Z"),
        end.format("%H:%M")
    )
}

/// `10:00 CET – 10:30` on `tz`'s clock.
fn times(b: &Booking, tz: Tz) -> String {
    let (start, end) = (
        b.start.with_timezone(&tz),
        (b.start + Duration::minutes(30)).with_timezone(&tz),
    );
    format!("{} – {}", start.format("%H:%M %Z"), end.format("%H:%M"))
}

/// `Tue 3 Mar 04:00 EST` on `tz`'s clock.
fn short(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%a %-d %b %H:%M %Z")
        .to_string()
}

/// A booking three days ahead at 14:00 UTC: the same day in New York
/// (09:00 or 10:00) and in Berlin (15:00 or 16:00), whatever the season.
async fn afternoon_booking(app: &TestApp, patient_zone: Option<&str>) -> Booking {
    let mut b = app.booking_for_patient_in(3, patient_zone).await;
    b.start = b
        .start
        .date_naive()
        .and_time(NaiveTime::from_hms_opt(14, 0, 0).unwrap())
        .and_utc();
    b
}

#[tokio::test]
async fn a_patient_in_another_zone_sees_both_times_and_the_provider_sees_theirs() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let b = afternoon_booking(&app, Some("America/New_York")).await;
    app.publish(&b.booked()).await;
    let emails = mail
        .wait_for(2, "the confirmations", |e| {
            e.subject().starts_with("Appointment confirmed")
        })
        .await;

    let to_patient = emails.iter().find(|e| e.is_to(&b.patient.email)).unwrap();
    assert_eq!(
        to_patient.subject(),
        format!(
            "Appointment confirmed: Consultation on {}",
            short(b.start, New_York)
        )
    );
    let text = to_patient.text();
    let when = format!(
        "When:  {} (America/New_York)\n       Your provider's time: {} (Europe/Berlin)\n       {} – {}\n",
        long(&b, New_York),
        times(&b, Berlin),
        b.start.format("%Y-%m-%d %H:%M"),
        (b.start + Duration::minutes(30)).format("%H:%M UTC"),
    );
    assert!(text.contains(&when), "{when}\nnot in\n{text}");
    let html = to_patient.html();
    assert!(html.contains(&long(&b, New_York)), "{html}");
    assert!(
        html.contains(&format!("Your provider's time: {}", times(&b, Berlin))),
        "{html}"
    );

    let to_provider = emails.iter().find(|e| e.is_to(&b.provider.email)).unwrap();
    assert_eq!(
        to_provider.subject(),
        format!(
            "Appointment confirmed: Consultation on {}",
            short(b.start, Berlin)
        )
    );
    let text = to_provider.text();
    assert!(
        text.contains(&format!("When:  {} (Europe/Berlin)\n", long(&b, Berlin))),
        "{text}"
    );
    assert!(!text.contains("America/New_York"), "{text}");
    assert!(!text.contains("provider's time"), "{text}");

    // The reminder, too, is on the patient's clock.
    app.clock
        .set(b.start - Duration::hours(24) + Duration::minutes(1));
    let reminder = mail
        .wait_for(1, "the 24-hour reminder", |e| {
            e.subject().starts_with("Reminder:")
        })
        .await;
    assert_eq!(
        reminder[0].subject(),
        format!("Reminder: Consultation on {}", short(b.start, New_York))
    );
    assert!(
        reminder[0]
            .text()
            .contains(&format!("Your provider's time: {}", times(&b, Berlin))),
        "{}",
        reminder[0].text()
    );
}

#[tokio::test]
async fn a_patient_in_the_providers_zone_sees_one_time() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let b = afternoon_booking(&app, Some("Europe/Berlin")).await;
    app.publish(&b.booked()).await;
    let emails = mail
        .wait_for(2, "the confirmations", |e| {
            e.subject().starts_with("Appointment confirmed")
        })
        .await;
    let to_patient = emails.iter().find(|e| e.is_to(&b.patient.email)).unwrap();
    assert_eq!(
        to_patient.subject(),
        format!(
            "Appointment confirmed: Consultation on {}",
            short(b.start, Berlin)
        )
    );
    let text = to_patient.text();
    let when = format!(
        "When:  {} (Europe/Berlin)\n       {} – {}\n",
        long(&b, Berlin),
        b.start.format("%Y-%m-%d %H:%M"),
        (b.start + Duration::minutes(30)).format("%H:%M UTC"),
    );
    assert!(text.contains(&when), "{when}\nnot in\n{text}");
    for body in [text, to_patient.html()] {
        assert!(!body.contains("provider's time"), "{body}");
    }
}

#[tokio::test]
async fn a_profile_update_without_a_zone_keeps_the_known_one_and_an_unknown_zone_is_ignored() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let b = afternoon_booking(&app, Some("America/New_York")).await;
    let id = b.patient.user.id;
    assert_eq!(
        app.stored_zone(id).await.as_deref(),
        Some("America/New_York")
    );
    let update = |zone: Option<&str>| {
        Envelope::of::<PatientUpdated>(&PatientUpdated {
            patient_id: id,
            name: "Paula Patient".into(),
            email: b.patient.email.clone(),
            preferred_provider_id: None,
            time_zone: zone.map(str::to_owned),
        })
        .unwrap()
    };

    // An older producer's update says nothing about the zone.
    app.deliver(&update(None)).await;
    assert_eq!(
        app.stored_zone(id).await.as_deref(),
        Some("America/New_York")
    );
    // A zone nobody knows is ignored, and the event is not dead-lettered.
    app.deliver(&update(Some("Mars/Olympus"))).await;
    assert_eq!(
        app.stored_zone(id).await.as_deref(),
        Some("America/New_York")
    );
    // A new zone replaces it; an older event arriving late does not.
    let newer = update(Some("Asia/Tokyo"));
    let mut older = update(Some("Europe/Lisbon"));
    older.occurred_at = newer.occurred_at - Duration::minutes(5);
    app.deliver(&newer).await;
    app.deliver(&older).await;
    assert_eq!(app.stored_zone(id).await.as_deref(), Some("Asia/Tokyo"));
    let metrics = app.metrics().await;
    assert_eq!(
        metric(&metrics, "notifications_time_zones_ignored_total"),
        1.0,
        "{metrics}"
    );

    app.publish(&b.booked()).await;
    let emails = mail
        .wait_for(2, "the confirmations", |e| {
            e.subject().starts_with("Appointment confirmed")
        })
        .await;
    let to_patient = emails.iter().find(|e| e.is_to(&b.patient.email)).unwrap();
    assert!(
        to_patient.text().contains("(Asia/Tokyo)"),
        "{}",
        to_patient.text()
    );
}
