//! What the app remembers between runs: which core it talks to. Kept as JSON in the app's data
//! folder (`desktop.json`), next to the embedded core's own folder (`core/`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::DesktopError;

/// Overrides the app's data folder (the tests use a fresh one per run).
pub const DATA_DIR_ENV: &str = "WINTERMUTE_DESKTOP_DATA_DIR";

/// The core this app uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CoreChoice {
    /// A shared core elsewhere, at this URL.
    Remote { url: String },
    /// A core run by the app itself on this computer (loopback only).
    Embedded,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// None until the first-run screen has been answered (and again after "Switch core").
    #[serde(default)]
    pub core: Option<CoreChoice>,
}

/// The app's folders.
#[derive(Debug, Clone)]
pub struct Paths {
    pub data_dir: PathBuf,
}

impl Paths {
    /// `WINTERMUTE_DESKTOP_DATA_DIR`, else the platform's data folder (`~/.local/share/wintermute-desktop`).
    pub fn locate() -> Paths {
        let data_dir = match std::env::var_os(DATA_DIR_ENV) {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => dirs::data_dir().unwrap_or_else(std::env::temp_dir).join("wintermute-desktop"),
        };
        Paths { data_dir }
    }

    pub fn settings_file(&self) -> PathBuf {
        self.data_dir.join("desktop.json")
    }

    /// The embedded core's data folder (its SQLite database, install.log, guests' disks).
    pub fn core_dir(&self) -> PathBuf {
        self.data_dir.join("core")
    }
}

impl Settings {
    /// The saved settings; defaults when there are none yet. A damaged file counts as none (the
    /// first-run screen asks again) and is logged.
    pub fn load(paths: &Paths) -> Settings {
        let file = paths.settings_file();
        match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!("{} is not valid ({e}); asking for the core again", file.display());
                Settings::default()
            }),
            Err(_) => Settings::default(),
        }
    }

    /// Writes the settings whole (a temporary file renamed over the old one).
    pub fn save(&self, paths: &Paths) -> Result<(), DesktopError> {
        std::fs::create_dir_all(&paths.data_dir).map_err(|e| DesktopError::io(paths.data_dir.display(), e))?;
        let file = paths.settings_file();
        let tmp = file.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(self).map_err(|e| DesktopError::invalid(e.to_string()))?;
        write(&tmp, &text).map_err(|e| DesktopError::io(tmp.display(), e))?;
        std::fs::rename(&tmp, &file).map_err(|e| DesktopError::io(file.display(), e))
    }
}

fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// A core URL as the app keeps it: http(s), no path, no trailing slash.
pub fn normalize_core_url(input: &str) -> Result<String, DesktopError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(DesktopError::invalid("Enter the address of the core, e.g. https://wintermute.example.org"));
    }
    let with_scheme = if input.contains("://") { input.to_owned() } else { format!("https://{input}") };
    let url = url::Url::parse(&with_scheme)
        .map_err(|e| DesktopError::invalid(format!("{input} is not a usable core address: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(DesktopError::invalid(format!("{input} is not a usable core address: use http:// or https://")));
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn settings_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths { data_dir: dir.path().join("app") };
        assert_eq!(Settings::load(&paths), Settings::default());
        let s = Settings { core: Some(CoreChoice::Remote { url: "https://core.example.org".into() }) };
        s.save(&paths).unwrap();
        assert_eq!(Settings::load(&paths), s);
        std::fs::write(paths.settings_file(), b"{not json").unwrap();
        assert_eq!(Settings::load(&paths), Settings::default(), "a damaged file asks again");
    }

    #[test]
    fn core_urls_are_normalized() {
        assert_eq!(normalize_core_url(" http://127.0.0.1:8750/ ").unwrap(), "http://127.0.0.1:8750");
        assert_eq!(normalize_core_url("core.example.org").unwrap(), "https://core.example.org");
        assert_eq!(normalize_core_url("https://core.example.org/app/x").unwrap(), "https://core.example.org");
        assert!(normalize_core_url("").is_err());
        assert!(normalize_core_url("ftp://core").is_err());
    }
}
