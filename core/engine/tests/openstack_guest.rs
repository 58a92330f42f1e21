//! OpenStack end to end on a real machine: the fake cloud's server is backed by a local QEMU
//! guest (booted with the key pair the core gave Nova), and its fixed address, a loopback address
//! 127.0.0.N, relays port 22 to that guest. The core launches the instance through Keystone and
//! the OpenStack APIs, then provisions it over SSH as on any cloud (the WMAIC library, a user with
//! a password, hardened SSH), and terminates it.
//!
//! Needs QEMU, the cached Debian guest image (built by scripts/test-all), the OpenStack venv and
//! root (port 22 on a loopback address). Skipped with a note without them, except under CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use wintermute_api::instances::{InstanceAction, InstanceStatus, LaunchRequest, LaunchStorage};
use wintermute_api::providers::{ImagePatch, ImportImage, NewProvider, OsType, ProviderKind, ProviderPatch};
use wintermute_api::setup::{Setup, SetupUser};
use wintermute_api::tasks::{Task, TaskState};
use wintermute_cloud::{CloudProvider, InstanceSpec, Tags};
use wintermute_cloud_local::image::{default_image_dir, find_built_image, DEBIAN_12, LOGIN_USER};
use wintermute_cloud_local::{find_program, LocalProvider, LocalSettings, QEMU_SYSTEM, REGION as LOCAL_REGION};
use wintermute_cloud_openstack::testing::{Backend, FakeOptions, Lab, ServerBackend, PASSWORD, PROJECT, REGION, USER};
use wintermute_core::store::Backend as DbBackend;
use wintermute_core::testing::TestCore;
use wintermute_core::Caller;
use wintermute_ssh::SshTarget;

fn can_run() -> bool {
    let mut missing = Vec::new();
    if find_program(QEMU_SYSTEM.0).is_none() {
        missing.push("QEMU".to_string());
    }
    if default_image_dir().and_then(|d| find_built_image(&d)).is_none() {
        missing.push("the built guest image (scripts/test-all builds it)".into());
    }
    let root = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false);
    if !root {
        missing.push("root (port 22 on a loopback address)".into());
    }
    if missing.is_empty() {
        return true;
    }
    let note = format!("the OpenStack-over-a-real-guest test needs {}", missing.join(", "));
    assert!(std::env::var_os("CI").is_none(), "{note}");
    eprintln!("SKIPPED: {note}");
    false
}

/// Local guests behind the fake's servers, each reached through `<address>:22`.
struct Guests {
    local: LocalProvider,
    image_id: String,
    dir: tempfile::TempDir,
    /// server id -> (guest id, relay task)
    running: Mutex<HashMap<String, (String, tokio::task::JoinHandle<()>)>>,
}

#[async_trait::async_trait]
impl ServerBackend for Guests {
    async fn create(&self, id: &str, address: &str, public_key: Option<&str>) -> Result<(), String> {
        let key = public_key.ok_or("the server has no key pair")?;
        self.local.import_key_pair(LOCAL_REGION, id, key, &Tags::new()).await.map_err(|e| e.to_string())?;
        let spec = InstanceSpec {
            name: id.into(),
            image_id: self.image_id.clone(),
            instance_type: "local.small".into(),
            key_name: Some(id.into()),
            security_group_ids: vec![],
            count: 1,
            tags: Tags::new(),
            availability_zone: None,
            user_data: None,
        };
        let guest = self.local.run_instances(LOCAL_REGION, &spec).await.map_err(|e| e.to_string())?.remove(0);
        let target = SocketAddr::from((Ipv4Addr::LOCALHOST, guest.ssh_port.ok_or("the guest has no SSH port")?));
        let listen: SocketAddr = format!("{address}:22").parse().map_err(|_| format!("{address} is not an address"))?;
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("{listen}: {e}"))?;
        let relay = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        self.running.lock().unwrap().insert(id.to_string(), (guest.id, relay));
        Ok(())
    }

    async fn delete(&self, id: &str) {
        let entry = self.running.lock().unwrap().remove(id);
        if let Some((guest, relay)) = entry {
            relay.abort();
            let _ = self.local.terminate_instances(LOCAL_REGION, &[guest]).await;
        }
    }
}

impl Drop for Guests {
    /// Kills the guests when the test ends, however it ends.
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("instances")) else { return };
        for entry in entries.flatten() {
            let Ok(pid) = std::fs::read_to_string(entry.path().join("qemu.pid")) else { continue };
            let Ok(pid) = pid.trim().parse::<i32>() else { continue };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&*entry.path().to_string_lossy()) {
                let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            }
        }
    }
}

/// A loopback address whose port 22 is free.
fn free_loopback() -> Ipv4Addr {
    for n in 60..250u8 {
        let a = Ipv4Addr::new(127, 0, 0, n);
        if std::net::TcpListener::bind((a, 22)).is_ok() {
            return a;
        }
    }
    panic!("no loopback address with a free port 22");
}

async fn finished(core: &TestCore, caller: &Caller, id: i64, wait: Duration) -> Task {
    let started = std::time::Instant::now();
    loop {
        let t = core.engine.tasks_get(caller, id).await.unwrap();
        if t.state.is_finished() {
            return t;
        }
        assert!(started.elapsed() < wait, "task {id} did not finish within {wait:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openstack_instance_is_provisioned_on_a_real_guest() {
    if !can_run() {
        return;
    }
    let image = find_built_image(&default_image_dir().unwrap()).unwrap();
    let dir = tempfile::Builder::new().prefix("wm-os-guest-").tempdir().unwrap();
    let local = LocalProvider::new(LocalSettings::new(dir.path())).unwrap();
    let image_id = local.import_image(DEBIAN_12, &image.path, None).await.unwrap().image_id;
    let guests = Arc::new(Guests { local, image_id, dir, running: Mutex::new(HashMap::new()) });
    let address = free_loopback();
    let opts = FakeOptions {
        fixed_addresses: vec![address.to_string()],
        backend: Some(Backend(guests.clone())),
        ..FakeOptions::default()
    };
    let Some(lab) = Lab::start_with(opts).await else { return };

    let core = TestCore::start(DbBackend::Sqlite).await;
    let (engine, admin) = (&core.engine, core.admin.clone());
    engine.settings_set(&admin, "WMAIS_SG_IP_ADDRESS", json!("127.0.0.1")).await.unwrap();
    engine.settings_set(&admin, "WMAIS_CONNECTION_RETRY_PAUSE", json!(2)).await.unwrap();
    engine.settings_set(&admin, "WMAIS_CONNECTION_ATTEMPTS", json!(150)).await.unwrap();
    let p = engine
        .providers_create(
            &admin,
            &NewProvider {
                kind: Some(ProviderKind::Openstack),
                name: "openstack".into(),
                access_key_id: USER.into(),
                secret_access_key: PASSWORD.into(),
                endpoint_url: Some(lab.keystone.url()),
                default_region: Some(REGION.into()),
                project: Some(PROJECT.into()),
                // The core sits "inside" the cloud: it uses the servers' fixed addresses.
                address_mode: Some("fixed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let t =
        finished(&core, &admin, engine.providers_sync(&admin, p.id).await.unwrap().id, Duration::from_secs(60)).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    engine
        .providers_update(
            &admin,
            p.id,
            &ProviderPatch {
                allowed_regions: Some(vec![REGION.into()]),
                allowed_instance_types: Some(vec!["m1.small".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let glance_id = engine.images_search(&admin, p.id, REGION, "debian").await.unwrap()[0].cloud_id.clone();
    let image = engine
        .images_import(&admin, &ImportImage { provider_id: p.id, region: REGION.into(), cloud_id: glance_id })
        .await
        .unwrap();
    let patch = ImagePatch {
        enabled: Some(true),
        os_type: Some(OsType::Debian),
        login_user: Some(LOGIN_USER.into()),
        ..Default::default()
    };
    engine.images_update(&admin, image.id, &patch).await.unwrap();

    let launch = LaunchRequest {
        name: "web".into(),
        description: String::new(),
        tags: "1:web".into(),
        image_id: image.id,
        instance_type: "m1.small".into(),
        count: Some(1),
        security_groups: vec![],
        swarm: None,
        storage: LaunchStorage::None,
        setup: Setup {
            user: Some(SetupUser { name: "bob".into(), password: "Bob-on-openstack-77".into() }),
            ..Setup::default()
        },
    };
    let l = engine.instances_launch(&admin, &launch).await.unwrap();
    let t = finished(&core, &admin, l.task.id, Duration::from_secs(900)).await;
    let log = engine.tasks_log(&admin, t.id, None).await.unwrap();
    let log = log.iter().map(|l| l.line.clone()).collect::<Vec<_>>().join("\n");
    assert_eq!(t.state, TaskState::Succeeded, "{}\n{log}", t.message);
    assert!(log.contains("installing the WMAIC library") && log.contains("Debian GNU/Linux 12"), "{log}");
    assert!(!log.contains("Bob-on-openstack-77"), "the password is not in the log");
    let id = l.instances[0].id;
    let i = engine.instances_get(&admin, id).await.unwrap();
    assert_eq!(i.status, InstanceStatus::Running, "{}", i.status_message);
    assert_eq!(i.public_ip.as_deref(), Some(address.to_string().as_str()));

    // Inside: the instance's values, the user, on the guest behind the server.
    let server = i.cloud_id.clone().unwrap();
    let guest = guests.running.lock().unwrap().get(&server).map(|g| g.0.clone()).expect("a guest for the server");
    let key = engine.user_key_pair(i.owner_id).await.unwrap();
    let target = SshTarget::new(i.ssh_host.clone().unwrap(), u16::try_from(i.ssh_port.unwrap()).unwrap(), i.login_user);
    // (sshd may be restarting after the hardening: retry for a while.)
    let mut tries = 0;
    let s = loop {
        match engine.ssh_to_instance(id, &target, &key).await {
            Ok(s) => break s,
            Err(e) if tries < 30 => {
                tries += 1;
                eprintln!("SSH not ready yet: {e}");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => panic!("SSH to the instance: {e}"),
        }
    };
    let out = s
        .exec("bash -lc 'echo \"$WMAIC_INSTANCE_NAME|$WMAIC_INSTANCE_TAGS\"'; hostname; id -u bob", None)
        .await
        .unwrap();
    s.close().await;
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(out.exit_status, 0, "{text}");
    assert_eq!(lines[..2], ["web|web", guest.as_str()], "{text}");

    // Terminate: the server goes, and the guest behind it.
    let t = engine.instances_action(&admin, id, InstanceAction::Terminate).await.unwrap();
    let t = finished(&core, &admin, t.id, Duration::from_secs(120)).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    let cloud = lab.provider();
    assert!(cloud.describe_instances(REGION, std::slice::from_ref(&server)).await.unwrap()[0].state.is_gone());
    for _ in 0..50 {
        if guests.running.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(guests.running.lock().unwrap().is_empty(), "the guest was removed with its server");
}
