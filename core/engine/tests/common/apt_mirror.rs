//! A small Debian package mirror for guests without internet, served on loopback (guests of the
//! local provider reach the host's loopback as 10.0.2.2). It holds:
//!
//! - `wm-hello` 1.0: `/usr/bin/wm-hello`, and two services, `wm-hello` (left stopped) and
//!   `wm-extra` (enabled and started by the package, as many Debian packages do);
//! - an update of `sensible-utils` (which every Debian guest has, through openssh-server → ucf):
//!   the host's installed files under the host's version plus `+wm1`, so `dist-upgrade` on a guest
//!   with the same release installs it.
//!
//! Built with `dpkg-deb` and `dpkg-scanpackages` (package dpkg-dev); a flat repository that the
//! guests use with `[trusted=yes]`.

use std::path::{Path, PathBuf};
use std::process::Command;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct AptMirror {
    pub port: u16,
    /// The version of `sensible-utils` the mirror offers.
    pub update_version: String,
    _dir: tempfile::TempDir,
}

impl AptMirror {
    /// The `sources.list` line guests use.
    pub fn sources_line(&self) -> String {
        format!("deb [trusted=yes] http://10.0.2.2:{}/ ./", self.port)
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e} (is dpkg-dev installed?)"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(root: &Path, rel: &str, content: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn build(tree: &Path, out: &Path) {
    run(Command::new("dpkg-deb").args(["--root-owner-group", "-Zgzip", "--build"]).arg(tree).arg(out));
}

const UNIT: &str = "[Unit]\nDescription=Wintermute test service\n\n[Service]\nExecStart=/bin/sleep infinity\n\n[Install]\nWantedBy=multi-user.target\n";

pub async fn start() -> AptMirror {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();

    // wm-hello
    let t = dir.path().join("wm-hello");
    write(
        &t,
        "DEBIAN/control",
        "Package: wm-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: Wintermute tests <tests@localhost>\n\
         Description: greeting and two services for the provisioning tests\n",
        0o644,
    );
    write(
        &t,
        "DEBIAN/postinst",
        "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n  systemctl daemon-reload\n  systemctl enable --now wm-extra.service\nfi\n",
        0o755,
    );
    write(&t, "usr/bin/wm-hello", "#!/bin/sh\necho hello from wm-hello\n", 0o755);
    write(&t, "lib/systemd/system/wm-hello.service", UNIT, 0o644);
    write(&t, "lib/systemd/system/wm-extra.service", UNIT, 0o644);
    build(&t, &repo.join("wm-hello_1.0_all.deb"));

    // an update of sensible-utils, made of the host's files
    let version = run(Command::new("dpkg-query").args(["-W", "-f=${Version}", "sensible-utils"]));
    let update_version = format!("{}+wm1", version.trim());
    let t = dir.path().join("sensible-utils");
    for f in run(Command::new("dpkg").args(["-L", "sensible-utils"])).lines() {
        let src = PathBuf::from(f);
        if src.is_file() && !src.is_symlink() {
            let dst = t.join(f.trim_start_matches('/'));
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(&src, &dst).unwrap();
        }
    }
    write(
        &t,
        "DEBIAN/control",
        &format!(
            "Package: sensible-utils\nVersion: {update_version}\nArchitecture: all\nMulti-Arch: foreign\n\
             Maintainer: Wintermute tests <tests@localhost>\nDescription: an update for the provisioning tests\n"
        ),
        0o644,
    );
    build(&t, &repo.join(format!("sensible-utils_{update_version}_all.deb")));

    // the indexes
    let packages = run(Command::new("dpkg-scanpackages").args(["-m", "."]).current_dir(&repo));
    std::fs::write(repo.join("Packages"), &packages).unwrap();
    let sha = run(Command::new("sha256sum").arg("Packages").current_dir(&repo));
    let sha = sha.split_whitespace().next().unwrap().to_owned();
    let date = (chrono::Utc::now() - chrono::Duration::hours(2)).format("%a, %d %b %Y %H:%M:%S UTC");
    std::fs::write(
        repo.join("Release"),
        format!(
            "Origin: wintermute-tests\nLabel: wintermute-tests\nSuite: tests\nCodename: tests\nDate: {date}\n\
             Architectures: all amd64\nSHA256:\n {sha} {} Packages\n",
            packages.len()
        ),
    )
    .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let repo = repo.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 2048];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                let mut words = head.split_whitespace();
                let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
                let path = percent_decode(path);
                let name = path.trim_start_matches('/').trim_start_matches("./");
                let file = (!name.contains("..") && !name.contains('/')).then(|| repo.join(name));
                match file.and_then(|f| std::fs::read(f).ok()) {
                    Some(body) => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = s.write_all(head.as_bytes()).await;
                        if method != "HEAD" {
                            let _ = s.write_all(&body).await;
                        }
                    }
                    None => {
                        let _ = s
                            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                            .await;
                    }
                }
                let _ = s.shutdown().await;
            });
        }
    });
    AptMirror { port, update_version, _dir: dir }
}

/// `%2b` → `+` (apt escapes the `+` of Debian versions in file names).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
