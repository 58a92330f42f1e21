//! What can go wrong when the core talks to a cloud.
//!
//! Messages are for people: they say what failed and, where it helps, what to do. They never
//! contain credentials, request signatures or user data; providers build them from the cloud's
//! own error code and message, which carry neither.

use std::time::Duration;

/// An error from a cloud provider, sorted by what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudError {
    /// The credentials are wrong, expired, or not allowed to do this.
    #[error("the cloud refused the credentials: {0}")]
    Auth(String),

    /// An object the request names does not exist (or no longer exists).
    #[error("{what} {id} was not found in the cloud")]
    NotFound {
        /// What kind of object: "instance", "volume", "image", "key pair", "security group"…
        what: String,
        /// The id or name the caller gave.
        id: String,
    },

    /// The request itself is wrong: a bad parameter, an unknown instance type, an object in the
    /// wrong state. Repeating it will not help.
    #[error("the cloud refused the request: {0}")]
    InvalidRequest(String),

    /// An account quota is used up (instances, vCPUs, volumes, rules…).
    #[error("a cloud account limit was reached: {0}")]
    LimitExceeded(String),

    /// The cloud asks us to slow down. Safe to repeat later.
    #[error("the cloud is throttling requests, try again shortly: {0}")]
    Throttled(String),

    /// No answer in time. The request may or may not have been carried out.
    #[error("{operation} did not finish within {}s", after.as_secs_f32())]
    Timeout {
        /// The operation that ran out of time (see [`crate::Operation::name`]).
        operation: String,
        /// How long we waited.
        after: Duration,
    },

    /// The cloud could not be reached, or answered with a server-side failure.
    #[error("the cloud is unreachable or unavailable: {0}")]
    Unavailable(String),

    /// Any other error the cloud reported, with its own code.
    #[error("the cloud reported {code}: {message}")]
    Provider {
        /// The cloud's error code, e.g. `InsufficientFreeAddressesInSubnet`.
        code: String,
        /// The cloud's message.
        message: String,
    },
}

impl CloudError {
    /// Shorthand for [`CloudError::NotFound`].
    pub fn not_found(what: impl Into<String>, id: impl Into<String>) -> Self {
        Self::NotFound { what: what.into(), id: id.into() }
    }

    /// Whether repeating the same request later can succeed: throttling, timeouts and an
    /// unreachable or failing service. Whether it is *safe* to repeat depends on the call, see
    /// [`crate::CallKind`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled(_) | Self::Timeout { .. } | Self::Unavailable(_))
    }

    /// A stable, machine-readable code for the API layer.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Auth(_) => "cloud_auth",
            Self::NotFound { .. } => "cloud_not_found",
            Self::InvalidRequest(_) => "cloud_invalid_request",
            Self::LimitExceeded(_) => "cloud_limit_exceeded",
            Self::Throttled(_) => "cloud_throttled",
            Self::Timeout { .. } => "cloud_timeout",
            Self::Unavailable(_) => "cloud_unavailable",
            Self::Provider { .. } => "cloud_provider_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_are_the_transient_ones() {
        let transient = [
            CloudError::Throttled("slow down".into()),
            CloudError::Timeout { operation: "describe_instances".into(), after: Duration::from_secs(3) },
            CloudError::Unavailable("connection refused".into()),
        ];
        assert!(transient.iter().all(CloudError::is_retryable));
        let permanent = [
            CloudError::Auth("bad key".into()),
            CloudError::not_found("instance", "i-1"),
            CloudError::InvalidRequest("bad type".into()),
            CloudError::LimitExceeded("20 instances".into()),
            CloudError::Provider { code: "X".into(), message: "y".into() },
        ];
        assert!(!permanent.iter().any(CloudError::is_retryable));
    }

    #[test]
    fn messages_read_well() {
        assert_eq!(CloudError::not_found("volume", "vol-1").to_string(), "volume vol-1 was not found in the cloud");
        let t = CloudError::Timeout { operation: "run_instances".into(), after: Duration::from_millis(2500) };
        assert_eq!(t.to_string(), "run_instances did not finish within 2.5s");
        assert_eq!(t.code(), "cloud_timeout");
    }
}
