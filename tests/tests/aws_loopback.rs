//! The AWS path with a real machine behind it: the EC2 API is the emulator (moto), started so that
//! its instances' public addresses are loopback addresses 127.0.0.N, and 127.0.0.N:22 is
//! forwarded to a local QEMU guest's SSH port. An SSH login to the emulated instance's public
//! address, as the core makes it, runs on that guest.
//!
//! The second test runs a whole launch through a real core that way: provisioning over SSH on
//! the AWS provider, end to end.
//!
//! Needs QEMU, the Debian guest image (built once into the tests' image folder), moto, and root
//! (port 22). Skipped with a note without them, except under CI, where that fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wintermute_cloud::{CloudProvider, ImageQuery, InstanceSpec, InstanceState, Tags};
use wintermute_cloud_aws::testing::{Moto, REGION as AWS_REGION};
use wintermute_cloud_local::image::{build_debian_image, default_image_dir, DEBIAN_12, LOGIN_USER};
use wintermute_cloud_local::{find_program, LocalProvider, LocalSettings, QEMU_IMG, QEMU_SYSTEM, REGION};
use wintermute_custody::UserKeyPair;
use wintermute_ssh::{connect, AcceptAny, SshTarget};
use wintermute_tests::Forwarder;

/// How long the guest may take from launch to an SSH login (20–40 s under emulation).
const SSH_WAIT: Duration = Duration::from_secs(180);

fn can_run() -> bool {
    let mut missing = Vec::new();
    for (program, package) in [QEMU_SYSTEM, QEMU_IMG] {
        if find_program(program).is_none() {
            missing.push(format!("{program} ({package})"));
        }
    }
    if !nix::unistd::geteuid().is_root() {
        missing.push("root (port 22 on a loopback address, and the image build)".into());
    }
    if missing.is_empty() {
        return true;
    }
    let note = format!("the AWS-over-a-real-guest test needs {}", missing.join(", "));
    assert!(std::env::var_os("CI").is_none(), "{note}");
    eprintln!("SKIPPED: {note}");
    false
}

/// Kills the guests of a provider folder when the test ends, however it ends.
struct Guests(tempfile::TempDir);

impl Drop for Guests {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.0.path().join("instances")) else { return };
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emulated_ec2_instance_is_a_real_guest_over_ssh() {
    if !can_run() {
        return;
    }
    // A real guest, launched by the local provider with the user's key.
    let image_dir = std::env::var_os("WINTERMUTE_IMAGE_DIR").map(PathBuf::from).or_else(default_image_dir).unwrap();
    let image = build_debian_image(&image_dir, |m, f| eprintln!("[image {:3.0}%] {m}", f * 100.0)).await.unwrap();
    let guests = Guests(tempfile::Builder::new().prefix("wm-aws-lo-").tempdir().unwrap());
    let local = LocalProvider::new(LocalSettings::new(guests.0.path())).unwrap();
    let image_id = local.import_image(DEBIAN_12, &image.path, None).await.unwrap().image_id;
    let key = UserKeyPair::generate("analyst@wintermute");
    local.import_key_pair(REGION, "analyst", &key.public_openssh(), &Tags::new()).await.unwrap();
    let guest = InstanceSpec {
        name: "behind-ec2".into(),
        image_id,
        instance_type: "local.small".into(),
        key_name: Some("analyst".into()),
        security_group_ids: vec![],
        count: 1,
        tags: Tags::new(),
        availability_zone: None,
        user_data: None,
    };
    let guest = local.run_instances(REGION, &guest).await.unwrap().remove(0);
    let guest_ssh = SocketAddr::from((Ipv4Addr::LOCALHOST, guest.ssh_port.unwrap()));

    // 127.0.0.N:22 relays to the guest, and the emulator hands out 127.0.0.N.
    let forwarder = Forwarder::on_free_loopback_address(22, guest_ssh).await.unwrap();
    let std::net::IpAddr::V4(public) = forwarder.listen_addr().ip() else { panic!("an IPv4 address") };
    let Some(moto) = Moto::start_loopback(&[public], &[]) else { return };
    let aws = moto.provider();
    aws.import_key_pair(AWS_REGION, "analyst", &key.public_openssh(), &Tags::new()).await.unwrap();
    let query = ImageQuery { owners: vec!["amazon".into()], name_contains: Some("amzn".into()), ..Default::default() };
    let ami = aws.find_images(AWS_REGION, &query).await.unwrap().remove(0).image_id;
    let spec = InstanceSpec {
        name: "web".into(),
        image_id: ami,
        instance_type: "t3.micro".into(),
        key_name: Some("analyst".into()),
        security_group_ids: vec![],
        count: 1,
        tags: Tags::new(),
        availability_zone: None,
        user_data: None,
    };
    let ec2 = aws.run_instances(AWS_REGION, &spec).await.unwrap().remove(0);
    let described = aws.describe_instances(AWS_REGION, std::slice::from_ref(&ec2.id)).await.unwrap().remove(0);
    assert_eq!(described.state, InstanceState::Running);
    assert_eq!(described.public_ip.as_deref(), Some(public.to_string().as_str()), "{described:?}");
    assert_eq!(described.ssh_port, None, "an EC2 instance's SSH is port 22");

    // SSH to the EC2 instance's public address and port 22, as the core connects.
    let target = SshTarget::new(described.public_ip.clone().unwrap(), 22, LOGIN_USER);
    let started = Instant::now();
    let session = loop {
        match connect(&target, &key, Arc::new(AcceptAny), Duration::from_secs(10)).await {
            Ok(s) => break s,
            Err(e) if e.is_not_ready() && started.elapsed() < SSH_WAIT => {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => panic!("SSH to {public}:22 failed after {:?}: {e}", started.elapsed()),
        }
    };
    eprintln!("SSH to the emulated instance {} at {public}:22 after {:?}", ec2.id, started.elapsed());
    let out = session.exec("uname -s; hostname", None).await.unwrap();
    assert!(out.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().collect::<Vec<_>>(), ["Linux", guest.id.as_str()], "it runs on the guest");
    session.close().await;
    local.terminate_instances(REGION, std::slice::from_ref(&guest.id)).await.unwrap();
    drop(forwarder);
}

/// The whole launch on the AWS provider, through a real `wmais`: the core talks to the EC2
/// emulator with aws-sdk-ec2 (key pair, security group, RunInstances, tags), records the
/// instance's public address (127.0.0.N, relayed to a real guest that holds the user's key), and
/// provisions it over SSH exactly as on any cloud: host key pinned, SSH hardened, the WMAIC
/// library with the EC2 instance's values, a user with a password, and a user defined script with
/// parameters. Needs QEMU, the guest image, moto and root (port 22).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ec2_launch_is_provisioned_end_to_end() {
    use wintermute_api::instances::{InstanceStatus, LaunchRequest, LaunchStorage};
    use wintermute_api::providers::{ImagePatch, ImportImage, NewProvider, OsType, ProviderPatch};
    use wintermute_api::scenarios::NewScript;
    use wintermute_api::setup::{ScriptRun, Setup, SetupUser};
    use wintermute_api::tasks::TaskState;
    use wintermute_tests::{wait_for, Core, CoreOptions, Wmai, ADMIN_PASSWORD};

    if !can_run() {
        return;
    }
    let core = Core::start(CoreOptions::new()).await.unwrap();
    let admin = core.admin_client().await.unwrap();
    let me = admin.whoami().await.unwrap();
    let owner_key = admin.ssh_key(me.id).await.unwrap().public_key;

    // The guest behind the EC2 instance holds the key the core keeps for the user.
    let image_dir = std::env::var_os("WINTERMUTE_IMAGE_DIR").map(PathBuf::from).or_else(default_image_dir).unwrap();
    let image = build_debian_image(&image_dir, |m, f| eprintln!("[image {:3.0}%] {m}", f * 100.0)).await.unwrap();
    let guests = Guests(tempfile::Builder::new().prefix("wm-aws-e2e-").tempdir().unwrap());
    let local = LocalProvider::new(LocalSettings::new(guests.0.path())).unwrap();
    let image_id = local.import_image(DEBIAN_12, &image.path, None).await.unwrap().image_id;
    local.import_key_pair(REGION, "owner", &owner_key, &Tags::new()).await.unwrap();
    let spec = InstanceSpec {
        name: "behind-ec2".into(),
        image_id,
        instance_type: "local.small".into(),
        key_name: Some("owner".into()),
        security_group_ids: vec![],
        count: 1,
        tags: Tags::new(),
        availability_zone: None,
        user_data: None,
    };
    let guest = local.run_instances(REGION, &spec).await.unwrap().remove(0);
    let guest_ssh = SocketAddr::from((Ipv4Addr::LOCALHOST, guest.ssh_port.unwrap()));
    let forwarder = Forwarder::on_free_loopback_address(22, guest_ssh).await.unwrap();
    let std::net::IpAddr::V4(public) = forwarder.listen_addr().ip() else { panic!("an IPv4 address") };
    let Some(moto) = Moto::start_loopback(&[public], &[]) else { return };

    // --- the AWS provider, its image, a script ---
    admin.set_setting("WMAIS_SG_IP_ADDRESS", serde_json::json!("198.51.100.20")).await.unwrap();
    admin.set_setting("WMAIS_CONNECTION_RETRY_PAUSE", serde_json::json!(2)).await.unwrap();
    admin.set_setting("WMAIS_CONNECTION_ATTEMPTS", serde_json::json!(90)).await.unwrap();
    let p = admin
        .create_provider(&NewProvider {
            name: "aws".into(),
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            endpoint_url: Some(moto.url()),
            ..Default::default()
        })
        .await
        .unwrap();
    let done = |id: i64, secs: u64| {
        let admin = &admin;
        async move {
            wait_for("the task to finish", Duration::from_secs(secs), Duration::from_millis(500), || async move {
                let t = admin.task(id).await?;
                Ok(t.state.is_finished().then_some(t))
            })
            .await
            .unwrap()
        }
    };
    let t = done(admin.sync_provider(p.id).await.unwrap().id, 60).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    admin
        .update_provider(
            p.id,
            &ProviderPatch {
                allowed_regions: Some(vec![AWS_REGION.into()]),
                allowed_instance_types: Some(vec!["t3.micro".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let ami = admin.search_images(p.id, AWS_REGION, "amzn").await.unwrap().remove(0).cloud_id;
    let img =
        admin.import_image(&ImportImage { provider_id: p.id, region: AWS_REGION.into(), cloud_id: ami }).await.unwrap();
    admin
        .update_image(
            img.id,
            &ImagePatch {
                enabled: Some(true),
                os_type: Some(OsType::Debian),
                login_user: Some(LOGIN_USER.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let script = admin
        .create_script(&NewScript {
            name: "whoami.sh".into(),
            description: String::new(),
            script_type: "bash".into(),
            platform: Default::default(),
            stage: Default::default(),
            access: Default::default(),
            parameters: String::new(),
            content: "#!/bin/bash\nsource /etc/profile.d/wmaic.sh\necho \"$1:$WMAIC_INSTANCE_ID:$WMAIC_INSTANCE_NAME\" >/root/who.txt\n"
                .into(),
        })
        .await
        .unwrap();

    // --- launch, followed to running ---
    let launch = admin
        .launch(&LaunchRequest {
            name: "web".into(),
            description: String::new(),
            tags: "1:php".into(),
            image_id: img.id,
            instance_type: "t3.micro".into(),
            count: Some(1),
            security_groups: vec![],
            swarm: None,
            storage: LaunchStorage::None,
            setup: Setup {
                user: Some(SetupUser { name: "carol".into(), password: "Carol-on-EC2-2026".into() }),
                scripts: vec![ScriptRun { sequence: 1, script_id: script.id, parameters: Some("from-ec2".into()) }],
                ..Setup::default()
            },
        })
        .await
        .unwrap();
    let t = done(launch.task.id, 600).await;
    let log: Vec<String> = admin.task_log(t.id, None).await.unwrap().into_iter().map(|l| l.line).collect();
    let log = log.join("\n");
    assert_eq!(t.state, TaskState::Succeeded, "{}\n{log}", t.message);
    let inst = admin.instance(launch.instances[0].id).await.unwrap();
    assert_eq!(inst.status, InstanceStatus::Running, "{}", inst.status_message);
    let ec2_id = inst.cloud_id.clone().unwrap();
    assert!(ec2_id.starts_with("i-"), "{ec2_id}");
    assert_eq!(inst.public_ip.as_deref(), Some(public.to_string().as_str()));
    assert!(log.contains("installing the WMAIC library") && log.contains("running script whoami.sh from-ec2"), "{log}");
    assert!(!log.contains("Carol-on-EC2-2026"), "no password in the log");

    // --- inside the guest: the script's output with the EC2 values, the user, hardened SSH ---
    let host_key = admin.host_key(inst.id).await.unwrap();
    assert!(host_key.fingerprint.starts_with("SHA256:"), "the guest's host key was pinned: {host_key:?}");
    let wmai = Wmai::new().unwrap();
    wmai.run_with_stdin(&["login", core.url(), "--user", "admin", "--password-stdin"], &format!("{ADMIN_PASSWORD}\n"))
        .await
        .expect_code(0);
    let out = wmai
        .run(&[
            "ssh",
            "web",
            "--",
            "sudo cat /root/who.txt; id -u carol; sudo sshd -T | grep -i '^passwordauthentication'",
        ])
        .await
        .expect_code(0)
        .stdout;
    assert_eq!(
        out.lines().next(),
        Some(format!("from-ec2:{ec2_id}:web").as_str()),
        "the script ran with the EC2 values: {out}"
    );
    assert!(out.contains("passwordauthentication no"), "{out}");
    let _ = local.terminate_instances(REGION, std::slice::from_ref(&guest.id)).await;
    drop(forwarder);
    drop(moto);
}
