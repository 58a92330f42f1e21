//! The guest's file system tree: debootstrap, then the set-up that makes it a cloud-style image.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use super::command::{run, run_lines};
use super::{ImageBuildError, Tools, LOGIN_USER};

/// The packages on top of minbase.
pub(super) const PACKAGES: &[&str] = &[
    "openssh-server",
    "cryptsetup",
    "iptables",
    "rsync",
    "linux-image-amd64",
    "systemd-sysv",
    "udev",
    "dbus",
    "sudo",
    "iproute2",
    "kmod",
    "ca-certificates",
    "iputils-ping",
    "extlinux",
];

/// About how many lines debootstrap prints for this package set (for the progress fraction).
const DEBOOTSTRAP_LINES: f64 = 750.0;

/// The modules in the initrd: enough to mount an ext4 root on a virtio disk.
const INITRD_MODULES: &str = "virtio_pci\nvirtio_blk\next4\ncrc32c_generic\n";

/// Units that would only slow a lab guest down or block its boot: the APT and file system
/// maintenance timers, and the interactive first-boot questions systemd asks on a console
/// when the machine id is empty (as it is in this image).
const MASKED_UNITS: &[&str] = &[
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "systemd-firstboot.service",
    "systemd-networkd-wait-online.service",
];

const FIRSTBOOT: &str = include_str!("guest/firstboot.sh");
const FIRSTBOOT_UNIT: &str = include_str!("guest/wintermute-firstboot.service");
const IMAGE_FINISH: &str = include_str!("guest/image-finish.sh");
const SSHD_CONF: &str = include_str!("guest/sshd.conf");
const DHCP_NETWORK: &str = include_str!("guest/dhcp.network");

/// Where the image-finish script is inside the guest (the kernel's `init=`).
pub(super) const IMAGE_FINISH_PATH: &str = "/usr/lib/wintermute/image-finish";

/// The kernel installed in the tree.
#[derive(Debug, Clone)]
pub(super) struct Kernel {
    /// E.g. `6.1.0-28-amd64`.
    pub release: String,
    pub vmlinuz: PathBuf,
    pub initrd: PathBuf,
}

/// Runs debootstrap into `root`, reporting its `I:` lines with the fraction done (0 to 1).
pub(super) async fn debootstrap(
    tools: &Tools,
    root: &Path,
    debs: &Path,
    mirror: &str,
    suite: &str,
    progress: &mut (dyn FnMut(&str, f64) + Send),
) -> Result<(), ImageBuildError> {
    let mut cmd = Command::new(&tools.debootstrap);
    cmd.arg("--variant=minbase")
        .arg(format!("--include={}", PACKAGES.join(",")))
        .arg(format!("--cache-dir={}", debs.display()))
        .arg(suite)
        .arg(root)
        .arg(mirror)
        .env("LC_ALL", "C")
        .env("DEBIAN_FRONTEND", "noninteractive");
    let mut lines = 0.0;
    let mut on_line = |line: &str| {
        lines += 1.0;
        if let Some(info) = line.strip_prefix("I: ") {
            progress(&format!("debootstrap: {info}"), (lines / DEBOOTSTRAP_LINES).min(0.99));
        }
    };
    run_lines("debootstrap", &mut cmd, Duration::from_secs(30 * 60), &mut on_line).await
}

fn write(root: &Path, path: &str, text: &str, mode: u32) -> Result<(), ImageBuildError> {
    let file = root.join(path.trim_start_matches('/'));
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ImageBuildError::io("cannot create", dir, e))?;
    }
    // Replace, never write through: the tree's /etc/resolv.conf may be a symlink to the host's.
    let _ = std::fs::remove_file(&file);
    std::fs::write(&file, text).map_err(|e| ImageBuildError::io("cannot write", &file, e))?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode))
        .map_err(|e| ImageBuildError::io("cannot set the mode of", &file, e))
}

async fn in_chroot(tools: &Tools, root: &Path, step: &str, args: &[&str]) -> Result<(), ImageBuildError> {
    let mut cmd = Command::new(&tools.chroot);
    cmd.arg(root)
        .args(args)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C")
        .env("DEBIAN_FRONTEND", "noninteractive");
    run(step, &mut cmd, Duration::from_secs(10 * 60)).await
}

/// Removes the files in `dir` whose names satisfy `matches`.
fn remove_files(dir: &Path, matches: impl Fn(&str) -> bool) -> Result<(), ImageBuildError> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.filter_map(Result::ok) {
        let is_file = entry.file_type().is_ok_and(|t| !t.is_dir());
        if is_file && matches(&entry.file_name().to_string_lossy()) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| ImageBuildError::io("cannot remove", &path, e))?;
        }
    }
    Ok(())
}

/// Makes the tree a cloud-style image (see the module docs of `image`) and returns its kernel.
pub(super) async fn configure(
    tools: &Tools,
    root: &Path,
    root_uuid: &str,
    mirror: &str,
    suite: &str,
) -> Result<Kernel, ImageBuildError> {
    write(root, "etc/initramfs-tools/conf.d/wintermute.conf", "MODULES=list\nCOMPRESS=gzip\n", 0o644)?;
    write(root, "etc/initramfs-tools/modules", INITRD_MODULES, 0o644)?;
    write(root, "etc/fstab", &format!("UUID={root_uuid} / ext4 errors=remount-ro 0 1\n"), 0o644)?;
    write(root, "etc/hostname", "debian\n", 0o644)?;
    write(
        root,
        "etc/hosts",
        "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        0o644,
    )?;
    // QEMU user networking's DNS forwarder.
    write(root, "etc/resolv.conf", "nameserver 10.0.2.3\n", 0o644)?;
    let sources = format!(
        "deb {mirror} {suite} main\ndeb {mirror} {suite}-updates main\n\
         deb http://security.debian.org/debian-security {suite}-security main\n"
    );
    write(root, "etc/apt/sources.list", &sources, 0o644)?;
    let extlinux = format!(
        "DEFAULT debian\nPROMPT 0\nTIMEOUT 0\n\nLABEL debian\n  LINUX /vmlinuz\n  INITRD /initrd.img\n  \
         APPEND root=UUID={root_uuid} ro console=ttyS0,115200 net.ifnames=0 panic=10 quiet\n"
    );
    write(root, "boot/extlinux/extlinux.conf", &extlinux, 0o644)?;
    write(root, "usr/lib/wintermute/firstboot", FIRSTBOOT, 0o755)?;
    write(root, IMAGE_FINISH_PATH, IMAGE_FINISH, 0o755)?;
    write(root, "etc/systemd/system/wintermute-firstboot.service", FIRSTBOOT_UNIT, 0o644)?;
    write(root, "etc/ssh/sshd_config.d/50-wintermute.conf", SSHD_CONF, 0o644)?;
    write(root, "etc/systemd/network/90-dhcp.network", DHCP_NETWORK, 0o644)?;
    write(root, &format!("etc/sudoers.d/90-{LOGIN_USER}"), &format!("{LOGIN_USER} ALL=(ALL) NOPASSWD:ALL\n"), 0o440)?;

    // `*`: no password at all (not "locked", which some sshd set-ups refuse even for keys).
    in_chroot(
        tools,
        root,
        "adding the login user",
        &["useradd", "-m", "-s", "/bin/bash", "-p", "*", "-G", "sudo", LOGIN_USER],
    )
    .await?;
    in_chroot(
        tools,
        root,
        "enabling units",
        &["systemctl", "enable", "wintermute-firstboot.service", "systemd-networkd.service"],
    )
    .await?;
    let mut mask = vec!["systemctl", "mask"];
    mask.extend(MASKED_UNITS);
    in_chroot(tools, root, "masking units", &mask).await?;
    in_chroot(tools, root, "making the initrd", &["update-initramfs", "-u", "-k", "all"]).await?;
    in_chroot(tools, root, "cleaning the package cache", &["apt-get", "clean"]).await?;

    // Per instance, never shared: host keys and the machine id are made at first boot.
    remove_files(&root.join("etc/ssh"), |n| n.starts_with("ssh_host_"))?;
    write(root, "etc/machine-id", "", 0o444)?;
    let _ = std::fs::remove_file(root.join("var/lib/dbus/machine-id"));
    remove_files(&root.join("var/lib/apt/lists"), |n| n != "lock")?;
    remove_files(&root.join("var/cache/apt"), |n| n.ends_with(".bin"))?;

    kernel(root)
}

/// The kernel `/vmlinuz` points at, and its initrd.
fn kernel(root: &Path) -> Result<Kernel, ImageBuildError> {
    let link = root.join("vmlinuz");
    let target = std::fs::read_link(&link).map_err(|e| ImageBuildError::io("no kernel link", &link, e))?;
    let target = target.strip_prefix("/").unwrap_or(&target);
    let vmlinuz = root.join(target);
    let release = vmlinuz
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("vmlinuz-"))
        .ok_or_else(|| ImageBuildError::step("finding the kernel", format!("/vmlinuz points at {}", target.display())))?
        .to_string();
    let initrd = root.join("boot").join(format!("initrd.img-{release}"));
    if !vmlinuz.is_file() || !initrd.is_file() {
        return Err(ImageBuildError::step("finding the kernel", format!("no kernel and initrd for {release}")));
    }
    Ok(Kernel { release, vmlinuz, initrd })
}
