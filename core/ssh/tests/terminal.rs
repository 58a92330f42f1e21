//! Interactive terminals over a real OpenSSH server: a shell on a PTY echoes what is typed,
//! `stty size` follows window changes, exit statuses come back; commands run with or without a PTY.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use wintermute_ssh::{TerminalEvent, TerminalOutput, TerminalRequest};

/// Reads output until `needle` appears (or panics after 20 s); returns everything read.
async fn read_until(out: &mut TerminalOutput, seen: &mut Vec<u8>, needle: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(seen).contains(needle) {
        match tokio::time::timeout_at(deadline, out.next()).await {
            Ok(TerminalEvent::Output(b)) => seen.extend_from_slice(&b),
            Ok(other) => panic!("{other:?} before {needle:?}; output: {}", String::from_utf8_lossy(seen)),
            Err(_) => panic!("no {needle:?} within 20 s; output: {}", String::from_utf8_lossy(seen)),
        }
    }
}

/// Output until the channel closes, and the exit status.
async fn drain(out: &mut TerminalOutput) -> (Vec<u8>, Option<u32>) {
    let (mut bytes, mut status) = (Vec::new(), None);
    loop {
        match tokio::time::timeout(Duration::from_secs(20), out.next()).await.unwrap() {
            TerminalEvent::Output(b) => bytes.extend_from_slice(&b),
            TerminalEvent::Exit(e) => status = Some(e.status),
            TerminalEvent::Closed => return (bytes, status),
        }
    }
}

#[tokio::test]
async fn a_shell_on_a_pty_echoes_resizes_and_exits() {
    let Some(f) = common::fixture() else { return };
    let session = f.session().await;
    let (input, mut output) = session.open_terminal(&TerminalRequest::shell("xterm-256color", 100, 30)).await.unwrap();
    let mut seen = Vec::new();
    input.write(&b"stty size; echo TERM=$TERM\n"[..]).await.unwrap();
    read_until(&mut output, &mut seen, "30 100").await;
    read_until(&mut output, &mut seen, "TERM=xterm-256color").await;

    input.resize(132, 43).await.unwrap();
    input.write(&b"stty size\n"[..]).await.unwrap();
    read_until(&mut output, &mut seen, "43 132").await;

    input.write(&b"exit 5\n"[..]).await.unwrap();
    let (_, status) = drain(&mut output).await;
    assert_eq!(status, Some(5));
    assert_eq!(output.next().await, TerminalEvent::Closed, "closed stays closed");
    session.close().await;
}

#[tokio::test]
async fn commands_with_and_without_a_pty() {
    let Some(f) = common::fixture() else { return };
    let session = f.session().await;

    // On a PTY the terminal turns \n into \r\n and there is a tty.
    let req = TerminalRequest {
        command: Some("tty >/dev/null && echo tty; printf 'a\\nb\\n'".into()),
        ..TerminalRequest::shell("vt100", 80, 24)
    };
    let (_input, mut output) = session.open_terminal(&req).await.unwrap();
    let (bytes, status) = drain(&mut output).await;
    assert_eq!(String::from_utf8_lossy(&bytes), "tty\r\na\r\nb\r\n");
    assert_eq!(status, Some(0));

    // Without one, bytes pass untouched, stdin reaches the command, EOF ends it.
    let req = TerminalRequest {
        command: Some("cat; echo err >&2; exit 7".into()),
        pty: false,
        ..TerminalRequest::shell("", 0, 0)
    };
    let (input, mut output) = session.open_terminal(&req).await.unwrap();
    input.write(&b"line\n\x00\xff"[..]).await.unwrap();
    input.eof().await.unwrap();
    let (bytes, status) = drain(&mut output).await;
    assert_eq!(bytes, b"line\n\x00\xfferr\n");
    assert_eq!(status, Some(7));
    session.close().await;
}

#[tokio::test]
async fn a_command_killed_by_a_signal_exits_128_plus_n() {
    let Some(f) = common::fixture() else { return };
    let session = f.session().await;
    let req = TerminalRequest { command: Some("kill -TERM $$".into()), ..TerminalRequest::shell("xterm", 80, 24) };
    let (_input, mut output) = session.open_terminal(&req).await.unwrap();
    let (_, status) = drain(&mut output).await;
    assert_eq!(status, Some(143));
    session.close().await;
}
