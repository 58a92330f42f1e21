//! From the tree to a bootable qcow2: file system, boot loader, conversion; and cleaning up.

use std::path::Path;
use std::time::Duration;

use tokio::process::Command;

use super::command::run;
use super::rootfs::{Kernel, IMAGE_FINISH_PATH};
use super::{ImageBuildError, Tools};
use crate::host::Accel;

/// What the image-finish script prints when the boot loader is in.
const FINISH_OK: &str = "WINTERMUTE-IMAGE-FINISH: OK";

/// A sparse raw file of `size_gib` holding one ext4 file system made from `root`.
pub(super) async fn make_filesystem(
    tools: &Tools,
    root: &Path,
    raw: &Path,
    uuid: &str,
    size_gib: u32,
) -> Result<(), ImageBuildError> {
    let file = std::fs::File::create(raw).map_err(|e| ImageBuildError::io("cannot create", raw, e))?;
    file.set_len(u64::from(size_gib) << 30).map_err(|e| ImageBuildError::io("cannot size", raw, e))?;
    drop(file);
    let mut cmd = Command::new(&tools.mkfs);
    // No `64bit`: EXTLINUX reads the file system to boot. Inode tables and journal are
    // initialised now (zeros stay sparse in the qcow2), so clones do not write them at boot.
    cmd.args(["-q", "-F", "-L", "wintermute-root", "-U", uuid, "-O", "^64bit"])
        .args(["-E", "lazy_itable_init=0,lazy_journal_init=0", "-d"])
        .arg(root)
        .arg(raw);
    run("making the file system", &mut cmd, Duration::from_secs(10 * 60)).await
}

/// Boots the raw disk once, with the kernel and initrd given directly and `init=` the
/// image-finish script, which installs EXTLINUX and powers off.
pub(super) async fn install_boot_loader(
    tools: &Tools,
    raw: &Path,
    uuid: &str,
    kernel: &Kernel,
    work: &Path,
) -> Result<(), ImageBuildError> {
    let log = work.join("finish.log");
    let opt = |p: &Path| p.to_string_lossy().replace(',', ",,");
    let mut cmd = Command::new(&tools.qemu_system);
    cmd.args(Accel::detect().qemu_args())
        .args(["-machine", "pc", "-m", "512", "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none"])
        .arg("-no-reboot")
        .arg("-kernel")
        .arg(&kernel.vmlinuz)
        .arg("-initrd")
        .arg(&kernel.initrd)
        .arg("-append")
        .arg(format!("root=UUID={uuid} rw init={IMAGE_FINISH_PATH} console=ttyS0 panic=-1"))
        .arg("-drive")
        .arg(format!("file={},format=raw,if=virtio", opt(raw)))
        .arg("-serial")
        .arg(format!("file:{}", opt(&log)));
    let ran = run("booting the image to install its boot loader", &mut cmd, Duration::from_secs(5 * 60)).await;
    let console = std::fs::read_to_string(&log).unwrap_or_default();
    match ran {
        Ok(()) if console.contains(FINISH_OK) => Ok(()),
        Ok(()) => Err(ImageBuildError::step(
            "installing the boot loader",
            format!(
                "the guest did not report success; its console ended with:\n{}",
                crate::error::tail(&console, 2000)
            ),
        )),
        Err(e) => Err(ImageBuildError::step(
            "installing the boot loader",
            format!("{e}; the guest console ended with:\n{}", crate::error::tail(&console, 2000)),
        )),
    }
}

/// Converts the raw disk to qcow2 at `image` (written beside it, renamed into place last).
pub(super) async fn convert(tools: &Tools, raw: &Path, image: &Path) -> Result<(), ImageBuildError> {
    let tmp = image.with_extension(format!("qcow2.tmp{}", std::process::id()));
    let mut cmd = Command::new(&tools.qemu_img);
    cmd.args(["convert", "-q", "-f", "raw", "-O", "qcow2"]).arg(raw).arg(&tmp);
    let converted = run("converting to qcow2", &mut cmd, Duration::from_secs(10 * 60)).await.and_then(|()| {
        std::fs::rename(&tmp, image).map_err(|e| ImageBuildError::io("cannot move the image into place", image, e))
    });
    if converted.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    converted
}

/// The mount points under `dir` (from `/proc/self/mountinfo`), deepest first.
fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mount_path)
        .filter(|m| m.starts_with(&prefix))
        .collect();
    found.sort_by_key(|m| std::cmp::Reverse(m.len()));
    found
}

/// Mount paths in mountinfo have spaces and the like as octal escapes (`\040`).
fn unescape_mount_path(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Removes the build folder. Anything still mounted in it (debootstrap mounts /proc and /sys in
/// the tree, and may bind-mount /dev nodes, then leaves them mounted if it is killed) is
/// unmounted first; if something stays mounted, the folder is left alone rather than deleting
/// through a mount into the host.
pub(super) async fn remove_work_dir(work: &Path) -> Result<(), ImageBuildError> {
    if !work.exists() {
        return Ok(());
    }
    for mount in mounts_under(work) {
        let mut cmd = Command::new("umount");
        cmd.arg("--lazy").arg(&mount);
        if let Err(e) = run("unmounting", &mut cmd, Duration::from_secs(60)).await {
            tracing::warn!("{e}");
        }
    }
    let left = mounts_under(work);
    if !left.is_empty() {
        return Err(ImageBuildError::step(
            "cleaning up",
            format!("{} is left in place: still mounted inside it: {}", work.display(), left.join(", ")),
        ));
    }
    std::fs::remove_dir_all(work).map_err(|e| ImageBuildError::io("cannot remove the build folder", work, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(unescape_mount_path(r"/a\040b/c"), "/a b/c");
        assert_eq!(unescape_mount_path(r"/plain\x"), r"/plain\x");
    }

    #[test]
    fn nothing_is_mounted_in_a_fresh_folder() {
        let dir = tempfile::tempdir().unwrap();
        assert!(mounts_under(dir.path()).is_empty());
    }
}
