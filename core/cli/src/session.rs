//! The global options and environment of one run, and the logged-in client built from them.

use std::path::PathBuf;

use wintermute_api::client::Client;

use crate::config::{self, CliConfig};
use crate::exit::CliError;
use crate::token_store::{StoreMode, TokenStore};

/// Everything a command needs to know about where and how to talk to the core.
#[derive(Debug, Clone)]
pub struct App {
    /// `--url` / `WMAI_URL`, as given.
    pub url_flag: Option<String>,
    /// `--json`.
    pub json: bool,
    pub config_dir: PathBuf,
    pub config: CliConfig,
    store_mode: StoreMode,
    /// `WMAI_TOKEN`.
    env_token: Option<String>,
}

impl App {
    /// Reads the environment and `cli.toml`.
    pub fn new(url_flag: Option<String>, json: bool) -> anyhow::Result<App> {
        let config_dir = config::config_dir(std::env::var("WMAI_CONFIG_DIR").ok())?;
        let config = CliConfig::load(&config_dir)?;
        let store_mode = StoreMode::parse(&std::env::var("WMAI_TOKEN_STORE").unwrap_or_default())?;
        let env_token = std::env::var("WMAI_TOKEN").ok().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        Ok(App { url_flag: url_flag.filter(|u| !u.trim().is_empty()), json, config_dir, config, store_mode, env_token })
    }

    pub fn store(&self) -> TokenStore {
        TokenStore::new(self.store_mode, &self.config_dir)
    }

    /// The normalized URL of the core: `--url`/`WMAI_URL`, else the one of the last login.
    pub fn url(&self) -> Result<String, CliError> {
        match (&self.url_flag, &self.config.url) {
            (Some(u), _) => config::normalize_url(u),
            (None, Some(u)) => config::normalize_url(u),
            (None, None) => Err(CliError::not_logged_in(
                "no core URL: log in with `wmai login <url>`, or pass --url / set WMAI_URL",
            )),
        }
    }

    /// A client for the core without a token.
    pub fn anonymous(&self, url: &str) -> anyhow::Result<Client> {
        Ok(Client::new(url)?)
    }

    /// A logged-in client: the token is `WMAI_TOKEN`, else the stored one of this core.
    pub fn session(&self) -> anyhow::Result<Session> {
        let url = self.url()?;
        let token = match &self.env_token {
            Some(t) => t.clone(),
            None => self.store().load(&url)?.ok_or_else(|| {
                CliError::not_logged_in(format!("not logged in to {url}: run `wmai login {url}` or set WMAI_TOKEN"))
            })?,
        };
        let client = Client::new(&url)?.with_token(token);
        Ok(Session { client, url, json: self.json })
    }
}

/// A client logged in to one core.
#[derive(Debug, Clone)]
pub struct Session {
    pub client: Client,
    pub url: String,
    pub json: bool,
}
