//! The whole system in one test process: every service on a port of its own with
//! its own database, one events exchange, a real MailDev for mail, the web
//! portal, the FHIR API and the gateway in front, started from the same
//! configuration types and `build` functions as `carebook serve`. System tests (the journey, the authorization matrix, the
//! browser tests) drive it over HTTP through the gateway, as a client would.
//! Scheduling runs on a clock the tests move ([`Stack::clock`], or over HTTP
//! at [`Stack::clock_url`] for the browser scripts), so a visit can be checked
//! in and completed without waiting for its start.
//! Dropping the stack stops the services and deletes everything it created.

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use platform::{
    config::Env,
    service::Service,
    shutdown::CancellationToken,
    testing::{maildev::MailDev, TestBacking},
};
use scheduling::clock::{Clock, SettableClock};

/// The portal's session key in every stack of this process (random per run),
/// so system tests can open and alter sessions in Redis.
pub static PORTAL_SESSION_KEY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(portal::session::SessionKeys::generate);

/// A running Carebook with the demo clinic seeded.
pub struct Stack {
    /// Base URL of the gateway, the only address clients use (`http://127.0.0.1:port`).
    pub gateway: String,
    /// The SMTP sink notifications sends to.
    pub mail: MailDev,
    /// Scheduling's clock: it runs at the real pace from wherever a test set it.
    pub clock: Arc<SettableClock>,
    /// The clock's control endpoint (`POST {"now": RFC 3339}` or
    /// `{"advance_minutes": n}`; `GET` reads it), for tests outside this
    /// process. Only the test stack has one; `carebook serve` never does.
    pub clock_url: String,
    services: HashMap<&'static str, String>,
    cancel: CancellationToken,
    keys_dir: PathBuf,
    // Declared last: dropped after the services were told to stop.
    backings: Vec<TestBacking>,
}

impl Stack {
    /// Start every service and the gateway, and seed the demo clinic.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(&[]).await
    }

    /// As [`Stack::start`], with extra gateway settings (`GATEWAY_RATE_API`, …).
    pub async fn start_with(gateway_env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let group = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let mail = MailDev::start().await;
        let keys_dir = std::env::temp_dir().join(format!("carebook-stack-{group}"));
        identity::SigningKeys::generate_into(&keys_dir).context("signing key")?;
        let mut stack = Self {
            gateway: String::new(),
            mail,
            clock: Arc::new(SettableClock::running()),
            clock_url: String::new(),
            services: HashMap::new(),
            cancel: CancellationToken::new(),
            keys_dir,
            backings: Vec::new(),
        };
        let common = |stack: &mut Self, service: &str| {
            let backing = TestBacking::grouped(service, &group);
            for spec in crate::consumer_specs(service, &backing.config.queue_prefix) {
                backing.track_queue(&spec.queue);
            }
            let mut common = backing.config.clone();
            if let Some(identity) = stack.services.get("identity") {
                common.auth.jwks_url = format!("{identity}/.well-known/jwks.json");
            }
            // As `carebook serve` (REDIS_URL set): every verifier reads identity's revoked accounts.
            common.auth.revocations = Some(platform::auth::RevocationSource {
                redis_url: common.redis_url.clone(),
                key: platform::auth::RevocationSource::key_for(&common.redis_prefix),
                tls: None,
            });
            stack.backings.push(backing);
            common
        };

        let identity = identity::Config {
            common: common(&mut stack, "identity"),
            signing_keys_dir: stack.keys_dir.clone(),
            access_ttl: Duration::from_secs(600),
            refresh_ttl: Duration::from_secs(3600),
            hash_concurrency: 2,
        };
        stack
            .run("identity", identity::build(&identity).await?)
            .await?;

        let directory = directory::Config {
            common: common(&mut stack, "directory"),
            cache_ttl: Duration::from_secs(300),
            care: platform::care::CarePolicy::default(),
        };
        let scheduling = scheduling::Config {
            cache_ttl: Duration::from_secs(60),
            ..scheduling::Config::new(common(&mut stack, "scheduling"))
        };
        let notifications = notifications::Config::new(
            common(&mut stack, "notifications"),
            notifications::config::SmtpConfig::local(stack.mail.smtp_port),
        );
        let billing = billing::Config {
            common: common(&mut stack, "billing"),
            cache_ttl: Duration::from_secs(60),
            tax_rate_bp: 0,
        };
        let mut records_common = common(&mut stack, "records");
        records_common.max_body_bytes = 256 * 1024;
        let records = records::Config {
            common: records_common,
            master_keys: records::keys::MasterKeys::parse(&records::keys::generate("stack")?)?,
            cache_ttl: Duration::from_secs(300),
            break_glass: chrono::Duration::minutes(30),
            break_glass_daily_limit: 3,
            care: platform::care::CarePolicy::default(),
        };
        stack
            .run("directory", directory::build(&directory).await?)
            .await?;
        let verifier = platform::auth::Verifier::from_config(&scheduling.common.auth);
        let clock: Arc<dyn Clock> = stack.clock.clone();
        stack
            .run(
                "scheduling",
                scheduling::build_with(&scheduling, verifier, clock).await?,
            )
            .await?;
        stack
            .run("notifications", notifications::build(&notifications).await?)
            .await?;
        stack
            .run("billing", billing::build(&billing).await?)
            .await?;
        stack
            .run("records", records::build(&records).await?)
            .await?;

        let keys = identity::SigningKeys::load_dir(&stack.keys_dir)?;
        crate::seed::demo(&identity, keys, &directory, &scheduling).await?;

        // The portal and fhir point at the gateway and it at them: their ports
        // are taken first, so the gateway's route table knows where `/` and
        // `/fhir/R4` go.
        let portal_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        stack.services.insert(
            "portal",
            format!("http://{}", portal_listener.local_addr()?),
        );
        let fhir_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        stack
            .services
            .insert("fhir", format!("http://{}", fhir_listener.local_addr()?));
        let gateway = gateway::Config::load(Env::from_map(
            "gateway",
            stack.gateway_env(&directory.common, gateway_env),
        ))?;
        stack
            .run("gateway", gateway::build(&gateway).await?)
            .await?;
        stack.gateway = stack.services["gateway"].clone();

        let portal = portal::Config::load(Env::from_map(
            "portal",
            Self::portal_env(&stack.gateway, &directory.common),
        ))?;
        stack.serve(
            portal_listener,
            portal::build_with(&portal, stack.clock.clone()).await?,
        );
        let fhir = fhir::Config::load(Env::from_map(
            "fhir",
            Self::fhir_env(&stack.gateway, &directory.common),
        ))?;
        stack.serve(fhir_listener, fhir::build(&fhir).await?);

        let clock_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        stack.clock_url = format!("http://{}/clock", clock_listener.local_addr()?);
        stack.serve(
            clock_listener,
            Service::new("clock", clock_control::router(stack.clock.clone())),
        );
        Ok(stack)
    }

    /// MailDev's web UI and REST API (`{mail_url}/email` lists what arrived).
    pub fn mail_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.mail.web_port)
    }

    /// The portal's settings: the gateway as its API, the stack's Redis prefix.
    fn portal_env(
        gateway: &str,
        shared: &platform::config::CommonConfig,
    ) -> HashMap<String, String> {
        [
            ("PORTAL_API_URL", gateway),
            ("PORTAL_REDIS_URL", shared.redis_url.as_str()),
            ("PORTAL_REDIS_PREFIX", shared.redis_prefix.as_str()),
            ("PORTAL_SESSION_KEY", PORTAL_SESSION_KEY.as_str()),
            // The in-process stack runs on the shared plain-text test servers;
            // scripts/transit-check proves the TLS deployment.
            ("CAREBOOK_TLS", "off"),
            (
                "PORTAL_HTMX_DIR",
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../tools/node_modules/htmx.org/dist"
                ),
            ),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The fhir service's settings: the gateway as its API and as the address
    /// clients see, identity's keys for the tokens.
    fn fhir_env(gateway: &str, shared: &platform::config::CommonConfig) -> HashMap<String, String> {
        [
            ("FHIR_API_URL", gateway),
            ("FHIR_PUBLIC_URL", gateway),
            ("FHIR_JWKS_URL", shared.auth.jwks_url.as_str()),
            ("CAREBOOK_TLS", "off"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The gateway's settings: every upstream at its one replica here.
    fn gateway_env(
        &self,
        shared: &platform::config::CommonConfig,
        extra: &[(&str, &str)],
    ) -> HashMap<String, String> {
        let mut vars: HashMap<String, String> = self
            .services
            .iter()
            .map(|(service, url)| {
                (
                    format!("GATEWAY_UPSTREAMS_{}", service.to_uppercase()),
                    url.clone(),
                )
            })
            .collect();
        vars.insert("CAREBOOK_TLS".into(), "off".into());
        vars.insert("GATEWAY_REDIS_URL".into(), shared.redis_url.clone());
        vars.insert("GATEWAY_REDIS_PREFIX".into(), shared.redis_prefix.clone());
        vars.insert("GATEWAY_JWKS_URL".into(), shared.auth.jwks_url.clone());
        vars.insert(
            "GATEWAY_DOCS_DIR".into(),
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tools/node_modules/swagger-ui-dist"
            )
            .into(),
        );
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        vars
    }

    async fn run(&mut self, name: &'static str, service: Service) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        self.serve(listener, service);
        self.services.insert(name, format!("http://{addr}"));
        Ok(())
    }

    fn serve(&self, listener: tokio::net::TcpListener, service: Service) {
        let stop = self.cancel.clone();
        tokio::spawn(async move { service.run(listener, stop).await });
    }

    /// `path` on the gateway.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    /// Base URL of one service, for checks that must bypass the gateway.
    pub fn service_url(&self, service: &str) -> Option<&str> {
        self.services.get(service).map(String::as_str)
    }
}

/// The clock's HTTP control, for tests that run outside this process (the
/// browser scripts): read it, set it, move it on.
mod clock_control {
    use std::sync::Arc;

    use axum::{extract::State, routing::get, Router};
    use chrono::{DateTime, Duration, Utc};
    use platform::{extract::Json, Problem};
    use scheduling::clock::{Clock, SettableClock};
    use serde_json::{json, Value};

    pub fn router(clock: Arc<SettableClock>) -> Router {
        Router::new()
            .route("/clock", get(read).post(change))
            .with_state(clock)
    }

    async fn read(State(clock): State<Arc<SettableClock>>) -> Json<Value> {
        Json(json!({ "now": clock.now().to_rfc3339() }))
    }

    /// `{"now": "2026-05-04T09:00:00Z"}` jumps there; `{"advance_minutes": 90}`
    /// moves on (negative: back). Answers the clock's new time.
    async fn change(
        State(clock): State<Arc<SettableClock>>,
        Json(body): Json<Value>,
    ) -> Result<Json<Value>, Problem> {
        if let Some(now) = body.get("now") {
            let at = now
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .ok_or_else(|| {
                    Problem::validation("`now` must be an RFC 3339 time")
                        .with_field("now", "RFC 3339")
                })?;
            clock.set(at.with_timezone(&Utc));
        } else if let Some(minutes) = body.get("advance_minutes") {
            let minutes = minutes
                .as_i64()
                .filter(|m| m.abs() <= 10 * 366 * 24 * 60)
                .ok_or_else(|| {
                    Problem::validation("`advance_minutes` must be a whole number of minutes")
                        .with_field("advance_minutes", "an integer within ten years")
                })?;
            clock.advance(Duration::minutes(minutes));
        } else {
            return Err(Problem::validation(
                "send {\"now\": RFC 3339} or {\"advance_minutes\": n}",
            ));
        }
        Ok(Json(json!({ "now": clock.now().to_rfc3339() })))
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.cancel.cancel();
        let _ = std::fs::remove_dir_all(&self.keys_dir);
    }
}
