//! The gateway's settings (`GATEWAY_*`, falling back to `CAREBOOK_*`).
//!
//! Besides the ones documented on [`Config`]'s fields:
//!
//! | variable | default | what |
//! |---|---|---|
//! | `GATEWAY_DNS_REFRESH_MS` | 5000 | how often upstream names are resolved again |
//! | `GATEWAY_HEALTH_RISE` / `_FALL` | 2 / 2 | consecutive `/readyz` passes (failures) that bring a replica back (take it out) |
//! | `GATEWAY_OUTLIER_CONSECUTIVE` | 5 | consecutive 5xx, timeouts or resets that eject a replica |
//! | `GATEWAY_OUTLIER_EJECTION_MS` | 30000 | the first ejection's length; the n-th lasts n times as long |
//! | `GATEWAY_OUTLIER_MAX_EJECTION_MS` | 300000 | the longest ejection |
//! | `GATEWAY_MAX_EJECTION_PERCENT` | 50 | the largest share of a pool ejected at once |
//! | `GATEWAY_UPSTREAM_MAX_IN_FLIGHT` | 256 | requests waiting on one service at once; more get 503 `upstream-overloaded` |
//! | `GATEWAY_UPSTREAM_IDLE_TIMEOUT_MS` | 5000 | idle connections to replicas close after this (below the services' 10 s) |
//! | `GATEWAY_HEADER_READ_TIMEOUT_MS` | 10000 | the first bytes and the request head must arrive within it |
//! | `GATEWAY_BODY_READ_TIMEOUT_MS` | 10000 | the request body must arrive within it (else 408) |
//! | `GATEWAY_MAX_CONNECTIONS` | 10000 | open client connections (public and internal ports); more are closed at once |
//! | `GATEWAY_AUTH_FALLBACK_SECONDS` | 300 | how long sign-in routes are limited locally (a quarter of the quota) while Redis is unreachable, before failing closed |
//! | `GATEWAY_OPENAPI_REFRESH_MS` | 60000 | how often the merged OpenAPI document is rebuilt |

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use ipnet::IpNet;
use platform::{
    config::{load_tls, AuthConfig, ConfigError, Env, TlsMode},
    tls::TlsIdentity,
};

use crate::domain::{
    gcra::Quota,
    outlier::Policy,
    routing::{split_specs, RouteTable, DEFAULT_ROUTES},
};

pub const DEFAULT_PORT: u16 = 8080;

/// Conventional local ports of the services (`carebook serve all`).
pub const SERVICE_PORTS: &[(&str, u16)] = &[
    ("identity", 8081),
    ("directory", 8082),
    ("scheduling", 8083),
    ("notifications", 8084),
    ("billing", 8085),
    ("records", 8086),
    ("portal", 8087),
    ("fhir", 8088),
];

/// How the gateway treats its upstreams' replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpstreamSettings {
    /// How often upstream names are resolved again.
    pub dns_refresh: Duration,
    /// Readiness thresholds and outlier ejection.
    pub health: Policy,
    /// Requests that may wait on one service's replicas at once.
    pub max_in_flight: usize,
    /// Idle connections to a replica close after this.
    pub idle_timeout: Duration,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            dns_refresh: Duration::from_secs(5),
            health: Policy::default(),
            max_in_flight: 256,
            idle_timeout: Duration::from_secs(5),
        }
    }
}

/// What a client connection may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientLimits {
    /// The first bytes and the request head must arrive within it.
    pub header_read_timeout: Duration,
    /// The request body must arrive within it.
    pub body_read_timeout: Duration,
    /// Open connections on the public and internal ports together.
    pub max_connections: usize,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub bind: SocketAddr,
    /// Where `/readyz` and `/metrics` are served (`GATEWAY_ADMIN_BIND`), apart
    /// from the public port so the internet never sees them; unset, they share
    /// the public port (development only).
    pub admin_bind: Option<SocketAddr>,
    /// Where the same routes are served to callers inside the system (the
    /// portal, the fhir service) with mTLS (`GATEWAY_INTERNAL_BIND`): a client certificate from
    /// the internal CA is required. Plain HTTP when TLS is off.
    pub internal_bind: Option<SocketAddr>,
    /// `GATEWAY_ROUTES` (syntax: [`crate::domain::routing`]).
    pub routes: RouteTable,
    /// Service name → base URLs of its replicas (`GATEWAY_UPSTREAMS_<SERVICE>`):
    /// all `https://` when the gateway has a TLS identity, all `http://` when not.
    /// A URL whose host is a name (a headless Service) stands for every
    /// address the name resolves to.
    pub upstreams: BTreeMap<String, Vec<String>>,
    pub upstream: UpstreamSettings,
    pub limits: ClientLimits,
    /// How long auth routes fall back to the local limiter while Redis is down.
    pub auth_fallback: Duration,
    /// How often the merged OpenAPI document is rebuilt.
    pub openapi_refresh: Duration,
    pub redis_url: String,
    pub redis_prefix: String,
    pub auth: AuthConfig,
    /// Peers whose `X-Forwarded-For` is believed (`GATEWAY_TRUSTED_PROXIES`, CIDRs).
    pub trusted_proxies: Vec<IpNet>,
    /// Per user (or per IP when anonymous) on API routes.
    pub api_quota: Quota,
    /// Per IP on login, registration and refresh.
    pub auth_quota: Quota,
    /// Origins allowed by CORS (`GATEWAY_CORS_ORIGINS`); empty allows none.
    pub cors_origins: Vec<String>,
    pub max_body_bytes: u64,
    /// `GATEWAY_RATE_LIMITING=off` disables limits (benchmarks of the bare proxy only).
    pub rate_limiting: bool,
    pub default_timeout: Duration,
    pub health_interval: Duration,
    /// Where `swagger-ui-dist` lives (`GATEWAY_DOCS_DIR`; default `tools/node_modules/swagger-ui-dist`).
    pub docs_dir: Option<PathBuf>,
    /// The public edge's PEM certificate chain and key (`GATEWAY_PUBLIC_TLS_CERT_FILE`,
    /// `GATEWAY_PUBLIC_TLS_KEY_FILE`); with both set the public port speaks
    /// HTTPS only and sends HSTS.
    pub public_tls: Option<(PathBuf, PathBuf)>,
    /// The gateway's own identity inside the system (`platform::config::load_tls`):
    /// upstreams and the JWKS are reached over mTLS with it, and the internal
    /// listener requires it of callers. `None` only when `CAREBOOK_TLS=off`.
    pub tls: Option<Arc<TlsIdentity>>,
}

/// Why an upstream URL is refused, if it is; `tls` tells whether the gateway
/// reaches its upstreams over TLS (then only `https://` will do, else only `http://`).
fn check_upstream(url: &str, tls: bool) -> Result<(), String> {
    let uri = url.parse::<hyper::Uri>().ok();
    let scheme = uri.as_ref().and_then(|u| u.scheme_str());
    let has_authority = uri.as_ref().is_some_and(|u| u.authority().is_some());
    match (scheme, has_authority, tls) {
        (Some("https"), true, true) | (Some("http"), true, false) => Ok(()),
        (Some("http"), true, true) => Err(format!(
            "{url:?} is plain http://; TLS is required, so upstreams must be https:// \
             (CAREBOOK_TLS=off turns encryption off)"
        )),
        (Some("https"), true, false) => Err(format!(
            "{url:?} is https://, but CAREBOOK_TLS=off leaves the gateway without \
             the internal CA to verify it"
        )),
        _ => Err(format!("{url:?} is not an http(s)://host:port URL")),
    }
}

/// `limit/window`, e.g. `600/60s` or `10/1m`.
fn parse_quota(raw: &str) -> Result<Quota, String> {
    let (limit, window) = raw
        .split_once('/')
        .ok_or("expected LIMIT/WINDOW, e.g. 600/60s")?;
    let limit: u32 = limit
        .trim()
        .parse()
        .map_err(|_| "LIMIT must be a positive integer")?;
    let window = window.trim();
    let (digits, unit) = window.split_at(
        window
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(window.len()),
    );
    let n: u64 = digits
        .parse()
        .map_err(|_| "WINDOW must look like 60s or 1m")?;
    let window_ms = match unit {
        "ms" => n,
        "s" | "" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        _ => return Err("WINDOW unit must be ms, s, m or h".into()),
    };
    if limit == 0 || window_ms == 0 {
        return Err("LIMIT and WINDOW must be positive".into());
    }
    Ok(Quota { limit, window_ms })
}

/// A duration in milliseconds that must not be zero.
fn positive_millis(env: &mut Env, key: &str, default: Duration) -> Duration {
    let value = env.millis(key, default);
    if value.is_zero() {
        env.invalid(format!("GATEWAY_{key} must be above 0"));
        return default;
    }
    value
}

/// A count that must be at least 1.
fn at_least_one<T>(env: &mut Env, key: &str, default: T) -> T
where
    T: std::str::FromStr + PartialOrd + From<u8> + Copy,
    T::Err: std::fmt::Display,
{
    let value = env.parsed(key, default);
    if value < T::from(1) {
        env.invalid(format!("GATEWAY_{key} must be at least 1"));
        return default;
    }
    value
}

fn load_upstream_settings(env: &mut Env) -> UpstreamSettings {
    let defaults = Policy::default();
    let health = Policy {
        rise: at_least_one(env, "HEALTH_RISE", defaults.rise),
        fall: at_least_one(env, "HEALTH_FALL", defaults.fall),
        consecutive_failures: at_least_one(
            env,
            "OUTLIER_CONSECUTIVE",
            defaults.consecutive_failures,
        ),
        base_ejection_ms: positive_millis(
            env,
            "OUTLIER_EJECTION_MS",
            Duration::from_millis(defaults.base_ejection_ms),
        )
        .as_millis() as u64,
        max_ejection_ms: positive_millis(
            env,
            "OUTLIER_MAX_EJECTION_MS",
            Duration::from_millis(defaults.max_ejection_ms),
        )
        .as_millis() as u64,
        max_ejection_percent: env.parsed("MAX_EJECTION_PERCENT", defaults.max_ejection_percent),
    };
    if health.max_ejection_percent > 100 {
        env.invalid("GATEWAY_MAX_EJECTION_PERCENT must be between 0 and 100");
    }
    if health.max_ejection_ms < health.base_ejection_ms {
        env.invalid(
            "GATEWAY_OUTLIER_MAX_EJECTION_MS must not be below GATEWAY_OUTLIER_EJECTION_MS",
        );
    }
    UpstreamSettings {
        dns_refresh: positive_millis(env, "DNS_REFRESH_MS", Duration::from_secs(5)),
        health,
        max_in_flight: at_least_one(env, "UPSTREAM_MAX_IN_FLIGHT", 256),
        idle_timeout: positive_millis(env, "UPSTREAM_IDLE_TIMEOUT_MS", Duration::from_secs(5)),
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Env::for_service("gateway"))
    }

    pub fn load(mut env: Env) -> Result<Self, ConfigError> {
        let tls = load_tls(&mut env);
        // From the mode, not from `tls`: when the identity fails to load, the
        // upstreams are still judged as TLS requires (and both errors reported).
        let tls_on = env.optional("TLS").and_then(|m| m.parse().ok()) != Some(TlsMode::Off);
        let scheme = if tls_on { "https" } else { "http" };
        let default_timeout = env.millis("UPSTREAM_TIMEOUT_MS", Duration::from_secs(10));
        let routes = match env.optional("ROUTES") {
            Some(raw) => {
                let specs = split_specs(&raw);
                let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
                RouteTable::parse(&specs, default_timeout)
            }
            None => RouteTable::parse(DEFAULT_ROUTES, default_timeout),
        };
        let routes = routes.unwrap_or_else(|e| {
            env.invalid(e.to_string());
            RouteTable::new(Vec::new())
        });
        let mut upstreams = BTreeMap::new();
        for service in routes.services() {
            let key = format!("UPSTREAMS_{}", service.to_uppercase());
            let default_port = SERVICE_PORTS
                .iter()
                .find(|(s, _)| *s == service)
                .map(|(_, p)| *p);
            let urls: Vec<String> = match (env.optional(&key), default_port) {
                (Some(raw), _) => raw
                    .split(',')
                    .map(|u| u.trim().trim_end_matches('/').to_owned())
                    .filter(|u| !u.is_empty())
                    .collect(),
                (None, Some(port)) => vec![format!("{scheme}://127.0.0.1:{port}")],
                (None, None) => Vec::new(),
            };
            for url in &urls {
                if let Err(why) = check_upstream(url, tls_on) {
                    env.invalid(format!("GATEWAY_{key}: {why}"));
                }
            }
            upstreams.insert(service, urls);
        }
        let mut quota = |key: &str, default: Quota| match env.optional(key) {
            None => default,
            Some(raw) => parse_quota(&raw).unwrap_or_else(|e| {
                env.invalid(format!("GATEWAY_{key}={raw:?}: {e}"));
                default
            }),
        };
        let api_quota = quota(
            "RATE_API",
            Quota {
                limit: 1200,
                window_ms: 60_000,
            },
        );
        let auth_quota = quota(
            "RATE_AUTH",
            Quota {
                limit: 20,
                window_ms: 60_000,
            },
        );
        let trusted_proxies = env
            .optional("TRUSTED_PROXIES")
            .map(|raw| {
                raw.split(',')
                    .filter(|s| !s.trim().is_empty())
                    .filter_map(|s| match s.trim().parse::<IpNet>() {
                        Ok(net) => Some(net),
                        Err(_) => {
                            env.invalid(format!("GATEWAY_TRUSTED_PROXIES: {s:?} is not a CIDR"));
                            None
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut address = |key: &str| {
            env.optional(key).and_then(|raw| match raw.parse() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    env.invalid(format!("GATEWAY_{key}={raw:?} is not an address:port"));
                    None
                }
            })
        };
        let admin_bind = address("ADMIN_BIND");
        let internal_bind = address("INTERNAL_BIND");
        let upstream = load_upstream_settings(&mut env);
        let limits = ClientLimits {
            header_read_timeout: positive_millis(
                &mut env,
                "HEADER_READ_TIMEOUT_MS",
                Duration::from_secs(10),
            ),
            body_read_timeout: positive_millis(
                &mut env,
                "BODY_READ_TIMEOUT_MS",
                Duration::from_secs(10),
            ),
            max_connections: at_least_one(&mut env, "MAX_CONNECTIONS", 10_000),
        };
        let auth_fallback = Duration::from_secs(env.parsed("AUTH_FALLBACK_SECONDS", 300));
        let openapi_refresh =
            positive_millis(&mut env, "OPENAPI_REFRESH_MS", Duration::from_secs(60));
        let cfg = Self {
            bind: env.parsed("BIND", SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT))),
            admin_bind,
            internal_bind,
            routes,
            upstreams,
            upstream,
            limits,
            auth_fallback,
            openapi_refresh,
            redis_url: {
                let url = env.required("REDIS_URL");
                if tls_on && !url.is_empty() && !url.starts_with("rediss://") {
                    env.invalid("GATEWAY_REDIS_URL must be rediss:// when TLS is required");
                }
                url
            },
            redis_prefix: env.parsed("REDIS_PREFIX", "carebook:".to_owned()),
            auth: AuthConfig::load(&mut env, tls.clone()),
            trusted_proxies,
            api_quota,
            auth_quota,
            cors_origins: env
                .optional("CORS_ORIGINS")
                .map(|raw| {
                    raw.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            max_body_bytes: env.parsed("MAX_BODY_BYTES", 1024 * 1024),
            rate_limiting: env.optional("RATE_LIMITING").is_none_or(|v| v != "off"),
            default_timeout,
            health_interval: env.millis("HEALTH_INTERVAL_MS", Duration::from_secs(2)),
            public_tls: None,
            tls,
            docs_dir: Some(PathBuf::from(
                env.optional("DOCS_DIR")
                    .unwrap_or_else(|| "tools/node_modules/swagger-ui-dist".to_owned()),
            )),
        };
        let cfg = Self {
            public_tls: match (
                env.optional("PUBLIC_TLS_CERT_FILE"),
                env.optional("PUBLIC_TLS_KEY_FILE"),
            ) {
                (Some(cert), Some(key)) => Some((cert.into(), key.into())),
                (None, None) => None,
                _ => {
                    env.invalid(
                        "GATEWAY_PUBLIC_TLS_CERT_FILE and GATEWAY_PUBLIC_TLS_KEY_FILE must be set together",
                    );
                    None
                }
            },
            ..cfg
        };
        env.finish()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse_in_several_units() {
        assert_eq!(
            parse_quota("600/60s"),
            Ok(Quota {
                limit: 600,
                window_ms: 60_000
            })
        );
        assert_eq!(
            parse_quota("10/1m"),
            Ok(Quota {
                limit: 10,
                window_ms: 60_000
            })
        );
        assert_eq!(
            parse_quota("5/500ms"),
            Ok(Quota {
                limit: 5,
                window_ms: 500
            })
        );
        for bad in ["", "10", "0/1s", "10/0s", "x/1s", "10/1d"] {
            assert!(parse_quota(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn upstreams_default_to_the_local_ports_and_bad_urls_are_reported() {
        let vars = [
            ("CAREBOOK_TLS", "off"),
            ("CAREBOOK_REDIS_URL", "redis://127.0.0.1:6379"),
            (
                "CAREBOOK_JWKS_URL",
                "http://127.0.0.1:8081/.well-known/jwks.json",
            ),
            (
                "GATEWAY_UPSTREAMS_SCHEDULING",
                "http://10.0.0.1:8083, http://10.0.0.2:8083/",
            ),
        ];
        let env = Env::from_map(
            "gateway",
            vars.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let cfg = Config::load(env).unwrap();
        assert_eq!(cfg.upstreams["identity"], ["http://127.0.0.1:8081"]);
        assert_eq!(
            cfg.upstreams["scheduling"],
            ["http://10.0.0.1:8083", "http://10.0.0.2:8083"]
        );

        let env = Env::from_map(
            "gateway",
            [
                ("CAREBOOK_TLS", "off"),
                ("GATEWAY_UPSTREAMS_IDENTITY", "ftp://x"),
                ("GATEWAY_RATE_AUTH", "lots"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        let err = Config::load(env).unwrap_err().to_string();
        assert!(err.contains("GATEWAY_UPSTREAMS_IDENTITY"), "{err}");
        assert!(err.contains("GATEWAY_RATE_AUTH"), "{err}");
        assert!(err.contains("REDIS_URL"), "{err}");
    }

    #[test]
    fn upstream_schemes_follow_the_tls_mode() {
        assert_eq!(check_upstream("https://10.0.0.1:8083", true), Ok(()));
        assert_eq!(check_upstream("http://10.0.0.1:8083", false), Ok(()));
        let plain = check_upstream("http://10.0.0.1:8083", true).unwrap_err();
        assert!(plain.contains("https://"), "{plain}");
        assert!(check_upstream("https://10.0.0.1:8083", false).is_err());
        for bad in ["ftp://x", "10.0.0.1:8083", "https://", "/relative"] {
            assert!(check_upstream(bad, true).is_err(), "{bad}");
            assert!(check_upstream(bad, false).is_err(), "{bad}");
        }
    }

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut all = vec![
            ("CAREBOOK_TLS", "off"),
            ("CAREBOOK_REDIS_URL", "redis://127.0.0.1:6379"),
            (
                "CAREBOOK_JWKS_URL",
                "http://127.0.0.1:8081/.well-known/jwks.json",
            ),
        ];
        all.extend_from_slice(vars);
        Config::load(Env::from_map(
            "gateway",
            all.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
    }

    #[test]
    fn resilience_settings_have_defaults_and_are_checked() {
        let cfg = load(&[]).unwrap();
        assert_eq!(cfg.upstream, UpstreamSettings::default());
        assert_eq!(cfg.limits, ClientLimits::default());
        assert_eq!(cfg.auth_fallback, Duration::from_secs(300));
        assert_eq!(cfg.openapi_refresh, Duration::from_secs(60));

        let cfg = load(&[
            ("GATEWAY_DNS_REFRESH_MS", "1000"),
            ("GATEWAY_HEALTH_RISE", "3"),
            ("GATEWAY_HEALTH_FALL", "1"),
            ("GATEWAY_OUTLIER_CONSECUTIVE", "7"),
            ("GATEWAY_MAX_EJECTION_PERCENT", "34"),
            ("GATEWAY_BODY_READ_TIMEOUT_MS", "2500"),
            ("GATEWAY_MAX_CONNECTIONS", "50"),
            ("GATEWAY_UPSTREAM_MAX_IN_FLIGHT", "8"),
            ("GATEWAY_AUTH_FALLBACK_SECONDS", "0"),
            (
                "GATEWAY_UPSTREAMS_SCHEDULING",
                "http://scheduling.carebook.svc:8083",
            ),
            (
                "GATEWAY_ROUTES",
                "/api/v1/x=scheduling:methods=GET,POST,/=portal:public",
            ),
        ])
        .unwrap();
        assert_eq!(cfg.upstream.dns_refresh, Duration::from_secs(1));
        assert_eq!((cfg.upstream.health.rise, cfg.upstream.health.fall), (3, 1));
        assert_eq!(cfg.upstream.health.consecutive_failures, 7);
        assert_eq!(cfg.upstream.health.max_ejection_percent, 34);
        assert_eq!(cfg.limits.body_read_timeout, Duration::from_millis(2500));
        assert_eq!(cfg.limits.max_connections, 50);
        assert_eq!(cfg.upstream.max_in_flight, 8);
        assert_eq!(cfg.auth_fallback, Duration::ZERO);
        assert_eq!(
            cfg.upstreams["scheduling"],
            ["http://scheduling.carebook.svc:8083"]
        );
        let route = cfg.routes.find("/api/v1/x").unwrap();
        assert!(route.allows("POST") && !route.allows("DELETE"));

        let err = load(&[
            ("GATEWAY_HEALTH_RISE", "0"),
            ("GATEWAY_MAX_EJECTION_PERCENT", "150"),
            ("GATEWAY_BODY_READ_TIMEOUT_MS", "0"),
            ("GATEWAY_MAX_CONNECTIONS", "lots"),
        ])
        .unwrap_err()
        .to_string();
        for key in [
            "GATEWAY_HEALTH_RISE",
            "GATEWAY_MAX_EJECTION_PERCENT",
            "GATEWAY_BODY_READ_TIMEOUT_MS",
            "GATEWAY_MAX_CONNECTIONS",
        ] {
            assert!(err.contains(key), "{key}: {err}");
        }
    }
}
