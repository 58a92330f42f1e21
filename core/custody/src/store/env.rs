//! The master key in an environment variable (read-only).
//!
//! Convenient for containers, but the value stays in the process environment (visible in
//! `/proc/<pid>/environ` to the same user and root); prefer the systemd credential store.

use std::ffi::OsString;

use zeroize::Zeroize as _;

use super::KeyStore;
use crate::error::CustodyError;
use crate::master::MasterKeySet;

/// Default variable name.
pub const DEFAULT_MASTER_KEY_VAR: &str = "WMAIS_MASTER_KEY";

/// Reads the master key set's text encoding (see [`MasterKeySet::encode`]) from a variable.
#[derive(Clone, Debug)]
pub struct EnvKeyStore {
    var: String,
}

impl EnvKeyStore {
    /// A store reading `var`.
    pub fn new(var: impl Into<String>) -> Self {
        Self { var: var.into() }
    }

    /// The variable name.
    pub fn var(&self) -> &str {
        &self.var
    }

    fn parse_value(&self, value: Option<OsString>) -> Result<Option<MasterKeySet>, CustodyError> {
        let Some(value) = value else { return Ok(None) };
        let mut text = value.into_string().map_err(|raw| {
            raw.into_encoded_bytes().zeroize();
            CustodyError::BadFormat(format!("the environment variable {} is not UTF-8 text", self.var))
        })?;
        let result = if text.trim().is_empty() {
            Ok(None)
        } else {
            MasterKeySet::parse(&text).map(Some).map_err(|e| match e {
                CustodyError::BadFormat(what) => {
                    CustodyError::BadFormat(format!("the environment variable {}: {what}", self.var))
                }
                other => other,
            })
        };
        text.zeroize();
        result
    }
}

impl Default for EnvKeyStore {
    fn default() -> Self {
        Self::new(DEFAULT_MASTER_KEY_VAR)
    }
}

impl KeyStore for EnvKeyStore {
    fn name(&self) -> &'static str {
        "env"
    }

    fn load(&self) -> Result<Option<MasterKeySet>, CustodyError> {
        self.parse_value(std::env::var_os(&self.var))
    }

    fn save(&self, _set: &MasterKeySet) -> Result<(), CustodyError> {
        Err(CustodyError::KeyStoreReadOnly { store: "env" })
    }

    fn is_writable(&self) -> bool {
        false
    }

    fn provisioning_hint(&self) -> String {
        format!("set the environment variable {} to a key generated with the Wintermute CLI", self.var)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::load_or_create;

    #[test]
    fn parses_the_variable_value() {
        let set = MasterKeySet::generate().rotate();
        let store = EnvKeyStore::default();
        assert_eq!(store.var(), "WMAIS_MASTER_KEY");
        let loaded = store.parse_value(Some(set.encode().expose().clone().into())).unwrap().unwrap();
        assert_eq!(loaded.current.id(), set.current.id());
        assert_eq!(loaded.previous.len(), 1);
        assert!(store.parse_value(None).unwrap().is_none());
        assert!(store.parse_value(Some("  \n".into())).unwrap().is_none());
    }

    #[test]
    fn is_read_only() {
        let store = EnvKeyStore::new("WINTERMUTE_CUSTODY_TEST_SURELY_UNSET_VAR");
        assert!(!store.is_writable());
        let err = store.save(&MasterKeySet::generate()).unwrap_err();
        assert!(matches!(err, CustodyError::KeyStoreReadOnly { store: "env" }));
        assert!(err.to_string().contains("read-only"));
        let err = load_or_create(&store).unwrap_err();
        assert!(err.to_string().contains("WINTERMUTE_CUSTODY_TEST_SURELY_UNSET_VAR"), "{err}");
    }

    #[test]
    fn bad_value_names_the_variable_but_not_its_content() {
        // PATH is set in any test environment and is certainly no master key.
        let Some(path) = std::env::var("PATH").ok().filter(|p| p.len() > 4) else { return };
        let err = EnvKeyStore::new("PATH").load().unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, CustodyError::BadFormat(_)));
        assert!(msg.contains("PATH"), "{msg}");
        assert!(!msg.contains(&path), "{msg}");
    }
}
