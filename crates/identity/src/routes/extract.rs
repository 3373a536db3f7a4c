//! Identity's own extractors: the caller (token verified, account not
//! disabled, with the session of the token), where the request comes from, and
//! a JSON body that may be absent.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequest, FromRequestParts, OptionalFromRequestParts, Request},
    http::{header, request::Parts},
};
use platform::{
    auth::{extractor::bearer_token, AuthUser, Role},
    Problem,
};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{
    domain::client::client_address, sessions::Client, store, tokens::session_of, AppState,
};

/// The authenticated caller of an identity route. Identity refuses the access
/// tokens of a disabled account at once (other services within a minute,
/// through the revoked-users set).
#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: Uuid,
    pub role: Role,
    /// The session (refresh family) the access token belongs to; tokens not
    /// minted by a login have none.
    pub session: Option<Uuid>,
}

impl Caller {
    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), Problem> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(Problem::forbidden())
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let AuthUser(claims) = AuthUser::from_request_parts(parts, state).await?;
        let session = bearer_token(parts).and_then(session_of);
        if store::disabled_at(&state.db, claims.sub).await?.is_some() {
            return Err(Problem::unauthorized("This account has been disabled."));
        }
        Ok(Caller {
            user_id: claims.sub,
            role: claims.role,
            session,
        })
    }
}

impl OptionalFromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    /// `None` without an `Authorization` header; a header with a bad token is refused.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Problem> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(None);
        }
        <Caller as FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

/// Where the request comes from: the client address (believing the
/// gateway's `X-Forwarded-For` only from a trusted proxy) and its user agent.
pub struct ClientInfo(pub Client);

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok());
        let addr = client_address(peer, forwarded, &state.policy.trusted_proxies);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(ClientInfo(Client { addr, user_agent }))
    }
}

/// A JSON body that may be left out: no `Content-Type` and no body is `None`;
/// anything sent is parsed as [`platform::extract::Json`] would.
pub struct OptionalJson<T>(pub Option<T>);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let no_type = !req.headers().contains_key(header::CONTENT_TYPE);
        let no_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_none_or(|v| v.as_bytes() == b"0");
        if no_type && no_length {
            return Ok(OptionalJson(None));
        }
        let platform::extract::Json(body) =
            platform::extract::Json::<T>::from_request(req, state).await?;
        Ok(OptionalJson(Some(body)))
    }
}
