//! Running commands over a real OpenSSH server: exit status, stdout/stderr, stdin, streaming,
//! large output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use wintermute_ssh::{SshError, Stream, MAX_EXEC_OUTPUT};

#[tokio::test]
async fn echo_prints_hello_and_exits_zero() {
    let Some(f) = common::fixture() else { return };
    let session = f.session().await;
    let out = session.exec("echo hello", None).await.unwrap();
    assert_eq!(out.stdout, b"hello\n", "{out:?}");
    assert_eq!(out.exit_status, 0);
    assert!(out.success());
    assert!(out.stderr.is_empty(), "{out:?}");
    session.close().await;
}

#[tokio::test]
async fn exit_status_and_stderr_come_back_separately() {
    let Some(f) = common::fixture() else { return };
    let session = f.session().await;

    let out = session.exec("exit 3", None).await.unwrap();
    assert_eq!(out.exit_status, 3);
    assert!(!out.success());

    let out = session.exec("echo to-out; echo to-err >&2; exit 1", None).await.unwrap();
    assert_eq!(out.stdout, b"to-out\n", "{out:?}");
    assert_eq!(out.stderr, b"to-err\n", "{out:?}");
    assert_eq!(out.exit_status, 1);

    // Killed by a signal: reported as a shell would, 128 + 15.
    let out = session.exec("kill -TERM $$", None).await.unwrap();
    assert_eq!(out.exit_status, 143, "{out:?}");
}

#[tokio::test]
async fn stdin_reaches_the_command_byte_for_byte_then_eof() {
    let Some(f) = common::fixture() else { return };
    let session = f.session().await;
    let data = common::pseudo_random(1024 * 1024);
    let file = f.sshd.dir().join("uploaded.bin");
    let file = file.to_str().unwrap();

    let out = session.exec(&format!("cat > '{file}'"), Some(&data)).await.unwrap();
    assert_eq!(out.exit_status, 0, "{out:?}");
    let back = session.exec(&format!("cat '{file}'"), None).await.unwrap();
    assert_eq!(back.stdout.len(), data.len());
    assert!(back.stdout == data, "the file read back differs from what was sent");

    // Without stdin the command sees EOF at once instead of waiting forever.
    let out = session.exec("wc -c", None).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
}

#[tokio::test]
async fn streaming_delivers_every_line_in_order_as_it_comes() {
    let Some(f) = common::fixture() else { return };
    let session = f.session().await;

    let mut stdout = Vec::new();
    let mut chunks = 0;
    let status = session
        .exec_streaming("for i in $(seq 1 1000); do echo \"line $i\"; done", None, |stream, data| {
            assert_eq!(stream, Stream::Stdout);
            stdout.extend_from_slice(data);
            chunks += 1;
        })
        .await
        .unwrap();
    assert_eq!(status, 0);
    assert!(chunks >= 1);
    let expected: String = (1..=1000).map(|i| format!("line {i}\n")).collect();
    assert_eq!(String::from_utf8(stdout).unwrap(), expected);

    // Output arrives while the command still runs, not at its end.
    let started = Instant::now();
    let mut seen = Vec::new();
    let status = session
        .exec_streaming("echo first; sleep 2; echo second >&2; exit 4", None, |stream, data| {
            seen.push((stream, String::from_utf8_lossy(data).into_owned(), started.elapsed()));
        })
        .await
        .unwrap();
    assert_eq!(status, 4);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!((seen[0].0, seen[0].1.as_str()), (Stream::Stdout, "first\n"));
    assert_eq!((seen[1].0, seen[1].1.as_str()), (Stream::Stderr, "second\n"));
    assert!(seen[0].2 < Duration::from_millis(1500), "first line came late: {seen:?}");
    assert!(seen[1].2 >= Duration::from_secs(2), "{seen:?}");
}

#[tokio::test]
async fn twenty_megabytes_of_output_arrive_complete() {
    let Some(f) = common::fixture() else { return };
    let session = f.session().await;
    let file = f.sshd.dir().join("big.bin");
    let file = file.to_str().unwrap();
    // The server hashes what it sends (to stderr); the bytes themselves come on stdout.
    let command = format!("head -c 20000000 /dev/urandom > '{file}' && sha256sum < '{file}' >&2 && cat '{file}'");
    let out = session.exec(&command, None).await.unwrap();
    assert_eq!(out.exit_status, 0, "{out:?}");
    assert_eq!(out.stdout.len(), 20_000_000);
    let server_hash = String::from_utf8_lossy(&out.stderr);
    assert_eq!(server_hash.split_whitespace().next(), Some(common::sha256_hex(&out.stdout).as_str()));
}

#[tokio::test]
async fn exec_refuses_more_output_than_it_can_hold() {
    let Some(f) = common::fixture() else { return };
    let session = f.session().await;
    let command = format!("head -c {} /dev/zero", MAX_EXEC_OUTPUT + 1);
    let err = session.exec(&command, None).await.unwrap_err();
    assert!(matches!(err, SshError::OutputTooLarge { limit: MAX_EXEC_OUTPUT }), "{err}");
    assert!(err.to_string().contains("stream its output"), "{err}");
    // The session is still good for the next command.
    let out = session.exec("echo still-here", None).await.unwrap();
    assert_eq!(out.stdout, b"still-here\n");
}

#[tokio::test]
async fn a_closed_session_runs_nothing() {
    let Some(f) = common::fixture() else { return };
    let session = f.session().await;
    assert!(!session.is_closed());
    session.close().await;
    let err = session.exec("echo nope", None).await.unwrap_err();
    assert!(matches!(err, SshError::Channel(_) | SshError::Protocol(_)), "{err}");
}
