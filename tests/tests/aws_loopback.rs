//! The AWS path with a real machine behind it: the EC2 API is the emulator (moto), started so that
//! its instances' public addresses are loopback addresses 127.0.0.N, and 127.0.0.N:22 is
//! forwarded to a local QEMU guest's SSH port. An SSH login to the emulated instance's public
//! address, as the core makes it, runs on that guest.
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
