//! Administrators' account management: the list, disabling and enabling.

use platform::testing::{assert_problem, Anonymous};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, PASSWORD};

#[tokio::test]
async fn admins_page_through_and_search_the_accounts() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for name in ["anna", "bert", "carla", "dora", "emil"] {
        app.patient_tokens(&format!("{name}@example.org")).await;
    }
    app.register("unverified@example.org").await;
    let page = app.get_ok(&admin, "/api/v1/admin/users?limit=4").await;
    let emails: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        [
            "anna@example.org",
            "bert@example.org",
            "carla@example.org",
            "dora@example.org"
        ]
    );
    let first = &page["items"][0];
    assert_eq!(first["role"], "patient");
    assert_eq!(first["verified"], true);
    assert_eq!(first["disabled"], false);
    assert_eq!(first["mfa_enabled"], false);
    assert!(
        first["created_at"].is_string() && first["id"].is_string() && first["name"].is_string()
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = app
        .get_ok(
            &admin,
            &format!("/api/v1/admin/users?limit=4&cursor={cursor}"),
        )
        .await;
    let emails: Vec<&str> = next["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        [
            "emil@example.org",
            "root@example.org",
            "unverified@example.org"
        ]
    );
    assert!(next["next_cursor"].is_null());
    assert_eq!(next["items"][1]["mfa_enabled"], true);
    assert_eq!(next["items"][2]["verified"], false);
    // q matches every word against name or email, case-insensitively.
    let found = app.get_ok(&admin, "/api/v1/admin/users?q=CARLA").await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    let found = app
        .get_ok(&admin, "/api/v1/admin/users?q=test%20dora")
        .await;
    assert_eq!(found["items"][0]["email"], "dora@example.org");
    let none = app.get_ok(&admin, "/api/v1/admin/users?q=%25").await;
    assert!(none["items"].as_array().unwrap().is_empty());
    // Bad queries.
    assert_problem(
        app.get(&admin, "/api/v1/admin/users?cursor=garbage").await,
        StatusCode::BAD_REQUEST,
        "invalid-cursor",
    )
    .await;
    assert_problem(
        app.get(&admin, "/api/v1/admin/users?limit=0").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-error",
    )
    .await;
}

#[tokio::test]
async fn only_admins_see_or_change_accounts() {
    let app = spawn_app().await;
    let patient = app.patient_tokens("paula@example.org").await;
    let token = patient["access_token"].as_str().unwrap();
    let id = app.user_id("paula@example.org").await;
    assert_problem(
        app.get(token, "/api/v1/admin/users").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.post(
            token,
            &format!("/api/v1/admin/users/{id}/disable"),
            &json!({"reason": "because"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.get(&Anonymous, "/api/v1/admin/users").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn a_disabled_account_cannot_log_in_refresh_or_use_its_tokens() {
    let app = spawn_app().await;
    let (admin_id, admin) = app.admin("root@example.org").await;
    let pair = app.patient_tokens("paula@example.org").await;
    let id = app.user_id("paula@example.org").await;
    let r = app
        .post(
            &admin,
            &format!("/api/v1/admin/users/{id}/disable"),
            &json!({"reason": "left the clinic"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["disabled"], true);
    // Only the right password learns the account is disabled.
    assert_problem(
        app.login("paula@example.org", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "account-disabled",
    )
    .await;
    assert_problem(
        app.login("paula@example.org", "not the password").await,
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
    )
    .await;
    assert_eq!(
        app.refresh(&pair["refresh_token"]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Identity refuses its access tokens at once; other services through the set.
    assert_problem(
        app.get(pair["access_token"].as_str().unwrap(), "/api/v1/auth/me")
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let score = app.revoked_score(id).await.expect("listed as revoked");
    let expected = app.clock.now().timestamp() + 600 + 60;
    assert!(
        (score as i64 - expected).abs() <= 5,
        "{score} vs {expected}"
    );
    // Audited: who, what, why, when.
    let (actor, action, reason): (uuid::Uuid, String, String) =
        sqlx::query_as("SELECT actor_id, action, reason FROM account_audit WHERE user_id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (actor, action.as_str(), reason.as_str()),
        (admin_id, "disable", "left the clinic")
    );
    let listed = app.get_ok(&admin, "/api/v1/admin/users?q=paula").await;
    assert_eq!(listed["items"][0]["disabled"], true);
}

#[tokio::test]
async fn enabling_an_account_lets_it_log_in_and_unlists_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.patient_tokens("paula@example.org").await;
    let id = app.user_id("paula@example.org").await;
    app.post(
        &admin,
        &format!("/api/v1/admin/users/{id}/disable"),
        &json!({"reason": "suspicious activity"}),
    )
    .await;
    assert!(app.revoked_score(id).await.is_some());
    let r = app
        .post(
            &admin,
            &format!("/api/v1/admin/users/{id}/enable"),
            &json!({"reason": "checked with the patient"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["disabled"], false);
    assert_eq!(app.revoked_score(id).await, None);
    let pair: Value = app
        .login("paula@example.org", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        app.get(pair["access_token"].as_str().unwrap(), "/api/v1/auth/me")
            .await
            .status(),
        StatusCode::OK
    );
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM account_audit WHERE user_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(actions, ["disable", "enable"]);
}

#[tokio::test]
async fn the_audit_log_is_append_only() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.patient_tokens("paula@example.org").await;
    let id = app.user_id("paula@example.org").await;
    app.post(
        &admin,
        &format!("/api/v1/admin/users/{id}/disable"),
        &json!({"reason": "left the clinic"}),
    )
    .await;
    for sql in [
        "UPDATE account_audit SET reason = 'nothing'",
        "DELETE FROM account_audit",
        "TRUNCATE account_audit",
    ] {
        assert!(sqlx::query(sql).execute(&app.db).await.is_err(), "{sql}");
    }
}

#[tokio::test]
async fn an_admin_cannot_disable_themselves_and_must_give_a_reason() {
    let app = spawn_app().await;
    let (admin_id, admin) = app.admin("root@example.org").await;
    assert_problem(
        app.post(
            &admin,
            &format!("/api/v1/admin/users/{admin_id}/disable"),
            &json!({"reason": "testing myself"}),
        )
        .await,
        StatusCode::CONFLICT,
        "cannot-disable-self",
    )
    .await;
    app.patient_tokens("paula@example.org").await;
    let id = app.user_id("paula@example.org").await;
    for reason in [json!("no"), json!("   "), json!("x".repeat(501))] {
        let problem = assert_problem(
            app.post(
                &admin,
                &format!("/api/v1/admin/users/{id}/disable"),
                &json!({"reason": reason}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "reason");
    }
    assert_problem(
        app.post(
            &admin,
            &format!("/api/v1/admin/users/{id}/disable"),
            &json!({}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-body",
    )
    .await;
    assert_problem(
        app.post(
            &admin,
            &format!("/api/v1/admin/users/{}/disable", uuid::Uuid::now_v7()),
            &json!({"reason": "no such user"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM account_audit")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(audited, 0);
}

#[tokio::test]
async fn without_redis_an_account_is_not_disabled_half_way() {
    let redis = platform::testing::RedisProxy::start().await;
    let url = redis.url();
    let app = crate::helpers::spawn_app_with(|config, _| config.common.redis_url = url).await;
    let admin = app.admin_token().await;
    let pair = app.patient_tokens("paula@example.org").await;
    let id = app.user_id("paula@example.org").await;
    redis.cut();
    assert_problem(
        app.post(
            &admin,
            &format!("/api/v1/admin/users/{id}/disable"),
            &json!({"reason": "left the clinic"}),
        )
        .await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    // Nothing changed: not disabled, not audited, sessions intact.
    assert_eq!(
        app.refresh(&pair["refresh_token"]).await.status(),
        StatusCode::OK
    );
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM account_audit")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(audited, 0);
    // Sign-in does not need Redis.
    assert_eq!(
        app.login("paula@example.org", PASSWORD).await.status(),
        StatusCode::OK
    );
    redis.restore();
    // Redis reconnects on the next command after it returns.
    platform::testing::eventually(
        platform::testing::WAIT,
        "a disable once Redis is back",
        || async {
            let r = app
                .post(
                    &admin,
                    &format!("/api/v1/admin/users/{id}/disable"),
                    &json!({"reason": "left the clinic"}),
                )
                .await;
            (r.status() == StatusCode::OK).then_some(())
        },
    )
    .await;
    assert!(app.revoked_score(id).await.is_some());
}
