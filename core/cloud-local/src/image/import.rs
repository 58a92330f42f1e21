//! Importing a disk image file of the host (a distribution's cloud image, or one made elsewhere):
//! recognised from its first sector, then copied as a self-contained qcow2 into the image folder,
//! so the imported image no longer depends on the original file (nor on a backing file it names).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use super::command::run;
use super::{tool, ImageBuildError};
use crate::host::QEMU_IMG;

/// The sub-folder of the image folder imported images are copied into.
pub const IMPORTED_DIR: &str = "imported";

/// The disk image formats the local provider boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskFormat {
    /// QEMU's copy-on-write format.
    Qcow2,
    /// A plain disk, byte for byte.
    Raw,
}

impl DiskFormat {
    /// `qcow2` or `raw`, as QEMU names them.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Qcow2 => "qcow2",
            Self::Raw => "raw",
        }
    }
}

/// Smallest raw disk taken for an image (anything smaller holds no bootable system).
const MIN_RAW_BYTES: u64 = 1 << 20;

/// What the file at `path` is, from its first sector: qcow2 (it starts with `QFI\xfb`), or a
/// raw disk with a boot sector (the signature `55 AA` at byte 510, which partitioned cloud images
/// and the image this crate builds have). Anything else is
/// [`ImageBuildError::NotAnImage`]: a raw disk cannot be told from any other file otherwise.
pub fn sniff_disk_image(path: &Path) -> Result<DiskFormat, ImageBuildError> {
    let not_image = |detail: &str| ImageBuildError::NotAnImage { path: path.to_path_buf(), detail: detail.to_string() };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ImageBuildError::NoSuchFile { path: path.to_path_buf() })
        }
        Err(e) => return Err(ImageBuildError::io("cannot read", path, e)),
    };
    if !meta.is_file() {
        return Err(not_image("it is not a regular file"));
    }
    let mut sector = [0u8; 512];
    let mut file = std::fs::File::open(path).map_err(|e| ImageBuildError::io("cannot open", path, e))?;
    let mut read = 0;
    while read < sector.len() {
        match file.read(&mut sector[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) => return Err(ImageBuildError::io("cannot read", path, e)),
        }
    }
    if read >= 4 && sector[..4] == *b"QFI\xfb" {
        return Ok(DiskFormat::Qcow2);
    }
    if meta.len() < MIN_RAW_BYTES || meta.len() % 512 != 0 {
        return Err(not_image(
            "no qcow2 header, and too small or oddly sized for a raw disk (1 MiB or more, whole 512-byte sectors)",
        ));
    }
    if sector[510..] != [0x55, 0xaa] {
        return Err(not_image("no qcow2 header, and no boot sector (55 AA at byte 510) as a bootable raw disk has"));
    }
    Ok(DiskFormat::Raw)
}

/// A file name part made of `name`: letters, digits, `-`, `_` and `.` kept, the rest `-`.
fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .collect();
    let stem = stem.trim_matches(['.', '-']);
    if stem.is_empty() {
        "image".to_string()
    } else {
        stem.to_string()
    }
}

/// Copies the disk image `source` (qcow2 or raw, see [`sniff_disk_image`]) to a new qcow2 file
/// in `<dest_dir>/imported/`, named after `name`, and returns its path. The copy is written
/// beside its final name and renamed into place last. Reports its steps to `progress`.
pub async fn import_disk_image(
    source: &Path,
    dest_dir: &Path,
    name: &str,
    mut progress: impl FnMut(&str, f64) + Send,
) -> Result<PathBuf, ImageBuildError> {
    let format = sniff_disk_image(source)?;
    let qemu_img = tool(QEMU_IMG.0, QEMU_IMG.1)?;
    let source = source.canonicalize().map_err(|e| ImageBuildError::io("cannot resolve", source, e))?;
    let dir = dest_dir.join(IMPORTED_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| ImageBuildError::io("cannot create the folder", &dir, e))?;
    let suffix: [u8; 4] = rand::random();
    let dest = dir.join(format!("{}-{}.qcow2", file_stem(name), hex::encode(suffix)));
    let tmp = dest.with_extension(format!("qcow2.tmp{}", std::process::id()));
    progress(
        &format!("{} is a {} disk image; copying it to {} as qcow2", source.display(), format.as_str(), dest.display()),
        0.1,
    );
    let mut cmd = Command::new(&qemu_img);
    cmd.args(["convert", "-q", "-f", format.as_str(), "-O", "qcow2"]).arg(&source).arg(&tmp);
    let copied = run("copying the disk image", &mut cmd, Duration::from_secs(30 * 60)).await.and_then(|()| {
        std::fs::rename(&tmp, &dest).map_err(|e| ImageBuildError::io("cannot move the copy into place", &dest, e))
    });
    if copied.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    copied?;
    progress(&format!("copied to {}", dest.display()), 0.9);
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_recognised_by_their_first_sector() {
        let dir = tempfile::tempdir().unwrap();
        let qcow2 = dir.path().join("a.qcow2");
        std::fs::write(&qcow2, b"QFI\xfb\0\0\0\x03rest").unwrap();
        assert_eq!(sniff_disk_image(&qcow2).unwrap(), DiskFormat::Qcow2);

        let mut disk = vec![0u8; MIN_RAW_BYTES as usize];
        disk[510] = 0x55;
        disk[511] = 0xaa;
        let raw = dir.path().join("disk.img");
        std::fs::write(&raw, &disk).unwrap();
        assert_eq!(sniff_disk_image(&raw).unwrap(), DiskFormat::Raw);

        disk[511] = 0;
        std::fs::write(&raw, &disk).unwrap();
        let e = sniff_disk_image(&raw).unwrap_err();
        assert!(matches!(e, ImageBuildError::NotAnImage { .. }), "{e}");
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "not a disk").unwrap();
        assert!(matches!(sniff_disk_image(&text), Err(ImageBuildError::NotAnImage { .. })));
        assert!(matches!(sniff_disk_image(dir.path()), Err(ImageBuildError::NotAnImage { .. })));
        let e = sniff_disk_image(&dir.path().join("missing.qcow2")).unwrap_err();
        assert!(matches!(e, ImageBuildError::NoSuchFile { .. }), "{e}");
        assert!(e.to_string().contains("missing.qcow2"), "{e}");
    }

    #[test]
    fn stems_are_safe_file_names() {
        assert_eq!(file_stem("Debian 12 (cloud)"), "Debian-12--cloud");
        assert_eq!(file_stem("../../etc"), "etc");
        assert_eq!(file_stem("///"), "image");
    }
}
