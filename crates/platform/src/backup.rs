//! Backup and restore of service databases: `pg_dump` custom format per
//! database, and a manifest with each file's SHA-256 and each table's row count
//! and content checksum, so a restore can prove it brought back what was saved.
//!
//! `pg_dump` and `pg_restore` never see the database password in their
//! arguments (anyone on the host can read those with `ps`): they get host,
//! port, user and database name as arguments, and the password and TLS
//! settings in their own environment only ([`PgInvocation`]).

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
};

use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{postgres::PgConnectOptions, ConnectOptions, Connection, PgConnection};
use tokio::process::Command;

pub const MANIFEST: &str = "manifest.json";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Setup(#[from] crate::db::DbError),
    #[error("file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{tool} failed for {database}: {stderr}")]
    Tool {
        tool: &'static str,
        database: String,
        stderr: String,
    },
    #[error("manifest: {0}")]
    Manifest(String),
    /// Never quotes the URL (it may hold a password).
    #[error("the database URL is invalid: {0}")]
    Url(String),
    #[error("{0} is not empty; restore only into an empty database")]
    NotEmpty(String),
    #[error("verification failed for {database}: {detail}")]
    Mismatch { database: String, detail: String },
}

/// What one table held when it was saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSummary {
    pub rows: i64,
    /// MD5 over the table's rows as text, in a fixed order.
    pub checksum: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    pub service: String,
    pub database: String,
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
    pub tables: BTreeMap<String, TableSummary>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub entries: Vec<Entry>,
}

/// A service database to save or restore.
pub struct Target {
    pub service: String,
    pub url: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// How `pg_dump`/`pg_restore` reach one database: arguments without any
/// secret, and the variables set in the child's environment only (libpq's
/// `PGPASSWORD`, `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`,
/// `PGAPPNAME`, `PGOPTIONS`). `Debug` shows no password.
#[derive(Clone, PartialEq, Eq)]
pub struct PgInvocation {
    pub args: Vec<String>,
    pub env: Vec<(&'static str, String)>,
}

impl fmt::Debug for PgInvocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    if *k == "PGPASSWORD" {
                        "***"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("PgInvocation")
            .field("args", &self.args)
            .field("env", &env)
            .finish()
    }
}

fn decoded(raw: &str, what: &str) -> Result<String, BackupError> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| BackupError::Url(format!("its {what} is not UTF-8 once decoded")))
}

/// A database name as `--dbname` takes it literally: libpq would read a name
/// with `=` or a URI prefix as connection settings, so such a name is quoted.
fn dbname_arg(name: &str) -> String {
    if name.contains('=') || name.starts_with("postgres://") || name.starts_with("postgresql://") {
        format!(
            "dbname='{}'",
            name.replace('\\', "\\\\").replace('\'', "\\'")
        )
    } else {
        name.to_owned()
    }
}

/// Split a database URL (as the services use it, sqlx's syntax) into what
/// `pg_dump`/`pg_restore` get as arguments and what only in their
/// environment: the password (from the user info or a `password` parameter)
/// never goes into the arguments; the TLS parameters (`sslmode`,
/// `sslrootcert`, `sslcert`, `sslkey`, or sqlx's spellings `ssl-mode`, …) are
/// passed on. Parameters libpq has no use for (`statement-cache-capacity`)
/// are left out.
pub fn pg_invocation(database_url: &str) -> Result<PgInvocation, BackupError> {
    let url = url::Url::parse(database_url).map_err(|e| BackupError::Url(e.to_string()))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(BackupError::Url(format!(
            "scheme {:?} is not postgres",
            url.scheme()
        )));
    }
    let mut host = match url.host_str() {
        Some(h) if !h.is_empty() => Some(decoded(
            h.trim_start_matches('[').trim_end_matches(']'),
            "host",
        )?),
        _ => None,
    };
    let mut port = url.port().map(|p| p.to_string());
    let mut user = match url.username() {
        "" => None,
        u => Some(decoded(u, "user name")?),
    };
    let mut password = url.password().map(|p| decoded(p, "password")).transpose()?;
    let mut dbname = match url.path().trim_start_matches('/') {
        "" => None,
        d => Some(decoded(d, "database name")?),
    };
    let mut env: Vec<(&'static str, String)> = Vec::new();
    for (key, value) in url.query_pairs() {
        let value = value.into_owned();
        let var = match &*key {
            "password" => {
                password = Some(value);
                continue;
            }
            "host" | "hostaddr" => {
                host = Some(value);
                continue;
            }
            "port" => {
                if value.parse::<u16>().is_err() {
                    return Err(BackupError::Url("its port is not a number".into()));
                }
                port = Some(value);
                continue;
            }
            "user" => {
                user = Some(value);
                continue;
            }
            "dbname" => {
                dbname = Some(value);
                continue;
            }
            "sslmode" | "ssl-mode" => "PGSSLMODE",
            "sslrootcert" | "ssl-root-cert" | "ssl-ca" => "PGSSLROOTCERT",
            "sslcert" | "ssl-cert" => "PGSSLCERT",
            "sslkey" | "ssl-key" => "PGSSLKEY",
            "application_name" => "PGAPPNAME",
            "options" => "PGOPTIONS",
            _ => continue,
        };
        env.retain(|(k, _)| *k != var);
        env.push((var, value));
    }
    if let Some(password) = password {
        env.push(("PGPASSWORD", password));
    }
    let mut args = Vec::new();
    for (flag, value) in [("--host", host), ("--port", port), ("--username", user)] {
        if let Some(value) = value {
            args.push(flag.to_owned());
            args.push(value);
        }
    }
    if let Some(dbname) = dbname {
        args.push("--dbname".to_owned());
        args.push(dbname_arg(&dbname));
    }
    Ok(PgInvocation { args, env })
}

/// `program` reaching the database as `invocation` says.
fn pg_command(program: &str, invocation: &PgInvocation) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(&invocation.args);
    for (var, value) in &invocation.env {
        cmd.env(var, value);
    }
    cmd
}

fn database_name(url: &str) -> Result<String, BackupError> {
    let options = PgConnectOptions::from_str(url).map_err(crate::db::DbError::Url)?;
    options
        .get_database()
        .map(str::to_owned)
        .ok_or_else(|| BackupError::Manifest("the database URL names no database".into()))
}

/// Row counts and content checksums of every table in `public`.
pub async fn summarize(url: &str) -> Result<BTreeMap<String, TableSummary>, BackupError> {
    let mut conn = PgConnectOptions::from_str(url)
        .map_err(crate::db::DbError::Url)?
        .connect()
        .await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    )
    .fetch_all(&mut conn)
    .await?;
    let mut out = BTreeMap::new();
    for table in tables {
        let quoted = format!("\"{}\"", table.replace('"', "\"\""));
        let (rows, checksum): (i64, Option<String>) = sqlx::query_as(&format!(
            "SELECT count(*), md5(string_agg(t::text, E'\\n' ORDER BY t::text)) FROM {quoted} t"
        ))
        .fetch_one(&mut conn)
        .await?;
        out.insert(
            table,
            TableSummary {
                rows,
                checksum: checksum.unwrap_or_default(),
            },
        );
    }
    conn.close().await?;
    Ok(out)
}

async fn sha256_of(path: &Path) -> Result<(String, u64), BackupError> {
    let bytes = tokio::fs::read(path).await.map_err(io(path))?;
    Ok((format!("{:x}", Sha256::digest(&bytes)), bytes.len() as u64))
}

async fn run(tool: &'static str, database: &str, cmd: &mut Command) -> Result<(), BackupError> {
    let output = cmd.output().await.map_err(|source| BackupError::Io {
        path: tool.to_owned(),
        source,
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(BackupError::Tool {
            tool,
            database: database.to_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// Save every target into `dir` (created if missing) and write the manifest.
pub async fn backup(targets: &[Target], dir: &Path) -> Result<Manifest, BackupError> {
    tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
    let mut entries = Vec::new();
    for t in targets {
        let database = database_name(&t.url)?;
        let file = format!("{}.dump", t.service);
        let path = dir.join(&file);
        let invocation = pg_invocation(&t.url)?;
        let tables = summarize(&t.url).await?;
        run(
            "pg_dump",
            &database,
            pg_command("pg_dump", &invocation)
                .arg("--format=custom")
                .arg("--no-owner")
                .arg("--file")
                .arg(&path),
        )
        .await?;
        let (sha256, bytes) = sha256_of(&path).await?;
        entries.push(Entry {
            service: t.service.clone(),
            database,
            file,
            sha256,
            bytes,
            tables,
        });
    }
    let manifest = Manifest {
        created_at: chrono::Utc::now(),
        entries,
    };
    let json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Manifest(e.to_string()))?;
    let path = dir.join(MANIFEST);
    tokio::fs::write(&path, json).await.map_err(io(&path))?;
    Ok(manifest)
}

pub async fn read_manifest(dir: &Path) -> Result<Manifest, BackupError> {
    let path = dir.join(MANIFEST);
    let bytes = tokio::fs::read(&path).await.map_err(io(&path))?;
    serde_json::from_slice(&bytes).map_err(|e| BackupError::Manifest(e.to_string()))
}

/// Restore each target from `dir` into an empty (or missing) database, after
/// checking the file against the manifest, then verify every table's row count
/// and checksum. Returns the restored entries.
pub async fn restore(targets: &[Target], dir: &Path) -> Result<Vec<Entry>, BackupError> {
    let manifest = read_manifest(dir).await?;
    let mut restored = Vec::new();
    for t in targets {
        let entry = manifest
            .entries
            .iter()
            .find(|e| e.service == t.service)
            .ok_or_else(|| {
                BackupError::Manifest(format!("no backup of {} in the manifest", t.service))
            })?;
        let path: PathBuf = dir.join(&entry.file);
        let (sha256, _) = sha256_of(&path).await?;
        if sha256 != entry.sha256 {
            return Err(BackupError::Mismatch {
                database: entry.database.clone(),
                detail: "the dump file's SHA-256 differs from the manifest".into(),
            });
        }
        crate::db::ensure_database(&t.url).await?;
        let mut conn: PgConnection = PgConnectOptions::from_str(&t.url)
            .map_err(crate::db::DbError::Url)?
            .connect()
            .await?;
        let tables: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
                .fetch_one(&mut conn)
                .await?;
        conn.close().await?;
        let database = database_name(&t.url)?;
        if tables > 0 {
            return Err(BackupError::NotEmpty(database));
        }
        run(
            "pg_restore",
            &database,
            pg_command("pg_restore", &pg_invocation(&t.url)?)
                .arg("--no-owner")
                .arg("--exit-on-error")
                .arg(&path),
        )
        .await?;
        let now = summarize(&t.url).await?;
        if now != entry.tables {
            let differing: Vec<&String> = entry
                .tables
                .keys()
                .filter(|k| now.get(*k) != entry.tables.get(*k))
                .collect();
            return Err(BackupError::Mismatch {
                database,
                detail: format!("tables differ after restore: {differing:?}"),
            });
        }
        restored.push(entry.clone());
    }
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of<'a>(inv: &'a PgInvocation, var: &str) -> Option<&'a str> {
        inv.env
            .iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_password_goes_to_the_environment_and_never_into_the_arguments() {
        let inv =
            pg_invocation("postgres://carebook:s3cr%40t%3Aw0rd@db.internal:6432/carebook_records")
                .unwrap();
        assert_eq!(
            inv.args,
            [
                "--host",
                "db.internal",
                "--port",
                "6432",
                "--username",
                "carebook",
                "--dbname",
                "carebook_records"
            ]
        );
        assert_eq!(inv.env, [("PGPASSWORD", "s3cr@t:w0rd".to_owned())]);
        for arg in &inv.args {
            assert!(!arg.contains("s3cr"), "{arg}");
        }
        let debug = format!("{inv:?}");
        assert!(!debug.contains("s3cr"), "{debug}");
        assert!(debug.contains("PGPASSWORD"), "{debug}");
    }

    #[test]
    fn a_password_given_as_a_parameter_is_kept_out_of_the_arguments_too() {
        let inv = pg_invocation(
            "postgresql://app@127.0.0.1/db?password=p%26ss&statement-cache-capacity=10",
        )
        .unwrap();
        assert_eq!(
            inv.args,
            ["--host", "127.0.0.1", "--username", "app", "--dbname", "db"]
        );
        assert_eq!(inv.env, [("PGPASSWORD", "p&ss".to_owned())]);
    }

    #[test]
    fn tls_parameters_are_passed_on_in_either_spelling() {
        let inv = pg_invocation(
            "postgres://app:pw@db:5432/records?sslmode=verify-full&sslrootcert=/etc/carebook/ca.pem\
             &ssl-cert=/etc/carebook/records.pem&sslkey=/etc/carebook/records-key.pem",
        )
        .unwrap();
        assert_eq!(env_of(&inv, "PGSSLMODE"), Some("verify-full"));
        assert_eq!(env_of(&inv, "PGSSLROOTCERT"), Some("/etc/carebook/ca.pem"));
        assert_eq!(env_of(&inv, "PGSSLCERT"), Some("/etc/carebook/records.pem"));
        assert_eq!(
            env_of(&inv, "PGSSLKEY"),
            Some("/etc/carebook/records-key.pem")
        );
        assert_eq!(env_of(&inv, "PGPASSWORD"), Some("pw"));
        assert!(inv.args.iter().all(|a| a != "pw"), "{:?}", inv.args);
        let sqlx_style =
            pg_invocation("postgres://db/records?ssl-mode=require&ssl-ca=/ca.pem").unwrap();
        assert_eq!(env_of(&sqlx_style, "PGSSLMODE"), Some("require"));
        assert_eq!(env_of(&sqlx_style, "PGSSLROOTCERT"), Some("/ca.pem"));
    }

    #[test]
    fn without_a_password_nothing_is_set_and_defaults_stay_libpqs() {
        let inv = pg_invocation("postgres://postgres@127.0.0.1:5432/carebook_test").unwrap();
        assert_eq!(
            inv.args,
            [
                "--host",
                "127.0.0.1",
                "--port",
                "5432",
                "--username",
                "postgres",
                "--dbname",
                "carebook_test"
            ]
        );
        assert!(inv.env.is_empty());
        let bare = pg_invocation("postgres:///carebook_test").unwrap();
        assert_eq!(bare.args, ["--dbname", "carebook_test"]);
    }

    #[test]
    fn sockets_ipv6_hosts_and_odd_names_are_handed_over_as_libpq_reads_them() {
        let socket = pg_invocation("postgres://%2Fvar%2Frun%2Fpostgresql/db").unwrap();
        assert_eq!(socket.args[..2], ["--host", "/var/run/postgresql"]);
        let ipv6 = pg_invocation("postgres://u:pw@[::1]:5432/db").unwrap();
        assert_eq!(ipv6.args[..2], ["--host", "::1"]);
        let query_host = pg_invocation("postgres:///db?host=/tmp&port=5433&user=me").unwrap();
        assert_eq!(
            query_host.args,
            [
                "--host",
                "/tmp",
                "--port",
                "5433",
                "--username",
                "me",
                "--dbname",
                "db"
            ]
        );
        let odd = pg_invocation("postgres://h/a%3Db").unwrap();
        assert_eq!(odd.args[2..], ["--dbname", "dbname='a=b'"]);
    }

    #[test]
    fn bad_urls_are_refused_without_being_quoted() {
        for url in [
            "mysql://u:hunter2@h/db",
            "not a url hunter2",
            "postgres://h/db?port=hunter2",
        ] {
            let e = pg_invocation(url).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
