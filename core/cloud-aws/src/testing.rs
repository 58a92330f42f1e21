//! The local EC2 emulator (`moto` in server mode) for tests (cargo feature `test-moto`), used by
//! this crate's tests and by the engine's provider tests.
//!
//! [`moto`] starts one `moto_server` on a free loopback port the first time a test asks (one
//! per test binary), then hands it to one test at a time with its state reset
//! (`POST /moto-api/reset`). The binary is `$WINTERMUTE_MOTO_SERVER`, else
//! `~/.cache/wintermute/venv/bin/moto_server` (`scripts/test-all` installs it). When it is
//! missing, tests are skipped with a note — except under CI (`CI` set), where they fail.
//!
//! The server is killed when its [`Moto`] is dropped, and also when the test binary exits
//! in any way: it runs under a small shell that kills it once our end of its stdin closes.
//!
//! Emulator limits to keep in mind: state changes are instant; DetachVolume needs the
//! InstanceId; the public (54.x) and private (10.x) addresses it invents are not real —
//! never connect to them. [`Moto::start_loopback`] starts one whose public addresses are
//! loopback addresses a test chose (and forwards to a real machine).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{AwsProvider, AwsSettings};
use tokio::sync::{Mutex, MutexGuard};
use wintermute_custody::SecretString;

/// The region the tests use.
pub const REGION: &str = "us-east-1";

/// The emulator's validation switches: unknown images, instance types and key pairs are refused
/// as EC2 would refuse them.
const VALIDATION: [(&str, &str); 3] = [
    ("MOTO_ENABLE_AMI_VALIDATION", "true"),
    ("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true"),
    ("MOTO_ENABLE_KEYPAIR_VALIDATION", "true"),
];

/// A running `moto_server`.
pub struct Moto {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    /// The folder of [`Moto::start_loopback`]'s wrapper script.
    _wrapper: Option<tempfile::TempDir>,
}

/// The wrapper [`Moto::start_loopback`] runs (see the file).
const LOOPBACK_WRAPPER: &str = include_str!("moto_loopback.py");

impl Moto {
    /// Starts a server of its own (with the validation switches and `extra_env`); `None`
    /// when the binary is missing and we are not under CI.
    pub fn start(extra_env: &[(&str, &str)]) -> Option<Moto> {
        let binary = binary()?;
        Some(Self::start_command(&[binary], extra_env, None))
    }

    /// Starts a server of its own whose instances get their public addresses from `public_ips`
    /// (in order, then again from the first) instead of invented ones, so that tests can forward
    /// those addresses to real machines. Every address must be a loopback one (127.0.0.0/8).
    /// `None` when moto is missing and we are not under CI.
    pub fn start_loopback(public_ips: &[Ipv4Addr], extra_env: &[(&str, &str)]) -> Option<Moto> {
        assert!(!public_ips.is_empty(), "no public address for the emulator's instances");
        assert!(public_ips.iter().all(Ipv4Addr::is_loopback), "only loopback addresses: {public_ips:?}");
        let binary = binary()?;
        let python = interpreter(&binary);
        let dir = tempfile::tempdir().expect("a folder for the wrapper");
        let wrapper = dir.path().join("moto_loopback.py");
        std::fs::write(&wrapper, LOOPBACK_WRAPPER).expect("writing the wrapper");
        let ips = public_ips.iter().map(Ipv4Addr::to_string).collect::<Vec<_>>().join(",");
        let mut env = vec![("WINTERMUTE_MOTO_PUBLIC_IPS", ips.as_str())];
        env.extend_from_slice(extra_env);
        Some(Self::start_command(&[python, wrapper], &env, Some(dir)))
    }

    /// Runs `command` (the server, or an interpreter and a script) with the server's arguments.
    fn start_command(command: &[PathBuf], extra_env: &[(&str, &str)], keep: Option<tempfile::TempDir>) -> Moto {
        let mut last_error = String::new();
        // A free port can be taken between our probe and moto's bind: try a few.
        for _ in 0..3 {
            match Self::try_start(command, extra_env) {
                Ok(mut moto) => {
                    moto._wrapper = keep;
                    return moto;
                }
                Err(e) => last_error = e,
            }
        }
        panic!("moto ({}) did not start: {last_error}", command[command.len() - 1].display());
    }

    fn try_start(command: &[PathBuf], extra_env: &[(&str, &str)]) -> Result<Moto, String> {
        let port =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let log_path = dir.path().join("moto.log");
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        // The shell starts moto, then waits on its stdin: when our end closes (drop, or this
        // process ends however it ends) it kills moto.
        let watchdog = r#""$@" </dev/null & pid=$!; read -r _ || true; kill "$pid" 2>/dev/null; wait "$pid""#;
        let child = Command::new("sh")
            .arg("-c")
            .arg(watchdog)
            .arg("moto-watchdog")
            .args(command)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(VALIDATION)
            .envs(extra_env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("cannot run sh: {e}"))?;
        let mut moto = Moto { child, port, _dir: dir, _wrapper: None };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = moto.child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!("it exited ({status}):\n{log}"));
            }
            if moto.reset().is_ok() {
                return Ok(moto);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        Err(format!("no answer on port {port} within 30 s:\n{log}"))
    }

    /// The endpoint URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Forgets every object (`POST /moto-api/reset`).
    pub fn reset(&self) -> Result<(), String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        let request = format!(
            "POST /moto-api/reset HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).map_err(|e| e.to_string())?;
        match answer.lines().next() {
            Some(status) if status.contains(" 200 ") => Ok(()),
            other => Err(format!("reset answered {other:?}")),
        }
    }

    /// A provider that talks to this server, with short timeouts.
    pub fn provider(&self) -> AwsProvider {
        AwsProvider::new(settings(&self.url())).expect("valid settings")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Closing stdin makes the watchdog kill moto; give it a moment, then kill the shell.
        drop(self.child.stdin.take());
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Test settings: fake credentials, `endpoint`, short timeouts.
pub fn settings(endpoint: &str) -> AwsSettings {
    AwsSettings::new("AKIAWINTERMUTETEST", SecretString::new("wintermute-test-secret".into()), REGION)
        .with_endpoint_url(endpoint)
        .with_timeouts(Duration::from_secs(2), Duration::from_secs(20), Duration::from_secs(30))
}

/// The shared server, reset, for one test at a time. Dropping it lets the next test in.
pub struct Shared {
    moto: &'static Moto,
    _turn: MutexGuard<'static, ()>,
}

impl std::ops::Deref for Shared {
    type Target = Moto;

    fn deref(&self) -> &Moto {
        self.moto
    }
}

/// The test binary's shared emulator, reset; `None` (skip the test) when moto is missing.
pub async fn moto() -> Option<Shared> {
    static SERVER: OnceLock<Option<Moto>> = OnceLock::new();
    static TURN: Mutex<()> = Mutex::const_new(());
    let turn = TURN.lock().await;
    let moto = tokio::task::spawn_blocking(|| {
        let moto = SERVER.get_or_init(|| Moto::start(&[])).as_ref()?;
        moto.reset().expect("moto reset");
        Some(moto)
    })
    .await
    .expect("moto start")?;
    Some(Shared { moto, _turn: turn })
}

/// The Python that runs `moto_server` (its `#!` line), to run the loopback wrapper with.
fn interpreter(moto_server: &std::path::Path) -> PathBuf {
    let text = std::fs::read_to_string(moto_server).unwrap_or_default();
    let shebang = text.lines().next().and_then(|l| l.strip_prefix("#!")).map(str::trim);
    match shebang {
        Some(line) if !line.is_empty() && !line.starts_with("/usr/bin/env") => {
            PathBuf::from(line.split_whitespace().next().unwrap_or(line))
        }
        _ => moto_server.with_file_name("python3"),
    }
}

fn binary() -> Option<PathBuf> {
    let path = std::env::var_os("WINTERMUTE_MOTO_SERVER")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/wintermute/venv/bin/moto_server")));
    match path {
        Some(path) if path.is_file() => Some(path),
        other => {
            let note = format!(
                "moto_server not found ({}): run scripts/test-all once, or set WINTERMUTE_MOTO_SERVER",
                other.map(|p| p.display().to_string()).unwrap_or_else(|| "no HOME".into())
            );
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                panic!("{note}");
            }
            // Straight to stderr: the test harness would swallow an eprintln! of a passing test.
            let _ = writeln!(std::io::stderr(), "note: skipping an EC2 emulator test: {note}");
            None
        }
    }
}
