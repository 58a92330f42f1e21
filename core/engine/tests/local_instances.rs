//! Instances on the local provider, end to end with real QEMU guests: two instances from the built
//! Debian image, each with a new encrypted 1 GiB volume, launched and provisioned over SSH (the
//! WMAIC library, hardened SSH, updates and packages from a package mirror on the host, a package
//! removed, services started and stopped, a user with a password, the volume LUKS-encrypted and
//! mounted, two user defined scripts with parameters in sequence order, one going on in the
//! background); one reaches the other on the private network; power off and on leave the volume
//! locked until "Mount Storage" opens it with its data intact; terminate removes the machines and
//! keeps the volumes, which are then deleted. A second test shows a failing script failing the
//! instance under both WMAIS_KEEP_INSTANCE_RUNNING_ON_ERROR policies. Needs QEMU and the cached
//! guest image (built by test-all).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/apt_mirror.rs"]
mod apt_mirror;

use std::time::Duration;

use serde_json::json;
use wintermute_api::instances::{
    InstanceAction, InstanceStatus, LaunchRequest, LaunchStorage, NewStorage, VolumeStatus, VolumeType,
};
use wintermute_api::providers::{ImagePatch, LocalImageRequest, NewProvider, ProviderKind, ProviderPatch};
use wintermute_api::scenarios::{NewScript, ScriptPatch};
use wintermute_api::setup::{ScriptRun, Setup, SetupUser};
use wintermute_api::tasks::{Task, TaskState};
use wintermute_core::store::Backend;
use wintermute_core::testing::TestCore;
use wintermute_core::Caller;
use wintermute_ssh::SshTarget;

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

async fn log_of(core: &TestCore, caller: &Caller, id: i64) -> String {
    let lines = core.engine.tasks_log(caller, id, None).await.unwrap();
    lines.iter().map(|l| l.line.clone()).collect::<Vec<_>>().join("\n")
}

/// Runs a command on an instance as its owner, through the core's pinned SSH.
async fn sh(core: &TestCore, id: i64, cmd: &str) -> (u32, String) {
    sh_in(core, id, cmd, None).await
}

async fn sh_in(core: &TestCore, id: i64, cmd: &str, stdin: Option<&[u8]>) -> (u32, String) {
    let i = core.engine.instances_get(&core.admin, id).await.unwrap();
    let key = core.engine.user_key_pair(i.owner_id).await.unwrap();
    let target =
        SshTarget::new(i.ssh_host.clone().unwrap(), u16::try_from(i.ssh_port.unwrap()).unwrap(), i.login_user.clone());
    let s = core.engine.ssh_to_instance(id, &target, &key).await.unwrap();
    let out = s.exec(cmd, stdin).await.unwrap();
    s.close().await;
    (out.exit_status, format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// A core with a synchronized local provider and its enabled Debian image, guests pointed at
/// `mirror`; None (skipped) without QEMU or the built image outside CI.
async fn lab(mirror: &apt_mirror::AptMirror) -> Option<(TestCore, i64, i64)> {
    if wintermute_cloud_local::find_program(wintermute_cloud_local::QEMU_SYSTEM.0).is_none() {
        assert!(std::env::var_os("CI").is_none(), "QEMU is needed under CI");
        eprintln!("SKIPPED: no QEMU");
        return None;
    }
    let image_dir = wintermute_cloud_local::image::default_image_dir().expect("a cache directory");
    if wintermute_cloud_local::image::find_built_image(&image_dir).is_none() {
        assert!(std::env::var_os("CI").is_none(), "the guest image is built by scripts/test-all");
        eprintln!("SKIPPED: no built guest image in {}", image_dir.display());
        return None;
    }
    // The image folder shared with test-all's build, so the recipe finds the built image.
    let shared = image_dir.clone();
    let sources = mirror.sources_line();
    let core = TestCore::start_with(Backend::Sqlite, move |c| {
        c.local.image_dir = Some(shared);
        c.local.apt_sources = Some(sources);
    })
    .await;
    let (engine, admin) = (&core.engine, core.admin.clone());
    engine.settings_set(&admin, "WMAIS_CONNECTION_RETRY_PAUSE", json!(2)).await.unwrap();
    engine.settings_set(&admin, "WMAIS_CONNECTION_ATTEMPTS", json!(150)).await.unwrap();

    // --- the provider and its image ---
    let p = engine
        .providers_create(
            &admin,
            &NewProvider { kind: Some(ProviderKind::Local), name: "lab".into(), ..Default::default() },
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
                allowed_regions: Some(vec!["local".into()]),
                allowed_instance_types: Some(vec!["local.small".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let req = LocalImageRequest { recipe: Some("debian-12".into()), ..Default::default() };
    let t = engine.local_images_start(&admin, p.id, &req).await.unwrap();
    let t = finished(&core, &admin, t.id, Duration::from_secs(600)).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    let image = engine.images_list(&admin).await.unwrap().into_iter().find(|i| i.name == "debian-12").unwrap();
    engine.images_update(&admin, image.id, &ImagePatch { enabled: Some(true), ..Default::default() }).await.unwrap();
    let (pid, iid) = (p.id, image.id);
    Some((core, pid, iid))
}

fn script(name: &str, content: &str) -> NewScript {
    NewScript {
        name: name.into(),
        description: String::new(),
        script_type: "bash".into(),
        platform: Default::default(),
        stage: Default::default(),
        access: Default::default(),
        parameters: String::new(),
        content: content.into(),
    }
}

/// Writes a report from a template with the WMAIC variables (8.1) and `wmaic_parse_template`.
const REPORT_SH: &str = r#"#!/bin/bash
if [ -f /etc/profile.d/wmaic.sh ]; then
    source /etc/profile.d/wmaic.sh
else
    echo "WMAIC shell library not found, aborting!" 1>&2
    exit 1
fi
out=""
msg=""
while getopts "o:m:" opt; do
    case $opt in
        o) out=$OPTARG ;;
        m) msg=$OPTARG ;;
        *) exit 2 ;;
    esac
done
WMAIU_MESSAGE=$msg
cat >/tmp/report.tmpl <<'END'
name=${WMAIC_INSTANCE_NAME}
type=${WMAIC_INSTANCE_TYPE}
stage=${WMAIC_STAGE}
cpus=${WMAIC_PROCESSOR_COUNT}
message=${WMAIU_MESSAGE}
kept=$HOME ${OTHER}
END
wmaic_parse_template -f -i /tmp/report.tmpl -o "$out" || exit 1
echo "report written to $out"
"#;

/// Goes on in the background, after the set-up's SSH session, then leaves a mark.
const BACKGROUND_SH: &str = r#"#!/bin/bash
source /etc/profile.d/wmaic.sh || exit 1
wmaic_run_in_background
sleep "$2"
echo "after: $(head -n 1 /srv/data/report.txt)" >/srv/data/background.txt
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_instances_are_launched_provisioned_and_controlled() {
    let mirror = apt_mirror::start().await;
    let Some((core, provider_id, image_id)) = lab(&mirror).await else { return };
    let (engine, admin) = (&core.engine, core.admin.clone());
    let report = engine.scripts_create(&admin, &script("report.sh", REPORT_SH)).await.unwrap();
    let background = engine.scripts_create(&admin, &script("background.sh", BACKGROUND_SH)).await.unwrap();

    // --- two instances, each with an encrypted 1 GiB volume, provisioned ---
    let launch = LaunchRequest {
        name: "node".into(),
        description: String::new(),
        tags: "1:web, 2:db".into(),
        image_id,
        instance_type: "local.small".into(),
        count: Some(2),
        security_groups: vec![],
        swarm: None,
        storage: LaunchStorage::New(NewStorage {
            size_gb: 1,
            volume_type: VolumeType::GeneralPurpose,
            iops: None,
            encrypted: true,
            mount_point: Some("/srv/data".into()),
            device: None,
        }),
        setup: Setup {
            user: Some(SetupUser { name: "bob".into(), password: "Bob-in-the-guest-77".into() }),
            update: true,
            packages: "wm-hello, iputils-ping:uninstall".into(),
            services: "wm-hello:start, wm-extra:stop".into(),
            // Given out of order: they run by sequence.
            scripts: vec![
                ScriptRun { sequence: 20, script_id: background.id, parameters: Some("-d 3".into()) },
                ScriptRun {
                    sequence: 10,
                    script_id: report.id,
                    parameters: Some("-o /srv/data/report.txt -m \"hello world\"".into()),
                },
            ],
            ..Setup::default()
        },
    };
    let l = engine.instances_launch(&admin, &launch).await.unwrap();
    // The launch runs the scripts as they were when it was asked for.
    engine
        .scripts_update(
            &admin,
            report.id,
            &ScriptPatch { content: Some("#!/bin/bash\nexit 7\n".into()), ..Default::default() },
        )
        .await
        .unwrap();
    let t = finished(&core, &admin, l.task.id, Duration::from_secs(900)).await;
    let log = log_of(&core, &admin, t.id).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}\n{log}", t.message);
    assert!(log.contains("installing the WMAIC library") && log.contains("Debian GNU/Linux 12"), "{log}");
    assert!(!log.contains("Bob-in-the-guest-77"), "the password is not in the log");
    let (a, b) = (l.instances[0].id, l.instances[1].id);
    for id in [a, b] {
        let i = engine.instances_get(&admin, id).await.unwrap();
        assert_eq!(i.status, InstanceStatus::Running, "{}", i.status_message);
        assert_eq!(i.volumes.len(), 1);
    }

    // Inside: the library with the instance's values, the encrypted volume mounted, the user.
    let (code, out) = sh(&core, a, "bash -lc 'echo \"$WMAIC_INSTANCE_NAME|$WMAIC_INSTANCE_TAGS\"'").await;
    assert_eq!((code, out.trim()), (0, "node-1|web"), "{out}");
    let (code, out) =
        sh(&core, a, "findmnt -n -o SOURCE,TARGET /srv/data && lsblk -n -o TYPE $(findmnt -n -o SOURCE /srv/data)")
            .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("/dev/mapper/wm-vol") && out.contains("crypt"), "{out}");
    let (code, out) = sh(&core, a, "echo precious | sudo tee /srv/data/keep.txt >/dev/null && sync && id -u bob && sudo grep -c '^bob:\\$' /etc/shadow").await;
    assert_eq!(code, 0, "{out}");
    let (_, out) = sh(&core, a, "sudo sshd -T 2>/dev/null | grep -i '^passwordauthentication'").await;
    assert_eq!(out.trim(), "passwordauthentication no", "password logins are off for everyone but bob");
    // The passphrase is nowhere in the guest's files or process list.
    let vol = engine.volumes_list(&admin, false).await.unwrap().into_iter().find(|v| v.instance_id == Some(a)).unwrap();
    let mut key = Vec::new();
    engine.write_volume_passphrase(vol.id, &mut key).await.unwrap();
    let phrase = String::from_utf8(key).unwrap().trim().to_owned();
    // (The phrase goes in on stdin, so no command line of the check itself holds it.)
    let check = "sudo sh -c 'ps -eo args > /tmp/wm-ps.txt; grep -rlsF -f /dev/stdin /etc /root /home /tmp /var /run'";
    let (code, found) = sh_in(&core, a, check, Some(phrase.as_bytes())).await;
    assert_ne!(code, 0, "the volume passphrase was found on the guest: {found}");

    // Updates, packages and services from the mirror.
    let (code, out) = sh(&core, a, "dpkg-query -W -f='${Version}' sensible-utils").await;
    assert_eq!((code, out.trim()), (0, mirror.update_version.as_str()), "the update was installed");
    let (code, out) =
        sh(&core, a, "wm-hello && ! command -v ping && systemctl is-active wm-hello && systemctl is-enabled wm-hello")
            .await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["hello", "from", "wm-hello", "active", "enabled"], "{out}");
    let (_, out) = sh(&core, a, "systemctl is-active wm-extra; systemctl is-enabled wm-extra").await;
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["inactive", "disabled"], "stopped and disabled: {out}");
    // The scripts: in sequence order, with their parameters, the report from the template.
    let ran = |name: &str| log.find(&format!("running script {name}")).unwrap_or_else(|| panic!("{name} ran: {log}"));
    assert!(ran("report.sh -o /srv/data/report.txt -m hello world") < ran("background.sh -d 3"), "{log}");
    assert!(log.contains("report written to /srv/data/report.txt"), "{log}");
    assert!(log.contains("goes on in the background"), "{log}");
    let (code, out) = sh(&core, a, "cat /srv/data/report.txt").await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "name=node-1\ntype=local.small\nstage=post-data-transfer\ncpus=1\nmessage=hello world\nkept=$HOME ${OTHER}\n"
    );
    let mut mark = String::new();
    for _ in 0..30 {
        let (code, out) = sh(&core, a, "cat /srv/data/background.txt").await;
        if code == 0 {
            mark = out;
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(mark.trim(), "after: name=node-1", "the background part ran after the set-up's session");

    // A reaches B on the private network.
    let b_ip = engine.instances_get(&admin, b).await.unwrap().private_ip.unwrap();
    let (code, out) = sh(&core, a, &format!("timeout 10 bash -c '</dev/tcp/{b_ip}/22' && echo reached")).await;
    assert_eq!((code, out.trim()), (0, "reached"), "{out}");

    // --- power off and on: the volume stays locked until Mount Storage ---
    let t = engine.instances_action(&admin, a, InstanceAction::PowerOff).await.unwrap();
    assert_eq!(finished(&core, &admin, t.id, Duration::from_secs(180)).await.state, TaskState::Succeeded);
    assert_eq!(engine.instances_get(&admin, a).await.unwrap().status, InstanceStatus::Stopped);
    let t = engine.instances_action(&admin, a, InstanceAction::PowerOn).await.unwrap();
    let t = finished(&core, &admin, t.id, Duration::from_secs(300)).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    let mut up = false;
    for _ in 0..60 {
        if sh_ok(&core, a, "true").await {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(up, "the instance answers SSH after power on");
    let (code, _) = sh(&core, a, "mountpoint -q /srv/data").await;
    assert_ne!(code, 0, "after a power cycle the encrypted volume is locked");
    let t = engine.instances_action(&admin, a, InstanceAction::MountStorage).await.unwrap();
    let t = finished(&core, &admin, t.id, Duration::from_secs(300)).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}\n{}", t.message, log_of(&core, &admin, t.id).await);
    let (code, out) = sh(&core, a, "cat /srv/data/keep.txt").await;
    assert_eq!((code, out.trim()), (0, "precious"), "data intact after Mount Storage");
    assert_eq!(engine.instances_get(&admin, a).await.unwrap().status, InstanceStatus::Running);

    // --- terminate: machines gone, volumes kept, then deleted ---
    let t = engine.instances_batch(&admin, &[a, b], InstanceAction::Terminate).await.unwrap();
    let t = finished(&core, &admin, t.id, Duration::from_secs(300)).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    let vols = engine.volumes_list(&admin, false).await.unwrap();
    assert_eq!(vols.len(), 2);
    assert!(vols.iter().all(|v| v.status == VolumeStatus::Available));
    for v in &vols {
        engine.volumes_delete(&admin, v.id).await.unwrap();
    }
    let guests = core.data_dir.path.join("local").join(provider_id.to_string());
    let leftovers: Vec<String> = walk(&guests)
        .into_iter()
        .filter(|f| f.ends_with(".qcow2") || f.ends_with(".raw") || f.ends_with(".img"))
        .collect();
    assert!(leftovers.is_empty(), "no disks left behind: {leftovers:?}");
}

async fn sh_ok(core: &TestCore, id: i64, cmd: &str) -> bool {
    let i = core.engine.instances_get(&core.admin, id).await.unwrap();
    let key = core.engine.user_key_pair(i.owner_id).await.unwrap();
    let Some(host) = i.ssh_host.clone() else { return false };
    let target = SshTarget::new(host, u16::try_from(i.ssh_port.unwrap_or(22)).unwrap(), i.login_user.clone());
    match core.engine.ssh_to_instance(id, &target, &key).await {
        Ok(s) => {
            let ok = s.exec(cmd, None).await.map(|o| o.success()).unwrap_or(false);
            s.close().await;
            ok
        }
        Err(_) => false,
    }
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.to_string_lossy().into_owned());
        }
    }
    out
}

/// A script that fails fails its instance, with its standard error in the log and the instance's
/// message; with WMAIS_KEEP_INSTANCE_RUNNING_ON_ERROR off the instance is powered off, with it on
/// it stays reachable for a look inside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_script_fails_the_instance_under_both_policies() {
    let mirror = apt_mirror::start().await;
    let Some((core, _provider_id, image_id)) = lab(&mirror).await else { return };
    let (engine, admin) = (&core.engine, core.admin.clone());
    let failing = engine
        .scripts_create(
            &admin,
            &script(
                "fails.sh",
                "#!/bin/bash\necho working on $1\nif [ -e /root/license ]; then echo license found; exit 0; fi\n\
                 echo \"cannot reach the license server $1\" >&2\nexit 1\n",
            ),
        )
        .await
        .unwrap();
    let launch = |name: &str| LaunchRequest {
        name: name.into(),
        description: String::new(),
        tags: String::new(),
        image_id,
        instance_type: "local.small".into(),
        count: Some(1),
        security_groups: vec![],
        swarm: None,
        storage: LaunchStorage::None,
        setup: Setup {
            scripts: vec![ScriptRun { sequence: 1, script_id: failing.id, parameters: Some("lic-7".into()) }],
            ..Setup::default()
        },
    };
    for keep_running in [false, true] {
        engine.settings_set(&admin, "WMAIS_KEEP_INSTANCE_RUNNING_ON_ERROR", json!(keep_running)).await.unwrap();
        let name = if keep_running { "kept" } else { "stopped" };
        let l = engine.instances_launch(&admin, &launch(name)).await.unwrap();
        let t = finished(&core, &admin, l.task.id, Duration::from_secs(900)).await;
        let log = log_of(&core, &admin, t.id).await;
        assert_eq!(t.state, TaskState::Failed, "{log}");
        assert!(log.contains("working on lic-7"), "the script's output is in the log: {log}");
        assert!(log.contains("cannot reach the license server lic-7"), "its stderr too: {log}");
        let id = l.instances[0].id;
        let i = engine.instances_get(&admin, id).await.unwrap();
        assert_eq!(i.status, InstanceStatus::Failed);
        assert!(
            i.status_message.contains("fails.sh") && i.status_message.contains("cannot reach the license server"),
            "{}",
            i.status_message
        );
        if keep_running {
            assert!(
                sh_ok(&core, id, "sudo test -x /var/lib/wmaic/uds/1-fails.sh").await,
                "kept running for a look inside"
            );
            // Fix what the script needs and retry the set-up: every stage runs again, safely.
            assert!(sh_ok(&core, id, "sudo touch /root/license").await);
            let t = engine.instances_action(&admin, id, InstanceAction::RetrySetup).await.unwrap();
            let t = finished(&core, &admin, t.id, Duration::from_secs(600)).await;
            let log = log_of(&core, &admin, t.id).await;
            assert_eq!(t.state, TaskState::Succeeded, "{log}");
            assert!(log.contains("installing the WMAIC library") && log.contains("license found"), "{log}");
            assert_eq!(engine.instances_get(&admin, id).await.unwrap().status, InstanceStatus::Running);
            let e = engine.instances_action(&admin, id, InstanceAction::RetrySetup).await.unwrap_err();
            assert!(e.to_string().contains("cannot"), "only failed instances are set up again: {e}");
        } else {
            assert!(log.contains("powered off after the failed setup"), "{log}");
            assert_eq!(i.cloud_state.as_deref(), Some("stopped"));
        }
        let t = engine.instances_action(&admin, id, InstanceAction::Terminate).await.unwrap();
        assert_eq!(finished(&core, &admin, t.id, Duration::from_secs(300)).await.state, TaskState::Succeeded);
    }

    // Cancelled while a script runs: that step ends, the next one never starts, and the
    // instance is marked failed (not left "initializing").
    let slow = engine
        .scripts_create(&admin, &script("slow.sh", "#!/bin/bash\nsleep 12\ntouch /root/slow.done\n"))
        .await
        .unwrap();
    let after =
        engine.scripts_create(&admin, &script("after.sh", "#!/bin/bash\ntouch /root/after.done\n")).await.unwrap();
    let mut req = launch("cancelled");
    req.setup.scripts = vec![
        ScriptRun { sequence: 1, script_id: slow.id, parameters: None },
        ScriptRun { sequence: 2, script_id: after.id, parameters: None },
    ];
    let l = engine.instances_launch(&admin, &req).await.unwrap();
    let started = std::time::Instant::now();
    while !log_of(&core, &admin, l.task.id).await.contains("running script slow.sh") {
        assert!(started.elapsed() < Duration::from_secs(600), "{}", log_of(&core, &admin, l.task.id).await);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    engine.tasks_cancel(&admin, l.task.id).await.unwrap();
    let t = finished(&core, &admin, l.task.id, Duration::from_secs(120)).await;
    let log = log_of(&core, &admin, t.id).await;
    assert_eq!(t.state, TaskState::Cancelled, "{log}");
    assert!(!log.contains("running script after.sh"), "{log}");
    let id = l.instances[0].id;
    let i = engine.instances_get(&admin, id).await.unwrap();
    assert_eq!(i.status, InstanceStatus::Failed, "{}", i.status_message);
    assert!(i.status_message.contains("cancelled"), "{}", i.status_message);
    assert!(sh_ok(&core, id, "sudo test -e /root/slow.done && ! sudo test -e /root/after.done").await);
    // The guest outlives the test's core unless it is terminated.
    let t = engine.instances_action(&admin, id, InstanceAction::Terminate).await.unwrap();
    assert_eq!(finished(&core, &admin, t.id, Duration::from_secs(300)).await.state, TaskState::Succeeded);
}
