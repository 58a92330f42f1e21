//! Data sync benchmark: the core's sync against rsync over OpenSSH, between the same two
//! endpoints in the same run — a directory on this machine (the core's data directory) and a
//! real OpenSSH server on loopback (the instance). Run it with `./scripts/bench-sync`.
//!
//!   (a) first copy of a tree of `--small` files (default 10,000, 1 B to ~100 KB, in 100
//!       directories) plus `--large` large files (default 4 × 128 MiB): about 1 GiB;
//!   (b) no-op resync of the same tree;
//!   (c) one small file changed.
//!
//! Each step runs with rsync (`rsync -a -e ssh`) and with the core's sync to their own target
//! directories on the same server; the times and the ratio rsync time / core time (above 1:
//! the core is faster) are printed, and the copies are compared with the source.
//!
//!   bench-sync [--small N] [--large N] [--large-mb N] [--rounds N]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wintermute_custody::UserKeyPair;
use wintermute_ssh::test_sshd::TestSshd;
use wintermute_ssh::{connect, Pinned};
use wintermute_sync::{self as sync, Direction, LocalSide, Retries, SyncError, Transfer};

struct Args {
    small: usize,
    large: usize,
    large_mb: usize,
    rounds: usize,
}

/// The arguments, or `None` after printing the help.
fn args() -> Option<Args> {
    let mut a = Args { small: 10_000, large: 4, large_mb: 128, rounds: 3 };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{k} needs a number"));
        match k.as_str() {
            "--small" => a.small = v(),
            "--large" => a.large = v(),
            "--large-mb" => a.large_mb = v(),
            "--rounds" => a.rounds = v(),
            "--help" | "-h" => {
                println!("bench-sync [--small N] [--large N] [--large-mb N] [--rounds N]");
                return None;
            }
            other => panic!("unknown argument {other}"),
        }
    }
    Some(a)
}

fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn make_tree(top: &Path, a: &Args) -> u64 {
    let mut total = 0u64;
    for i in 0..a.small {
        // Sizes from 1 byte to ~100 KB, about 51 KB on average.
        let size = 1 + (i * 7919) % 102_400;
        let p = top.join(format!("d{:03}/f{i:05}.dat", i % 100));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, bytes(size, i as u64)).unwrap();
        total += size as u64;
    }
    for i in 0..a.large {
        let size = a.large_mb * 1024 * 1024;
        let p = top.join(format!("large/l{i}.bin"));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, bytes(size, 1_000_000 + i as u64)).unwrap();
        total += size as u64;
    }
    total
}

fn chown_tree(path: &Path, login: &str) {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let user = nix::unistd::User::from_name(login).unwrap().unwrap();
    let status = Command::new("chown").args(["-R", &format!("{}:{}", user.uid, user.gid)]).arg(path).status().unwrap();
    assert!(status.success());
}

struct Bench {
    sshd: TestSshd,
    key: UserKeyPair,
    key_file: PathBuf,
    template: String,
    remote: PathBuf,
}

impl Bench {
    fn rsync(&self, src: &Path, dst: &str) -> Duration {
        let ssh = format!(
            "ssh -p {} -i {} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
            self.sshd.port(),
            self.key_file.display()
        );
        let start = Instant::now();
        let out = Command::new("rsync")
            .args(["-a", "-e", &ssh])
            .arg(format!("{}/", src.display()))
            .arg(format!("{}@127.0.0.1:{}/", self.sshd.user(), self.remote.join(dst).display()))
            .output()
            .expect("running rsync (install it: scripts/bench-sync does)");
        let took = start.elapsed();
        assert!(out.status.success(), "rsync failed: {}", String::from_utf8_lossy(&out.stderr));
        took
    }

    async fn core(&self, login: &str, src: &str, dst: &str) -> (Duration, sync::Report) {
        let local = LocalSide::for_user(&self.template, login).unwrap();
        let t = Transfer {
            direction: Direction::Upload,
            source: src.into(),
            target: format!("{}/", self.remote.join(dst).display()),
            delete: false,
            checksum: false,
        };
        let connect = || async {
            let policy = Arc::new(Pinned::new(self.sshd.host_public_key()));
            connect(&self.sshd.target(), &self.key, policy, Duration::from_secs(20))
                .await
                .map_err(|e| SyncError::Connection(e.to_string()))
        };
        let start = Instant::now();
        let report = sync::transfer(
            connect,
            &local,
            &t,
            &Arc::default(),
            Retries { retries: 0, pause: Duration::ZERO },
            |_, _| {},
        )
        .await
        .unwrap();
        (start.elapsed(), report)
    }
}

fn same_tree(a: &Path, b: &Path) {
    let out = Command::new("diff").args(["-r", "-q"]).arg(a).arg(b).output().unwrap();
    assert!(
        out.status.success(),
        "{} and {} differ: {}",
        a.display(),
        b.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Writes dirty pages out (`sync`), so one measurement does not pay for the last one's writes.
fn flush() {
    let _ = Command::new("sync").status();
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let Some(a) = args() else { return };
    let login = "nobody";
    let key = UserKeyPair::generate("bench-sync");
    let sshd = TestSshd::start(&[&key.public_openssh()]);
    let tmp = tempfile::Builder::new().prefix("wintermute-bench-sync.").tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let key_file = tmp.path().join("id_ed25519");
    fs::write(&key_file, key.private_openssh().unwrap().expose()).unwrap();
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o600)).unwrap();
    let template = format!("{}/%USER%", tmp.path().display());
    let root = tmp.path().join(login);
    let tree = root.join("tree");
    let remote = tmp.path().join("instance");
    fs::create_dir_all(&remote).unwrap();
    println!("making the tree: {} small files, {} × {} MiB", a.small, a.large, a.large_mb);
    let total = make_tree(&tree, &a);
    chown_tree(&root, login);
    println!("  {:.2} GiB in {} files", total as f64 / (1u64 << 30) as f64, a.small + a.large);
    let b = Bench { sshd, key, key_file, template, remote };

    // The tree is read once so both tools start from a warm page cache.
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("find {} -type f -exec cat {{}} + > /dev/null", tree.display()))
        .status();

    let mut results: Vec<(String, Vec<f64>, Vec<f64>)> = Vec::new();
    for round in 0..a.rounds {
        println!("round {} of {}", round + 1, a.rounds);
        let (rs_dir, wm_dir) = (format!("rsync-{round}"), format!("core-{round}"));

        // (a) first copy. Dirty pages of the previous copy are written out first, and the two
        // tools take turns going first, so neither pays for the other's write-back.
        let (r, (w, rep)) = if round % 2 == 0 {
            flush();
            let r = b.rsync(&tree, &rs_dir);
            flush();
            (r, b.core(login, "tree/", &wm_dir).await)
        } else {
            flush();
            let w = b.core(login, "tree/", &wm_dir).await;
            flush();
            (b.rsync(&tree, &rs_dir), w)
        };
        assert_eq!(rep.files_sent as usize, a.small + a.large, "{rep:?}");
        same_tree(&tree, &b.remote.join(&rs_dir));
        same_tree(&tree, &b.remote.join(&wm_dir));
        println!(
            "  (a) first copy     rsync {:7.2} s   core {:7.2} s   ({:.0} MB/s)",
            secs(r),
            secs(w),
            total as f64 / 1e6 / secs(w)
        );
        push(&mut results, "(a) first copy", r, w);

        // (b) no-op resync
        flush();
        let r = b.rsync(&tree, &rs_dir);
        let (w, rep) = b.core(login, "tree/", &wm_dir).await;
        assert_eq!(rep.files_sent, 0, "{rep:?}");
        println!("  (b) no-op resync   rsync {:7.3} s   core {:7.3} s", secs(r), secs(w));
        push(&mut results, "(b) no-op resync", r, w);

        // (c) one file changed
        let changed = tree.join(format!("d042/f{:05}.dat", 42 + round * 100));
        fs::write(&changed, bytes(4096 + round, 99 + round as u64)).unwrap();
        chown_tree(&changed, login);
        flush();
        let r = b.rsync(&tree, &rs_dir);
        let (w, rep) = b.core(login, "tree/", &wm_dir).await;
        assert_eq!(rep.files_sent, 1, "{rep:?}");
        same_tree(&tree, &b.remote.join(&rs_dir));
        same_tree(&tree, &b.remote.join(&wm_dir));
        println!("  (c) one changed    rsync {:7.3} s   core {:7.3} s", secs(r), secs(w));
        push(&mut results, "(c) one file changed", r, w);

        fs::remove_dir_all(b.remote.join(&rs_dir)).unwrap();
        fs::remove_dir_all(b.remote.join(&wm_dir)).unwrap();
        flush();
    }

    println!();
    println!("median of {} rounds        rsync      core   ratio (rsync time / core time; > 1: core faster)", a.rounds);
    for (name, r, w) in &results {
        let (r, w) = (median(r), median(w));
        println!("  {name:22} {r:8.3} s {w:8.3} s   {:.2}", r / w);
    }
}

fn push(results: &mut Vec<(String, Vec<f64>, Vec<f64>)>, name: &str, r: Duration, w: Duration) {
    match results.iter_mut().find(|(n, _, _)| n == name) {
        Some((_, rs, ws)) => {
            rs.push(secs(r));
            ws.push(secs(w));
        }
        None => results.push((name.to_owned(), vec![secs(r)], vec![secs(w)])),
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
