//! A `wmais serve` process for a test: start, health wait, admin login, kill, terminate, restart.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;
use wintermute_api::client::Client;
use wintermute_api::ErrorCode;

use crate::binary::bin_path;

/// The password [`Core::admin_client`] gives the `admin` account in place of the temporary one.
pub const ADMIN_PASSWORD: &str = "Adm1n-Strong-Pass";

/// How long [`Core::start`] waits for `/api/v1/health` by default.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// How long [`Core::terminate`] waits for the process to exit after SIGTERM.
pub const TERMINATE_TIMEOUT: Duration = Duration::from_secs(20);

const STDOUT_LOG: &str = "core.stdout.log";
const STDERR_LOG: &str = "core.stderr.log";
/// Written by the harness once it has replaced the admin's temporary password.
const ADMIN_MARKER: &str = ".test-admin-password-changed";

/// The data directory of a core: a temporary one (removed when the last handle goes) or a given path.
#[derive(Debug, Clone)]
pub enum DataDir {
    Temp(Arc<TempDir>),
    Path(PathBuf),
}

impl DataDir {
    /// A new, empty temporary directory (mode 0700).
    pub fn temp() -> anyhow::Result<DataDir> {
        let dir =
            tempfile::Builder::new().prefix("wintermute-e2e-").tempdir().context("creating a temporary data dir")?;
        Ok(DataDir::Temp(Arc::new(dir)))
    }

    pub fn path(&self) -> &Path {
        match self {
            DataDir::Temp(t) => t.path(),
            DataDir::Path(p) => p,
        }
    }
}

/// How to start a core. Every field is optional; see the builder methods.
#[derive(Debug, Clone, Default)]
pub struct CoreOptions {
    /// The `wmais` binary; default [`bin_path`]`("wmais")`.
    pub binary: Option<PathBuf>,
    /// Default: a new temporary directory.
    pub data_dir: Option<DataDir>,
    /// Extra environment, e.g. `("WMAIS__DEBUG__TEST_TASKS", "true")`.
    pub env: Vec<(String, String)>,
    /// Extra arguments after `serve`.
    pub args: Vec<String>,
    /// `--database URL`; default SQLite in the data dir.
    pub database: Option<String>,
    /// Default [`STARTUP_TIMEOUT`].
    pub startup_timeout: Option<Duration>,
}

impl CoreOptions {
    pub fn new() -> CoreOptions {
        CoreOptions::default()
    }

    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    pub fn data_dir(mut self, dir: DataDir) -> Self {
        self.data_dir = Some(dir);
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn database(mut self, url: impl Into<String>) -> Self {
        self.database = Some(url.into());
        self
    }

    /// `--database URL` when `url` is `Some`, else the default SQLite.
    pub fn maybe_database(mut self, url: Option<&str>) -> Self {
        self.database = url.map(str::to_owned);
        self
    }

    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = Some(timeout);
        self
    }
}

/// A running (or stopped) `wmais serve` process.
#[derive(Debug)]
pub struct Core {
    child: Option<tokio::process::Child>,
    pid: u32,
    url: String,
    opts: CoreOptions,
    data_dir: DataDir,
}

impl Core {
    /// Starts `wmais serve` and waits until `GET /api/v1/health` answers `ok`.
    pub async fn start(opts: CoreOptions) -> anyhow::Result<Core> {
        let data_dir = match &opts.data_dir {
            Some(d) => d.clone(),
            None => DataDir::temp()?,
        };
        let opts = CoreOptions { data_dir: Some(data_dir.clone()), ..opts };
        let (child, pid, url) = spawn_and_wait(&opts, data_dir.path()).await?;
        Ok(Core { child: Some(child), pid, url, opts, data_dir })
    }

    /// Starts the core again with the same options and data dir (on a new port) after
    /// [`kill`](Core::kill) or [`terminate`](Core::terminate). Clients made before point to the old port.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if self.is_running()? {
            bail!("the core (pid {}) is still running; kill or terminate it before a restart", self.pid);
        }
        let (child, pid, url) = spawn_and_wait(&self.opts, self.data_dir.path()).await?;
        self.child = Some(child);
        self.pid = pid;
        self.url = url;
        Ok(())
    }

    /// The options this core was started with, its data dir included (for a second core on the same dir).
    pub fn options(&self) -> CoreOptions {
        self.opts.clone()
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// A shareable handle on the data dir (keeps a temporary one alive).
    pub fn data_dir_handle(&self) -> DataDir {
        self.data_dir.clone()
    }

    /// Whether the process is still alive (reaps it if it exited).
    pub fn is_running(&mut self) -> anyhow::Result<bool> {
        match &mut self.child {
            Some(c) => Ok(c.try_wait()?.is_none()),
            None => Ok(false),
        }
    }

    /// The temporary admin password of `<data-dir>/install.log`.
    pub fn admin_password(&self) -> anyhow::Result<String> {
        let path = self.data_dir().join("install.log");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == "Password")
            .map(|(_, v)| v.trim().to_owned())
            .filter(|p| !p.is_empty())
            .ok_or_else(|| anyhow!("{} has no \"Password: ...\" line:\n{text}", path.display()))
    }

    /// A client of this core, not logged in.
    pub fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::new(&self.url)?)
    }

    /// A client logged in as `admin` with [`ADMIN_PASSWORD`]. The first time, it logs in with the
    /// temporary password of `install.log` and replaces it. Safe to call any number of times.
    pub async fn admin_client(&self) -> anyhow::Result<Client> {
        let marker = self.data_dir().join(ADMIN_MARKER);
        let mut c = self.client()?;
        if marker.exists() {
            // Known to be changed already: no failed login (the core throttles them).
            c.login("admin", ADMIN_PASSWORD).await.context("logging in as admin with the strong password")?;
            return Ok(c);
        }
        if let Ok(temp) = self.admin_password() {
            match c.login("admin", &temp).await {
                Ok(_) => {
                    if temp != ADMIN_PASSWORD {
                        c.change_password(&temp, ADMIN_PASSWORD)
                            .await
                            .context("replacing the admin's temporary password")?;
                    }
                    std::fs::write(&marker, b"")?;
                    // A fresh session, whatever the password change did to the old one.
                    c.login("admin", ADMIN_PASSWORD).await.context("logging in as admin after the password change")?;
                    return Ok(c);
                }
                Err(e) if e.code() == Some(ErrorCode::InvalidCredentials) => {}
                Err(e) => return Err(anyhow!(e).context("logging in as admin with the temporary password")),
            }
        }
        c.login("admin", ADMIN_PASSWORD).await.context("logging in as admin with the strong password")?;
        std::fs::write(&marker, b"")?;
        Ok(c)
    }

    /// Crash: SIGKILL, then waits for the process.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            c.start_kill().ok();
            c.wait().await.context("waiting for the killed core")?;
        }
        Ok(())
    }

    /// Graceful stop: SIGTERM, then waits up to [`TERMINATE_TIMEOUT`] for the process to exit
    /// (after which it is killed and this fails). Returns the exit status.
    pub async fn terminate(&mut self) -> anyhow::Result<ExitStatus> {
        let Some(mut c) = self.child.take() else { bail!("the core is not running") };
        if let Some(status) = c.try_wait()? {
            bail!("the core had already exited ({status}) before SIGTERM");
        }
        let pid = i32::try_from(self.pid).context("pid out of range")?;
        kill(Pid::from_raw(pid), Signal::SIGTERM).context("sending SIGTERM")?;
        match tokio::time::timeout(TERMINATE_TIMEOUT, c.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                c.start_kill().ok();
                c.wait().await.ok();
                bail!("the core did not exit within {TERMINATE_TIMEOUT:?} after SIGTERM (killed it)")
            }
        }
    }

    /// Everything the core printed so far (all starts on this data dir).
    pub fn logs(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.data_dir().join(name)).unwrap_or_default();
        format!("--- {STDOUT_LOG} ---\n{}\n--- {STDERR_LOG} ---\n{}", read(STDOUT_LOG), read(STDERR_LOG))
    }

    /// The last `n` lines of [`logs`](Core::logs) of each stream.
    pub fn logs_tail(&self, n: usize) -> String {
        let tail = |name: &str| {
            let text = std::fs::read_to_string(self.data_dir().join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        };
        format!("--- {STDOUT_LOG} (tail) ---\n{}\n--- {STDERR_LOG} (tail) ---\n{}", tail(STDOUT_LOG), tail(STDERR_LOG))
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            c.start_kill().ok();
            c.try_wait().ok();
        }
        if std::thread::panicking() {
            eprintln!("core at {} (data dir {}):\n{}", self.url, self.data_dir().display(), self.logs_tail(200));
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding a free loopback port")?;
    Ok(l.local_addr()?.port())
}

/// Opens a log file for appending and returns it with its current length (where this start's output begins).
fn open_log(dir: &Path, name: &str, header: &str) -> anyhow::Result<(std::fs::File, u64)> {
    let path = dir.join(name);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.write_all(header.as_bytes())?;
    let len = f.metadata()?.len();
    Ok((f, len))
}

fn read_from(dir: &Path, name: &str, offset: u64) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(dir.join(name)) {
        if f.seek(SeekFrom::Start(offset)).is_ok() {
            let mut buf = Vec::new();
            f.read_to_end(&mut buf).ok();
            s = String::from_utf8_lossy(&buf).into_owned();
        }
    }
    s
}

async fn spawn_and_wait(opts: &CoreOptions, dir: &Path) -> anyhow::Result<(tokio::process::Child, u32, String)> {
    let bin = match &opts.binary {
        Some(b) => b.clone(),
        None => bin_path("wmais")?,
    };
    let timeout = opts.startup_timeout.unwrap_or(STARTUP_TIMEOUT);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let url = format!("http://{listen}/");
        let header = format!("\n=== wmais serve --listen {listen} (start {attempt}) ===\n");
        let (out, _) = open_log(dir, STDOUT_LOG, &header)?;
        let (err, err_offset) = open_log(dir, STDERR_LOG, &header)?;
        let mut cmd = tokio::process::Command::new(&bin);
        cmd.arg("serve").arg("--data-dir").arg(dir).arg("--listen").arg(&listen);
        if let Some(db) = &opts.database {
            cmd.arg("--database").arg(db);
        }
        cmd.args(&opts.args)
            // Plain log files (tracing-subscriber honours NO_COLOR); `opts.env` may override it.
            .env("NO_COLOR", "1")
            .envs(opts.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        let mut child = cmd.spawn().with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id().ok_or_else(|| anyhow!("the core exited at once"))?;
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                let stderr = read_from(dir, STDERR_LOG, err_offset);
                if attempt < 3 && stderr.to_lowercase().contains("address already in use") {
                    break; // the port was taken between picking and binding: try another
                }
                bail!("the core exited during startup ({status}); its stderr:\n{stderr}");
            }
            if healthy(&http, &url).await {
                return Ok((child, pid, url));
            }
            if started.elapsed() > timeout {
                child.start_kill().ok();
                child.wait().await.ok();
                let stderr = read_from(dir, STDERR_LOG, err_offset);
                bail!("the core did not answer {url}api/v1/health within {timeout:?}; its stderr:\n{stderr}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn healthy(http: &reqwest::Client, url: &str) -> bool {
    let Ok(resp) = http.get(format!("{url}api/v1/health")).send().await else { return false };
    if !resp.status().is_success() {
        return false;
    }
    match resp.json::<serde_json::Value>().await {
        Ok(v) => v.get("status").and_then(|s| s.as_str()) == Some("ok"),
        Err(_) => false,
    }
}
