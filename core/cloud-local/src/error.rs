//! From host failures (files, processes, QEMU) to [`CloudError`].
//!
//! | what went wrong                              | error                                          |
//! |----------------------------------------------|------------------------------------------------|
//! | QEMU or qemu-img not installed               | `Provider { code: "qemu_missing" }`, naming the Debian package |
//! | a file or folder of the provider's state     | `Provider { code: "local_io" }`                |
//! | QEMU refused to start, or a QMP command failed | `Provider { code: "qemu_failed" }`, with QEMU's own message |
//! | QMP did not answer in time                   | `Timeout`                                      |

use std::io;
use std::path::Path;

use wintermute_cloud::CloudError;

/// The provider's state (or a disk image) could not be read or written.
pub(crate) fn io_error(what: &str, path: &Path, err: &io::Error) -> CloudError {
    CloudError::Provider { code: "local_io".into(), message: format!("{what} ({}): {err}", path.display()) }
}

/// QEMU (or qemu-img) reported a failure.
pub(crate) fn qemu_failed(message: impl Into<String>) -> CloudError {
    CloudError::Provider { code: "qemu_failed".into(), message: message.into() }
}

/// A program the provider needs is not installed.
pub(crate) fn missing_program(program: &str, package: &str) -> CloudError {
    CloudError::Provider {
        code: "qemu_missing".into(),
        message: format!(
            "`{program}` was not found on this host: install the Debian package {package} \
             (apt-get install {package}) to use the local provider"
        ),
    }
}

/// Keeps the last `max` characters of a program's output (the end says what failed).
pub(crate) fn tail(text: &str, max: usize) -> String {
    let text = text.trim();
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    let cut: String = text.chars().skip(count - max).collect();
    format!("…{cut}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail("  short \n", 10), "short");
        assert_eq!(tail("0123456789abc", 3), "…abc");
    }

    #[test]
    fn missing_program_names_the_package() {
        let e = missing_program("qemu-system-x86_64", "qemu-system-x86");
        assert!(e.to_string().contains("apt-get install qemu-system-x86"), "{e}");
        assert!(!e.is_retryable());
    }
}
