//! The backup/restore drill against the real PostgreSQL: back up, drop, restore,
//! and compare row counts and checksums; `pg_dump` and `pg_restore` never see
//! the database URL or its password in their arguments.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::{os::unix::fs::PermissionsExt, path::Path};

use contracts::scheduling::{AppointmentCancelled, AppointmentStatus};
use platform::{
    backup::{backup, restore, BackupError, Target},
    db,
    events::{outbox, Envelope},
    testing::{appointment, TestBacking},
};
use sqlx::migrate::Migrator;
use uuid::Uuid;

/// Put wrappers of `pg_dump` and `pg_restore` first on `PATH` that write down
/// their arguments (as `ps` shows them) and `PGPASSWORD`, then run the real tool.
fn record_pg_tools(dir: &Path) {
    let path = std::env::var("PATH").unwrap();
    std::fs::create_dir_all(dir).unwrap();
    for tool in ["pg_dump", "pg_restore"] {
        let real = std::env::split_paths(&path)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{tool} on PATH"));
        let script = dir.join(tool);
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{dir}/{tool}.argv'\n\
                 printf '%s' \"$PGPASSWORD\" > '{dir}/{tool}.password'\nexec '{real}' \"$@\"\n",
                dir = dir.display(),
                real = real.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // The only test of this binary: no other test sees the changed PATH.
    std::env::set_var("PATH", format!("{}:{path}", dir.display()));
}

/// What `tool` was started with, and the password it found in its environment.
fn recorded(dir: &Path, tool: &str) -> (String, String) {
    (
        std::fs::read_to_string(dir.join(format!("{tool}.argv"))).unwrap(),
        std::fs::read_to_string(dir.join(format!("{tool}.password"))).unwrap(),
    )
}

#[tokio::test]
async fn a_dropped_database_comes_back_exactly_from_its_backup() {
    // Before anything else runs (and might read the environment meanwhile).
    let tools = std::env::temp_dir().join(format!("carebook-pg-tools-{}", Uuid::new_v4()));
    record_pg_tools(&tools);
    let test = TestBacking::new("platform");
    let url = test.config.database_url.clone();
    let pool = db::prepare(&url, 2, &Migrator::DEFAULT).await.unwrap();
    for i in 0..25 {
        let mut tx = pool.begin().await.unwrap();
        // Quotes and markup in the data, for the dump to escape.
        let mut cancelled = appointment(
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            chrono::Utc::now(),
            AppointmentStatus::Cancelled,
            2,
        );
        cancelled.reason = Some(format!("visit {i}: it's <quoted> \"text\""));
        let event = Envelope::of::<AppointmentCancelled>(&cancelled).unwrap();
        outbox::enqueue(&mut tx, &event).await.unwrap();
        tx.commit().await.unwrap();
    }
    pool.close().await;

    let dir = std::env::temp_dir().join(format!("carebook-backup-{}", Uuid::new_v4()));
    // Without one in the URL, libpq still takes a PGPASSWORD of ours.
    let password = url::Url::parse(&url)
        .unwrap()
        .password()
        .map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8()
                .unwrap()
                .into_owned()
        })
        .unwrap_or_else(|| std::env::var("PGPASSWORD").unwrap_or_default());
    let no_secret_in = |argv: &str| {
        assert!(!argv.contains("://"), "the URL in argv: {argv}");
        assert!(
            password.is_empty() || !argv.contains(&password),
            "the password in argv"
        );
        assert!(argv.contains("--dbname\n"), "{argv}");
    };
    let targets = [Target {
        service: "platform".into(),
        url: url.clone(),
    }];
    let manifest = backup(&targets, &dir).await.unwrap();
    let (argv, seen_password) = recorded(&tools, "pg_dump");
    no_secret_in(&argv);
    assert_eq!(
        seen_password, password,
        "the password through the environment"
    );
    let entry = &manifest.entries[0];
    assert_eq!(entry.tables["outbox"].rows, 25);
    assert_eq!(entry.sha256.len(), 64);
    assert!(dir.join("manifest.json").exists());

    // Restoring over live data is refused: restores go into empty databases.
    assert!(matches!(
        restore(&targets, &dir).await,
        Err(BackupError::NotEmpty(_))
    ));

    db::drop_database(&url).await.unwrap();
    let restored = restore(&targets, &dir).await.unwrap();
    assert_eq!(restored[0].tables, entry.tables);
    let (argv, seen_password) = recorded(&tools, "pg_restore");
    no_secret_in(&argv);
    assert_eq!(seen_password, password);
    let pool = db::connect(&url, 1).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 25);
    pool.close().await;

    // A damaged dump is caught by its checksum before anything is touched.
    db::drop_database(&url).await.unwrap();
    let file = dir.join(&entry.file);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    assert!(matches!(
        restore(&targets, &dir).await,
        Err(BackupError::Mismatch { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&tools).unwrap();
}
