//! SDK clients: one per region, all sharing one rustls (ring) HTTP client.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::timeout::TimeoutConfig;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use wintermute_cloud::{CloudError, Operation};

use crate::error::map_sdk_error;
use crate::AwsSettings;

/// An EC2 client for one region, with what error mapping needs to know.
#[derive(Clone)]
pub(crate) struct Ec2 {
    pub client: aws_sdk_ec2::Client,
    timeout: Duration,
}

impl Ec2 {
    /// Maps an SDK error of `op` (for `.map_err(ec2.err(op))`).
    pub fn err<E>(&self, op: Operation) -> impl FnOnce(SdkError<E>) -> CloudError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let timeout = self.timeout;
        move |e| map_sdk_error(op, timeout, &[], e)
    }

    /// Like [`Ec2::err`], for a request that names these objects: a not-found error then says
    /// which of them the cloud did not find.
    pub fn err_about<E, S: AsRef<str>>(&self, op: Operation, ids: &[S]) -> impl FnOnce(SdkError<E>) -> CloudError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let timeout = self.timeout;
        let ids: Vec<String> = ids.iter().map(|i| i.as_ref().to_string()).collect();
        move |e| map_sdk_error(op, timeout, &ids, e)
    }

    /// Per-operation settings for calls that must not be repeated: the SDK's retries off (see
    /// [`wintermute_cloud::retry`] for which calls those are).
    pub fn no_retries() -> aws_sdk_ec2::config::Builder {
        aws_sdk_ec2::config::Builder::default().retry_config(RetryConfig::disabled())
    }
}

/// Makes and keeps the per-region clients.
pub(crate) struct Clients {
    settings: AwsSettings,
    http: SharedHttpClient,
    by_region: Mutex<HashMap<String, Ec2>>,
}

impl Clients {
    pub fn new(settings: AwsSettings) -> Self {
        // rustls with ring: no OpenSSL, no aws-lc (and so no cmake or C toolchain to build).
        let http =
            aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
        Self { settings, http, by_region: Mutex::new(HashMap::new()) }
    }

    pub fn settings(&self) -> &AwsSettings {
        &self.settings
    }

    /// The client for `region` (made on first use).
    pub fn get(&self, region: &str) -> Result<Ec2, CloudError> {
        check_region(region)?;
        let mut map = self.by_region.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(ec2) = map.get(region) {
            return Ok(ec2.clone());
        }
        let ec2 = self.make(region);
        map.insert(region.to_string(), ec2.clone());
        Ok(ec2)
    }

    fn make(&self, region: &str) -> Ec2 {
        let s = &self.settings;
        // The SDK keeps the secret in a zeroizing buffer with a redacted Debug.
        let credentials =
            Credentials::new(s.access_key_id.clone(), s.secret_access_key.expose().clone(), None, None, "wintermute");
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(s.connect_timeout)
            .operation_attempt_timeout(s.attempt_timeout)
            .operation_timeout(s.call_timeout)
            .build();
        let mut config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .credentials_provider(credentials)
            .http_client(self.http.clone())
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(s.max_attempts.max(1)));
        if let Some(url) = &s.endpoint_url {
            config = config.endpoint_url(url.clone());
        }
        Ec2 { client: aws_sdk_ec2::Client::from_conf(config.build()), timeout: s.call_timeout }
    }
}

/// Region names go into endpoint host names: only lowercase letters, digits and dashes.
pub(crate) fn check_region(region: &str) -> Result<(), CloudError> {
    let ok = !region.is_empty()
        && region.len() <= 64
        && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(CloudError::InvalidRequest(format!("`{region}` is not a region name")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        assert!(check_region("eu-west-1").is_ok());
        assert!(check_region("us-gov-west-1").is_ok());
        for bad in ["", "EU-WEST-1", "eu-west-1.evil.example", "a/b", "x y"] {
            assert!(check_region(bad).is_err(), "{bad}");
        }
    }
}
