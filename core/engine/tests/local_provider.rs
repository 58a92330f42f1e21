//! The "local" provider kind: no credentials, its guests' state under the core's data directory,
//! and "Synchronize configuration" loading its one region and its CPU/memory sizes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use wintermute_api::providers::{NewProvider, ProviderKind, ProviderPatch};
use wintermute_api::tasks::TaskState;
use wintermute_api::ErrorCode;
use wintermute_core::store::Backend;
use wintermute_core::testing::TestCore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_provider_needs_no_credentials_and_synchronizes() {
    let core = TestCore::start(Backend::Sqlite).await;
    let (engine, admin) = (&core.engine, &core.admin);
    let req = NewProvider { kind: Some(ProviderKind::Local), name: "lab".into(), ..Default::default() };
    let with_key = NewProvider { access_key_id: "AKIAIOSFODNN7EXAMPLE".into(), ..req.clone() };
    assert_eq!(engine.providers_create(admin, &with_key).await.unwrap_err().code(), ErrorCode::InvalidField);
    let p = engine.providers_create(admin, &req).await.unwrap();
    assert_eq!((p.kind, p.default_region.as_str(), p.access_key_id.as_str()), (ProviderKind::Local, "local", ""));
    let aws_without_key = NewProvider { kind: Some(ProviderKind::Aws), name: "aws".into(), ..Default::default() };
    assert_eq!(engine.providers_create(admin, &aws_without_key).await.unwrap_err().code(), ErrorCode::InvalidField);

    let t = engine.providers_sync(admin, p.id).await.unwrap();
    let t = core.finished_task(admin, t.id).await;
    let qemu = wintermute_cloud_local::find_program(wintermute_cloud_local::QEMU_SYSTEM.0).is_some();
    if !qemu {
        // Without QEMU the check fails and says what to install.
        assert_eq!(t.state, TaskState::Failed);
        assert!(t.message.contains("qemu-system-x86"), "{}", t.message);
        return;
    }
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    let p = engine.providers_get(admin, p.id).await.unwrap();
    assert_eq!(p.regions.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), vec!["local"]);
    let small = p.instance_types.iter().find(|t| t.name == "local.small").expect("local.small");
    assert_eq!((small.vcpus, small.memory_mib), (1, 512));
    assert!(core.data_dir.path.join("local").join(p.id.to_string()).is_dir(), "guests live under the data directory");
    let p = engine
        .providers_update(
            admin,
            p.id,
            &ProviderPatch {
                allowed_regions: Some(vec!["local".into()]),
                allowed_instance_types: Some(vec!["local.small".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(p.instance_types.iter().any(|t| t.name == "local.small" && t.allowed));
}
