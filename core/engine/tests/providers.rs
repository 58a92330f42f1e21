//! Providers and images against the local EC2 emulator (moto), through aws-sdk-ec2: the secret is
//! sealed, "Synchronize configuration" loads regions and instance types, administrators allow
//! some, images are searched, imported disabled, enabled with an OS type, and seen only by those
//! with the right.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use wintermute_api::providers::{ImagePatch, ImportImage, NewProvider, OsType, ProviderPatch};
use wintermute_api::rights::{ObjectKind, ObjectRight, RightChange};
use wintermute_api::tasks::TaskState;
use wintermute_api::users::NewGroup;
use wintermute_api::ErrorCode;
use wintermute_cloud_aws::testing::moto;
use wintermute_core::store::Backend;
use wintermute_core::testing::TestCore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_and_images_on_the_ec2_emulator() {
    let Some(moto) = moto().await else { return };
    let core = TestCore::start(Backend::Sqlite).await;
    let (engine, admin) = (&core.engine, core.admin.clone());
    let (ana, ana_c) = core.user("ana").await;

    // --- configure ---
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let req = NewProvider {
        name: "aws-test".into(),
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_access_key: secret.into(),
        endpoint_url: Some(moto.url()),
        ..Default::default()
    };
    assert_eq!(engine.providers_create(&ana_c, &req).await.unwrap_err().code(), ErrorCode::Forbidden);
    let bad = NewProvider { endpoint_url: Some("ftp://nope".into()), ..req.clone() };
    assert_eq!(engine.providers_create(&admin, &bad).await.unwrap_err().code(), ErrorCode::InvalidField);
    let p = engine.providers_create(&admin, &req).await.unwrap();
    assert_eq!((p.status.as_str(), p.regions.len()), ("new", 0));
    assert_eq!(engine.providers_create(&admin, &req).await.unwrap_err().code(), ErrorCode::Conflict);
    let (sealed,): (String,) = sqlx::query_as("SELECT sealed FROM secrets WHERE owner_kind = 'provider'")
        .fetch_one(engine.store().pool())
        .await
        .unwrap();
    assert!(sealed.starts_with("wme1.") && !sealed.contains(secret), "the secret is sealed");
    let json = serde_json::to_string(&p).unwrap();
    assert!(!json.contains(secret), "the secret is never returned");

    // --- synchronize ---
    assert_eq!(engine.providers_sync(&ana_c, p.id).await.unwrap_err().code(), ErrorCode::Forbidden);
    let t = engine.providers_sync(&admin, p.id).await.unwrap();
    let t = core.finished_task(&admin, t.id).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    let p = engine.providers_get(&admin, p.id).await.unwrap();
    assert_eq!(p.status, "synced");
    assert!(p.regions.iter().any(|r| r.name == "us-east-1" && !r.allowed), "regions loaded, none allowed yet");
    let micro = p.instance_types.iter().find(|t| t.name == "t3.micro").expect("t3.micro loaded");
    assert_eq!((micro.vcpus, micro.memory_mib), (2, 1024));
    let p = engine
        .providers_update(
            &admin,
            p.id,
            &ProviderPatch {
                allowed_regions: Some(vec!["us-east-1".into()]),
                allowed_instance_types: Some(vec!["t3.micro".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(p.regions.iter().filter(|r| r.allowed).count(), 1);
    let bad = ProviderPatch { allowed_regions: Some(vec!["mars-north-1".into()]), ..Default::default() };
    assert_eq!(engine.providers_update(&admin, p.id, &bad).await.unwrap_err().code(), ErrorCode::InvalidField);
    // a second sync keeps what was allowed
    let t = core.finished_task(&admin, engine.providers_sync(&admin, p.id).await.unwrap().id).await;
    assert_eq!(t.state, TaskState::Succeeded);
    assert!(engine
        .providers_get(&admin, p.id)
        .await
        .unwrap()
        .regions
        .iter()
        .any(|r| r.name == "us-east-1" && r.allowed));

    // --- visibility through group rights ---
    assert!(engine.providers_list(&ana_c).await.unwrap().is_empty(), "not visible by default");
    let g = engine
        .groups_create(&admin, &NewGroup { name: "analysts".into(), members: vec![ana.id], ..Default::default() })
        .await
        .unwrap();
    let grant = |right| RightChange { object_kind: ObjectKind::Provider, object_id: p.id, group_id: g.id, right };
    engine.change_right(&admin, &grant(ObjectRight::View), true).await.unwrap();
    assert_eq!(engine.providers_list(&ana_c).await.unwrap().len(), 1);
    assert_eq!(
        engine.images_search(&ana_c, p.id, "us-east-1", "amzn").await.unwrap_err().code(),
        ErrorCode::Forbidden,
        "needs import images"
    );

    // --- images ---
    let found = engine.images_search(&admin, p.id, "us-east-1", "amzn").await.unwrap();
    assert!(!found.is_empty(), "name search finds the emulator's Amazon Linux images");
    let ami = found[0].cloud_id.clone();
    let by_id = engine.images_search(&admin, p.id, "us-east-1", &format!("image_id:{ami}")).await.unwrap();
    assert_eq!(by_id.len(), 1);
    assert!(!by_id[0].imported);
    assert_eq!(
        engine.images_search(&admin, p.id, "eu-west-1", "amzn").await.unwrap_err().code(),
        ErrorCode::Forbidden,
        "region not allowed"
    );
    let imp = ImportImage { provider_id: p.id, region: "us-east-1".into(), cloud_id: ami.clone() };
    engine.change_right(&admin, &grant(ObjectRight::ImportImages), true).await.unwrap();
    let image = engine.images_import(&ana_c, &imp).await.unwrap();
    assert!(!image.enabled && image.os_type.is_none(), "imported images start disabled");
    assert_eq!(engine.images_import(&admin, &imp).await.unwrap_err().code(), ErrorCode::Conflict);
    let missing = ImportImage { cloud_id: "ami-00000000000000000".into(), ..imp.clone() };
    assert_eq!(engine.images_import(&admin, &missing).await.unwrap_err().code(), ErrorCode::NotFound);
    assert!(engine.images_search(&admin, p.id, "us-east-1", &format!("image_id:{ami}")).await.unwrap()[0].imported);
    let enable = ImagePatch { enabled: Some(true), ..Default::default() };
    assert_eq!(
        engine.images_update(&admin, image.id, &enable).await.unwrap_err().code(),
        ErrorCode::InvalidField,
        "needs an OS type"
    );
    let image = engine
        .images_update(
            &ana_c,
            image.id,
            &ImagePatch { os_type: Some(OsType::Debian), description: Some("Debian for tests".into()), ..enable },
        )
        .await
        .unwrap();
    assert!(image.enabled);
    // Another analyst sees it only with the image's view right.
    let (bo, bo_c) = core.user("bo").await;
    assert!(engine.images_list(&bo_c).await.unwrap().is_empty());
    let g2 = engine
        .groups_create(&admin, &NewGroup { name: "viewers".into(), members: vec![bo.id], ..Default::default() })
        .await
        .unwrap();
    engine
        .change_right(
            &ana_c,
            &RightChange {
                object_kind: ObjectKind::Image,
                object_id: image.id,
                group_id: g2.id,
                right: ObjectRight::View,
            },
            true,
        )
        .await
        .unwrap();
    assert_eq!(engine.images_list(&bo_c).await.unwrap().len(), 1);
    assert_eq!(
        engine.images_update(&bo_c, image.id, &ImagePatch::default()).await.unwrap_err().code(),
        ErrorCode::Forbidden
    );
    // A disabled image disappears from viewers' lists.
    engine.images_update(&admin, image.id, &ImagePatch { enabled: Some(false), ..Default::default() }).await.unwrap();
    assert!(engine.images_list(&bo_c).await.unwrap().is_empty());

    // --- a provider with images cannot go; an unreachable endpoint fails the sync clearly ---
    assert_eq!(engine.providers_delete(&admin, p.id).await.unwrap_err().code(), ErrorCode::Conflict);
    let dead = engine
        .providers_create(
            &admin,
            &NewProvider { name: "dead".into(), endpoint_url: Some("http://127.0.0.1:9".into()), ..req.clone() },
        )
        .await
        .unwrap();
    let t = core.finished_task(&admin, engine.providers_sync(&admin, dead.id).await.unwrap().id).await;
    assert_eq!(t.state, TaskState::Failed);
    let dead = engine.providers_get(&admin, dead.id).await.unwrap();
    assert_eq!(dead.status, "error");
    assert!(!dead.status_message.is_empty() && !dead.status_message.contains(secret), "{}", dead.status_message);
    engine.providers_delete(&admin, dead.id).await.unwrap();
    drop(moto);
}
