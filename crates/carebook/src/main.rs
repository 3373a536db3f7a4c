//! `carebook`: run any one service or all of them in one process, and the admin verbs.

use std::path::PathBuf;

use anyhow::Context;
use carebook::{SERVED_IN_PROCESS, WITH_DATABASE};
use clap::{Parser, Subcommand, ValueEnum};
use platform::shutdown::{cancel_on_signal, CancellationToken};

#[derive(Parser)]
#[command(
    name = "carebook",
    version,
    about = "Carebook healthcare scheduling platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve one service, or all of them in this process (each on its own port).
    Serve {
        #[arg(value_enum)]
        target: Target,
    },
    /// Create and migrate the databases, then exit.
    Migrate {
        #[arg(value_enum, default_value = "all")]
        target: Target,
    },
    /// Create the demo clinic (idempotent).
    SeedDemo,
    /// Save every service database (pg_dump custom format) and a manifest with checksums.
    Backup {
        /// Directory to write into (created if missing).
        #[arg(long)]
        dir: PathBuf,
    },
    /// Restore every service database from a backup directory into empty
    /// databases, verifying file checksums and each table's rows.
    Restore {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Manage the access-token signing keys and the records master keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Operators' account chores (identity).
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Check the records audit log's hash chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The development CA and every service's TLS certificate (server and mTLS client).
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// Least privilege: each service's own database role, broker user and Redis
    /// user, with the credentials of its connection URLs.
    Provision {
        #[command(subcommand)]
        command: ProvisionCommand,
    },
    /// The event pipeline, for operators.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// The dead-letter queues (`<queue>.dlq`): what is in them, and sending
    /// messages back once their cause is fixed. Each queue is read as the
    /// service that consumes it (its `<SERVICE>_AMQP_URL`).
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// How many dead letters each consumer queue holds, and the first of them
    /// (ids, types and why they failed; never their data). Nothing is removed.
    List {
        /// One queue (`billing.appointments`, with or without the prefix); all without.
        #[arg(long)]
        queue: Option<String>,
        /// Dead letters described per queue.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One dead letter by its event id: envelope, failures and headers.
    Show {
        #[arg(long)]
        queue: Option<String>,
        #[arg(long)]
        id: String,
        /// Also print the event's data (it may hold personal data).
        #[arg(long)]
        payload: bool,
    },
    /// Send dead letters back to their queue with a fresh run of retries: all
    /// of them, or only event --id. Safe to repeat: an event already applied
    /// is acknowledged without a second effect.
    Replay {
        #[arg(long)]
        queue: Option<String>,
        #[arg(long)]
        id: Option<String>,
    },
}

#[derive(Subcommand)]
enum ProvisionCommand {
    /// Create or update every service's role and database (owned by it, closed
    /// to every other role), as CAREBOOK_POSTGRES_ADMIN_URL. `migrate` does this
    /// too when that variable is set.
    Postgres,
    /// Write RabbitMQ definitions (users, permissions, topic permissions from the
    /// event contracts) for `rabbitmqctl import_definitions` or `load_definitions`.
    Rabbitmq {
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a Redis ACL file (`aclfile`): the default user off, each service
    /// fenced into its key prefix.
    Redis {
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new signing key; with --if-missing only when the directory has none.
    Generate {
        #[arg(long)]
        if_missing: bool,
    },
    /// Write a new signing key that signs from the next start on; old keys keep
    /// verifying until their files are removed (after the access-token lifetime).
    Rotate,
    /// Write a new records master key into RECORDS_MASTER_KEYS_DIR (current from
    /// the next start); with --if-missing only when the directory has none.
    GenerateRecords {
        #[arg(long)]
        if_missing: bool,
    },
    /// Re-wrap every records data key under the current master key (online).
    RotateRecords,
}

#[derive(Subcommand)]
enum CertsCommand {
    /// Create the CA if missing and a certificate for every service; keep the
    /// ones still good (same CA, same names, more than 30 days left).
    Generate {
        /// Directory holding ca.pem, ca-key.pem, <name>.pem and <name>-key.pem.
        #[arg(long, default_value = carebook::certs::DEFAULT_DIR)]
        dir: PathBuf,
        /// Reissue every service certificate (never the CA).
        #[arg(long)]
        force: bool,
    },
    /// Reissue one service's certificate under the existing CA (to rehearse rotation).
    Renew {
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(carebook::certs::NAMES))]
        name: String,
        #[arg(long, default_value = carebook::certs::DEFAULT_DIR)]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Mark an account's email address verified (no link needed); prints its user id.
    Verify {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify every entry of the records audit log; exits non-zero on a break.
    Verify,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Target {
    All,
    Gateway,
    Identity,
    Directory,
    Scheduling,
    Notifications,
    Billing,
    Records,
    Portal,
    Fhir,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init();
    platform::tls::install_crypto_provider();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { target } => serve(target).await,
        Command::Migrate { target } => migrate(target).await,
        Command::SeedDemo => seed_demo().await,
        Command::Keys {
            command: KeysCommand::GenerateRecords { if_missing },
        } => records_key(if_missing),
        Command::Keys {
            command: KeysCommand::RotateRecords,
        } => rotate_records().await,
        Command::Keys { command } => keys(command),
        Command::Accounts {
            command: AccountsCommand::Verify { email },
        } => verify_account(&email).await,
        Command::Audit {
            command: AuditCommand::Verify,
        } => audit_verify().await,
        Command::Certs { command } => {
            let outcomes = match command {
                CertsCommand::Generate { dir, force } => carebook::certs::generate(&dir, force)?,
                CertsCommand::Renew { name, dir } => carebook::certs::renew(&dir, &name)?,
            };
            for outcome in outcomes {
                println!("{outcome}");
            }
            Ok(())
        }
        Command::Provision { command } => provision(command).await,
        Command::Events {
            command: EventsCommand::Dlq { command },
        } => dlq(command).await,
        Command::Backup { dir } => {
            let manifest = platform::backup::backup(&backup_targets()?, &dir).await?;
            for e in &manifest.entries {
                let rows: i64 = e.tables.values().map(|t| t.rows).sum();
                println!(
                    "{:<14} {:>10} bytes  {:>8} rows  sha256 {}",
                    e.service, e.bytes, rows, e.sha256
                );
            }
            println!(
                "manifest written to {}",
                dir.join(platform::backup::MANIFEST).display()
            );
            Ok(())
        }
        Command::Restore { dir } => {
            for e in platform::backup::restore(&backup_targets()?, &dir).await? {
                println!(
                    "{:<14} restored and verified ({} tables)",
                    e.service,
                    e.tables.len()
                );
            }
            Ok(())
        }
    }
}

async fn serve(target: Target) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    cancel_on_signal(cancel.clone());
    let mut running = tokio::task::JoinSet::new();
    if matches!(target, Target::All | Target::Identity) {
        let config = identity::Config::from_env()?;
        let service = identity::build(&config)
            .await
            .context("starting identity")?
            .secured(config.common.tls.as_ref());
        let token = cancel.clone();
        running.spawn(async move { service.bind_and_run(config.common.bind, token).await });
    }
    if matches!(target, Target::All | Target::Directory) {
        let config = directory::Config::from_env()?;
        let service = directory::build(&config)
            .await
            .context("starting directory")?
            .secured(config.common.tls.as_ref());
        let token = cancel.clone();
        running.spawn(async move { service.bind_and_run(config.common.bind, token).await });
    }
    if matches!(target, Target::All | Target::Scheduling) {
        let config = scheduling::Config::from_env()?;
        let service = scheduling::build(&config)
            .await
            .context("starting scheduling")?
            .secured(config.common.tls.as_ref());
        let token = cancel.clone();
        running.spawn(async move { service.bind_and_run(config.common.bind, token).await });
    }
    if matches!(target, Target::All | Target::Notifications) {
        let config = notifications::Config::from_env()?;
        let service = notifications::build(&config)
            .await
            .context("starting notifications")?
            .secured(config.common.tls.as_ref());
        let token = cancel.clone();
        running.spawn(async move { service.bind_and_run(config.common.bind, token).await });
    }
    if matches!(target, Target::All | Target::Billing) {
        let config = billing::Config::from_env()?;
        let service = billing::build(&config)
            .await
            .context("starting billing")?
            .secured(config.common.tls.as_ref());
        let token = cancel.clone();
        running.spawn(async move { service.bind_and_run(config.common.bind, token).await });
    }
    if matches!(target, Target::All | Target::Records) {
        let config = records::Config::from_env()?;
        let service = records::build(&config)
            .await
            .context("starting records")?
            .secured(config.common.tls.as_ref());
        let token = cancel.clone();
        running.spawn(async move { service.bind_and_run(config.common.bind, token).await });
    }
    if matches!(target, Target::All | Target::Portal) {
        let config = portal::Config::from_env()?;
        let service = portal::build(&config)
            .await
            .context("starting the portal")?;
        let token = cancel.clone();
        running.spawn(async move { service.bind_and_run(config.bind, token).await });
    }
    if matches!(target, Target::All | Target::Fhir) {
        let config = fhir::Config::from_env()?;
        let service = fhir::build(&config)
            .await
            .context("starting the fhir service")?;
        let token = cancel.clone();
        running.spawn(async move { service.bind_and_run(config.bind, token).await });
    }
    if matches!(target, Target::All | Target::Gateway) {
        let mut config = gateway::Config::from_env()?;
        if target == Target::All {
            // Route only to the services this process runs, unless told otherwise.
            config.upstreams.retain(|service, _| {
                SERVED_IN_PROCESS.contains(&service.as_str())
                    || std::env::var(format!("GATEWAY_UPSTREAMS_{}", service.to_uppercase()))
                        .is_ok()
            });
        }
        let service = gateway::server(&config)
            .await
            .context("starting the gateway")?;
        let token = cancel.clone();
        running.spawn(async move { service.bind_and_run(config.bind, token).await });
    }
    // One service failing stops the others: a half-running system is worse than none.
    let mut result = Ok(());
    while let Some(done) = running.join_next().await {
        cancel.cancel();
        if let Ok(Err(e)) = done {
            result = Err(anyhow::Error::new(e).context("service failed"));
        }
    }
    result
}

/// The services with a database, with the account of each one's URL.
fn database_accounts() -> anyhow::Result<Vec<carebook::provision::Database>> {
    WITH_DATABASE
        .iter()
        .map(|service| {
            let mut env = platform::config::Env::for_service(service);
            let url = env.database_url();
            env.finish()?;
            let account = carebook::provision::account(service, &url)?;
            let name = url
                .split('?')
                .next()
                .and_then(|u| u.rsplit('/').next())
                .unwrap_or_default()
                .to_owned();
            Ok(carebook::provision::Database { account, name })
        })
        .collect()
}

/// The account in `<SERVICE>_<key>` (or `CAREBOOK_<key>`) of each of `services`.
fn url_accounts(services: &[&str], key: &str) -> anyhow::Result<Vec<carebook::provision::Account>> {
    services
        .iter()
        .map(|service| {
            let mut env = platform::config::Env::for_service(service);
            let url = env.required(key);
            env.finish()?;
            Ok(carebook::provision::account(service, &url)?)
        })
        .collect()
}

fn admin_account(var: &str) -> anyhow::Result<carebook::provision::Account> {
    let url = std::env::var(var).with_context(|| format!("set {var}"))?;
    Ok(carebook::provision::account("admin", &url)?)
}

async fn provision(command: ProvisionCommand) -> anyhow::Result<()> {
    use carebook::provision;
    match command {
        ProvisionCommand::Postgres => {
            let admin = std::env::var("CAREBOOK_POSTGRES_ADMIN_URL").context(
                "set CAREBOOK_POSTGRES_ADMIN_URL (a role that may create roles and databases)",
            )?;
            provision::postgres(&admin, &database_accounts()?).await
        }
        ProvisionCommand::Rabbitmq { out } => {
            let publishers: Vec<(contracts::Service, provision::Account)> = contracts::Service::ALL
                .into_iter()
                .map(|s| Ok((s, url_accounts(&[s.as_str()], "AMQP_URL")?.remove(0))))
                .collect::<anyhow::Result<_>>()?;
            let env = platform::config::Env::for_service("carebook");
            let exchange = env
                .optional("EVENTS_EXCHANGE")
                .unwrap_or_else(|| "carebook.events".into());
            let queues = env
                .optional("QUEUE_PREFIX")
                .unwrap_or_else(|| "carebook".into());
            let defs = provision::rabbitmq_definitions(
                &admin_account("CAREBOOK_AMQP_ADMIN_URL")?,
                &publishers,
                "/",
                &exchange,
                &queues,
            );
            write_secret(&out, &serde_json::to_string_pretty(&defs)?)?;
            println!("RabbitMQ definitions written to {}", out.display());
            Ok(())
        }
        ProvisionCommand::Redis { out } => {
            let services = url_accounts(carebook::WITH_REDIS, "REDIS_URL")?;
            let prefix = platform::config::Env::for_service("carebook")
                .optional("REDIS_PREFIX")
                .unwrap_or_else(|| "carebook:".into());
            let acl = provision::redis_acl(
                &admin_account("CAREBOOK_REDIS_ADMIN_URL")?,
                &services,
                &prefix,
            );
            write_secret(&out, &acl)?;
            println!("Redis ACL written to {}", out.display());
            Ok(())
        }
    }
}

/// `carebook events dlq …`: each selected queue as the service that owns it.
async fn dlq(command: DlqCommand) -> anyhow::Result<()> {
    use platform::events::dlq;
    let prefix = platform::config::Env::for_service("carebook")
        .optional("QUEUE_PREFIX")
        .unwrap_or_else(|| "carebook".into());
    let wanted = match &command {
        DlqCommand::List { queue, .. }
        | DlqCommand::Show { queue, .. }
        | DlqCommand::Replay { queue, .. } => queue.as_deref(),
    };
    let queues = carebook::dlq::select(carebook::dlq::consumer_queues(&prefix), &prefix, wanted)
        .map_err(anyhow::Error::msg)?;
    let mut found = false;
    let mut replayed = 0;
    for owned in queues {
        let common = common_config(owned.service)?;
        let broker = platform::events::Broker::connect(&common)
            .await
            .with_context(|| format!("connecting to the broker as {}", owned.service))?;
        let queue = owned.queue.as_str();
        let done: anyhow::Result<()> = async {
            match &command {
                DlqCommand::List { limit, .. } => {
                    let (count, letters) = dlq::list(&broker, queue, *limit).await?;
                    println!("{}.dlq: {count}", queue);
                    for l in &letters {
                        println!(
                            "  {}  {} v{}  from {}  attempts {}  replays {}  first failed {} ({})",
                            l.id.as_deref().unwrap_or("-"),
                            l.event_type.as_deref().unwrap_or("-"),
                            l.version.map_or_else(|| "-".into(), |v| v.to_string()),
                            l.source.as_deref().unwrap_or("-"),
                            l.attempts,
                            l.replays,
                            l.first_failed_at.as_deref().unwrap_or("-"),
                            l.first_failure.as_deref().unwrap_or("-"),
                        );
                    }
                }
                DlqCommand::Show { id, payload, .. } => {
                    if let Some(l) = dlq::find(&broker, queue, id).await? {
                        found = true;
                        println!("queue:          {queue}.dlq");
                        println!("id:             {}", l.id.as_deref().unwrap_or("-"));
                        println!("type:           {}", l.event_type.as_deref().unwrap_or("-"));
                        println!(
                            "version:        {}",
                            l.version.map_or_else(|| "-".into(), |v| v.to_string())
                        );
                        println!("source:         {}", l.source.as_deref().unwrap_or("-"));
                        println!(
                            "occurred at:    {}",
                            l.occurred_at.as_deref().unwrap_or("-")
                        );
                        println!(
                            "correlation id: {}",
                            l.correlation_id.as_deref().unwrap_or("-")
                        );
                        println!("publisher:      {}", l.publisher.as_deref().unwrap_or("-"));
                        println!("attempts:       {}", l.attempts);
                        println!("replays:        {}", l.replays);
                        println!(
                            "first failure:  {} at {}",
                            l.first_failure.as_deref().unwrap_or("-"),
                            l.first_failed_at.as_deref().unwrap_or("-")
                        );
                        println!(
                            "last failure:   {} at {}",
                            l.last_failure.as_deref().unwrap_or("-"),
                            l.last_failed_at.as_deref().unwrap_or("-")
                        );
                        println!("headers:");
                        for (k, v) in &l.headers {
                            println!("  {k}: {v}");
                        }
                        if *payload {
                            println!("data:\n{}", l.payload());
                        }
                    }
                }
                DlqCommand::Replay { id, .. } => {
                    let n = dlq::replay(&broker, queue, id.as_deref()).await?;
                    println!("{queue}: {n} replayed");
                    replayed += n;
                }
            }
            Ok(())
        }
        .await;
        broker.close().await;
        done.with_context(|| format!("{queue}.dlq"))?;
    }
    match command {
        DlqCommand::Show { id, .. } if !found => {
            anyhow::bail!("no dead letter with event id {id}")
        }
        DlqCommand::Replay { id: Some(id), .. } if replayed == 0 => {
            // Not an error: replaying twice is how an operator makes sure.
            eprintln!("no dead letter with event id {id} (replayed already?)");
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Write a file only its owner can read (it holds password hashes).
fn write_secret(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    std::io::Write::write_all(&mut options.open(path)?, text.as_bytes())?;
    Ok(())
}

async fn migrate(target: Target) -> anyhow::Result<()> {
    // With an administrative connection, roles and databases come first, so
    // each service then migrates as its own role (and owns its tables).
    if let Ok(admin) = std::env::var("CAREBOOK_POSTGRES_ADMIN_URL") {
        carebook::provision::postgres(&admin, &database_accounts()?).await?;
    }
    let targets = [
        ("identity", Target::Identity, &identity::MIGRATIONS),
        ("directory", Target::Directory, &directory::MIGRATIONS),
        ("scheduling", Target::Scheduling, &scheduling::MIGRATIONS),
        (
            "notifications",
            Target::Notifications,
            &notifications::MIGRATIONS,
        ),
        ("billing", Target::Billing, &billing::MIGRATIONS),
        ("records", Target::Records, &records::MIGRATIONS),
    ];
    for (service, t, migrations) in targets {
        if target == Target::All || target == t {
            let c = common_config(service)?;
            let consumers = carebook::consumer_specs(service, &c.queue_prefix);
            migrate_one(&c, migrations, consumers).await?;
        }
    }
    Ok(())
}

/// The settings every service shares, without the service's own (migrating
/// records needs no master keys, notifications no SMTP server).
fn common_config(service: &str) -> anyhow::Result<platform::config::CommonConfig> {
    let mut env = platform::config::Env::for_service(service);
    let common = platform::config::CommonConfig::load(&mut env, 0);
    env.finish()?;
    Ok(common)
}

/// Create and migrate a service's database and declare its consumers' queues,
/// so events published before the service first runs wait for it.
async fn migrate_one(
    common: &platform::config::CommonConfig,
    migrations: &sqlx::migrate::Migrator,
    consumers: Vec<platform::events::ConsumerSpec>,
) -> anyhow::Result<()> {
    platform::db::prepare(&common.database_url, 2, migrations)
        .await
        .with_context(|| format!("migrating {}", common.service))?;
    if !consumers.is_empty() {
        let broker = platform::events::Broker::connect(common)
            .await
            .with_context(|| format!("declaring {}'s queues", common.service))?;
        for spec in &consumers {
            platform::events::consumer::declare(&broker, spec).await?;
        }
        broker.close().await;
    }
    tracing::info!(service = %common.service, "migrated");
    Ok(())
}

async fn seed_demo() -> anyhow::Result<()> {
    let identity = identity::Config::from_env()?;
    let keys = identity::SigningKeys::load_dir(&identity.signing_keys_dir)?;
    carebook::seed::demo(
        &identity,
        keys,
        &directory::Config::from_env()?,
        &scheduling::Config::from_env()?,
    )
    .await
}

/// Every service database this binary serves.
fn backup_targets() -> anyhow::Result<Vec<platform::backup::Target>> {
    WITH_DATABASE
        .iter()
        .map(|service| {
            let mut env = platform::config::Env::for_service(service);
            let mut url = env.database_url();
            // With TLS, pg_dump verifies the server as the service does.
            if let Some(tls) = platform::config::load_tls(&mut env) {
                url = platform::config::verified_postgres_url(&url, &tls.files().ca)
                    .map_err(anyhow::Error::msg)?;
            }
            env.finish()?;
            Ok(platform::backup::Target {
                service: (*service).to_owned(),
                url,
            })
        })
        .collect()
}

fn records_key(if_missing: bool) -> anyhow::Result<()> {
    let dir = std::env::var("RECORDS_MASTER_KEYS_DIR")
        .ok()
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .context("set RECORDS_MASTER_KEYS_DIR to the directory holding the records master keys")?;
    if if_missing && records::keys::MasterKeys::from_dir(&dir).is_ok() {
        println!("records master key present in {}", dir.display());
        return Ok(());
    }
    std::fs::create_dir_all(&dir)?;
    let id = chrono::Utc::now().format("%Y%m%dT%H%M%S").to_string();
    let entry = records::keys::generate(&id)?;
    let material = entry.split_once(':').map(|(_, m)| m).unwrap_or_default();
    let path = dir.join(format!("{id}.key"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    std::io::Write::write_all(
        &mut options.open(&path)?,
        format!("{material}\n").as_bytes(),
    )?;
    println!("new records master key {}", path.display());
    Ok(())
}

async fn rotate_records() -> anyhow::Result<()> {
    let config = records::Config::from_env()?;
    let pool = platform::db::connect(&config.common.database_url, 2).await?;
    let report = records::keys::rotate(&pool, &config.master_keys, 500).await?;
    println!("{report:?}");
    for (key, rows) in records::keys::usage(&pool).await? {
        println!("key {key}: {rows} data keys");
    }
    Ok(())
}

/// `carebook accounts verify --email EMAIL`: the account's address counts as
/// verified from now on. The address is never echoed (it is personal data).
async fn verify_account(email: &str) -> anyhow::Result<()> {
    let config = identity::Config::from_env()?;
    let pool = platform::db::prepare(&config.common.database_url, 2, &identity::MIGRATIONS).await?;
    let id = identity::accounts::mark_verified_by_email(&pool, email, chrono::Utc::now())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .context("no account has that email address")?;
    println!("{id}");
    Ok(())
}

async fn audit_verify() -> anyhow::Result<()> {
    let config = records::Config::from_env()?;
    let pool = platform::db::connect(&config.common.database_url, 2).await?;
    let entries = records::audit::verify(&pool).await?;
    println!("audit log intact: {entries} entries verified");
    Ok(())
}

fn signing_keys_dir() -> anyhow::Result<PathBuf> {
    ["IDENTITY_SIGNING_KEYS_DIR", "CAREBOOK_SIGNING_KEYS_DIR"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .map(PathBuf::from)
        .context("set IDENTITY_SIGNING_KEYS_DIR to the directory holding the signing keys")
}

fn keys(command: KeysCommand) -> anyhow::Result<()> {
    let dir = signing_keys_dir()?;
    if let KeysCommand::Generate { if_missing: true } = command {
        if identity::SigningKeys::load_dir(&dir).is_ok() {
            println!("signing key present in {}", dir.display());
            return Ok(());
        }
    }
    let path = identity::SigningKeys::generate_into(&dir)?;
    println!("new signing key {}", path.display());
    Ok(())
}
