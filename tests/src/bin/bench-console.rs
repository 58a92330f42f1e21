//! SSH console benchmark: a real `wmais` and a real OpenSSH server on loopback, one run, the
//! core's console WebSocket against OpenSSH's own client (`ssh -tt`) on the same server. Run it
//! with `./scripts/bench-console`.
//!
//!   (a) keystroke echo: one byte at a time into `stty raw -echo; cat` on a PTY, waiting for it to
//!       come back; p50/p99 round trip through the core and with `ssh -tt`, and the overhead;
//!   (b) bulk output: `cat` of a file (default 100 MB of text) on a PTY, first byte to last;
//!       throughput through the core (recording on, the default; and off) and with `ssh -tt`;
//!   (c) scale: `--idle` consoles (default 500) left at their shell prompt, then `--active`
//!       (default 50) more typing one key every 100 ms for `--seconds`; the core's RSS per idle
//!       session, its thread count, and every error (a console that did not open, an echo that did
//!       not come back within 5 s, a console that ended).
//!
//!   bench-console [--profile release|debug] [--keys N] [--bulk-mb N] [--idle N] [--active N] [--seconds N]
//!                 [--only echo,bulk,scale]

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::stream::{self, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;
use wintermute_api::client::Client;
use wintermute_ssh::test_sshd::TestSshd;
use wintermute_tests::console::{contains, ConsoleClient, InstanceRegistry};
use wintermute_tests::{bin_path_in_profile, Core, CoreOptions};

const ECHO_TIMEOUT: Duration = Duration::from_secs(5);
/// Consoles opened at once while setting up the scale run (sshd's MaxStartups is 200).
const OPEN_PARALLEL: usize = 16;
/// The remote command of the echo runs: no terminal echo, every byte handed to `cat` at once.
const ECHO_COMMAND: &str = "stty raw -echo; echo BEGIN; exec cat";

struct Args {
    profile: String,
    keys: usize,
    bulk_mb: usize,
    idle: usize,
    active: usize,
    seconds: u64,
    only: Vec<String>,
}

fn parse_args() -> anyhow::Result<Option<Args>> {
    let mut a = Args {
        profile: "release".into(),
        keys: 2000,
        bulk_mb: 100,
        idle: 500,
        active: 50,
        seconds: 20,
        only: vec!["echo".into(), "bulk".into(), "scale".into()],
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || -> anyhow::Result<String> {
            match inline.clone().or_else(|| it.next()) {
                Some(v) => Ok(v),
                None => bail!("{key} needs a value"),
            }
        };
        match key.as_str() {
            "--profile" => a.profile = value()?,
            "--keys" => a.keys = value()?.parse().context("--keys")?,
            "--bulk-mb" => a.bulk_mb = value()?.parse().context("--bulk-mb")?,
            "--idle" => a.idle = value()?.parse().context("--idle")?,
            "--active" => a.active = value()?.parse().context("--active")?,
            "--seconds" => a.seconds = value()?.parse().context("--seconds")?,
            "--only" => a.only = value()?.split(',').map(str::to_owned).collect(),
            "-h" | "--help" => {
                println!(
                    "usage: bench-console [--profile release|debug] [--keys N] [--bulk-mb N] [--idle N] [--active N] \
                     [--seconds N] [--only echo,bulk,scale]"
                );
                return Ok(None);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    if !matches!(a.profile.as_str(), "release" | "debug") {
        bail!("--profile is release or debug");
    }
    if a.keys == 0 || a.keys > 100_000 || a.bulk_mb == 0 || a.bulk_mb > 4096 || a.idle > 2000 || a.active > 500 {
        bail!("--keys 1..100000, --bulk-mb 1..4096, --idle 0..2000, --active 0..500");
    }
    if a.seconds == 0 || a.seconds > 600 {
        bail!("--seconds must be 1 to 600");
    }
    Ok(Some(a))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (percentile(&v, 0.5), percentile(&v, 0.99), v.last().copied().unwrap_or(f64::NAN))
}

/// VmRSS and Threads of a process, from /proc.
fn rss_and_threads(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("Threads:"))
}

/// Everything the runs share.
struct Bench {
    core: Core,
    token: String,
    instance: i64,
    sshd: TestSshd,
    /// The private key file OpenSSH's client logs in with.
    key_file: std::path::PathBuf,
    _keys: tempfile::TempDir,
}

impl Bench {
    fn url(&self) -> &str {
        self.core.url()
    }

    /// `ssh -tt` to the test server running `command`, stdin and stdout piped.
    fn openssh(&self, command: &str) -> anyhow::Result<tokio::process::Child> {
        tokio::process::Command::new("ssh")
            .args([
                "-tt",
                "-q",
                "-e",
                "none",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ])
            .arg("-i")
            .arg(&self.key_file)
            .args(["-p", &self.sshd.port().to_string()])
            .arg(format!("{}@127.0.0.1", self.sshd.user()))
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting ssh")
    }

    async fn console(&self, query: &str) -> anyhow::Result<ConsoleClient> {
        ConsoleClient::open(self.url(), &self.token, self.instance, query).await
    }
}

fn command_query(command: &str) -> String {
    let encoded: String = command
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("cols=200&rows=50&command={encoded}")
}

async fn setup(a: &Args) -> anyhow::Result<Bench> {
    let core = Core::start(CoreOptions::new().binary(bin_path_in_profile("wmais", &a.profile)?)).await?;
    let admin = core.admin_client().await?;
    let me = admin.whoami().await?;
    let core_key = admin.ssh_key(me.id).await?.public_key;
    let keys = tempfile::tempdir()?;
    let key_file = keys.path().join("id_ed25519");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key_file)
        .status()
        .context("running ssh-keygen")?;
    if !made.success() {
        bail!("ssh-keygen failed");
    }
    let direct_key = std::fs::read_to_string(key_file.with_extension("pub"))?;
    let sshd = TestSshd::start(&[&core_key, direct_key.trim()]);
    let registry = InstanceRegistry::new(&core, &admin).await?;
    let instance = registry.add(me.id, "bench", sshd.port(), sshd.user()).await?;
    let token = admin.token().unwrap_or_default().to_owned();
    Ok(Bench { core, token, instance, sshd, key_file, _keys: keys })
}

/// Round trips of single keys through the core, in µs.
async fn echo_core(b: &Bench, keys: usize) -> anyhow::Result<Vec<f64>> {
    let mut c = b.console(&command_query(ECHO_COMMAND)).await?;
    c.read_until(b"BEGIN", Duration::from_secs(20)).await?;
    let mut out = Vec::with_capacity(keys);
    for i in 0..keys + 50 {
        let key = b'a' + (i % 26) as u8;
        let t = Instant::now();
        c.send(&[key]).await?;
        let back = tokio::time::timeout(ECHO_TIMEOUT, c.next_output()).await.context("no echo")??;
        let elapsed = t.elapsed();
        match back {
            Some(bytes) if bytes.as_ref() == [key] => {}
            other => bail!("expected {:?} back, got {other:?}", key as char),
        }
        if i >= 50 {
            out.push(elapsed.as_secs_f64() * 1e6);
        }
    }
    c.close().await?;
    Ok(out)
}

/// Round trips of single keys with `ssh -tt`, in µs.
async fn echo_openssh(b: &Bench, keys: usize) -> anyhow::Result<Vec<f64>> {
    let mut child = b.openssh(ECHO_COMMAND)?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !contains(&seen, b"BEGIN\n") {
        let n = tokio::time::timeout(Duration::from_secs(20), stdout.read(&mut buf)).await??;
        if n == 0 {
            bail!("ssh ended before BEGIN: {}", String::from_utf8_lossy(&seen));
        }
        seen.extend_from_slice(&buf[..n]);
    }
    let mut out = Vec::with_capacity(keys);
    for i in 0..keys + 50 {
        let key = b'a' + (i % 26) as u8;
        let t = Instant::now();
        stdin.write_all(&[key]).await?;
        stdin.flush().await?;
        let n = tokio::time::timeout(ECHO_TIMEOUT, stdout.read(&mut buf)).await.context("no echo")??;
        let elapsed = t.elapsed();
        if n != 1 || buf[0] != key {
            bail!("expected {:?} back, got {:?}", key as char, String::from_utf8_lossy(&buf[..n]));
        }
        if i >= 50 {
            out.push(elapsed.as_secs_f64() * 1e6);
        }
    }
    drop(stdin);
    child.kill().await.ok();
    Ok(out)
}

/// A file of printable lines, `mb` MB.
fn make_file(dir: &Path, mb: usize) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join("bulk.txt");
    let line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-wintermute-console-bench-line\n";
    let mut text = String::with_capacity(mb * 1_000_000 + line.len());
    while text.len() < mb * 1_000_000 {
        text.push_str(line);
    }
    std::fs::write(&path, text)?;
    Ok(path)
}

/// MB/s of `cat file` through the core, first byte to the end; and the bytes received.
async fn bulk_core(b: &Bench, file: &Path) -> anyhow::Result<(f64, u64)> {
    let mut c = b.console(&command_query(&format!("cat '{}'", file.display()))).await?;
    let mut first: Option<Instant> = None;
    let mut bytes = 0u64;
    while let Some(chunk) = c.next_output().await? {
        first.get_or_insert_with(Instant::now);
        bytes += chunk.len() as u64;
    }
    let secs = first.map(|f| f.elapsed().as_secs_f64()).unwrap_or(f64::NAN);
    Ok((bytes as f64 / 1e6 / secs, bytes))
}

async fn bulk_openssh(b: &Bench, file: &Path) -> anyhow::Result<(f64, u64)> {
    let mut child = b.openssh(&format!("cat '{}'", file.display()))?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut first: Option<Instant> = None;
    let mut bytes = 0u64;
    loop {
        let n = stdout.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        first.get_or_insert_with(Instant::now);
        bytes += n as u64;
    }
    let secs = first.map(|f| f.elapsed().as_secs_f64()).unwrap_or(f64::NAN);
    child.wait().await.ok();
    Ok((bytes as f64 / 1e6 / secs, bytes))
}

async fn set_recording(b: &Bench, on: bool) -> anyhow::Result<()> {
    let admin = Client::new(b.url())?.with_token(b.token.clone());
    admin.set_setting("WMAIS_CONSOLE_RECORDING", serde_json::json!(on)).await?;
    Ok(())
}

async fn run_echo(b: &Bench, a: &Args) -> anyhow::Result<()> {
    println!("\n(a) keystroke echo, {} keys, `{ECHO_COMMAND}` on a PTY", a.keys);
    let direct = echo_openssh(b, a.keys).await?;
    let core = echo_core(b, a.keys).await?;
    let (d50, d99, dmax) = summary(direct);
    let (c50, c99, cmax) = summary(core);
    println!("  OpenSSH ssh -tt    p50 {d50:8.0} µs   p99 {d99:8.0} µs   max {dmax:8.0} µs");
    println!("  through the core   p50 {c50:8.0} µs   p99 {c99:8.0} µs   max {cmax:8.0} µs");
    let over = c50 - d50;
    println!(
        "  overhead p50 {over:+.0} µs, p99 {:+.0} µs  (target: p50 overhead under 1000 µs: {})",
        c99 - d99,
        if over < 1000.0 { "met" } else { "NOT met" }
    );
    Ok(())
}

async fn run_bulk(b: &Bench, a: &Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = make_file(dir.path(), a.bulk_mb)?;
    println!("\n(b) bulk output: cat of {} MB of text on a PTY (first byte to last)", a.bulk_mb);
    let (direct, direct_bytes) = bulk_openssh(b, &file).await?;
    set_recording(b, true).await?;
    let (recorded, recorded_bytes) = bulk_core(b, &file).await?;
    set_recording(b, false).await?;
    let (unrecorded, unrecorded_bytes) = bulk_core(b, &file).await?;
    set_recording(b, true).await?;
    if recorded_bytes != direct_bytes || unrecorded_bytes != direct_bytes {
        bail!("byte counts differ: OpenSSH {direct_bytes}, core {recorded_bytes} / {unrecorded_bytes}");
    }
    println!("  OpenSSH ssh -tt               {direct:8.1} MB/s  ({direct_bytes} bytes)");
    println!("  through the core, recorded    {recorded:8.1} MB/s  ratio {:.2}", recorded / direct);
    println!("  through the core, unrecorded  {unrecorded:8.1} MB/s  ratio {:.2}", unrecorded / direct);
    println!(
        "  (target: ratio at least 0.8: {})",
        if recorded / direct >= 0.8 {
            "met with recording"
        } else if unrecorded / direct >= 0.8 {
            "met without recording only"
        } else {
            "NOT met"
        }
    );
    Ok(())
}

async fn run_scale(b: &Bench, a: &Args) -> anyhow::Result<()> {
    println!(
        "\n(c) {} idle consoles, then {} active ones typing a key every 100 ms for {} s",
        a.idle, a.active, a.seconds
    );
    let pid = b.core.pid();
    let (base_rss, base_threads) = rss_and_threads(pid);
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let opened: Vec<anyhow::Result<ConsoleClient>> = stream::iter(0..a.idle)
        .map(|_| async {
            let mut c = b.console("cols=120&rows=40").await?;
            // The shell's prompt (or anything) shows it is up.
            tokio::time::timeout(Duration::from_secs(60), c.next_output()).await.context("no prompt")??;
            Ok(c)
        })
        .buffer_unordered(OPEN_PARALLEL)
        .collect()
        .await;
    let mut idle = Vec::new();
    let mut first_error = None;
    for r in opened {
        match r {
            Ok(c) => idle.push(c),
            Err(e) => {
                errors.fetch_add(1, Ordering::Relaxed);
                first_error.get_or_insert(format!("{e:#}"));
            }
        }
    }
    let open_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (idle_rss, idle_threads) = rss_and_threads(pid);
    let per_idle = (idle_rss.saturating_sub(base_rss)) as f64 / idle.len().max(1) as f64;
    println!(
        "  {} idle consoles open in {open_secs:.1} s; core RSS {} → {} KiB: {per_idle:.0} KiB per idle session \
         (target under 1024: {}); threads {base_threads} → {idle_threads}",
        idle.len(),
        base_rss,
        idle_rss,
        if per_idle < 1024.0 { "met" } else { "NOT met" }
    );

    // The idle ones keep reading in the background (keepalive pings, nothing else).
    let mut idle_tasks = JoinSet::new();
    for mut c in idle {
        let errors = errors.clone();
        idle_tasks.spawn(async move {
            loop {
                match c.next_output().await {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        });
    }

    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut active = JoinSet::new();
    let stop_at = Instant::now() + Duration::from_secs(a.seconds);
    for i in 0..a.active {
        let errors = errors.clone();
        let latencies = latencies.clone();
        let url = b.url().to_owned();
        let token = b.token.clone();
        let instance = b.instance;
        active.spawn(async move {
            let run = async {
                let mut c = ConsoleClient::open(&url, &token, instance, &command_query(ECHO_COMMAND)).await?;
                c.read_until(b"BEGIN", Duration::from_secs(60)).await?;
                let mut n = 0usize;
                while Instant::now() < stop_at {
                    let key = b'a' + ((i + n) % 26) as u8;
                    n += 1;
                    let t = Instant::now();
                    c.send(&[key]).await?;
                    match tokio::time::timeout(ECHO_TIMEOUT, c.next_output()).await {
                        Ok(Ok(Some(bytes))) if bytes.as_ref() == [key] => {
                            if let Ok(mut l) = latencies.lock() {
                                l.push(t.elapsed().as_secs_f64() * 1e6);
                            }
                        }
                        other => bail!("echo of {:?}: {other:?}", key as char),
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                c.close().await
            };
            if let Err(e) = run.await {
                errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("  active console {i}: {e:#}");
            }
        });
    }
    let mut peak = (0, 0);
    while Instant::now() < stop_at {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = rss_and_threads(pid);
        peak = (peak.0.max(now.0), peak.1.max(now.1));
    }
    while active.join_next().await.is_some() {}
    let (_, total_threads) = rss_and_threads(pid);
    let lat = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    let keys = lat.len();
    let (l50, l99, lmax) = summary(lat);
    idle_tasks.abort_all();
    let errors = errors.load(Ordering::Relaxed);
    println!(
        "  active: {keys} echoes, p50 {l50:.0} µs, p99 {l99:.0} µs, max {lmax:.0} µs; core RSS peak {} KiB, \
         threads peak {} (now {total_threads})",
        peak.0, peak.1
    );
    println!("  errors: {errors} (target 0: {})", if errors == 0 { "met" } else { "NOT met" });
    if let Some(e) = first_error {
        println!("  first error: {e}");
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let Some(a) = parse_args()? else { return Ok(()) };
    let b = setup(&a).await?;
    println!("core {} (pid {}), sshd on 127.0.0.1:{}, profile {}", b.url(), b.core.pid(), b.sshd.port(), a.profile);
    if a.only.iter().any(|o| o == "echo") {
        run_echo(&b, &a).await?;
    }
    if a.only.iter().any(|o| o == "bulk") {
        run_bulk(&b, &a).await?;
    }
    if a.only.iter().any(|o| o == "scale") {
        run_scale(&b, &a).await?;
    }
    Ok(())
}
