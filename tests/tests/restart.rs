//! What a crash (SIGKILL) and a graceful stop (SIGTERM) of the core do to running tasks: resumable
//! tasks continue from their checkpoint after the next start, the others fail with the reason.
//! On SQLite, and on PostgreSQL when WINTERMUTE_TEST_POSTGRES_URL is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use wintermute_api::client::{Client, TaskQuery};
use wintermute_api::tasks::{DebugTaskRequest, Task, TaskState};
use wintermute_tests::{fresh_postgres_db, wait_for, Core, CoreOptions};

const RUNNING_TIMEOUT: Duration = Duration::from_secs(30);
/// Covers the lease (5 s) running out on PostgreSQL, plus the remaining steps of a task.
const FINISH_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

fn options(database: Option<&str>) -> CoreOptions {
    CoreOptions::new()
        .env("WMAIS__DEBUG__TEST_TASKS", "true")
        .env("WMAIS__TASKS__LEASE_SECONDS", "5")
        .maybe_database(database)
}

async fn start_debug(admin: &Client, steps: u32, resumable: bool) -> Task {
    let t = admin.start_debug_task(&DebugTaskRequest { steps, resumable, fail_at: None }).await.unwrap();
    assert_eq!(t.kind, if resumable { "debug.steps" } else { "debug.steps_once" }, "{t:?}");
    t
}

async fn log_text(c: &Client, id: i64) -> anyhow::Result<String> {
    Ok(c.task_log(id, None).await?.into_iter().map(|l| l.line).collect::<Vec<_>>().join("\n"))
}

/// Waits until both tasks run and `resumable` has logged "step 2 of N done".
async fn wait_running(admin: &Client, resumable: &Task, once: &Task, steps: u32) {
    let (r, o) = (resumable.id, once.id);
    let done = format!("step 2 of {steps} done");
    let done = &done;
    wait_for("both tasks running and the resumable one at step 2", RUNNING_TIMEOUT, POLL, move || async move {
        let a = admin.task(r).await?;
        let b = admin.task(o).await?;
        anyhow::ensure!(!a.state.is_finished() && !b.state.is_finished(), "a task ended early: {a:?} {b:?}");
        let ready =
            a.state == TaskState::Running && b.state == TaskState::Running && log_text(admin, r).await?.contains(done);
        Ok(ready.then_some(()))
    })
    .await
    .unwrap();
}

async fn wait_finished(admin: &Client, id: i64) -> Task {
    wait_for(&format!("task {id} to finish"), FINISH_TIMEOUT, Duration::from_millis(250), move || async move {
        let t = admin.task(id).await?;
        Ok(t.state.is_finished().then_some(t))
    })
    .await
    .unwrap()
}

/// Checks that `task` resumed once and ran to its end; returns the step it resumed at.
async fn assert_resumed(admin: &Client, task: &Task, steps: u32) -> u32 {
    assert_eq!(task.state, TaskState::Succeeded, "{task:?}");
    assert_eq!(task.attempts, 2, "{task:?}");
    let log = log_text(admin, task.id).await.unwrap();
    assert!(log.contains(&format!("step {steps} of {steps} done")), "log of task {}:\n{log}", task.id);
    let resumed_at: u32 = log
        .lines()
        .find_map(|l| l.split("resuming at step ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no \"resuming at step K\" in the log of task {}:\n{log}", task.id));
    // Step 2 was logged before the stop; its checkpoint may or may not have been written.
    assert!((2..=steps).contains(&resumed_at), "resumed at step {resumed_at}; log:\n{log}");
    resumed_at
}

async fn assert_none_running(admin: &Client) {
    let running = admin.tasks(&TaskQuery { state: Some("running".into()), ..TaskQuery::default() }).await.unwrap();
    assert!(running.items.is_empty(), "tasks still running: {:?}", running.items);
}

async fn crash_recovery(database: Option<&str>) {
    let mut core = Core::start(options(database)).await.unwrap();
    let admin = core.admin_client().await.unwrap();
    let resumable = start_debug(&admin, 6, true).await;
    let once = start_debug(&admin, 30, false).await;
    wait_running(&admin, &resumable, &once, 6).await;

    core.kill().await.unwrap();
    core.restart().await.unwrap();
    let admin = core.admin_client().await.unwrap();

    let once = wait_finished(&admin, once.id).await;
    assert_eq!(once.state, TaskState::Failed, "{once:?}");
    assert!(once.message.contains("stopped"), "{once:?}");
    let resumable = wait_finished(&admin, resumable.id).await;
    let at = assert_resumed(&admin, &resumable, 6).await;
    eprintln!("the resumable task resumed at step {at} and succeeded; the other one: {:?}", once.message);
    assert_none_running(&admin).await;
}

async fn graceful_stop(database: Option<&str>) {
    let mut core = Core::start(options(database)).await.unwrap();
    let admin = core.admin_client().await.unwrap();
    let resumable = start_debug(&admin, 6, true).await;
    let once = start_debug(&admin, 30, false).await;
    wait_running(&admin, &resumable, &once, 6).await;

    let status = core.terminate().await.unwrap();
    assert!(status.success(), "wmais exited with {status} after SIGTERM");
    core.restart().await.unwrap();
    let admin = core.admin_client().await.unwrap();

    let once = wait_finished(&admin, once.id).await;
    assert_eq!(once.state, TaskState::Failed, "{once:?}");
    assert!(!once.message.trim().is_empty() && once.message != "started", "no reason given: {once:?}");
    let resumable = wait_finished(&admin, resumable.id).await;
    let at = assert_resumed(&admin, &resumable, 6).await;
    eprintln!("the resumable task resumed at step {at} and succeeded; the other one: {:?}", once.message);
    assert_none_running(&admin).await;
}

#[tokio::test]
async fn crash_recovery_sqlite() {
    crash_recovery(None).await;
}

#[tokio::test]
async fn crash_recovery_postgres() {
    let Some(db) = fresh_postgres_db().unwrap() else { return };
    crash_recovery(Some(db.url())).await;
}

#[tokio::test]
async fn graceful_stop_sqlite() {
    graceful_stop(None).await;
}

#[tokio::test]
async fn graceful_stop_postgres() {
    let Some(db) = fresh_postgres_db().unwrap() else { return };
    graceful_stop(Some(db.url())).await;
}
