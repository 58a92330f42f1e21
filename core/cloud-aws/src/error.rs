//! From EC2 errors to [`CloudError`].

use std::time::Duration;

use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use wintermute_cloud::{CloudError, Operation};

/// Cloud messages longer than this are cut (e.g. the encoded authorization details of
/// `UnauthorizedOperation`, which are long and of no use to a person).
const MAX_MESSAGE: usize = 300;

/// Maps an SDK error of `op`; `timeout` is what a timeout is reported as, `ids` the ids the
/// request named (a not-found error names the one the cloud's message mentions).
pub(crate) fn map_sdk_error<E>(op: Operation, timeout: Duration, ids: &[String], err: SdkError<E>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let timed_out = || CloudError::Timeout { operation: op.name().to_string(), after: timeout };
    match &err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            match classify(service.err().code(), service.err().message(), status) {
                CloudError::NotFound { what, id } => {
                    let message = service.err().message().unwrap_or_default();
                    let named: Vec<&str> =
                        ids.iter().map(String::as_str).filter(|i| !i.is_empty() && message.contains(i)).collect();
                    CloudError::NotFound { what, id: if named.is_empty() { id } else { named.join(", ") } }
                }
                other => other,
            }
        }
        SdkError::TimeoutError(_) => timed_out(),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => timed_out(),
        SdkError::DispatchFailure(failure) if failure.is_user() => {
            CloudError::InvalidRequest(format!("the request could not be sent: {}", DisplayErrorContext(&err)))
        }
        SdkError::DispatchFailure(_) => {
            CloudError::Unavailable(format!("could not reach EC2: {}", DisplayErrorContext(&err)))
        }
        SdkError::ResponseError(_) => {
            CloudError::Unavailable(format!("EC2 sent an answer that could not be read: {}", DisplayErrorContext(&err)))
        }
        SdkError::ConstructionFailure(_) => {
            CloudError::InvalidRequest(format!("the request could not be built: {}", DisplayErrorContext(&err)))
        }
        _ => CloudError::Provider { code: "SdkError".into(), message: cut(&DisplayErrorContext(&err).to_string()) },
    }
}

/// Sorts an EC2 error code (and HTTP status) into a [`CloudError`].
pub(crate) fn classify(code: Option<&str>, message: Option<&str>, status: u16) -> CloudError {
    let message = cut(message.unwrap_or("no details given"));
    let Some(code) = code else {
        return match status {
            401 | 403 => CloudError::Auth(message),
            500.. => CloudError::Unavailable(format!("HTTP {status}: {message}")),
            _ => CloudError::Provider { code: format!("HTTP {status}"), message },
        };
    };
    let base = code.split('.').next().unwrap_or(code);
    match code {
        "AuthFailure"
        | "UnauthorizedOperation"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "InvalidAccessKeyId"
        | "AccessDenied"
        | "AccessDeniedException"
        | "ExpiredToken"
        | "RequestExpired"
        | "OptInRequired"
        | "Blocked"
        | "PendingVerification" => CloudError::Auth(message),
        "RequestLimitExceeded"
        | "Throttling"
        | "ThrottlingException"
        | "TooManyRequestsException"
        | "RequestThrottled" => CloudError::Throttled(message),
        _ if code.ends_with("LimitExceeded")
            || code.starts_with("Insufficient")
            || matches!(code, "MaxSpotInstanceCountExceeded" | "ResourceCountExceeded") =>
        {
            CloudError::LimitExceeded(message)
        }
        "InternalError" | "InternalFailure" | "ServiceUnavailable" | "Unavailable" | "ServerInternal" => {
            CloudError::Unavailable(message)
        }
        // An unknown instance type is a wrong request, not a missing object (EC2 itself says
        // InvalidParameterValue; the emulator says InvalidInstanceType.NotFound).
        _ if base == "InvalidInstanceType" => CloudError::InvalidRequest(message),
        _ if base == "InvalidAMIID" || code.ends_with(".NotFound") || code.ends_with(".Malformed") => {
            CloudError::NotFound { what: object_kind(base), id: quoted_id(&message).unwrap_or_else(|| "?".into()) }
        }
        _ if code.starts_with("Invalid")
            || code.starts_with("Missing")
            || code.starts_with("Unsupported")
            || code.starts_with("Incorrect")
            || code.starts_with("Unknown")
            || matches!(code, "VolumeInUse" | "DependencyViolation" | "OperationNotPermitted" | "DryRunOperation") =>
        {
            CloudError::InvalidRequest(message)
        }
        _ if status >= 500 => CloudError::Unavailable(format!("{code}: {message}")),
        _ => CloudError::Provider { code: code.to_string(), message },
    }
}

/// What kind of object an `Invalid<Kind>…` error code is about.
fn object_kind(base: &str) -> String {
    match base {
        "InvalidInstanceID" => "instance",
        "InvalidVolume" | "InvalidVolumeID" => "volume",
        "InvalidAMIID" => "image",
        "InvalidKeyPair" => "key pair",
        "InvalidGroup" | "InvalidGroupId" | "InvalidSecurityGroupID" => "security group",
        "InvalidSubnetID" => "subnet",
        "InvalidVpcID" => "VPC",
        "InvalidSnapshot" | "InvalidSnapshotID" => "snapshot",
        "InvalidAttachment" => "attachment",
        "InvalidZone" => "availability zone",
        "InvalidAllocationID" | "InvalidAddress" => "address",
        other => return other.strip_prefix("Invalid").unwrap_or(other).to_string(),
    }
    .to_string()
}

/// The quoted part of an EC2 message, e.g. the id in "The instance ID 'i-0abc' does not
/// exist" (EC2 puts image ids in brackets, `'[ami-1]'`; the emulator writes `'{'vol-1'}'`).
fn quoted_id(message: &str) -> Option<String> {
    let start = message.find('\'')? + 1;
    let end = message.rfind('\'')?;
    let id: String =
        message.get(start..end)?.chars().filter(|c| !matches!(c, '\'' | '"' | '[' | ']' | '{' | '}')).collect();
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_string())
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str, message: &str) -> CloudError {
        classify(Some(code), Some(message), 400)
    }

    #[test]
    fn codes_sort_into_kinds() {
        assert!(matches!(c("AuthFailure", "x"), CloudError::Auth(_)));
        assert!(matches!(c("UnauthorizedOperation", "x"), CloudError::Auth(_)));
        assert!(matches!(c("RequestLimitExceeded", "x"), CloudError::Throttled(_)));
        assert!(matches!(c("InstanceLimitExceeded", "x"), CloudError::LimitExceeded(_)));
        assert!(matches!(c("VolumeLimitExceeded", "x"), CloudError::LimitExceeded(_)));
        assert!(matches!(c("InsufficientInstanceCapacity", "x"), CloudError::LimitExceeded(_)));
        assert!(matches!(c("InvalidParameterValue", "x"), CloudError::InvalidRequest(_)));
        assert!(matches!(c("InvalidInstanceType.NotFound", "x"), CloudError::InvalidRequest(_)));
        assert!(matches!(c("IncorrectInstanceState", "x"), CloudError::InvalidRequest(_)));
        assert!(matches!(c("InternalError", "x"), CloudError::Unavailable(_)));
        assert!(matches!(classify(Some("Whatever"), None, 503), CloudError::Unavailable(_)));
        assert!(matches!(classify(None, None, 403), CloudError::Auth(_)));
        assert_eq!(c("SomethingNew", "hm"), CloudError::Provider { code: "SomethingNew".into(), message: "hm".into() });
    }

    #[test]
    fn not_found_names_the_object() {
        assert_eq!(
            c("InvalidInstanceID.NotFound", "The instance ID 'i-0123456789abcdef0' does not exist"),
            CloudError::not_found("instance", "i-0123456789abcdef0")
        );
        assert_eq!(
            c("InvalidVolume.NotFound", "The volume 'vol-1' does not exist."),
            CloudError::not_found("volume", "vol-1")
        );
        assert_eq!(
            c("InvalidAMIID.NotFound", "The image id '[ami-12345678]' does not exist"),
            CloudError::not_found("image", "ami-12345678")
        );
        assert_eq!(c("InvalidAMIID.Malformed", "Invalid id: \"x\""), CloudError::not_found("image", "?"));
        assert_eq!(
            c("InvalidKeyPair.NotFound", "The key pair 'k' does not exist"),
            CloudError::not_found("key pair", "k")
        );
        assert_eq!(
            c("InvalidVolume.NotFound", "The volume '{'vol-1', 'vol-2'}' does not exist."),
            CloudError::not_found("volume", "vol-1, vol-2")
        );
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "a".repeat(1000);
        let CloudError::Auth(m) = c("UnauthorizedOperation", &long) else { panic!() };
        assert_eq!(m.chars().count(), MAX_MESSAGE + 1);
    }
}
