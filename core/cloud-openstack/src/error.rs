//! From OpenStack HTTP answers to [`CloudError`].
//!
//! | HTTP status                        | CloudError                                   |
//! |------------------------------------|----------------------------------------------|
//! | 401 (after one renewal of the token), 403 | `Auth` (403 with "quota" in it: `LimitExceeded`) |
//! | 404                                | `NotFound` (the object the call names)       |
//! | 400, 409, 422                      | `InvalidRequest`                             |
//! | 413, 429                           | `LimitExceeded` for quotas ("quota", "overLimit"), else `Throttled` |
//! | 5xx, connection failures           | `Unavailable`; timeouts: `Timeout`           |

use std::time::Duration;

use serde_json::Value;
use wintermute_cloud::{CloudError, Operation};

/// Cloud messages longer than this are cut.
const MAX_MESSAGE: usize = 300;

/// The person-readable message in an OpenStack error body: Nova and Cinder write
/// `{"badRequest": {"message": …}}`, Neutron `{"NeutronError": {"message": …}}`, Keystone
/// `{"error": {"message": …}}`, Glance plain text.
pub(crate) fn body_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        let obj = v.as_object()?;
        obj.values()
            .find_map(|inner| inner.get("message").and_then(Value::as_str).map(str::to_string))
            .or_else(|| obj.get("message").and_then(Value::as_str).map(str::to_string))
    });
    let text = from_json
        .unwrap_or_else(|| body.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" "));
    if text.is_empty() {
        "no details given".into()
    } else {
        cut(&text)
    }
}

/// Sorts an error answer of `op` about object `what`/`id` into a [`CloudError`].
pub(crate) fn classify(status: u16, body: &str, what: &str, id: &str) -> CloudError {
    let message = body_message(body);
    let lower = message.to_ascii_lowercase();
    let quota = lower.contains("quota") || lower.contains("exceeded");
    match status {
        401 => CloudError::Auth(message),
        403 if quota => CloudError::LimitExceeded(message),
        403 => CloudError::Auth(message),
        404 => CloudError::not_found(what, id),
        413 | 429 if quota => CloudError::LimitExceeded(message),
        413 | 429 => CloudError::Throttled(message),
        400 | 409 | 422 => CloudError::InvalidRequest(message),
        500.. => CloudError::Unavailable(format!("HTTP {status}: {message}")),
        _ => CloudError::Provider { code: format!("HTTP {status}"), message },
    }
}

/// Maps a failure to send or read a request.
pub(crate) fn transport(op: Operation, timeout: Duration, service: &str, err: &reqwest::Error) -> CloudError {
    if err.is_timeout() {
        return CloudError::Timeout { operation: op.name().to_string(), after: timeout };
    }
    if err.is_builder() {
        return CloudError::InvalidRequest(format!("the request to {service} could not be built"));
    }
    if err.is_decode() {
        return CloudError::Unavailable(format!("{service} sent an answer that could not be read"));
    }
    // reqwest's own message names the URL (never a token: tokens travel in headers).
    CloudError::Unavailable(format!("could not reach {service}: {}", cut(&error_chain(err))))
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

pub(crate) fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_from_each_service_format() {
        assert_eq!(
            body_message(r#"{"badRequest": {"message": "Invalid flavorRef", "code": 400}}"#),
            "Invalid flavorRef"
        );
        assert_eq!(
            body_message(
                r#"{"NeutronError": {"type": "SecurityGroupNotFound", "message": "no such group", "detail": ""}}"#
            ),
            "no such group"
        );
        assert_eq!(
            body_message(
                r#"{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}"#
            ),
            "The request you have made requires authentication."
        );
        assert_eq!(body_message("<html>\n <h1>404 Not Found</h1>\n</html>"), "<html> <h1>404 Not Found</h1> </html>");
        assert_eq!(body_message(""), "no details given");
    }

    #[test]
    fn statuses_sort_into_kinds() {
        assert!(matches!(classify(401, "", "x", "y"), CloudError::Auth(_)));
        assert!(matches!(
            classify(403, "{\"forbidden\":{\"message\":\"Policy does not allow\"}}", "x", "y"),
            CloudError::Auth(_)
        ));
        assert!(matches!(
            classify(403, "{\"forbidden\":{\"message\":\"Quota exceeded for instances\"}}", "x", "y"),
            CloudError::LimitExceeded(_)
        ));
        assert_eq!(classify(404, "", "server", "abc"), CloudError::not_found("server", "abc"));
        assert!(matches!(classify(409, "", "x", "y"), CloudError::InvalidRequest(_)));
        assert!(matches!(classify(429, "slow down", "x", "y"), CloudError::Throttled(_)));
        assert!(matches!(
            classify(413, "{\"overLimit\":{\"message\":\"VolumeLimitExceeded\"}}", "x", "y"),
            CloudError::LimitExceeded(_)
        ));
        assert!(matches!(classify(503, "", "x", "y"), CloudError::Unavailable(_)));
        let long = "a".repeat(1000);
        let CloudError::InvalidRequest(m) = classify(400, &long, "x", "y") else { panic!() };
        assert_eq!(m.chars().count(), MAX_MESSAGE + 1);
    }
}
