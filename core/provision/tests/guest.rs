//! The library on a real instance: a Debian guest of the local provider (QEMU), reached over
//! SSH like every instance. The core's install command puts the library there, a UDS script
//! uses the 8.1 variables and `wmaic_parse_template`, the firewall cloak keeps the core's SSH
//! open, and the boot unit puts the cloak back after a reboot.
//!
//! Skipped with a note when QEMU, qemu-img or debootstrap is missing or the test does not run
//! as root (building the guest image needs it), except under CI (`CI` set), where that fails.
//! The image is built once and cached in `~/.cache/wintermute/images`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wintermute_cloud::{CloudProvider, InstanceInfo, InstanceSpec, InstanceState, Tags};
use wintermute_cloud_local::image::{build_debian_image, default_image_dir, DEBIAN_12, LOGIN_USER};
use wintermute_cloud_local::{find_program, LocalProvider, LocalSettings, QEMU_IMG, QEMU_SYSTEM, REGION, ZONE};
use wintermute_custody::UserKeyPair;
use wintermute_provision::{uds_command, InstallPlan, Privilege, Stage, WmaicEnv};
use wintermute_ssh::{connect, AcceptAny, Session, SshTarget};

fn can_run() -> bool {
    let mut missing = Vec::new();
    for (program, package) in [QEMU_SYSTEM, QEMU_IMG] {
        if find_program(program).is_none() {
            missing.push(format!("{program} (package {package})"));
        }
    }
    if find_program("debootstrap").is_none() && !Path::new("/usr/sbin/debootstrap").exists() {
        missing.push("debootstrap (package debootstrap)".into());
    }
    if !nix::unistd::geteuid().is_root() {
        missing.push("root (to build the image)".into());
    }
    if missing.is_empty() {
        return true;
    }
    let note = format!("the guest test needs {}; run scripts/test-all to install them", missing.join(", "));
    assert!(std::env::var_os("CI").is_none_or(|v| v.is_empty()), "{note}");
    eprintln!("SKIPPED: {note}");
    false
}

/// A provider in a temporary folder; its guests are killed when it is dropped.
struct Lab {
    provider: LocalProvider,
    dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("instances")) else { return };
        for entry in entries.flatten() {
            let Ok(pid) = std::fs::read_to_string(entry.path().join("qemu.pid")) else { continue };
            let Ok(pid) = pid.trim().parse::<i32>() else { continue };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&*entry.path().to_string_lossy()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

async fn describe(provider: &LocalProvider, id: &str) -> InstanceInfo {
    provider.describe_instances(REGION, &[id.to_string()]).await.unwrap().remove(0)
}

/// Logs in as soon as the guest's sshd answers (within 3 minutes).
async fn wait_ssh(provider: &LocalProvider, id: &str, key: &UserKeyPair) -> Session {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < Duration::from_secs(180) {
        let info = describe(provider, id).await;
        assert_eq!(info.state, InstanceState::Running);
        let target = SshTarget::new(info.public_ip.clone().unwrap(), info.ssh_port.unwrap(), LOGIN_USER);
        match connect(&target, key, Arc::new(AcceptAny), Duration::from_secs(10)).await {
            Ok(session) => {
                eprintln!("SSH to {id} after {:?}", started.elapsed());
                return session;
            }
            Err(e) if e.is_not_ready() => last = e.to_string(),
            Err(e) => panic!("SSH to {id}: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    panic!("no SSH to {id} within 3 minutes: {last}");
}

/// Runs `command` (with `stdin`), asserts it succeeded, returns its stdout.
async fn sh(session: &Session, command: &str, stdin: Option<&[u8]>) -> String {
    let out = session.exec(command, stdin).await.unwrap();
    assert!(out.success(), "`{command}` failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs bash code as root with the library loaded.
async fn with_library(session: &Session, code: &str) -> String {
    sh(session, &Privilege::Sudo.wrap(&format!(". /etc/profile.d/wmaic.sh || exit 9\n{code}")), None).await
}

const UDS: &str = r#"#!/bin/bash

if [ -f /etc/profile.d/wmaic.sh ];then
    source /etc/profile.d/wmaic.sh
else
    echo "WMAIC shell library not found, aborting!" 1>&2
    exit 1
fi

mkdir -p /srv/app || eXit "cannot create /srv/app"
cat >/srv/app/app.tmpl <<'TEMPLATE'
# ${WMAIC_INSTANCE_NAME} (${WMAIC_INSTANCE_ID}), created ${WMAIC_CREATED}
host=${WMAIC_HOSTNAME} cpus=${WMAIC_PROCESSOR_COUNT} os=${WMAIC_OS_DISTRO}/${WMAIC_OS_FAMILY}/${WMAIC_OS_MAJOR_REL}
zone=${WMAIC_AVAILABILITY_ZONE} tags=${WMAIU_TAGS} stage=${WMAIU_STAGE} arg=${WMAIU_ARG}
addresses=${WMAIU_ADDRESSES}
listen $port ${WMAIU_SELF}:8080;
TEMPLATE
WMAIU_TAGS="${WMAIC_INSTANCE_TAGS[*]}"
WMAIU_STAGE=$(wmaic_get_current_stage)
WMAIU_ARG=$1
WMAIU_ADDRESSES="${WMAIC_NET_IPV4[*]}"
WMAIU_SELF=$(wmaic_get_instances -i -t web)
wmaic_parse_template -i /srv/app/app.tmpl -o /srv/app/app.conf || eXit "template failed"
wmaic_is_swarm_member && eXit "not in a swarm"
echo "done on $WMAIC_FQDN"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_on_a_real_guest() {
    if !can_run() {
        return;
    }
    let images = std::env::var_os("WINTERMUTE_IMAGE_DIR").map(PathBuf::from).or_else(default_image_dir).unwrap();
    let image = build_debian_image(&images, |message, _| eprintln!("[image] {message}")).await.unwrap();
    let dir = tempfile::Builder::new().prefix("wm-provision-").tempdir().unwrap();
    let lab = Lab { provider: LocalProvider::new(LocalSettings::new(dir.path())).unwrap(), dir };
    let p = &lab.provider;
    let image_id = p.import_image(DEBIAN_12, &image.path, Some("test image")).await.unwrap().image_id;
    let key = UserKeyPair::generate("wintermute-test");
    p.import_key_pair(REGION, "test-key", &key.public_openssh(), &Tags::new()).await.unwrap();
    let spec = InstanceSpec {
        name: "wmaic".into(),
        image_id: image_id.clone(),
        instance_type: "local.small".into(),
        key_name: Some("test-key".into()),
        security_group_ids: vec![],
        count: 1,
        tags: Tags::new().with("wintermute:test", "provision"),
        availability_zone: Some(ZONE.into()),
        user_data: None,
    };
    let info = p.run_instances(REGION, &spec).await.unwrap().remove(0);
    let session = wait_ssh(p, &info.id, &key).await;

    // The core installs the library with its values.
    let private_ip = info.private_ip.clone().unwrap();
    let env = WmaicEnv {
        instance_id: info.id.clone(),
        instance_name: "lab's \"web\" $HOME".into(),
        instance_index: Some(1),
        instance_type: "local.small".into(),
        tags: vec!["web".into(), "app".into()],
        image_id,
        cloud: "local".into(),
        region: REGION.into(),
        availability_zone: ZONE.into(),
        private_ip4: Some(private_ip.clone()),
        created: info.launch_time,
        login_user: LOGIN_USER.into(),
        ..WmaicEnv::default()
    };
    let plan = InstallPlan::instance(&env).unwrap();
    let out = sh(&session, &plan.command(Privilege::Sudo), Some(&plan.stdin())).await;
    assert_eq!(out, "wmaic: library /etc/profile.d/wmaic.sh installed\n");
    assert_eq!(sh(&session, "systemctl is-enabled wmaic-firewall.service", None).await, "enabled\n");
    assert_eq!(sh(&session, "sudo stat -c %a /etc/wmaic/secret", None).await, "600\n");

    // A UDS script, run as the core runs them.
    sh(&session, "cat >uds.sh", Some(UDS.as_bytes())).await;
    let run =
        uds_command(Stage::PostDataTransfer, "bash", &format!("/home/{LOGIN_USER}/uds.sh"), &["a b".into()]).unwrap();
    let out = sh(&session, &Privilege::Sudo.wrap(&run), None).await;
    assert_eq!(out, format!("done on {}\n", info.id));
    let conf = sh(&session, "cat /srv/app/app.conf", None).await;
    let cpus = sh(&session, "nproc", None).await;
    let addresses = with_library(&session, r#"echo "${WMAIC_NET_IPV4[*]}""#).await;
    assert!(addresses.split_whitespace().any(|a| a == private_ip), "{addresses}");
    let created = info.launch_time.unwrap().format("%Y%m%d%H%M");
    assert_eq!(
        conf,
        format!(
            "# lab's \"web\" $HOME ({id}), created {created}\n\
             host={id} cpus={cpus} os=debian/Debian/12\n\
             zone={ZONE} tags=web app stage=post-data-transfer arg=a b\n\
             addresses={addresses}\
             listen $port {private_ip}:8080;\n",
            id = info.id,
            cpus = cpus.trim(),
        )
    );

    // The cloak: SSH stays open (a new session gets in), the rest is closed; it is back after
    // a reboot.
    with_library(&session, "wmaic_cloak_instance -i 10.9.9.0/24 && wmaic_open_port -p 8080").await;
    session.close().await;
    let session = wait_ssh(p, &info.id, &key).await;
    let rules = sh(&session, "sudo iptables -S", None).await;
    assert!(rules.contains("-A INPUT -j WMAIC_CLOAK"), "{rules}");
    let boot_id = sh(&session, "cat /proc/sys/kernel/random/boot_id", None).await;
    session.close().await;
    p.reboot_instances(REGION, std::slice::from_ref(&info.id)).await.unwrap();
    let started = Instant::now();
    let session = loop {
        let s = wait_ssh(p, &info.id, &key).await;
        if sh(&s, "cat /proc/sys/kernel/random/boot_id", None).await != boot_id {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(180), "no reboot seen");
        s.close().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let after = sh(&session, "sudo iptables -S", None).await;
    if after != rules {
        let journal = sh(&session, "sudo journalctl -b -u wmaic-firewall.service --no-pager", None).await;
        panic!("the cloak is not back after the reboot:\n{after}\nwanted:\n{rules}\njournal:\n{journal}");
    }
    assert_eq!(sh(&session, "systemctl is-active wmaic-firewall.service", None).await, "active\n");
    session.close().await;
}
