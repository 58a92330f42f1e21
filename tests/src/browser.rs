//! A real browser for the end-to-end tests: Debian's headless Chromium driven through
//! chromedriver (WebDriver) with `fantoccini`, on a fresh profile, with no network beyond loopback.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tempfile::TempDir;

/// Where the built frontend is looked for: `WINTERMUTE_FRONTEND_DIST`, else the default output
/// folder of `scripts/build-frontend`.
pub const FRONTEND_DIST_ENV: &str = "WINTERMUTE_FRONTEND_DIST";
/// Where screenshots go: `WINTERMUTE_SCREENSHOTS`, else `~/.cache/wintermute/screenshots`.
pub const SCREENSHOTS_ENV: &str = "WINTERMUTE_SCREENSHOTS";

/// How long a wait for something on the page lasts (generous: CI runs every test at once on 2 cores).
pub const WAIT: Duration = Duration::from_secs(60);

/// The built frontend, if there is one (a folder with `index.html`).
pub fn frontend_dist() -> Option<PathBuf> {
    let dir = match std::env::var_os(FRONTEND_DIST_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => home()?.join(".cache/wintermute/frontend-dist"),
    };
    dir.join("index.html").is_file().then_some(dir)
}

pub fn screenshots_dir() -> PathBuf {
    match std::env::var_os(SCREENSHOTS_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => home().unwrap_or_else(std::env::temp_dir).join(".cache/wintermute/screenshots"),
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

fn tool(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env).filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default))
}

/// What the browser tests need, or why they cannot run. Under `CI=true` a missing piece is a
/// failure; elsewhere the tests say what is missing and pass without running.
pub fn browser_prerequisites() -> anyhow::Result<Option<PathBuf>> {
    let chromium = tool("WINTERMUTE_CHROMIUM", "/usr/bin/chromium");
    let driver = tool("WINTERMUTE_CHROMEDRIVER", "/usr/bin/chromedriver");
    let mut missing = Vec::new();
    if !chromium.is_file() {
        missing.push(format!("Chromium ({})", chromium.display()));
    }
    if !driver.is_file() {
        missing.push(format!("chromedriver ({})", driver.display()));
    }
    let dist = frontend_dist();
    if dist.is_none() {
        missing.push(format!("the built frontend (run scripts/build-frontend, or set {FRONTEND_DIST_ENV})"));
    }
    if missing.is_empty() {
        return Ok(dist);
    }
    let what = format!(
        "browser tests need {} (scripts/test-all installs chromium and chromium-driver and builds the frontend)",
        missing.join(", ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        bail!("{what}");
    }
    eprintln!("SKIPPED: {what}");
    Ok(None)
}

/// A chromedriver process and one headless Chromium session; both end when this is dropped.
pub struct Browser {
    client: Option<Client>,
    driver: tokio::process::Child,
    _profile: TempDir,
    shots: PathBuf,
    prefix: String,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a Chromium with a fresh profile, a window of
    /// `width`×`height`. Screenshots are saved as `<screenshots dir>/<prefix>-<name>.png`.
    pub async fn start(prefix: &str, width: u32, height: u32) -> anyhow::Result<Browser> {
        let chromium = tool("WINTERMUTE_CHROMIUM", "/usr/bin/chromium");
        let driver_bin = tool("WINTERMUTE_CHROMEDRIVER", "/usr/bin/chromedriver");
        let profile = tempfile::Builder::new().prefix("wintermute-chromium-").tempdir()?;
        let port = free_port()?;
        let log = profile.path().join("chromedriver.log");
        let driver = tokio::process::Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", driver_bin.display()))?;
        let url = format!("http://127.0.0.1:{port}");
        wait_for_driver(&url).await?;

        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-extensions".into(),
            "--disable-features=Translate,MediaRouter,OptimizationHints".into(),
            format!("--user-data-dir={}", profile.path().join("profile").display()),
            format!("--window-size={width},{height}"),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium.display().to_string(), "args": args },
        });
        let serde_json::Value::Object(caps) = caps else { bail!("capabilities are not an object") };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&url)
            .await
            .with_context(|| format!("opening a Chromium session through chromedriver (log: {})", log.display()))?;
        let shots = screenshots_dir();
        std::fs::create_dir_all(&shots).with_context(|| format!("creating {}", shots.display()))?;
        Ok(Browser { client: Some(client), driver, _profile: profile, shots, prefix: prefix.to_owned() })
    }

    pub fn client(&self) -> &Client {
        #[allow(clippy::expect_used)] // only None inside close()
        self.client.as_ref().expect("the browser session is open")
    }

    /// Opens `url` and starts collecting what the page writes to the console as errors (a
    /// panic of the app lands there), for the messages of failed waits.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client().goto(url).await.with_context(|| format!("opening {url}"))?;
        self.js("window.__wm_errors = []; const e = console.error; \
             console.error = (...a) => { window.__wm_errors.push(a.map(String).join(' ')); e(...a); }; \
             window.addEventListener('error', (ev) => window.__wm_errors.push(String(ev.message)));")
            .await?;
        Ok(())
    }

    /// Waits until an element matches `css`, and returns it.
    pub async fn find(&self, css: &str) -> anyhow::Result<Element> {
        match self.client().wait().at_most(WAIT).for_element(Locator::Css(css)).await.map_err(|e| anyhow!(e)) {
            Ok(el) => Ok(el),
            Err(e) => Err(e.context(format!("waiting for {css:?} on {}", self.page_hint().await))),
        }
    }

    /// Every element matching `css` now (possibly none).
    pub async fn find_all(&self, css: &str) -> anyhow::Result<Vec<Element>> {
        Ok(self.client().find_all(Locator::Css(css)).await?)
    }

    /// Waits until an element matching `css` has `text` in its text, and returns it.
    pub async fn find_with_text(&self, css: &str, text: &str) -> anyhow::Result<Element> {
        let deadline = Instant::now() + WAIT;
        loop {
            for el in self.find_all(css).await? {
                if el.text().await.is_ok_and(|t| t.contains(text)) {
                    return Ok(el);
                }
            }
            if Instant::now() > deadline {
                bail!("no {css:?} containing {text:?} within {WAIT:?} on {}", self.page_hint().await);
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Clicks the button (or link) matching `css` whose text contains `text`.
    pub async fn click_text(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let el = self.find_with_text(css, text).await?;
        el.click().await.with_context(|| format!("clicking {css:?} {text:?}"))
    }

    /// Types `text` into the field matching `css` (which must be empty).
    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let el = self.find(css).await?;
        el.send_keys(text).await.with_context(|| format!("typing into {css:?}"))
    }

    /// Replaces the text of the field matching `css` as a person would: select all, type.
    pub async fn replace_text(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let el = self.find(css).await?;
        // Control+A (WebDriver key codes: U+E009 Control, U+E000 releases it), then the text.
        el.send_keys(&format!("\u{e009}a\u{e000}{text}")).await.with_context(|| format!("typing into {css:?}"))
    }

    /// Calls `check` until it returns true (or fails after [`WAIT`], saying `what`).
    pub async fn wait_until<F, Fut>(&self, what: &str, mut check: F) -> anyhow::Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<bool>>,
    {
        let deadline = Instant::now() + WAIT;
        let mut last = None;
        loop {
            match check().await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => last = Some(e),
            }
            if Instant::now() > deadline {
                let hint = self.page_hint().await;
                return Err(match last {
                    Some(e) => e.context(format!("timed out waiting for {what} on {hint}")),
                    None => anyhow!("timed out waiting for {what} on {hint}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Runs JavaScript in the page and returns its value.
    pub async fn js(&self, script: &str) -> anyhow::Result<serde_json::Value> {
        Ok(self.client().execute(script, vec![]).await?)
    }

    /// Saves a PNG of the window and returns its path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        // Let a just-started transition or re-render settle.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = self.client().screenshot().await?;
        let path = self.shots.join(format!("{}-{name}.png", self.prefix));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        println!("screenshot: {}", path.display());
        Ok(path)
    }

    pub async fn set_size(&self, width: u32, height: u32) -> anyhow::Result<()> {
        Ok(self.client().set_window_size(width, height).await?)
    }

    /// The page's address, visible text and console errors, for failure messages.
    async fn page_hint(&self) -> String {
        let url = self.client().current_url().await.map(|u| u.to_string()).unwrap_or_default();
        let text = self
            .js("return document.body ? document.body.innerText : '';")
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let text: String = text.chars().take(1500).collect();
        let errors = self.js("return (window.__wm_errors || []).join('\\n');").await.ok();
        let errors = errors.and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        format!("{url}\n--- page text ---\n{text}\n--- console errors ---\n{errors}")
    }

    /// Ends the session and chromedriver.
    pub async fn close(mut self) -> anyhow::Result<()> {
        if let Some(c) = self.client.take() {
            c.close().await.ok();
        }
        self.driver.start_kill().ok();
        self.driver.wait().await.ok();
        Ok(())
    }

    pub fn screenshots(&self) -> &Path {
        &self.shots
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding a free loopback port")?;
    Ok(l.local_addr()?.port())
}

async fn wait_for_driver(url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = http.get(format!("{url}/status")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("chromedriver did not answer {url}/status within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
