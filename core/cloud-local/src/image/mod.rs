//! Building the Debian 12 guest image the local provider boots.
//!
//! [`build_debian_image`] makes `debian-12-r<recipe>.qcow2` in a folder (once: a second call
//! finds it there), from Debian's packages on the host's configured mirror:
//!
//! 1. `debootstrap --variant=minbase` bookworm with openssh-server, cryptsetup, iptables, rsync,
//!    the kernel (linux-image-amd64), systemd, udev, dbus, sudo, iproute2, kmod, ca-certificates,
//!    ping and EXTLINUX; the downloaded packages are kept in `<folder>/debs` for the next build;
//! 2. set-up inside it (see `rootfs.rs`): a small initrd (virtio and ext4 only), the login user
//!    `debian` with password-less sudo and no password (SSH keys only), sshd with key logins
//!    only, systemd-networkd (DHCP on the NAT NIC), apt/e2scrub/fstrim timers masked, **no SSH
//!    host keys and an empty machine id**, and the first-boot unit (`guest/firstboot.sh`);
//! 3. an 8 GiB sparse raw disk whose whole is one ext4 file system (`mkfs.ext4 -d`, no
//!    partition table);
//! 4. one boot of that disk in QEMU with the kernel given directly and `init=` a script that
//!    installs EXTLINUX into the file system and powers off — from then on the image boots by
//!    itself, with its own kernel (a kernel upgrade in a guest takes effect at its next boot);
//! 5. conversion to qcow2, renamed into place last, with a JSON file describing the build.
//!
//! **How instances get their keys** (the cloud convention, no private key ever in the image):
//! the provider hands each VM small files through QEMU's fw_cfg
//! (`-fw_cfg name=opt/wintermute/<item>,file=…`); the first-boot unit reads them under
//! `/sys/firmware/qemu_fw_cfg/by_name/opt/wintermute/<item>/raw` before sshd starts and, on the
//! first boot of each instance id, makes an Ed25519 host key and a machine id of the clone's own
//! and installs the authorized keys; at every boot it sets the host name and the static address
//! on the private network. The items are listed in `guest/firstboot.sh`.
//!
//! Building needs root (debootstrap and chroot), debootstrap, e2fsprogs and QEMU
//! (`qemu-system-x86` and `qemu-utils`) on the host, and takes 1–3 minutes (about 80 s for
//! debootstrap with the packages downloaded, under 10 s for the boot-loader boot).

mod command;
mod disk;
mod import;
mod mirror;
mod rootfs;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

pub use import::{import_disk_image, sniff_disk_image, DiskFormat, IMPORTED_DIR};
pub use mirror::{host_mirror, DEFAULT_MIRROR};

use crate::host::{find_program, QEMU_IMG, QEMU_SYSTEM};

/// The user instances of the built image are logged in as (SSH keys only, password-less sudo).
pub const LOGIN_USER: &str = "debian";
/// The name the built image is registered under (and the name of its build recipe).
pub const DEBIAN_12: &str = "debian-12";
/// The build recipes there are (names for [`build_debian_image`]'s image).
pub const RECIPES: &[&str] = &[DEBIAN_12];
/// What the built image is, for a catalogue's description.
pub const DEBIAN_12_DESCRIPTION: &str = "Debian 12 (bookworm) built from Debian's packages for local QEMU guests: \
    openssh-server, cryptsetup, iptables, rsync; login user `debian` with SSH keys only and password-less sudo";
/// The version of the build recipe: part of the file name, so an image made by an older
/// recipe is never taken for a current one (nor replaced under instances that use it).
/// Raise it with every change to what goes into the image (the steps here, `guest/`).
pub const RECIPE: u32 = 1;
/// The Debian suite.
const SUITE: &str = "bookworm";

/// Why an image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ImageBuildError {
    /// A program the build needs is not installed.
    #[error("`{program}` was not found: install the Debian package {package} to build the local image")]
    MissingTool {
        /// The program.
        program: String,
        /// The Debian package that provides it.
        package: String,
    },
    /// Not running as root.
    #[error("building the local image needs root (debootstrap and chroot): run it as root")]
    NotRoot,
    /// A step failed.
    #[error("building the local image: {step} failed: {detail}")]
    Step {
        /// What was being done.
        step: String,
        /// What went wrong, with the end of the program's output.
        detail: String,
    },
    /// The file to import does not exist.
    #[error("{} does not exist on this host", path.display())]
    NoSuchFile {
        /// The file.
        path: PathBuf,
    },
    /// The file to import is not a disk image the local provider boots.
    #[error("{} is not a qcow2 or raw disk image: {detail}", path.display())]
    NotAnImage {
        /// The file.
        path: PathBuf,
        /// Why not.
        detail: String,
    },
    /// A file or folder could not be read or written.
    #[error("building the local image: {what} ({}): {source}", path.display())]
    Io {
        /// What was being done.
        what: String,
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl ImageBuildError {
    fn io(what: &str, path: &Path, source: std::io::Error) -> Self {
        Self::Io { what: what.to_string(), path: path.to_path_buf(), source }
    }

    fn step(step: &str, detail: impl Into<String>) -> Self {
        Self::Step { step: step.to_string(), detail: detail.into() }
    }
}

/// Choices for [`build_debian_image_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageBuildOptions {
    /// The Debian mirror (default: the host's, see [`host_mirror`]).
    pub mirror: Option<String>,
    /// The root disk's size in GiB (sparse: ~700 MB are used).
    pub size_gib: u32,
    /// Where the file system tree and the raw disk are made (~1.6 GB, removed afterwards).
    /// Default: `/dev/shm` when it and the host's free memory have room for them (debootstrap
    /// runs in about 60 % of the time it takes on a disk), else the image folder.
    pub work_dir: Option<PathBuf>,
}

impl Default for ImageBuildOptions {
    fn default() -> Self {
        Self { mirror: None, size_gib: 8, work_dir: None }
    }
}

/// Room the build needs in a memory-backed work folder, and in free memory besides.
const WORK_ROOM: u64 = 4 << 30;

/// The default work folder: `/dev/shm` when it is a tmpfs with [`WORK_ROOM`] free and the host
/// has as much memory available, else `dest_dir`.
fn default_work_parent(dest_dir: &Path) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let shm_free = nix::sys::statvfs::statvfs(shm).map(|s| s.blocks_available().saturating_mul(s.fragment_size()));
    let mem_available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        let kib = m
            .lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()?;
        Some(kib * 1024)
    });
    match (shm_free, mem_available) {
        (Ok(free), Some(mem)) if free >= WORK_ROOM && mem >= 2 * WORK_ROOM => shm.to_path_buf(),
        _ => dest_dir.to_path_buf(),
    }
}

/// Removes build folders in `parent` left by builds whose process is gone.
async fn remove_stale_work_dirs(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(WORK_PREFIX).and_then(|rest| rest.rsplit('-').next()) else { continue };
        let alive = pid.parse::<u32>().is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            if let Err(e) = disk::remove_work_dir(&entry.path()).await {
                tracing::warn!("{e}");
            }
        }
    }
}

/// Build folders are named `<WORK_PREFIX><image>-<pid>`.
const WORK_PREFIX: &str = ".wintermute-build-";

/// What the JSON file next to a built image says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageMetadata {
    /// [`DEBIAN_12`].
    pub name: String,
    /// [`RECIPE`].
    pub recipe: u32,
    /// The Debian suite.
    pub suite: String,
    /// The mirror the packages came from.
    pub mirror: String,
    /// The kernel release inside, e.g. `6.1.0-28-amd64`.
    pub kernel: String,
    /// The root file system's UUID (the boot loader and fstab name it).
    pub root_uuid: String,
    /// When it was built.
    pub built: DateTime<Utc>,
    /// How long the build took, in seconds.
    pub build_seconds: u64,
}

/// A built (or found) image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// The qcow2 file.
    pub path: PathBuf,
    /// Whether it was there already.
    pub cached: bool,
    /// What its metadata file says.
    pub metadata: ImageMetadata,
}

/// Where images are cached by default: `~/.cache/wintermute/images` (or the platform's
/// equivalent).
pub fn default_image_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("wintermute").join("images"))
}

/// Builds the Debian 12 image in `dest_dir` unless it is there already (see the module docs),
/// reporting each step to `progress` with the fraction done (0.0 to 1.0).
pub async fn build_debian_image(
    dest_dir: &Path,
    progress: impl FnMut(&str, f64) + Send,
) -> Result<BuiltImage, ImageBuildError> {
    build_debian_image_with(dest_dir, &ImageBuildOptions::default(), progress).await
}

/// [`build_debian_image`] with other options.
pub async fn build_debian_image_with(
    dest_dir: &Path,
    options: &ImageBuildOptions,
    mut progress: impl FnMut(&str, f64) + Send,
) -> Result<BuiltImage, ImageBuildError> {
    std::fs::create_dir_all(dest_dir).map_err(|e| ImageBuildError::io("cannot create the folder", dest_dir, e))?;
    let dest_dir = dest_dir.canonicalize().map_err(|e| ImageBuildError::io("cannot resolve", dest_dir, e))?;
    let base = format!("{DEBIAN_12}-r{RECIPE}");
    let image = dest_dir.join(format!("{base}.qcow2"));
    let meta_file = dest_dir.join(format!("{base}.json"));
    if let Some(found) = cached(&image, &meta_file) {
        progress(&format!("{} is built already", image.display()), 1.0);
        return Ok(found);
    }

    let tools = check_tools()?;
    if !nix::unistd::geteuid().is_root() {
        return Err(ImageBuildError::NotRoot);
    }

    // One build at a time per folder; whoever waited finds the image made.
    let lock_path = dest_dir.join(format!(".{base}.lock"));
    let lock_file =
        std::fs::File::create(&lock_path).map_err(|e| ImageBuildError::io("cannot create the lock", &lock_path, e))?;
    let _lock = lock(lock_file, &lock_path, &mut progress).await?;
    if let Some(found) = cached(&image, &meta_file) {
        progress(&format!("{} was built meanwhile", image.display()), 1.0);
        return Ok(found);
    }

    let started = Instant::now();
    let work_parent = options.work_dir.clone().unwrap_or_else(|| default_work_parent(&dest_dir));
    remove_stale_work_dirs(&work_parent).await;
    let work = work_parent.join(format!("{WORK_PREFIX}{base}-{}", std::process::id()));
    let built = build(&tools, &dest_dir, &work, &image, options, &mut progress).await;
    progress("removing the build folder", 0.97);
    let cleaned = disk::remove_work_dir(&work).await;
    let mut metadata = built?;
    cleaned?;
    metadata.build_seconds = started.elapsed().as_secs();
    let text = serde_json::to_vec_pretty(&metadata)
        .map_err(|e| ImageBuildError::step("writing the image's metadata", e.to_string()))?;
    std::fs::write(&meta_file, text).map_err(|e| ImageBuildError::io("cannot write", &meta_file, e))?;
    progress(&format!("built {} in {} s", image.display(), metadata.build_seconds), 1.0);
    Ok(BuiltImage { path: image, cached: false, metadata })
}

/// The Debian 12 image of the current recipe in `dest_dir`, when it is built there already.
pub fn find_built_image(dest_dir: &Path) -> Option<BuiltImage> {
    let base = format!("{DEBIAN_12}-r{RECIPE}");
    cached(&dest_dir.join(format!("{base}.qcow2")), &dest_dir.join(format!("{base}.json")))
}

/// Checks, before anything is done, that this host can build the image: the programs of the
/// build ([`ImageBuildError::MissingTool`] names the Debian package of the first one missing)
/// and root ([`ImageBuildError::NotRoot`]).
pub fn check_build_host() -> Result<(), ImageBuildError> {
    check_tools()?;
    if !nix::unistd::geteuid().is_root() {
        return Err(ImageBuildError::NotRoot);
    }
    Ok(())
}

/// The image and its metadata, when both are there and readable.
fn cached(image: &Path, meta_file: &Path) -> Option<BuiltImage> {
    if !image.is_file() {
        return None;
    }
    let metadata: ImageMetadata = serde_json::from_slice(&std::fs::read(meta_file).ok()?).ok()?;
    Some(BuiltImage { path: image.to_path_buf(), cached: true, metadata })
}

/// The paths of the build's programs.
pub(crate) struct Tools {
    pub debootstrap: PathBuf,
    pub mkfs: PathBuf,
    pub chroot: PathBuf,
    pub qemu_img: PathBuf,
    pub qemu_system: PathBuf,
}

/// Finds the build's programs (before anything is done).
fn check_tools() -> Result<Tools, ImageBuildError> {
    Ok(Tools {
        debootstrap: tool("debootstrap", "debootstrap")?,
        mkfs: tool("mkfs.ext4", "e2fsprogs")?,
        chroot: tool("chroot", "coreutils")?,
        qemu_img: tool(QEMU_IMG.0, QEMU_IMG.1)?,
        qemu_system: tool(QEMU_SYSTEM.0, QEMU_SYSTEM.1)?,
    })
}

fn tool(program: &str, package: &str) -> Result<PathBuf, ImageBuildError> {
    // debootstrap, mkfs and chroot live in sbin, which a user's PATH may lack.
    find_program(program)
        .or_else(|| ["/usr/sbin", "/sbin"].iter().map(|d| Path::new(d).join(program)).find(|p| p.is_file()))
        .ok_or_else(|| ImageBuildError::MissingTool { program: program.into(), package: package.into() })
}

/// Takes the build lock, waiting (and saying so) while another build holds it.
async fn lock(
    mut file: std::fs::File,
    path: &Path,
    progress: &mut (dyn FnMut(&str, f64) + Send),
) -> Result<Flock<std::fs::File>, ImageBuildError> {
    let mut said = false;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((back, nix::errno::Errno::EWOULDBLOCK)) => {
                file = back;
                if !said {
                    progress("waiting for another build of this image to finish", 0.0);
                    said = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err((_, e)) => return Err(ImageBuildError::io("cannot lock", path, e.into())),
        }
    }
}

/// The build proper, in `work` (which the caller removes).
async fn build(
    tools: &Tools,
    dest_dir: &Path,
    work: &Path,
    image: &Path,
    options: &ImageBuildOptions,
    progress: &mut (dyn FnMut(&str, f64) + Send),
) -> Result<ImageMetadata, ImageBuildError> {
    disk::remove_work_dir(work).await?;
    std::fs::create_dir_all(work).map_err(|e| ImageBuildError::io("cannot create", work, e))?;
    let mirror = options.mirror.clone().unwrap_or_else(|| host_mirror(SUITE));
    let root = work.join("root");
    let debs = dest_dir.join("debs");
    std::fs::create_dir_all(&debs).map_err(|e| ImageBuildError::io("cannot create", &debs, e))?;

    progress(&format!("debootstrap {SUITE} from {mirror}"), 0.02);
    rootfs::debootstrap(tools, &root, &debs, &mirror, SUITE, &mut |line, f| progress(line, 0.02 + 0.68 * f)).await?;

    progress("setting up the guest system", 0.70);
    let root_uuid = crate::store::uuid_v4();
    let kernel = rootfs::configure(tools, &root, &root_uuid, &mirror, SUITE).await?;

    progress("writing the file system", 0.78);
    let raw = work.join("disk.raw");
    disk::make_filesystem(tools, &root, &raw, &root_uuid, options.size_gib).await?;

    progress("installing the boot loader (one boot of the new image)", 0.82);
    disk::install_boot_loader(tools, &raw, &root_uuid, &kernel, work).await?;

    progress("converting to qcow2", 0.93);
    disk::convert(tools, &raw, image).await?;

    Ok(ImageMetadata {
        name: DEBIAN_12.to_string(),
        recipe: RECIPE,
        suite: SUITE.to_string(),
        mirror,
        kernel: kernel.release,
        root_uuid,
        built: Utc::now(),
        build_seconds: 0,
    })
}
