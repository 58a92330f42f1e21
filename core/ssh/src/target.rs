//! Where to connect: host, port and login name.

use std::fmt;

/// An SSH server and the account to log in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// A host name or an IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// The login name on the server.
    pub user: String,
}

impl SshTarget {
    pub fn new(host: impl Into<String>, port: u16, user: impl Into<String>) -> Self {
        Self { host: host.into(), port, user: user.into() }
    }

    /// `host:port`, with an IPv6 address in brackets (`[::1]:22`), for messages.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for SshTarget {
    /// `user@host:port`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.user, self.addr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_as_people_write_them() {
        assert_eq!(SshTarget::new("10.0.0.5", 22, "ubuntu").to_string(), "ubuntu@10.0.0.5:22");
        assert_eq!(SshTarget::new("::1", 2222, "root").addr(), "[::1]:2222");
    }
}
