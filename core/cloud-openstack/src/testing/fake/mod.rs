//! A fake of Nova, Glance, Cinder and Neutron in one HTTP server, for tests. It trusts nothing:
//! every request's `X-Auth-Token` is validated by the real Keystone it was started with, and
//! objects belong to the token's project.
//!
//! It serves what the official clients expect (checked by the conformance test with
//! `openstack` and `openstacksdk`): version documents at each service's root, microversion
//! negotiation (`OpenStack-API-Version`, 406 for versions out of range), `/detail` lists,
//! `GET` by id that answers 404 for a name so that clients fall back to filtering by name, and
//! each service's error body format. State changes take a short, configurable time (servers
//! build, stop and start; volumes are made, attached and detached), as they do in a real cloud.
//!
//! Paths: `/compute/v2.1/…`, `/image/v2/…`, `/volume/v3/<project>/…`, `/network/v2.0/…`.

mod compute;
mod image;
mod network;
mod volume;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{json, Value};

/// Real machines behind the fake's servers: the fake asks the backend to boot one when a server
/// is created (the server stays `BUILD` until it is up) and to remove it when the server is
/// deleted. Power actions only change the fake's records.
#[async_trait::async_trait]
pub trait ServerBackend: Send + Sync {
    /// Boots a machine for server `id`, reachable over SSH at `address` port 22 and accepting
    /// `public_key` (the server's key pair) for its login user.
    async fn create(&self, id: &str, address: &str, public_key: Option<&str>) -> Result<(), String>;
    /// Removes the machine of server `id`.
    async fn delete(&self, id: &str);
}

/// A [`ServerBackend`] in [`FakeOptions`].
#[derive(Clone)]
pub struct Backend(pub Arc<dyn ServerBackend>);

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Backend")
    }
}

/// Settings of a fake cloud.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// How long a state change (build, stop, start, reboot, delete, volume create, attach,
    /// detach) takes.
    pub delay: Duration,
    /// Floating IPs are taken from `<prefix>.10`, `<prefix>.11`… (three octets, e.g. `172.24.4`).
    pub floating_prefix: String,
    /// The Nova instance quota per project.
    pub max_instances: u32,
    /// The availability zone of servers and volumes.
    pub zone: String,
    /// Fixed addresses for servers' ports, in order (instead of `10.0.0.N`): e.g. loopback
    /// addresses that lead to the machines of `backend`.
    pub fixed_addresses: Vec<String>,
    /// Real machines behind the servers.
    pub backend: Option<Backend>,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(300),
            floating_prefix: "172.24.4".into(),
            max_instances: 20,
            zone: "nova".into(),
            fixed_addresses: Vec::new(),
            backend: None,
        }
    }
}

/// Work for the backend, queued under the state's lock and done after it.
pub(crate) enum BackendJob {
    Create { id: String, address: String, public_key: Option<String> },
    Delete { id: String },
}

/// What the fake has seen of a request, for tests that check the client's manners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `GET`, `POST`…
    pub method: String,
    /// The path.
    pub path: String,
    /// The `OpenStack-API-Version` header, if any.
    pub microversion: Option<String>,
}

/// A state change that completes later.
pub(crate) enum Change {
    Server { id: String, status: &'static str },
    ServerGone { id: String },
    Volume { id: String, status: &'static str },
    VolumeGone { id: String },
}

pub(crate) struct State {
    pub opts: FakeOptions,
    pub base: String,
    pub flavors: Vec<Value>,
    pub images: Vec<Value>,
    /// (project, key pair)
    pub keypairs: Vec<(String, Value)>,
    pub servers: Vec<Value>,
    pub deleted_servers: Vec<Value>,
    pub volumes: Vec<Value>,
    pub volume_types: Vec<Value>,
    pub networks: Vec<Value>,
    pub subnets: Vec<Value>,
    pub ports: Vec<Value>,
    pub groups: Vec<Value>,
    pub fips: Vec<Value>,
    pub next_fixed: u8,
    pub next_floating: u8,
    pending: Vec<(Instant, Change)>,
    pub seen: Vec<Seen>,
    pub jobs: Vec<BackendJob>,
    /// The last token a request carried.
    pub last_token: Option<String>,
}

pub(crate) fn new_id() -> String {
    let mut r = rand::thread_rng();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        r.gen::<u32>(),
        r.gen::<u16>(),
        r.gen::<u16>() & 0xfff,
        (r.gen::<u16>() & 0x3fff) | 0x8000,
        r.gen::<u64>() & 0xffff_ffff_ffff
    )
}

pub(crate) fn now_text() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl State {
    /// Applies the state changes that are due.
    fn tick(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending).into_iter().partition(|(t, _)| *t <= now);
        self.pending = later;
        for (_, change) in due {
            match change {
                Change::Server { id, status } => {
                    if let Some(s) = self.servers.iter_mut().find(|s| s["id"] == id.as_str()) {
                        s["status"] = json!(status);
                        s["OS-EXT-STS:task_state"] = Value::Null;
                        s["OS-EXT-STS:vm_state"] = json!(status.to_ascii_lowercase());
                        s["OS-EXT-STS:power_state"] = json!(if status == "ACTIVE" { 1 } else { 4 });
                        s["updated"] = json!(now_text());
                        if status == "ACTIVE" && s["OS-SRV-USG:launched_at"].is_null() {
                            s["OS-SRV-USG:launched_at"] =
                                json!(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string());
                        }
                    }
                }
                Change::ServerGone { id } => self.remove_server(&id),
                Change::Volume { id, status } => {
                    if let Some(v) = self.volumes.iter_mut().find(|v| v["id"] == id.as_str()) {
                        v["status"] = json!(status);
                        v["updated_at"] = json!(now_text());
                    }
                }
                Change::VolumeGone { id } => self.volumes.retain(|v| v["id"] != id.as_str()),
            }
        }
    }

    pub(crate) fn later(&mut self, change: Change) {
        let at = Instant::now() + self.opts.delay;
        self.pending.push((at, change));
    }

    /// Whether a change for this object is still on its way.
    pub(crate) fn busy(&self, id: &str) -> bool {
        self.pending.iter().any(|(_, c)| match c {
            Change::Server { id: i, .. }
            | Change::ServerGone { id: i }
            | Change::Volume { id: i, .. }
            | Change::VolumeGone { id: i } => i == id,
        })
    }

    /// A backend machine is up (or failed): the server becomes ACTIVE (or ERROR).
    fn booted(&mut self, id: &str, ok: bool) {
        if let Some(s) = self.servers.iter_mut().find(|s| s["id"] == id) {
            if s["status"] == "BUILD" {
                let status = if ok { "ACTIVE" } else { "ERROR" };
                s["status"] = json!(status);
                s["OS-EXT-STS:task_state"] = Value::Null;
                s["OS-EXT-STS:vm_state"] = json!(status.to_ascii_lowercase());
                s["OS-EXT-STS:power_state"] = json!(if ok { 1 } else { 0 });
                s["OS-SRV-USG:launched_at"] = json!(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string());
            }
        }
    }

    fn remove_server(&mut self, id: &str) {
        if self.opts.backend.is_some() {
            self.jobs.push(BackendJob::Delete { id: id.to_string() });
        }
        let Some(pos) = self.servers.iter().position(|s| s["id"] == id) else { return };
        let mut s = self.servers.remove(pos);
        // Its volumes come off, its ports go (with their floating IPs' association).
        for v in self.volumes.iter_mut() {
            let before = v["attachments"].as_array().map(Vec::len).unwrap_or(0);
            if let Some(list) = v["attachments"].as_array_mut() {
                list.retain(|a| a["server_id"] != id);
            }
            if v["attachments"].as_array().map(Vec::len).unwrap_or(0) != before {
                v["status"] = json!("available");
            }
        }
        let ports: Vec<String> = self
            .ports
            .iter()
            .filter(|p| p["device_id"] == id)
            .filter_map(|p| p["id"].as_str().map(str::to_string))
            .collect();
        for f in self.fips.iter_mut() {
            if f["port_id"].as_str().is_some_and(|p| ports.iter().any(|x| x == p)) {
                f["port_id"] = Value::Null;
                f["fixed_ip_address"] = Value::Null;
                f["status"] = json!("DOWN");
            }
        }
        self.ports.retain(|p| p["device_id"] != id);
        s["status"] = json!("DELETED");
        s["OS-EXT-STS:task_state"] = Value::Null;
        s["OS-EXT-STS:vm_state"] = json!("deleted");
        s["addresses"] = json!({});
        self.deleted_servers.push(s);
    }

    fn seed(&mut self) {
        let flavor = |id: &str, name: &str, vcpus: u32, ram: u32, disk: u32| {
            json!({"id": id, "name": name, "vcpus": vcpus, "ram": ram, "disk": disk, "swap": 0,
                   "OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": false, "os-flavor-access:is_public": true,
                   "rxtx_factor": 1.0, "description": null, "extra_specs": {}})
        };
        self.flavors = vec![
            flavor("1", "m1.tiny", 1, 512, 1),
            flavor("2", "m1.small", 1, 2048, 20),
            flavor("3", "m1.medium", 2, 4096, 40),
            flavor("4", "m1.large", 4, 8192, 80),
        ];
        self.add_image("debian-12-genericcloud-amd64", "admin-owned", "2026-01-10T08:00:00Z");
        self.add_image("ubuntu-24.04-server-cloudimg-amd64", "admin-owned", "2026-02-20T08:00:00Z");
        self.add_image("cirros-0.6.2-x86_64-disk", "admin-owned", "2025-06-01T08:00:00Z");
        self.volume_types = vec![
            json!({"id": new_id(), "name": "__DEFAULT__", "description": "Default Volume Type", "is_public": true, "extra_specs": {}}),
            json!({"id": new_id(), "name": "io2", "description": "provisioned IOPS", "is_public": true, "extra_specs": {}}),
        ];
        let public = new_id();
        let private = new_id();
        let (pub_subnet, priv_subnet) = (new_id(), new_id());
        let net = |id: &str, name: &str, external: bool, subnet: &str| {
            json!({"id": id, "name": name, "status": "ACTIVE", "admin_state_up": true, "shared": !external,
                   "router:external": external, "subnets": [subnet], "project_id": "admin-owned", "tenant_id": "admin-owned",
                   "mtu": 1500, "availability_zones": ["nova"], "tags": [], "description": "",
                   "created_at": now_text(), "updated_at": now_text(), "revision_number": 1, "port_security_enabled": true})
        };
        self.networks = vec![net(&public, "public", true, &pub_subnet), net(&private, "private", false, &priv_subnet)];
        let prefix = self.opts.floating_prefix.clone();
        self.subnets = vec![
            json!({"id": pub_subnet, "name": "public-subnet", "network_id": public, "ip_version": 4, "cidr": format!("{prefix}.0/24"),
                   "gateway_ip": format!("{prefix}.1"), "enable_dhcp": false, "project_id": "admin-owned", "tags": []}),
            json!({"id": priv_subnet, "name": "private-subnet", "network_id": private, "ip_version": 4, "cidr": "10.0.0.0/24",
                   "gateway_ip": "10.0.0.1", "enable_dhcp": true, "project_id": "admin-owned", "tags": []}),
        ];
    }

    /// Adds a public image to Glance; returns its id.
    pub(crate) fn add_image(&mut self, name: &str, owner: &str, created: &str) -> String {
        let id = new_id();
        self.images.push(json!({
            "id": id, "name": name, "status": "active", "visibility": "public", "owner": owner,
            "container_format": "bare", "disk_format": "qcow2", "size": 1_073_741_824u64, "min_disk": 0, "min_ram": 0,
            "protected": false, "os_hidden": false, "checksum": null, "tags": [], "architecture": "x86_64",
            "os_distro": name.split('-').next().unwrap_or(name),
            "created_at": created, "updated_at": created, "self": format!("/v2/images/{id}"),
            "file": format!("/v2/images/{id}/file"), "schema": "/v2/schemas/image",
        }));
        id
    }
}

/// The parsed request the service modules see.
pub(crate) struct Req {
    pub method: Method,
    /// Path segments after the service's version segment (`servers`, `<id>`, `action`…).
    pub segs: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: Value,
    pub project: String,
    pub user: String,
    /// The microversion asked for (or the default).
    pub micro: (u32, u32),
}

impl Req {
    pub fn q(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// A reply: status, JSON body (Null for none), extra headers.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub text: Option<String>,
}

pub(crate) fn ok(body: Value) -> Reply {
    Reply { status: StatusCode::OK, body, text: None }
}

pub(crate) fn with(status: StatusCode, body: Value) -> Reply {
    Reply { status, body, text: None }
}

pub(crate) fn empty(status: StatusCode) -> Reply {
    Reply { status, body: Value::Null, text: None }
}

/// Nova's and Cinder's error body: `{"itemNotFound": {"message": …, "code": 404}}`.
pub(crate) fn nova_err(status: StatusCode, message: impl Into<String>) -> Reply {
    let kind = match status.as_u16() {
        400 => "badRequest",
        403 => "forbidden",
        404 => "itemNotFound",
        406 => "notAcceptable",
        409 => "conflictingRequest",
        413 => "overLimit",
        _ => "computeFault",
    };
    with(status, json!({kind: {"message": message.into(), "code": status.as_u16()}}))
}

/// Neutron's error body.
pub(crate) fn neutron_err(status: StatusCode, kind: &str, message: impl Into<String>) -> Reply {
    with(status, json!({"NeutronError": {"type": kind, "message": message.into(), "detail": ""}}))
}

/// Glance answers errors in plain text.
pub(crate) fn glance_err(status: StatusCode, message: impl Into<String>) -> Reply {
    Reply {
        status,
        body: Value::Null,
        text: Some(format!("<html><body><h1>{status}</h1>{}</body></html>", message.into())),
    }
}

/// A running fake cloud; stopped when dropped.
pub struct FakeOpenstack {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State>>,
    keystone: String,
    http: reqwest::Client,
}

impl FakeOpenstack {
    /// Starts a fake on a free loopback port that checks tokens with the Keystone at
    /// `keystone_url`.
    pub async fn start(keystone_url: &str, opts: FakeOptions) -> FakeOpenstack {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("a port for the fake");
        let addr = listener.local_addr().expect("its address");
        let mut state = State {
            opts,
            base: format!("http://{addr}"),
            flavors: vec![],
            images: vec![],
            keypairs: vec![],
            servers: vec![],
            deleted_servers: vec![],
            volumes: vec![],
            volume_types: vec![],
            networks: vec![],
            subnets: vec![],
            ports: vec![],
            groups: vec![],
            fips: vec![],
            next_fixed: 10,
            next_floating: 10,
            pending: vec![],
            seen: vec![],
            jobs: vec![],
            last_token: None,
        };
        state.seed();
        let state = Arc::new(Mutex::new(state));
        let shared = Shared {
            state: state.clone(),
            keystone: keystone_url.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("an HTTP client"),
        };
        let app = axum::Router::new().fallback(handle).with_state(shared);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeOpenstack { addr, state, task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The catalogue entries to register in Keystone: (type, name, URL).
    pub fn catalogue(&self) -> Vec<(&'static str, &'static str, String)> {
        let u = self.url();
        vec![
            ("compute", "nova", format!("{u}/compute/v2.1")),
            ("image", "glance", format!("{u}/image")),
            ("block-storage", "cinder", format!("{u}/volume/v3/$(project_id)s")),
            ("volumev3", "cinderv3", format!("{u}/volume/v3/$(project_id)s")),
            ("network", "neutron", format!("{u}/network")),
        ]
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.tick();
        f(&mut s)
    }

    /// Adds a public image; returns its id.
    pub fn add_image(&self, name: &str, owner: &str, created: &str) -> String {
        self.with_state(|s| s.add_image(name, owner, created))
    }

    /// The id of the seeded image with this name.
    pub fn image_id(&self, name: &str) -> Option<String> {
        self.with_state(|s| {
            s.images.iter().find(|i| i["name"] == name).and_then(|i| i["id"].as_str()).map(str::to_string)
        })
    }

    /// Servers that exist (not deleted), any project.
    pub fn servers(&self) -> Vec<Value> {
        self.with_state(|s| s.servers.clone())
    }

    /// Volumes that exist, any project.
    pub fn volumes(&self) -> Vec<Value> {
        self.with_state(|s| s.volumes.clone())
    }

    /// Floating IPs that exist, any project.
    pub fn floating_ips(&self) -> Vec<Value> {
        self.with_state(|s| s.fips.clone())
    }

    /// Key pairs, any project.
    pub fn key_pairs(&self) -> Vec<Value> {
        self.with_state(|s| s.keypairs.iter().map(|(_, k)| k.clone()).collect())
    }

    /// Security groups, any project.
    pub fn security_groups(&self) -> Vec<Value> {
        self.with_state(|s| s.groups.clone())
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.with_state(|s| s.seen.clone())
    }

    /// The token of the last request that carried one (to revoke it in Keystone).
    pub fn last_token(&self) -> Option<String> {
        self.with_state(|s| s.last_token.clone())
    }

    /// Puts a server in the ERROR state (as when its hypervisor fails).
    pub fn break_server(&self, id: &str) {
        self.with_state(|s| {
            if let Some(v) = s.servers.iter_mut().find(|v| v["id"] == id) {
                v["status"] = json!("ERROR");
            }
        })
    }
}

impl Drop for FakeOpenstack {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn into_response(reply: Reply, micro: Option<(&str, (u32, u32))>) -> Response {
    let mut resp = match (&reply.text, &reply.body) {
        (Some(t), _) => (reply.status, [("content-type", "text/html; charset=UTF-8")], t.clone()).into_response(),
        (None, Value::Null) => reply.status.into_response(),
        (None, b) => (reply.status, axum::Json(b.clone())).into_response(),
    };
    if let Some((service, (a, b))) = micro {
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&format!("{service} {a}.{b}")) {
            h.insert("openstack-api-version", v);
        }
        if service == "compute" {
            if let Ok(v) = HeaderValue::from_str(&format!("{a}.{b}")) {
                h.insert("x-openstack-nova-api-version", v);
            }
        }
        h.insert("vary", HeaderValue::from_static("OpenStack-API-Version, X-OpenStack-Nova-API-Version"));
    }
    resp
}

/// The microversion ranges the fake speaks.
pub(crate) const NOVA_RANGE: ((u32, u32), (u32, u32)) = ((2, 1), (2, 96));
pub(crate) const CINDER_RANGE: ((u32, u32), (u32, u32)) = ((3, 0), (3, 70));

fn asked_microversion(
    headers: &HeaderMap,
    service: &str,
    range: ((u32, u32), (u32, u32)),
) -> Result<(u32, u32), Reply> {
    let mut asked: Option<String> = None;
    for v in headers.get_all("openstack-api-version") {
        if let Ok(v) = v.to_str() {
            for part in v.split(',') {
                let mut it = part.split_whitespace();
                if it.next() == Some(service) {
                    asked = it.next().map(str::to_string);
                }
            }
        }
    }
    if asked.is_none() && service == "compute" {
        asked = headers.get("x-openstack-nova-api-version").and_then(|v| v.to_str().ok()).map(str::to_string);
    }
    let Some(asked) = asked else { return Ok(range.0) };
    if asked == "latest" {
        return Ok(range.1);
    }
    let parsed = asked.split_once('.').and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
    match parsed {
        Some(v) if v >= range.0 && v <= range.1 => Ok(v),
        Some(_) => Err(nova_err(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "Version {asked} is not supported by the API. Minimum is {}.{} and maximum is {}.{}.",
                range.0 .0, range.0 .1, range.1 .0, range.1 .1
            ),
        )),
        None => Err(nova_err(StatusCode::BAD_REQUEST, format!("API Version String {asked} is of invalid format."))),
    }
}

/// Asks Keystone who the token belongs to: (project id, user id).
async fn validate(shared: &Shared, token: &str) -> Option<(String, String)> {
    let r = shared
        .http
        .get(format!("{}/v3/auth/tokens?nocatalog", shared.keystone))
        .header("X-Auth-Token", token)
        .header("X-Subject-Token", token)
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    let v: Value = r.json().await.ok()?;
    Some((v["token"]["project"]["id"].as_str()?.to_string(), v["token"]["user"]["id"].as_str()?.to_string()))
}

async fn handle(
    AxState(shared): AxState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let segs: Vec<String> = uri.path().split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default();
    let base = shared.state.lock().unwrap_or_else(|p| p.into_inner()).base.clone();
    {
        let mut s = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        s.seen.push(Seen {
            method: method.to_string(),
            path: uri.path().to_string(),
            microversion: headers.get("openstack-api-version").and_then(|v| v.to_str().ok()).map(str::to_string),
        });
    }
    let service = segs.first().cloned().unwrap_or_default();
    // Version documents need no token.
    let version_segment = segs.get(1).cloned();
    if let Some(doc) = version_document(&base, &service, version_segment.as_deref(), segs.len()) {
        return into_response(doc, None);
    }
    if !matches!(service.as_str(), "compute" | "image" | "volume" | "network") {
        return into_response(nova_err(StatusCode::NOT_FOUND, "The resource could not be found."), None);
    }
    let unauthorized = || {
        into_response(
            with(
                StatusCode::UNAUTHORIZED,
                json!({"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}),
            ),
            None,
        )
    };
    let Some(token) = headers.get("x-auth-token").and_then(|v| v.to_str().ok()) else { return unauthorized() };
    shared.state.lock().unwrap_or_else(|p| p.into_inner()).last_token = Some(token.to_string());
    let Some((project, user)) = validate(&shared, token).await else { return unauthorized() };
    let body = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return into_response(nova_err(StatusCode::BAD_REQUEST, "Malformed request body"), None),
        }
    };
    let (range, micro_name) = match service.as_str() {
        "compute" => (Some(NOVA_RANGE), "compute"),
        "volume" => (Some(CINDER_RANGE), "volume"),
        _ => (None, ""),
    };
    let micro = match range {
        Some(r) => match asked_microversion(&headers, micro_name, r) {
            Ok(v) => v,
            Err(reply) => return into_response(reply, None),
        },
        None => (0, 0),
    };
    let mut req = Req {
        method,
        segs: segs.get(2..).map(<[String]>::to_vec).unwrap_or_default(),
        query,
        body,
        project,
        user,
        micro,
    };
    let mut s = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    s.tick();
    let reply = dispatch(&mut s, &service, &mut req);
    let jobs = std::mem::take(&mut s.jobs);
    let backend = s.opts.backend.clone();
    drop(s);
    if let Some(Backend(backend)) = backend {
        for job in jobs {
            let (backend, state) = (backend.clone(), shared.state.clone());
            tokio::spawn(async move {
                match job {
                    BackendJob::Create { id, address, public_key } => {
                        let result = backend.create(&id, &address, public_key.as_deref()).await;
                        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                        if let Err(e) = &result {
                            let _ = writeln!(std::io::stderr(), "fake cloud: the machine of server {id} failed: {e}");
                        }
                        s.booted(&id, result.is_ok());
                    }
                    BackendJob::Delete { id } => backend.delete(&id).await,
                }
            });
        }
    }
    into_response(reply, range.map(|_| (micro_name, micro)))
}

fn dispatch(s: &mut State, service: &str, req: &mut Req) -> Reply {
    match service {
        "compute" => compute::handle(s, req),
        "image" => image::handle(s, req),
        "volume" => {
            // /volume/v3/<project>/…
            if req.segs.first() != Some(&req.project) {
                nova_err(StatusCode::FORBIDDEN, "the project in the URL is not the token's project")
            } else {
                req.segs.remove(0);
                volume::handle(s, req)
            }
        }
        "network" => network::handle(s, req),
        _ => nova_err(StatusCode::NOT_FOUND, "no such service"),
    }
}

/// The version documents at `/compute/`, `/compute/v2.1/`, `/image/`, `/volume/`, `/volume/v3/`,
/// `/network/`.
fn version_document(base: &str, service: &str, version: Option<&str>, depth: usize) -> Option<Reply> {
    let nova = |status: &str| {
        json!({"id": "v2.1", "status": status, "version": "2.96", "min_version": "2.1", "updated": "2013-07-23T11:33:21Z",
               "links": [{"rel": "self", "href": format!("{base}/compute/v2.1/")}],
               "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}]})
    };
    let cinder = json!({"id": "v3.0", "status": "CURRENT", "version": "3.70", "min_version": "3.0", "updated": "2023-08-31T00:00:00Z",
                        "links": [{"rel": "self", "href": format!("{base}/volume/v3/")}],
                        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}]});
    match (service, version, depth) {
        ("compute", None, 1) => Some(with(StatusCode::OK, json!({"versions": [nova("CURRENT")]}))),
        ("compute", Some("v2.1"), 2) => Some(ok(json!({"version": nova("CURRENT")}))),
        ("image", None, 1) | ("image", Some("versions"), 2) => Some(with(
            StatusCode::MULTIPLE_CHOICES,
            json!({"versions": [
                {"id": "v2.16", "status": "CURRENT", "links": [{"rel": "self", "href": format!("{base}/image/v2/")}]},
                {"id": "v2.1", "status": "SUPPORTED", "links": [{"rel": "self", "href": format!("{base}/image/v2/")}]},
            ]}),
        )),
        ("volume", None, 1) => Some(with(StatusCode::MULTIPLE_CHOICES, json!({"versions": [cinder]}))),
        ("volume", Some("v3"), 2) => Some(ok(json!({"versions": [cinder]}))),
        ("network", None, 1) => Some(ok(json!({"versions": [
            {"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": format!("{base}/network/v2.0/")}]},
        ]}))),
        _ => None,
    }
}
