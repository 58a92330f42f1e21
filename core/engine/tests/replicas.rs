//! Two replicas of a shared core on one PostgreSQL database: each task runs exactly once, and a
//! subscriber on one replica sees the task events of the other.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wintermute_api::events::Event;
use wintermute_api::tasks::{DebugTaskRequest, TaskState};
use wintermute_core::store::Backend;
use wintermute_core::testing::{backends, TestDatabase};
use wintermute_core::{Caller, Config, Engine};

async fn replica(url: &str) -> (Engine, Option<String>) {
    let mut config = Config::default();
    config.database.url = url.to_owned();
    config.debug.test_tasks = true;
    config.tasks.lease_seconds = 5;
    config.tasks.workers = 4;
    let (engine, first) = Engine::open(config).await.unwrap();
    (engine, first.map(|f| f.password))
}

async fn admin(engine: &Engine, pw: &str) -> Caller {
    let r = engine.login("admin", pw, None).await.unwrap();
    engine.authenticate(&r.token, None).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_tasks_and_events() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let db = TestDatabase::new(Backend::Postgres).await;
    let (a, pw) = replica(&db.url).await;
    let (b, none) = replica(&db.url).await;
    assert!(none.is_none(), "the second replica finds the admin already there");
    let pw = pw.unwrap();
    let caller = admin(&a, &pw).await;

    // Events: B relays only (no workers), so everything it sees about the task came from A.
    let stop = CancellationToken::new();
    let _relay = b.start_event_relay(stop.clone()).unwrap();
    let _workers_a = a.start(stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await; // listeners ready
    let mut rx = b.events().subscribe();
    let t = a.start_debug_task(&caller, &DebugTaskRequest { steps: 2, resumable: true, fail_at: None }).await.unwrap();
    let mut saw_success = false;
    let mut lines = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline && !saw_success {
        let Ok(Ok(ev)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await else { break };
        match ev.as_ref() {
            Event::Task { task } if task.id == t.id && task.state == TaskState::Succeeded => saw_success = true,
            Event::TaskLog { line } if line.task_id == t.id => lines.push(line.line.clone()),
            _ => {}
        }
    }
    assert!(saw_success, "replica B saw the task finish on replica A");
    assert!(lines.iter().any(|l| l == "step 2 of 2 done"), "and its log lines: {lines:?}");

    // Claims: both replicas run workers; every task runs exactly once.
    let _workers_b = b.start(stop.clone());
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(
            a.start_debug_task(&caller, &DebugTaskRequest { steps: 1, resumable: false, fail_at: None })
                .await
                .unwrap()
                .id,
        );
    }
    let mut done = HashSet::new();
    for _ in 0..300 {
        for id in &ids {
            let t = a.tasks_get(&caller, *id).await.unwrap();
            if t.state.is_finished() {
                assert_eq!(t.state, TaskState::Succeeded);
                assert_eq!(t.attempts, 1, "task {id} ran once");
                done.insert(*id);
            }
        }
        if done.len() == ids.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(done.len(), ids.len(), "all tasks finished");
    for id in &ids {
        let log = a.tasks_log(&caller, *id, None).await.unwrap();
        assert_eq!(log.iter().filter(|l| l.line == "step 1 of 1 done").count(), 1, "task {id} did its step once");
    }

    stop.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.close().await;
    b.close().await;
    db.drop_database().await;
}
