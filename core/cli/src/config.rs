//! Where `wmai` keeps its files, and `cli.toml`: the URL and login of the current core.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::exit::CliError;

const FILE: &str = "cli.toml";

/// The configuration directory: `$WMAI_CONFIG_DIR`, else `<OS config dir>/wintermute`.
pub fn config_dir(env_value: Option<String>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = env_value.filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::config_dir()
        .map(|d| d.join("wintermute"))
        .ok_or_else(|| anyhow::anyhow!("cannot find the configuration directory of this system; set WMAI_CONFIG_DIR"))
}

/// The contents of `cli.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliConfig {
    /// URL of the core of the last `wmai login`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Login used there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
}

impl CliConfig {
    /// Reads `cli.toml` in `dir`; a missing file is an empty configuration.
    pub fn load(dir: &Path) -> anyhow::Result<CliConfig> {
        let path = dir.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).with_context(|| format!("cannot read {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CliConfig::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes `cli.toml` in `dir`, creating the directory.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(FILE);
        let text = toml::to_string(self).context("cannot encode the configuration")?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// The canonical form of a core URL, used as key of the stored tokens: `http(s)://host[:port][/path]`
/// without a trailing slash.
pub fn normalize_url(raw: &str) -> Result<String, CliError> {
    let raw = raw.trim();
    let parsed = url::Url::parse(raw).map_err(|e| {
        CliError::usage(format!("invalid core URL {raw:?}: {e} (expected e.g. https://core.example.org:8750)"))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(CliError::usage(format!("invalid core URL {raw:?}: the scheme must be http or https")));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(CliError::usage(format!("invalid core URL {raw:?}: no host")));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(CliError::usage(format!("invalid core URL {raw:?}: no query or fragment allowed")));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized() {
        assert_eq!(normalize_url("http://127.0.0.1:8750").unwrap(), "http://127.0.0.1:8750");
        assert_eq!(normalize_url("http://127.0.0.1:8750/").unwrap(), "http://127.0.0.1:8750");
        assert_eq!(normalize_url(" HTTPS://Core.Example.org/wm/ ").unwrap(), "https://core.example.org/wm");
        assert_eq!(normalize_url("https://core.example.org:443").unwrap(), "https://core.example.org");
    }

    #[test]
    fn bad_urls_are_usage_errors() {
        for bad in ["core.example.org", "ftp://x", "http://x/?a=1", "", "http://"] {
            let e = normalize_url(bad).unwrap_err();
            assert_eq!(e.exit, crate::exit::Exit::Usage, "{bad}");
        }
    }

    #[test]
    fn config_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        assert_eq!(CliConfig::load(&sub).unwrap(), CliConfig::default());
        let cfg = CliConfig { url: Some("http://x:1".into()), login: Some("admin".into()) };
        cfg.save(&sub).unwrap();
        assert_eq!(CliConfig::load(&sub).unwrap(), cfg);
    }

    #[test]
    fn env_dir_wins() {
        assert_eq!(config_dir(Some("/tmp/x".into())).unwrap(), PathBuf::from("/tmp/x"));
    }
}
