//! The JWT attack set, through the running service.

use std::sync::Arc;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::Utc;
use identity::{tokens::access_claims, SigningKeys};
use platform::{
    auth::{KeySource, Role, Verifier},
    config::{DEFAULT_AUDIENCE, DEFAULT_ISSUER},
    testing::{assert_problem, Anonymous},
};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

fn keys(app: &TestApp) -> SigningKeys {
    SigningKeys::from_pems([("test", app.key_pem.clone())]).unwrap()
}

async fn me_status(app: &TestApp, token: &str) -> StatusCode {
    let r = app.get(token, "/api/v1/auth/me").await;
    let status = r.status();
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        assert_problem(r, status, "unauthorized").await;
    }
    status
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn forged_expired_and_confused_tokens_are_refused() {
    let app = spawn_app().await;
    let pair = app.patient_tokens("paula@example.org").await;
    let good = pair["access_token"].as_str().unwrap();
    assert_eq!(me_status(&app, good).await, StatusCode::OK);
    let user_id = good
        .split('.')
        .nth(1)
        .map(|p| {
            let claims: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
            claims["sub"].as_str().unwrap().parse().unwrap()
        })
        .unwrap();
    let keys = keys(&app);
    let kid = keys.active_kid().to_owned();
    let now = Utc::now();

    // Missing and garbage.
    let r = app.get(&Anonymous, "/api/v1/auth/me").await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(me_status(&app, "not.a.jwt").await, StatusCode::UNAUTHORIZED);

    // Expired (beyond the 5 s leeway).
    let expired = access_claims(
        user_id,
        Role::Patient,
        DEFAULT_ISSUER,
        DEFAULT_AUDIENCE,
        now - chrono::Duration::hours(1),
        600,
    );
    assert_eq!(
        me_status(&app, &keys.sign(&expired).unwrap()).await,
        StatusCode::UNAUTHORIZED
    );

    // Wrong audience, wrong issuer.
    let claims = access_claims(
        user_id,
        Role::Patient,
        DEFAULT_ISSUER,
        "another-app",
        now,
        600,
    );
    assert_eq!(
        me_status(&app, &keys.sign(&claims).unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
    let claims = access_claims(
        user_id,
        Role::Patient,
        "evil-issuer",
        DEFAULT_AUDIENCE,
        now,
        600,
    );
    assert_eq!(
        me_status(&app, &keys.sign(&claims).unwrap()).await,
        StatusCode::UNAUTHORIZED
    );

    // Signed by another key that claims our kid.
    let attacker =
        SigningKeys::from_pems([("attacker", SigningKeys::generate_pem().unwrap())]).unwrap();
    let claims = access_claims(
        user_id,
        Role::Admin,
        DEFAULT_ISSUER,
        DEFAULT_AUDIENCE,
        now,
        600,
    );
    let forged = attacker.sign(&claims).unwrap();
    let mut parts: Vec<&str> = forged.split('.').collect();
    let header = b64(&json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}));
    parts[0] = &header;
    assert_eq!(
        me_status(&app, &parts.join(".")).await,
        StatusCode::UNAUTHORIZED
    );

    // alg: none, with and without a signature.
    let payload = b64(&serde_json::to_value(&claims).unwrap());
    let none = format!(
        "{}.{payload}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": kid}))
    );
    assert_eq!(me_status(&app, &none).await, StatusCode::UNAUTHORIZED);

    // HS256 "signed" with the public key as the HMAC secret (algorithm confusion).
    let public_x = keys.jwks().keys[0].algorithm.clone();
    let secret = serde_json::to_vec(&public_x).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.clone());
    let hs = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )
    .unwrap();
    assert_eq!(me_status(&app, &hs).await, StatusCode::UNAUTHORIZED);

    // A genuine token whose payload was edited (role → admin).
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut edited: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    edited["role"] = json!("admin");
    parts[1] = b64(&edited);
    assert_eq!(
        me_status(&app, &parts.join(".")).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn other_services_verify_tokens_with_the_published_jwks() {
    let app = spawn_app().await;
    let r = app.get(&Anonymous, "/.well-known/jwks.json").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    let jwks: Value = r.json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    assert!(
        jwks["keys"][0].get("d").is_none(),
        "private key material must never be published"
    );

    let verifier = Arc::new(Verifier::new(
        KeySource::Http {
            client: reqwest::Client::new(),
            url: app.url("/.well-known/jwks.json"),
        },
        DEFAULT_ISSUER,
        DEFAULT_AUDIENCE,
    ));
    let pair = app.patient_tokens("paula@example.org").await;
    let claims = verifier
        .verify(pair["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims.role, Role::Patient);
    assert_eq!(claims.patient_id, Some(claims.sub));
    assert!(claims.exp - claims.iat == 600);
}
