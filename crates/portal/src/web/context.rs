//! Who is asking: the session layer loads the visitor's session once per
//! request, checks the CSRF token of every unsafe request, and hands handlers
//! a [`Visit`]; pages for signed-in users take a [`Ctx`], which also calls the
//! API with the user's token and refreshes it transparently.

use std::{net::SocketAddr, time::Duration};

use axum::{
    body::{to_bytes, Body},
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{header, request::Parts, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use chrono::Utc;
use chrono_tz::Tz;
use platform::auth::Role;
use serde::de::DeserializeOwned;

use super::{
    error::{ErrorPage, PageError},
    nav,
};
use crate::{
    api::{models::RefreshToken, models::TokenPair, ApiError, ApiRequest, Origin},
    domain::{link_token::is_token_authorized, time::parse_zone},
    render::{Layout, UserView},
    session::{
        cookie::{self, SESSION_COOKIE, TIME_ZONE_COOKIE},
        csrf, Flash, SessionData, SessionId, SignedIn, StoreError, Tokens,
    },
    AppState,
};

/// Pages whose forms anonymous visitors fill in, so they get a session (and a
/// CSRF token) on sight. Everywhere else a session starts at login.
const ANONYMOUS_FORMS: &[&str] = &[
    "/login",
    "/register",
    "/verify-email",
    "/password-reset",
    "/password-reset/confirm",
];

/// The request as the portal sees it.
#[derive(Clone, Debug)]
pub struct Visit {
    pub session: Option<(SessionId, SessionData)>,
    /// The one-time message to show on this page.
    pub flash: Option<Flash>,
    pub origin: Origin,
    /// The browser's time zone (from our script's cookie), when known and valid.
    pub viewer_tz: Option<Tz>,
    /// Path and query of this request, to come back to after login.
    pub path: String,
}

impl Visit {
    pub fn user(&self) -> Option<&SignedIn> {
        self.session.as_ref().and_then(|(_, d)| d.user.as_ref())
    }

    pub fn layout(&self) -> Layout {
        let user = self.user();
        Layout {
            csrf: self
                .session
                .as_ref()
                .map(|(_, d)| d.csrf.clone())
                .unwrap_or_default(),
            user: user.map(|u| UserView {
                name: u.name.clone(),
                role: u.role.as_str().to_owned(),
            }),
            flash: self.flash.clone(),
            nav: nav::items(user.map(|u| u.role), &self.path),
        }
    }

    pub fn render(
        &self,
        state: &AppState,
        status: StatusCode,
        template: &str,
        page: minijinja::Value,
    ) -> Response {
        state.pages.respond(status, template, &self.layout(), page)
    }
}

impl FromRequestParts<AppState> for Visit {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, PageError> {
        parts
            .extensions
            .get::<Visit>()
            .cloned()
            .ok_or(PageError::Unavailable)
    }
}

/// `X-Forwarded-For` to pass on: the chain received plus our peer, exactly as
/// a proxy appends. The gateway believes it only from its trusted proxies and
/// takes the right-most address that is not one of them.
fn origin_of(parts: &Parts) -> Origin {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let received = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let forwarded_for = match (received, peer) {
        (Some(chain), Some(peer)) => Some(format!("{chain}, {peer}")),
        (Some(chain), None) => Some(chain.to_owned()),
        (None, peer) => peer,
    };
    Origin {
        forwarded_for,
        request_id: parts
            .headers
            .get(platform::http::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(300).collect()),
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Load the session, enforce CSRF on unsafe methods, run the handler, and
/// render any [`ErrorPage`] it returned inside the layout.
pub async fn session_layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let mut visit = Visit {
        session: None,
        flash: None,
        origin: origin_of(&parts),
        viewer_tz: cookie::read(&parts.headers, TIME_ZONE_COOKIE).and_then(|z| parse_zone(&z)),
        path,
    };
    match load(&state, &parts, &mut visit).await {
        Ok(new_cookie) => {
            let body = if is_safe(&parts.method) {
                body
            } else {
                match checked_body(&state, &parts, &visit, body).await {
                    Ok(body) => body,
                    Err(refusal) => return render_error(&state, &visit, refusal),
                }
            };
            parts.extensions.insert(visit.clone());
            let response = next.run(Request::from_parts(parts, body)).await;
            let mut response = render_error(&state, &visit, response);
            if let Some(id) = new_cookie {
                response.headers_mut().append(
                    header::SET_COOKIE,
                    cookie::session(&id, state.secure_cookies),
                );
            }
            response
        }
        Err(e) => render_error(&state, &visit, PageError::from(e).into_response()),
    }
}

/// Fill `visit.session` (and its one-time flash); returns a new session's id
/// when this request started one.
async fn load(
    state: &AppState,
    parts: &Parts,
    visit: &mut Visit,
) -> Result<Option<SessionId>, StoreError> {
    let id = cookie::read(&parts.headers, SESSION_COOKIE).and_then(|v| SessionId::parse(&v));
    if let Some(id) = id {
        if let Some(mut data) = state.sessions.load(&id).await? {
            if parts.method == Method::GET {
                if let Some(flash) = data.flash.take() {
                    state.sessions.save(&id, &data).await?;
                    visit.flash = Some(flash);
                }
            }
            visit.session = Some((id, data));
            return Ok(None);
        }
    }
    if parts.method == Method::GET && ANONYMOUS_FORMS.contains(&parts.uri.path()) {
        let data = SessionData::anonymous(Utc::now());
        let id = state.sessions.create(&data).await?;
        visit.session = Some((id.clone(), data));
        return Ok(Some(id));
    }
    Ok(None)
}

/// The body of an unsafe request, once its CSRF token matched the session's.
async fn checked_body(
    state: &AppState,
    parts: &Parts,
    visit: &Visit,
    body: Body,
) -> Result<Body, Response> {
    let Ok(bytes) = to_bytes(body, state.max_body_bytes).await else {
        return Err(error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too much text",
            "That form was too large to send. Please shorten it and try again.",
        ));
    };
    // A link's own token authorizes its pages, which never act with the
    // visitor's session (see `link_token::is_token_authorized`).
    if is_token_authorized(parts.uri.path()) {
        return Ok(Body::from(bytes));
    }
    let from_header = parts
        .headers
        .get(csrf::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    // The form's own field first: it was rendered with the page it came from.
    let given = is_form
        .then(|| csrf::from_form(&bytes))
        .flatten()
        .or(from_header);
    let expected = visit
        .session
        .as_ref()
        .map(|(_, d)| d.csrf.as_str())
        .unwrap_or("");
    if !csrf::matches(expected, given.as_deref()) {
        return Err(error_response(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "This form has expired or did not come from Carebook. Please go back, reload the page and try again.",
        ));
    }
    Ok(Body::from(bytes))
}

fn error_response(status: StatusCode, title: &'static str, message: &str) -> Response {
    let mut response = status.into_response();
    response.extensions_mut().insert(ErrorPage {
        title,
        message: message.to_owned(),
    });
    response
}

/// Turn a response carrying an [`ErrorPage`] into the page itself.
fn render_error(state: &AppState, visit: &Visit, response: Response) -> Response {
    let Some(page) = response.extensions().get::<ErrorPage>().cloned() else {
        return response;
    };
    let status = response.status();
    let mut rendered = visit.render(
        state,
        status,
        "error.html",
        crate::page! { title => page.title, message => page.message },
    );
    // Keep what the handler set besides the body (cookies on logout, say).
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered.headers_mut().append(name.clone(), value.clone());
        }
    }
    rendered
}

/// Why an API call made on the user's behalf failed.
#[derive(Debug)]
pub enum CallError {
    /// The session ended (refresh refused): log in again, then come back.
    SessionEnded {
        next: String,
    },
    Store(StoreError),
    Api(ApiError),
}

impl From<CallError> for PageError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::SessionEnded { next } => PageError::LoginRequired { next },
            CallError::Store(e) => PageError::from(e),
            CallError::Api(e) => PageError::Api(e),
        }
    }
}

impl From<StoreError> for CallError {
    fn from(e: StoreError) -> Self {
        CallError::Store(e)
    }
}

/// A signed-in user's request.
pub struct Ctx {
    pub state: AppState,
    pub visit: Visit,
    pub id: SessionId,
    pub user: SignedIn,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let visit = Visit::from_request_parts(parts, state).await?;
        let Some((id, data)) = &visit.session else {
            return Err(PageError::LoginRequired { next: visit.path });
        };
        let Some(user) = data.user.clone() else {
            return Err(PageError::LoginRequired { next: visit.path });
        };
        Ok(Ctx {
            state: state.clone(),
            id: id.clone(),
            user,
            visit,
        })
    }
}

/// How long a request waits for another one's token refresh, at most.
const REFRESH_WAIT: Duration = Duration::from_secs(5);
const REFRESH_POLL: Duration = Duration::from_millis(100);

impl Ctx {
    /// The clinic's current time (see [`AppState::clock`]).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.state.clock.now()
    }

    /// Only these roles may use the page.
    pub fn require(&self, roles: &[Role]) -> Result<(), PageError> {
        if roles.contains(&self.user.role) {
            Ok(())
        } else {
            Err(PageError::Forbidden)
        }
    }

    pub fn render(&self, template: &str, page: minijinja::Value) -> Response {
        self.visit
            .render(&self.state, StatusCode::OK, template, page)
    }

    pub fn render_with(
        &self,
        status: StatusCode,
        template: &str,
        page: minijinja::Value,
    ) -> Response {
        self.visit.render(&self.state, status, template, page)
    }

    /// The CSRF token of this session (for forms rendered by handlers).
    pub fn csrf(&self) -> String {
        self.visit.layout().csrf
    }

    /// Call the API and read the JSON answer.
    pub async fn call<T: DeserializeOwned>(&mut self, req: ApiRequest) -> Result<T, CallError> {
        self.send(req).await?.json().map_err(CallError::Api)
    }

    /// Call the API and read the JSON answer, `T::default()` when it has none (204).
    pub async fn call_or_default<T: DeserializeOwned + Default>(
        &mut self,
        req: ApiRequest,
    ) -> Result<T, CallError> {
        self.send(req)
            .await?
            .json_or_default()
            .map_err(CallError::Api)
    }

    /// Call the API for its effect (204 and the like).
    pub async fn call_for_effect(&mut self, req: ApiRequest) -> Result<(), CallError> {
        self.send(req).await.map(|_| ())
    }

    pub async fn get<T: DeserializeOwned>(
        &mut self,
        path: impl Into<String>,
    ) -> Result<T, CallError> {
        self.call(ApiRequest::get(path)).await
    }

    async fn send(&mut self, req: ApiRequest) -> Result<crate::api::Answer, CallError> {
        if self.user.tokens.needs_refresh(Utc::now()) {
            self.refresh().await?;
        }
        let first = self.attempt(&req).await;
        match first {
            Err(e) if e.is_token_refused() => {
                // Expired early or keys rotated: one refresh, one retry.
                self.refresh().await?;
                self.attempt(&req)
                    .await
                    .map_err(|e| self.ended_if_unauthorized(e))
            }
            other => other.map_err(CallError::Api),
        }
    }

    async fn attempt(&self, req: &ApiRequest) -> Result<crate::api::Answer, ApiError> {
        self.state
            .api
            .send(req, Some(&self.user.tokens.access), &self.visit.origin)
            .await
    }

    fn ended_if_unauthorized(&self, e: ApiError) -> CallError {
        if e.is_token_refused() {
            CallError::SessionEnded {
                next: self.visit.path.clone(),
            }
        } else {
            CallError::Api(e)
        }
    }

    /// New tokens for the session. Refresh tokens rotate on use and a second
    /// use signs the user out everywhere, so one request refreshes (under the
    /// session's lock) while concurrent ones wait and adopt its result.
    async fn refresh(&mut self) -> Result<(), CallError> {
        let seen = self.user.tokens.refresh.clone();
        let store = self.state.sessions.clone();
        let deadline = tokio::time::Instant::now() + REFRESH_WAIT;
        loop {
            if store.lock_refresh(&self.id).await? {
                let result = self.refresh_locked(&seen).await;
                if let Err(e) = store.unlock_refresh(&self.id).await {
                    tracing::warn!(error = %e, "session refresh lock not released; it expires by itself");
                }
                return result;
            }
            tokio::time::sleep(REFRESH_POLL).await;
            if self.adopt_newer(&seen).await? {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(CallError::Api(ApiError::Unreachable(
                    "token refresh did not finish in time".into(),
                )));
            }
        }
    }

    /// Take tokens another request stored meanwhile; `true` if there were any.
    async fn adopt_newer(&mut self, seen: &str) -> Result<bool, CallError> {
        let current = self.state.sessions.load(&self.id).await?;
        match current.and_then(|d| d.user) {
            None => Err(CallError::SessionEnded {
                next: self.visit.path.clone(),
            }),
            Some(user) if user.tokens.refresh != seen => {
                self.user.tokens = user.tokens;
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    }

    async fn refresh_locked(&mut self, seen: &str) -> Result<(), CallError> {
        if self.adopt_newer(seen).await? {
            return Ok(());
        }
        let req = ApiRequest::post(
            "/api/v1/auth/refresh",
            &RefreshToken {
                refresh_token: seen,
            },
        );
        let pair: Result<TokenPair, ApiError> =
            self.state.api.json(&req, None, &self.visit.origin).await;
        match pair {
            Ok(pair) => {
                let tokens = Tokens::from_pair(&pair, Utc::now());
                // Re-read so a concurrent change (a flash) is kept.
                let Some(mut data) = self.state.sessions.load(&self.id).await? else {
                    return Err(CallError::SessionEnded {
                        next: self.visit.path.clone(),
                    });
                };
                if let Some(user) = data.user.as_mut() {
                    user.tokens = tokens.clone();
                }
                self.state.sessions.save(&self.id, &data).await?;
                self.user.tokens = tokens;
                Ok(())
            }
            Err(e) if e.is_unauthorized() => {
                // Revoked, expired or reused: this session is over.
                self.state.sessions.delete(&self.id).await?;
                Err(CallError::SessionEnded {
                    next: self.visit.path.clone(),
                })
            }
            Err(e) => Err(CallError::Api(e)),
        }
    }

    /// Change what this session remembers (it is read afresh, so a concurrent
    /// token refresh is kept).
    pub async fn edit_session(&self, edit: impl FnOnce(&mut SessionData)) -> Result<(), PageError> {
        if let Some(mut data) = self.state.sessions.load(&self.id).await? {
            edit(&mut data);
            self.state.sessions.save(&self.id, &data).await?;
        }
        Ok(())
    }

    /// Show `flash` on the next page (after a redirect).
    pub async fn flash(&self, flash: Flash) -> Result<(), PageError> {
        if let Some(mut data) = self.state.sessions.load(&self.id).await? {
            data.flash = Some(flash);
            self.state.sessions.save(&self.id, &data).await?;
        }
        Ok(())
    }
}
