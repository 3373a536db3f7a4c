//! The gateway's settings (`GATEWAY_*`, falling back to `CAREBOOK_*`).

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, time::Duration};

use ipnet::IpNet;
use platform::config::{AuthConfig, ConfigError, Env, DEFAULT_AUDIENCE, DEFAULT_ISSUER};

use crate::domain::{
    gcra::Quota,
    routing::{RouteTable, DEFAULT_ROUTES},
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
];

#[derive(Clone, Debug)]
pub struct Config {
    pub bind: SocketAddr,
    /// Where `/readyz` and `/metrics` are served (`GATEWAY_ADMIN_BIND`), apart
    /// from the public port so the internet never sees them; unset, they share
    /// the public port (development only).
    pub admin_bind: Option<SocketAddr>,
    pub routes: RouteTable,
    /// Service name → base URLs of its replicas (`GATEWAY_UPSTREAMS_<SERVICE>`).
    pub upstreams: BTreeMap<String, Vec<String>>,
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
    /// PEM certificate chain and key (`GATEWAY_TLS_CERT_FILE`, `GATEWAY_TLS_KEY_FILE`);
    /// with both set the gateway speaks HTTPS only and sends HSTS.
    pub tls: Option<(PathBuf, PathBuf)>,
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

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Env::for_service("gateway"))
    }

    pub fn load(mut env: Env) -> Result<Self, ConfigError> {
        let default_timeout = env.millis("UPSTREAM_TIMEOUT_MS", Duration::from_secs(10));
        let routes = match env.optional("ROUTES") {
            Some(raw) => {
                let specs: Vec<&str> = raw.split(',').filter(|s| !s.trim().is_empty()).collect();
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
                (None, Some(port)) => vec![format!("http://127.0.0.1:{port}")],
                (None, None) => Vec::new(),
            };
            for url in &urls {
                if url
                    .parse::<hyper::Uri>()
                    .ok()
                    .and_then(|u| u.authority().cloned())
                    .is_none()
                    || !url.starts_with("http://")
                {
                    env.invalid(format!(
                        "GATEWAY_{key}: {url:?} is not an http://host:port URL"
                    ));
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
        let admin_bind = env
            .optional("ADMIN_BIND")
            .and_then(|raw| match raw.parse() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    env.invalid(format!("GATEWAY_ADMIN_BIND={raw:?} is not an address:port"));
                    None
                }
            });
        let cfg = Self {
            bind: env.parsed("BIND", SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT))),
            admin_bind,
            routes,
            upstreams,
            redis_url: env.required("REDIS_URL"),
            redis_prefix: env.parsed("REDIS_PREFIX", "carebook:".to_owned()),
            auth: AuthConfig {
                jwks_url: env.required("JWKS_URL"),
                issuer: env.parsed("JWT_ISSUER", DEFAULT_ISSUER.to_owned()),
                audience: env.parsed("JWT_AUDIENCE", DEFAULT_AUDIENCE.to_owned()),
            },
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
            tls: None,
            docs_dir: Some(PathBuf::from(
                env.optional("DOCS_DIR")
                    .unwrap_or_else(|| "tools/node_modules/swagger-ui-dist".to_owned()),
            )),
        };
        let cfg = Self {
            tls: match (env.optional("TLS_CERT_FILE"), env.optional("TLS_KEY_FILE")) {
                (Some(cert), Some(key)) => Some((cert.into(), key.into())),
                (None, None) => None,
                _ => {
                    env.invalid(
                        "GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE must be set together",
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
}
