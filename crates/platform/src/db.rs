//! PostgreSQL: each service's own database, created on first start, migrated
//! with the platform's tables (outbox, processed events) plus its own.

use std::{borrow::Cow, str::FromStr, time::Duration};

use sqlx::{
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
    ConnectOptions, Connection, PgConnection, PgPool,
};

/// The tables every service has, numbered below any service migration
/// (services number theirs by date, `20261125000001_…`).
pub static PLATFORM_MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid database URL: {0}")]
    Url(#[source] sqlx::Error),
    #[error("the database URL names no database")]
    NoDatabaseName,
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Create the database named in `url` if it does not exist yet.
pub async fn ensure_database(url: &str) -> Result<(), DbError> {
    let options = PgConnectOptions::from_str(url).map_err(DbError::Url)?;
    let name = options
        .get_database()
        .ok_or(DbError::NoDatabaseName)?
        .to_owned();
    let mut admin = options.database("postgres").connect().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        match sqlx::query(&create).execute(&mut admin).await {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // Another replica created it between our check and our CREATE.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e.into()),
        }
    }
    admin.close().await?;
    Ok(())
}

/// Drop the database named in `url`, disconnecting its sessions (tests, restore drills).
pub async fn drop_database(url: &str) -> Result<(), DbError> {
    let options = PgConnectOptions::from_str(url).map_err(DbError::Url)?;
    let name = options
        .get_database()
        .ok_or(DbError::NoDatabaseName)?
        .to_owned();
    let mut admin: PgConnection = options.database("postgres").connect().await?;
    let drop = format!(
        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
        name.replace('"', "\"\"")
    );
    sqlx::query(&drop).execute(&mut admin).await?;
    admin.close().await?;
    Ok(())
}

/// A connection idle longer than this is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// A pool to the service's database; fails fast when the server is unreachable.
///
/// sqlx pings every connection when it goes back to the pool, and by default
/// again when it is taken out: two extra round trips (each a TLS record both
/// ways and a backend wake-up) around every statement run on the pool. The
/// check on the way out is kept only for connections idle over a second (the
/// server may have restarted or a firewall dropped them since); one returned
/// within the second was pinged on its return.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, DbError> {
    let options = PgConnectOptions::from_str(url).map_err(DbError::Url)?;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IF_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await?)
}

/// Platform migrations followed by the service's own, as one ordered set.
pub fn combined_migrator(service: &Migrator) -> Migrator {
    let mut migrations: Vec<_> = PLATFORM_MIGRATIONS
        .iter()
        .chain(service.iter())
        .cloned()
        .collect();
    migrations.sort_by_key(|m| m.version);
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// Create (if needed), connect and migrate a service's database.
pub async fn prepare(
    url: &str,
    max_connections: u32,
    service: &Migrator,
) -> Result<PgPool, DbError> {
    ensure_database(url).await?;
    let pool = connect(url, max_connections).await?;
    combined_migrator(service).run(&pool).await?;
    Ok(pool)
}
