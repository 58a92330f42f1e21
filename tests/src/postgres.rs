//! Throwaway PostgreSQL databases on the server named by `WINTERMUTE_TEST_POSTGRES_URL`, made and
//! dropped with the `psql` client (installed wherever PostgreSQL is).

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};

/// The server where tests may create databases, e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
pub const POSTGRES_ENV: &str = "WINTERMUTE_TEST_POSTGRES_URL";

/// The test server's URL, or `None` (with a note on stderr) when it is not set. Under CI (`CI` set)
/// a missing URL is an error, so that no CI run passes by skipping the PostgreSQL variants.
pub fn postgres_url() -> anyhow::Result<Option<String>> {
    match std::env::var(POSTGRES_ENV) {
        Ok(u) if !u.trim().is_empty() => Ok(Some(u.trim().to_owned())),
        _ if std::env::var_os("CI").is_some() => {
            bail!("{POSTGRES_ENV} is not set under CI; scripts/test-all starts a PostgreSQL server and sets it")
        }
        _ => {
            eprintln!("note: {POSTGRES_ENV} is not set; skipping the PostgreSQL run");
            Ok(None)
        }
    }
}

/// A fresh database on the test server (see [`postgres_url`] for when it is `None`).
pub fn fresh_postgres_db() -> anyhow::Result<Option<PostgresDb>> {
    match postgres_url()? {
        Some(admin) => PostgresDb::create(&admin).map(Some),
        None => Ok(None),
    }
}

/// A database of its own for one test; dropped (`WITH (FORCE)`) when this is dropped.
#[derive(Debug)]
pub struct PostgresDb {
    url: String,
    admin_url: String,
    name: String,
}

impl PostgresDb {
    /// Creates a uniquely named database on the server at `admin_url`.
    pub fn create(admin_url: &str) -> anyhow::Result<PostgresDb> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        // Unique across processes (pid), runs (time) and the tests of one process (counter).
        let name = format!("wm_e2e_{}_{nanos:08x}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut url = reqwest::Url::parse(admin_url).with_context(|| format!("{POSTGRES_ENV} is not a URL"))?;
        url.set_path(&format!("/{name}"));
        psql(admin_url, &format!("CREATE DATABASE {name}"))?;
        Ok(PostgresDb { url: url.to_string(), admin_url: admin_url.to_owned(), name })
    }

    /// The URL of the new database, for `wmais serve --database`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PostgresDb {
    fn drop(&mut self) {
        if let Err(e) = psql(&self.admin_url, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)) {
            eprintln!("warning: could not drop the test database {}: {e:#}", self.name);
        }
    }
}

/// Runs one SQL command with `psql`.
fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow::anyhow!("psql not found: install the PostgreSQL client (Debian: postgresql-client)")
            } else {
                anyhow::anyhow!("running psql: {e}")
            }
        })?;
    if !out.status.success() {
        bail!("psql {sql:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}
