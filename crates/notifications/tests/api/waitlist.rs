//! A waitlist offer (`waitlist.offered`) becomes one email to its patient:
//! "A slot opened", the slot in the provider's time zone, when the offer
//! lapses, the one-click claim link into the portal and a tentative calendar
//! entry. The claim token is not kept once the email is sent, and an offer
//! that lapsed before it could go out is not sent at all.

use chrono::{DateTime, Duration, DurationRound, Utc};
use contracts::scheduling::{Mode, WaitlistOffered};
use platform::{
    events::Envelope,
    testing::{eventually, maildev::MailDev, metric, WAIT},
};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{ics_lines, ics_utc, spawn_app_with, Booking, TestApp};

const PORTAL: &str = "https://portal.clinic.example/carebook";

async fn app(mail: &MailDev) -> TestApp {
    spawn_app_with(mail, |c| c.portal_url = PORTAL.parse().unwrap()).await
}

/// The offer of `b`'s slot to its patient, in New York, lapsing at `expires_at`.
fn offer(b: &Booking, expires_at: DateTime<Utc>) -> WaitlistOffered {
    WaitlistOffered {
        offer_id: Uuid::now_v7(),
        entry_id: Uuid::now_v7(),
        patient_id: b.patient.user.id,
        hold_id: b.appointment_id,
        provider_id: b.provider.user.id,
        appointment_type_id: Uuid::now_v7(),
        appointment_type_name: "Consultation".into(),
        start: b.start,
        end: b.start + Duration::minutes(30),
        time_zone: "America/New_York".into(),
        mode: Mode::InPerson,
        expires_at,
        token: format!("wo_{}", Uuid::new_v4().simple()),
    }
}

/// The offer's delivery as (status, last_error, snapshot, the whole row as text).
async fn stored(app: &TestApp, offer_id: Uuid) -> Option<(String, Option<String>, Value, String)> {
    sqlx::query_as::<_, (String, Option<String>, sqlx::types::Json<Value>, String)>(
        "SELECT status, last_error, snapshot, d::text FROM deliveries d
         WHERE appointment_id = $1 AND kind = 'waitlist-offer'",
    )
    .bind(offer_id)
    .fetch_optional(&app.db)
    .await
    .unwrap()
    .map(|(s, e, j, row)| (s, e, j.0, row))
}

async fn settled(app: &TestApp, offer_id: Uuid) -> (String, Option<String>, Value, String) {
    eventually(WAIT, "the offer's delivery settled", || async {
        stored(app, offer_id)
            .await
            .filter(|r| r.0 != "pending" && r.0 != "sending")
    })
    .await
}

#[tokio::test]
async fn an_offer_emails_the_patient_a_slot_opened_with_the_claim_link_in_the_providers_zone_and_forgets_the_token(
) {
    let mail = MailDev::start().await;
    let app = app(&mail).await;
    let b = app.booking(3).await;
    let expires_at =
        Utc::now().duration_trunc(Duration::minutes(1)).unwrap() + Duration::minutes(15);
    let o = offer(&b, expires_at);
    let event = Envelope::of::<WaitlistOffered>(&o).unwrap();
    app.deliver(&event).await;
    // Redelivered, it adds nothing.
    app.publish(&event).await;

    let emails = mail
        .wait_for(1, "the offer", |e| e.subject() == "A slot opened")
        .await;
    assert_eq!(emails.len(), 1);
    let email = &emails[0];
    assert!(email.is_to(&b.patient.email), "{:?}", email.to());
    let text = email.text();
    let link = format!("{PORTAL}/waitlist/offers/{}", o.token);
    assert!(
        text.lines().any(|l| l.trim() == link),
        "no claim link {link} in\n{text}"
    );
    assert!(email.html().contains(&o.token), "{}", email.html());
    // The slot and the lapse time in the provider's zone (and UTC).
    let ny = chrono_tz::America::New_York;
    let local_start = b
        .start
        .with_timezone(&ny)
        .format("%A %-d %B %Y, %H:%M %Z")
        .to_string();
    let local_end = (b.start + Duration::minutes(30))
        .with_timezone(&ny)
        .format("%H:%M")
        .to_string();
    assert!(
        text.contains(&format!("{local_start} – {local_end} (America/New_York)")),
        "{text}"
    );
    let lapse = expires_at
        .with_timezone(&ny)
        .format("%A %-d %B %Y, %H:%M %Z")
        .to_string();
    assert!(text.contains(&lapse), "{text}");
    assert!(
        text.contains(&expires_at.format("%Y-%m-%d %H:%M UTC").to_string()),
        "{text}"
    );
    assert!(text.contains("Hello Paula Patient,"), "{text}");
    assert!(text.contains("Dr. Lena Vogel"), "{text}");

    // A tentative entry for the held slot, under the id the booking will have.
    let ics = mail.calendar(email).await;
    let lines = ics_lines(&ics);
    for expected in [
        format!("UID:{}@carebook.dev", o.hold_id),
        "SEQUENCE:0".to_owned(),
        "STATUS:TENTATIVE".to_owned(),
        format!("DTSTART:{}", ics_utc(b.start)),
    ] {
        assert!(lines.contains(&expected), "{expected} not in\n{ics}");
    }
    assert!(
        !ics.contains(&o.token),
        "the token stays out of the calendar"
    );

    // Sent once; the token is no longer stored anywhere in the log.
    let (status, _, snapshot, row) = settled(&app, o.offer_id).await;
    assert_eq!(status, "sent");
    assert!(snapshot.get("token").is_none(), "{snapshot}");
    assert!(!row.contains(&o.token), "a token kept after sending");
    assert_eq!(snapshot["offer_id"], o.offer_id.to_string());
    assert_eq!(
        mail.emails().await.len(),
        1,
        "nothing more after a redelivery"
    );
    assert_eq!(
        metric(
            &app.metrics().await,
            "notifications_sent_total{kind=\"waitlist-offer\"}"
        ),
        1.0
    );
}

#[tokio::test]
async fn an_offer_that_lapsed_before_it_could_be_sent_is_dropped_and_its_token_forgotten() {
    let mail = MailDev::start().await;
    let app = app(&mail).await;
    let b = app.booking(3).await;
    let o = offer(&b, app_now(&app) - Duration::minutes(1));
    app.deliver(&Envelope::of::<WaitlistOffered>(&o).unwrap())
        .await;
    let (status, error, snapshot, row) = settled(&app, o.offer_id).await;
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("cancelled", Some("expired"))
    );
    assert!(snapshot.get("token").is_none(), "{snapshot}");
    assert!(!row.contains(&o.token));
    assert!(mail.emails().await.is_empty());
}

fn app_now(app: &TestApp) -> DateTime<Utc> {
    use notifications::clock::Clock;
    app.clock.now()
}

#[tokio::test]
async fn an_impossible_offer_or_links_event_is_dead_lettered_and_sends_nothing() {
    let mail = MailDev::start().await;
    let app = app(&mail).await;
    let [appointments, ..] = crate::helpers::specs(&app.config);
    let b = app.booking(3).await;
    let mut on_mars = offer(&b, app_now(&app) + Duration::minutes(15));
    on_mars.time_zone = "Mars/Olympus".into();
    app.publish(&Envelope::of::<WaitlistOffered>(&on_mars).unwrap())
        .await;
    let links = contracts::scheduling::AppointmentLinksIssued {
        appointment_id: b.appointment_id,
        patient_id: b.patient.user.id,
        version: 0,
        cancel_token: "cx_secret".into(),
        reschedule_token: "rs_secret".into(),
        expires_at: b.start,
    };
    app.publish(&Envelope::of::<contracts::scheduling::AppointmentLinksIssued>(&links).unwrap())
        .await;
    app.wait_for_queue_depth(&appointments.dead_letter_queue(), 2)
        .await;
    assert!(stored(&app, on_mars.offer_id).await.is_none());
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM appointment_links")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(kept, 0);
    assert!(mail.emails().await.is_empty());
}

/// `hold.expired` (or `.released`) for the offer `o`'s hold.
fn hold_ended<E: contracts::Event<Payload = contracts::scheduling::Hold>>(
    o: &WaitlistOffered,
    waitlist_entry_id: Option<Uuid>,
) -> Envelope {
    Envelope::of::<E>(&contracts::scheduling::Hold {
        hold_id: o.hold_id,
        patient_id: o.patient_id,
        provider_id: o.provider_id,
        appointment_type_id: o.appointment_type_id,
        start: o.start,
        end: o.end,
        expires_at: o.expires_at,
        waitlist_entry_id,
        appointment_id: None,
        changed_by: None,
    })
    .unwrap()
}

#[tokio::test]
async fn an_offer_that_lapses_unbooked_takes_its_tentative_entry_back() {
    use contracts::scheduling::{HoldExpired, HoldReleased};
    let mail = MailDev::start().await;
    let app = app(&mail).await;
    let b = app.booking(3).await;
    let o = offer(&b, Utc::now() + Duration::minutes(15));
    app.deliver(&Envelope::of::<WaitlistOffered>(&o).unwrap())
        .await;
    mail.wait_for(1, "the offer", |e| e.subject() == "A slot opened")
        .await;
    settled(&app, o.offer_id).await;

    // A patient's own hold lapsing is nobody's email.
    app.deliver(&hold_ended::<HoldExpired>(&o, None)).await;
    // The offer's hold lapses (and, redelivered or released too, one email).
    app.deliver(&hold_ended::<HoldExpired>(&o, Some(o.entry_id)))
        .await;
    app.deliver(&hold_ended::<HoldReleased>(&o, Some(o.entry_id)))
        .await;
    let ended = mail
        .wait_for(1, "the release", |e| {
            e.subject() == "The slot held for you was released"
        })
        .await;
    assert_eq!(ended.len(), 1);
    assert!(ended[0].is_to(&b.patient.email));
    assert!(
        ended[0].text().contains("no longer held"),
        "{}",
        ended[0].text()
    );
    let ics = mail.calendar(&ended[0]).await;
    let lines = ics_lines(&ics);
    for expected in [
        "METHOD:CANCEL".to_owned(),
        format!("UID:{}@carebook.dev", o.hold_id),
        "SEQUENCE:1".to_owned(),
        "STATUS:CANCELLED".to_owned(),
    ] {
        assert!(lines.contains(&expected), "{expected} not in\n{ics}");
    }
    assert!(!ics.contains(&o.token) && !ended[0].text().contains(&o.token));

    // An offer never emailed leaves nothing to take back.
    let quiet = offer(&app.booking(4).await, Utc::now() - Duration::minutes(1));
    app.deliver(&Envelope::of::<WaitlistOffered>(&quiet).unwrap())
        .await;
    settled(&app, quiet.offer_id).await;
    app.deliver(&hold_ended::<HoldExpired>(&quiet, Some(quiet.entry_id)))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        mail.emails()
            .await
            .iter()
            .filter(|e| e.subject() == "The slot held for you was released")
            .count(),
        1
    );
}
