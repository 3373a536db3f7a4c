//! Least privilege between services: each service is its own PostgreSQL role
//! (owning its database, which no other role may connect to), its own RabbitMQ
//! user (publishing only the routing keys the event contracts say it produces,
//! reading only its own queues) and its own Redis ACL user (only keys under its
//! prefix). What each may do is derived from `contracts`, so a new event or
//! subscription changes the grants with it.
//!
//! The credentials are the services' own connection URLs
//! (`<SERVICE>_DATABASE_URL`, `<SERVICE>_AMQP_URL`, `<SERVICE>_REDIS_URL`): the
//! provisioning step makes the servers accept exactly those.

use base64::{engine::general_purpose::STANDARD, Engine};
use contracts::{subscriptions, Service, CATALOG};
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A user name and password taken from a connection URL.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub service: String,
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("service", &self.service)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Why an account could not be taken from a URL (never repeats the URL).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccountError {
    #[error("{0}: the URL names no user")]
    NoUser(String),
    #[error("{0}: the URL has no password")]
    NoPassword(String),
    #[error("{0}: the URL is not valid")]
    Invalid(String),
}

/// The user and password in `url` (percent-decoded), for `service`.
pub fn account(service: &str, url: &str) -> Result<Account, AccountError> {
    let parsed = url::Url::parse(url).map_err(|_| AccountError::Invalid(service.into()))?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| AccountError::Invalid(service.into()))
    };
    let user = decode(parsed.username())?;
    if user.is_empty() {
        return Err(AccountError::NoUser(service.into()));
    }
    let password = decode(parsed.password().unwrap_or(""))?;
    if password.is_empty() {
        return Err(AccountError::NoPassword(service.into()));
    }
    Ok(Account {
        service: service.into(),
        user,
        password,
    })
}

/// `^(a|b)$` matching exactly `names` (RabbitMQ permission regexes); `^$`
/// (nothing) when there are none.
fn exactly(names: &[String]) -> String {
    if names.is_empty() {
        return "^$".into();
    }
    let escaped: Vec<String> = names.iter().map(|n| regex_escape(n)).collect();
    format!("^({})$", escaped.join("|"))
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What one service's broker user may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerGrant {
    /// Declare: the shared exchanges (idempotently) and its own queues.
    pub configure: String,
    /// Publish to the events exchange; bind its own queues.
    pub write: String,
    /// Consume its own queues; bind from the exchanges.
    pub read: String,
    /// Topic permission on the events exchange: the routing keys it may publish.
    pub topic_write: String,
    /// …and the keys its queues may bind.
    pub topic_read: String,
}

/// The routing keys the contracts say `service` publishes.
pub fn published_by(service: Service) -> Vec<String> {
    let mut keys: Vec<String> = CATALOG
        .iter()
        .filter(|e| e.producer == service)
        .map(|e| e.event_type.to_owned())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The routing keys `service`'s consumers bind.
pub fn consumed_by(service: Service) -> Vec<String> {
    let mut keys: Vec<String> = subscriptions::of(service)
        .flat_map(|s| s.events.iter().map(|e| (*e).to_owned()))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The grant of `service` on `exchange` with queues named `<queue_prefix>.<consumer>…`.
pub fn broker_grant(service: Service, exchange: &str, queue_prefix: &str) -> BrokerGrant {
    let ex = regex_escape(exchange);
    let own_queues = format!("{}\\.{}\\..*", regex_escape(queue_prefix), service.as_str());
    let shared = format!("{ex}|{ex}\\.unrouted|{ex}\\.dlx|{ex}\\.retry");
    BrokerGrant {
        configure: format!("^({shared}|{own_queues})$"),
        // The dead-letter exchange too: declaring a queue that dead-letters to it
        // needs write on it.
        write: format!("^({shared}|{own_queues})$"),
        // The retry exchange: a consumer's queues are bound to it, and it
        // publishes a failed delivery there to wait out its delay.
        read: format!("^({shared}|{own_queues})$"),
        topic_write: exactly(&published_by(service)),
        topic_read: exactly(&consumed_by(service)),
    }
}

/// A RabbitMQ password hash (`rabbit_password_hashing_sha256`): a random
/// 4-byte salt, then SHA-256 of salt and password, base64.
pub fn rabbit_password_hash(password: &str, salt: [u8; 4]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(password.as_bytes());
    let mut bytes = salt.to_vec();
    bytes.extend_from_slice(&hasher.finalize());
    STANDARD.encode(bytes)
}

/// RabbitMQ definitions (for `rabbitmqctl import_definitions` or the broker's
/// `load_definitions`): the admin, and each service's user with its grant.
pub fn rabbitmq_definitions(
    admin: &Account,
    services: &[(Service, Account)],
    vhost: &str,
    exchange: &str,
    queue_prefix: &str,
) -> Value {
    let salt = || {
        let mut s = [0u8; 4];
        rand::thread_rng().fill_bytes(&mut s);
        s
    };
    let user = |a: &Account, tags: &[&str], salt: [u8; 4]| {
        json!({
            "name": a.user,
            "password_hash": rabbit_password_hash(&a.password, salt),
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": tags,
        })
    };
    let mut users = vec![user(admin, &["administrator"], salt())];
    let mut permissions = vec![json!({
        "user": admin.user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*",
    })];
    let mut topic_permissions = Vec::new();
    for (service, account) in services {
        let g = broker_grant(*service, exchange, queue_prefix);
        users.push(user(account, &[], salt()));
        permissions.push(json!({
            "user": account.user, "vhost": vhost,
            "configure": g.configure, "write": g.write, "read": g.read,
        }));
        topic_permissions.push(json!({
            "user": account.user, "vhost": vhost, "exchange": exchange,
            "write": g.topic_write, "read": g.topic_read,
        }));
    }
    json!({
        "users": users,
        "vhosts": [{"name": vhost}],
        "permissions": permissions,
        "topic_permissions": topic_permissions,
    })
}

/// A Redis ACL file: the admin with every right, the default user off, and
/// each service's user limited to keys under `<prefix><service>:` (and to
/// reading identity's list of revoked accounts), with no
/// channels and without the commands that reach beyond its keys (`KEYS`,
/// `FLUSHALL`, …) or the server's configuration (`@dangerous`, `@admin`).
pub fn redis_acl(admin: &Account, services: &[Account], prefix: &str) -> String {
    let hash = |p: &str| hex(&Sha256::digest(p.as_bytes()));
    let mut lines = vec![
        "user default off nopass resetkeys -@all".to_owned(),
        format!(
            "user {} on #{} ~* &* +@all",
            admin.user,
            hash(&admin.password)
        ),
    ];
    for a in services {
        lines.push(format!(
            "user {} on #{} ~{}{}:* %R~{}identity:revoked resetchannels +@all -@dangerous -@admin -@pubsub",
            a.user,
            hash(&a.password),
            prefix,
            a.service,
            prefix
        ));
    }
    lines.join("\n") + "\n"
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One service's database, owned by its role.
#[derive(Clone, Debug)]
pub struct Database {
    pub account: Account,
    pub name: String,
}

/// Create or update each service's role (login, no other right) with the
/// password of its URL, create its database owned by it, and let no one else
/// connect to it. Idempotent; run with an administrative connection.
pub async fn postgres(admin_url: &str, databases: &[Database]) -> anyhow::Result<()> {
    use sqlx::{Connection, Executor};
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    for db in databases {
        let role = quote_ident(&db.account.user);
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                .bind(&db.account.user)
                .fetch_one(&mut admin)
                .await?;
        let verb = if exists { "ALTER" } else { "CREATE" };
        // Utility statements take no parameters: the password is quoted as a literal.
        admin
            .execute(
                format!(
                    "{verb} ROLE {role} LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD {}",
                    quote_literal(&db.account.password)
                )
                .as_str(),
            )
            .await?;
        let has_db: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&db.name)
                .fetch_one(&mut admin)
                .await?;
        let name = quote_ident(&db.name);
        if has_db {
            admin
                .execute(format!("ALTER DATABASE {name} OWNER TO {role}").as_str())
                .await?;
        } else {
            admin
                .execute(format!("CREATE DATABASE {name} OWNER {role}").as_str())
                .await?;
        }
        admin
            .execute(format!("REVOKE ALL ON DATABASE {name} FROM PUBLIC").as_str())
            .await?;
        admin
            .execute(format!("GRANT CONNECT, TEMPORARY ON DATABASE {name} TO {role}").as_str())
            .await?;
        tracing::info!(service = %db.account.service, role = %db.account.user, database = %db.name, "database role provisioned");
    }
    admin.close().await?;
    Ok(())
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(service: &str) -> Account {
        Account {
            service: service.into(),
            user: format!("carebook_{service}"),
            password: "s3cret".into(),
        }
    }

    #[test]
    fn accounts_come_from_urls_and_never_echo_them() {
        let a = account(
            "billing",
            "amqps://carebook_billing:p%40ss%2Fword@mq:5671/%2f",
        )
        .unwrap();
        assert_eq!(
            (a.user.as_str(), a.password.as_str()),
            ("carebook_billing", "p@ss/word")
        );
        assert!(!format!("{a:?}").contains("p@ss"));
        assert_eq!(
            account("billing", "amqps://mq:5671/%2f"),
            Err(AccountError::NoUser("billing".into()))
        );
        assert_eq!(
            account("billing", "rediss://carebook_billing@cache:6380"),
            Err(AccountError::NoPassword("billing".into()))
        );
    }

    #[test]
    fn only_scheduling_may_publish_appointment_events() {
        let scheduling = broker_grant(Service::Scheduling, "carebook.events", "carebook");
        let re = regex::Regex::new(&scheduling.topic_write).unwrap();
        for key in contracts::scheduling::APPOINTMENT_EVENTS {
            assert!(re.is_match(key), "{key}");
        }
        assert!(!re.is_match("user.registered"));
        for other in Service::ALL
            .into_iter()
            .filter(|s| *s != Service::Scheduling)
        {
            let g = broker_grant(other, "carebook.events", "carebook");
            let re = regex::Regex::new(&g.topic_write).unwrap();
            assert!(!re.is_match("appointment.booked"), "{other:?}");
        }
    }

    #[test]
    fn a_consumer_only_service_publishes_nothing_and_reads_only_its_queues() {
        let g = broker_grant(Service::Notifications, "carebook.events", "carebook");
        assert_eq!(g.topic_write, "^$");
        let read = regex::Regex::new(&g.read).unwrap();
        assert!(read.is_match("carebook.notifications.appointments"));
        assert!(read.is_match("carebook.notifications.appointments.dlq"));
        assert!(!read.is_match("carebook.billing.appointments"));
        assert!(!read.is_match("carebook.records.care"));
        let topic_read = regex::Regex::new(&g.topic_read).unwrap();
        assert!(topic_read.is_match("appointment.booked"));
        assert!(!topic_read.is_match("invoice.issued"));
    }

    #[test]
    fn rabbit_hashes_follow_the_documented_scheme() {
        // RabbitMQ's docs example: salt 908D C60A, password "test12".
        let salt = [0x90, 0x8D, 0xC6, 0x0A];
        assert_eq!(
            rabbit_password_hash("test12", salt),
            "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"
        );
    }

    #[test]
    fn definitions_give_each_service_its_grant() {
        let defs = rabbitmq_definitions(
            &Account {
                service: "admin".into(),
                user: "carebook_admin".into(),
                password: "a".into(),
            },
            &[(Service::Billing, acct("billing"))],
            "/",
            "carebook.events",
            "carebook",
        );
        assert_eq!(defs["users"].as_array().unwrap().len(), 2);
        assert_eq!(defs["users"][0]["tags"][0], "administrator");
        assert_eq!(
            defs["topic_permissions"][0]["write"],
            "^(invoice\\.issued|invoice\\.paid|invoice\\.voided)$"
        );
        assert!(!defs.to_string().contains("s3cret"));
    }

    #[test]
    fn redis_users_are_fenced_into_their_prefix() {
        let acl = redis_acl(
            &Account {
                service: "admin".into(),
                user: "carebook_admin".into(),
                password: "a".into(),
            },
            &[acct("scheduling")],
            "carebook:",
        );
        assert!(acl.contains("user default off"));
        assert!(acl.contains("user carebook_scheduling on #"));
        assert!(acl.contains(" ~carebook:scheduling:* "));
        assert!(acl.contains(" %R~carebook:identity:revoked "));
        assert!(!acl.contains("s3cret"));
    }

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
