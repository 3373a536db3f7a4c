//! Every break-glass grant emails the patient at once, and the privacy contact
//! (or, without one, every admin) to review it; a redelivered grant sends
//! nothing more.

use chrono::{DateTime, Duration, DurationRound, Utc};
use contracts::records::BreakGlassGranted;
use platform::{
    auth::Role,
    events::Envelope,
    testing::maildev::{Email, MailDev},
};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{spawn_app, spawn_app_with, Person, TestApp};

const PRIVACY_CONTACT: &str = "privacy@clinic.example";
const PATIENT_SUBJECT: &str = "Emergency access to your health record";
const REVIEW_SUBJECT: &str = "Break-glass access to a patient's record";
const REASON: &str = "Unconscious in the emergency room; checking allergies";

/// `Tuesday 3 March 2026, 09:05 UTC`, as the emails show times.
fn shown(at: DateTime<Utc>) -> String {
    at.format("%A %-d %B %Y, %H:%M UTC").to_string()
}

/// A patient, a provider and a grant for the provider to read the patient's
/// record for 30 minutes from now (not yet announced).
async fn grant(app: &TestApp) -> (Person, Person, BreakGlassGranted) {
    let n = Uuid::now_v7().simple().to_string();
    let patient = app
        .register(
            Role::Patient,
            "Paula Patient",
            &format!("paula.{}@example.org", &n[20..]),
        )
        .await;
    let provider = app
        .register(
            Role::Provider,
            "Dr. Lena Vogel",
            &format!("vogel.{}@example.org", &n[20..]),
        )
        .await;
    let granted_at = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    let grant = BreakGlassGranted {
        grant_id: Uuid::now_v7(),
        patient_id: patient.user.id,
        provider_id: provider.user.id,
        reason: REASON.into(),
        granted_at,
        expires_at: granted_at + Duration::minutes(30),
    };
    (patient, provider, grant)
}

fn announce(grant: &BreakGlassGranted) -> Envelope {
    Envelope::of::<BreakGlassGranted>(grant).unwrap()
}

/// The patient's email says who opened the record, when, until when and why,
/// with no calendar file, under a Message-ID derived from the grant.
fn assert_patient_email(email: &Email, grant: &BreakGlassGranted) {
    assert_eq!(email.subject(), PATIENT_SUBJECT);
    for body in [email.text(), email.html()] {
        assert!(body.contains("Hello Paula Patient,"), "{body}");
        assert!(
            body.contains("Dr. Lena Vogel opened your health record in an emergency"),
            "{body}"
        );
        assert!(body.contains(&shown(grant.granted_at)), "{body}");
        assert!(body.contains(&shown(grant.expires_at)), "{body}");
        assert!(body.contains("Times are in UTC."), "{body}");
        assert!(body.contains(REASON), "{body}");
    }
    assert!(email.attachments().is_empty(), "{}", email.0);
    let message_id = email.0["headers"]["message-id"].as_str().unwrap_or("");
    assert!(
        message_id.contains(&format!(
            "{}.break-glass.v1.{}",
            grant.grant_id, grant.patient_id
        )),
        "{message_id}"
    );
}

/// The reviewer's email says who opened whose record, when, until when, why,
/// and that an admin must review it.
fn assert_review_email(email: &Email, grant: &BreakGlassGranted, greeting: &str) {
    assert_eq!(email.subject(), REVIEW_SUBJECT);
    for body in [email.text(), email.html()] {
        assert!(body.contains(greeting), "{body}");
        assert!(
            body.contains("Dr. Lena Vogel opened the health record of Paula Patient"),
            "{body}"
        );
        assert!(body.contains(&shown(grant.granted_at)), "{body}");
        assert!(body.contains(&shown(grant.expires_at)), "{body}");
        assert!(body.contains(REASON), "{body}");
        assert!(
            body.contains("An admin must review this access in the Carebook portal."),
            "{body}"
        );
    }
    assert!(email.attachments().is_empty(), "{}", email.0);
}

/// The same grant again: the same event redelivered, and another event saying
/// the same thing. Returns once both were consumed.
async fn redeliver(app: &TestApp, event: &Envelope, grant: &BreakGlassGranted) {
    app.publish(event).await;
    app.deliver(&announce(grant)).await;
}

#[tokio::test]
async fn a_grant_emails_the_patient_and_the_configured_privacy_contact_once() {
    let mail = MailDev::start().await;
    let app = spawn_app_with(&mail, |c| {
        c.privacy_contact = Some(PRIVACY_CONTACT.parse().unwrap());
    })
    .await;
    let admin = app
        .register(Role::Admin, "Ada Admin", "ada@clinic.example")
        .await;
    let (patient, _provider, grant) = grant(&app).await;
    let event = announce(&grant);
    app.deliver(&event).await;

    let emails = mail
        .wait_for(2, "the two break-glass emails", |_| true)
        .await;
    let to_patient = emails
        .iter()
        .find(|e| e.is_to(&patient.email))
        .expect("the patient's");
    assert_patient_email(to_patient, &grant);
    let to_contact = emails
        .iter()
        .find(|e| e.is_to(PRIVACY_CONTACT))
        .expect("the privacy contact's");
    assert_review_email(to_contact, &grant, "Hello there,");

    app.settled(grant.grant_id).await;
    redeliver(&app, &event, &grant).await;
    app.settled(grant.grant_id).await;
    let rows = app.deliveries(grant.grant_id).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.0 == "break-glass" && r.1 == 1 && r.3 == "sent" && r.4 == 1),
        "{rows:?}"
    );
    let emails = mail.emails().await;
    assert_eq!(emails.len(), 2, "nothing more after a redelivery");
    assert!(
        !emails.iter().any(|e| e.is_to(&admin.email)),
        "a configured contact replaces the admins"
    );
}

#[tokio::test]
async fn without_a_privacy_contact_every_admin_is_told_and_staff_are_not() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let ada = app
        .register(Role::Admin, "Ada Admin", "ada@clinic.example")
        .await;
    let bob = app
        .register(Role::Admin, "Bob Admin", "bob@clinic.example")
        .await;
    let staff = app
        .register(Role::Staff, "Sam Staff", "sam@clinic.example")
        .await;
    let (patient, _provider, grant) = grant(&app).await;
    let event = announce(&grant);
    app.deliver(&event).await;

    let emails = mail
        .wait_for(3, "the three break-glass emails", |_| true)
        .await;
    let to_patient = emails
        .iter()
        .find(|e| e.is_to(&patient.email))
        .expect("the patient's");
    assert_patient_email(to_patient, &grant);
    for (admin, greeting) in [(&ada, "Hello Ada Admin,"), (&bob, "Hello Bob Admin,")] {
        let email = emails
            .iter()
            .find(|e| e.is_to(&admin.email))
            .expect("each admin's");
        assert_review_email(email, &grant, greeting);
    }

    app.settled(grant.grant_id).await;
    redeliver(&app, &event, &grant).await;
    app.settled(grant.grant_id).await;
    assert_eq!(app.deliveries(grant.grant_id).await.len(), 3);
    let emails = mail.emails().await;
    assert_eq!(emails.len(), 3, "nothing more after a redelivery");
    assert!(!emails.iter().any(|e| e.is_to(&staff.email)));
    let staff_known: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM people WHERE id = $1)")
            .bind(staff.user.id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(!staff_known, "staff are still not kept");

    // Each admin finds the email in their own list.
    let list: Value = app.get_ok(&ada.user, "/api/v1/notifications").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["kind"], "break-glass");
    assert_eq!(items[0]["subject"], REVIEW_SUBJECT);
    assert_eq!(items[0]["appointment_id"], grant.grant_id.to_string());
    assert_eq!(items[0]["status"], "sent");
}

#[tokio::test]
async fn a_malformed_grant_is_dead_lettered_and_sends_nothing() {
    let mail = MailDev::start().await;
    let app = spawn_app(&mail).await;
    let [_, _, records, _] = crate::helpers::specs(&app.config);
    let (_patient, _provider, grant) = grant(&app).await;
    let mut missing_reason = announce(&grant);
    missing_reason
        .data
        .as_object_mut()
        .unwrap()
        .remove("reason");
    app.publish(&missing_reason).await;
    app.wait_for_queue_depth(&records.dead_letter_queue(), 1)
        .await;
    // A valid grant behind it still goes through.
    app.deliver(&announce(&grant)).await;
    app.settled(grant.grant_id).await;
    assert_eq!(app.deliveries(grant.grant_id).await.len(), 1);
    assert_eq!(mail.emails().await.len(), 1);
}
