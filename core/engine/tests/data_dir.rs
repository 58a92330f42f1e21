//! A data directory the core creates is private to the core's user.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;

use wintermute_core::{Config, Engine};

#[tokio::test]
async fn a_new_data_directory_is_private() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("wintermute");
    let mut config = Config::default();
    config.storage.data_dir = dir.clone();
    let (engine, first) = Engine::open(config).await.unwrap();
    assert!(first.is_some());
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(dir.join("master.key")).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(dir.join("wintermute.db").exists(), "SQLite lives in the data directory by default");
    engine.close().await;
}
