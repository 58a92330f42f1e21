//! What the host offers: the QEMU programs, hardware virtualisation, free loopback ports.

use std::fmt;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wintermute_cloud::CloudError;

use crate::error::{io_error, missing_program};

/// The system emulator the provider runs, and its Debian package.
pub const QEMU_SYSTEM: (&str, &str) = ("qemu-system-x86_64", "qemu-system-x86");
/// The disk image tool, and its Debian package.
pub const QEMU_IMG: (&str, &str) = ("qemu-img", "qemu-utils");

/// How QEMU runs the guests' CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Accel {
    /// Hardware virtualisation through the host kernel's KVM.
    Kvm,
    /// Software emulation (QEMU's TCG): slower, works everywhere.
    Tcg,
}

impl Accel {
    /// Looks at the host: KVM only when a hardware KVM module (`kvm_intel` or `kvm_amd`) is
    /// loaded and `/dev/kvm` can be opened. `/dev/kvm` alone is not enough: a nested "PVM"
    /// hypervisor offers one on which stock kernels do not boot.
    pub fn detect() -> Self {
        Self::detect_in(Path::new("/sys/module"), Path::new("/dev/kvm"))
    }

    fn detect_in(modules: &Path, dev_kvm: &Path) -> Self {
        let hardware = ["kvm_intel", "kvm_amd"].iter().any(|m| modules.join(m).is_dir());
        let usable = std::fs::OpenOptions::new().read(true).write(true).open(dev_kvm).is_ok();
        if hardware && usable {
            Self::Kvm
        } else {
            Self::Tcg
        }
    }

    /// `kvm` or `tcg`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kvm => "kvm",
            Self::Tcg => "tcg",
        }
    }

    /// QEMU's `-accel` (and `-cpu`) arguments. Under TCG the translation cache is capped at
    /// 64 MiB, which cuts a small guest's memory use on the host from ~800 MB to ~315 MB; the
    /// CPU model stays QEMU's default there.
    pub(crate) fn qemu_args(self) -> &'static [&'static str] {
        match self {
            Self::Kvm => &["-accel", "kvm", "-cpu", "host"],
            Self::Tcg => &["-accel", "tcg,thread=multi,tb-size=64"],
        }
    }
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Kvm => "KVM (hardware virtualisation)",
            Self::Tcg => "TCG (software emulation)",
        })
    }
}

/// Finds `program` in `PATH` (or takes it as given when it is a path).
pub fn find_program(program: &str) -> Option<PathBuf> {
    let candidate = Path::new(program);
    if candidate.components().count() > 1 {
        return is_executable(candidate).then(|| candidate.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `program` (a name or path), or an error naming the Debian `package` that provides it.
pub(crate) fn require_program(program: &str, package: &str) -> Result<PathBuf, CloudError> {
    find_program(program).ok_or_else(|| missing_program(program, package))
}

/// A TCP port on 127.0.0.1 that nothing listens on right now (it may be taken before it is
/// used: callers retry with another one when QEMU cannot bind it).
pub(crate) fn free_loopback_port() -> Result<u16, CloudError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| io_error("no free TCP port on 127.0.0.1", Path::new("127.0.0.1:0"), &e))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| io_error("no local address", Path::new("127.0.0.1:0"), &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kvm_needs_a_hardware_module_and_a_usable_device() {
        let dir = tempfile::tempdir().unwrap();
        let modules = dir.path().join("module");
        std::fs::create_dir_all(modules.join("kvm")).unwrap();
        std::fs::create_dir_all(modules.join("kvm_pvm")).unwrap();
        let dev = dir.path().join("kvm-device");
        std::fs::write(&dev, b"").unwrap();
        // A nested PVM hypervisor: /dev/kvm is there, the hardware modules are not.
        assert_eq!(Accel::detect_in(&modules, &dev), Accel::Tcg);
        std::fs::create_dir_all(modules.join("kvm_intel")).unwrap();
        assert_eq!(Accel::detect_in(&modules, &dev), Accel::Kvm);
        assert_eq!(Accel::detect_in(&modules, &dir.path().join("missing")), Accel::Tcg);
        assert_eq!(Accel::Tcg.qemu_args()[1], "tcg,thread=multi,tb-size=64");
    }

    #[test]
    fn programs_are_found_in_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("/bin/sh").is_some());
        assert!(find_program("wintermute-no-such-program").is_none());
        let e = require_program("wintermute-no-such-program", "some-package").unwrap_err();
        assert!(e.to_string().contains("some-package"), "{e}");
    }

    #[test]
    fn free_ports_are_free() {
        let port = free_loopback_port().unwrap();
        assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok());
    }
}
