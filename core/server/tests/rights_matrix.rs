//! For every route: anonymous → 401, a user without the right → 403, a user with it → success.
//! The table must cover every route of the OpenAPI document, so a new route cannot skip it.
//! List routes are also checked for leaks: they show only what the caller may view.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{Resp, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wintermute_api::rights::ObjectKind;
use wintermute_core::Engine;

struct Case {
    method: Method,
    /// As in the OpenAPI document.
    template: &'static str,
    path: String,
    body: Option<Value>,
    /// Public routes answer without a token.
    public: bool,
    /// A token without the right (None: every logged-in user may call it).
    denied: Option<String>,
    /// A token with the right.
    allowed: String,
    /// Expected success status.
    ok: StatusCode,
}

fn case(
    method: Method,
    template: &'static str,
    path: String,
    body: Option<Value>,
    denied: Option<&str>,
    allowed: &str,
    ok: u16,
) -> Case {
    Case {
        method,
        template,
        path,
        body,
        public: false,
        denied: denied.map(str::to_owned),
        allowed: allowed.to_owned(),
        ok: StatusCode::from_u16(ok).unwrap(),
    }
}

async fn start_task(s: &TestServer, token: &str, steps: u32) -> i64 {
    let r = s.call(Method::POST, "/api/v1/debug/tasks", Some(token), Some(json!({"steps": steps}))).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    r.body["id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_checks_rights() {
    // A data directory of its own: local providers keep guests and images there.
    let data_dir = tempfile::tempdir().unwrap();
    let data_path = data_dir.path().to_path_buf();
    let s = TestServer::start_with(wintermute_core::store::Backend::Sqlite, |c| c.storage.data_dir = data_path).await;
    let admin = s.admin().await;
    let (_, plain) = s.user("plain", &[]).await;
    let (_, creator) = s.user("creator", &["create_user"]).await;
    let (_, changer) = s.user("changer", &["change_user"]).await;
    let (_, controller) = s.user("controller", &["control_tasks"]).await;
    let (_, auditor) = s.user("auditor", &["view_logs"]).await;
    let (viewer_id, viewer) = s.user("viewer", &[]).await;
    let (owner_id, owner) = s.user("owner", &[]).await;

    // an image owned by `owner`, viewable by `viewer` through group `team`
    Engine::register_object(s.engine.store().pool(), ObjectKind::Image, 9001, owner_id, "debian-12").await.unwrap();
    let team = s
        .call(Method::POST, "/api/v1/groups", Some(&admin), Some(json!({"name": "team", "members": [viewer_id]})))
        .await;
    let team = team.body["id"].as_i64().unwrap();
    let r = s
        .call(
            Method::POST,
            "/api/v1/rights/grant",
            Some(&owner),
            Some(json!({"object_kind": "image", "object_id": 9001, "group_id": team, "right": "view"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // objects that routes act on
    let victim = |n: &str| {
        let n = n.to_owned();
        let s = &s;
        async move { s.user(&n, &[]).await.0 }
    };
    let del_user = victim("victim1").await;
    let patch_user = victim("victim2").await;
    let other_group = s.call(Method::POST, "/api/v1/groups", Some(&admin), Some(json!({"name": "other"}))).await.body
        ["id"]
        .as_i64()
        .unwrap();
    let doomed_group = s.call(Method::POST, "/api/v1/groups", Some(&admin), Some(json!({"name": "doomed"}))).await.body
        ["id"]
        .as_i64()
        .unwrap();
    let admin_task = start_task(&s, &admin, 120).await;
    let token_of_plain =
        s.call(Method::POST, "/api/v1/auth/tokens", Some(&plain), Some(json!({"name": "ci"}))).await.body["api_token"]
            ["id"]
            .as_i64()
            .unwrap();
    let session_to_end = s.login("plain", common::USER_PASSWORD).await;
    let (_, fresh) = {
        // a user who still has to change the temporary password
        let r = s
            .call(
                Method::POST,
                "/api/v1/users",
                Some(&admin),
                Some(json!({"login": "fresh", "password": "Temp-Pass-1234"})),
            )
            .await;
        (r.body["id"].as_i64().unwrap(), s.login("fresh", "Temp-Pass-1234").await)
    };

    // key custody: a downloader, an instance of `owner` with a pinned host key and a pending change
    let (downloader_id, downloader) = s.user("downloader", &["download_ssh_keys"]).await;
    let now = chrono::Utc::now().timestamp_millis();
    sqlx::query(
        "INSERT INTO instances (owner_id, name, status, created_at, updated_at) VALUES ($1, 'web', 'running', $2, $2)",
    )
    .bind(owner_id)
    .bind(now)
    .execute(s.engine.store().pool())
    .await
    .unwrap();
    Engine::register_object(s.engine.store().pool(), ObjectKind::Instance, 1, owner_id, "web").await.unwrap();
    let host = |c: &str| wintermute_custody::UserKeyPair::generate(c).public_openssh();
    s.engine.check_host_key(1, &host("a")).await.unwrap();
    assert!(s.engine.check_host_key(1, &host("b")).await.is_err());

    // a console session of `owner` on instance 1, with a recording file
    let cast = format!("recordings/rights-matrix-{}.cast", std::process::id());
    let cast_path = s.engine.config().storage.data_dir.join(&cast);
    std::fs::create_dir_all(cast_path.parent().unwrap()).unwrap();
    std::fs::write(&cast_path, "{\"version\": 2, \"width\": 80, \"height\": 24}\n[0.1, \"o\", \"hi\"]\n").unwrap();
    let (console_session,): (i64,) = sqlx::query_as(
        "INSERT INTO console_sessions (instance_id, instance_name, user_id, user_login, term, cols, rows, started_at, \
         ended_at, end_reason, recording_path) VALUES (1, 'web', $1, 'owner', 'xterm', 80, 24, $2, $2, 'exited', $3) RETURNING id",
    )
    .bind(owner_id)
    .bind(now)
    .bind(&cast)
    .fetch_one(s.engine.store().pool())
    .await
    .unwrap();

    // providers and images, on the local EC2 emulator
    let moto = wintermute_cloud_aws::testing::moto().await;
    let moto_url = moto.as_ref().map(|m| m.url()).unwrap_or_else(|| "http://127.0.0.1:9".into());
    let provider_body = |name: &str| json!({"name": name, "access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "secret-secret", "endpoint_url": moto_url});
    let prov = s.call(Method::POST, "/api/v1/providers", Some(&admin), Some(provider_body("aws"))).await.body["id"]
        .as_i64()
        .unwrap();
    let doomed_prov = s.call(Method::POST, "/api/v1/providers", Some(&admin), Some(provider_body("doomed"))).await.body
        ["id"]
        .as_i64()
        .unwrap();
    // A local provider, and a small raw disk (a boot sector and nothing else) to import into it.
    let lab = s
        .call(Method::POST, "/api/v1/providers", Some(&admin), Some(json!({"kind": "local", "name": "lab"})))
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let disk = data_dir.path().join("tiny.img");
    let mut bytes = vec![0u8; 1 << 20];
    bytes[510..512].copy_from_slice(&[0x55, 0xaa]);
    std::fs::write(&disk, bytes).unwrap();
    let qemu_img = wintermute_cloud_local::find_program(wintermute_cloud_local::QEMU_IMG.0).is_some();
    if !qemu_img && std::env::var_os("CI").is_some() {
        panic!("qemu-img (qemu-utils) is needed under CI; scripts/test-all installs it");
    }
    // Without qemu-img the core refuses the import and names the package to install.
    let local_image_ok = if qemu_img { 202 } else { 503 };
    let sync = s.call(Method::POST, &format!("/api/v1/providers/{prov}/sync"), Some(&admin), None).await.body["id"]
        .as_i64()
        .unwrap();
    for _ in 0..200 {
        let t = s.call(Method::GET, &format!("/api/v1/tasks/{sync}"), Some(&admin), None).await.body;
        if t["state"] == "succeeded" || t["state"] == "failed" {
            assert_eq!(t["state"], "succeeded", "{t}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let r = s
        .call(
            Method::PATCH,
            &format!("/api/v1/providers/{prov}"),
            Some(&admin),
            Some(json!({"allowed_regions": ["us-east-1"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = s
        .call(
            Method::POST,
            "/api/v1/rights/grant",
            Some(&admin),
            Some(json!({"object_kind": "provider", "object_id": prov, "group_id": team, "right": "view"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let amis: Vec<String> = s
        .call(Method::GET, &format!("/api/v1/providers/{prov}/images?region=us-east-1&q=amzn"), Some(&admin), None)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["cloud_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(amis.len() >= 3, "the emulator offers images: {amis:?}");
    let import = |ami: &str| json!({"provider_id": prov, "region": "us-east-1", "cloud_id": ami});
    let imported = |r: Resp| {
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["id"].as_i64().unwrap()
    };
    let img = imported(s.call(Method::POST, "/api/v1/images", Some(&admin), Some(import(&amis[1]))).await);
    let doomed_img = imported(s.call(Method::POST, "/api/v1/images", Some(&admin), Some(import(&amis[2]))).await);

    // instances and volumes of `admin`: three running instances, volumes to act on
    let ok = |r: Resp, want: u16| {
        assert_eq!(r.status.as_u16(), want, "{:?}", r.body);
        r.body
    };
    ok(
        s.call(
            Method::PATCH,
            &format!("/api/v1/providers/{prov}"),
            Some(&admin),
            Some(json!({"allowed_instance_types": ["t3.micro"]})),
        )
        .await,
        200,
    );
    ok(
        s.call(
            Method::PATCH,
            &format!("/api/v1/images/{img}"),
            Some(&admin),
            Some(json!({"enabled": true, "os_type": "debian"})),
        )
        .await,
        200,
    );
    ok(
        s.call(
            Method::PUT,
            "/api/v1/settings/WMAIS_SG_IP_ADDRESS",
            Some(&admin),
            Some(json!({"value": "198.51.100.20"})),
        )
        .await,
        200,
    );
    let launch_body = |name: &str, count: u32| json!({"name": name, "image_id": img, "instance_type": "t3.micro", "count": count, "setup": {"provision": false}});
    let launched =
        ok(s.call(Method::POST, "/api/v1/instances", Some(&admin), Some(launch_body("fleet", 3))).await, 202);
    let launch_task = launched["task"]["id"].as_i64().unwrap();
    for _ in 0..300 {
        let t = s.call(Method::GET, &format!("/api/v1/tasks/{launch_task}"), Some(&admin), None).await.body;
        if t["state"] == "succeeded" || t["state"] == "failed" {
            assert_eq!(t["state"], "succeeded", "{t}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let fleet: Vec<i64> = launched["instances"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect();
    let (inst_batch, inst_action, inst_target) = (fleet[0], fleet[1], fleet[2]);
    let zone = ok(s.call(Method::GET, &format!("/api/v1/instances/{inst_target}"), Some(&admin), None).await, 200)
        ["availability_zone"]
        .as_str()
        .unwrap()
        .to_owned();
    let volume_body = |name: &str| json!({"provider_id": prov, "region": "us-east-1", "availability_zone": zone, "name": name, "size_gb": 1});
    let vol = ok(s.call(Method::POST, "/api/v1/volumes", Some(&admin), Some(volume_body("data"))).await, 201)["id"]
        .as_i64()
        .unwrap();
    let doomed_vol = ok(s.call(Method::POST, "/api/v1/volumes", Some(&admin), Some(volume_body("doomed"))).await, 201)
        ["id"]
        .as_i64()
        .unwrap();

    // scenarios: a script creator, two private scripts and two templates of `admin`
    let (_, uds_creator) = s.user("scripter", &["create_uds"]).await;
    let script_body = |name: &str| json!({"name": name, "content": "#!/bin/bash\necho hello\n"});
    let script = ok(s.call(Method::POST, "/api/v1/scenarios", Some(&admin), Some(script_body("a.sh"))).await, 201)
        ["id"]
        .as_i64()
        .unwrap();
    let doomed_script =
        ok(s.call(Method::POST, "/api/v1/scenarios", Some(&admin), Some(script_body("b.sh"))).await, 201)["id"]
            .as_i64()
            .unwrap();
    let template_body = |name: &str| json!({"name": name, "request": launch_body("from-template", 1)});
    let template = ok(s.call(Method::POST, "/api/v1/templates", Some(&admin), Some(template_body("t1"))).await, 201)
        ["id"]
        .as_i64()
        .unwrap();
    let doomed_template =
        ok(s.call(Method::POST, "/api/v1/templates", Some(&admin), Some(template_body("t2"))).await, 201)["id"]
            .as_i64()
            .unwrap();

    let g = |t: &str| format!("/api/v1{t}");
    let mut cases = vec![
        Case { public: true, ..case(Method::GET, "/api/v1/health", g("/health"), None, None, "", 200) },
        Case {
            public: true,
            ..case(
                Method::POST,
                "/api/v1/auth/login",
                g("/auth/login"),
                Some(json!({"login": "plain", "password": common::USER_PASSWORD})),
                None,
                "",
                200,
            )
        },
        case(Method::POST, "/api/v1/auth/logout", g("/auth/logout"), None, None, &session_to_end, 204),
        case(
            Method::POST,
            "/api/v1/auth/password",
            g("/auth/password"),
            Some(json!({"current_password": "Temp-Pass-1234", "new_password": "Newcomer-Strong-99"})),
            None,
            &fresh,
            204,
        ),
        case(Method::GET, "/api/v1/auth/me", g("/auth/me"), None, None, &plain, 200),
        case(Method::GET, "/api/v1/auth/tokens", g("/auth/tokens"), None, None, &plain, 200),
        case(Method::POST, "/api/v1/auth/tokens", g("/auth/tokens"), Some(json!({"name": "x"})), None, &plain, 201),
        case(
            Method::DELETE,
            "/api/v1/auth/tokens/{id}",
            g(&format!("/auth/tokens/{token_of_plain}")),
            None,
            Some(&viewer),
            &plain,
            204,
        ),
        case(Method::GET, "/api/v1/users", g("/users"), None, None, &plain, 200),
        case(
            Method::POST,
            "/api/v1/users",
            g("/users"),
            Some(json!({"login": "newbie", "password": "Temp-Pass-1234"})),
            Some(&changer),
            &creator,
            201,
        ),
        case(Method::GET, "/api/v1/users/{id}", g(&format!("/users/{patch_user}")), None, Some(&plain), &creator, 200),
        case(
            Method::PATCH,
            "/api/v1/users/{id}",
            g(&format!("/users/{patch_user}")),
            Some(json!({"first_name": "Vic"})),
            Some(&creator),
            &changer,
            200,
        ),
        case(
            Method::DELETE,
            "/api/v1/users/{id}",
            g(&format!("/users/{del_user}")),
            None,
            Some(&creator),
            &changer,
            204,
        ),
        case(
            Method::PUT,
            "/api/v1/users/{id}/permissions",
            g(&format!("/users/{patch_user}/permissions")),
            Some(json!({"permissions": ["change_user"]})),
            Some(&creator),
            &changer,
            200,
        ),
        case(Method::GET, "/api/v1/groups", g("/groups"), None, None, &plain, 200),
        case(Method::POST, "/api/v1/groups", g("/groups"), Some(json!({"name": "ops"})), Some(&plain), &changer, 201),
        case(
            Method::GET,
            "/api/v1/groups/{id}",
            g(&format!("/groups/{other_group}")),
            None,
            Some(&plain),
            &changer,
            200,
        ),
        case(
            Method::PATCH,
            "/api/v1/groups/{id}",
            g(&format!("/groups/{other_group}")),
            Some(json!({"description": "x"})),
            Some(&plain),
            &changer,
            200,
        ),
        case(
            Method::DELETE,
            "/api/v1/groups/{id}",
            g(&format!("/groups/{doomed_group}")),
            None,
            Some(&plain),
            &changer,
            204,
        ),
        case(Method::GET, "/api/v1/objects", g("/objects"), None, None, &plain, 200),
        case(Method::GET, "/api/v1/rights/{kind}/{id}", g("/rights/image/9001"), None, Some(&plain), &viewer, 200),
        case(
            Method::PUT,
            "/api/v1/rights/{kind}/{id}/groups/{group_id}",
            g(&format!("/rights/image/9001/groups/{team}")),
            Some(json!({"rights": ["view", "change"]})),
            Some(&viewer),
            &owner,
            200,
        ),
        case(
            Method::POST,
            "/api/v1/rights/grant",
            g("/rights/grant"),
            Some(json!({"object_kind": "image", "object_id": 9001, "group_id": other_group, "right": "view"})),
            Some(&plain),
            &owner,
            200,
        ),
        case(
            Method::POST,
            "/api/v1/rights/revoke",
            g("/rights/revoke"),
            Some(json!({"object_kind": "image", "object_id": 9001, "group_id": other_group, "right": "view"})),
            Some(&viewer),
            &admin,
            200,
        ),
        case(Method::GET, "/api/v1/tasks", g("/tasks"), None, None, &plain, 200),
        case(
            Method::GET,
            "/api/v1/tasks/{id}",
            g(&format!("/tasks/{admin_task}")),
            None,
            Some(&plain),
            &controller,
            200,
        ),
        case(
            Method::GET,
            "/api/v1/tasks/{id}/log",
            g(&format!("/tasks/{admin_task}/log")),
            None,
            Some(&plain),
            &controller,
            200,
        ),
        case(
            Method::POST,
            "/api/v1/tasks/{id}/cancel",
            g(&format!("/tasks/{admin_task}/cancel")),
            None,
            Some(&plain),
            &controller,
            200,
        ),
        case(
            Method::POST,
            "/api/v1/admin/maintenance",
            g("/admin/maintenance"),
            Some(json!({"action": "prune_history"})),
            Some(&changer),
            &admin,
            202,
        ),
        case(Method::POST, "/api/v1/debug/tasks", g("/debug/tasks"), Some(json!({"steps": 1})), None, &plain, 202),
        case(Method::GET, "/api/v1/audit", g("/audit"), None, Some(&plain), &auditor, 200),
        case(Method::GET, "/api/v1/settings", g("/settings"), None, None, &plain, 200),
        case(Method::GET, "/api/v1/settings/{name}", g("/settings/WMAIS_CONNECTION_ATTEMPTS"), None, None, &plain, 200),
        case(
            Method::PUT,
            "/api/v1/settings/{name}",
            g("/settings/WMAIS_CONNECTION_ATTEMPTS"),
            Some(json!({"value": 12})),
            Some(&changer),
            &admin,
            200,
        ),
        case(Method::GET, "/api/v1/dashboard", g("/dashboard"), None, None, &plain, 200),
        case(Method::GET, "/api/v1/providers", g("/providers"), None, None, &plain, 200),
        case(
            Method::POST,
            "/api/v1/providers",
            g("/providers"),
            Some(provider_body("another")),
            Some(&changer),
            &admin,
            201,
        ),
        case(Method::GET, "/api/v1/providers/{id}", g(&format!("/providers/{prov}")), None, Some(&plain), &viewer, 200),
        case(
            Method::PATCH,
            "/api/v1/providers/{id}",
            g(&format!("/providers/{prov}")),
            Some(json!({"description": "x"})),
            Some(&viewer),
            &admin,
            200,
        ),
        case(
            Method::DELETE,
            "/api/v1/providers/{id}",
            g(&format!("/providers/{doomed_prov}")),
            None,
            Some(&viewer),
            &admin,
            204,
        ),
        case(
            Method::POST,
            "/api/v1/providers/{id}/sync",
            g(&format!("/providers/{prov}/sync")),
            None,
            Some(&viewer),
            &admin,
            202,
        ),
        case(
            Method::GET,
            "/api/v1/providers/{id}/images",
            g(&format!("/providers/{prov}/images?region=us-east-1&q=amzn")),
            None,
            Some(&viewer),
            &admin,
            200,
        ),
        case(
            Method::POST,
            "/api/v1/providers/{id}/local-images",
            g(&format!("/providers/{lab}/local-images")),
            Some(json!({"path": disk, "name": "tiny"})),
            Some(&viewer),
            &admin,
            local_image_ok,
        ),
        case(Method::GET, "/api/v1/images", g("/images"), None, None, &plain, 200),
        case(Method::POST, "/api/v1/images", g("/images"), Some(import(&amis[0])), Some(&viewer), &admin, 201),
        case(Method::GET, "/api/v1/images/{id}", g(&format!("/images/{img}")), None, Some(&plain), &admin, 200),
        case(
            Method::PATCH,
            "/api/v1/images/{id}",
            g(&format!("/images/{img}")),
            Some(json!({"description": "x"})),
            Some(&plain),
            &admin,
            200,
        ),
        case(
            Method::DELETE,
            "/api/v1/images/{id}",
            g(&format!("/images/{doomed_img}")),
            None,
            Some(&plain),
            &admin,
            204,
        ),
        case(
            Method::GET,
            "/api/v1/users/{id}/ssh-key",
            g(&format!("/users/{downloader_id}/ssh-key")),
            None,
            Some(&plain),
            &admin,
            200,
        ),
        case(
            Method::POST,
            "/api/v1/users/{id}/ssh-key/export",
            g(&format!("/users/{downloader_id}/ssh-key/export")),
            Some(json!({})),
            Some(&plain),
            &downloader,
            200,
        ),
        case(
            Method::POST,
            "/api/v1/users/{id}/ssh-key/rotate",
            g(&format!("/users/{downloader_id}/ssh-key/rotate")),
            None,
            Some(&downloader),
            &admin,
            200,
        ),
        case(
            Method::POST,
            "/api/v1/users/{id}/ssh-key/push",
            g(&format!("/users/{downloader_id}/ssh-key/push")),
            None,
            Some(&downloader),
            &admin,
            202,
        ),
        case(
            Method::GET,
            "/api/v1/instances/{id}/host-key",
            g("/instances/1/host-key"),
            None,
            Some(&plain),
            &owner,
            200,
        ),
        case(
            Method::POST,
            "/api/v1/instances/{id}/host-key/accept",
            g("/instances/1/host-key/accept"),
            None,
            Some(&owner),
            &admin,
            200,
        ),
        case(Method::GET, "/api/v1/admin/keys", g("/admin/keys"), None, Some(&changer), &admin, 200),
        case(Method::POST, "/api/v1/admin/keys/rotate", g("/admin/keys/rotate"), None, Some(&changer), &admin, 202),
        case(
            Method::POST,
            "/api/v1/admin/backup",
            g("/admin/backup"),
            Some(json!({"passphrase": "a long backup passphrase"})),
            Some(&changer),
            &admin,
            200,
        ),
        // The right is checked first; this core is not fresh, so the restore itself is refused
        // (a successful restore is shown by the engine's custody test and the end-to-end tests).
        case(Method::POST, "/api/v1/admin/restore", g("/admin/restore"), None, Some(&changer), &admin, 409),
        case(Method::GET, "/api/v1/instances", g("/instances"), None, None, &plain, 200),
        case(
            Method::POST,
            "/api/v1/instances",
            g("/instances"),
            Some(launch_body("one", 1)),
            Some(&plain),
            &admin,
            202,
        ),
        case(
            Method::POST,
            "/api/v1/instances/batch",
            g("/instances/batch"),
            Some(json!({"action": "reboot", "instance_ids": [inst_batch]})),
            Some(&plain),
            &admin,
            202,
        ),
        case(
            Method::GET,
            "/api/v1/instances/{id}",
            g(&format!("/instances/{inst_action}")),
            None,
            Some(&plain),
            &admin,
            200,
        ),
        case(
            Method::PATCH,
            "/api/v1/instances/{id}",
            g(&format!("/instances/{inst_action}")),
            Some(json!({"description": "changed"})),
            Some(&plain),
            &admin,
            200,
        ),
        case(
            Method::POST,
            "/api/v1/instances/{id}/actions",
            g(&format!("/instances/{inst_action}/actions")),
            Some(json!({"action": "power_off"})),
            Some(&plain),
            &admin,
            202,
        ),
        // Data sync: the right is checked first; then these paths are refused (`..`), which
        // shows the caller got past the right whatever the core's system accounts are.
        case(
            Method::POST,
            "/api/v1/instances/{id}/upload",
            g("/instances/1/upload"),
            Some(json!({"source": "../elsewhere/", "target": "/mnt/data/"})),
            Some(&plain),
            &owner,
            422,
        ),
        case(
            Method::POST,
            "/api/v1/instances/{id}/download",
            g("/instances/1/download"),
            Some(json!({"source": "/mnt/data/", "target": "../elsewhere/"})),
            Some(&plain),
            &owner,
            422,
        ),
        case(
            Method::POST,
            "/api/v1/volumes/{id}/upload",
            g(&format!("/volumes/{vol}/upload")),
            Some(json!({"source": "deck/", "target": "../../etc/"})),
            Some(&plain),
            &admin,
            422,
        ),
        case(
            Method::POST,
            "/api/v1/volumes/{id}/download",
            g(&format!("/volumes/{vol}/download")),
            Some(json!({"source": "../../etc/", "target": "back/"})),
            Some(&plain),
            &admin,
            422,
        ),
        // Workstation files: past the right, a relative instance path is refused (422).
        case(
            Method::GET,
            "/api/v1/instances/{id}/files",
            g("/instances/1/files?path=tmp"),
            None,
            Some(&plain),
            &owner,
            422,
        ),
        case(
            Method::PUT,
            "/api/v1/instances/{id}/files",
            g("/instances/1/files?path=tmp/x&size=0&mtime=0&mode=420"),
            None,
            Some(&plain),
            &owner,
            422,
        ),
        case(
            Method::GET,
            "/api/v1/instances/{id}/files/content",
            g("/instances/1/files/content?path=tmp/x"),
            None,
            Some(&plain),
            &owner,
            422,
        ),
        case(
            Method::PUT,
            "/api/v1/instances/{id}/files/tar",
            g("/instances/1/files/tar?path=tmp"),
            None,
            Some(&plain),
            &owner,
            422,
        ),
        case(
            Method::POST,
            "/api/v1/instances/{id}/files/tar",
            g("/instances/1/files/tar"),
            Some(json!({"path": "/tmp", "files": ["../etc/passwd"]})),
            Some(&plain),
            &owner,
            422,
        ),
        case(
            Method::POST,
            "/api/v1/instances/{id}/files/delete",
            g("/instances/1/files/delete"),
            Some(json!({"path": "tmp", "files": ["x"]})),
            Some(&plain),
            &owner,
            422,
        ),
        case(
            Method::POST,
            "/api/v1/instances/{id}/files/sums",
            g("/instances/1/files/sums"),
            Some(json!({"path": "/tmp", "files": ["/etc/passwd"]})),
            Some(&plain),
            &owner,
            422,
        ),
        case(Method::GET, "/api/v1/volumes", g("/volumes"), None, None, &plain, 200),
        case(Method::POST, "/api/v1/volumes", g("/volumes"), Some(volume_body("more")), Some(&plain), &admin, 201),
        case(Method::GET, "/api/v1/volumes/{id}", g(&format!("/volumes/{vol}")), None, Some(&plain), &admin, 200),
        case(
            Method::PATCH,
            "/api/v1/volumes/{id}",
            g(&format!("/volumes/{vol}")),
            Some(json!({"mount_point": "/srv/data"})),
            Some(&plain),
            &admin,
            200,
        ),
        case(
            Method::DELETE,
            "/api/v1/volumes/{id}",
            g(&format!("/volumes/{doomed_vol}")),
            None,
            Some(&plain),
            &admin,
            204,
        ),
        case(
            Method::POST,
            "/api/v1/volumes/{id}/attach",
            g(&format!("/volumes/{vol}/attach")),
            Some(json!({"instance_id": inst_target, "device": "/dev/xvdg"})),
            Some(&plain),
            &admin,
            200,
        ),
        case(
            Method::POST,
            "/api/v1/volumes/{id}/detach",
            g(&format!("/volumes/{vol}/detach")),
            None,
            Some(&plain),
            &admin,
            200,
        ),
        case(
            Method::GET,
            "/api/v1/providers/{id}/security-groups",
            g(&format!("/providers/{prov}/security-groups?region=us-east-1")),
            None,
            Some(&plain),
            &viewer,
            200,
        ),
        case(
            Method::PUT,
            "/api/v1/providers/{id}/security-groups",
            g(&format!("/providers/{prov}/security-groups")),
            Some(json!({"region": "us-east-1", "group_ids": []})),
            Some(&viewer),
            &admin,
            200,
        ),
        case(
            Method::POST,
            "/api/v1/providers/{id}/reconcile",
            g(&format!("/providers/{prov}/reconcile")),
            None,
            Some(&viewer),
            &admin,
            202,
        ),
        case(
            Method::GET,
            "/api/v1/users/{id}/limits",
            g(&format!("/users/{viewer_id}/limits")),
            None,
            Some(&plain),
            &viewer,
            200,
        ),
        case(
            Method::PUT,
            "/api/v1/users/{id}/limits",
            g(&format!("/users/{viewer_id}/limits")),
            Some(json!({"max_running_instances": 5})),
            Some(&viewer),
            &admin,
            200,
        ),
        case(
            Method::GET,
            "/api/v1/groups/{id}/limits",
            g(&format!("/groups/{team}/limits")),
            None,
            Some(&plain),
            &viewer,
            200,
        ),
        case(
            Method::PUT,
            "/api/v1/groups/{id}/limits",
            g(&format!("/groups/{team}/limits")),
            Some(json!({"max_volume_gb": 100})),
            Some(&viewer),
            &admin,
            200,
        ),
        case(
            Method::GET,
            "/api/v1/instances/{id}/console-sessions",
            g("/instances/1/console-sessions"),
            None,
            Some(&plain),
            &owner,
            200,
        ),
        case(
            Method::GET,
            "/api/v1/users/{id}/console-sessions",
            g(&format!("/users/{owner_id}/console-sessions")),
            None,
            Some(&plain),
            &owner,
            200,
        ),
        case(
            Method::GET,
            "/api/v1/console-sessions/{id}",
            g(&format!("/console-sessions/{console_session}")),
            None,
            Some(&plain),
            &auditor,
            200,
        ),
        case(
            Method::GET,
            "/api/v1/console-sessions/{id}/recording",
            g(&format!("/console-sessions/{console_session}/recording")),
            None,
            Some(&viewer),
            &owner,
            200,
        ),
        case(Method::GET, "/api/v1/scenarios", g("/scenarios"), None, None, &plain, 200),
        case(
            Method::POST,
            "/api/v1/scenarios",
            g("/scenarios"),
            Some(script_body("c.sh")),
            Some(&plain),
            &uds_creator,
            201,
        ),
        case(
            Method::GET,
            "/api/v1/scenarios/{id}",
            g(&format!("/scenarios/{script}")),
            None,
            Some(&plain),
            &admin,
            200,
        ),
        case(
            Method::PATCH,
            "/api/v1/scenarios/{id}",
            g(&format!("/scenarios/{script}")),
            Some(json!({"description": "says hello"})),
            Some(&uds_creator),
            &admin,
            200,
        ),
        case(
            Method::DELETE,
            "/api/v1/scenarios/{id}",
            g(&format!("/scenarios/{doomed_script}")),
            None,
            Some(&plain),
            &admin,
            204,
        ),
        case(Method::GET, "/api/v1/templates", g("/templates"), None, None, &plain, 200),
        case(Method::POST, "/api/v1/templates", g("/templates"), Some(template_body("t3")), Some(&plain), &admin, 201),
        case(
            Method::GET,
            "/api/v1/templates/{id}",
            g(&format!("/templates/{template}")),
            None,
            Some(&plain),
            &admin,
            200,
        ),
        case(
            Method::PUT,
            "/api/v1/templates/{id}",
            g(&format!("/templates/{template}")),
            Some(template_body("t1-renamed")),
            Some(&plain),
            &admin,
            200,
        ),
        case(
            Method::DELETE,
            "/api/v1/templates/{id}",
            g(&format!("/templates/{doomed_template}")),
            None,
            Some(&plain),
            &admin,
            204,
        ),
        case(
            Method::POST,
            "/api/v1/templates/{id}/launch",
            g(&format!("/templates/{template}/launch")),
            Some(json!({"name": "templated"})),
            Some(&plain),
            &admin,
            202,
        ),
    ];

    // Coverage: every documented route has a case (the WebSockets are tested below).
    let doc = serde_json::to_value(wintermute_server::openapi_document()).unwrap();
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let mut covered: BTreeSet<(String, String)> =
        cases.iter().map(|c| (c.method.to_string(), c.template.to_owned())).collect();
    covered.insert(("GET".into(), "/api/v1/events".into()));
    covered.insert(("GET".into(), "/api/v1/instances/{id}/console".into()));
    assert_eq!(documented, covered, "the rights matrix must cover exactly the documented routes");

    for c in cases.drain(..) {
        let label = format!("{} {}", c.method, c.path);
        if !c.public {
            let r = s.call(c.method.clone(), &c.path, None, c.body.clone()).await;
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::UNAUTHORIZED, "unauthorized"),
                "anonymous {label}: {:?}",
                r.body
            );
            let r = s.call(c.method.clone(), &c.path, Some("wmt_forged-token"), c.body.clone()).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "forged token {label}");
        }
        if let Some(d) = &c.denied {
            let r = s.call(c.method.clone(), &c.path, Some(d), c.body.clone()).await;
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::FORBIDDEN, "forbidden"),
                "without the right {label}: {:?}",
                r.body
            );
        }
        let tok = if c.public { None } else { Some(c.allowed.as_str()) };
        let r: Resp = s.call(c.method.clone(), &c.path, tok, c.body.clone()).await;
        assert_eq!(r.status, c.ok, "with the right {label}: {:?}", r.body);
    }

    // A temporary password blocks everything but the password change and logout.
    let (_, _) = (
        s.call(
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            Some(json!({"login": "rookie", "password": "Temp-Pass-1234"})),
        )
        .await,
        (),
    );
    let temp = s.login("rookie", "Temp-Pass-1234").await;
    for (m, p) in [
        (Method::GET, "/api/v1/auth/me"),
        (Method::GET, "/api/v1/users"),
        (Method::GET, "/api/v1/tasks"),
        (Method::GET, "/api/v1/dashboard"),
    ] {
        let r = s.call(m, p, Some(&temp), None).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "password_change_required"), "{p}");
    }
    assert_eq!(s.call(Method::POST, "/api/v1/auth/logout", Some(&temp), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.call(Method::GET, "/api/v1/auth/me", Some(&temp), None).await.status,
        StatusCode::UNAUTHORIZED,
        "logged out"
    );

    // Lists never leak: plain sees only itself, no objects, no foreign tasks, only its groups.
    let users = s.call(Method::GET, "/api/v1/users", Some(&plain), None).await.body;
    assert_eq!(
        users.as_array().unwrap().iter().map(|u| u["login"].as_str().unwrap()).collect::<Vec<_>>(),
        vec!["plain"]
    );
    assert_eq!(s.call(Method::GET, "/api/v1/objects", Some(&plain), None).await.body, json!([]));
    let seen = s.call(Method::GET, "/api/v1/objects", Some(&viewer), None).await.body;
    let mut seen: Vec<(String, i64)> = seen
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["object_kind"].as_str().unwrap().to_owned(), o["object_id"].as_i64().unwrap()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![("image".to_owned(), 9001), ("provider".to_owned(), prov)],
        "exactly what its group was granted"
    );
    let tasks = s.call(Method::GET, "/api/v1/tasks", Some(&plain), None).await.body;
    assert!(tasks["items"].as_array().unwrap().iter().all(|t| t["owner_login"] == "plain"), "{tasks}");
    assert!(!tasks["items"].as_array().unwrap().is_empty());
    let all = s.call(Method::GET, "/api/v1/tasks", Some(&controller), None).await.body;
    assert!(
        all["items"].as_array().unwrap().iter().any(|t| t["owner_login"] == "admin"),
        "control tasks sees everybody's"
    );
    assert_eq!(s.call(Method::GET, "/api/v1/groups", Some(&plain), None).await.body, json!([]));
    assert_eq!(s.call(Method::GET, "/api/v1/groups", Some(&viewer), None).await.body.as_array().unwrap().len(), 1);

    events_socket(&s, &plain, &controller).await;
    console_socket(&s, &plain).await;
    std::fs::remove_file(&cast_path).ok();
    s.stop().await;
    drop(moto);
    drop(data_dir);
}

/// The event stream: refused without a token, and delivers only events the caller may see.
async fn events_socket(s: &TestServer, plain: &str, controller: &str) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let ws_url = s.url.replace("http://", "ws://") + "/api/v1/events";
    let err = tokio_tungstenite::connect_async(ws_url.clone()).await.unwrap_err();
    assert!(err.to_string().contains("401"), "anonymous WebSocket refused: {err}");

    let mut req = ws_url.clone().into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {plain}").parse().unwrap());
    let (mut plain_ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let (mut ctl_ws, _) = tokio_tungstenite::connect_async(format!("{ws_url}?token={controller}")).await.unwrap();

    let admin = s.admin().await;
    let foreign = start_task(s, &admin, 1).await;
    let own = start_task(s, plain, 1).await;
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while tokio::time::Instant::now() < deadline {
        let Ok(Some(Ok(msg))) = tokio::time::timeout(std::time::Duration::from_secs(5), plain_ws.next()).await else {
            break;
        };
        if let Ok(v) = serde_json::from_str::<Value>(msg.to_text().unwrap_or("")) {
            let id = v["task"]["id"].as_i64().or(v["line"]["task_id"].as_i64());
            seen.push(id);
            if v["type"] == "task" && v["task"]["id"] == own && v["task"]["state"] == "succeeded" {
                break;
            }
        }
    }
    assert!(seen.contains(&Some(own)), "own task events arrive: {seen:?}");
    assert!(!seen.contains(&Some(foreign)), "no events of other users' tasks: {seen:?}");
    let mut ctl_saw_foreign = false;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(std::time::Duration::from_secs(3), ctl_ws.next()).await {
        if let Ok(v) = serde_json::from_str::<Value>(msg.to_text().unwrap_or("")) {
            if v["task"]["id"] == foreign {
                ctl_saw_foreign = true;
                break;
            }
        }
    }
    assert!(ctl_saw_foreign, "\"control tasks\" sees everybody's task events");
}

/// The console: refused without a token and without the "SSH console" right, before the upgrade
/// (the console's own tests show it working).
async fn console_socket(s: &TestServer, plain: &str) {
    let url = common::console::console_url(s, 1, "");
    let err = tokio_tungstenite::connect_async(url).await.unwrap_err();
    assert!(err.to_string().contains("401"), "anonymous console refused: {err}");
    let refused = common::console::try_open(s, plain, 1, "").await.unwrap_err();
    assert_eq!((refused.status, refused.body["code"].as_str()), (403, Some("forbidden")), "{:?}", refused.body);
}
