//! Bad requests are refused with typed errors, and leave nothing behind. No guest boots here:
//! the image is a small blank qcow2.

use std::path::Path;

use wintermute_cloud::{CloudError, CloudProvider, InstanceSpec, Tags, VolumeSpec, VolumeType};
use wintermute_cloud_local::{LocalProvider, LocalSettings, REGION, ZONE};

use crate::support::{can_run, Lab};

fn spec(image_id: &str, instance_type: &str) -> InstanceSpec {
    InstanceSpec {
        name: "bad".into(),
        image_id: image_id.into(),
        instance_type: instance_type.into(),
        key_name: None,
        security_group_ids: vec![],
        count: 1,
        tags: Tags::new(),
        availability_zone: None,
        user_data: None,
    }
}

fn volume(size_gb: u32) -> VolumeSpec {
    VolumeSpec {
        size_gb,
        volume_type: VolumeType::GeneralPurpose,
        iops: None,
        availability_zone: ZONE.into(),
        tags: Tags::new(),
    }
}

fn empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

#[tokio::test]
async fn bad_requests_leave_nothing_behind() {
    if !can_run(false) {
        return;
    }
    let lab = Lab::new();
    let p = &lab.provider;
    let blank = lab.dir.path().join("blank.qcow2");
    let made =
        std::process::Command::new("qemu-img").args(["create", "-q", "-f", "qcow2"]).arg(&blank).arg("64M").status();
    assert!(made.unwrap().success());
    let image = p.import_image("blank", &blank, None).await.unwrap().image_id;
    let again = p.import_image("blank", &blank, None).await.unwrap().image_id;
    assert_eq!(image, again, "registering the same file twice gives the same image");

    let err = p.run_instances(REGION, &spec("img-0000000000000000", "local.small")).await.unwrap_err();
    assert!(matches!(err, CloudError::NotFound { ref what, .. } if what == "image"), "{err:?}");
    let err = p.run_instances(REGION, &spec("../../etc/passwd", "local.small")).await.unwrap_err();
    assert!(matches!(err, CloudError::NotFound { .. }), "{err:?}");
    let err = p.run_instances(REGION, &spec(&image, "m5.24xlarge")).await.unwrap_err();
    assert!(matches!(err, CloudError::InvalidRequest(ref m) if m.contains("local.small")), "{err:?}");
    let err = p
        .run_instances(REGION, &InstanceSpec { key_name: Some("nobody".into()), ..spec(&image, "local.small") })
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::NotFound { ref what, .. } if what == "key pair"), "{err:?}");
    let err = p.run_instances(REGION, &InstanceSpec { count: 17, ..spec(&image, "local.small") }).await.unwrap_err();
    assert!(matches!(err, CloudError::LimitExceeded(_)), "{err:?}");
    let err = p.run_instances("us-east-1", &spec(&image, "local.small")).await.unwrap_err();
    assert!(matches!(err, CloudError::InvalidRequest(_)), "{err:?}");

    for size in [0, 1_000_000] {
        let err = p.create_volume(REGION, &volume(size)).await.unwrap_err();
        assert!(matches!(err, CloudError::InvalidRequest(_)), "{size} GiB: {err:?}");
    }
    let err =
        p.create_volume(REGION, &VolumeSpec { availability_zone: "elsewhere".into(), ..volume(1) }).await.unwrap_err();
    assert!(matches!(err, CloudError::InvalidRequest(_)), "{err:?}");
    let err = p.attach_volume(REGION, "vol-0000000000000000", "i-0000000000000000", "/dev/sdf").await.unwrap_err();
    assert!(matches!(err, CloudError::NotFound { .. }), "{err:?}");
    let err = p.describe_instances(REGION, &["i-0000000000000000".into()]).await.unwrap_err();
    assert!(matches!(err, CloudError::NotFound { ref what, .. } if what == "instance"), "{err:?}");
    assert!(p.describe_instances(REGION, &[]).await.unwrap().is_empty());
    let err = p.import_key_pair(REGION, "k", "ssh-ed25519 not-base64!", &Tags::new()).await.unwrap_err();
    assert!(matches!(err, CloudError::InvalidRequest(_)), "{err:?}");

    assert!(empty(&lab.dir.path().join("instances")), "no instance folder left");
    assert!(empty(&lab.dir.path().join("volumes")), "no volume left");
}

#[tokio::test]
async fn missing_qemu_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let settings =
        LocalSettings { qemu_system: "/nonexistent/qemu-system-x86_64".into(), ..LocalSettings::new(dir.path()) };
    let p = LocalProvider::new(settings).unwrap();
    let err = p.check_credentials().await.unwrap_err();
    assert!(
        matches!(err, CloudError::Provider { ref code, ref message } if code == "qemu_missing" && message.contains("qemu-system-x86")),
        "{err:?}"
    );
    let err = p.run_instances(REGION, &spec("img-0000000000000000", "local.small")).await.unwrap_err();
    assert!(err.to_string().contains("apt-get install qemu-system-x86"), "{err}");
    assert!(empty(&dir.path().join("instances")));
}
