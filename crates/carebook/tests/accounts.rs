//! Issue 18 end to end: accounts a clinic can run, proved through the gateway
//! with every service on the real backing services and the emails read from
//! MailDev. Registration does not tell whether an address has an account; a
//! patient verifies their address, resets a forgotten password and changes
//! it; failures from one address never lock a provider out of another, and
//! many addresses alert the holder once; an admin signs in with a TOTP code
//! and a disabled provider's token is refused by the gateway and by a service
//! within a minute.
//!
//! Clients bind their own loopback source address (`127.0.0.2`, …; Linux
//! routes all of 127/8 to `lo`): the gateway takes the TCP peer as the client,
//! identity believes the gateway's `X-Forwarded-For` (it trusts loopback).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use carebook::stack::Stack;
use platform::{demo, testing::maildev::Email};
use reqwest::{header::HeaderMap, Method, StatusCode};
use serde_json::{json, Value};
use support::{Answer, WAIT};

/// Sign-ins here are many, from few addresses: far more than the gateway's
/// default auth-route limit per address allows in a minute. The limit is the
/// gateway's business, tested with it; here every attempt must reach identity.
const GATEWAY_ENV: &[(&str, &str)] = &[("GATEWAY_RATE_AUTH", "10000/1m")];

const VERIFY_SUBJECT: &str = "Confirm your email address";
const ATTEMPT_SUBJECT: &str = "Someone tried to register with your email address";
const RESET_SUBJECT: &str = "Reset your Carebook password";
const CHANGED_SUBJECT: &str = "Your Carebook password was changed";
const ALERT_SUBJECT: &str = "Unusual sign-in attempts on your Carebook account";

/// An HTTP client whose connections leave from `source` (a loopback address).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().expect("an address"))
        .build()
        .expect("a client")
}

/// `method path` on the gateway, with a bearer token and a JSON body if given.
async fn call(
    http: &reqwest::Client,
    stack: &Stack,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    send(http, method, &stack.url(path), token, body).await
}

async fn send(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut request = http.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let r = request.send().await.expect("request");
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        text,
        json,
    }
}

async fn post(http: &reqwest::Client, stack: &Stack, path: &str, body: Value) -> Answer {
    call(http, stack, Method::POST, path, None, Some(body)).await
}

async fn login(http: &reqwest::Client, stack: &Stack, email: &str, password: &str) -> Answer {
    post(
        http,
        stack,
        "/api/v1/auth/login",
        json!({ "email": email, "password": password }),
    )
    .await
}

/// The problem `type` of an answer ends with `/kind`.
fn problem_is(answer: &Answer, kind: &str) -> bool {
    answer.json["type"]
        .as_str()
        .is_some_and(|t| t.ends_with(&format!("/{kind}")))
}

/// Assert a status, showing the body when it differs.
#[track_caller]
fn expect_status(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.status.as_u16(), status, "{what}: {}", answer.text);
}

/// A login that must succeed: its access and refresh tokens.
async fn session(stack: &Stack, email: &str, password: &str) -> (String, String) {
    let a = login(&reqwest::Client::new(), stack, email, password).await;
    expect_status(&a, 200, "login");
    (
        a.json["access_token"].as_str().expect("a token").to_owned(),
        a.json["refresh_token"]
            .as_str()
            .expect("a token")
            .to_owned(),
    )
}

async fn refresh(stack: &Stack, refresh_token: &str) -> Answer {
    post(
        &reqwest::Client::new(),
        stack,
        "/api/v1/auth/refresh",
        json!({ "refresh_token": refresh_token }),
    )
    .await
}

/// The token of the portal link `…{page}?token=…` in an email.
fn link_token(email: &Email, page: &str) -> String {
    let pattern = format!(r"{}\?token=([A-Za-z0-9_.~%-]+)", regex::escape(page));
    let re = regex::Regex::new(&pattern).unwrap();
    let found = re
        .captures(email.text())
        .or_else(|| re.captures(email.html()))
        .unwrap_or_else(|| panic!("a {page} link in: {}", email.text()));
    percent_encoding::percent_decode_str(&found[1])
        .decode_utf8()
        .expect("UTF-8")
        .into_owned()
}

/// The emails to `address` with `subject` received so far.
async fn mails(stack: &Stack, address: &str, subject: &str) -> Vec<Email> {
    stack
        .mail
        .emails()
        .await
        .into_iter()
        .filter(|m| m.is_to(address) && m.subject() == subject)
        .collect()
}

async fn wait_mail(stack: &Stack, n: usize, address: &str, subject: &str) -> Vec<Email> {
    stack
        .mail
        .wait_for(n, &format!("{n} × {subject:?}"), |m| {
            m.is_to(address) && m.subject() == subject
        })
        .await
}

/// The headers of two answers that may differ: when and which request.
const PER_REQUEST: [&str; 5] = [
    "date",
    "x-request-id",
    "traceparent",
    "tracestate",
    "x-trace-id",
];

fn comparable(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| !PER_REQUEST.contains(&name.as_str()))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or("<binary>").to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn registering_an_existing_email_answers_exactly_as_a_new_one() {
    let stack = Stack::start_with(GATEWAY_ENV)
        .await
        .expect("the stack starts");
    let existing = demo::DEMO_USERS[5].email; // patient1
    let fresh = format!("new-{}@example.test", uuid::Uuid::new_v4().simple());
    let register = |email: String| json!({ "email": email, "password": "a long and new passphrase", "name": "Nina Newcomer" });
    // Each from an address of its own, so the gateway's rate-limit headers
    // count alike.
    let started = Instant::now();
    let new = post(
        &client_from("127.0.0.3"),
        &stack,
        "/api/v1/auth/register",
        register(fresh.clone()),
    )
    .await;
    let new_took = started.elapsed();
    let started = Instant::now();
    let old = post(
        &client_from("127.0.0.4"),
        &stack,
        "/api/v1/auth/register",
        register(existing.to_owned()),
    )
    .await;
    let old_took = started.elapsed();
    println!("registration answered in {new_took:?} (new address), {old_took:?} (existing)");

    expect_status(&new, 202, "a new address");
    assert_eq!(new.status, old.status);
    assert_eq!(new.text, old.text, "the same body");
    assert_eq!(new.json, json!({ "status": "verification_sent" }));
    assert_eq!(
        comparable(&new.headers),
        comparable(&old.headers),
        "the same headers but for the date and the request's ids"
    );

    // The new address is asked to confirm itself; the holder of the existing
    // one is told someone tried. Neither gets the other's email.
    let confirm = wait_mail(&stack, 1, &fresh, VERIFY_SUBJECT).await;
    assert!(!link_token(&confirm[0], "/verify-email").is_empty());
    let told = wait_mail(&stack, 1, existing, ATTEMPT_SUBJECT).await;
    assert!(
        !told[0].text().contains("token="),
        "no link with a token for someone who did not ask: {}",
        told[0].text()
    );
    assert!(mails(&stack, existing, VERIFY_SUBJECT).await.is_empty());
    assert!(mails(&stack, &fresh, ATTEMPT_SUBJECT).await.is_empty());
    // And the existing account is as it was.
    session(&stack, existing, demo::DEMO_PASSWORD).await;
}

#[tokio::test]
async fn a_patient_verifies_their_address_resets_a_forgotten_password_and_changes_it() {
    let stack = Stack::start_with(GATEWAY_ENV)
        .await
        .expect("the stack starts");
    let http = reqwest::Client::new();
    let email = format!("pat-{}@example.test", uuid::Uuid::new_v4().simple());
    let first = "first passphrase of mine";
    let second = "second passphrase, after the reset";
    let third = "third passphrase, changed myself";
    let registered = post(
        &http,
        &stack,
        "/api/v1/auth/register",
        json!({ "email": email, "password": first, "name": "Vera Verified" }),
    )
    .await;
    expect_status(&registered, 202, "register");

    // Unverified: only the right password learns so; a wrong one is just wrong.
    let unverified = login(&http, &stack, &email, first).await;
    expect_status(&unverified, 403, "login before verifying");
    assert!(
        problem_is(&unverified, "email-unverified"),
        "{}",
        unverified.text
    );
    let wrong = login(&http, &stack, &email, "not my passphrase at all").await;
    expect_status(&wrong, 401, "a wrong password before verifying");
    assert!(problem_is(&wrong, "invalid-credentials"), "{}", wrong.text);

    // The link's token verifies, once.
    let mail = wait_mail(&stack, 1, &email, VERIFY_SUBJECT).await;
    let token = link_token(&mail[0], "/verify-email");
    let verified = post(
        &http,
        &stack,
        "/api/v1/auth/verify-email",
        json!({ "token": token }),
    )
    .await;
    expect_status(&verified, 200, "verify");
    assert_eq!(verified.json, json!({ "verified": true }));
    let again = post(
        &http,
        &stack,
        "/api/v1/auth/verify-email",
        json!({ "token": token }),
    )
    .await;
    expect_status(&again, 400, "the link a second time");
    assert!(problem_is(&again, "invalid-token"), "{}", again.text);
    let (_, before_reset_refresh) = session(&stack, &email, first).await;

    // Forgotten: a reset link by email (the same answer for an unknown address).
    let reset = post(
        &http,
        &stack,
        "/api/v1/auth/password-reset",
        json!({ "email": email }),
    )
    .await;
    expect_status(&reset, 202, "reset");
    let unknown = post(
        &http,
        &stack,
        "/api/v1/auth/password-reset",
        json!({ "email": "nobody-here@example.test" }),
    )
    .await;
    assert_eq!(
        (unknown.status, &unknown.text),
        (reset.status, &reset.text),
        "an unknown address is answered alike"
    );
    let mail = wait_mail(&stack, 1, &email, RESET_SUBJECT).await;
    let token = link_token(&mail[0], "/password-reset/confirm");
    let confirm = json!({ "token": token, "new_password": second });
    let done = post(
        &http,
        &stack,
        "/api/v1/auth/password-reset/confirm",
        confirm.clone(),
    )
    .await;
    expect_status(&done, 204, "confirm the reset");
    let again = post(
        &http,
        &stack,
        "/api/v1/auth/password-reset/confirm",
        confirm,
    )
    .await;
    expect_status(&again, 400, "the reset link a second time");

    // The old password is refused, every earlier session ended.
    let old = login(&http, &stack, &email, first).await;
    expect_status(&old, 401, "the old password after the reset");
    let ended = refresh(&stack, &before_reset_refresh).await;
    expect_status(&ended, 401, "a session from before the reset");
    let (kept, kept_refresh) = session(&stack, &email, second).await;
    let (_, other_refresh) = session(&stack, &email, second).await;
    let listed = call(
        &http,
        &stack,
        Method::GET,
        "/api/v1/auth/sessions",
        Some(&kept),
        None,
    )
    .await;
    expect_status(&listed, 200, "sessions");
    assert_eq!(
        listed.json["items"].as_array().unwrap().len(),
        2,
        "only the two logins after the reset: {}",
        listed.text
    );
    wait_mail(&stack, 1, &email, CHANGED_SUBJECT).await;

    // Changed by the holder: the other session ends, this one stays.
    let change = |current: &str| json!({ "current_password": current, "new_password": third });
    let wrong = call(
        &http,
        &stack,
        Method::POST,
        "/api/v1/auth/password",
        Some(&kept),
        Some(change("not the current one")),
    )
    .await;
    expect_status(&wrong, 403, "a wrong current password");
    assert!(
        problem_is(&wrong, "invalid-current-password"),
        "{}",
        wrong.text
    );
    let changed = call(
        &http,
        &stack,
        Method::POST,
        "/api/v1/auth/password",
        Some(&kept),
        Some(change(second)),
    )
    .await;
    expect_status(&changed, 204, "change the password");
    expect_status(
        &refresh(&stack, &other_refresh).await,
        401,
        "the other session after the change",
    );
    expect_status(
        &refresh(&stack, &kept_refresh).await,
        200,
        "the session that changed it",
    );
    expect_status(
        &login(&http, &stack, &email, second).await,
        401,
        "the password before the change",
    );
    session(&stack, &email, third).await;
    wait_mail(&stack, 2, &email, CHANGED_SUBJECT).await;
}

#[tokio::test]
async fn fifty_wrong_passwords_from_one_address_leave_the_provider_free_to_sign_in_from_another() {
    let stack = Stack::start_with(GATEWAY_ENV)
        .await
        .expect("the stack starts");
    let provider = demo::DEMO_USERS[2].email; // provider1
    let attacker = client_from("127.0.0.2");
    let mut refused = [0usize; 2]; // 401, 429
    for i in 0..50 {
        let a = login(&attacker, &stack, provider, &format!("guess number {i}")).await;
        match a.status {
            StatusCode::UNAUTHORIZED => refused[0] += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(problem_is(&a, "too-many-attempts"), "{}", a.text);
                refused[1] += 1;
            }
            other => panic!("wrong password {i} from 127.0.0.2: {other} {}", a.text),
        }
    }
    println!(
        "50 wrong passwords from 127.0.0.2: {} refused as wrong, {} throttled",
        refused[0], refused[1]
    );
    assert!(refused[1] > 0, "the pair is throttled");
    // Even the right password waits, from that address.
    let blocked = login(&attacker, &stack, provider, demo::DEMO_PASSWORD).await;
    expect_status(&blocked, 429, "the right password from 127.0.0.2");

    // The provider, from their own address, signs in at once.
    let started = Instant::now();
    let own = login(
        &client_from("127.0.0.1"),
        &stack,
        provider,
        demo::DEMO_PASSWORD,
    )
    .await;
    expect_status(&own, 200, "the provider from 127.0.0.1");
    println!(
        "the provider signed in from 127.0.0.1 in {:?}",
        started.elapsed()
    );

    // Failures from one address alert nobody; from many, the holder once.
    assert!(mails(&stack, provider, ALERT_SUBJECT).await.is_empty());
    spray(&stack, provider, 10..=17).await;
    wait_mail(&stack, 1, provider, ALERT_SUBJECT).await;
    spray(&stack, provider, 20..=24).await;
    // Give a second alert every chance to be relayed and sent.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let alerts = mails(&stack, provider, ALERT_SUBJECT).await;
    assert_eq!(alerts.len(), 1, "one alert for the episode");
    // The provider is still not locked out.
    session(&stack, provider, demo::DEMO_PASSWORD).await;
}

/// Four wrong passwords for `email` from each of `127.0.0.{last}`: under the
/// per-pair threshold, so every one reaches the password check.
async fn spray(stack: &Stack, email: &str, last: std::ops::RangeInclusive<u8>) {
    for last in last {
        let http = client_from(&format!("127.0.0.{last}"));
        for i in 0..4 {
            let a = login(&http, stack, email, &format!("spray guess {last}.{i}")).await;
            expect_status(&a, 401, "a sprayed guess");
        }
    }
}

/// The demo admin's TOTP code now (SHA-1, six digits, 30 s), as an
/// authenticator app holding the README's secret shows it.
fn admin_code() -> String {
    let secret = totp_rs::Secret::Encoded(carebook::seed::DEMO_ADMIN_TOTP_SECRET.to_owned())
        .to_bytes()
        .expect("a base32 secret");
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret)
        .expect("a TOTP")
        .generate_current()
        .expect("the system time")
}

/// When `url` (with `token`) first answered `status`, polling from `since`
/// for up to `limit`; `None` if it never did.
async fn first_answer(
    url: &str,
    token: &str,
    status: StatusCode,
    since: Instant,
    limit: Duration,
) -> Option<Duration> {
    let http = reqwest::Client::new();
    while since.elapsed() < limit {
        let a = send(&http, Method::GET, url, Some(token), None).await;
        if a.status == status {
            return Some(since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    None
}

#[tokio::test]
async fn an_admin_with_totp_disables_a_provider_whose_token_is_refused_everywhere_within_a_minute()
{
    let stack = Stack::start_with(GATEWAY_ENV)
        .await
        .expect("the stack starts");
    let http = reqwest::Client::new();
    let admin_email = demo::DEMO_USERS[0].email;

    // The admin: the password gives no tokens, only the second step does.
    let step = login(&http, &stack, admin_email, demo::DEMO_PASSWORD).await;
    expect_status(&step, 200, "the admin's password");
    assert_eq!(step.json["mfa_required"], true, "{}", step.text);
    assert!(step.json["access_token"].is_null(), "{}", step.text);
    let mfa_token = step.json["mfa_token"].as_str().expect("an mfa token");
    let wrong = post(
        &http,
        &stack,
        "/api/v1/auth/mfa/verify",
        json!({ "mfa_token": mfa_token, "code": "000000" }),
    )
    .await;
    if admin_code() != "000000" {
        expect_status(&wrong, 401, "a wrong code");
        assert!(problem_is(&wrong, "invalid-mfa-code"), "{}", wrong.text);
    }
    let verified = post(
        &http,
        &stack,
        "/api/v1/auth/mfa/verify",
        json!({ "mfa_token": mfa_token, "code": admin_code() }),
    )
    .await;
    expect_status(&verified, 200, "the admin's TOTP code");
    let admin = verified.json["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let me = call(
        &http,
        &stack,
        Method::GET,
        "/api/v1/auth/me",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(me.json["role"], "admin", "{}", me.text);

    // The provider's token works through the gateway and at the service itself.
    let provider_email = demo::DEMO_USERS[3].email; // provider2
    let (token, refresh_token) = session(&stack, provider_email, demo::DEMO_PASSWORD).await;
    let through_gateway = stack.url("/api/v1/appointments");
    let scheduling = stack.service_url("scheduling").expect("scheduling runs");
    let direct = format!("{scheduling}/api/v1/appointments");
    for url in [&through_gateway, &direct] {
        let a = send(&http, Method::GET, url, Some(&token), None).await;
        expect_status(&a, 200, url);
    }

    // The admin finds and disables the account.
    let found = call(
        &http,
        &stack,
        Method::GET,
        "/api/v1/admin/users?q=provider2",
        Some(&admin),
        None,
    )
    .await;
    expect_status(&found, 200, "find the provider");
    let user = found.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == provider_email)
        .unwrap_or_else(|| panic!("provider2 found: {}", found.text));
    let user_id = user["id"].as_str().unwrap().to_owned();
    assert_eq!(user_id, demo::DEMO_USERS[3].id.to_string());
    let disabled = call(
        &http,
        &stack,
        Method::POST,
        &format!("/api/v1/admin/users/{user_id}/disable"),
        Some(&admin),
        Some(json!({ "reason": "Laptop stolen; until the password is reset" })),
    )
    .await;
    expect_status(&disabled, 200, "disable");
    assert_eq!(disabled.json["disabled"], true, "{}", disabled.text);
    let since = Instant::now();
    let limit = Duration::from_secs(60);
    let (gateway_took, service_took) = tokio::join!(
        first_answer(
            &through_gateway,
            &token,
            StatusCode::UNAUTHORIZED,
            since,
            limit
        ),
        first_answer(&direct, &token, StatusCode::UNAUTHORIZED, since, limit),
    );
    println!(
        "the disabled provider's access token refused by the gateway after {gateway_took:?}, \
         by scheduling directly after {service_took:?}"
    );
    assert!(gateway_took.is_some(), "refused by the gateway within 60 s");
    assert!(service_took.is_some(), "refused by scheduling within 60 s");
    // Nor can it sign in or refresh; the right password learns why.
    let login_disabled = login(&http, &stack, provider_email, demo::DEMO_PASSWORD).await;
    expect_status(&login_disabled, 403, "login while disabled");
    assert!(
        problem_is(&login_disabled, "account-disabled"),
        "{}",
        login_disabled.text
    );
    expect_status(
        &refresh(&stack, &refresh_token).await,
        401,
        "refresh while disabled",
    );

    // Enabled again, the provider signs in anew and the new token works.
    let enabled = call(
        &http,
        &stack,
        Method::POST,
        &format!("/api/v1/admin/users/{user_id}/enable"),
        Some(&admin),
        Some(json!({ "reason": "Password reset, laptop wiped" })),
    )
    .await;
    expect_status(&enabled, 200, "enable");
    let (fresh, _) = session(&stack, provider_email, demo::DEMO_PASSWORD).await;
    let since = Instant::now();
    let (gateway_took, service_took) = tokio::join!(
        first_answer(&through_gateway, &fresh, StatusCode::OK, since, WAIT),
        first_answer(&direct, &fresh, StatusCode::OK, since, WAIT),
    );
    println!(
        "after enabling, the new token accepted by the gateway after {gateway_took:?}, \
         by scheduling directly after {service_took:?}"
    );
    assert!(gateway_took.is_some() && service_took.is_some());
    let old = send(&http, Method::GET, &through_gateway, Some(&token), None).await;
    println!(
        "the token from before the disable, after enabling: {}",
        old.status
    );
}
