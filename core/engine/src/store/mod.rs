//! The database: one code path over SQLite (default) and PostgreSQL (shared cores), through sqlx's
//! `Any` driver with runtime queries and explicit row mapping. Migrations are per backend.

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use crate::error::StoreError;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A pool of connections to the core's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects (creating the SQLite file and its directory when needed) and runs the migrations.
    pub async fn open(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        if backend == Backend::Sqlite {
            prepare_sqlite_location(url)?;
        }
        let opts =
            AnyPoolOptions::new().max_connections(max_connections.max(2)).acquire_timeout(Duration::from_secs(10));
        let opts = if backend == Backend::Sqlite {
            opts.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                         PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                    )
                    .await?;
                    Ok(())
                })
            })
        } else {
            opts
        };
        let pool = opts.connect(url).await?;
        let store = Store { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn prepare_sqlite_location(url: &str) -> Result<(), StoreError> {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)
                .map_err(|source| StoreError::Location { path: parent.display().to_string(), source })?;
        }
    }
    Ok(())
}

/// Reading typed columns out of `Any` rows. Booleans are stored as integers on both backends.
pub(crate) trait RowExt {
    fn int(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn flag(&self, col: &str) -> Result<bool, StoreError>;
    fn real(&self, col: &str) -> Result<f64, StoreError>;
}

impl RowExt for AnyRow {
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        Ok(self.try_get::<i64, _>(col)?)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get::<Option<i64>, _>(col)?)
    }
    fn text(&self, col: &str) -> Result<String, StoreError> {
        Ok(self.try_get::<String, _>(col)?)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get::<Option<String>, _>(col)?)
    }
    fn flag(&self, col: &str) -> Result<bool, StoreError> {
        Ok(self.try_get::<i64, _>(col)? != 0)
    }
    fn real(&self, col: &str) -> Result<f64, StoreError> {
        Ok(self.try_get::<f64, _>(col)?)
    }
}

/// `1`/`0` for boolean columns.
pub(crate) fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// A write transaction. On SQLite, write transactions are serialised inside the process and take the
/// database's write lock up front, so a transaction that reads before it writes never fails with
/// "database is locked" when another write committed in between.
pub struct WriteTx {
    pub tx: sqlx::Transaction<'static, sqlx::Any>,
    _guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }

    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

impl Store {
    pub async fn write_tx(&self) -> Result<WriteTx, StoreError> {
        match self.backend {
            Backend::Sqlite => {
                let guard = SQLITE_WRITER.clone().lock_owned().await;
                let mut tx = self.pool.begin().await?;
                sqlx::query("UPDATE settings SET name = name WHERE 1 = 0").execute(&mut *tx).await?;
                Ok(WriteTx { tx, _guard: Some(guard) })
            }
            Backend::Postgres => Ok(WriteTx { tx: self.pool.begin().await?, _guard: None }),
        }
    }
}

static SQLITE_WRITER: std::sync::LazyLock<std::sync::Arc<tokio::sync::Mutex<()>>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(tokio::sync::Mutex::new(())));
