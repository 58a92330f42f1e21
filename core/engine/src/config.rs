//! Process configuration of a core: built-in defaults < TOML file < `WMAIS__SECTION__KEY` environment.
//!
//! These are the settings a core needs before it can open its database. The manual's WMAIS_*
//! settings, which admins change at run time, live in the database (see `settings`).
//! Unknown keys are not an error (an older core may read a newer file) but are reported.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// The example configuration shipped with the core (`wmais config example`).
pub const EXAMPLE_CONFIG: &str = include_str!("../wintermute.example.toml");

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub database: DatabaseConfig,
    pub tasks: TasksConfig,
    /// Where the master key is kept: `kind = "file"` (default, `<data-dir>/master.key`),
    /// `"keyring"`, `"env"` or `"systemd"`.
    pub keys: wintermute_custody::KeyStoreConfig,
    /// The local provider (guests as QEMU virtual machines on this host).
    pub local: LocalConfig,
    /// What the core sets up by itself on its first start.
    pub bootstrap: BootstrapConfig,
    pub debug: DebugConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct LocalConfig {
    /// Where images for local providers are built and imported images copied to; default
    /// `<data-dir>/images`. Local guests' disks are copy-on-write overlays on these files, so they
    /// must stay while guests made from them exist. Several cores (or a core and the tests) may
    /// share one folder: a build there is made once and reused.
    pub image_dir: Option<PathBuf>,
    /// Package sources for Debian and Ubuntu guests of local providers: the whole
    /// `/etc/apt/sources.list` the core writes into each new guest before updates and packages
    /// (other source files are set aside). Local guests usually cannot reach the internet, but
    /// reach the host as 10.0.2.2: point them at a mirror there, e.g.
    /// `deb http://10.0.2.2:3142/debian bookworm main`. Unset: the image's own sources.
    pub apt_sources: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct BootstrapConfig {
    /// On the first start (and at the next starts until it is done once): register a local
    /// provider named `local`, synchronized, with its region and sizes allowed, and the Debian 12
    /// image, built once and enabled, so users can launch guests at once. Off by default;
    /// `scripts/run-core` turns it on. A host without QEMU gets a warning and a core without it.
    pub local_provider: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServerConfig {
    /// Address the API listens on.
    pub listen: SocketAddr,
    /// URL users reach the core at, if it differs from the listen address (a reverse proxy).
    pub public_url: Option<String>,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Largest backup archive `POST /api/v1/admin/restore` accepts, in bytes.
    pub restore_limit_bytes: u64,
    /// The built browser interface (the folder with its `index.html`), served at `/`. When unset,
    /// the core looks next to its binary (`frontend/`, then `../share/wintermute/frontend/`).
    pub frontend_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StorageConfig {
    /// Where the core keeps its database (SQLite), keys and logs.
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`; empty means SQLite in the data directory.
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TasksConfig {
    /// How many tasks one core process runs at once.
    pub workers: usize,
    /// A running task's lease; another replica takes the task over when it expires.
    pub lease_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct DebugConfig {
    /// Enables `POST /api/v1/debug/tasks` (step-counting tasks, for tests of the task machinery).
    pub test_tasks: bool,
    /// Test hook: abort the process after re-wrapping this many data keys during a master key
    /// rotation, to show that a crash in the middle loses nothing.
    pub crash_after_rewraps: Option<u32>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8750)),
            public_url: None,
            body_limit_bytes: 1024 * 1024,
            restore_limit_bytes: 64 * 1024 * 1024 * 1024,
            frontend_dir: None,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig { data_dir: default_data_dir() }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: String::new(), max_connections: 16 }
    }
}

impl Default for TasksConfig {
    fn default() -> Self {
        TasksConfig { workers: 16, lease_seconds: 30 }
    }
}

/// `/var/lib/wintermute` for root, `~/.local/share/wintermute` for everyone else.
pub fn default_data_dir() -> PathBuf {
    if is_root() {
        return PathBuf::from("/var/lib/wintermute");
    }
    dirs::data_local_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("wintermute")
}

#[allow(unsafe_code)]
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A configuration problem, with the key or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// What was loaded, and the keys that were ignored because nothing knows them.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub unknown_keys: Vec<String>,
}

impl Config {
    /// Defaults, then the TOML file (when given), then `WMAIS__*` variables of `env`.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Loaded, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
            fig = fig.merge(Toml::string(&text));
        }
        // Environment: WMAIS__SERVER__LISTEN=… (double underscores separate sections from keys).
        let vars: Vec<(String, String)> = env.into_iter().filter(|(k, _)| k.starts_with("WMAIS__")).collect();
        let mut env_toml = String::new();
        for (k, v) in &vars {
            let path: Vec<String> = k["WMAIS__".len()..].split("__").map(|s| s.to_ascii_lowercase()).collect();
            if path.iter().any(|p| p.is_empty()) {
                return Err(ConfigError::Invalid(format!("malformed variable name {k}")));
            }
            let value = env_value_as_toml(v);
            env_toml.push_str(&format!("{} = {}\n", path.join("."), value));
        }
        if !env_toml.is_empty() {
            fig = fig.merge(Toml::string(&env_toml));
        }
        let merged: serde_json::Value = fig.extract().map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let mut unknown_keys = Vec::new();
        let config: Config = serde_ignored::deserialize(merged, |path| unknown_keys.push(path.to_string()))
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(Loaded { config, unknown_keys })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.server.body_limit_bytes < 1024 {
            return Err(ConfigError::Invalid("server.body_limit_bytes must be at least 1024".into()));
        }
        if self.tasks.workers == 0 {
            return Err(ConfigError::Invalid("tasks.workers must be at least 1".into()));
        }
        if self.tasks.lease_seconds < 5 {
            return Err(ConfigError::Invalid("tasks.lease_seconds must be at least 5".into()));
        }
        let url = &self.database.url;
        let known = url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://");
        if !url.is_empty() && !known {
            return Err(ConfigError::Invalid(format!(
                "database.url must start with sqlite: or postgres:// (got {:?})",
                redact_url(&self.database.url)
            )));
        }
        Ok(())
    }

    /// The database URL in use: the configured one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}?mode=rwc", self.storage.data_dir.join("wintermute.db").display())
        } else {
            self.database.url.clone()
        }
    }

    /// The folder of local providers' images: `local.image_dir`, or `<data-dir>/images`.
    pub fn local_image_dir(&self) -> PathBuf {
        self.local.image_dir.clone().unwrap_or_else(|| self.storage.data_dir.join("images"))
    }

    /// The URL people open to reach this core.
    pub fn public_url(&self) -> String {
        match &self.server.public_url {
            Some(u) => u.trim_end_matches('/').to_owned() + "/",
            None => format!("http://{}/", self.server.listen),
        }
    }
}

/// Environment values are strings; numbers and booleans are passed on typed.
fn env_value_as_toml(v: &str) -> String {
    if v == "true" || v == "false" || v.parse::<i64>().is_ok() {
        v.to_owned()
    } else {
        toml::Value::String(v.to_owned()).to_string()
    }
}

/// A database URL without its password, for messages and logs.
pub fn redact_url(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => u.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_then_file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("wm.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"127.0.0.1:9000\"\nbody_limit_bytes = 4096\n[tasks]\nworkers = 3\n[surprise]\nkey = 1\n",
        )
        .unwrap();
        let l = Config::load(None, env(&[])).unwrap();
        assert_eq!(l.config, Config::default());
        assert_eq!(l.config.server.listen.to_string(), "127.0.0.1:8750");

        let l = Config::load(
            Some(&file),
            env(&[("WMAIS__TASKS__WORKERS", "5"), ("WMAIS_SG_IP_ADDRESS", "x"), ("HOME", "/")]),
        )
        .unwrap();
        assert_eq!(l.config.server.listen.to_string(), "127.0.0.1:9000", "file over defaults");
        assert_eq!(l.config.server.body_limit_bytes, 4096);
        assert_eq!(l.config.tasks.workers, 5, "environment over file");
        assert_eq!(l.unknown_keys, vec!["surprise".to_string()], "unknown keys are reported");

        let l = Config::load(
            None,
            env(&[("WMAIS__DATABASE__URL", "postgres://u:pw@db/wm"), ("WMAIS__DEBUG__TEST_TASKS", "true")]),
        )
        .unwrap();
        assert_eq!(l.config.database_url(), "postgres://u:pw@db/wm");
        assert!(l.config.debug.test_tasks);
        let l = Config::load(
            None,
            env(&[("WMAIS__BOOTSTRAP__LOCAL_PROVIDER", "true"), ("WMAIS__LOCAL__IMAGE_DIR", "/srv/images")]),
        )
        .unwrap();
        assert!(l.config.bootstrap.local_provider);
        assert_eq!(l.config.local_image_dir(), PathBuf::from("/srv/images"));
        assert!(!Config::default().bootstrap.local_provider, "not a default of every install");
        let l = Config::load(None, env(&[("WMAIS__SERVER__NOPE", "1")])).unwrap();
        assert_eq!(l.unknown_keys, vec!["server.nope".to_string()]);
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let e = Config::load(None, env(&[("WMAIS__SERVER__LISTEN", "not-an-address")])).unwrap_err().to_string();
        assert!(e.contains("listen") || e.contains("address"), "{e}");
        let e = Config::load(None, env(&[("WMAIS__DATABASE__URL", "mysql://x")])).unwrap_err().to_string();
        assert!(e.contains("database.url"), "{e}");
        let e = Config::load(None, env(&[("WMAIS__TASKS__WORKERS", "0")])).unwrap_err().to_string();
        assert!(e.contains("workers"), "{e}");
        let e = Config::load(Some(Path::new("/nonexistent/wm.toml")), env(&[])).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/wm.toml"), "{e}");
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
    }

    #[test]
    fn sqlite_lives_in_the_data_dir() {
        let mut c = Config::default();
        c.storage.data_dir = PathBuf::from("/srv/wm");
        assert_eq!(c.database_url(), "sqlite:///srv/wm/wintermute.db?mode=rwc");
        assert_eq!(c.local_image_dir(), PathBuf::from("/srv/wm/images"));
        assert_eq!(c.public_url(), "http://127.0.0.1:8750/");
    }
}
