//! One story through users, groups, rights, tasks, audit and settings, run on SQLite and (when
//! `WINTERMUTE_TEST_POSTGRES_URL` is set) on PostgreSQL, each on a fresh database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::json;
use wintermute_api::rights::{ObjectKind, ObjectRight, RightChange, RightSet};
use wintermute_api::tasks::{DebugTaskRequest, TaskState};
use wintermute_api::users::{NewGroup, NewUser, Permission, PermissionSet, UserPatch};
use wintermute_api::ErrorCode;
use wintermute_core::audit::AuditQuery;
use wintermute_core::store::Backend;
use wintermute_core::tasks::TaskQuery;
use wintermute_core::testing::{backends, TestDatabase};
use wintermute_core::{Caller, Config, CoreError, Engine};

async fn open(db: &TestDatabase) -> (Engine, String, tokio_util::sync::CancellationToken) {
    let mut config = Config::default();
    config.database.url = db.url.clone();
    config.debug.test_tasks = true;
    config.tasks.lease_seconds = 5;
    let (engine, first) = Engine::open(config).await.expect("open engine");
    let first = first.expect("first start creates admin");
    assert_eq!(first.login, "admin");
    let stop = tokio_util::sync::CancellationToken::new();
    engine.start(stop.clone());
    (engine, first.password, stop)
}

async fn login(engine: &Engine, user: &str, pw: &str) -> Caller {
    let r = engine.login(user, pw, Some("127.0.0.1")).await.expect("login");
    engine.authenticate(&r.token, Some("127.0.0.1")).await.expect("authenticate")
}

async fn wait_finished(engine: &Engine, caller: &Caller, id: i64) -> wintermute_api::tasks::Task {
    for _ in 0..200 {
        let t = engine.tasks_get(caller, id).await.unwrap();
        if t.state.is_finished() {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("task {id} did not finish");
}

fn code(e: CoreError) -> ErrorCode {
    e.code()
}

async fn story(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let (engine, temp_pw, stop) = open(&db).await;
    assert_eq!(engine.store().backend(), backend);

    // --- first login: the temporary password must be changed ---
    let admin = login(&engine, "admin", &temp_pw).await;
    assert!(admin.must_change_password && admin.is_admin);
    let weak = engine.change_own_password(&admin, &temp_pw, "short").await.unwrap_err();
    assert_eq!(code(weak), ErrorCode::WeakPassword);
    let wrong = engine.change_own_password(&admin, "not-it", "Adm1n-Strong-Pass").await.unwrap_err();
    assert_eq!(code(wrong), ErrorCode::InvalidField);
    engine.change_own_password(&admin, &temp_pw, "Adm1n-Strong-Pass").await.unwrap();
    assert_eq!(code(engine.login("admin", &temp_pw, None).await.unwrap_err()), ErrorCode::InvalidCredentials);
    let admin = login(&engine, "admin", "Adm1n-Strong-Pass").await;
    assert!(!admin.must_change_password);

    // --- users ---
    let new = |login: &str| NewUser {
        login: login.into(),
        password: "Temp-Pass-1234".into(),
        enabled: true,
        ..Default::default()
    };
    let alice =
        engine.users_create(&admin, &NewUser { email: "alice@example.com".into(), ..new("alice") }).await.unwrap();
    let bob = engine.users_create(&admin, &new("bob")).await.unwrap();
    engine.users_create(&admin, &new("carl")).await.unwrap();
    assert!(alice.must_change_password, "a password set by an administrator is temporary");
    assert_eq!(alice.time_zone, "Europe/Berlin", "new users get WMAIS_DEFAULT_TIMEZONE");
    assert_eq!(code(engine.users_create(&admin, &new("alice")).await.unwrap_err()), ErrorCode::Conflict);
    assert_eq!(
        code(engine.users_create(&admin, &NewUser { email: "nope".into(), ..new("carol") }).await.unwrap_err()),
        ErrorCode::InvalidField
    );
    assert_eq!(engine.users_list(&admin).await.unwrap().len(), 4);

    let a = login(&engine, "alice", "Temp-Pass-1234").await;
    engine.change_own_password(&a, "Temp-Pass-1234", "Wonder-Land-5678").await.unwrap();
    let a = login(&engine, "alice", "Wonder-Land-5678").await;
    let b = login(&engine, "bob", "Temp-Pass-1234").await;
    // An ordinary user sees only themselves and cannot create users.
    assert_eq!(
        engine.users_list(&a).await.unwrap().iter().map(|u| u.login.as_str()).collect::<Vec<_>>(),
        vec!["alice"]
    );
    assert_eq!(code(engine.users_get(&a, bob.id).await.unwrap_err()), ErrorCode::Forbidden);
    assert_eq!(code(engine.users_create(&a, &new("mallory")).await.unwrap_err()), ErrorCode::Forbidden);
    // Profile edits of one's own account are fine; making oneself admin is not.
    engine
        .users_update(&a, alice.id, &UserPatch { first_name: Some("Alice".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(
        code(
            engine
                .users_update(&a, alice.id, &UserPatch { is_admin: Some(true), ..Default::default() })
                .await
                .unwrap_err()
        ),
        ErrorCode::Forbidden
    );

    // --- global permissions ---
    let alice = engine
        .users_set_permissions(
            &admin,
            alice.id,
            &PermissionSet { permissions: vec![Permission::CreateUser, Permission::ViewLogs] },
        )
        .await
        .unwrap();
    assert_eq!(alice.permissions, vec![Permission::CreateUser, Permission::ViewLogs]);
    let a = login(&engine, "alice", "Wonder-Land-5678").await;
    assert!(a.has(Permission::CreateUser) && !a.has(Permission::ControlTasks));
    engine.users_create(&a, &new("dave")).await.unwrap();
    assert_eq!(
        code(engine.users_create(&a, &NewUser { is_admin: true, ..new("erin") }).await.unwrap_err()),
        ErrorCode::Forbidden
    );

    // --- groups and object rights ---
    let team = engine
        .groups_create(&admin, &NewGroup { name: "team".into(), description: "analysts".into(), members: vec![bob.id] })
        .await
        .unwrap();
    assert_eq!(team.members.len(), 1);
    assert_eq!(
        code(engine.groups_create(&admin, &NewGroup { name: "team".into(), ..Default::default() }).await.unwrap_err()),
        ErrorCode::Conflict
    );
    assert_eq!(
        code(engine.groups_create(&b, &NewGroup { name: "mine".into(), ..Default::default() }).await.unwrap_err()),
        ErrorCode::Forbidden
    );
    assert_eq!(engine.groups_list(&b).await.unwrap().len(), 1, "bob sees the group he belongs to");
    assert!(engine.groups_list(&a).await.unwrap().len() == 1, "alice may create users, so she sees groups");

    Engine::register_object(engine.store().pool(), ObjectKind::Image, 7, alice.id, "debian-12").await.unwrap();
    assert_eq!(engine.objects_list(&b, None).await.unwrap().len(), 0, "nothing is visible by default");
    assert_eq!(
        code(engine.require_right(&b, ObjectKind::Image, 7, ObjectRight::View).await.unwrap_err()),
        ErrorCode::Forbidden
    );
    assert_eq!(engine.objects_list(&a, None).await.unwrap().len(), 1, "owners see their objects");
    assert_eq!(engine.objects_list(&admin, Some(ObjectKind::Image)).await.unwrap().len(), 1, "admins see everything");
    // bob may not edit the security of alice's image
    let grant =
        RightChange { object_kind: ObjectKind::Image, object_id: 7, group_id: team.id, right: ObjectRight::View };
    assert_eq!(code(engine.change_right(&b, &grant, true).await.unwrap_err()), ErrorCode::Forbidden);
    let sec = engine.change_right(&a, &grant, true).await.unwrap();
    assert_eq!(sec.groups[0].rights, vec![ObjectRight::View]);
    let seen = engine.objects_list(&b, None).await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].my_rights, vec![ObjectRight::View]);
    assert_eq!(
        code(engine.require_right(&b, ObjectKind::Image, 7, ObjectRight::Change).await.unwrap_err()),
        ErrorCode::Forbidden
    );
    // rights must fit the kind
    let bad = engine
        .set_group_rights(&a, ObjectKind::Image, 7, team.id, &RightSet { rights: vec![ObjectRight::SshConsole] })
        .await
        .unwrap_err();
    assert_eq!(code(bad), ErrorCode::InvalidField);
    engine
        .set_group_rights(
            &a,
            ObjectKind::Image,
            7,
            team.id,
            &RightSet { rights: vec![ObjectRight::View, ObjectRight::Change] },
        )
        .await
        .unwrap();
    engine.require_right(&b, ObjectKind::Image, 7, ObjectRight::Change).await.unwrap();
    engine.change_right(&admin, &grant, false).await.unwrap();
    engine.change_right(&admin, &RightChange { right: ObjectRight::Change, ..grant.clone() }, false).await.unwrap();
    assert_eq!(engine.objects_list(&b, None).await.unwrap().len(), 0, "revoked again");
    // leaving the group takes the rights away too
    engine.change_right(&a, &grant, true).await.unwrap();
    engine
        .groups_update(
            &admin,
            team.id,
            &wintermute_api::users::GroupPatch { members: Some(vec![]), ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!(engine.objects_list(&b, None).await.unwrap().len(), 0);

    // --- tasks ---
    let t = engine.start_debug_task(&a, &DebugTaskRequest { steps: 2, resumable: true, fail_at: None }).await.unwrap();
    assert_eq!(t.owner_login, "alice");
    let done = wait_finished(&engine, &a, t.id).await;
    assert_eq!(done.state, TaskState::Succeeded);
    assert!((done.progress - 1.0).abs() < 1e-9);
    let log = engine.tasks_log(&a, t.id, None).await.unwrap();
    assert!(log.iter().any(|l| l.line == "step 2 of 2 done"), "{log:?}");
    assert!(log.windows(2).all(|w| w[0].seq + 1 == w[1].seq), "log sequence numbers are gapless");
    assert_eq!(code(engine.tasks_get(&b, t.id).await.unwrap_err()), ErrorCode::Forbidden);
    assert_eq!(code(engine.tasks_cancel(&a, t.id).await.unwrap_err()), ErrorCode::NotCancellable);

    let failing =
        engine.start_debug_task(&a, &DebugTaskRequest { steps: 3, resumable: false, fail_at: Some(1) }).await.unwrap();
    let failed = wait_finished(&engine, &a, failing.id).await;
    assert_eq!(failed.state, TaskState::Failed);
    assert!(failed.message.contains("step 1 of 3 failed"), "{}", failed.message);

    let long =
        engine.start_debug_task(&a, &DebugTaskRequest { steps: 60, resumable: false, fail_at: None }).await.unwrap();
    assert_eq!(code(engine.tasks_cancel(&b, long.id).await.unwrap_err()), ErrorCode::Forbidden, "not bob's task");
    tokio::time::sleep(Duration::from_millis(300)).await;
    engine.tasks_cancel(&admin, long.id).await.unwrap();
    let cancelled = wait_finished(&engine, &a, long.id).await;
    assert_eq!(cancelled.state, TaskState::Cancelled);
    let mine = engine.tasks_list(&a, &TaskQuery::default()).await.unwrap();
    assert_eq!(mine.items.len(), 3);
    assert_eq!(
        engine.tasks_list(&b, &TaskQuery::default()).await.unwrap().items.len(),
        0,
        "bob sees none of alice's tasks"
    );
    assert_eq!(
        engine
            .tasks_list(&admin, &TaskQuery { state: Some("failed".into()), ..Default::default() })
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        code(
            engine
                .tasks_list(&admin, &TaskQuery { state: Some("odd".into()), ..Default::default() })
                .await
                .unwrap_err()
        ),
        ErrorCode::InvalidField
    );

    // The daily history pruning queued itself when the workers started.
    let all = engine.tasks_list(&admin, &TaskQuery::default()).await.unwrap().items;
    let prune = all.iter().find(|t| t.kind == "maintenance.prune_history").expect("daily pruning was queued");
    assert_eq!(wait_finished(&engine, &admin, prune.id).await.state, TaskState::Succeeded);

    // --- settings ---
    let s = engine.settings_get(&b, "WMAIS_CONNECTION_ATTEMPTS").unwrap();
    assert_eq!(s.value, json!(50));
    assert_eq!(
        code(engine.settings_set(&b, "WMAIS_CONNECTION_ATTEMPTS", json!(20)).await.unwrap_err()),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(engine.settings_set(&admin, "WMAIS_CONNECTION_ATTEMPTS", json!(0)).await.unwrap_err()),
        ErrorCode::InvalidField
    );
    assert_eq!(code(engine.settings_set(&admin, "WMAIS_NO_SUCH", json!(1)).await.unwrap_err()), ErrorCode::NotFound);
    let s = engine.settings_set(&admin, "WMAIS_CONNECTION_ATTEMPTS", json!(20)).await.unwrap();
    assert_eq!((s.value, s.updated_by.as_deref()), (json!(20), Some("admin")));
    assert_eq!(engine.setting_i64("WMAIS_CONNECTION_ATTEMPTS"), 20);

    // --- dashboard from the real tables ---
    let d = engine.dashboard(&a).await.unwrap();
    assert_eq!(d.tiles.instances_running, 0);
    assert_eq!(d.history.days.len(), 90);
    assert_eq!(*d.history.tasks.last().unwrap(), 3, "three tasks started today");
    assert!(!d.activity.is_empty());
    let now = chrono::Utc::now().timestamp_millis();
    sqlx::query("INSERT INTO instances (owner_id, name, status, created_at, updated_at) VALUES ($1, 'web-1', 'running', $2, $2)")
        .bind(alice.id)
        .bind(now)
        .execute(engine.store().pool())
        .await
        .unwrap();
    sqlx::query("INSERT INTO volumes (owner_id, instance_id, size_gb, encrypted, created_at, updated_at) VALUES ($1, 1, 40, 1, $2, $2)")
        .bind(alice.id)
        .bind(now)
        .execute(engine.store().pool())
        .await
        .unwrap();
    let d = engine.dashboard(&a).await.unwrap();
    assert_eq!((d.tiles.instances_running, d.tiles.volumes_attached, d.tiles.volumes_size_gb), (1, 1, 40));
    assert_eq!(*d.history.created_instances.last().unwrap(), 1);
    assert_eq!(*d.history.active_instances.last().unwrap(), 1);
    assert_eq!(engine.dashboard(&b).await.unwrap().tiles.instances_running, 0, "bob's dashboard shows his own");

    // --- throttling of failed logins ---
    for _ in 0..5 {
        assert_eq!(
            code(engine.login("bob", "wrong-password", Some("10.9.9.9")).await.unwrap_err()),
            ErrorCode::InvalidCredentials
        );
    }
    let throttled = engine.login("bob", "Temp-Pass-1234", Some("10.9.9.9")).await.unwrap_err();
    assert_eq!(code(throttled), ErrorCode::TooManyAttempts);
    assert!(
        matches!(
            engine.login("bob", "Temp-Pass-1234", Some("10.1.1.1")).await.unwrap_err(),
            CoreError::TooManyAttempts { .. }
        ),
        "per account, whatever the address"
    );
    engine.login("alice", "Wonder-Land-5678", Some("10.9.9.9")).await.unwrap();
    // One address guessing many accounts is stopped at four times the per-account limit.
    for i in 0..20 {
        let e = engine.login(&format!("ghost{i}"), "guess-guess", Some("10.8.8.8")).await.unwrap_err();
        assert_eq!(code(e), ErrorCode::InvalidCredentials);
    }
    let e = engine.login("alice", "Wonder-Land-5678", Some("10.8.8.8")).await.unwrap_err();
    assert_eq!(code(e), ErrorCode::TooManyAttempts, "per address");
    engine.login("alice", "Wonder-Land-5678", Some("10.7.7.7")).await.unwrap();

    // --- audit: complete and append-only ---
    let entries = engine.audit_list(&a, &AuditQuery { limit: Some(500), ..Default::default() }).await.unwrap().items;
    for action in [
        "user.create",
        "user.permissions",
        "group.create",
        "group.update",
        "rights.grant",
        "rights.revoke",
        "rights.set",
        "setting.change",
        "task.cancel",
        "auth.password_change",
    ] {
        assert!(entries.iter().any(|e| e.action == action), "audit has {action}");
    }
    let failures = entries
        .iter()
        .filter(|e| e.action == "auth.login" && e.outcome == wintermute_api::audit::AuditOutcome::Failure)
        .count();
    assert!(failures >= 26, "failed logins are audited ({failures})");
    assert!(entries.iter().any(|e| e.address.as_deref() == Some("10.9.9.9")), "addresses are recorded");
    let only_auth =
        engine.audit_list(&a, &AuditQuery { action: Some("auth.".into()), ..Default::default() }).await.unwrap().items;
    assert!(!only_auth.is_empty() && only_auth.iter().all(|e| e.action.starts_with("auth.")));
    assert_eq!(code(engine.audit_list(&b, &AuditQuery::default()).await.unwrap_err()), ErrorCode::Forbidden);
    assert!(
        sqlx::query("UPDATE audit_log SET action = 'x'").execute(engine.store().pool()).await.is_err(),
        "audit rows cannot change"
    );
    assert!(sqlx::query("DELETE FROM audit_log").execute(engine.store().pool()).await.is_err(), "audit rows cannot go");

    // --- guessing a password through the password change is throttled like logins ---
    let c = login(&engine, "carl", "Temp-Pass-1234").await;
    for _ in 0..5 {
        let e = engine.change_own_password(&c, "guess-guess", "Another-Pass-99").await.unwrap_err();
        assert_eq!(code(e), ErrorCode::InvalidField);
    }
    let e = engine.change_own_password(&c, "Temp-Pass-1234", "Another-Pass-99").await.unwrap_err();
    assert_eq!(code(e), ErrorCode::TooManyAttempts);
    assert_eq!(
        code(engine.tasks_list(&a, &TaskQuery { limit: Some(0), ..Default::default() }).await.unwrap_err()),
        ErrorCode::InvalidField
    );

    // --- deleting users ---
    assert_eq!(
        code(engine.users_delete(&admin, alice.id).await.unwrap_err()),
        ErrorCode::Conflict,
        "alice owns objects"
    );
    let dave = engine.users_list(&admin).await.unwrap().into_iter().find(|u| u.login == "dave").unwrap();
    engine.users_delete(&admin, dave.id).await.unwrap();
    assert_eq!(code(engine.users_delete(&admin, admin.user_id).await.unwrap_err()), ErrorCode::Conflict);

    stop.cancel();
    engine.close().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_story_on_every_backend() {
    for backend in backends() {
        eprintln!("== story on {}", backend.as_str());
        story(backend).await;
    }
}
