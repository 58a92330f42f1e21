//! Two instances from the built image, each with a 1 GiB volume: SSH, the volume in the guest,
//! the private network, a restart of the core, power off/on, reboot, detach, a crash (failed, then
//! powered on again), terminate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wintermute_cloud::{CloudProvider, InstanceSpec, InstanceState, Tags, VolumeSpec, VolumeState, VolumeType};
use wintermute_cloud_local::{guest_device, REGION, ZONE};
use wintermute_custody::UserKeyPair;
use wintermute_ssh::{Pinned, Session};

use crate::support::{can_run, describe, image, sh, wait_ssh, wait_state, Lab, Recorder};

const MARKER: &str = "wintermute-volume-marker";

/// Logs in and returns the session and the host key the guest offered.
async fn login(
    lab_provider: &wintermute_cloud_local::LocalProvider,
    id: &str,
    key: &UserKeyPair,
) -> (Session, String, Duration) {
    let recorder = Arc::new(Recorder::default());
    let (session, took) = wait_ssh(lab_provider, id, key, recorder.clone()).await;
    let host_key = recorder.0.lock().await.clone().unwrap();
    (session, host_key, took)
}

/// Waits until the guest sees the volume under its by-id name (udev needs a moment after a
/// hot-plug); returns its size in bytes.
async fn volume_size(session: &Session, volume: &str) -> u64 {
    let dev = guest_device(volume);
    let command =
        format!("for i in $(seq 50); do [ -e {dev} ] && break; sleep 0.2; done; sudo blockdev --getsize64 {dev}");
    sh(session, &command).await.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_guests_with_volumes_live_and_die() {
    if !can_run(true) {
        return;
    }
    let image = image().await;
    let lab = Lab::new();
    let p = &lab.provider;
    let image_id = lab.import(&image).await;
    let account = p.check_credentials().await.unwrap();
    eprintln!("accelerator: {} ({:?})", p.accel(), account.account_id);

    let key = UserKeyPair::generate("wintermute-test");
    p.import_key_pair(REGION, "test-key", &key.public_openssh(), &Tags::new()).await.unwrap();
    let tags = Tags::new().with("wintermute:test", "lifecycle");
    let spec = InstanceSpec {
        name: "lab".into(),
        image_id,
        instance_type: "local.small".into(),
        key_name: Some("test-key".into()),
        security_group_ids: vec![],
        count: 2,
        tags: tags.clone(),
        availability_zone: Some(ZONE.into()),
        user_data: None,
    };
    let launched = Instant::now();
    let instances = p.run_instances(REGION, &spec).await.unwrap();
    assert_eq!(instances.len(), 2);
    let (a, b) = (instances[0].clone(), instances[1].clone());
    for i in &instances {
        assert_eq!(i.state, InstanceState::Running);
        assert_eq!(i.public_ip.as_deref(), Some("127.0.0.1"));
        assert!(i.ssh_port.is_some());
        assert_eq!(i.tags.name(), Some("lab"));
    }
    assert_ne!(a.private_ip, b.private_ip);
    let by_tag = p.instances_by_tag(REGION, "wintermute:test", "lifecycle").await.unwrap();
    assert_eq!(by_tag.len(), 2);

    // Both boot at once.
    let ((sa, key_a, took_a), (sb, key_b, took_b)) = tokio::join!(login(p, &a.id, &key), login(p, &b.id, &key));
    eprintln!("SSH after {took_a:?} and {took_b:?} (launch to both: {:?})", launched.elapsed());
    for (id, s) in [(&a.id, &sa), (&b.id, &sb)] {
        let rss = p.vm_status(id).await.unwrap().rss_kib.unwrap();
        eprintln!("{id}: QEMU RSS {} MiB", rss / 1024);
        assert_eq!(sh(s, "hostname").await, *id);
        assert_eq!(sh(s, "sudo -n id -u").await, "0", "password-less sudo");
        // One host key, made at first boot: Ed25519 only.
        assert_eq!(
            sh(s, "ls /etc/ssh/ | grep ssh_host_ | sort | tr '\\n' ' '").await,
            "ssh_host_ed25519_key ssh_host_ed25519_key.pub"
        );
        assert_eq!(sh(s, "systemctl is-active wintermute-firstboot.service").await, "active");
        let no_password =
            sh(s, "sudo sshd -T | grep -E '^(passwordauthentication|kbdinteractiveauthentication) '").await;
        assert_eq!(no_password, "passwordauthentication no\nkbdinteractiveauthentication no");
    }
    assert_ne!(key_a, key_b, "each clone has its own host key");
    let machine_a = sh(&sa, "cat /etc/machine-id").await;
    let machine_b = sh(&sb, "cat /etc/machine-id").await;
    assert_eq!(machine_a.len(), 32);
    assert_ne!(machine_a, machine_b, "each clone has its own machine id");

    // The private network: A reaches B.
    let b_ip = b.private_ip.clone().unwrap();
    let ping = sh(&sa, &format!("ping -c 3 -W 5 {b_ip}")).await;
    assert!(ping.contains("3 received"), "{ping}");

    // A 1 GiB volume each, hot-plugged, seen by id.
    let vspec = VolumeSpec {
        size_gb: 1,
        volume_type: VolumeType::GeneralPurpose,
        iops: None,
        availability_zone: ZONE.into(),
        tags: tags.clone(),
    };
    let va = p.create_volume(REGION, &vspec).await.unwrap();
    let vb = p.create_volume(REGION, &vspec).await.unwrap();
    assert_eq!(va.state, VolumeState::Available);
    let plugged = Instant::now();
    let att = p.attach_volume(REGION, &va.id, &a.id, "/dev/sdf").await.unwrap();
    assert_eq!(att.device.as_deref(), Some(guest_device(&va.id).as_str()));
    p.attach_volume(REGION, &vb.id, &b.id, "/dev/sdf").await.unwrap();
    assert_eq!(volume_size(&sa, &va.id).await, 1 << 30);
    assert_eq!(volume_size(&sb, &vb.id).await, 1 << 30);
    eprintln!("hot-plug to visible in both guests: {:?}", plugged.elapsed());
    let in_use = p.describe_volumes(REGION, std::slice::from_ref(&va.id)).await.unwrap();
    assert_eq!(in_use[0].state, VolumeState::InUse);
    assert_eq!(in_use[0].attachments[0].instance_id, a.id);
    for (s, v) in [(&sa, &va.id), (&sb, &vb.id)] {
        let dev = guest_device(v);
        sh(s, &format!("echo {MARKER} | sudo dd of={dev} oflag=sync status=none")).await;
    }
    sa.close().await;
    sb.close().await;

    // The core restarts: a new provider on the same folder finds both VMs running.
    let old_ports = (a.ssh_port, b.ssh_port);
    let p2 = lab.reopen();
    for (id, port) in [(&a.id, old_ports.0), (&b.id, old_ports.1)] {
        let info = describe(&p2, id).await;
        assert_eq!(info.state, InstanceState::Running);
        assert_eq!(info.ssh_port, port);
    }

    // Through the new provider: power A off and on while B reboots; both keep their volumes
    // and host keys.
    let cycle_a = async {
        let changes = p2.stop_instances(REGION, std::slice::from_ref(&a.id)).await.unwrap();
        assert_eq!(changes[0].previous, InstanceState::Running);
        assert_eq!(changes[0].current, InstanceState::Stopping);
        let took = wait_state(&p2, &a.id, InstanceState::Stopped, Duration::from_secs(90)).await;
        eprintln!("{}: powered off in {took:?}", a.id);
        assert!(p2.vm_status(&a.id).await.unwrap().pid.is_none());
        assert!(!p2.vm_status(&a.id).await.unwrap().crashed);
        let stopped = describe(&p2, &a.id).await;
        assert_eq!((stopped.public_ip, stopped.ssh_port), (None, None));
        assert!(lab.dir.path().join(format!("volumes/{}.qcow2", va.id)).is_file(), "the volume file stays");
        p2.start_instances(REGION, std::slice::from_ref(&a.id)).await.unwrap();
        let (s, took) = wait_ssh(&p2, &a.id, &key, Arc::new(Pinned::new(key_a.clone()))).await;
        eprintln!("{}: SSH again {took:?} after power on", a.id);
        s
    };
    let reboot_b = async {
        let boot_id = {
            let (s, _) = wait_ssh(&p2, &b.id, &key, Arc::new(Pinned::new(key_b.clone()))).await;
            sh(&s, "cat /proc/sys/kernel/random/boot_id").await
        };
        p2.reboot_instances(REGION, std::slice::from_ref(&b.id)).await.unwrap();
        let started = Instant::now();
        loop {
            let (s, _) = wait_ssh(&p2, &b.id, &key, Arc::new(Pinned::new(key_b.clone()))).await;
            if sh(&s, "cat /proc/sys/kernel/random/boot_id").await != boot_id {
                eprintln!("{}: rebooted, SSH again after {:?}", b.id, started.elapsed());
                return s;
            }
            assert!(started.elapsed() < Duration::from_secs(180), "no reboot seen");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    };
    let (sa, sb) = tokio::join!(cycle_a, reboot_b);
    for (s, v) in [(&sa, &va.id), (&sb, &vb.id)] {
        assert_eq!(volume_size(s, v).await, 1 << 30);
        let head = sh(s, &format!("sudo head -c {} {}", MARKER.len(), guest_device(v))).await;
        assert_eq!(head, MARKER, "the volume kept its data");
    }

    // Detach B's volume: it leaves the guest and becomes available.
    p2.detach_volume(REGION, &vb.id, &b.id).await.unwrap();
    let gone = sh(
        &sb,
        &format!(
            "for i in $(seq 50); do [ -e {} ] || break; sleep 0.2; done; ls /dev/disk/by-id/",
            guest_device(&vb.id)
        ),
    )
    .await;
    assert!(!gone.contains(&vb.id), "{gone}");
    assert_eq!(
        p2.describe_volumes(REGION, std::slice::from_ref(&vb.id)).await.unwrap()[0].state,
        VolumeState::Available
    );
    sa.close().await;
    sb.close().await;

    // A crash: B's QEMU killed behind the provider's back shows as failed (by id and by tag),
    // cannot be rebooted, and powering it on brings the same guest back and clears the failure.
    let pid = p2.vm_status(&b.id).await.unwrap().pid.unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    wait_state(&p2, &b.id, InstanceState::Failed, Duration::from_secs(10)).await;
    assert!(p2.vm_status(&b.id).await.unwrap().crashed);
    let failed = describe(&p2, &b.id).await;
    assert_eq!((failed.public_ip, failed.ssh_port), (None, None));
    let by_tag = p2.instances_by_tag(REGION, "wintermute:test", "lifecycle").await.unwrap();
    let states: Vec<_> = by_tag.iter().map(|i| (i.id.clone(), i.state)).collect();
    assert!(states.contains(&(b.id.clone(), InstanceState::Failed)), "{states:?}");
    assert!(states.contains(&(a.id.clone(), InstanceState::Running)), "{states:?}");
    let err = p2.reboot_instances(REGION, std::slice::from_ref(&b.id)).await.unwrap_err();
    assert!(err.to_string().contains("failed"), "{err}");
    let changes = p2.start_instances(REGION, std::slice::from_ref(&b.id)).await.unwrap();
    assert_eq!((changes[0].previous, changes[0].current), (InstanceState::Failed, InstanceState::Running));
    assert!(!p2.vm_status(&b.id).await.unwrap().crashed, "powering on clears the failure");
    let (s, took) = wait_ssh(&p2, &b.id, &key, Arc::new(Pinned::new(key_b.clone()))).await;
    eprintln!("{}: SSH again {took:?} after a crash and power on", b.id);
    assert_eq!(sh(&s, "hostname").await, b.id, "the same guest, with its host key");
    s.close().await;

    // Terminate: no process, no disks (A's attached volume goes with it; B's detached one stays).
    let pid_a = p2.vm_status(&a.id).await.unwrap().pid.unwrap();
    let changes = p2.terminate_instances(REGION, &[a.id.clone(), b.id.clone()]).await.unwrap();
    assert!(changes.iter().all(|c| c.current == InstanceState::Terminated));
    let cmdline = std::fs::read(format!("/proc/{pid_a}/cmdline")).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&cmdline).contains(&a.id), "the QEMU of {} is gone", a.id);
    for id in [&a.id, &b.id] {
        assert_eq!(describe(&p2, id).await.state, InstanceState::Terminated);
        let dir = lab.dir.path().join("instances").join(id);
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["instance.json"], "only the record of {id} stays");
    }
    assert!(!lab.dir.path().join(format!("volumes/{}.qcow2", va.id)).exists());
    assert!(p2.describe_volumes(REGION, std::slice::from_ref(&va.id)).await.is_err());
    p2.delete_volume(REGION, &vb.id).await.unwrap();
    let volumes_left: Vec<_> = std::fs::read_dir(lab.dir.path().join("volumes")).unwrap().collect();
    assert!(volumes_left.is_empty());
    eprintln!("whole test: {:?}", launched.elapsed());
}
