//! The catalogue every cloud test starts from: a provider synchronised and limited to one region
//! and one instance type, an image imported from it, and a group whose members may launch it.

use wintermute_api::providers::{Image, ImportImage, NewProvider, Provider, ProviderPatch};
use wintermute_api::rights::{ObjectKind, ObjectRight, RightChange};
use wintermute_api::tasks::TaskState;
use wintermute_api::users::{Group, NewGroup};
use wintermute_core::testing::TestCore;

/// Creates the provider as the admin, synchronises it and allows only `region` and `instance_type`.
pub async fn allowed_provider(core: &TestCore, new: &NewProvider, region: &str, instance_type: &str) -> Provider {
    let (engine, admin) = (&core.engine, &core.admin);
    let p = engine.providers_create(admin, new).await.unwrap();
    let t = core.finished_task(admin, engine.providers_sync(admin, p.id).await.unwrap().id).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    engine
        .providers_update(
            admin,
            p.id,
            &ProviderPatch {
                allowed_regions: Some(vec![region.into()]),
                allowed_instance_types: Some(vec![instance_type.into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

/// Imports the cloud's image `cloud_id` (imported images start disabled).
pub async fn imported_image(core: &TestCore, provider_id: i64, region: &str, cloud_id: &str) -> Image {
    core.engine
        .images_import(&core.admin, &ImportImage { provider_id, region: region.into(), cloud_id: cloud_id.into() })
        .await
        .unwrap()
}

/// A group `analysts` of `members` that may see the provider, launch on it, create volumes on it
/// and use the image.
pub async fn analysts_may_launch(core: &TestCore, members: Vec<i64>, provider_id: i64, image_id: i64) -> Group {
    let (engine, admin) = (&core.engine, &core.admin);
    let g = engine
        .groups_create(admin, &NewGroup { name: "analysts".into(), members, ..Default::default() })
        .await
        .unwrap();
    let grant = |object_kind, object_id, right| RightChange { object_kind, object_id, group_id: g.id, right };
    for r in [ObjectRight::View, ObjectRight::CreateInstances, ObjectRight::CreateVolume] {
        engine.change_right(admin, &grant(ObjectKind::Provider, provider_id, r), true).await.unwrap();
    }
    engine.change_right(admin, &grant(ObjectKind::Image, image_id, ObjectRight::View), true).await.unwrap();
    g
}

/// An AWS provider named `aws` at `endpoint` (the EC2 emulator), with the emulator's sample keys.
#[allow(dead_code)] // not every test that shares this file launches on AWS
pub fn aws_provider(endpoint: String) -> NewProvider {
    NewProvider {
        name: "aws".into(),
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        endpoint_url: Some(endpoint),
        ..Default::default()
    }
}
