//! Why provisioning data could not be made.

/// A value the core was about to hand an instance, refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvisionError {
    /// Text holding a NUL byte, which no shell variable can hold.
    #[error("{field}: the value contains a NUL byte, which a shell variable cannot hold")]
    NulByte { field: String },
    /// A value that must be one word of a given shape (a tag, an instance id, an address...).
    #[error("{field}: {value:?} is not valid: {reason}")]
    Invalid { field: String, value: String, reason: String },
}

impl ProvisionError {
    /// A stable, machine-readable code for the API's error type.
    pub fn code(&self) -> &'static str {
        match self {
            ProvisionError::NulByte { .. } => "provision_nul_byte",
            ProvisionError::Invalid { .. } => "provision_invalid_value",
        }
    }

    pub(crate) fn invalid(field: &str, value: &str, reason: &str) -> Self {
        ProvisionError::Invalid { field: field.to_owned(), value: value.to_owned(), reason: reason.to_owned() }
    }
}
