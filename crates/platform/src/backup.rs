//! Backup and restore of service databases: `pg_dump` custom format per
//! database, and a manifest with each file's SHA-256 and each table's row count
//! and content checksum, so a restore can prove it brought back what was saved.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    str::FromStr,
};

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
        let tables = summarize(&t.url).await?;
        run(
            "pg_dump",
            &database,
            Command::new("pg_dump")
                .arg("--format=custom")
                .arg("--no-owner")
                .arg("--file")
                .arg(&path)
                .arg("--dbname")
                .arg(&t.url),
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
            Command::new("pg_restore")
                .arg("--no-owner")
                .arg("--exit-on-error")
                .arg("--dbname")
                .arg(&t.url)
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
