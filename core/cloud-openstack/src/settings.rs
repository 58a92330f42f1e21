//! How to reach an OpenStack project.

use std::time::Duration;

use wintermute_custody::SecretString;

/// Which of a server's addresses the core uses to reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressMode {
    /// Each new server gets a floating IP from the external network (allocated at launch, tagged
    /// like the server, released when the server is terminated).
    #[default]
    Floating,
    /// The core sits inside the cloud's network: it uses the servers' fixed addresses.
    Fixed,
}

impl AddressMode {
    /// `floating` or `fixed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Floating => "floating",
            Self::Fixed => "fixed",
        }
    }

    /// Reads `floating` or `fixed`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "floating" => Some(Self::Floating),
            "fixed" => Some(Self::Fixed),
            _ => None,
        }
    }
}

/// The settings of one OpenStack provider (manual 6.3.2): Keystone v3 password credentials and
/// where and how patiently to call the services.
///
/// `Debug` shows the user name but never the password.
#[derive(Debug, Clone)]
pub struct OpenstackSettings {
    /// The Keystone URL without a version suffix, e.g. `https://keystone.example.com:5000`.
    pub auth_url: String,
    /// The user's login name.
    pub username: String,
    /// The password, unsealed by key custody just for this provider.
    pub password: SecretString,
    /// The project (tenant) name.
    pub project: String,
    /// The domain of the user and of the project (`Default` on most clouds).
    pub domain: String,
    /// The region for calls that are not about one region (credentials check, flavors at sync).
    pub default_region: String,
    /// The catalogue interface to use: `public` (default), `internal` or `admin`.
    pub interface: String,
    /// Which server address the core uses.
    pub address_mode: AddressMode,
    /// A token is renewed when it has less than this left.
    pub renew_before: Duration,
    /// Longest wait for a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Longest wait for one HTTP request.
    pub attempt_timeout: Duration,
    /// Longest wait for a whole provider call, retries included.
    pub call_timeout: Duration,
}

impl OpenstackSettings {
    /// Settings with the public interface, floating addresses, the `Default` domain and the
    /// default timeouts (connect 10 s, request 30 s, call 120 s; tokens renewed 5 minutes before
    /// they expire).
    pub fn new(
        auth_url: impl Into<String>,
        username: impl Into<String>,
        password: SecretString,
        project: impl Into<String>,
        default_region: impl Into<String>,
    ) -> Self {
        Self {
            auth_url: auth_url.into(),
            username: username.into(),
            password,
            project: project.into(),
            domain: "Default".into(),
            default_region: default_region.into(),
            interface: "public".into(),
            address_mode: AddressMode::Floating,
            renew_before: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(30),
            call_timeout: Duration::from_secs(120),
        }
    }

    /// The same settings in another domain.
    pub fn with_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = domain.into();
        self
    }

    /// The same settings with another address mode.
    pub fn with_address_mode(mut self, mode: AddressMode) -> Self {
        self.address_mode = mode;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password() {
        let s = OpenstackSettings::new(
            "http://127.0.0.1:5000",
            "alice",
            SecretString::new("hunter2-but-longer".into()),
            "lab",
            "RegionOne",
        );
        let out = format!("{s:?}");
        assert!(out.contains("alice"), "{out}");
        assert!(!out.contains("hunter2"), "{out}");
        assert_eq!(AddressMode::parse("fixed"), Some(AddressMode::Fixed));
        assert_eq!(AddressMode::parse(AddressMode::Floating.as_str()), Some(AddressMode::Floating));
        assert_eq!(AddressMode::parse("public"), None);
    }
}
