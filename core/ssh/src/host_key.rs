//! Deciding whether the server is the one we mean to talk to.

use async_trait::async_trait;
use wintermute_custody::host_key_fingerprint;

/// Checks the server's host key before the user authenticates.
///
/// `offered_openssh` is the key as an OpenSSH public-key line without comment
/// (`ssh-ed25519 AAAA...`). `Err(reason)` refuses the server: [`connect`](crate::connect) fails
/// with [`SshError::HostKeyRejected`](crate::SshError::HostKeyRejected) carrying the reason,
/// which is shown to people, so it should name fingerprints, never whole keys.
///
/// It is async so that a policy can look the key up (a database, a cloud console log) or record
/// it on first use.
#[async_trait]
pub trait HostKeyPolicy: Send + Sync {
    async fn check(&self, offered_openssh: &str) -> Result<(), String>;
}

/// Accepts every host key. **For tests only**: with it, anyone between the core and the instance
/// can pose as the instance and receive what the session sends (commands, secrets on stdin).
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAny;

#[async_trait]
impl HostKeyPolicy for AcceptAny {
    async fn check(&self, _offered_openssh: &str) -> Result<(), String> {
        Ok(())
    }
}

/// Accepts exactly one host key, given as an OpenSSH public-key line (`<type> <base64>
/// [comment]`; the comment is ignored), e.g. the one recorded when the instance was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned(pub String);

impl Pinned {
    pub fn new(public_openssh: impl Into<String>) -> Self {
        Self(public_openssh.into())
    }
}

#[async_trait]
impl HostKeyPolicy for Pinned {
    async fn check(&self, offered_openssh: &str) -> Result<(), String> {
        let pinned = key_fields(&self.0).ok_or("the pinned host key is not an OpenSSH public key line")?;
        let offered = key_fields(offered_openssh).ok_or("the server's host key could not be read")?;
        if pinned == offered {
            return Ok(());
        }
        Err(format!(
            "the server offered {} but {} is pinned for it; the machine may have been replaced, \
             or someone may be intercepting the connection",
            describe(offered_openssh),
            describe(&self.0)
        ))
    }
}

/// The key type and base64 blob of an OpenSSH public-key line.
fn key_fields(line: &str) -> Option<(&str, &str)> {
    let mut fields = line.split_whitespace();
    Some((fields.next()?, fields.next()?))
}

/// `ssh-ed25519 SHA256:...`, for messages.
fn describe(line: &str) -> String {
    let key_type = line.split_whitespace().next().unwrap_or("?");
    match host_key_fingerprint(line) {
        Ok(fingerprint) => format!("{key_type} {fingerprint}"),
        Err(_) => format!("an unreadable {key_type} key"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const B: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq6dZLgDR+/jYjjpI8j/HNYDWtHUJXA8VHkA3EtTV6l";

    #[tokio::test]
    async fn pinned_matches_the_key_not_the_comment() {
        assert_eq!(Pinned::new(format!("{A} root@host")).check(A).await, Ok(()));
        assert_eq!(Pinned::new(A).check(&format!("{A}  other-comment")).await, Ok(()));
    }

    #[tokio::test]
    async fn pinned_rejects_another_key_naming_fingerprints() {
        let reason = Pinned::new(A).check(B).await.unwrap_err();
        assert!(reason.contains(&host_key_fingerprint(A).unwrap()), "{reason}");
        assert!(reason.contains(&host_key_fingerprint(B).unwrap()), "{reason}");
        assert!(!reason.contains("AAAAC3"), "no whole keys in messages: {reason}");
        assert!(Pinned::new("garbage").check(A).await.is_err());
        assert!(AcceptAny.check(B).await.is_ok());
    }
}
