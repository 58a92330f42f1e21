//! A real Keystone (the `keystone` package from PyPI, on SQLite, served by gunicorn on loopback).
//!
//! The database and keys are made once per machine (`keystone-manage db_sync`, `fernet_setup`,
//! `bootstrap`; about 8 s) into a template folder under the temporary directory, then each
//! [`Keystone::start`] copies that template and serves it on a free port (ready in about 2 s).
//! Password hashing uses few bcrypt rounds so that token requests stay fast.
//!
//! The venv is `$WINTERMUTE_OPENSTACK_VENV`, else `~/.cache/wintermute/venv-openstack`
//! (`scripts/test-all` makes it). When it is missing, tests are skipped with a note — except
//! under CI (`CI` set), where they fail.

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The bootstrap administrator's password (a throwaway Keystone on loopback).
pub const ADMIN_PASSWORD: &str = "keystone-admin-secret";

/// Bumped when the template's contents change.
const TEMPLATE_VERSION: u32 = 1;

const WSGI_SHIM: &str = r#"import sys
# oslo.config would read gunicorn's own arguments.
sys.argv = sys.argv[:1]
from keystone.server.wsgi import initialize_public_application
application = initialize_public_application()
"#;

/// The venv holding keystone, gunicorn and the official clients; `None` (after a note) when it
/// is missing outside CI.
pub fn venv() -> Option<PathBuf> {
    let path = std::env::var_os("WINTERMUTE_OPENSTACK_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/wintermute/venv-openstack")));
    match path {
        Some(p) if p.join("bin/keystone-manage").is_file() && p.join("bin/gunicorn").is_file() => Some(p),
        other => {
            let note = format!(
                "the OpenStack venv was not found ({}): run scripts/test-all once, or set WINTERMUTE_OPENSTACK_VENV",
                other.map(|p| p.display().to_string()).unwrap_or_else(|| "no HOME".into())
            );
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                panic!("{note}");
            }
            let _ = writeln!(std::io::stderr(), "note: skipping an OpenStack test: {note}");
            None
        }
    }
}

fn config(dir: &Path, expiration: Duration) -> String {
    let d = dir.display();
    format!(
        "[DEFAULT]\nuse_stderr = true\n\
         [database]\nconnection = sqlite:///{d}/keystone.db\n\
         [token]\nprovider = fernet\nexpiration = {}\n\
         [fernet_tokens]\nkey_repository = {d}/fernet-keys\n\
         [fernet_receipts]\nkey_repository = {d}/fernet-keys\n\
         [credential]\nkey_repository = {d}/credential-keys\n\
         [identity]\npassword_hash_algorithm = bcrypt\npassword_hash_rounds = 4\n",
        expiration.as_secs().max(1)
    )
}

fn run(venv: &Path, dir: &Path, args: &[&str]) {
    let out = Command::new(venv.join("bin/keystone-manage"))
        .arg("--config-file")
        .arg(dir.join("keystone.conf"))
        .args(args)
        .output()
        .expect("running keystone-manage");
    assert!(
        out.status.success(),
        "keystone-manage {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr).lines().rev().take(15).collect::<Vec<_>>().join("\n")
    );
}

/// The template (made once; a race between test processes is settled by an atomic rename).
fn template(venv: &Path) -> PathBuf {
    let uid = nix_uid();
    let path = std::env::temp_dir().join(format!("wintermute-keystone-template-{TEMPLATE_VERSION}-{uid}"));
    if path.join("ready").is_file() {
        return path;
    }
    let work = tempfile::Builder::new().prefix("wintermute-keystone-build").tempdir().expect("a folder");
    let dir = work.path();
    std::fs::write(dir.join("keystone.conf"), config(dir, Duration::from_secs(3600))).expect("writing the config");
    run(venv, dir, &["db_sync"]);
    let (u, g) = (uid.to_string(), nix_gid().to_string());
    run(venv, dir, &["fernet_setup", "--keystone-user", &u, "--keystone-group", &g]);
    run(venv, dir, &["credential_setup", "--keystone-user", &u, "--keystone-group", &g]);
    run(
        venv,
        dir,
        &[
            "bootstrap",
            "--bootstrap-password",
            ADMIN_PASSWORD,
            "--bootstrap-username",
            "admin",
            "--bootstrap-project-name",
            "admin",
            "--bootstrap-role-name",
            "admin",
            "--bootstrap-service-name",
            "keystone",
            "--bootstrap-region-id",
            "RegionOne",
            "--bootstrap-public-url",
            "http://127.0.0.1:5000",
        ],
    );
    std::fs::write(dir.join("ready"), "").expect("marking the template");
    let work = work.keep();
    if std::fs::rename(&work, &path).is_err() {
        // Another process made it first.
        let _ = std::fs::remove_dir_all(&work);
    }
    path
}

fn nix_uid() -> u32 {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(0)
}

fn nix_gid() -> u32 {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::gid(&m)).unwrap_or(0)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a folder");
    for e in std::fs::read_dir(from).expect("reading the template") {
        let e = e.expect("an entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("a type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copying the template");
        }
    }
}

/// A running Keystone; killed when dropped (and when the test process ends, however it ends).
pub struct Keystone {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Keystone {
    /// Starts a Keystone of its own, issuing tokens valid for an hour; `None` when the venv is
    /// missing outside CI.
    pub async fn start() -> Option<Keystone> {
        Self::start_with(Duration::from_secs(3600)).await
    }

    /// Like [`Keystone::start`], with tokens valid for `expiration`.
    pub async fn start_with(expiration: Duration) -> Option<Keystone> {
        let venv = venv()?;
        let template = tokio::task::spawn_blocking({
            let venv = venv.clone();
            move || template(&venv)
        })
        .await
        .expect("making the Keystone template");
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(&venv, &template, expiration).await {
                Ok(k) => return Some(k),
                Err(e) => last = e,
            }
        }
        panic!("Keystone did not start: {last}");
    }

    async fn try_start(venv: &Path, template: &Path, expiration: Duration) -> Result<Keystone, String> {
        let dir = tempfile::Builder::new().prefix("wintermute-keystone").tempdir().map_err(|e| e.to_string())?;
        copy_dir(template, dir.path());
        std::fs::write(dir.path().join("keystone.conf"), config(dir.path(), expiration)).map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("keystone_wsgi.py"), WSGI_SHIM).map_err(|e| e.to_string())?;
        let port =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let log = std::fs::File::create(dir.path().join("keystone.log")).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        // The shell starts gunicorn, then waits on its stdin: when our end closes it stops it.
        let watchdog = r#""$@" </dev/null & pid=$!; read -r _ || true; kill "$pid" 2>/dev/null; wait "$pid""#;
        let child = Command::new("sh")
            .arg("-c")
            .arg(watchdog)
            .arg("keystone-watchdog")
            .arg(venv.join("bin/gunicorn"))
            .arg("--chdir")
            .arg(dir.path())
            .arg("--control-socket")
            .arg(dir.path().join("gunicorn.ctl"))
            .args(["--bind", &format!("127.0.0.1:{port}"), "--workers", "1", "--threads", "8", "--timeout", "120"])
            .arg("keystone_wsgi:application")
            .env("OS_KEYSTONE_CONFIG_FILES", dir.path().join("keystone.conf"))
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("cannot run sh: {e}"))?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| e.to_string())?;
        let mut k = Keystone { child, port, dir, http };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(status)) = k.child.try_wait() {
                return Err(format!("gunicorn exited ({status}): {}", k.log_tail()));
            }
            if let Ok(r) = k.http.get(format!("{}/v3", k.url())).send().await {
                if r.status().is_success() {
                    // The bootstrap wrote another port into the catalogue's identity endpoint.
                    k.fix_identity_endpoint().await;
                    return Ok(k);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("gunicorn did not answer within 60 s: {}", k.log_tail()))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("keystone.log")).unwrap_or_default();
        text.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// The auth URL (no version suffix).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A token of `user` (in the Default domain) scoped to `project`, and its body.
    pub async fn token(&self, user: &str, password: &str, project: &str) -> (String, Value) {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}},
        }});
        let r = self.http.post(format!("{}/v3/auth/tokens", self.url())).json(&body).send().await.expect("Keystone");
        assert!(r.status().is_success(), "token for {user}: {}", r.status());
        let token = r.headers()["x-subject-token"].to_str().expect("a token").to_string();
        (token, r.json().await.expect("a token body"))
    }

    /// An administrator's token.
    pub async fn admin_token(&self) -> String {
        self.token("admin", ADMIN_PASSWORD, "admin").await.0
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let token = self.admin_token().await;
        let mut req =
            self.http.request(method.clone(), format!("{}/v3{path}", self.url())).header("X-Auth-Token", token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("Keystone");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn fix_identity_endpoint(&self) {
        let list = self.admin(reqwest::Method::GET, "/endpoints", None).await;
        for e in list["endpoints"].as_array().into_iter().flatten() {
            let id = e["id"].as_str().expect("an id");
            self.admin(
                reqwest::Method::PATCH,
                &format!("/endpoints/{id}"),
                Some(json!({"endpoint": {"url": self.url()}})),
            )
            .await;
        }
    }

    /// Makes a project with a member user (role `member`), both in the Default domain; returns
    /// the project's id.
    pub async fn add_project(&self, project: &str, user: &str, password: &str) -> String {
        let p = self
            .admin(
                reqwest::Method::POST,
                "/projects",
                Some(json!({"project": {"name": project, "domain_id": "default", "enabled": true}})),
            )
            .await;
        let project_id = p["project"]["id"].as_str().expect("a project id").to_string();
        let u = self
            .admin(
                reqwest::Method::POST,
                "/users",
                Some(json!({"user": {"name": user, "domain_id": "default", "password": password, "enabled": true}})),
            )
            .await;
        let user_id = u["user"]["id"].as_str().expect("a user id").to_string();
        let roles = self.admin(reqwest::Method::GET, "/roles?name=member", None).await;
        let role = roles["roles"][0]["id"].as_str().expect("the member role").to_string();
        self.admin(reqwest::Method::PUT, &format!("/projects/{project_id}/users/{user_id}/roles/{role}"), None).await;
        project_id
    }

    /// Registers services in the catalogue of `region` (made if needed): (type, name, public URL).
    /// URLs may hold `$(project_id)s`, which Keystone fills in per token.
    pub async fn register(&self, region: &str, services: &[(&str, &str, String)]) {
        let regions = self.admin(reqwest::Method::GET, "/regions", None).await;
        if !regions["regions"].as_array().into_iter().flatten().any(|r| r["id"] == region) {
            self.admin(reqwest::Method::POST, "/regions", Some(json!({"region": {"id": region}}))).await;
        }
        let existing = self.admin(reqwest::Method::GET, "/services", None).await;
        for (kind, name, url) in services {
            let service_id = match existing["services"].as_array().into_iter().flatten().find(|s| s["type"] == *kind) {
                Some(s) => s["id"].as_str().expect("an id").to_string(),
                None => {
                    let s = self
                        .admin(
                            reqwest::Method::POST,
                            "/services",
                            Some(json!({"service": {"type": kind, "name": name, "enabled": true}})),
                        )
                        .await;
                    s["service"]["id"].as_str().expect("an id").to_string()
                }
            };
            self.admin(
                reqwest::Method::POST,
                "/endpoints",
                Some(json!({"endpoint": {"service_id": service_id, "interface": "public", "region_id": region, "url": url, "enabled": true}})),
            )
            .await;
        }
    }

    /// Revokes a token (as its owner would, by logging out).
    pub async fn revoke(&self, token: &str) {
        let admin = self.admin_token().await;
        let r = self
            .http
            .delete(format!("{}/v3/auth/tokens", self.url()))
            .header("X-Auth-Token", admin)
            .header("X-Subject-Token", token)
            .send()
            .await
            .expect("Keystone");
        assert!(r.status().is_success(), "revoking: {}", r.status());
    }
}

impl Drop for Keystone {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
