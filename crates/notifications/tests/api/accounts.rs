//! Identity's account events become one email each to the account's holder:
//! verification and reset links into the portal, and notices. A link's token
//! is not kept once its email is sent (or dropped), and a link that expired
//! before it could go out is not sent at all.

use chrono::{DateTime, Duration, DurationRound, Utc};
use contracts::identity::{
    PasswordChanged, PasswordResetRequested, RegistrationAttempted, SigninAlert,
    VerificationRequested,
};
use platform::{
    auth::Role,
    events::Envelope,
    testing::{maildev::MailDev, metric},
};
use reqwest::Url;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{spawn_app_with, TestApp};

const PORTAL: &str = "https://portal.clinic.example/carebook";

/// The service with links into [`PORTAL`].
async fn app(mail: &MailDev) -> TestApp {
    spawn_app_with(mail, |c| c.portal_url = PORTAL.parse().unwrap()).await
}

/// A fresh token, as identity makes them (URL-safe, unguessable).
fn token(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::new_v4().simple())
}

fn now() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::seconds(1)).unwrap()
}

/// The link into the portal at `path` in an email's text, parsed.
fn link(text: &str, path: &str) -> Url {
    let start = format!("{PORTAL}{path}");
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&start))
        .unwrap_or_else(|| panic!("no link to {start} in\n{text}"));
    Url::parse(line).unwrap()
}

fn token_of(url: &Url) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

/// Every stored delivery of the account, as (kind, status, last_error, snapshot).
async fn stored(app: &TestApp, user_id: Uuid) -> Vec<(String, String, Option<String>, Value)> {
    sqlx::query_as::<_, (String, String, Option<String>, sqlx::types::Json<Value>)>(
        "SELECT kind, status, last_error, snapshot FROM deliveries
         WHERE recipient_id = $1 ORDER BY kind",
    )
    .bind(user_id)
    .fetch_all(&app.db)
    .await
    .unwrap()
    .into_iter()
    .map(|(k, s, e, j)| (k, s, e, j.0))
    .collect()
}

/// Wait until the account's `n` deliveries all reached a final state.
async fn settled(app: &TestApp, user_id: Uuid, n: usize) {
    platform::testing::eventually(
        platform::testing::WAIT,
        "account emails settled",
        || async {
            let rows = stored(app, user_id).await;
            (rows.len() == n && rows.iter().all(|r| r.1 != "pending" && r.1 != "sending"))
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn each_account_email_arrives_once_with_its_subject_and_a_working_link_whose_token_is_then_forgotten(
) {
    let mail = MailDev::start().await;
    let app = app(&mail).await;
    // A staff member: no read model knows them, the event says all.
    let holder = app.user(Role::Staff);
    let email = format!(
        "sam.{}@clinic.example",
        &Uuid::now_v7().simple().to_string()[20..]
    );
    let name = "Sam Staff".to_owned();
    let at = now();
    let (verify_token, reset_token) = (token("vt"), token("rt"));

    let verification = Envelope::of::<VerificationRequested>(&VerificationRequested {
        user_id: holder.id,
        email: email.clone(),
        name: name.clone(),
        token: verify_token.clone(),
        expires_at: at + Duration::hours(24),
    })
    .unwrap();
    let events = [
        verification.clone(),
        Envelope::of::<RegistrationAttempted>(&RegistrationAttempted {
            user_id: holder.id,
            email: email.clone(),
            name: name.clone(),
            at,
        })
        .unwrap(),
        Envelope::of::<PasswordResetRequested>(&PasswordResetRequested {
            user_id: holder.id,
            email: email.clone(),
            name: name.clone(),
            token: reset_token.clone(),
            expires_at: at + Duration::minutes(30),
        })
        .unwrap(),
        Envelope::of::<PasswordChanged>(&PasswordChanged {
            user_id: holder.id,
            email: email.clone(),
            name: name.clone(),
            at,
            by_reset: true,
        })
        .unwrap(),
        Envelope::of::<SigninAlert>(&SigninAlert {
            user_id: holder.id,
            email: email.clone(),
            name: name.clone(),
            failures: 40,
            addresses: 12,
            since: at - Duration::hours(1),
        })
        .unwrap(),
    ];
    for e in &events {
        app.deliver(e).await;
    }
    // The same verification event redelivered adds nothing.
    app.publish(&verification).await;

    let emails = mail.wait_for(5, "the five account emails", |_| true).await;
    assert!(emails.iter().all(|e| e.is_to(&email)), "all to the holder");
    assert!(emails.iter().all(|e| e.attachments().is_empty()), "no .ics");
    let by_subject = |subject: &str| {
        let found: Vec<_> = emails.iter().filter(|e| e.subject() == subject).collect();
        assert_eq!(found.len(), 1, "one {subject:?}");
        found[0]
    };

    let verify = by_subject("Confirm your email address");
    let url = link(verify.text(), "/verify-email?");
    assert_eq!(url.path(), "/carebook/verify-email");
    assert_eq!(token_of(&url).as_deref(), Some(verify_token.as_str()));
    assert!(verify.html().contains(&verify_token), "{}", verify.html());
    assert!(
        verify.text().contains("Hello Sam Staff,"),
        "{}",
        verify.text()
    );
    assert!(verify.text().contains("24 hours"), "{}", verify.text());
    let expiry = (at + Duration::hours(24))
        .format("%A %-d %B %Y, %H:%M UTC")
        .to_string();
    assert!(verify.text().contains(&expiry), "{}", verify.text());
    let message_id = verify.0["headers"]["message-id"].as_str().unwrap_or("");
    assert!(
        message_id.contains(&format!(
            "{}.verify-email.v1.{}",
            verification.id, holder.id
        )),
        "{message_id}"
    );

    let reset = by_subject("Reset your Carebook password");
    let url = link(reset.text(), "/password-reset/confirm?");
    assert_eq!(url.path(), "/carebook/password-reset/confirm");
    assert_eq!(token_of(&url).as_deref(), Some(reset_token.as_str()));
    assert!(reset.text().contains("30 minutes"), "{}", reset.text());

    let attempted = by_subject("Someone tried to register with your email address");
    assert_eq!(link(attempted.text(), "/login").path(), "/carebook/login");
    assert_eq!(
        link(attempted.text(), "/password-reset").path(),
        "/carebook/password-reset"
    );
    assert!(!attempted.text().contains("token="), "{}", attempted.text());

    let changed = by_subject("Your Carebook password was changed");
    assert!(
        changed.text().contains("contact the clinic"),
        "{}",
        changed.text()
    );
    let alert = by_subject("Unusual sign-in attempts on your Carebook account");
    assert!(
        alert
            .text()
            .contains("40 failed sign-in attempts from 12 different network addresses"),
        "{}",
        alert.text()
    );

    // Sent, once each; the tokens are no longer stored anywhere in the log.
    settled(&app, holder.id, 5).await;
    let rows = stored(&app, holder.id).await;
    let kinds: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "password-changed",
            "password-reset",
            "registration-attempted",
            "signin-alert",
            "verify-email"
        ]
    );
    assert!(rows.iter().all(|r| r.1 == "sent"), "{rows:?}");
    let log: String = sqlx::query_scalar(
        "SELECT coalesce(string_agg(d::text, ' '), '') FROM deliveries d WHERE recipient_id = $1",
    )
    .bind(holder.id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(!log.is_empty());
    for secret in [&verify_token, &reset_token] {
        assert!(!log.contains(secret.as_str()), "a token kept after sending");
    }
    assert_eq!(
        mail.emails().await.len(),
        5,
        "nothing more after a redelivery"
    );
    assert_eq!(
        metric(
            &app.metrics().await,
            "notifications_sent_total{kind=\"verify-email\"}"
        ),
        1.0
    );

    // The holder finds them in their own list.
    let list: Value = app.get_ok(&holder, "/api/v1/notifications").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 5, "{list}");
}

#[tokio::test]
async fn a_link_that_expired_before_it_could_be_sent_is_dropped_and_its_token_forgotten() {
    let mut mail = MailDev::start().await;
    let app = app(&mail).await;
    let holder = app.user(Role::Patient);
    let secret = token("rt");
    let expires_at = now() + Duration::minutes(30);
    mail.stop();
    app.deliver(
        &Envelope::of::<PasswordResetRequested>(&PasswordResetRequested {
            user_id: holder.id,
            email: "ada@example.org".into(),
            name: "Ada Patient".into(),
            token: secret.clone(),
            expires_at,
        })
        .unwrap(),
    )
    .await;
    // Attempts fail while SMTP is down; the token is kept for the next one.
    platform::testing::eventually(platform::testing::WAIT, "a failed attempt", || async {
        let attempts: i32 =
            sqlx::query_scalar("SELECT attempts FROM deliveries WHERE recipient_id = $1")
                .bind(holder.id)
                .fetch_optional(&app.db)
                .await
                .ok()??;
        (attempts >= 1).then_some(())
    })
    .await;
    // SMTP comes back only after the link stopped working.
    app.clock.set(expires_at + Duration::minutes(1));
    mail.restart().await;
    settled(&app, holder.id, 1).await;
    let rows = stored(&app, holder.id).await;
    assert_eq!(rows[0].0, "password-reset");
    assert_eq!(
        (rows[0].1.as_str(), rows[0].2.as_deref()),
        ("cancelled", Some("expired"))
    );
    assert!(
        rows[0].3.get("token").is_none(),
        "{:?}",
        rows[0].3.as_object().map(|o| o.keys().collect::<Vec<_>>())
    );
    assert!(mail.emails().await.is_empty());
}
