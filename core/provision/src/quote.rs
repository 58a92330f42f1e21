//! Shell quoting for the files the library sources.

use crate::ProvisionError;

/// `value` as one single-quoted bash word that stands for exactly `value`.
///
/// Inside single quotes bash gives no character a meaning (no `$`, backtick, backslash or
/// newline is special), so the only character to handle is the single quote itself, written as
/// `'\''` (close the quotes, an escaped quote, open them again). The result is one word however
/// the text reads: nothing in it is ever expanded or run.
///
/// Bash strings cannot hold a NUL byte; [`checked`] refuses such text.
pub fn shell_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// `value`, quoted, unless it holds a NUL byte.
pub(crate) fn checked(field: &str, value: &str) -> Result<String, ProvisionError> {
    if value.contains('\0') {
        return Err(ProvisionError::NulByte { field: field.to_owned() });
    }
    Ok(shell_quote(value))
}

/// The lines of a sourced file: `NAME='value'` and `NAME=('a' 'b')`.
#[derive(Default)]
pub(crate) struct Assignments {
    text: String,
}

impl Assignments {
    pub(crate) fn new(header: &str) -> Self {
        let mut text = String::new();
        for line in header.lines() {
            text.push_str("# ");
            text.push_str(line);
            text.push('\n');
        }
        Assignments { text }
    }

    pub(crate) fn scalar(&mut self, name: &str, value: &str) -> Result<(), ProvisionError> {
        let quoted = checked(name, value)?;
        self.text.push_str(&format!("{name}={quoted}\n"));
        Ok(())
    }

    pub(crate) fn array<S: AsRef<str>>(&mut self, name: &str, values: &[S]) -> Result<(), ProvisionError> {
        let mut words = Vec::with_capacity(values.len());
        for value in values {
            words.push(checked(name, value.as_ref())?);
        }
        self.text.push_str(&format!("{name}=({})\n", words.join(" ")));
        Ok(())
    }

    pub(crate) fn finish(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_the_single_quote() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("$(id) `id` \\ \" \n"), "'$(id) `id` \\ \" \n'");
    }

    #[test]
    fn refuses_nul() {
        let err = checked("WMAIC_X", "a\0b").unwrap_err();
        assert_eq!(err, ProvisionError::NulByte { field: "WMAIC_X".into() });
        assert_eq!(err.code(), "provision_nul_byte");
    }
}
