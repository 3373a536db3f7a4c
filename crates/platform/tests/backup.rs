//! The backup/restore drill against the real PostgreSQL: back up, drop, restore,
//! and compare row counts and checksums.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use contracts::scheduling::{AppointmentCancelled, AppointmentStatus};
use platform::{
    backup::{backup, restore, BackupError, Target},
    db,
    events::{outbox, Envelope},
    testing::{appointment, TestBacking},
};
use sqlx::migrate::Migrator;
use uuid::Uuid;

#[tokio::test]
async fn a_dropped_database_comes_back_exactly_from_its_backup() {
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
    let targets = [Target {
        service: "platform".into(),
        url: url.clone(),
    }];
    let manifest = backup(&targets, &dir).await.unwrap();
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
}
