//! The desktop app end to end: the real `wintermute-desktop` binary under Xvfb, driven through
//! `tauri-driver` and WebKitWebDriver (WebDriver over HTTP, with `fantoccini`). It starts on a
//! fresh data folder with the first-run screen, runs a core on this computer (the embedded core,
//! its master key in the OS keyring: a gnome-keyring of the test's own on a private D-Bus), logs
//! in, launches an instance on the local provider (a QEMU guest), opens its SSH console and runs
//! a command, opens a second console in a tab and switches between them, sends files of this
//! computer to the instance with the app's upload command and fetches files and a folder back
//! with its download command (the ones the native pickers feed: pickers are native dialogs
//! WebDriver cannot drive), and opens the console in a window of its own. Screenshots go to the
//! browser tests' folder, named `desktop-*`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const WAIT: Duration = Duration::from_secs(90);
const ADMIN_PASSWORD: &str = "Wintermute-Desk-Pass-42";

fn tool(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env).filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default))
}

fn tauri_driver() -> PathBuf {
    std::env::var_os("WINTERMUTE_TAURI_DRIVER").filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/wintermute/tools/bin/tauri-driver")
    })
}

fn image_dir() -> PathBuf {
    std::env::var_os("WINTERMUTE_IMAGE_DIR")
        .map(PathBuf::from)
        .or_else(wintermute_cloud_local::image::default_image_dir)
        .unwrap()
}

/// The app binary and every tool the test needs, or None (a skip) when one is missing outside CI.
fn prerequisites() -> Option<PathBuf> {
    let mut missing = Vec::new();
    let app = wintermute_tests::binary::bin_path("wintermute-desktop");
    if let Err(e) = &app {
        missing.push(format!("the app ({e})"));
    }
    for (what, path) in [
        ("tauri-driver", tauri_driver()),
        ("WebKitWebDriver", tool("WINTERMUTE_WEBKIT_DRIVER", "/usr/bin/WebKitWebDriver")),
        ("Xvfb", PathBuf::from("/usr/bin/Xvfb")),
        ("dbus-daemon", PathBuf::from("/usr/bin/dbus-daemon")),
        ("gnome-keyring-daemon", PathBuf::from("/usr/bin/gnome-keyring-daemon")),
    ] {
        if !path.is_file() {
            missing.push(format!("{what} ({})", path.display()));
        }
    }
    if wintermute_cloud_local::find_program(wintermute_cloud_local::QEMU_SYSTEM.0).is_none() {
        missing.push("QEMU".into());
    }
    if wintermute_cloud_local::image::find_built_image(&image_dir()).is_none() {
        missing.push(format!("the guest image in {}", image_dir().display()));
    }
    if missing.is_empty() {
        return app.ok();
    }
    let what = format!("the desktop test needs {} (scripts/test-all installs them: need_desktop)", missing.join(", "));
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{what}");
    eprintln!("SKIPPED: {what}");
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Xvfb, a private D-Bus with an unlocked gnome-keyring, tauri-driver, and the WebDriver session
/// of the app. Dropped children are killed; tauri-driver gets SIGTERM first (so it stops its
/// WebKitWebDriver instead of orphaning it).
struct Desktop {
    client: Option<Client>,
    driver: Child,
    _keyring: Child,
    _dbus: Child,
    _xvfb: Child,
    shots: PathBuf,
}

impl Desktop {
    async fn start(app: &Path, home: &Path, data_dir: &Path) -> anyhow::Result<Desktop> {
        // Xvfb on a display number it chooses (-displayfd writes it when it is ready).
        let mut xvfb = Command::new("/usr/bin/Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1400x950x24", "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting Xvfb")?;
        let mut line = String::new();
        BufReader::new(xvfb.stdout.take().unwrap()).read_line(&mut line).await?;
        let display = format!(":{}", line.trim());

        let runtime = home.join("run");
        std::fs::create_dir_all(&runtime)?;
        std::fs::set_permissions(&runtime, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let env: Vec<(String, String)> = vec![
            ("HOME".into(), home.display().to_string()),
            ("XDG_RUNTIME_DIR".into(), runtime.display().to_string()),
            ("XDG_DATA_HOME".into(), home.join("data").display().to_string()),
            ("XDG_CONFIG_HOME".into(), home.join("config").display().to_string()),
            ("XDG_CACHE_HOME".into(), home.join("cache").display().to_string()),
            ("DISPLAY".into(), display),
        ];
        let mut dbus = Command::new("/usr/bin/dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .envs(env.clone())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting dbus-daemon")?;
        let mut addr = String::new();
        BufReader::new(dbus.stdout.take().unwrap()).read_line(&mut addr).await?;
        let mut env = env;
        env.push(("DBUS_SESSION_BUS_ADDRESS".into(), addr.trim().to_owned()));
        // An unlocked login keyring serving the Secret Service (the password comes on stdin).
        let mut keyring = Command::new("/usr/bin/gnome-keyring-daemon")
            .args(["--unlock", "--components=secrets", "--foreground"])
            .envs(env.clone())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting gnome-keyring-daemon")?;
        let mut stdin = keyring.stdin.take().unwrap();
        stdin.write_all(b"test-keyring-password").await?;
        drop(stdin);
        tokio::time::sleep(Duration::from_millis(500)).await;

        let port = free_port();
        let native = free_port();
        let log = std::fs::File::create(home.join("tauri-driver.log"))?;
        let driver = Command::new(tauri_driver())
            .args(["--port", &port.to_string(), "--native-port", &native.to_string()])
            .arg("--native-driver")
            .arg(tool("WINTERMUTE_WEBKIT_DRIVER", "/usr/bin/WebKitWebDriver"))
            .envs(env)
            .env("WINTERMUTE_DESKTOP_DATA_DIR", data_dir)
            .env("WMAIS__LOCAL__IMAGE_DIR", image_dir())
            .env("RUST_LOG", "info,sqlx=warn,tower_http=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting tauri-driver")?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !http.get(format!("{url}/status")).send().await.is_ok_and(|r| r.status().is_success()) {
            if Instant::now() > deadline {
                bail!("tauri-driver did not answer on {url}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let caps = json!({ "tauri:options": { "application": app.display().to_string() } });
        let serde_json::Value::Object(caps) = caps else { bail!("capabilities are not an object") };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .with_context(|| {
                format!("starting the app through tauri-driver (log: {})", home.join("tauri-driver.log").display())
            })?;
        let shots = wintermute_tests::browser::screenshots_dir();
        std::fs::create_dir_all(&shots)?;
        Ok(Desktop { client: Some(client), driver, _keyring: keyring, _dbus: dbus, _xvfb: xvfb, shots })
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    async fn find(&self, css: &str) -> anyhow::Result<Element> {
        match self.c().wait().at_most(WAIT).for_element(Locator::Css(css)).await {
            Ok(el) => Ok(el),
            Err(e) => Err(anyhow!(e).context(format!("waiting for {css:?} on {}", self.hint().await))),
        }
    }

    async fn count(&self, css: &str) -> usize {
        self.c().find_all(Locator::Css(css)).await.map(|v| v.len()).unwrap_or(0)
    }

    async fn find_with_text(&self, css: &str, text: &str) -> anyhow::Result<Element> {
        let deadline = Instant::now() + WAIT;
        loop {
            for el in self.c().find_all(Locator::Css(css)).await.unwrap_or_default() {
                if el.text().await.is_ok_and(|t| t.contains(text)) {
                    return Ok(el);
                }
            }
            if Instant::now() > deadline {
                bail!("no {css:?} containing {text:?} on {}", self.hint().await);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn click_text(&self, css: &str, text: &str) -> anyhow::Result<()> {
        self.find_with_text(css, text).await?.click().await.with_context(|| format!("clicking {css:?} {text:?}"))
    }

    /// Clicks through the page's script (WebKitWebDriver refuses clicks on the menu of a row's
    /// Actions button, which opens over the table's edge).
    async fn js_click_text(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let el = self.find_with_text(css, text).await?;
        self.c().execute("arguments[0].click();", vec![serde_json::to_value(el)?]).await?;
        Ok(())
    }

    async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        self.find(css).await?.send_keys(text).await.with_context(|| format!("typing into {css:?}"))
    }

    async fn js(&self, script: &str) -> anyhow::Result<serde_json::Value> {
        Ok(self.c().execute(script, vec![]).await?)
    }

    /// Runs an asynchronous script: it calls `done(value)` (the last argument) when finished.
    async fn js_async(&self, script: &str, args: Vec<serde_json::Value>) -> anyhow::Result<serde_json::Value> {
        Ok(self.c().execute_async(script, args).await?)
    }

    async fn wait_until<F, Fut>(&self, what: &str, limit: Duration, mut check: F) -> anyhow::Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + limit;
        while !check().await {
            if Instant::now() > deadline {
                bail!("timed out waiting for {what} on {}", self.hint().await);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        Ok(())
    }

    async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let png = self.c().screenshot().await?;
        let path = self.shots.join(format!("desktop-{name}.png"));
        std::fs::write(&path, png)?;
        println!("screenshot: {}", path.display());
        Ok(path)
    }

    /// Switches to the window that is not `old` once there is one, and returns its handle.
    async fn switch_to_new_window(&self, old: &[fantoccini::wd::WindowHandle]) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let now = self.c().windows().await?;
            if let Some(w) = now.into_iter().find(|w| !old.contains(w)) {
                self.c().switch_to_window(w).await?;
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("no new window opened; the page: {}", self.hint().await);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn hint(&self) -> String {
        let text = self
            .js("return document.body ? document.body.innerText : '';")
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        text.chars().take(1500).collect()
    }

    async fn terminal_text(&self) -> String {
        let v = self
            .js("const r = document.querySelector('.console-panel:not([hidden]) .terminal .xterm-rows'); return r ? r.innerText : '';")
            .await
            .unwrap_or_default();
        v.as_str().unwrap_or_default().to_owned()
    }

    async fn type_line(&self, line: &str) -> anyhow::Result<()> {
        let el = self.find(".console-panel:not([hidden]) .terminal .xterm-helper-textarea").await?;
        el.send_keys(&format!("{line}\u{e007}")).await?;
        Ok(())
    }

    /// Ends the session (the app quits), then stops tauri-driver with SIGTERM.
    async fn close(mut self) {
        if let Some(c) = self.client.take() {
            let _ = c.close().await;
        }
        if let Some(pid) = self.driver.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.driver.wait()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desktop_app_runs_a_core_launches_an_instance_opens_its_console_and_uploads_a_file() {
    let Some(app) = prerequisites() else { return };
    let home = tempfile::Builder::new().prefix("wintermute-desktop-home-").tempdir().unwrap();
    let data_dir = home.path().join("app-data");
    let d = Desktop::start(&app, home.path(), &data_dir).await.unwrap();

    // First run: the setup screen. The passwords must match before anything starts.
    d.find(".desktop-setup").await.unwrap();
    d.screenshot("01-first-run").await.unwrap();
    d.type_into("input[name=admin_password]", ADMIN_PASSWORD).await.unwrap();
    d.type_into("input[name=repeat_password]", "something-else-1234").await.unwrap();
    d.click_text(".setup-embedded button[type=submit]", "Run a core here").await.unwrap();
    d.find_with_text(".setup-embedded .error", "differ").await.unwrap();
    // A shared core that is not there: the app says so.
    d.type_into("input[name=core_url]", "http://127.0.0.1:9").await.unwrap();
    d.click_text(".setup-remote button[type=submit]", "Connect").await.unwrap();
    d.find_with_text(".setup-remote .error", "cannot be reached").await.unwrap();
    d.screenshot("02-first-run-errors").await.unwrap();
    d.find("input[name=repeat_password]").await.unwrap().clear().await.unwrap();
    d.type_into("input[name=repeat_password]", ADMIN_PASSWORD).await.unwrap();
    let before = d.c().windows().await.unwrap();
    d.click_text(".setup-embedded button[type=submit]", "Run a core here").await.unwrap();

    // The app opens its window on the embedded core: the login screen.
    d.switch_to_new_window(&before).await.unwrap();
    d.find("form.auth-card input[name=login]").await.unwrap();
    let bridge = d.js("return window.__WINTERMUTE_DESKTOP__;").await.unwrap();
    let core_url = bridge["core"].as_str().unwrap().to_owned();
    assert!(core_url.starts_with("http://127.0.0.1:"), "the embedded core is on loopback: {bridge}");
    assert!(bridge["token"].is_null());
    assert!(std::fs::read_to_string(data_dir.join("desktop.json")).unwrap().contains("embedded"));
    // Its master key is in the keyring, not in a file of the data folder.
    assert!(!data_dir.join("core/master.key").exists(), "no master key file next to the embedded core");
    d.screenshot("03-login").await.unwrap();
    d.type_into("input[name=login]", "admin").await.unwrap();
    d.type_into("input[name=password]", ADMIN_PASSWORD).await.unwrap();
    d.click_text("button[type=submit]", "Log in").await.unwrap();
    d.find_with_text("h1", "Dashboard").await.unwrap();
    // The token went to the OS keyring, not to the page's storage.
    let stored = d.js("return window.localStorage.getItem('wintermute.token');").await.unwrap();
    assert!(stored.is_null(), "the desktop app keeps no token in the page's storage: {stored}");
    d.screenshot("04-dashboard").await.unwrap();

    // The local provider and its Debian image (set up by the embedded core's first start).
    let mut admin = wintermute_api::client::Client::new(&core_url).unwrap();
    admin.login("admin", ADMIN_PASSWORD).await.unwrap();
    wintermute_tests::local_debian_image(&admin).await.unwrap();

    // Launch an instance through the Create Instance dialog.
    d.click_text("nav.nav a", "Instances").await.unwrap();
    d.find_with_text("h1", "Instances").await.unwrap();
    d.click_text(".page-head button", "Launch new instance").await.unwrap();
    d.find_with_text(".modal select[name=image] option", "debian-12").await.unwrap();
    d.find(".modal select[name=instance_type] option[value='local.small']").await.unwrap();
    d.find(".modal select[name=instance_type]").await.unwrap().select_by_value("local.small").await.unwrap();
    d.type_into(".modal input[name=name]", "desk-1").await.unwrap();
    d.click_text(".modal .tabs button", "Storage").await.unwrap();
    d.find(".modal input[name=storage_mode][value=none]").await.unwrap().click().await.unwrap();
    d.click_text(".modal .tabs button", "Summary").await.unwrap();
    d.find_with_text(".modal dl.summary", "desk-1").await.unwrap();
    d.screenshot("05-launch").await.unwrap();
    d.click_text(".modal button[type=submit]", "Create").await.unwrap();
    d.wait_until("the dialog to close", WAIT, || async { d.count(".modal").await == 0 }).await.unwrap();
    let instance = admin.instances(false).await.unwrap().into_iter().find(|i| i.name == "desk-1").unwrap();
    let row = "tr[data-instance=desk-1][data-status=running]";
    let deadline = Instant::now() + Duration::from_secs(900);
    while d.count(row).await == 0 {
        let now = admin.instance(instance.id).await.unwrap();
        assert!(
            now.status != wintermute_api::instances::InstanceStatus::Failed,
            "the launch failed: {}",
            now.status_message
        );
        assert!(Instant::now() < deadline, "desk-1 is not running after 15 minutes: {:?}", now.status);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    d.screenshot("06-instance-running").await.unwrap();

    // Its SSH console, in the main window.
    d.click_text("tr[data-instance=desk-1] button", "Actions").await.unwrap();
    d.js_click_text("tr[data-instance=desk-1] .dropdown a", "SSH console").await.unwrap();
    d.find_with_text("h1", "Console: desk-1").await.unwrap();
    d.find_with_text("[data-testid=console-state]", "connected").await.unwrap();
    d.type_line("echo desk-$((6*7))-ok").await.unwrap();
    d.wait_until("the command's output", WAIT, || async { d.terminal_text().await.contains("desk-42-ok") })
        .await
        .unwrap();
    d.screenshot("07-console").await.unwrap();

    // A second console of the same instance in a tab of its own: a session of its own.
    d.click_text(".console-tabs .tab-new", "New tab").await.unwrap();
    d.find_with_text(".console-tab.active .tab-label", "desk-1 (2)").await.unwrap();
    d.find_with_text(".console-panel:not([hidden]) [data-testid=console-state]", "connected").await.unwrap();
    assert_eq!(d.count(".console-panel").await, 2);
    d.type_line("echo tab-$((2*50))-two").await.unwrap();
    d.wait_until("the second tab's output", WAIT, || async { d.terminal_text().await.contains("tab-100-two") })
        .await
        .unwrap();
    assert!(!d.terminal_text().await.contains("desk-42-ok"), "the second tab shows the first one's output");
    d.screenshot("07a-console-second-tab").await.unwrap();
    // Back to the first tab: its output is still there, its terminal fills the panel again and its
    // session still answers.
    d.find(".console-tab[data-tab='1'] .tab-label").await.unwrap().click().await.unwrap();
    d.find_with_text("h1", "Console: desk-1").await.unwrap();
    d.wait_until("the first tab's output", WAIT, || async {
        let t = d.terminal_text().await;
        t.contains("desk-42-ok") && !t.contains("tab-100-two")
    })
    .await
    .unwrap();
    let widths = d
        .js("const p = document.querySelector('.console-panel:not([hidden])'); \
             return [p.querySelector('.terminal').clientWidth, p.querySelector('.xterm-screen').clientWidth];")
        .await
        .unwrap();
    let (panel, screen) = (widths[0].as_f64().unwrap(), widths[1].as_f64().unwrap());
    assert!(screen > panel * 0.8 && screen <= panel, "the terminal is not fitted to its panel: {widths}");
    d.type_line("echo first-again-$((3*3))").await.unwrap();
    d.wait_until("the first tab answering", WAIT, || async { d.terminal_text().await.contains("first-again-9") })
        .await
        .unwrap();
    // Closing the second tab ends its session (the core records its end) and keeps the first.
    d.find(".console-tab[data-tab='2'] .tab-close").await.unwrap().click().await.unwrap();
    d.wait_until("the second tab to close", WAIT, || async {
        d.count(".console-tab").await == 1 && d.count(".console-panel").await == 1
    })
    .await
    .unwrap();
    let sessions_url = format!("{}/api/v1/instances/{}/console-sessions", core_url.trim_end_matches('/'), instance.id);
    d.wait_until("the closed tab's session to end", WAIT, || async {
        let page: serde_json::Value = reqwest::Client::new()
            .get(&sessions_url)
            .bearer_auth(admin.token().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().cloned().unwrap_or_default();
        items.len() == 2 && items.iter().filter(|s| s["ended_at"].is_string()).count() == 1
    })
    .await
    .unwrap();
    assert!(d.terminal_text().await.contains("first-again-9"));
    d.screenshot("07b-console-tab-closed").await.unwrap();

    // A file of this computer to the instance: the app's upload command, as the picker feeds it.
    let local = home.path().join("workstation");
    std::fs::create_dir_all(&local).unwrap();
    let file = local.join("report.txt");
    std::fs::write(&file, "from-the-workstation-7d1e\n").unwrap();
    let token = admin.token().unwrap().to_owned();
    let sent = d
        .js_async(
            "const [token, id, path, done] = arguments; \
             window.__TAURI_INTERNALS__.invoke('upload_paths', {token, instance_id: id, target: '~/uploads', paths: [path]}) \
               .then((r) => done({ok: r}), (e) => done({err: e}));",
            vec![json!(token), json!(instance.id), json!(file.display().to_string())],
        )
        .await
        .unwrap();
    assert_eq!(sent["ok"]["files"], 1, "{sent}");
    assert_eq!(sent["ok"]["bytes"], 26, "{sent}");
    // The page followed the transfer through the app's progress events.
    d.find_with_text("[data-testid=transfer-status]", "Upload done: 1 files, 26 bytes").await.unwrap();
    d.type_line("cat ~/uploads/report.txt").await.unwrap();
    d.wait_until("the uploaded file on the instance", WAIT, || async {
        d.terminal_text().await.contains("from-the-workstation-7d1e")
    })
    .await
    .unwrap();
    d.screenshot("08-uploaded").await.unwrap();

    // A refusal of the core crosses the bridge as the core's code and message.
    let refused = d
        .js_async(
            "const [token, path, done] = arguments; \
             window.__TAURI_INTERNALS__.invoke('upload_paths', {token, instance_id: 999999, target: '~/x', paths: [path]}) \
               .then((r) => done({ok: r}), (e) => done({err: e}));",
            vec![json!(token), json!(file.display().to_string())],
        )
        .await
        .unwrap();
    assert_eq!(refused["err"]["kind"], "core", "{refused}");
    assert_eq!(refused["err"]["code"], "not_found", "{refused}");
    assert!(refused["err"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{refused}");

    // Files of the instance to this computer: the app's download command, as the native save or
    // folder picker feeds it. First a folder (sent there with the upload command) ...
    let results = local.join("results");
    std::fs::create_dir_all(results.join("deep")).unwrap();
    let blob: Vec<u8> = (0..700_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(results.join("deep/blob.bin"), &blob).unwrap();
    std::fs::write(results.join("notes.txt"), "notes-3c5a\n").unwrap();
    let call = |cmd: &'static str, args: serde_json::Value| {
        let d = &d;
        async move {
            d.js_async(
                "const [cmd, args, done] = arguments; \
                 window.__TAURI_INTERNALS__.invoke(cmd, args).then((r) => done({ok: r}), (e) => done({err: e}));",
                vec![json!(cmd), args],
            )
            .await
            .unwrap()
        }
    };
    let sent = call(
        "upload_paths",
        json!({"token": token, "instance_id": instance.id, "target": "~/uploads", "paths": [results.display().to_string()]}),
    )
    .await;
    assert_eq!(sent["ok"]["files"], 2, "{sent}");
    let back = home.path().join("downloads");
    std::fs::create_dir_all(&back).unwrap();
    let got = call(
        "download_to",
        json!({"token": token, "instance_id": instance.id, "source": "~/uploads/results",
               "dest": back.join("results").display().to_string()}),
    )
    .await;
    assert_eq!(got["ok"]["files"], 2, "{got}");
    assert_eq!(got["ok"]["bytes"], 700_000 + 11, "{got}");
    assert_eq!(std::fs::read(back.join("results/deep/blob.bin")).unwrap(), blob);
    assert_eq!(std::fs::read_to_string(back.join("results/notes.txt")).unwrap(), "notes-3c5a\n");
    d.find_with_text("[data-testid=transfer-status]", "Download done: 2 files, 700011 bytes").await.unwrap();
    d.screenshot("08a-downloaded").await.unwrap();
    // ... then one file, with the instance's time ...
    let got = call(
        "download_to",
        json!({"token": token, "instance_id": instance.id, "source": "~/uploads/report.txt",
               "dest": back.join("report copy.txt").display().to_string()}),
    )
    .await;
    assert_eq!(got["ok"]["files"], 1, "{got}");
    assert_eq!(std::fs::read(back.join("report copy.txt")).unwrap(), std::fs::read(&file).unwrap());
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let secs = |p: &Path| mtime(p).duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(secs(&back.join("report copy.txt")), secs(&file));
    // ... and a partial copy left by a cut download goes on from its bytes (marked here so that
    // what is kept shows), not from the start.
    let part = back.join(format!(".blob.bin.{:x}-{:x}.wmpart", blob.len(), secs(&results.join("deep/blob.bin"))));
    std::fs::write(&part, vec![b'#'; 100_000]).unwrap();
    let got = call(
        "download_to",
        json!({"token": token, "instance_id": instance.id, "source": "~/uploads/results/deep/blob.bin",
               "dest": back.join("blob.bin").display().to_string()}),
    )
    .await;
    assert_eq!(got["ok"]["bytes"], 700_000, "{got}");
    let resumed = std::fs::read(back.join("blob.bin")).unwrap();
    assert_eq!(resumed.len(), blob.len());
    assert!(resumed[..100_000].iter().all(|b| *b == b'#'), "the partial copy was fetched again");
    assert_eq!(resumed[100_000..], blob[100_000..]);
    assert!(!part.exists());
    // Refusals: the core's code and message; nothing there, in words.
    let refused = call(
        "download_to",
        json!({"token": token, "instance_id": 999999, "source": "~/x", "dest": back.join("x").display().to_string()}),
    )
    .await;
    assert_eq!(refused["err"]["kind"], "core", "{refused}");
    assert_eq!(refused["err"]["code"], "not_found", "{refused}");
    let missing = call(
        "download_to",
        json!({"token": token, "instance_id": instance.id, "source": "~/no-such-file",
               "dest": back.join("y").display().to_string()}),
    )
    .await;
    assert_eq!(missing["err"]["kind"], "invalid", "{missing}");
    assert!(missing["err"]["message"].as_str().is_some_and(|m| m.contains("does not exist")), "{missing}");
    assert!(!back.join("y").exists());

    // The console in a window of its own.
    let before = d.c().windows().await.unwrap();
    d.click_text(".desktop-tools button", "Open in new window").await.unwrap();
    d.switch_to_new_window(&before).await.unwrap();
    d.find_with_text("h1", "Console: desk-1").await.unwrap();
    d.find_with_text("[data-testid=console-state]", "connected").await.unwrap();
    d.type_line("hostname; echo second-window-$((40+2))").await.unwrap();
    d.wait_until("output in the console window", WAIT, || async {
        d.terminal_text().await.contains("second-window-42")
    })
    .await
    .unwrap();
    d.screenshot("09-console-window").await.unwrap();

    // The guest is a QEMU process of its own: terminate it before the app and its core stop.
    admin.instance_action(instance.id, wintermute_api::instances::InstanceAction::Terminate).await.unwrap();
    let terminated = wintermute_api::instances::InstanceStatus::Terminated;
    wintermute_tests::instance_reaches(&admin, instance.id, terminated, Duration::from_secs(180)).await.unwrap();
    d.close().await;
}
