//! Access-token verification under attack: every forged, altered or misdirected
//! token is refused, by the `Verifier` and through the `AuthUser` extractor.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::sync::Arc;

use axum::{
    body::Body,
    extract::FromRef,
    http::{header, Request, StatusCode},
    routing::get,
    Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ed25519_dalek::{pkcs8::EncodePrivateKey, SigningKey};
use jsonwebtoken::{encode, jwk::JwkSet, Algorithm, EncodingKey, Header};
use platform::{
    auth::{AuthUser, Claims, KeySource, Role, TokenError, Verifier},
    config::{DEFAULT_AUDIENCE, DEFAULT_ISSUER},
    Problem,
};
use rand::rngs::OsRng;
use tower::ServiceExt;
use uuid::Uuid;

const KID: &str = "key-2026-01";

/// The identity service's side: a signing key published under `KID`.
struct TokenIssuer {
    key: SigningKey,
}

impl TokenIssuer {
    fn new() -> Self {
        Self {
            key: SigningKey::generate(&mut OsRng),
        }
    }

    fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The JWKS the identity service would publish.
    fn jwks(&self) -> JwkSet {
        serde_json::from_value(serde_json::json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode(self.public_key()),
                "kid": KID,
                "alg": "EdDSA",
                "use": "sig",
            }]
        }))
        .expect("a valid JWKS")
    }

    fn verifier(&self) -> Verifier {
        Verifier::new(
            KeySource::Static(self.jwks()),
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
        )
    }

    fn sign_with_kid(&self, claims: &Claims, kid: &str) -> String {
        let der = self.key.to_pkcs8_der().expect("PKCS#8 encoding");
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes())).expect("sign")
    }

    fn sign(&self, claims: &Claims) -> String {
        self.sign_with_kid(claims, KID)
    }
}

/// Claims as the identity service issues them: valid for ten minutes from now.
fn claims(role: Role) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: Uuid::new_v4(),
        role,
        iss: DEFAULT_ISSUER.to_owned(),
        aud: DEFAULT_AUDIENCE.to_owned(),
        exp: now + 600,
        iat: now,
        jti: Uuid::new_v4(),
        patient_id: (role == Role::Patient).then(Uuid::new_v4),
        provider_id: None,
        scope: None,
    }
}

fn b64_json(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// `Invalid` carries jsonwebtoken's reason; assert on it so a token refused for
/// the wrong reason (say, a bad signature where the audience was meant) fails.
#[track_caller]
fn assert_invalid(result: Result<Claims, TokenError>, reason: &str) {
    match result {
        Err(TokenError::Invalid(r)) => assert_eq!(r, reason),
        other => panic!("expected Invalid({reason}), got {other:?}"),
    }
}

#[tokio::test]
async fn a_valid_token_is_accepted_with_its_claims() {
    let issuer = TokenIssuer::new();
    let issued = claims(Role::Patient);

    let verified = issuer
        .verifier()
        .verify(&issuer.sign(&issued))
        .await
        .unwrap();

    assert_eq!(verified, issued);
}

#[tokio::test]
async fn an_expired_token_is_refused_as_expired() {
    let issuer = TokenIssuer::new();
    let mut expired = claims(Role::Patient);
    // Well past the verifier's few seconds of leeway.
    expired.exp = chrono::Utc::now().timestamp() - 60;
    expired.iat = expired.exp - 600;

    let result = issuer.verifier().verify(&issuer.sign(&expired)).await;

    assert_eq!(result, Err(TokenError::Expired));
}

#[tokio::test]
async fn a_token_signed_by_another_key_under_the_same_kid_is_refused() {
    let issuer = TokenIssuer::new();
    let impostor = TokenIssuer::new();

    let result = issuer
        .verifier()
        .verify(&impostor.sign(&claims(Role::Admin)))
        .await;

    assert_invalid(result, "InvalidSignature");
}

#[tokio::test]
async fn a_token_naming_an_unknown_key_is_refused() {
    let issuer = TokenIssuer::new();

    let result = issuer
        .verifier()
        .verify(&issuer.sign_with_kid(&claims(Role::Patient), "no-such-key"))
        .await;

    assert_eq!(result, Err(TokenError::UnknownKey));
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_refused() {
    let issuer = TokenIssuer::new();
    let header = serde_json::json!({ "alg": "none", "typ": "JWT", "kid": KID });
    let payload = serde_json::to_value(claims(Role::Admin)).unwrap();
    let token = format!("{}.{}.", b64_json(&header), b64_json(&payload));

    let result = issuer.verifier().verify(&token).await;

    // jsonwebtoken has no `none` algorithm, so the header does not even parse.
    assert_eq!(result, Err(TokenError::Malformed));
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_public_key_is_refused() {
    let issuer = TokenIssuer::new();
    let public_x = URL_SAFE_NO_PAD.encode(issuer.public_key());
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(KID.to_owned());
    // Alg confusion: the attacker knows the public key in both forms it is published in.
    for secret in [issuer.public_key().as_slice(), public_x.as_bytes()] {
        let token = encode(
            &header,
            &claims(Role::Admin),
            &EncodingKey::from_secret(secret),
        )
        .unwrap();

        let result = issuer.verifier().verify(&token).await;

        assert_eq!(result, Err(TokenError::Algorithm));
    }
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let issuer = TokenIssuer::new();
    let mut other = claims(Role::Patient);
    other.aud = "billing-partner".to_owned();

    let result = issuer.verifier().verify(&issuer.sign(&other)).await;

    assert_invalid(result, "InvalidAudience");
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let issuer = TokenIssuer::new();
    let mut other = claims(Role::Patient);
    other.iss = "someone-else".to_owned();

    let result = issuer.verifier().verify(&issuer.sign(&other)).await;

    assert_invalid(result, "InvalidIssuer");
}

#[tokio::test]
async fn a_garbage_string_is_malformed() {
    let issuer = TokenIssuer::new();

    for garbage in ["garbage", "a.b.c", "", "...."] {
        let result = issuer.verifier().verify(garbage).await;

        assert_eq!(result, Err(TokenError::Malformed), "{garbage:?}");
    }
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let issuer = TokenIssuer::new();
    let token = issuer.sign(&claims(Role::Patient));
    let [header, payload, signature]: [&str; 3] = token
        .split('.')
        .collect::<Vec<_>>()
        .try_into()
        .expect("three parts");
    let mut altered: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    altered["role"] = "admin".into();
    let forged = format!("{header}.{}.{signature}", b64_json(&altered));

    let result = issuer.verifier().verify(&forged).await;

    assert_invalid(result, "InvalidSignature");
}

// Through HTTP: the extractor's rejections are problem+json a client can act on.

#[derive(Clone)]
struct AppState {
    verifier: Arc<Verifier>,
}

impl FromRef<AppState> for Arc<Verifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

async fn whoami(user: AuthUser) -> String {
    user.claims().sub.to_string()
}

async fn admin_only(user: AuthUser) -> Result<&'static str, Problem> {
    user.require(&[Role::Admin])?;
    Ok("welcome")
}

fn app(issuer: &TokenIssuer) -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/admin", get(admin_only))
        .with_state(AppState {
            verifier: Arc::new(issuer.verifier()),
        })
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn problem_type(&self) -> String {
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body: serde_json::Value = serde_json::from_slice(&self.body).unwrap();
        assert_eq!(body["status"], self.status.as_u16());
        body["type"].as_str().unwrap().to_owned()
    }
}

async fn get_as(app: &Router, path: &str, authorization: Option<&str>) -> Answer {
    let mut request = Request::get(path);
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn the_extractor_answers_401_problems_and_lets_valid_tokens_through() {
    let issuer = TokenIssuer::new();
    let app = app(&issuer);
    let mut expired = claims(Role::Patient);
    expired.exp = chrono::Utc::now().timestamp() - 60;
    let impostor = TokenIssuer::new().sign(&claims(Role::Patient));
    let refused = [
        None,
        Some("Bearer".to_owned()),
        Some("Basic dXNlcjpwYXNz".to_owned()),
        Some("Bearer not-a-token".to_owned()),
        Some(format!("Bearer {}", issuer.sign(&expired))),
        Some(format!("Bearer {impostor}")),
    ];

    for authorization in &refused {
        let answer = get_as(&app, "/whoami", authorization.as_deref()).await;

        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(answer.headers[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(
            answer.problem_type(),
            "https://carebook.dev/problems/unauthorized"
        );
    }

    let patient = claims(Role::Patient);
    let answer = get_as(
        &app,
        "/whoami",
        Some(&format!("Bearer {}", issuer.sign(&patient))),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, patient.sub.to_string().as_bytes());
}

#[tokio::test]
async fn a_caller_without_the_required_role_gets_a_403_problem() {
    let issuer = TokenIssuer::new();
    let app = app(&issuer);
    let patient = format!("Bearer {}", issuer.sign(&claims(Role::Patient)));
    let admin = format!("Bearer {}", issuer.sign(&claims(Role::Admin)));

    let answer = get_as(&app, "/admin", Some(&patient)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(!answer.headers.contains_key(header::WWW_AUTHENTICATE));
    assert_eq!(
        answer.problem_type(),
        "https://carebook.dev/problems/forbidden"
    );

    let answer = get_as(&app, "/admin", Some(&admin)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, b"welcome");
}
