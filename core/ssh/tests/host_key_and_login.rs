//! Who is trusted: the server's host key (checked first) and the user's key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use wintermute_custody::UserKeyPair;
use wintermute_ssh::{connect, AcceptAny, HostKeyPolicy, Pinned, SshError};

/// Records what it was offered, then answers like `inner`.
struct Recording<P> {
    inner: P,
    offered: Mutex<Vec<String>>,
}

#[async_trait]
impl<P: HostKeyPolicy> HostKeyPolicy for Recording<P> {
    async fn check(&self, offered_openssh: &str) -> Result<(), String> {
        self.offered.lock().unwrap().push(offered_openssh.to_owned());
        self.inner.check(offered_openssh).await
    }
}

#[tokio::test]
async fn the_pinned_host_key_connects_and_is_what_the_policy_sees() {
    let Some(f) = common::fixture() else { return };
    let policy = Arc::new(Recording { inner: Pinned::new(f.sshd.host_public_key()), offered: Mutex::default() });
    let session = connect(&f.sshd.target(), &f.key, policy.clone(), common::CONNECT_TIMEOUT).await.unwrap();
    assert_eq!(*policy.offered.lock().unwrap(), vec![f.sshd.host_public_key().to_owned()]);
    assert!(f.sshd.host_public_key().starts_with("ssh-ed25519 AAAA"));
    assert_eq!(session.exec("true", None).await.unwrap().exit_status, 0);
    session.close().await;
    assert!(f.sshd.log().contains("Accepted publickey for"), "{}", f.sshd.log());
}

#[tokio::test]
async fn another_host_key_is_rejected_before_authentication() {
    let Some(f) = common::fixture() else { return };
    let impostor_key = UserKeyPair::generate("someone-else").public_openssh();
    let err = connect(&f.sshd.target(), &f.key, Arc::new(Pinned::new(&impostor_key)), common::CONNECT_TIMEOUT)
        .await
        .unwrap_err();
    let SshError::HostKeyRejected { reason } = &err else { panic!("expected HostKeyRejected, got {err}") };
    let server_fp = wintermute_custody::host_key_fingerprint(f.sshd.host_public_key()).unwrap();
    assert!(reason.contains(&server_fp), "{reason}");
    assert!(!err.to_string().contains("AAAA"), "no whole keys in messages: {err}");

    // The server never saw a login attempt: no key was offered to it, let alone accepted.
    // (Wait for sshd to log the closed connection first, so the log is complete.)
    let log = wait_for_log(&f.sshd, "[preauth]").await;
    for line in ["Accepted publickey", "Failed publickey", "Postponed publickey", "Accepted key"] {
        assert!(!log.contains(line), "sshd logged {line:?}:\n{log}");
    }
}

#[tokio::test]
async fn a_key_the_server_does_not_know_fails_to_log_in() {
    let Some(f) = common::fixture() else { return };
    let stranger = UserKeyPair::generate("stranger");
    let err = connect(&f.sshd.target(), &stranger, Arc::new(AcceptAny), common::CONNECT_TIMEOUT).await.unwrap_err();
    assert!(matches!(&err, SshError::AuthFailed { user } if user == f.sshd.user()), "{err}");
    assert!(err.to_string().contains("authorized_keys"), "{err}");

    // Once authorized, the same key gets in.
    f.sshd.set_authorized_keys(&[&f.key.public_openssh(), &stranger.public_openssh()]);
    let session = connect(&f.sshd.target(), &stranger, Arc::new(AcceptAny), common::CONNECT_TIMEOUT).await.unwrap();
    assert_eq!(session.exec("echo in", None).await.unwrap().stdout, b"in\n");
}

/// The log once it contains `needle` (sshd writes it a moment after the client has gone).
async fn wait_for_log(sshd: &wintermute_ssh::test_sshd::TestSshd, needle: &str) -> String {
    for _ in 0..100 {
        let log = sshd.log();
        if log.contains(needle) {
            return log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("sshd never logged {needle:?}:\n{}", sshd.log());
}
