//! The route table: path patterns → upstream service, route class and timeout.
//!
//! A pattern is a list of segments where `*` matches exactly one segment and
//! the pattern matches any path that starts with it (`/api/v1/providers/*/slots`
//! matches `/api/v1/providers/42/slots?x`). The most specific match wins: more
//! segments first, then fewer wildcards.
//!
//! A route is written `pattern=service` followed by options, each after a `:`
//! and in any order:
//!
//! - `:2500` — the upstream timeout in milliseconds (default `GATEWAY_UPSTREAM_TIMEOUT_MS`);
//! - `:public` — served without an access token;
//! - `:max_body=65536` — the largest request body in bytes, also `64k` or `8m`
//!   (default `GATEWAY_MAX_BODY_BYTES`); larger ones get 413;
//! - `:methods=GET,POST` — the only methods allowed (HEAD comes with GET);
//!   others get 405 with `Allow`. Default: every method.
//!
//! In `GATEWAY_ROUTES` routes are separated by commas too; a comma-separated
//! piece that does not start with `/` continues the previous route (its
//! method list), so `/api/v1/x=svc:methods=GET,POST,/api/v1/y=svc` is two routes.

use std::time::Duration;

/// How a route is rate-limited and authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteClass {
    /// Login, registration, refresh: strict limits, fail closed without Redis.
    Auth,
    /// Everything else under `/api`.
    Api,
}

impl RouteClass {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteClass::Auth => "auth",
            RouteClass::Api => "api",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub pattern: Vec<String>,
    pub service: String,
    /// The service's name, shared: per-request metric labels take it without a copy.
    pub service_label: std::sync::Arc<str>,
    pub timeout: Duration,
    /// Served without an access token (and limited per client IP). Only for
    /// routes whose service has nothing private, e.g. a status page.
    pub public: bool,
    /// The largest request body; `None`: the gateway's default.
    pub max_body: Option<u64>,
    /// The methods allowed (upper case); `None`: all.
    pub methods: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid route {0:?}: expected `/path/pattern=service[:timeout_ms][:public][:max_body=BYTES][:methods=GET,POST]`"
)]
pub struct InvalidRoute(pub String);

/// `65536`, `64k` or `8m` (binary multiples).
fn parse_size(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    let (digits, factor) = match raw.char_indices().last()? {
        (i, 'k' | 'K') => (&raw[..i], 1024),
        (i, 'm' | 'M') => (&raw[..i], 1024 * 1024),
        _ => (raw, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(factor)
}

/// `GET,POST` → `["GET", "POST"]`; each a method token.
fn parse_methods(raw: &str) -> Option<Vec<String>> {
    let methods: Vec<String> = raw
        .split(',')
        .map(|m| m.trim().to_ascii_uppercase())
        .collect();
    let valid =
        |m: &String| !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-');
    methods.iter().all(valid).then_some(methods)
}

impl Route {
    /// Parse `pattern=service`, optionally followed by `:timeout_ms`, `:public`,
    /// `:max_body=…` and `:methods=…` (module docs).
    pub fn parse(spec: &str, default_timeout: Duration) -> Result<Self, InvalidRoute> {
        let bad = || InvalidRoute(spec.to_owned());
        let (pattern, target) = spec.trim().split_once('=').ok_or_else(bad)?;
        if !pattern.starts_with('/') {
            return Err(bad());
        }
        let mut parts = target.split(':');
        let service = parts.next().unwrap_or_default();
        let (mut timeout, mut public) = (default_timeout, false);
        let (mut max_body, mut methods) = (None, None);
        for option in parts {
            match option.split_once('=') {
                Some(("max_body", size)) => max_body = Some(parse_size(size).ok_or_else(bad)?),
                Some(("methods", list)) => methods = Some(parse_methods(list).ok_or_else(bad)?),
                Some(_) => return Err(bad()),
                None if option == "public" => public = true,
                None => timeout = Duration::from_millis(option.parse().map_err(|_| bad())?),
            }
        }
        if service.is_empty()
            || !service
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(bad());
        }
        Ok(Self {
            pattern: segments(pattern).map(str::to_owned).collect(),
            service: service.to_owned(),
            service_label: service.into(),
            timeout,
            public,
            max_body,
            methods,
        })
    }

    /// Whether `method` may be sent on this route (HEAD wherever GET may).
    pub fn allows(&self, method: &str) -> bool {
        match &self.methods {
            None => true,
            Some(allowed) => allowed
                .iter()
                .any(|m| m == method || (method == "HEAD" && m == "GET")),
        }
    }

    /// The `Allow` header of a 405 on this route.
    pub fn allow_header(&self) -> String {
        let mut methods = self.methods.clone().unwrap_or_default();
        if methods.iter().any(|m| m == "GET") && !methods.iter().any(|m| m == "HEAD") {
            methods.push("HEAD".to_owned());
        }
        methods.join(", ")
    }

    fn matches(&self, path: &[&str]) -> bool {
        self.pattern.len() <= path.len()
            && self
                .pattern
                .iter()
                .zip(path)
                .all(|(p, s)| p == "*" || p == s)
    }

    fn specificity(&self) -> (usize, usize) {
        let literals = self.pattern.iter().filter(|p| *p != "*").count();
        (self.pattern.len(), literals)
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// The routes in force, most specific first.
#[derive(Clone, Debug)]
pub struct RouteTable {
    routes: Vec<Route>,
}

/// Where Carebook's public API paths go (ARCHITECTURE.md).
pub const DEFAULT_ROUTES: &[&str] = &[
    "/api/v1/auth=identity",
    "/api/v1/admin/users=identity",
    "/.well-known/jwks.json=identity",
    "/api/v1/providers=directory",
    "/api/v1/providers/*/appointment-types=scheduling",
    "/api/v1/providers/*/availability=scheduling",
    "/api/v1/providers/*/time-off=scheduling",
    "/api/v1/providers/*/slots=scheduling",
    "/api/v1/providers/*/calendar-feed=notifications",
    "/api/v1/patients=directory",
    "/api/v1/patients/*/records=records",
    "/api/v1/records=records",
    "/api/v1/patients/*/insurance=billing",
    "/api/v1/patients/*/balance=billing",
    "/api/v1/appointments=scheduling",
    "/api/v1/appointment-series=scheduling",
    "/api/v1/appointment-types=scheduling",
    "/api/v1/holds=scheduling",
    "/api/v1/waitlist=scheduling",
    "/api/v1/appointment-links=scheduling",
    "/api/v1/invoices=billing",
    "/api/v1/notifications=notifications",
    "/api/v1/calendar-feeds=notifications",
    // The FHIR R4 view of the same API (its discovery documents are public,
    // see [`is_fhir_discovery`]).
    "/fhir/R4=fhir",
    // Everything else is the web portal; it authenticates with its own session.
    "/=portal:public",
];

/// Split `GATEWAY_ROUTES` into route specs: at commas, except that a piece
/// not starting with `/` belongs to the route before it (`methods=GET,POST`).
pub fn split_specs(raw: &str) -> Vec<String> {
    let mut specs: Vec<String> = Vec::new();
    for piece in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match specs.last_mut() {
            Some(last) if !piece.starts_with('/') => {
                last.push(',');
                last.push_str(piece);
            }
            _ => specs.push(piece.to_owned()),
        }
    }
    specs
}

impl RouteTable {
    pub fn new(mut routes: Vec<Route>) -> Self {
        routes.sort_by_key(|r| std::cmp::Reverse(r.specificity()));
        Self { routes }
    }

    pub fn parse(specs: &[&str], default_timeout: Duration) -> Result<Self, InvalidRoute> {
        let routes = specs
            .iter()
            .map(|s| Route::parse(s, default_timeout))
            .collect::<Result<_, _>>()?;
        Ok(Self::new(routes))
    }

    /// The route for `path` (without query), if any. A catch-all route (`/`)
    /// never takes `/api/...`: an unknown API path stays a problem+json 404
    /// rather than becoming a web page.
    pub fn find(&self, path: &str) -> Option<&Route> {
        // `..` or `.` segments are never routed: no path tricks past the table.
        let segs: Vec<&str> = segments(path).collect();
        if segs.iter().any(|s| *s == ".." || *s == ".") {
            return None;
        }
        let api = segs.first() == Some(&"api");
        self.routes
            .iter()
            .find(|r| r.matches(&segs) && !(api && r.pattern.is_empty()))
    }

    /// Whether `service` serves any `/api` route: only those publish an OpenAPI
    /// document (the portal serves pages, the fhir service describes itself
    /// with a FHIR CapabilityStatement).
    pub fn serves_api(&self, service: &str) -> bool {
        self.routes
            .iter()
            .any(|r| r.service == service && r.pattern.first().is_some_and(|s| s == "api"))
    }

    /// Every service named by a route.
    pub fn services(&self) -> Vec<String> {
        let mut services: Vec<String> = self.routes.iter().map(|r| r.service.clone()).collect();
        services.sort();
        services.dedup();
        services
    }
}

/// Requests that need no access token. Everything else through the proxy does.
/// TOTP enrolment is here too: an account that must enrol before its first
/// sign-in proves itself with the `mfa_token` in the body, which identity checks.
/// So are the self-service links in appointment emails (see [`is_appointment_link`]),
/// a provider's calendar feed (see [`is_calendar_feed`]) and the FHIR API's
/// discovery documents (see [`is_fhir_discovery`]).
pub fn is_public(method: &str, path: &str) -> bool {
    is_appointment_link(method, path)
        || is_calendar_feed(method, path)
        || is_fhir_discovery(method, path)
        || matches!(
            (method, path),
            ("POST", "/api/v1/auth/register")
                | ("POST", "/api/v1/auth/verify-email")
                | ("POST", "/api/v1/auth/verify-email/resend")
                | ("POST", "/api/v1/auth/login")
                | ("POST", "/api/v1/auth/refresh")
                | ("POST", "/api/v1/auth/logout")
                | ("POST", "/api/v1/auth/password-reset")
                | ("POST", "/api/v1/auth/password-reset/confirm")
                | ("POST", "/api/v1/auth/mfa/verify")
                | ("POST", "/api/v1/auth/mfa/totp")
                | ("POST", "/api/v1/auth/mfa/totp/confirm")
                | ("GET" | "HEAD", "/.well-known/jwks.json")
        )
}

/// A self-service link from an appointment email: `GET
/// /api/v1/appointment-links/{token}` (what it would do), `GET
/// …/{token}/slots` (the free times a reschedule link may move to) and `POST
/// …/{token}/cancel` or `…/{token}/reschedule`. The signed token in the path is
/// the only authority, checked by scheduling; it acts on one appointment and
/// signs nobody in. Nothing else under that prefix is public.
fn is_appointment_link(method: &str, path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/api/v1/appointment-links/") else {
        return false;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    match (method, segments.as_slice()) {
        ("GET" | "HEAD", [token] | [token, "slots"]) => !token.is_empty(),
        ("POST", [token, "cancel" | "reschedule"]) => !token.is_empty(),
        _ => false,
    }
}

/// A provider's calendar feed: `GET` or `HEAD /api/v1/calendar-feeds/{token}`.
/// Calendar clients subscribe to a URL and cannot send an access token: the
/// secret token in the path is the only authority, checked by notifications;
/// it reads one provider's schedule and signs nobody in. Nothing else under
/// that prefix is public.
fn is_calendar_feed(method: &str, path: &str) -> bool {
    let Some(token) = path.strip_prefix("/api/v1/calendar-feeds/") else {
        return false;
    };
    matches!(method, "GET" | "HEAD") && !token.is_empty() && !token.contains('/')
}

/// What a FHIR client reads before it has a token: `GET` or `HEAD
/// /fhir/R4/metadata` (the CapabilityStatement) and `…/.well-known/smart-configuration`
/// (where tokens come from, which scopes exist). Neither says anything about
/// anybody; every other FHIR path needs a token.
fn is_fhir_discovery(method: &str, path: &str) -> bool {
    matches!(method, "GET" | "HEAD")
        && matches!(
            path.strip_prefix(FHIR_BASE),
            Some("/metadata" | "/.well-known/smart-configuration")
        )
}

/// Where the FHIR API is (the `fhir` service's base path).
pub const FHIR_BASE: &str = "/fhir/R4";

/// Whether `path` is the FHIR API's, whose clients expect errors as FHIR
/// OperationOutcomes rather than problem+json.
pub fn is_fhir(path: &str) -> bool {
    path.strip_prefix(FHIR_BASE)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The rate-limit class of a path.
pub fn class_of(path: &str) -> RouteClass {
    if path.starts_with("/api/v1/auth/") && !path.ends_with("/me") {
        RouteClass::Auth
    } else {
        RouteClass::Api
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        RouteTable::parse(DEFAULT_ROUTES, Duration::from_secs(10)).unwrap()
    }

    #[test]
    fn the_most_specific_route_wins() {
        let t = table();
        let to = |p: &str| t.find(p).map(|r| r.service.as_str());
        assert_eq!(to("/api/v1/providers"), Some("directory"));
        assert_eq!(to("/api/v1/providers/abc"), Some("directory"));
        assert_eq!(to("/api/v1/providers/abc/slots"), Some("scheduling"));
        assert_eq!(
            to("/api/v1/patients/me/preferred-provider"),
            Some("directory")
        );
        assert_eq!(to("/api/v1/patients/abc/records/notes"), Some("records"));
        assert_eq!(to("/api/v1/records/break-glass"), Some("records"));
        assert_eq!(to("/api/v1/patients/abc/balance"), Some("billing"));
        assert_eq!(to("/api/v1/patients/me"), Some("directory"));
        assert_eq!(to("/api/v1/auth/login"), Some("identity"));
        assert_eq!(to("/.well-known/jwks.json"), Some("identity"));
        assert_eq!(to("/api/v1/appointments/x/cancel"), Some("scheduling"));
        assert_eq!(to("/api/v1/holds"), Some("scheduling"));
        assert_eq!(to("/api/v1/holds/x"), Some("scheduling"));
        assert_eq!(to("/api/v1/waitlist"), Some("scheduling"));
        assert_eq!(to("/api/v1/waitlist/offers/t/claim"), Some("scheduling"));
        assert_eq!(to("/api/v1/appointment-links/t/cancel"), Some("scheduling"));
        assert_eq!(to("/api/v1/patients"), Some("directory"));
        assert_eq!(to("/api/v1/patients/abc/summary"), Some("directory"));
        assert_eq!(to("/api/v1/providers/abc/time-off/xyz"), Some("scheduling"));
        assert_eq!(
            to("/api/v1/providers/abc/availability/overrides/2026-05-04"),
            Some("scheduling")
        );
    }

    #[test]
    fn unknown_api_and_dot_segment_paths_are_not_routed() {
        let t = table();
        assert!(t.find("/api/v2/providers").is_none());
        assert!(t.find("/api").is_none());
        assert!(t.find("/api/v1/auth/../admin/users").is_none());
        assert!(t.find("/api/v1/authx").is_none());
        assert!(t.find("/appointments/../api/v1/admin/users").is_none());
    }

    #[test]
    fn every_other_path_goes_to_the_public_portal() {
        let t = table();
        for path in [
            "/",
            "/login",
            "/appointments/x/cancel",
            "/static/portal.css",
            "/apix",
        ] {
            let route = t.find(path).unwrap();
            assert_eq!(route.service, "portal", "{path}");
            assert!(route.public, "{path}");
        }
        assert!(!t.find("/api/v1/appointments").unwrap().public);
    }

    #[test]
    fn routes_parse_with_and_without_timeouts() {
        let r = Route::parse("/api/v1/x=svc:2500", Duration::from_secs(10)).unwrap();
        assert_eq!(
            (r.service.as_str(), r.timeout),
            ("svc", Duration::from_millis(2500))
        );
        for bad in [
            "api/v1=svc",
            "/x",
            "/x=",
            "/x=svc:soon",
            "/x=s v c",
            "/x=:public",
        ] {
            assert!(Route::parse(bad, Duration::from_secs(1)).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_the_listed_requests_are_public() {
        assert!(is_public("POST", "/api/v1/auth/login"));
        assert!(!is_public("GET", "/api/v1/auth/login"));
        assert!(!is_public("GET", "/api/v1/auth/me"));
        assert!(!is_public("POST", "/api/v1/admin/users"));
        assert!(is_public("POST", "/api/v1/auth/password-reset/confirm"));
        assert!(is_public("POST", "/api/v1/auth/mfa/verify"));
        assert!(!is_public("DELETE", "/api/v1/auth/mfa/totp"));
        // Appointment links: the token is the authority, for exactly these.
        assert!(is_public("GET", "/api/v1/appointment-links/abc"));
        assert!(is_public("POST", "/api/v1/appointment-links/abc/cancel"));
        assert!(is_public(
            "POST",
            "/api/v1/appointment-links/abc/reschedule"
        ));
        assert!(is_public("GET", "/api/v1/appointment-links/abc/slots"));
        assert!(!is_public("POST", "/api/v1/appointment-links/abc/slots"));
        assert!(!is_public("GET", "/api/v1/appointment-links//slots"));
        assert!(!is_public("GET", "/api/v1/appointment-links/abc/slots/x"));
        assert!(!is_public("POST", "/api/v1/appointment-links/abc"));
        assert!(!is_public("GET", "/api/v1/appointment-links/abc/cancel"));
        assert!(!is_public("POST", "/api/v1/appointment-links/abc/delete"));
        assert!(!is_public("GET", "/api/v1/appointment-links/"));
        assert!(!is_public("GET", "/api/v1/appointment-links"));
        assert!(!is_public("POST", "/api/v1/appointment-links//cancel"));
        assert!(!is_public("POST", "/api/v1/appointment-links/abc/cancel/x"));
        // Claiming a waitlist offer is done signed in, as its patient.
        assert!(!is_public("POST", "/api/v1/waitlist/offers/wo_x/claim"));
        assert!(!is_public("POST", "/api/v1/auth/password"));
        assert_eq!(class_of("/api/v1/auth/login"), RouteClass::Auth);
        assert_eq!(class_of("/api/v1/auth/me"), RouteClass::Api);
        assert_eq!(class_of("/api/v1/providers"), RouteClass::Api);
    }

    #[test]
    fn only_reading_a_calendar_feed_by_its_token_is_public() {
        assert!(is_public("GET", "/api/v1/calendar-feeds/abc_-XYZ"));
        assert!(is_public("HEAD", "/api/v1/calendar-feeds/abc"));
        for (method, path) in [
            ("POST", "/api/v1/calendar-feeds/abc"),
            ("DELETE", "/api/v1/calendar-feeds/abc"),
            ("GET", "/api/v1/calendar-feeds/"),
            ("GET", "/api/v1/calendar-feeds"),
            ("GET", "/api/v1/calendar-feeds/abc/x"),
            ("GET", "/api/v1/calendar-feeds//x"),
            // Managing the feed is the provider's, signed in.
            ("GET", "/api/v1/providers/p/calendar-feed"),
            ("POST", "/api/v1/providers/p/calendar-feed"),
            ("DELETE", "/api/v1/providers/p/calendar-feed"),
        ] {
            assert!(!is_public(method, path), "{method} {path}");
        }
    }

    #[test]
    fn calendar_feeds_go_to_notifications() {
        let t = table();
        let to = |p: &str| t.find(p).map(|r| r.service.as_str());
        assert_eq!(
            to("/api/v1/providers/abc/calendar-feed"),
            Some("notifications")
        );
        assert_eq!(to("/api/v1/calendar-feeds/t"), Some("notifications"));
        // The provider's other paths stay where they were.
        assert_eq!(to("/api/v1/providers/abc"), Some("directory"));
        assert_eq!(to("/api/v1/providers/abc/slots"), Some("scheduling"));
        assert!(!t.find("/api/v1/calendar-feeds/t").unwrap().public);
    }

    #[test]
    fn the_fhir_api_goes_to_the_fhir_service() {
        let t = table();
        let to = |p: &str| t.find(p).map(|r| r.service.as_str());
        for path in [
            "/fhir/R4",
            "/fhir/R4/metadata",
            "/fhir/R4/.well-known/smart-configuration",
            "/fhir/R4/Patient",
            "/fhir/R4/Slot?x",
            "/fhir/R4/Slot?schedule=Schedule/abc&start=ge2026-06-01",
            "/fhir/R4/Appointment/0190a0b4-7c8e-7000-8000-000000000001",
            "/fhir/R4/Appointment/0190a0b4-7c8e-7000-8000-000000000001/_history/1",
        ] {
            assert_eq!(to(path), Some("fhir"), "{path}");
            assert!(!t.find(path).unwrap().public, "{path}");
        }
        // Another FHIR version or a look-alike is no FHIR path: the portal's.
        assert_eq!(to("/fhir/R5/Patient"), Some("portal"));
        assert_eq!(to("/fhir"), Some("portal"));
        assert_eq!(to("/fhir/R4x/Patient"), Some("portal"));
        assert!(t.find("/fhir/R4/../../api/v1/admin/users").is_none());
        assert!(is_fhir("/fhir/R4") && is_fhir("/fhir/R4/Patient"));
        assert!(!is_fhir("/fhir/R4x") && !is_fhir("/api/v1/appointments"));
    }

    #[test]
    fn one_appointment_type_goes_to_scheduling() {
        let t = table();
        let to = |p: &str| t.find(p).map(|r| r.service.as_str());
        assert_eq!(to("/api/v1/appointment-types/abc"), Some("scheduling"));
        assert_eq!(to("/api/v1/appointment-types"), Some("scheduling"));
        assert!(!t.find("/api/v1/appointment-types/abc").unwrap().public);
        assert!(!is_public("GET", "/api/v1/appointment-types/abc"));
        // The provider's list stays where it was.
        assert_eq!(
            to("/api/v1/providers/abc/appointment-types"),
            Some("scheduling")
        );
    }

    #[test]
    fn only_the_fhir_discovery_documents_are_public() {
        for method in ["GET", "HEAD"] {
            assert!(is_public(method, "/fhir/R4/metadata"));
            assert!(is_public(
                method,
                "/fhir/R4/.well-known/smart-configuration"
            ));
        }
        for (method, path) in [
            ("POST", "/fhir/R4/metadata"),
            ("PUT", "/fhir/R4/.well-known/smart-configuration"),
            ("GET", "/fhir/R4/Patient"),
            ("GET", "/fhir/R4/Patient/abc"),
            ("GET", "/fhir/R4/Slot"),
            ("GET", "/fhir/R4/Appointment"),
            ("POST", "/fhir/R4/Appointment"),
            ("GET", "/fhir/R4"),
            ("GET", "/fhir/R4/"),
            ("GET", "/fhir/R4/metadata/x"),
            ("GET", "/fhir/R4/metadatax"),
            ("GET", "/fhir/R4/.well-known/smart-configuration/x"),
            ("GET", "/fhir/R4/Patient/metadata"),
            ("GET", "/fhir/R5/metadata"),
            ("GET", "/metadata"),
        ] {
            assert!(!is_public(method, path), "{method} {path}");
        }
    }

    #[test]
    fn only_services_with_api_routes_publish_a_description() {
        let t = table();
        for service in ["identity", "directory", "scheduling", "records"] {
            assert!(t.serves_api(service), "{service}");
        }
        assert!(!t.serves_api("portal"));
        assert!(!t.serves_api("fhir"));
        assert!(!t.serves_api("unknown"));
    }

    #[test]
    fn routes_take_a_body_limit_and_a_method_list() {
        let r = Route::parse(
            "/api/v1/files=svc:30000:max_body=8m:methods=get,POST",
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(r.timeout, Duration::from_secs(30));
        assert_eq!(r.max_body, Some(8 * 1024 * 1024));
        assert_eq!(r.methods, Some(vec!["GET".to_owned(), "POST".to_owned()]));
        assert!(r.allows("GET") && r.allows("HEAD") && r.allows("POST"));
        assert!(!r.allows("DELETE"));
        assert_eq!(r.allow_header(), "GET, POST, HEAD");
        let r = Route::parse("/x=svc:max_body=64k:public", Duration::from_secs(1)).unwrap();
        assert_eq!(
            (r.max_body, r.public, r.methods.clone()),
            (Some(65536), true, None)
        );
        assert!(r.allows("PATCH"));
        for bad in [
            "/x=svc:max_body=",
            "/x=svc:max_body=lots",
            "/x=svc:methods=",
            "/x=svc:methods=GET,",
            "/x=svc:methods=G T",
            "/x=svc:colour=red",
        ] {
            assert!(Route::parse(bad, Duration::from_secs(1)).is_err(), "{bad}");
        }
    }

    #[test]
    fn method_lists_survive_the_comma_separated_route_list() {
        assert_eq!(
            split_specs("/a=svc:methods=GET,POST, /b=other:public,,/c=x:methods=DELETE"),
            [
                "/a=svc:methods=GET,POST",
                "/b=other:public",
                "/c=x:methods=DELETE"
            ]
        );
        // Without a route to continue, a stray piece stays one (and fails to parse).
        assert_eq!(split_specs("GET,/a=svc"), ["GET", "/a=svc"]);
    }
}
