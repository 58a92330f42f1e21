//! Field validation shared by the services. Every failure names the field.

use crate::error::{CoreError, CoreResult};

/// Logins match the underlying system's user names (manual 6.5): data transfers run under them.
pub fn login(field: &str, v: &str) -> CoreResult<()> {
    if v.is_empty() {
        return Err(CoreError::invalid(field, "the login must not be empty"));
    }
    if v.len() > 32 {
        return Err(CoreError::invalid(field, "the login must have at most 32 characters"));
    }
    let mut chars = v.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !first_ok || !v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.')) {
        return Err(CoreError::invalid(
            field,
            "the login must start with a lower-case letter or '_' and contain only a-z, 0-9, '_', '-' and '.'",
        ));
    }
    Ok(())
}

/// A name shown to people: not empty (unless allowed), no control characters, bounded length.
pub fn text(field: &str, v: &str, max: usize, allow_empty: bool) -> CoreResult<()> {
    if !allow_empty && v.trim().is_empty() {
        return Err(CoreError::invalid(field, format!("{field} must not be empty")));
    }
    if v.chars().count() > max {
        return Err(CoreError::invalid(field, format!("{field} must have at most {max} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err(CoreError::invalid(field, format!("{field} must not contain control characters")));
    }
    Ok(())
}

/// An e-mail address of the form local@domain.tld (or empty).
pub fn email(field: &str, v: &str) -> CoreResult<()> {
    if v.is_empty() {
        return Ok(());
    }
    let bad = || CoreError::invalid(field, format!("{v:?} is not a valid e-mail address"));
    if v.len() > 254 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = v.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.contains('@') || domain.len() < 3 || !domain.contains('.') {
        return Err(bad());
    }
    if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return Err(bad());
    }
    Ok(())
}

/// An IANA time zone name such as `Europe/Berlin`.
pub fn time_zone(field: &str, v: &str) -> CoreResult<()> {
    v.parse::<chrono_tz::Tz>().map(|_| ()).map_err(|_| {
        CoreError::invalid(field, format!("{v:?} is not a known time zone (use a name like Europe/Berlin)"))
    })
}

/// A page size: 1 to 500, default 100.
pub fn limit(v: Option<u32>) -> CoreResult<i64> {
    match v {
        None => Ok(100),
        Some(n @ 1..=500) => Ok(i64::from(n)),
        Some(n) => Err(CoreError::invalid("limit", format!("limit must be 1 to 500 (got {n})"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins() {
        assert!(login("login", "bob123").is_ok());
        assert!(login("login", "_svc.x-1").is_ok());
        assert!(login("login", "").is_err());
        assert!(login("login", "Bob").is_err());
        assert!(login("login", "1bob").is_err());
        assert!(login("login", "bo b").is_err());
        assert!(login("login", &"a".repeat(33)).is_err());
    }

    #[test]
    fn emails_and_zones() {
        assert!(email("email", "a@b.de").is_ok());
        assert!(email("email", "").is_ok());
        assert!(email("email", "nope").is_err());
        assert!(email("email", "a@b").is_err());
        assert!(email("email", "a b@c.de").is_err());
        assert!(time_zone("time_zone", "Europe/Berlin").is_ok());
        assert!(time_zone("time_zone", "Mars/Olympus").is_err());
    }
}
