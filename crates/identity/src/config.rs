//! Identity's settings: the service's own (`Config`) and the account policy
//! (`Policy`: sessions, throttling, who needs a second factor, which proxies
//! say who the client is).

use std::{path::PathBuf, time::Duration};

use ipnet::IpNet;
use platform::{
    auth::Role,
    config::{CommonConfig, ConfigError, Env},
};

use crate::domain::{client::parse_networks, lockout};

pub const DEFAULT_PORT: u16 = 8081;

#[derive(Clone, Debug)]
pub struct Config {
    pub common: CommonConfig,
    /// Directory of Ed25519 PEM keys (`IDENTITY_SIGNING_KEYS_DIR`).
    pub signing_keys_dir: PathBuf,
    pub access_ttl: Duration,
    /// How long a refresh token works unused (each refresh makes a new one);
    /// the session itself ends after [`Policy::session_max`].
    pub refresh_ttl: Duration,
    /// Argon2 hashes allowed at once (each takes ≈19 MiB).
    pub hash_concurrency: usize,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Env::for_service("identity"))
    }

    pub fn load(mut env: Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::load(&mut env, DEFAULT_PORT);
        let cfg = Self {
            common,
            signing_keys_dir: PathBuf::from(env.required("SIGNING_KEYS_DIR")),
            access_ttl: Duration::from_secs(env.parsed("ACCESS_TTL_SECONDS", 600)),
            refresh_ttl: Duration::from_secs(env.parsed("REFRESH_TTL_SECONDS", 30 * 24 * 3600)),
            hash_concurrency: env.parsed("HASH_CONCURRENCY", 4),
        };
        if cfg.access_ttl < Duration::from_secs(30) || cfg.access_ttl > Duration::from_secs(3600) {
            env.invalid("IDENTITY_ACCESS_TTL_SECONDS must be between 30 and 3600");
        }
        env.finish()?;
        Ok(cfg)
    }
}

/// The account policy. Its defaults are the documented ones, so a deployment
/// sets only what it changes.
#[derive(Clone, Debug)]
pub struct Policy {
    /// A login's session ends this long after the login, however often it is
    /// refreshed (`IDENTITY_SESSION_MAX_DAYS`, default 30).
    pub session_max: chrono::Duration,
    /// Peers whose `X-Forwarded-For` names the client (`IDENTITY_TRUSTED_PROXIES`,
    /// CIDRs; default `127.0.0.0/8,::1`, the gateway in development).
    pub trusted_proxies: Vec<IpNet>,
    /// Roles that must sign in with a second factor (`IDENTITY_MFA_REQUIRED_ROLES`,
    /// comma-separated, `none` for none; default `admin`).
    pub mfa_required_roles: Vec<Role>,
    /// Failed sign-ins per (account, address) before waits begin
    /// (`IDENTITY_LOCKOUT_PAIR_THRESHOLD`, default 5 in 15 minutes).
    pub pair_limits: lockout::Limits,
    /// Failed sign-ins per address, any accounts, before the address is
    /// blocked (`IDENTITY_LOCKOUT_ADDRESS_THRESHOLD`, default 50 in 15 minutes).
    pub address_limits: lockout::Limits,
    pub alert: lockout::AlertRule,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            session_max: chrono::Duration::days(30),
            trusted_proxies: parse_networks("127.0.0.0/8,::1").0,
            mfa_required_roles: vec![Role::Admin],
            pair_limits: lockout::Limits::pair(5),
            address_limits: lockout::Limits::address(50),
            alert: lockout::AlertRule::default(),
        }
    }
}

impl Policy {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Env::for_service("identity"))
    }

    pub fn load(mut env: Env) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let days: u32 = env.parsed("SESSION_MAX_DAYS", 30);
        if !(1..=365).contains(&days) {
            env.invalid("IDENTITY_SESSION_MAX_DAYS must be between 1 and 365");
        }
        let trusted_proxies = match env.optional("TRUSTED_PROXIES") {
            None => defaults.trusted_proxies,
            Some(raw) => {
                let (nets, bad) = parse_networks(&raw);
                for b in bad {
                    env.invalid(format!("IDENTITY_TRUSTED_PROXIES: {b:?} is not a CIDR"));
                }
                nets
            }
        };
        let mfa_required_roles = match env.optional("MFA_REQUIRED_ROLES") {
            None => defaults.mfa_required_roles,
            Some(raw) if raw.trim().eq_ignore_ascii_case("none") => Vec::new(),
            Some(raw) => raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .filter_map(|s| match s.parse::<Role>() {
                    Ok(role) => Some(role),
                    Err(_) => {
                        env.invalid(format!("IDENTITY_MFA_REQUIRED_ROLES: {s:?} is not a role"));
                        None
                    }
                })
                .collect(),
        };
        let pair: u32 = env.parsed("LOCKOUT_PAIR_THRESHOLD", 5);
        let address: u32 = env.parsed("LOCKOUT_ADDRESS_THRESHOLD", 50);
        if pair == 0 || address == 0 {
            env.invalid("IDENTITY_LOCKOUT_*_THRESHOLD must be at least 1");
        }
        if address < pair {
            env.invalid("IDENTITY_LOCKOUT_ADDRESS_THRESHOLD must not be below the pair threshold");
        }
        env.finish()?;
        Ok(Self {
            session_max: chrono::Duration::days(i64::from(days.clamp(1, 365))),
            trusted_proxies,
            mfa_required_roles,
            pair_limits: lockout::Limits::pair(pair),
            address_limits: lockout::Limits::address(address),
            alert: defaults.alert,
        })
    }

    /// Whether `role` must sign in with a second factor.
    pub fn mfa_required(&self, role: Role) -> bool {
        self.mfa_required_roles.contains(&role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::from_map(
            "identity",
            vars.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
        )
    }

    #[test]
    fn the_policy_defaults_are_the_documented_ones() {
        let p = Policy::load(env(&[])).unwrap();
        assert_eq!(p.session_max, chrono::Duration::days(30));
        assert_eq!(p.mfa_required_roles, [Role::Admin]);
        assert_eq!(p.pair_limits.threshold, 5);
        assert_eq!(p.address_limits.threshold, 50);
        assert!(p
            .trusted_proxies
            .iter()
            .any(|n| n.contains(&"127.0.0.1".parse::<std::net::IpAddr>().unwrap())));
        assert!(p
            .trusted_proxies
            .iter()
            .any(|n| n.contains(&"::1".parse::<std::net::IpAddr>().unwrap())));
    }

    #[test]
    fn the_policy_reads_its_variables() {
        let p = Policy::load(env(&[
            ("IDENTITY_SESSION_MAX_DAYS", "7"),
            ("IDENTITY_TRUSTED_PROXIES", "10.0.0.0/8"),
            ("IDENTITY_MFA_REQUIRED_ROLES", "admin, staff"),
            ("IDENTITY_LOCKOUT_PAIR_THRESHOLD", "3"),
            ("IDENTITY_LOCKOUT_ADDRESS_THRESHOLD", "30"),
        ]))
        .unwrap();
        assert_eq!(p.session_max, chrono::Duration::days(7));
        assert_eq!(p.trusted_proxies.len(), 1);
        assert_eq!(p.mfa_required_roles, [Role::Admin, Role::Staff]);
        assert_eq!(p.pair_limits.threshold, 3);
        assert_eq!(p.address_limits.threshold, 30);
        let none = Policy::load(env(&[("IDENTITY_MFA_REQUIRED_ROLES", "none")])).unwrap();
        assert!(none.mfa_required_roles.is_empty());
    }

    #[test]
    fn a_bad_policy_lists_every_problem() {
        let err = Policy::load(env(&[
            ("IDENTITY_SESSION_MAX_DAYS", "0"),
            ("IDENTITY_TRUSTED_PROXIES", "nope"),
            ("IDENTITY_MFA_REQUIRED_ROLES", "root"),
        ]))
        .unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
    }
}
