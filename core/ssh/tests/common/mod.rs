//! Shared by the SSH integration tests: a real sshd that knows a fresh user key, and sessions
//! to it. Every test skips (with a note) when /usr/sbin/sshd is missing outside CI.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use wintermute_custody::UserKeyPair;
use wintermute_ssh::test_sshd::TestSshd;
use wintermute_ssh::{connect, Pinned, Session};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Fixture {
    pub sshd: TestSshd,
    pub key: UserKeyPair,
}

/// An sshd that accepts a freshly generated key, or None when sshd is not installed.
pub fn fixture() -> Option<Fixture> {
    let key = UserKeyPair::generate("tester@wintermute");
    let sshd = TestSshd::start_or_skip(&[&key.public_openssh()])?;
    Some(Fixture { sshd, key })
}

impl Fixture {
    /// A session with the server's host key pinned.
    pub async fn session(&self) -> Session {
        let policy = Arc::new(Pinned::new(self.sshd.host_public_key()));
        connect(&self.sshd.target(), &self.key, policy, CONNECT_TIMEOUT).await.unwrap()
    }
}

/// `len` bytes that look random (SHA-256 in counter mode), every byte value included.
pub fn pseudo_random(len: usize) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut out = Vec::with_capacity(len + 32);
    let mut counter = 0u64;
    while out.len() < len {
        out.extend_from_slice(&Sha256::digest(counter.to_le_bytes()));
        counter += 1;
    }
    out.truncate(len);
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(data))
}
