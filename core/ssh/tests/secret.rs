//! Secrets go through stdin: the command gets them, `ps` never shows them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use wintermute_custody::SecretString;
use wintermute_ssh::SshError;

/// What every process's command line and environment look like right now (`ps axeww`: all
/// processes, with environment, untruncated). The sshd is local, so this sees the remote side.
async fn ps_snapshot() -> String {
    let out = tokio::process::Command::new("ps").arg("axeww").output().await.unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_secret_reaches_stdin_and_never_the_process_list() {
    let Some(f) = common::fixture() else { return };
    let session = f.session().await;
    let secret = SecretString::new("correct horse battery staple 7f3a9c".to_owned());
    // The marker makes this command's shell recognisable in `ps`; the sleep keeps it alive
    // after the secret has been read, so the snapshots see it in that state. Snapshots go on
    // until the command ends (at most 200), so a loaded machine cannot make them miss it.
    // (The marker comes last: bash would exec a final `sleep` and the marked shell would vanish.)
    let command = "read -r x; printf %s \"$x\" | sha256sum; sleep 2; : wm-secret-marker";
    assert!(!command.contains(secret.expose()));

    let done = std::sync::atomic::AtomicBool::new(false);
    let run = async {
        let r = session.exec_with_secret(command, &secret).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        r
    };
    let watch = async {
        let mut snapshots = Vec::new();
        for _ in 0..200 {
            if done.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            snapshots.push(ps_snapshot().await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        snapshots
    };
    let (out, snapshots) = tokio::join!(run, watch);
    let out = out.unwrap();

    assert_eq!(out.exit_status, 0, "{out:?}");
    let hash = String::from_utf8_lossy(&out.stdout);
    assert_eq!(hash.split_whitespace().next(), Some(common::sha256_hex(secret.expose().as_bytes()).as_str()));

    let during = snapshots.iter().filter(|s| s.contains("wm-secret-marker")).count();
    assert!(during > 0, "no ps snapshot was taken while the command ran");
    for snapshot in &snapshots {
        assert!(!snapshot.contains(secret.expose()), "the secret shows in ps:\n{snapshot}");
        assert!(!snapshot.contains("7f3a9c"), "part of the secret shows in ps");
    }
}

#[tokio::test]
async fn a_secret_with_a_line_break_is_refused() {
    let Some(f) = common::fixture() else { return };
    let session = f.session().await;
    let secret = SecretString::new("first\nsecond".to_owned());
    let err = session.exec_with_secret("cat", &secret).await.unwrap_err();
    assert!(matches!(err, SshError::SecretNotOneLine), "{err}");
    assert!(!err.to_string().contains("first"));
}
