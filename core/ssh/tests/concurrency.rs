//! Many sessions at once, and many commands on one session.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_sessions_each_run_a_command() {
    let Some(f) = common::fixture() else { return };
    let f = Arc::new(f);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let f = Arc::clone(&f);
            tokio::spawn(async move {
                let session = f.session().await;
                let out = session.exec(&format!("echo session-{i}"), None).await.unwrap();
                session.close().await;
                (i, out)
            })
        })
        .collect();
    for task in tasks {
        let (i, out) = task.await.unwrap();
        assert_eq!(out.exit_status, 0, "{out:?}");
        assert_eq!(out.stdout, format!("session-{i}\n").into_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_session_runs_commands_side_by_side() {
    let Some(f) = common::fixture() else { return };
    let session = Arc::new(f.session().await);
    // Each command checks in, then waits until all eight have: run one after another, the
    // first would wait forever.
    let dir = f.sshd.dir().join("rendezvous");
    std::fs::create_dir(&dir).unwrap();
    let dir = dir.to_str().unwrap().to_owned();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let session = Arc::clone(&session);
            let command =
                format!("touch '{dir}/{i}'; while [ $(ls '{dir}' | wc -l) -lt 8 ]; do sleep 0.05; done; echo {i}");
            tokio::spawn(async move { (i, session.exec(&command, None).await.unwrap()) })
        })
        .collect();
    let all = async {
        for task in tasks {
            let (i, out) = task.await.unwrap();
            assert_eq!(out.stdout, format!("{i}\n").into_bytes());
        }
    };
    tokio::time::timeout(Duration::from_secs(30), all).await.expect("the commands did not run side by side");
}
