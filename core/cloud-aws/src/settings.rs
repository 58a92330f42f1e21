//! How to reach an AWS account.

use std::time::Duration;

use wintermute_custody::SecretString;

/// The settings of one AWS provider (manual 6.3.1): static credentials, and where and how
/// patiently to call EC2.
///
/// `Debug` shows the access key id but never the secret access key.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// The access key id (`AKIA…`): an identifier, not a secret.
    pub access_key_id: String,
    /// The secret access key, unsealed by key custody just for this provider.
    pub secret_access_key: SecretString,
    /// The region for calls that are not about one region (credentials check, region list).
    pub default_region: String,
    /// Another EC2 endpoint for every region, e.g. a local emulator (`http://127.0.0.1:5000`).
    pub endpoint_url: Option<String>,
    /// Longest wait for a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Longest wait for one HTTP attempt.
    pub attempt_timeout: Duration,
    /// Longest wait for a whole provider call, retries included.
    pub call_timeout: Duration,
    /// Attempts in all for calls the SDK may retry (its standard retry mode), at least 1.
    pub max_attempts: u32,
}

impl AwsSettings {
    /// Settings with the default endpoint and timeouts (connect 10 s, attempt 30 s, call
    /// 120 s, 3 attempts).
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: SecretString,
        default_region: impl Into<String>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key,
            default_region: default_region.into(),
            endpoint_url: None,
            connect_timeout: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(30),
            call_timeout: Duration::from_secs(120),
            max_attempts: 3,
        }
    }

    /// The same settings, calling `url` instead of AWS.
    pub fn with_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// The same settings with other timeouts.
    pub fn with_timeouts(mut self, connect: Duration, attempt: Duration, call: Duration) -> Self {
        self.connect_timeout = connect;
        self.attempt_timeout = attempt;
        self.call_timeout = call;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let s = AwsSettings::new("AKIAEXAMPLE", SecretString::new("wJalrXUtnFEMI/K7MDENG".into()), "eu-west-1");
        let out = format!("{s:?}");
        assert!(out.contains("AKIAEXAMPLE"), "{out}");
        assert!(!out.contains("wJalr"), "{out}");
    }
}
