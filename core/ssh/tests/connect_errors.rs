//! Servers that are not (yet) there: refused, silent, hanging up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use wintermute_custody::UserKeyPair;
use wintermute_ssh::{connect, AcceptAny, SshError, SshTarget};

async fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error_at_once() {
    let port = free_port().await;
    let key = UserKeyPair::generate("t");
    let started = Instant::now();
    let err = connect(&SshTarget::new("127.0.0.1", port, "root"), &key, Arc::new(AcceptAny), Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    let SshError::Connect { addr, .. } = &err else { panic!("expected Connect, got {err}") };
    assert_eq!(addr, &format!("127.0.0.1:{port}"));
    assert!(err.is_not_ready());
    assert!(err.to_string().contains(&format!("cannot connect to 127.0.0.1:{port}")), "{err}");
}

#[tokio::test]
async fn a_port_that_accepts_but_never_speaks_times_out() {
    // Like QEMU's user networking before the guest's sshd is up: TCP is accepted, then silence.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let key = UserKeyPair::generate("t");
    let started = Instant::now();
    let err = connect(&SshTarget::new("127.0.0.1", port, "root"), &key, Arc::new(AcceptAny), Duration::from_secs(2))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(3), "took {took:?}");
    assert!(matches!(&err, SshError::Timeout { what } if what.contains("SSH banner")), "{err}");
    assert!(err.is_not_ready());
    holder.abort();
}

#[tokio::test]
async fn a_port_that_hangs_up_at_once_is_not_ready() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let closer = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let key = UserKeyPair::generate("t");
    let err = connect(&SshTarget::new("127.0.0.1", port, "root"), &key, Arc::new(AcceptAny), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(&err, SshError::NotReady { .. }), "{err}");
    assert!(err.is_not_ready());
    closer.abort();
}

#[tokio::test]
async fn a_server_that_is_not_ssh_is_a_protocol_error() {
    use tokio::io::AsyncWriteExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        if let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    let key = UserKeyPair::generate("t");
    let err = connect(&SshTarget::new("127.0.0.1", port, "root"), &key, Arc::new(AcceptAny), Duration::from_secs(3))
        .await
        .unwrap_err();
    assert!(matches!(&err, SshError::Protocol(_) | SshError::Timeout { .. }), "{err}");
    server.abort();
}
