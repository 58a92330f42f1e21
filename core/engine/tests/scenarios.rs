//! User defined scripts (manual 6.6) and cloud templates (7.3.3–7.3.5): the example script of a
//! fresh core, the "create UDS" permission, private and shared scripts and the group rights
//! "view UDS"/"change UDS", clear refusals of bad scripts, launch checks of scripts before any
//! cloud call, and templates (saved without passwords, launched with "create instance from
//! template") against the local EC2 emulator. Nothing here opens SSH: emulator instances are
//! launched without provisioning.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use wintermute_api::instances::{LaunchRequest, LaunchStorage};
use wintermute_api::providers::{ImagePatch, ImportImage, NewProvider, OsType, ProviderPatch};
use wintermute_api::rights::{ObjectKind, ObjectRight, RightChange};
use wintermute_api::scenarios::{
    NewScript, NewTemplate, ScriptAccess, ScriptPatch, ScriptPlatform, ScriptStage, TemplateLaunch,
};

use wintermute_api::setup::{DataUpload, ScriptRun, Setup, SetupUser};
use wintermute_api::tasks::TaskState;
use wintermute_api::users::{NewGroup, Permission, PermissionSet};
use wintermute_api::ErrorCode;
use wintermute_cloud::{CloudProvider, TAG_CORE};
use wintermute_cloud_aws::testing::moto;
use wintermute_core::store::Backend;
use wintermute_core::testing::{TestCore, TEST_PASSWORD};
use wintermute_core::CoreError;

const REGION: &str = "us-east-1";

fn script(name: &str, content: &str) -> NewScript {
    NewScript {
        name: name.into(),
        description: String::new(),
        script_type: "bash".into(),
        platform: ScriptPlatform::LinuxGeneric,
        stage: ScriptStage::PostDataTransfer,
        access: ScriptAccess::Private,
        parameters: String::new(),
        content: content.into(),
    }
}

/// The field of an invalid-field error, else the message (which names the field).
fn named(e: &CoreError) -> String {
    match e {
        CoreError::InvalidField { field, .. } => field.clone(),
        other => other.to_string(),
    }
}

fn field_of(e: &CoreError) -> String {
    match e {
        CoreError::InvalidField { field, .. } => field.clone(),
        other => panic!("expected invalid_field, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_and_templates_sqlite() {
    story(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_and_templates_postgres() {
    if wintermute_core::testing::backends().contains(&Backend::Postgres) {
        story(Backend::Postgres).await;
    }
}

async fn story(backend: Backend) {
    let Some(moto) = moto().await else { return };
    let core = TestCore::start(backend).await;
    let (engine, admin) = (&core.engine, core.admin.clone());
    let (ana, ana_c) = core.user("ana").await;
    let (bob, bob_c) = core.user("bob").await;
    let (_carl, carl_c) = core.user("carl").await;
    // A login with a system account: when the core runs as root, data work runs with it.
    let (nobody, nobody_c) = core.user("nobody").await;
    engine.settings_set(&admin, "WMAIS_SG_IP_ADDRESS", serde_json::json!("198.51.100.20")).await.unwrap();

    // --- the example of a fresh core: shared, usable by everybody, editable by its owner only ---
    let listed = engine.scripts_list(&carl_c).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let example = &listed[0];
    assert_eq!(
        (example.name.as_str(), example.access, example.owner.login.as_str()),
        ("generic.sh", ScriptAccess::Shared, "admin")
    );
    assert_eq!(example.my_rights, vec![ObjectRight::View]);
    assert!(example.content.starts_with("#!/bin/bash"));
    let e = engine
        .scripts_update(&carl_c, example.id, &ScriptPatch { description: Some("x".into()), ..Default::default() })
        .await;
    assert_eq!(e.unwrap_err().code(), ErrorCode::Forbidden);

    // --- "create UDS" ---
    let e = engine.scripts_create(&ana_c, &script("a.sh", "#!/bin/bash\necho a\n")).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Forbidden);
    assert!(e.to_string().contains("create UDS"), "{e}");
    engine
        .users_set_permissions(&admin, ana.id, &PermissionSet { permissions: vec![Permission::CreateUds] })
        .await
        .unwrap();
    let ana_c = core.login("ana", TEST_PASSWORD).await;
    for (bad, field) in [
        (script("../x.sh", "#!/bin/bash\n"), "name"),
        (script("-x.sh", "#!/bin/bash\n"), "name"),
        (script("a b.sh", "#!/bin/bash\n"), "name"),
        (script("ok.sh", "echo no hash-bang\n"), "content"),
        (script("ok.sh", "#!/bin/bash\n\0"), "content"),
        (NewScript { parameters: "-m 'unclosed".into(), ..script("ok.sh", "#!/bin/bash\n") }, "parameters"),
        (NewScript { script_type: "Bash Shell".into(), ..script("ok.sh", "#!/bin/bash\n") }, "script_type"),
    ] {
        let e = engine.scripts_create(&ana_c, &bad).await.unwrap_err();
        assert_eq!(field_of(&e), field, "{bad:?}: {e}");
    }
    let a = engine
        .scripts_create(
            &ana_c,
            &NewScript { parameters: "-m 'from ana'".into(), ..script("configEnv.sh", "#!/bin/bash\necho \"$@\"\n") },
        )
        .await
        .unwrap();
    assert_eq!(a.access, ScriptAccess::Private);
    assert_eq!(a.my_rights, vec![ObjectRight::View, ObjectRight::Change]);

    // --- private: invisible to others until a group gets "view UDS", editable with "change UDS" ---
    assert!(engine.scripts_list(&bob_c).await.unwrap().iter().all(|s| s.id != a.id));
    assert_eq!(engine.scripts_get(&bob_c, a.id).await.unwrap_err().code(), ErrorCode::Forbidden);
    let team = engine
        .groups_create(&admin, &NewGroup { name: "team".into(), members: vec![bob.id], ..Default::default() })
        .await
        .unwrap();
    let grant = |kind, id, right| RightChange { object_kind: kind, object_id: id, group_id: team.id, right };
    // Only the owner (or an administrator) edits a script's security.
    assert_eq!(
        engine.change_right(&bob_c, &grant(ObjectKind::Uds, a.id, ObjectRight::View), true).await.unwrap_err().code(),
        ErrorCode::Forbidden
    );
    engine.change_right(&ana_c, &grant(ObjectKind::Uds, a.id, ObjectRight::View), true).await.unwrap();
    let seen = engine.scripts_get(&bob_c, a.id).await.unwrap();
    assert_eq!(seen.my_rights, vec![ObjectRight::View]);
    assert_eq!(
        engine
            .scripts_update(&bob_c, a.id, &ScriptPatch { description: Some("b".into()), ..Default::default() })
            .await
            .unwrap_err()
            .code(),
        ErrorCode::Forbidden
    );
    engine.change_right(&ana_c, &grant(ObjectKind::Uds, a.id, ObjectRight::Change), true).await.unwrap();
    let edited = engine
        .scripts_update(&bob_c, a.id, &ScriptPatch { description: Some("edited by bob".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(edited.description, "edited by bob");
    // ... but sharing with every user needs "create UDS", which bob lacks.
    let e = engine
        .scripts_update(&bob_c, a.id, &ScriptPatch { access: Some(ScriptAccess::Shared), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Forbidden);
    assert!(!engine.scripts_list(&carl_c).await.unwrap().iter().any(|s| s.id == a.id));
    engine
        .scripts_update(&ana_c, a.id, &ScriptPatch { access: Some(ScriptAccess::Shared), ..Default::default() })
        .await
        .unwrap();
    assert!(engine.scripts_list(&carl_c).await.unwrap().iter().any(|s| s.id == a.id), "shared: everybody sees it");
    let ubuntu_only = engine
        .scripts_create(&ana_c, &NewScript { platform: ScriptPlatform::Ubuntu, ..script("apt.sh", "#!/bin/bash\n") })
        .await
        .unwrap();
    let private_b = engine.scripts_create(&admin, &script("admin-only.sh", "#!/bin/bash\n")).await.unwrap();

    // --- a provider and image on the emulator; ana may launch, bob may only use templates ---
    let p = engine
        .providers_create(
            &admin,
            &NewProvider {
                name: "aws".into(),
                access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
                secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
                endpoint_url: Some(moto.url()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let t = core.finished_task(&admin, engine.providers_sync(&admin, p.id).await.unwrap().id).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    engine
        .providers_update(
            &admin,
            p.id,
            &ProviderPatch {
                allowed_regions: Some(vec![REGION.into()]),
                allowed_instance_types: Some(vec!["t3.micro".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let ami = engine.images_search(&admin, p.id, REGION, "amzn").await.unwrap()[0].cloud_id.clone();
    let image = engine
        .images_import(&admin, &ImportImage { provider_id: p.id, region: REGION.into(), cloud_id: ami })
        .await
        .unwrap();
    engine
        .images_update(
            &admin,
            image.id,
            &ImagePatch { enabled: Some(true), os_type: Some(OsType::Debian), ..Default::default() },
        )
        .await
        .unwrap();
    let analysts = engine
        .groups_create(
            &admin,
            &NewGroup { name: "analysts".into(), members: vec![ana.id, nobody.id], ..Default::default() },
        )
        .await
        .unwrap();
    let to = |g: i64, kind, id, right| RightChange { object_kind: kind, object_id: id, group_id: g, right };
    for r in [ObjectRight::View, ObjectRight::CreateInstances] {
        engine.change_right(&admin, &to(analysts.id, ObjectKind::Provider, p.id, r), true).await.unwrap();
    }
    engine.change_right(&admin, &to(analysts.id, ObjectKind::Image, image.id, ObjectRight::View), true).await.unwrap();
    engine.change_right(&admin, &to(team.id, ObjectKind::Provider, p.id, ObjectRight::View), true).await.unwrap();
    engine.change_right(&admin, &to(team.id, ObjectKind::Image, image.id, ObjectRight::View), true).await.unwrap();
    engine
        .change_right(&admin, &to(team.id, ObjectKind::Provider, p.id, ObjectRight::CreateInstanceFromTemplate), true)
        .await
        .unwrap();

    let req = |scripts: Vec<ScriptRun>, provision: bool| LaunchRequest {
        name: "job".into(),
        description: String::new(),
        tags: String::new(),
        image_id: image.id,
        instance_type: "t3.micro".into(),
        count: None,
        security_groups: vec![],
        swarm: None,
        storage: LaunchStorage::None,
        setup: Setup { provision, scripts, ..Setup::default() },
    };
    let run =
        |id: i64, params: Option<&str>| ScriptRun { sequence: 10, script_id: id, parameters: params.map(Into::into) };
    let ec2 = moto.provider();
    let core_id = engine.core_id().await.unwrap();
    let count_cloud = || async { ec2.instances_by_tag(REGION, TAG_CORE, &core_id).await.unwrap().len() };
    let before = count_cloud().await;

    // --- launch checks of scripts, before any cloud call ---
    let e = engine.instances_launch(&ana_c, &req(vec![run(private_b.id, None)], true)).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Forbidden, "{e}");
    assert!(e.to_string().contains("setup.scripts[0]"), "{e}");
    let e = engine.instances_launch(&ana_c, &req(vec![run(ubuntu_only.id, None)], true)).await.unwrap_err();
    assert_eq!(field_of(&e), "setup.scripts[0]", "{e}");
    assert!(e.to_string().contains("ubuntu") && e.to_string().contains("debian"), "{e}");
    let e = engine.instances_launch(&ana_c, &req(vec![run(a.id, Some("\"open"))], true)).await.unwrap_err();
    assert_eq!(field_of(&e), "setup.scripts[0].parameters", "{e}");
    let e = engine.instances_launch(&ana_c, &req(vec![run(999_999, None)], true)).await.unwrap_err();
    assert_eq!(field_of(&e), "setup.scripts[0]", "{e}");
    let e = engine.instances_launch(&ana_c, &req(vec![run(a.id, None)], false)).await.unwrap_err();
    assert_eq!(field_of(&e), "setup.provision", "{e}");

    // --- launch checks of the setup's data uploads, before any cloud call ---
    let data = tempfile::Builder::new().prefix("wintermute-launch-data.").tempdir().unwrap();
    fs::set_permissions(data.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let home = data.path().join("nobody/cloud");
    fs::create_dir_all(home.join("deck")).unwrap();
    fs::write(home.join("deck/a.txt"), b"a").unwrap();
    if nix::unistd::geteuid().is_root() {
        let user = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        for p in [data.path().join("nobody"), home.clone(), home.join("deck"), home.join("deck/a.txt")] {
            std::os::unix::fs::lchown(&p, Some(user.uid.as_raw()), Some(user.gid.as_raw())).unwrap();
        }
    }
    let template = format!("{}/%USER%/cloud", data.path().display());
    engine.settings_set(&admin, "WMAIS_DATA_BASE_PATH", serde_json::json!(template)).await.unwrap();
    let upload = |source: &str, target: &str| LaunchRequest {
        setup: Setup {
            provision: true,
            data_upload: vec![
                DataUpload { source: "deck/".into(), target: "/mnt/data/".into() },
                DataUpload { source: source.into(), target: target.into() },
            ],
            ..Setup::default()
        },
        ..req(vec![], true)
    };
    let e = engine.instances_launch(&nobody_c, &upload("nothing-here/", "/mnt/data/")).await.unwrap_err();
    assert_eq!(field_of(&e), "setup.data_upload[1].source", "{e}");
    assert!(e.to_string().contains("nothing-here/") && e.to_string().contains("does not exist"), "{e}");
    for escape in ["../../etc/", "/etc/passwd", &format!("{}/../other/", home.display())] {
        let e = engine.instances_launch(&nobody_c, &upload(escape, "/mnt/data/")).await.unwrap_err();
        assert!(matches!(e.code(), ErrorCode::InvalidField | ErrorCode::Forbidden), "{escape}: {e}");
        assert!(named(&e).contains("setup.data_upload[1].source"), "{escape}: {e}");
    }
    let e = engine.instances_launch(&nobody_c, &upload("deck/a.txt", "relative/path")).await.unwrap_err();
    assert_eq!(field_of(&e), "setup.data_upload[1].target", "{e}");
    // Another user's data directory is out of reach: ana's own (missing) one is what is looked at.
    let e = engine.instances_launch(&ana_c, &upload("deck/", "/mnt/data/")).await.unwrap_err();
    assert!(named(&e).contains("setup.data_upload[0].source"), "{e}");
    assert_eq!(count_cloud().await, before, "no refused launch reached the cloud");

    // --- templates ---
    let with_user = LaunchRequest {
        setup: Setup {
            provision: true,
            user: Some(SetupUser { name: "analyst".into(), password: "Secret-In-Template-99".into() }),
            scripts: vec![run(a.id, Some("-x"))],
            ..Setup::default()
        },
        ..req(vec![], true)
    };
    let e = engine
        .templates_create(&ana_c, &NewTemplate { name: "mpi".into(), request: with_user.clone() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Forbidden, "ana lacks \"create instance template\": {e}");
    engine
        .change_right(&admin, &to(analysts.id, ObjectKind::Provider, p.id, ObjectRight::CreateInstanceTemplate), true)
        .await
        .unwrap();
    let tpl =
        engine.templates_create(&ana_c, &NewTemplate { name: "mpi".into(), request: with_user.clone() }).await.unwrap();
    assert_eq!(tpl.provider_id, p.id);
    assert_eq!(tpl.request.setup.user.as_ref().unwrap().password, "", "passwords are never saved");
    assert_eq!(tpl.request.setup.scripts, vec![run(a.id, Some("-x"))]);
    let (raw,): (String,) = sqlx::query_as("SELECT request FROM launch_templates WHERE id = $1")
        .bind(tpl.id)
        .fetch_one(engine.store().pool())
        .await
        .unwrap();
    assert!(!raw.contains("Secret-In-Template-99"), "{raw}");
    let e = engine
        .templates_create(&ana_c, &NewTemplate { name: "mpi".into(), request: with_user.clone() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Conflict);
    let e = engine
        .templates_create(
            &ana_c,
            &NewTemplate { name: "bad".into(), request: req(vec![run(ubuntu_only.id, None)], true) },
        )
        .await
        .unwrap_err();
    assert_eq!(field_of(&e), "setup.scripts[0]");
    let plain = engine
        .templates_create(&ana_c, &NewTemplate { name: "plain".into(), request: req(vec![], false) })
        .await
        .unwrap();
    assert_eq!(
        engine.templates_list(&ana_c).await.unwrap().iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["mpi", "plain"]
    );
    assert!(engine.templates_list(&bob_c).await.unwrap().is_empty(), "bob sees no template yet");
    assert_eq!(
        engine.templates_launch(&bob_c, plain.id, &TemplateLaunch::default()).await.unwrap_err().code(),
        ErrorCode::Forbidden
    );
    engine.change_right(&ana_c, &to(team.id, ObjectKind::Template, plain.id, ObjectRight::View), true).await.unwrap();
    engine.change_right(&ana_c, &to(team.id, ObjectKind::Template, tpl.id, ObjectRight::View), true).await.unwrap();
    assert_eq!(engine.templates_list(&bob_c).await.unwrap().len(), 2);
    // bob may not launch freely, only from templates
    assert_eq!(engine.instances_launch(&bob_c, &req(vec![], false)).await.unwrap_err().code(), ErrorCode::Forbidden);
    let e = engine.templates_launch(&bob_c, tpl.id, &TemplateLaunch::default()).await.unwrap_err();
    assert_eq!(field_of(&e), "password", "{e}");
    let e = engine
        .templates_launch(&bob_c, plain.id, &TemplateLaunch { password: Some("x".into()), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(field_of(&e), "password");
    assert_eq!(count_cloud().await, before);
    let l = engine
        .templates_launch(
            &bob_c,
            plain.id,
            &TemplateLaunch { name: Some("from-template".into()), count: Some(2), password: None },
        )
        .await
        .unwrap();
    assert_eq!(l.instances.len(), 2);
    assert!(
        l.instances.iter().all(|i| i.name.starts_with("from-template") && i.owner_login == "bob"),
        "{:?}",
        l.instances.iter().map(|i| (&i.name, &i.owner_login)).collect::<Vec<_>>()
    );
    let t = core.finished_task(&bob_c, l.task.id).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    assert_eq!(count_cloud().await, before + 2);
    // a template's "change" stays with its owner
    assert_eq!(engine.templates_delete(&bob_c, plain.id).await.unwrap_err().code(), ErrorCode::Forbidden);
    let renamed = engine
        .templates_replace(&ana_c, plain.id, &NewTemplate { name: "plain-2".into(), request: req(vec![], false) })
        .await
        .unwrap();
    assert_eq!(renamed.name, "plain-2");
    engine.templates_delete(&ana_c, plain.id).await.unwrap();
    assert_eq!(engine.templates_get(&ana_c, plain.id).await.unwrap_err().code(), ErrorCode::NotFound);

    // --- deleting a script: gone for everybody, audited ---
    engine.scripts_delete(&ana_c, ubuntu_only.id).await.unwrap();
    assert_eq!(engine.scripts_get(&ana_c, ubuntu_only.id).await.unwrap_err().code(), ErrorCode::NotFound);
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'script.%' OR action LIKE 'template.%'")
            .fetch_one(engine.store().pool())
            .await
            .unwrap();
    assert!(n >= 8, "script and template changes are audited ({n})");
    drop(moto);
}
