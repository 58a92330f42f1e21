//! Rotating a user's SSH key hands it over to their instances — here real OpenSSH servers on
//! loopback standing in for instances: the new key goes into authorized_keys, the old one goes
//! away, and the old private key is forgotten only when every instance has the new one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use wintermute_api::tasks::{Task, TaskState};
use wintermute_api::ErrorCode;
use wintermute_core::custody::PUSH_SSH_KEY;
use wintermute_core::store::Backend;
use wintermute_core::tasks::TaskQuery;
use wintermute_core::testing::TestCore;
use wintermute_core::{Caller, Engine};
use wintermute_ssh::test_sshd::TestSshd;

async fn last_push(engine: &Engine, admin: &Caller, after: i64) -> Task {
    for _ in 0..300 {
        let tasks = engine.tasks_list(admin, &TaskQuery::default()).await.unwrap().items;
        if let Some(t) = tasks.iter().find(|t| t.kind == PUSH_SSH_KEY && t.id > after && t.state.is_finished()) {
            return t.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no finished key push task");
}

fn authorized(sshd: &TestSshd) -> String {
    std::fs::read_to_string(sshd.authorized_keys_path()).unwrap()
}

async fn add_instance(engine: &Engine, owner: i64, name: &str, status: &str, sshd: &TestSshd) -> i64 {
    let now = chrono::Utc::now().timestamp_millis();
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO instances (owner_id, name, status, created_at, updated_at, ssh_host, ssh_port, login_user) \
         VALUES ($1, $2, $3, $4, $4, '127.0.0.1', $5, $6) RETURNING id",
    )
    .bind(owner)
    .bind(name)
    .bind(status)
    .bind(now)
    .bind(i64::from(sshd.port()))
    .bind(sshd.user())
    .fetch_one(engine.store().pool())
    .await
    .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_keys_reach_every_instance_before_the_old_one_is_forgotten() {
    let core = TestCore::start(Backend::Sqlite).await;
    let (engine, admin) = (&core.engine, core.admin.clone());
    let (bob, _) = core.user("bob").await;
    let old = engine.user_public_key(bob.id).await.unwrap();

    // Two "instances" of bob that trust his current key, plus an unrelated key that must survive.
    let other = wintermute_custody::UserKeyPair::generate("someone-else").public_openssh();
    let Some(web) = TestSshd::start_or_skip(&[&old.public_key, &other]) else { return };
    let db_host = TestSshd::start(&[&old.public_key]);
    let web_id = add_instance(engine, bob.id, "web", "running", &web).await;
    add_instance(engine, bob.id, "db", "running", &db_host).await;

    // Before the rotation the current key logs in (and pins the host key).
    let before_pair = engine.user_key_pair(bob.id).await.unwrap();
    let s = engine.ssh_to_instance(web_id, &web.target(), &before_pair).await.unwrap();
    assert_eq!(s.exec("true", None).await.unwrap().exit_status, 0);
    s.close().await;
    let new = engine.ssh_rotate(&admin, bob.id).await.unwrap();
    assert_ne!(new.public_key, old.public_key);
    let t = last_push(engine, &admin, 0).await;
    let log = engine.tasks_log(&admin, t.id, None).await.unwrap();
    assert_eq!(t.state, TaskState::Succeeded, "{}: {:?}", t.message, log.iter().map(|l| &l.line).collect::<Vec<_>>());
    for sshd in [&web, &db_host] {
        let keys = authorized(sshd);
        assert!(keys.contains(new.public_key.split_whitespace().nth(1).unwrap()), "new key installed: {keys}");
        assert!(!keys.contains(old.public_key.split_whitespace().nth(1).unwrap()), "old key removed: {keys}");
    }
    assert!(authorized(&web).contains(other.split_whitespace().nth(1).unwrap()), "other keys are left alone");
    // The new key logs in, the old one no longer does, and the host key was pinned on the way.
    let pair = engine.user_key_pair(bob.id).await.unwrap();
    let s = engine.ssh_to_instance(web_id, &web.target(), &pair).await.unwrap();
    assert_eq!(s.exec("echo ok", None).await.unwrap().stdout, b"ok\n");
    s.close().await;
    let (pinned,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM host_keys").fetch_one(engine.store().pool()).await.unwrap();
    assert_eq!(pinned, 2, "both instances' host keys pinned at first contact");
    let (prev,): (Option<String>,) =
        sqlx::query_as("SELECT previous_private_sealed FROM user_ssh_keys WHERE user_id = $1")
            .bind(bob.id)
            .fetch_one(engine.store().pool())
            .await
            .unwrap();
    assert!(prev.is_none(), "the old private key is forgotten once every instance has the new key");

    // An instance that is powered off keeps the old key until it runs again.
    let off_host = TestSshd::start(&[&new.public_key]);
    let off_id = add_instance(engine, bob.id, "batch", "stopped", &off_host).await;
    let before = last_push(engine, &admin, 0).await.id;
    let newer = engine.ssh_rotate(&admin, bob.id).await.unwrap();
    let t = last_push(engine, &admin, before).await;
    assert_eq!(t.state, TaskState::Failed);
    assert!(t.message.contains(&off_id.to_string()), "{}", t.message);
    assert_eq!(
        engine.ssh_rotate(&admin, bob.id).await.unwrap_err().code(),
        ErrorCode::Conflict,
        "one hand-over at a time"
    );
    let (prev,): (Option<String>,) =
        sqlx::query_as("SELECT previous_private_sealed FROM user_ssh_keys WHERE user_id = $1")
            .bind(bob.id)
            .fetch_one(engine.store().pool())
            .await
            .unwrap();
    assert!(prev.is_some(), "the old key is kept while an instance still needs it");
    assert!(
        authorized(&web).contains(newer.public_key.split_whitespace().nth(1).unwrap()),
        "running instances got it already"
    );
    // It runs again: the hand-over resumes and completes.
    sqlx::query("UPDATE instances SET status = 'running' WHERE id = $1")
        .bind(off_id)
        .execute(engine.store().pool())
        .await
        .unwrap();
    engine.resume_key_pushes_for_instance(off_id).await.unwrap();
    let t = last_push(engine, &admin, t.id).await;
    assert_eq!(t.state, TaskState::Succeeded, "{}", t.message);
    assert!(authorized(&off_host).contains(newer.public_key.split_whitespace().nth(1).unwrap()));
    assert!(!authorized(&off_host).contains(new.public_key.split_whitespace().nth(1).unwrap()));

    // A changed host key stops the hand-over with a clear reason.
    let impostor = TestSshd::start(&[&newer.public_key]);
    sqlx::query("UPDATE instances SET ssh_port = $1 WHERE id = $2")
        .bind(i64::from(impostor.port()))
        .bind(web_id)
        .execute(engine.store().pool())
        .await
        .unwrap();
    engine.ssh_rotate(&admin, bob.id).await.unwrap();
    let latest =
        engine.tasks_list(&admin, &TaskQuery::default()).await.unwrap().items.iter().map(|t| t.id).max().unwrap();
    let t = last_push(engine, &admin, latest - 1).await;
    assert_eq!(t.state, TaskState::Failed);
    let log = engine.tasks_log(&admin, t.id, None).await.unwrap();
    assert!(log.iter().any(|l| l.line.contains("host key")), "{log:?}");
}
