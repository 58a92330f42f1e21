//! The core is killed while a VM runs: the VM lives on, and a new provider on the same folder
//! lists it and controls it. The guest here is a blank disk (the firmware finds nothing to
//! boot), which is enough for QEMU-level control and needs no image build.

use std::path::Path;
use std::time::Duration;

use wintermute_cloud::{CloudProvider, InstanceSpec, InstanceState, Tags};
use wintermute_cloud_local::{LocalProvider, LocalSettings, REGION};

use crate::support::{can_run, describe, wait_state, Lab};

/// Set in the child process: the provider folder to launch in.
const CHILD_DIR: &str = "WINTERMUTE_TEST_LOCAL_CHILD_DIR";
/// Set in the child process: the image to launch.
const CHILD_IMAGE: &str = "WINTERMUTE_TEST_LOCAL_CHILD_IMAGE";
const TEST_NAME: &str = "restart::vms_outlive_a_killed_core";

fn settings(dir: &Path) -> LocalSettings {
    // A blank guest ignores the power button: it is killed after this.
    LocalSettings { stop_timeout: Duration::from_secs(2), ..LocalSettings::new(dir) }
}

/// The "core": launches one instance, then dies without any clean-up.
async fn child(dir: &Path, image_id: String) {
    let provider = LocalProvider::new(settings(dir)).unwrap();
    let spec = InstanceSpec {
        name: "survivor".into(),
        image_id,
        instance_type: "local.small".into(),
        key_name: None,
        security_group_ids: vec![],
        count: 1,
        tags: Tags::new().with("wintermute:test", "restart"),
        availability_zone: None,
        user_data: None,
    };
    provider.run_instances(REGION, &spec).await.unwrap();
    std::process::abort();
}

#[tokio::test]
async fn vms_outlive_a_killed_core() {
    if let (Some(dir), Some(image)) = (std::env::var_os(CHILD_DIR), std::env::var(CHILD_IMAGE).ok()) {
        return child(Path::new(&dir), image).await;
    }
    if !can_run(false) {
        return;
    }
    let lab = Lab::new();
    let blank = lab.dir.path().join("blank.qcow2");
    let made =
        std::process::Command::new("qemu-img").args(["create", "-q", "-f", "qcow2"]).arg(&blank).arg("64M").status();
    assert!(made.unwrap().success());
    let image = lab.provider.import_image("blank", &blank, None).await.unwrap().image_id;

    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture"])
        .env(CHILD_DIR, lab.dir.path())
        .env(CHILD_IMAGE, &image)
        .status()
        .unwrap();
    assert!(!status.success(), "the child core aborts");

    let p = LocalProvider::new(settings(lab.dir.path())).unwrap();
    let found = p.instances_by_tag(REGION, "wintermute:test", "restart").await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let id = found[0].id.clone();
    assert_eq!(found[0].state, InstanceState::Running);
    let pid = p.vm_status(&id).await.unwrap().pid.unwrap();

    // Controllable: power off (killed after the stop timeout), on, reset, terminate.
    let changes = p.stop_instances(REGION, std::slice::from_ref(&id)).await.unwrap();
    assert_eq!(changes[0].current, InstanceState::Stopping);
    let err = p.start_instances(REGION, std::slice::from_ref(&id)).await.unwrap_err();
    assert!(err.to_string().contains("stopping"), "{err}");
    wait_state(&p, &id, InstanceState::Stopped, Duration::from_secs(20)).await;
    assert!(!Path::new(&format!("/proc/{pid}/cmdline")).exists() || p.vm_status(&id).await.unwrap().pid.is_none());
    assert!(!p.vm_status(&id).await.unwrap().crashed, "asked to stop: not a crash");

    p.start_instances(REGION, std::slice::from_ref(&id)).await.unwrap();
    assert_eq!(describe(&p, &id).await.state, InstanceState::Running);
    p.reboot_instances(REGION, std::slice::from_ref(&id)).await.unwrap();
    let changes = p.terminate_instances(REGION, std::slice::from_ref(&id)).await.unwrap();
    assert_eq!((changes[0].previous, changes[0].current), (InstanceState::Running, InstanceState::Terminated));
    assert!(p.vm_status(&id).await.unwrap().pid.is_none());
    assert!(!lab.dir.path().join("instances").join(&id).join("disk.qcow2").exists());
    // Terminating again is fine; starting a terminated instance is not.
    p.terminate_instances(REGION, std::slice::from_ref(&id)).await.unwrap();
    assert!(p.start_instances(REGION, std::slice::from_ref(&id)).await.is_err());
}
