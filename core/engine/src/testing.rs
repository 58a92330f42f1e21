//! Fresh databases for tests: SQLite in a temporary directory, or a new database on the PostgreSQL
//! server named by `WINTERMUTE_TEST_POSTGRES_URL` (dropped again by `TestDatabase::drop_database`).

use rand::RngCore;
use sqlx::Connection;

use crate::store::Backend;

pub const POSTGRES_ENV: &str = "WINTERMUTE_TEST_POSTGRES_URL";

pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile_dir::Dir>,
}

/// The backends to run a conformance test on: always SQLite; PostgreSQL when the server URL is
/// set. Under CI (`CI` set) a missing PostgreSQL URL is an error, so no run passes by skipping it.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    match std::env::var(POSTGRES_ENV) {
        Ok(u) if !u.is_empty() => v.push(Backend::Postgres),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{POSTGRES_ENV} is not set under CI; scripts/test-all starts a PostgreSQL server and sets it")
        }
        _ => eprintln!("note: {POSTGRES_ENV} is not set; skipping the PostgreSQL run"),
    }
    v
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> TestDatabase {
        let mut id = [0u8; 6];
        rand::thread_rng().fill_bytes(&mut id);
        let name = format!("wm_test_{}", hex::encode(id));
        match backend {
            Backend::Sqlite => {
                let dir = tempfile_dir::Dir::new(&name);
                let url = format!("sqlite://{}?mode=rwc", dir.path.join("test.db").display());
                TestDatabase { url, backend, admin_url: None, name, _dir: Some(dir) }
            }
            Backend::Postgres => {
                sqlx::any::install_default_drivers();
                let admin_url = std::env::var(POSTGRES_ENV).unwrap_or_default();
                let mut conn = sqlx::AnyConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| panic!("cannot connect to {admin_url}: {e}"));
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("create database: {e}"));
                let _ = conn.close().await;
                let mut u = url::Url::parse(&admin_url).unwrap_or_else(|e| panic!("bad {POSTGRES_ENV}: {e}"));
                u.set_path(&format!("/{name}"));
                TestDatabase { url: u.to_string(), backend, admin_url: Some(admin_url), name, _dir: None }
            }
        }
    }

    /// Removes a PostgreSQL test database (SQLite ones go with their directory).
    pub async fn drop_database(self) {
        if let Some(admin) = &self.admin_url {
            if let Ok(mut conn) = sqlx::AnyConnection::connect(admin).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
            }
        }
    }
}

/// A temporary directory removed on drop (kept small to avoid a dependency for the library).
pub mod tempfile_dir {
    use std::path::PathBuf;

    pub struct Dir {
        pub path: PathBuf,
    }

    impl Dir {
        pub fn new(name: &str) -> Dir {
            let path = std::env::temp_dir().join(name);
            let _ = std::fs::create_dir_all(&path);
            Dir { path }
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
