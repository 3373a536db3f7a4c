//! The sign-in throttle: per (account, address) and per address, never per
//! account alone; the alert when many addresses fail against one account.

use contracts::identity::SigninAlert;
use platform::testing::assert_problem;
use reqwest::StatusCode;

use crate::helpers::{spawn_app, PASSWORD};

const WRONG: &str = "guess guess guess";

#[tokio::test]
async fn fifty_wrong_passwords_from_one_address_leave_the_owner_free_to_log_in_from_theirs() {
    let app = spawn_app().await;
    app.patient_tokens("paula@example.org").await;
    for _ in 0..50 {
        let r = app
            .login_from("127.0.0.2", "paula@example.org", WRONG)
            .await;
        assert!(
            matches!(
                r.status(),
                StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
            ),
            "{}",
            r.status()
        );
    }
    // The attacker's address is stopped, even with the right password...
    assert_problem(
        app.login_from("127.0.0.2", "paula@example.org", PASSWORD)
            .await,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-attempts",
    )
    .await;
    // ...the owner at their own address is not, at once.
    assert_eq!(
        app.login_from("127.0.0.1", "paula@example.org", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("paula@example.org", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_pair_waits_after_five_failures_with_a_growing_delay() {
    let app = spawn_app().await;
    app.patient_tokens("paula@example.org").await;
    for _ in 0..5 {
        assert_problem(
            app.login_from("203.0.113.7", "paula@example.org", WRONG)
                .await,
            StatusCode::UNAUTHORIZED,
            "invalid-credentials",
        )
        .await;
    }
    let r = app
        .login_from("203.0.113.7", "paula@example.org", PASSWORD)
        .await;
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "too-many-attempts").await;
    // After the wait, one more failure doubles it.
    app.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(
        app.login_from("203.0.113.7", "paula@example.org", WRONG)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .login_from("203.0.113.7", "paula@example.org", PASSWORD)
        .await;
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((31..=60).contains(&retry), "{retry}");
    // Once it passes, the right password works and clears the pair.
    app.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(
        app.login_from("203.0.113.7", "paula@example.org", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login_from("203.0.113.7", "paula@example.org", WRONG)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn unknown_emails_are_throttled_exactly_like_known_ones() {
    let app = spawn_app().await;
    app.patient_tokens("paula@example.org").await;
    for email in ["paula@example.org", "ghost@example.org"] {
        for _ in 0..5 {
            assert_problem(
                app.login_from("203.0.113.8", email, WRONG).await,
                StatusCode::UNAUTHORIZED,
                "invalid-credentials",
            )
            .await;
        }
        let body = assert_problem(
            app.login_from("203.0.113.8", email, PASSWORD).await,
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-attempts",
        )
        .await;
        assert!(!body.to_string().contains("example.org"));
    }
    // Nothing stored names an email or an address.
    let keys: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT key FROM login_counters UNION ALL SELECT account_key FROM login_failures
         UNION ALL SELECT address_key FROM login_failures",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(!keys.is_empty());
    assert!(keys.iter().all(|k| {
        let text = String::from_utf8_lossy(k);
        k.len() == 32 && !text.contains("example") && !text.contains("203.0")
    }));
}

#[tokio::test]
async fn an_address_that_fails_against_many_accounts_is_blocked_for_all_of_them() {
    let app = spawn_app().await;
    app.patient_tokens("paula@example.org").await;
    // Four failures each against thirteen accounts: 52 failures, no pair past five.
    'spray: for n in 0..13 {
        for _ in 0..4 {
            let r = app
                .login_from("192.0.2.66", &format!("user{n}@example.org"), WRONG)
                .await;
            if r.status() == StatusCode::TOO_MANY_REQUESTS {
                break 'spray;
            }
        }
    }
    let r = app
        .login_from("192.0.2.66", "paula@example.org", PASSWORD)
        .await;
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 25 * 60, "{retry}");
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "too-many-attempts").await;
    // Everyone else is unaffected.
    assert_eq!(
        app.login_from("192.0.2.67", "paula@example.org", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn ipv6_clients_are_counted_per_64() {
    let app = spawn_app().await;
    app.patient_tokens("paula@example.org").await;
    for i in 0..5 {
        app.login_from(&format!("2001:db8:1:2::{i:x}"), "paula@example.org", WRONG)
            .await;
    }
    assert_problem(
        app.login_from("2001:db8:1:2::ffff", "paula@example.org", PASSWORD)
            .await,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-attempts",
    )
    .await;
    assert_eq!(
        app.login_from("2001:db8:1:3::1", "paula@example.org", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn many_addresses_failing_against_one_account_alert_its_holder_once_per_episode() {
    let app = spawn_app().await;
    app.patient_tokens("paula@example.org").await;
    // 24 failures from 6 addresses (4 each: no pair is throttled).
    for a in 0..6 {
        for _ in 0..4 {
            app.login_from(&format!("198.51.100.{a}"), "paula@example.org", WRONG)
                .await;
        }
    }
    let alerts = app.published::<SigninAlert>().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].email, "paula@example.org");
    assert_eq!(alerts[0].user_id, app.user_id("paula@example.org").await);
    assert!(
        alerts[0].failures >= 20 && alerts[0].addresses >= 5,
        "{:?}",
        alerts[0]
    );
    // The episode goes on: no second alert.
    for a in 10..14 {
        app.login_from(&format!("198.51.100.{a}"), "paula@example.org", WRONG)
            .await;
    }
    assert_eq!(app.published::<SigninAlert>().await.len(), 1);
    // A quiet hour ends it; a new wave is a new episode.
    app.clock.advance(chrono::Duration::minutes(61));
    for a in 20..26 {
        for _ in 0..4 {
            app.login_from(&format!("198.51.100.{a}"), "paula@example.org", WRONG)
                .await;
        }
    }
    assert_eq!(app.published::<SigninAlert>().await.len(), 2);
    // Unknown accounts are counted alike, and nobody is alerted.
    for a in 0..6 {
        for _ in 0..4 {
            app.login_from(&format!("198.51.101.{a}"), "ghost@example.org", WRONG)
                .await;
        }
    }
    assert_eq!(app.published::<SigninAlert>().await.len(), 2);
}

#[tokio::test]
async fn a_request_from_an_untrusted_peer_cannot_choose_its_address() {
    // No trusted proxies: the X-Forwarded-For a client sends is ignored.
    let app = crate::helpers::spawn_app_with(|_, policy| policy.trusted_proxies.clear()).await;
    app.patient_tokens("paula@example.org").await;
    for i in 0..5 {
        app.login_from(&format!("198.51.100.{i}"), "paula@example.org", WRONG)
            .await;
    }
    assert_problem(
        app.login_from("198.51.100.200", "paula@example.org", PASSWORD)
            .await,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-attempts",
    )
    .await;
}
