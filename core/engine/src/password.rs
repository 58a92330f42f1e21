//! Password hashing (argon2id) and strength rules.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::Rng;

use crate::error::{CoreError, CoreResult};

/// At most one argon2 computation per CPU at a time: each takes 19 MiB, so a flood of logins
/// waits in line instead of exhausting memory or the blocking thread pool.
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS
        .get_or_init(|| tokio::sync::Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)))
}

/// Hashes with argon2id and its recommended parameters (19 MiB, 2 passes). Runs off the async threads.
pub async fn hash(password: &str) -> CoreResult<String> {
    let pw = zeroize::Zeroizing::new(password.to_owned());
    let _slot =
        hashing_slots().acquire().await.map_err(|e| CoreError::Internal(format!("hashing slots closed: {e}")))?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(pw.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| CoreError::Internal(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| CoreError::Internal(format!("password hashing task failed: {e}")))?
}

/// Checks a password against a stored hash. A malformed hash never matches.
pub async fn verify(password: &str, stored: &str) -> CoreResult<bool> {
    let pw = zeroize::Zeroizing::new(password.to_owned());
    let stored = stored.to_owned();
    let _slot =
        hashing_slots().acquire().await.map_err(|e| CoreError::Internal(format!("hashing slots closed: {e}")))?;
    tokio::task::spawn_blocking(move || match PasswordHash::new(&stored) {
        Ok(parsed) => Argon2::default().verify_password(pw.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    })
    .await
    .map_err(|e| CoreError::Internal(format!("password check task failed: {e}")))
}

/// A hash of a random password, verified against when the login does not exist, so that unknown
/// and known logins take the same time.
pub async fn dummy_hash() -> &'static str {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY.get_or_init(|| async { hash(&generate(24)).await.unwrap_or_default() }).await.as_str()
}

const COMMON: &[&str] = &[
    "password",
    "123456",
    "12345678",
    "123456789",
    "1234567890",
    "qwerty",
    "qwertyuiop",
    "letmein",
    "welcome",
    "admin",
    "administrator",
    "iloveyou",
    "monkey",
    "dragon",
    "changeme",
    "secret",
    "passw0rd",
    "password1",
    "password123",
    "wintermute",
    "abc123",
    "trustno1",
    "sunshine",
];

/// At least 10 characters with three of: lower case, upper case, digits, other characters — or
/// at least 16 characters of any kind; not a common password, not the login, not one repeated character.
pub fn check_strength(password: &str, login: &str) -> CoreResult<()> {
    let n = password.chars().count();
    if n < 10 {
        return Err(CoreError::WeakPassword("the password must have at least 10 characters".into()));
    }
    if n > 256 {
        return Err(CoreError::WeakPassword("the password must have at most 256 characters".into()));
    }
    if password.chars().any(char::is_control) {
        return Err(CoreError::WeakPassword("the password must not contain control characters".into()));
    }
    let lower = password.to_lowercase();
    if COMMON.iter().any(|c| lower == *c || lower.trim_end_matches(|ch: char| ch.is_ascii_digit() || ch == '!') == *c) {
        return Err(CoreError::WeakPassword("this password is too common".into()));
    }
    if login.chars().count() >= 3 && lower.contains(&login.to_lowercase()) {
        return Err(CoreError::WeakPassword("the password must not contain the login".into()));
    }
    let first = password.chars().next();
    if password.chars().all(|c| Some(c) == first) {
        return Err(CoreError::WeakPassword("the password must not be one repeated character".into()));
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if n < 16 && classes < 3 {
        return Err(CoreError::WeakPassword(
            "use at least three of: lower case, upper case, digits, other characters (or 16 characters or more)".into(),
        ));
    }
    Ok(())
}

/// A random password that passes `check_strength`: letters and digits without look-alikes.
pub fn generate(len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    loop {
        let s: String = (0..len.max(16)).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect();
        if s.chars().any(|c| c.is_ascii_digit())
            && s.chars().any(|c| c.is_ascii_uppercase())
            && s.chars().any(|c| c.is_ascii_lowercase())
        {
            return s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength_rules() {
        assert!(check_strength("short1A!", "bob").is_err());
        assert!(check_strength("Password123", "bob").is_err(), "common password with digits");
        assert!(check_strength("alllowercaseletters", "bob").is_ok(), "16+ chars of one class is fine");
        assert!(check_strength("lowercase12", "bob").is_err(), "two classes and short");
        assert!(check_strength("Lowercase12", "bob").is_ok());
        assert!(check_strength("xxBobby1234Y", "bobby").is_err(), "contains login");
        assert!(check_strength("aaaaaaaaaaaaaaaaaaaa", "bob").is_err());
        let g = generate(20);
        assert_eq!(g.len(), 20);
        check_strength(&g, "admin").unwrap();
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash("Correct-Horse-9").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("Correct-Horse-9", &h).await.unwrap());
        assert!(!verify("correct-horse-9", &h).await.unwrap());
        assert!(!verify("x", "not a hash").await.unwrap());
    }
}
