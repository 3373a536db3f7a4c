//! SMART scopes in access tokens and in the login and refresh responses.

use identity::testing::TestIssuer;
use platform::auth::{scopes_for, Claims, Interaction, Role};
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{claims_of, spawn_app};

fn scope_claim(pair: &Value) -> String {
    let claims = claims_of(pair["access_token"].as_str().unwrap());
    claims["scope"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_patients_login_and_refresh_carry_patient_scopes_in_token_and_response() {
    let app = spawn_app().await;
    let pair = app.patient_tokens("paula@example.org").await;
    let scope = scope_claim(&pair);
    assert!(scope.split(' ').any(|s| s == "patient/*.rs"), "{scope}");
    assert_eq!(scope, scopes_for(Role::Patient));
    assert_eq!(pair["scope"], scope.as_str());
    let claims: Claims =
        serde_json::from_value(claims_of(pair["access_token"].as_str().unwrap())).unwrap();
    assert!(claims.scopes().patient_context());
    assert!(claims.scopes().permits("Appointment", Interaction::Create));

    let r = app.refresh(&pair["refresh_token"]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let refreshed: Value = r.json().await.unwrap();
    assert_eq!(scope_claim(&refreshed), scope);
    assert_eq!(refreshed["scope"], scope.as_str());
}

#[tokio::test]
async fn an_admins_token_carries_user_scopes_without_clinical_reads() {
    let app = spawn_app().await;
    let (_, token) = app.admin("root@example.org").await;
    let claims: Claims = serde_json::from_value(claims_of(&token)).unwrap();
    assert_eq!(claims.scope, Some(scopes_for(Role::Admin)));
    let scopes = claims.scopes();
    assert!(scopes.permits("AuditEvent", Interaction::Search));
    assert!(!scopes.permits("Observation", Interaction::Read));
    assert!(!scopes.patient_context());
}

#[test]
fn test_issuer_tokens_carry_their_roles_scopes() {
    let issuer = TestIssuer::new();
    for role in Role::ALL {
        let claims = claims_of(&issuer.token(Uuid::now_v7(), role));
        assert_eq!(claims["scope"], scopes_for(role).as_str());
    }
}
