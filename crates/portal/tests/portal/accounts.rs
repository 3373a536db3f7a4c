//! The account pages (issue 18) against a stand-in API: registering and
//! confirming an address, resetting a forgotten password, the second step of
//! a login and setting up an authenticator, the account page of every role,
//! and the admin's account list. What is checked is the portal's side: which
//! calls it makes with what, what the pages say, what stays out of them.

use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{
    fake_api::{empty, field_problem, me, ok, problem, tokens, unexpected, Call, FakeApi, Reply},
    helpers::{browser, csrf_of, logged_during, Portal},
};

const USER: Uuid = Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_0042);

/// The page at `path`: its status and HTML.
async fn page(client: &reqwest::Client, portal: &Portal, path: &str) -> (StatusCode, String) {
    let r = client.get(portal.url(path)).send().await.unwrap();
    let status = r.status();
    (status, r.text().await.unwrap())
}

/// Post `fields` (and the CSRF token of `csrf_page`) to `path`.
async fn post(
    client: &reqwest::Client,
    portal: &Portal,
    path: &str,
    csrf_page: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let csrf = csrf_of(csrf_page);
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    form.push(("csrf_token", &csrf));
    client
        .post(portal.url(path))
        .form(&form)
        .send()
        .await
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()[header::LOCATION].to_str().unwrap().to_owned()
}

/// Login answers tokens, `me` a `role` account; everything else `rest`.
fn signed_in_as(role: &'static str, rest: impl Fn(&Call) -> Reply) -> impl Fn(&Call) -> Reply {
    move |c: &Call| match (c.method.as_str(), c.path.as_str()) {
        ("POST", "/api/v1/auth/login") => ok(tokens("access-1")),
        ("GET", "/api/v1/auth/me") => ok(me(USER, role, false)),
        _ => rest(c),
    }
}

/// A browser signed in through the login form (the API's answers decide who).
async fn log_in(portal: &Portal) -> reqwest::Client {
    let client = browser();
    let (_, login) = page(&client, portal, "/login").await;
    let r = post(
        &client,
        portal,
        "/login",
        &login,
        &[
            ("email", "someone@example.test"),
            ("password", "a long passphrase"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "signed in");
    client
}

#[tokio::test]
async fn registering_says_check_your_email_and_offers_to_resend_whatever_the_address() {
    let api = FakeApi::start(|c| match (c.method.as_str(), c.path.as_str()) {
        ("POST", "/api/v1/auth/register") => {
            (StatusCode::ACCEPTED, json!({"status": "verification_sent"}))
        }
        ("POST", "/api/v1/auth/verify-email/resend") => {
            (StatusCode::ACCEPTED, json!({"status": "verification_sent"}))
        }
        _ => unexpected(c),
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let client = browser();
    let (_, form) = page(&client, &portal, "/register").await;
    let r = post(
        &client,
        &portal,
        "/register",
        &form,
        &[
            ("name", "Nina New"),
            ("email", " nina@example.test "),
            ("password", "a long passphrase"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "no sign-in, no redirect");
    let html = r.text().await.unwrap();
    assert!(html.contains("<h1>Check your email</h1>"), "{html}");
    assert!(html.contains("Resend the confirmation email"), "{html}");
    let register = &api.calls_to("POST", "/api/v1/auth/register")[0];
    assert_eq!(register.body["email"], "nina@example.test");
    assert_eq!(register.body["name"], "Nina New");
    assert!(api.calls_to("POST", "/api/v1/auth/login").is_empty());

    let r = post(
        &client,
        &portal,
        "/verify-email/resend",
        &html,
        &[("email", "nina@example.test")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("If that address has an account waiting for confirmation"),
        "{html}"
    );
    assert_eq!(
        api.calls_to("POST", "/api/v1/auth/verify-email/resend")[0].body,
        json!({"email": "nina@example.test"})
    );
}

#[tokio::test]
async fn opening_the_verification_link_spends_nothing_until_the_button_is_pressed() {
    let api = FakeApi::start(|c| match (c.method.as_str(), c.path.as_str()) {
        ("POST", "/api/v1/auth/verify-email") if c.body["token"] == "good-token" => {
            ok(json!({"verified": true}))
        }
        ("POST", "/api/v1/auth/verify-email") => problem(
            400,
            "invalid-token",
            "The link is unknown, expired or already used; ask for a new one.",
        ),
        _ => unexpected(c),
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    // A mail scanner's fetch: a page with a button, and no call to the API.
    let scanner = browser();
    let (status, html) = page(&scanner, &portal, "/verify-email?token=good-token").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Confirm my email"), "{html}");
    assert!(
        api.calls().is_empty(),
        "GET spent the token: {:?}",
        api.calls()
    );

    // A person presses it.
    let person = browser();
    let (_, html) = page(&person, &portal, "/verify-email?token=good-token").await;
    let r = post(
        &person,
        &portal,
        "/verify-email",
        &html,
        &[("token", "good-token")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Your email address is confirmed"), "{html}");
    assert!(html.contains("href=\"/login\""), "{html}");

    // A spent or unknown link says so and offers a new one.
    let (_, html) = page(&person, &portal, "/verify-email?token=spent").await;
    let r = post(
        &person,
        &portal,
        "/verify-email",
        &html,
        &[("token", "spent")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.unwrap();
    assert!(html.contains("This link is not valid any more"), "{html}");
    assert!(html.contains("action=\"/verify-email/resend\""), "{html}");
    assert!(!html.contains("spent"), "the token is not echoed: {html}");
}

#[tokio::test]
async fn a_link_without_a_token_explains_and_offers_a_new_one() {
    let api = FakeApi::start(unexpected).await;
    let portal = Portal::start(&api.url()).await;
    let client = browser();
    for path in ["/verify-email", "/password-reset/confirm"] {
        let (status, html) = page(&client, &portal, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(html.contains("This link is incomplete"), "{path}: {html}");
    }
    assert!(api.calls().is_empty());
}

#[tokio::test]
async fn an_unconfirmed_address_at_login_gets_the_offer_of_a_new_link() {
    let api = FakeApi::start(|c| match (c.method.as_str(), c.path.as_str()) {
        ("POST", "/api/v1/auth/login") => problem(
            403,
            "email-unverified",
            "Open the link we emailed you to confirm your address, or ask for a new one.",
        ),
        _ => unexpected(c),
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let client = browser();
    let (_, login) = page(&client, &portal, "/login").await;
    let r = post(
        &client,
        &portal,
        "/login",
        &login,
        &[
            ("email", "nina@example.test"),
            ("password", "a long passphrase"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Your email address is not confirmed yet"),
        "{html}"
    );
    assert!(html.contains("action=\"/verify-email/resend\""), "{html}");
    assert!(
        html.contains("name=\"email\" value=\"nina@example.test\""),
        "{html}"
    );
    assert!(html.contains("Email me a new confirmation link"), "{html}");
}

/// The second step of a login: code `123456` is right, the step token `step-1`.
fn second_factor(c: &Call) -> Reply {
    match (c.method.as_str(), c.path.as_str()) {
        ("POST", "/api/v1/auth/login") => ok(json!({
            "mfa_required": true, "mfa_token": "step-1", "enrolment_required": false, "expires_in": 300,
        })),
        ("POST", "/api/v1/auth/mfa/verify") if c.body["code"] == "123456" => {
            ok(tokens("access-mfa"))
        }
        ("POST", "/api/v1/auth/mfa/verify") => {
            problem(401, "invalid-mfa-code", "The code is wrong.")
        }
        ("GET", "/api/v1/auth/me") => ok(me(USER, "admin", true)),
        _ => unexpected(c),
    }
}

#[tokio::test]
async fn a_second_factor_login_keeps_the_step_token_on_the_server_and_asks_for_a_code() {
    let api = FakeApi::start(second_factor).await;
    let portal = Portal::start(&api.url()).await;
    let client = browser();
    let (_, login) = page(&client, &portal, "/login?next=/admin/accounts").await;
    let r = post(
        &client,
        &portal,
        "/login",
        &login,
        &[
            ("email", "admin@example.test"),
            ("password", "a long passphrase"),
            ("next", "/admin/accounts"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login/code");
    let (status, html) = page(&client, &portal, "/login/code").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Enter your code"), "{html}");
    assert!(
        !html.contains("step-1"),
        "the step token is not in the page"
    );
    for value in portal.redis.session_values().await {
        assert!(
            !crate::helpers::contains(&value, "step-1"),
            "Redis holds ciphertext"
        );
    }

    // A wrong code: said kindly, still on the step, no token refresh tried.
    let r = post(
        &client,
        &portal,
        "/login/code",
        &html,
        &[("code", "000000")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("That code is wrong or was used already"),
        "{html}"
    );

    // Spaces typed in the code are dropped; the step token goes with it.
    let r = post(
        &client,
        &portal,
        "/login/code",
        &html,
        &[("code", "123 456")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin/accounts", "back to the page wanted");
    assert!(r.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .starts_with("carebook_session="));
    let verifies = api.calls_to("POST", "/api/v1/auth/mfa/verify");
    assert_eq!(verifies.len(), 2);
    assert_eq!(
        verifies[1].body,
        json!({"mfa_token": "step-1", "code": "123456"})
    );
    assert_eq!(
        api.calls_to("GET", "/api/v1/auth/me")[0].bearer.as_deref(),
        Some("access-mfa")
    );
    // Signed in: the step is over.
    let r = client.get(portal.url("/login/code")).send().await.unwrap();
    assert_eq!(location(&r), "/login");
}

#[tokio::test]
async fn the_code_page_without_a_password_step_sends_the_visitor_to_log_in() {
    let api = FakeApi::start(unexpected).await;
    let portal = Portal::start(&api.url()).await;
    let client = browser();
    for path in ["/login/code", "/login/enrol"] {
        let r = client.get(portal.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&r), "/login");
    }
}

#[tokio::test]
async fn an_expired_step_token_starts_the_login_again_with_a_word_why() {
    let api = FakeApi::start(|c| match (c.method.as_str(), c.path.as_str()) {
        ("POST", "/api/v1/auth/mfa/verify") => {
            problem(401, "invalid-mfa-token", "The second step expired.")
        }
        _ => second_factor(c),
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let client = browser();
    let (_, login) = page(&client, &portal, "/login").await;
    post(
        &client,
        &portal,
        "/login",
        &login,
        &[
            ("email", "admin@example.test"),
            ("password", "a long passphrase"),
        ],
    )
    .await;
    let (_, html) = page(&client, &portal, "/login/code").await;
    let r = post(
        &client,
        &portal,
        "/login/code",
        &html,
        &[("code", "123456")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");
    let (_, html) = page(&client, &portal, "/login").await;
    assert!(html.contains("Your sign-in took too long"), "{html}");
    let r = client.get(portal.url("/login/code")).send().await.unwrap();
    assert_eq!(location(&r), "/login", "the step is forgotten");
}

#[tokio::test]
async fn an_account_that_must_have_a_second_factor_sets_it_up_at_login_and_sees_recovery_codes_once(
) {
    let api = FakeApi::start(|c| match (c.method.as_str(), c.path.as_str()) {
        ("POST", "/api/v1/auth/login") => ok(json!({
            "mfa_required": true, "mfa_token": "step-2", "enrolment_required": true, "expires_in": 300,
        })),
        ("POST", "/api/v1/auth/mfa/totp") => ok(json!({
            "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
            "otpauth_uri": "otpauth://totp/Carebook:new-admin%40example.test?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Carebook",
        })),
        ("POST", "/api/v1/auth/mfa/totp/confirm") if c.body["code"] == "111111" => {
            ok(json!({"recovery_codes": ["abcde-fghjk", "mnpqr-stuvw"]}))
        }
        ("POST", "/api/v1/auth/mfa/totp/confirm") => {
            problem(401, "invalid-mfa-code", "The code is wrong.")
        }
        ("POST", "/api/v1/auth/mfa/verify") if c.body["code"] == "222222" => {
            ok(tokens("access-new-admin"))
        }
        ("GET", "/api/v1/auth/me") => ok(me(USER, "admin", true)),
        _ => unexpected(c),
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let client = browser();
    let (_, login) = page(&client, &portal, "/login").await;
    let r = post(
        &client,
        &portal,
        "/login",
        &login,
        &[
            ("email", "new-admin@example.test"),
            ("password", "a long passphrase"),
        ],
    )
    .await;
    assert_eq!(location(&r), "/login/enrol");
    assert_eq!(
        api.calls_to("POST", "/api/v1/auth/mfa/totp")[0].body,
        json!({"mfa_token": "step-2"})
    );
    let (status, html) = page(&client, &portal, "/login/enrol").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP"),
        "grouped: {html}"
    );
    assert!(
        html.contains("otpauth:&#x2f;&#x2f;totp&#x2f;Carebook:new-admin%40example.test"),
        "{html}"
    );
    assert!(!html.contains("step-2"), "{html}");
    // The code page waits for the setup.
    let r = client.get(portal.url("/login/code")).send().await.unwrap();
    assert_eq!(location(&r), "/login/enrol");

    let r = post(
        &client,
        &portal,
        "/login/enrol",
        &html,
        &[("code", "999999")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let html = r.text().await.unwrap();
    assert!(html.contains("That code is wrong"), "{html}");

    let r = post(
        &client,
        &portal,
        "/login/enrol",
        &html,
        &[("code", "111111")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let codes = r.text().await.unwrap();
    assert!(
        codes.contains("abcde-fghjk") && codes.contains("mnpqr-stuvw"),
        "{codes}"
    );
    assert!(codes.contains("action=\"/login/code\""), "{codes}");
    assert_eq!(
        api.calls_to("POST", "/api/v1/auth/mfa/totp/confirm")[1].body,
        json!({"mfa_token": "step-2", "code": "111111"})
    );
    // The setup is over: its page now leads to the code, and shows nothing again.
    let r = client.get(portal.url("/login/enrol")).send().await.unwrap();
    assert_eq!(location(&r), "/login/code");

    let r = post(
        &client,
        &portal,
        "/login/code",
        &codes,
        &[("code", "222222")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin/users", "the admin's home");
}

#[tokio::test]
async fn asking_for_a_reset_link_always_says_the_same() {
    let api = FakeApi::start(|c| match (c.method.as_str(), c.path.as_str()) {
        ("POST", "/api/v1/auth/password-reset") => {
            (StatusCode::ACCEPTED, json!({"status": "reset_sent"}))
        }
        _ => unexpected(c),
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let client = browser();
    let mut answers = Vec::new();
    for email in ["known@example.test", "unknown@example.test"] {
        let (_, form) = page(&client, &portal, "/password-reset").await;
        let r = post(
            &client,
            &portal,
            "/password-reset",
            &form,
            &[("email", email)],
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        let html = r.text().await.unwrap();
        assert!(
            html.contains("If an account exists for that address"),
            "{html}"
        );
        answers.push(html);
    }
    assert_eq!(
        answers[0], answers[1],
        "the address changes nothing on the page"
    );
    assert_eq!(api.calls_to("POST", "/api/v1/auth/password-reset").len(), 2);
}

#[tokio::test]
async fn the_reset_link_sets_a_new_password_typed_twice() {
    let api = FakeApi::start(|c| match (c.method.as_str(), c.path.as_str()) {
        ("POST", "/api/v1/auth/password-reset/confirm") if c.body["token"] != "reset-1" => problem(
            400,
            "invalid-token",
            "The link is unknown, expired or already used.",
        ),
        ("POST", "/api/v1/auth/password-reset/confirm") if c.body["new_password"] == "short" => {
            field_problem(
                422,
                "weak-password",
                "new_password",
                "must be at least 12 characters",
            )
        }
        ("POST", "/api/v1/auth/password-reset/confirm") => empty(204),
        _ => unexpected(c),
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let client = browser();
    let (status, form) = page(&client, &portal, "/password-reset/confirm?token=reset-1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("Choose a new password"), "{form}");
    assert!(api.calls().is_empty(), "opening the link spends nothing");

    // Typed differently twice: refused here, the API never asked.
    let r = post(
        &client,
        &portal,
        "/password-reset/confirm",
        &form,
        &[
            ("token", "reset-1"),
            ("new_password", "a new long passphrase"),
            ("repeat_password", "a new long passphrasE"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("The two passwords differ"), "{html}");
    assert!(api.calls().is_empty());

    // Too weak: the API's reason next to the field, the link still usable.
    let r = post(
        &client,
        &portal,
        "/password-reset/confirm",
        &html,
        &[
            ("token", "reset-1"),
            ("new_password", "short"),
            ("repeat_password", "short"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("id=\"f-new_password-error\">Must be at least 12 characters."),
        "{html}"
    );
    assert!(html.contains("name=\"token\" value=\"reset-1\""), "{html}");

    let r = post(
        &client,
        &portal,
        "/password-reset/confirm",
        &html,
        &[
            ("token", "reset-1"),
            ("new_password", "a new long passphrase"),
            ("repeat_password", "a new long passphrase"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Your password has been changed"), "{html}");
    assert_eq!(
        api.calls_to("POST", "/api/v1/auth/password-reset/confirm")[1].body,
        json!({"token": "reset-1", "new_password": "a new long passphrase"})
    );

    // A spent link: said plainly, with the way to a new one.
    let (_, form) = page(&client, &portal, "/password-reset/confirm?token=spent").await;
    let r = post(
        &client,
        &portal,
        "/password-reset/confirm",
        &form,
        &[
            ("token", "spent"),
            ("new_password", "a new long passphrase"),
            ("repeat_password", "a new long passphrase"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.unwrap();
    assert!(html.contains("This link is not valid any more"), "{html}");
    assert!(html.contains("href=\"/password-reset\""), "{html}");
}

/// Sessions of the signed-in user: this one and one elsewhere.
fn two_sessions() -> Value {
    json!({"items": [
        {"id": "018f0000-0000-7000-8000-0000000000a1", "created_at": "2026-05-04T09:00:00Z",
         "last_used_at": "2026-05-04T10:00:00Z", "expires_at": "2026-06-03T09:00:00Z", "current": true,
         "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
         "network": "203.0.113.0/24"},
        {"id": "018f0000-0000-7000-8000-0000000000b2", "created_at": "2026-05-01T09:00:00Z",
         "last_used_at": "2026-05-02T09:00:00Z", "expires_at": "2026-05-31T09:00:00Z", "current": false,
         "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"},
    ]})
}

fn account_api(c: &Call) -> Reply {
    match (c.method.as_str(), c.path.as_str()) {
        ("GET", "/api/v1/auth/sessions") => ok(two_sessions()),
        ("DELETE", "/api/v1/auth/sessions") => empty(204),
        ("DELETE", "/api/v1/auth/sessions/018f0000-0000-7000-8000-0000000000b2") => empty(204),
        ("DELETE", p) if p.starts_with("/api/v1/auth/sessions/") => {
            problem(404, "not-found", "No such session.")
        }
        ("POST", "/api/v1/auth/password") if c.body["current_password"] != "the current one" => {
            field_problem(
                403,
                "invalid-current-password",
                "current_password",
                "is wrong",
            )
        }
        ("POST", "/api/v1/auth/password") => empty(204),
        ("POST", "/api/v1/auth/refresh") => ok(tokens("access-2")),
        ("GET", "/api/v1/patients/me") => ok(patient_profile()),
        ("PUT", "/api/v1/patients/me") if c.body["time_zone"] == "Mars/Olympus_Mons" => {
            field_problem(
                422,
                "validation-error",
                "time_zone",
                "must be an IANA time zone name such as Europe/Berlin or America/New_York",
            )
        }
        ("PUT", "/api/v1/patients/me") => ok(c.body.clone()),
        _ => unexpected(c),
    }
}

/// The signed-in patient's directory profile, in Berlin.
fn patient_profile() -> Value {
    json!({
        "id": USER, "name": "Tess patient", "email": "patient@example.test",
        "date_of_birth": "1988-04-12", "phone": "+49 30 1234-567",
        "address": {"line1": "Invalidenstraße 1", "line2": null, "city": "Berlin",
                    "region": null, "postal_code": "10115", "country": "DE"},
        "insurance": null, "preferred_provider_id": null,
        "time_zone": "Europe/Berlin", "updated_at": "2026-05-01T09:00:00Z",
    })
}

#[tokio::test]
async fn the_account_page_lists_sessions_and_signs_others_out() {
    let api = FakeApi::start(signed_in_as("patient", account_api)).await;
    let portal = Portal::start(&api.url()).await;
    let client = log_in(&portal).await;
    let (status, html) = page(&client, &portal, "/account").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>My account</h1>"), "{html}");
    assert!(html.contains("Chrome on Linux"), "{html}");
    assert!(html.contains("This session"), "{html}");
    assert!(html.contains("Safari on iPhone"), "{html}");
    assert!(html.contains("from 203.0.113.0&#x2f;24"), "{html}");
    assert!(
        html.contains("action=\"/account/sessions/018f0000-0000-7000-8000-0000000000b2/sign-out\""),
        "{html}"
    );
    assert!(
        !html.contains("/account/sessions/018f0000-0000-7000-8000-0000000000a1/sign-out"),
        "this session is left to the log out button"
    );
    assert!(html.contains("Set up an authenticator app"), "{html}");
    assert_eq!(
        api.calls_to("GET", "/api/v1/auth/sessions")[0]
            .bearer
            .as_deref(),
        Some("access-1")
    );

    let r = post(
        &client,
        &portal,
        "/account/sessions/018f0000-0000-7000-8000-0000000000b2/sign-out",
        &html,
        &[],
    )
    .await;
    assert_eq!(location(&r), "/account");
    let (_, html) = page(&client, &portal, "/account").await;
    assert!(html.contains("That session was signed out."), "{html}");

    let r = post(
        &client,
        &portal,
        "/account/sessions/018f0000-0000-7000-8000-0000000000c3/sign-out",
        &html,
        &[],
    )
    .await;
    assert_eq!(location(&r), "/account");
    let (_, html) = page(&client, &portal, "/account").await;
    assert!(html.contains("That session had already ended."), "{html}");

    let r = post(
        &client,
        &portal,
        "/account/sessions/sign-out-others",
        &html,
        &[],
    )
    .await;
    assert_eq!(location(&r), "/account");
    let all = api.calls_to("DELETE", "/api/v1/auth/sessions");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].query, "", "every other session, not this one");
}

#[tokio::test]
async fn changing_the_password_keeps_this_session_and_explains_refusals() {
    let api = FakeApi::start(signed_in_as("provider", account_api)).await;
    let portal = Portal::start(&api.url()).await;
    let client = log_in(&portal).await;
    let (_, html) = page(&client, &portal, "/account").await;

    let r = post(
        &client,
        &portal,
        "/account/password",
        &html,
        &[
            ("current_password", "a wrong one"),
            ("new_password", "a new long passphrase"),
            ("repeat_password", "a new long passphrase"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("This is not your current password."),
        "{html}"
    );
    assert!(
        html.contains("<h1>My account</h1>"),
        "still signed in: {html}"
    );

    let r = post(
        &client,
        &portal,
        "/account/password",
        &html,
        &[
            ("current_password", "the current one"),
            ("new_password", "a new long passphrase"),
            ("repeat_password", "something else"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("The two passwords differ"), "{html}");
    assert_eq!(api.calls_to("POST", "/api/v1/auth/password").len(), 1);

    let r = post(
        &client,
        &portal,
        "/account/password",
        &html,
        &[
            ("current_password", "the current one"),
            ("new_password", "a new long passphrase"),
            ("repeat_password", "a new long passphrase"),
        ],
    )
    .await;
    assert_eq!(location(&r), "/account");
    let (status, html) = page(&client, &portal, "/account").await;
    assert_eq!(status, StatusCode::OK, "this session still works");
    assert!(html.contains("Your password has been changed"), "{html}");
    let change = &api.calls_to("POST", "/api/v1/auth/password")[1];
    assert_eq!(change.bearer.as_deref(), Some("access-1"));
    assert_eq!(
        change.body,
        json!({"current_password": "the current one", "new_password": "a new long passphrase"})
    );
    assert!(
        api.calls_to("POST", "/api/v1/auth/refresh").is_empty(),
        "a refused password is not a refused token"
    );
}

#[tokio::test]
async fn setting_up_and_turning_off_the_authenticator_from_the_account_page() {
    let api = FakeApi::start(signed_in_as("patient", |c| {
        match (c.method.as_str(), c.path.as_str()) {
            ("POST", "/api/v1/auth/mfa/totp") => ok(json!({
                "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
                "otpauth_uri": "otpauth://totp/Carebook:patient%40example.test?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
            })),
            ("POST", "/api/v1/auth/mfa/totp/confirm") if c.body["code"] == "333333" => {
                ok(json!({"recovery_codes": ["zyxwv-tsrqp"]}))
            }
            ("POST", "/api/v1/auth/mfa/totp/confirm") => {
                problem(401, "invalid-mfa-code", "The code is wrong.")
            }
            ("DELETE", "/api/v1/auth/mfa/totp") if c.body["code"] == "444444" => empty(204),
            ("DELETE", "/api/v1/auth/mfa/totp") => {
                problem(401, "invalid-mfa-code", "The code is wrong.")
            }
            _ => account_api(c),
        }
    }))
    .await;
    let portal = Portal::start(&api.url()).await;
    let client = log_in(&portal).await;
    let (_, html) = page(&client, &portal, "/account").await;
    let r = post(&client, &portal, "/account/totp", &html, &[]).await;
    assert_eq!(location(&r), "/account/totp");
    assert_eq!(
        api.calls_to("POST", "/api/v1/auth/mfa/totp")[0].body,
        json!({})
    );
    let (_, html) = page(&client, &portal, "/account/totp").await;
    assert!(html.contains("JBSW Y3DP EHPK 3PXP"), "{html}");

    // A wrong code neither signs the user out nor leaves the page.
    let r = post(
        &client,
        &portal,
        "/account/totp/confirm",
        &html,
        &[("code", "000000")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let html = r.text().await.unwrap();
    assert!(html.contains("That code is wrong"), "{html}");
    assert!(html.contains("JBSW Y3DP"), "{html}");

    let r = post(
        &client,
        &portal,
        "/account/totp/confirm",
        &html,
        &[("code", "333333")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("zyxwv-tsrqp"), "{html}");
    assert!(html.contains("shown only this once"), "{html}");
    let r = client
        .get(portal.url("/account/totp"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/account", "the secret is not shown again");

    let (_, html) = page(&client, &portal, "/account").await;
    let r = post(
        &client,
        &portal,
        "/account/totp/disable",
        &html,
        &[("code", "000000")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let html = r.text().await.unwrap();
    assert!(html.contains("That code is wrong"), "{html}");
    assert!(html.contains("<h1>My account</h1>"), "still signed in");
    let r = post(
        &client,
        &portal,
        "/account/totp/disable",
        &html,
        &[("code", "444 444")],
    )
    .await;
    assert_eq!(location(&r), "/account");
    assert!(
        api.calls_to("POST", "/api/v1/auth/refresh").is_empty(),
        "wrong codes are not refused tokens"
    );
}

#[tokio::test]
async fn every_role_reaches_its_account_page_and_visitors_are_asked_to_log_in() {
    let r = browser()
        .get(Portal::start("http://127.0.0.1:9").await.url("/account"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=%2Faccount");
    for role in ["patient", "provider", "staff", "admin"] {
        let api = FakeApi::start(signed_in_as(role, account_api)).await;
        let portal = Portal::start(&api.url()).await;
        let client = log_in(&portal).await;
        let (status, html) = page(&client, &portal, "/account").await;
        assert_eq!(status, StatusCode::OK, "{role}");
        assert!(
            html.contains("href=\"/account\""),
            "{role}: the header links it"
        );
    }
}

/// Accounts of the admin's list; `cursor=page-2` gives the second page.
fn admin_api(c: &Call) -> Reply {
    let user = |n: u128, name: &str, disabled: bool| {
        json!({
            "id": Uuid::from_u128(0x018f_0000_0000_7000_8000_0000_0000_1000 + n),
            "email": format!("{}@example.test", name.to_lowercase().replace(' ', ".")),
            "name": name, "role": "provider", "verified": true, "disabled": disabled,
            "mfa_enabled": false, "created_at": "2026-05-01T09:00:00Z",
        })
    };
    match (c.method.as_str(), c.path.as_str()) {
        ("GET", "/api/v1/admin/users") if c.query.contains("cursor=page-2") => ok(json!({
            "items": [user(3, "Cleo Third", false)], "next_cursor": null,
        })),
        ("GET", "/api/v1/admin/users") => ok(json!({
            "items": [user(1, "Ada First", false), user(2, "Ben Second", true)],
            "next_cursor": "page-2",
        })),
        ("POST", p) if p.ends_with("/disable") => ok(user(1, "Ada First", true)),
        ("POST", p) if p.ends_with("/enable") => ok(user(2, "Ben Second", false)),
        _ => unexpected(c),
    }
}

#[tokio::test]
async fn admins_find_page_through_disable_and_enable_accounts_with_a_reason() {
    let api = FakeApi::start(signed_in_as("admin", admin_api)).await;
    let portal = Portal::start(&api.url()).await;
    let client = log_in(&portal).await;
    let (status, html) = page(&client, &portal, "/admin/accounts?q=provider").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Ada First") && html.contains("Ben Second"),
        "{html}"
    );
    assert!(html.contains("Disabled"), "{html}");
    assert!(
        html.contains("href=\"&#x2f;admin&#x2f;accounts?q=provider&amp;cursor=page-2\""),
        "{html}"
    );
    let list = &api.calls_to("GET", "/api/v1/admin/users")[0];
    assert!(list.query.contains("q=provider"), "{}", list.query);
    assert!(list.query.contains("limit=25"), "{}", list.query);

    let (_, page2) = page(&client, &portal, "/admin/accounts?q=provider&cursor=page-2").await;
    assert!(page2.contains("Cleo Third"), "{page2}");
    assert!(page2.contains("First page"), "{page2}");
    assert!(!page2.contains("Next page"), "{page2}");

    // No reason: refused on the row, the API never asked.
    let ada = "018f0000-0000-7000-8000-000000001001";
    let r = post(
        &client,
        &portal,
        &format!("/admin/accounts/{ada}/disable"),
        &html,
        &[("reason", " "), ("q", "provider"), ("cursor", "")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(&format!("id=\"reason-{ada}-error\"")),
        "{html}"
    );
    assert!(html.contains("Give a reason"), "{html}");
    assert!(api
        .calls()
        .iter()
        .all(|c| c.method != "POST" || !c.path.contains("/admin/")));

    let r = post(
        &client,
        &portal,
        &format!("/admin/accounts/{ada}/disable"),
        &html,
        &[
            ("reason", "Left the clinic"),
            ("q", "provider"),
            ("cursor", ""),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin/accounts?q=provider");
    let disable = &api.calls_to("POST", &format!("/api/v1/admin/users/{ada}/disable"))[0];
    assert_eq!(disable.body, json!({"reason": "Left the clinic"}));
    let (_, html) = page(&client, &portal, "/admin/accounts?q=provider").await;
    assert!(
        html.contains("Ada First (ada.first@example.test) is disabled"),
        "{html}"
    );

    let ben = "018f0000-0000-7000-8000-000000001002";
    let r = post(
        &client,
        &portal,
        &format!("/admin/accounts/{ben}/enable"),
        &html,
        &[("reason", "Back from leave"), ("q", ""), ("cursor", "")],
    )
    .await;
    assert_eq!(location(&r), "/admin/accounts");
    assert_eq!(
        api.calls_to("POST", &format!("/api/v1/admin/users/{ben}/enable"))
            .len(),
        1
    );
}

#[tokio::test]
async fn only_admins_see_the_account_list() {
    let api = FakeApi::start(signed_in_as("staff", admin_api)).await;
    let portal = Portal::start(&api.url()).await;
    let client = log_in(&portal).await;
    let (status, _) = page(&client, &portal, "/admin/accounts").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(api.calls_to("GET", "/api/v1/admin/users").is_empty());
}

#[tokio::test]
async fn the_browsers_user_agent_reaches_the_api_so_sessions_name_it() {
    let api = FakeApi::start(signed_in_as("patient", account_api)).await;
    let portal = Portal::start(&api.url()).await;
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0")
        .build()
        .unwrap();
    let (_, login) = page(&client, &portal, "/login").await;
    post(
        &client,
        &portal,
        "/login",
        &login,
        &[
            ("email", "p@example.test"),
            ("password", "a long passphrase"),
        ],
    )
    .await;
    assert_eq!(
        api.calls_to("POST", "/api/v1/auth/login")[0]
            .user_agent
            .as_deref(),
        Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0")
    );
}

#[tokio::test]
async fn tokens_in_emailed_links_never_reach_the_log() {
    let api = FakeApi::start(|c| match (c.method.as_str(), c.path.as_str()) {
        ("POST", "/api/v1/auth/verify-email") => problem(400, "invalid-token", "Used."),
        ("POST", "/api/v1/auth/password-reset/confirm") => problem(400, "invalid-token", "Used."),
        _ => unexpected(c),
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let log = logged_during(async {
        let client = browser();
        let (_, html) = page(&client, &portal, "/verify-email?token=tok-verify-secret").await;
        post(
            &client,
            &portal,
            "/verify-email",
            &html,
            &[("token", "tok-verify-secret")],
        )
        .await;
        let (_, html) = page(
            &client,
            &portal,
            "/password-reset/confirm?token=tok-reset-secret",
        )
        .await;
        post(
            &client,
            &portal,
            "/password-reset/confirm",
            &html,
            &[
                ("token", "tok-reset-secret"),
                ("new_password", "a new long passphrase"),
                ("repeat_password", "a new long passphrase"),
            ],
        )
        .await;
    })
    .await;
    assert!(
        log.contains("path=\"/verify-email\""),
        "requests are logged: {log}"
    );
    assert!(log.contains("path=\"/password-reset/confirm\""), "{log}");
    assert!(!log.contains("tok-verify-secret"), "{log}");
    assert!(!log.contains("tok-reset-secret"), "{log}");
}

#[tokio::test]
async fn registering_sends_the_time_zone_the_browser_reports() {
    let api = FakeApi::start(|c| match (c.method.as_str(), c.path.as_str()) {
        ("POST", "/api/v1/auth/register") => {
            (StatusCode::ACCEPTED, json!({"status": "verification_sent"}))
        }
        _ => unexpected(c),
    })
    .await;
    let portal = Portal::start(&api.url()).await;
    let client = browser();
    let (_, form) = page(&client, &portal, "/register").await;
    // A hidden input the portal's script (a file, not inline: the CSP) fills in.
    assert!(
        form.contains(r#"<input type="hidden" name="time_zone" value="" data-browser-time-zone>"#),
        "{form}"
    );
    let script = client
        .get(portal.url("/static/portal.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(script.contains("input[data-browser-time-zone]"));
    assert!(script.contains("resolvedOptions().timeZone"));

    for (sent, passed) in [
        ("America/New_York", Some("America/New_York")),
        // Unknown to the portal, or no script: the account is made without one.
        ("Mars/Olympus_Mons", None),
        ("", None),
    ] {
        let r = post(
            &client,
            &portal,
            "/register",
            &form,
            &[
                ("name", "Nina New"),
                ("email", "nina@example.test"),
                ("password", "a long passphrase"),
                ("time_zone", sent),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK, "{sent}");
        let body = api
            .calls_to("POST", "/api/v1/auth/register")
            .last()
            .unwrap()
            .body
            .clone();
        assert_eq!(body["time_zone"].as_str(), passed, "{sent}: {body}");
        assert_eq!(body["email"], "nina@example.test");
    }
}

#[tokio::test]
async fn a_patient_sees_and_changes_their_time_zone_on_the_account_page() {
    let api = FakeApi::start(signed_in_as("patient", account_api)).await;
    let portal = Portal::start(&api.url()).await;
    let client = log_in(&portal).await;
    let (status, html) = page(&client, &portal, "/account").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Your time zone"), "{html}");
    assert!(
        html.contains("<strong>Europe&#x2f;Berlin</strong>"),
        "{html}"
    );
    assert!(
        html.contains(r#"name="time_zone" type="text" value="Europe&#x2f;Berlin""#),
        "{html}"
    );

    // The other details go back as they were: the PUT replaces them.
    let r = post(
        &client,
        &portal,
        "/account/time-zone",
        &html,
        &[("time_zone", " America/New_York ")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account");
    let put = &api.calls_to("PUT", "/api/v1/patients/me")[0];
    assert_eq!(put.bearer.as_deref(), Some("access-1"));
    assert_eq!(
        put.body,
        json!({
            "name": "Tess patient", "date_of_birth": "1988-04-12", "phone": "+49 30 1234-567",
            "address": patient_profile()["address"], "insurance": null,
            "time_zone": "America/New_York",
        })
    );
    let (_, html) = page(&client, &portal, "/account").await;
    assert!(
        html.contains("Your time zone is now America&#x2f;New_York."),
        "{html}"
    );

    // The directory's refusal is shown on the form, with what was entered.
    let r = post(
        &client,
        &portal,
        "/account/time-zone",
        &html,
        &[("time_zone", "Mars/Olympus_Mons")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Must be an IANA time zone name such as Europe&#x2f;Berlin"),
        "{html}"
    );
    assert!(html.contains(r#"value="Mars&#x2f;Olympus_Mons""#), "{html}");
    assert!(html.contains(r#"aria-invalid="true""#), "{html}");

    // Empty clears it.
    post(
        &client,
        &portal,
        "/account/time-zone",
        &html,
        &[("time_zone", "")],
    )
    .await;
    let last = api
        .calls_to("PUT", "/api/v1/patients/me")
        .last()
        .unwrap()
        .body
        .clone();
    assert_eq!(last["time_zone"], Value::Null);
}

#[tokio::test]
async fn only_patients_have_a_time_zone_form() {
    let api = FakeApi::start(signed_in_as("staff", account_api)).await;
    let portal = Portal::start(&api.url()).await;
    let client = log_in(&portal).await;
    let (status, html) = page(&client, &portal, "/account").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("Your time zone"), "{html}");
    let r = post(
        &client,
        &portal,
        "/account/time-zone",
        &html,
        &[("time_zone", "Europe/Berlin")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(api.calls_to("GET", "/api/v1/patients/me").is_empty());
    assert!(api.calls_to("PUT", "/api/v1/patients/me").is_empty());
}
