//! The shell commands provisioning runs inside an instance, per distribution family. Everything a
//! user typed reaches the shell only through `quote` (and was checked by the parsers first);
//! secrets reach it only on stdin.

use wintermute_api::setup::{PackageAction, ServiceAction};

/// Quotes a value for POSIX `sh`.
pub(crate) fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

/// The distribution families the manual supports, and their package managers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PackageManager {
    Apt,
    Dnf,
    Yum,
    Zypper,
}

/// What `/etc/os-release` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OsInfo {
    /// `ID`, e.g. `debian`.
    pub id: String,
    /// `PRETTY_NAME`, for the log.
    pub pretty: String,
    pub manager: PackageManager,
}

fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').trim_matches('\'').to_owned())
    })
}

/// Reads `/etc/os-release`: Debian/Ubuntu use apt, Fedora and RHEL 8+ families dnf, older RHEL
/// and CentOS yum, SLES/openSUSE zypper. `has_dnf` says whether `dnf` is on the machine.
pub(crate) fn detect(os_release: &str, has_dnf: bool) -> Result<OsInfo, String> {
    let id = field(os_release, "ID").unwrap_or_default().to_ascii_lowercase();
    let like = field(os_release, "ID_LIKE").unwrap_or_default().to_ascii_lowercase();
    let pretty = field(os_release, "PRETTY_NAME").unwrap_or_else(|| id.clone());
    let family = |names: &[&str]| names.iter().any(|n| id == *n || like.split_whitespace().any(|l| l == *n));
    let manager = if family(&["debian", "ubuntu"]) {
        PackageManager::Apt
    } else if family(&["suse", "sles", "opensuse"]) || id.starts_with("opensuse") {
        PackageManager::Zypper
    } else if family(&["fedora", "rhel", "centos"]) {
        if has_dnf {
            PackageManager::Dnf
        } else {
            PackageManager::Yum
        }
    } else {
        return Err(format!(
            "unsupported operating system {pretty:?} (ID={id}); supported are Debian, Ubuntu, RHEL, CentOS, Fedora and SLES"
        ));
    };
    Ok(OsInfo { id, pretty, manager })
}

/// Runs `script` as root: directly when the login user is root, through `sudo -n` otherwise.
pub(crate) fn as_root(root: bool, script: &str) -> String {
    if root {
        format!("sh -c {}", quote(script))
    } else {
        format!("sudo -n sh -c {}", quote(script))
    }
}

const APT_ENV: &str = "DEBIAN_FRONTEND=noninteractive";

/// Installs the system updates.
/// Replaces `/etc/apt/sources.list` with stdin and sets the other source files aside (renamed,
/// so an administrator can see what was there).
pub(crate) const APT_SOURCES: &str = "set -e; cat >/etc/apt/sources.list.wintermute; \
     for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do \
     if [ -e \"$f\" ]; then mv -f \"$f\" \"$f.set-aside\"; fi; done; \
     mv -f /etc/apt/sources.list.wintermute /etc/apt/sources.list";

pub(crate) fn update(pm: PackageManager) -> String {
    match pm {
        PackageManager::Apt => format!(
            "{APT_ENV} apt-get update -q && {APT_ENV} apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold dist-upgrade"
        ),
        PackageManager::Dnf => "dnf -y -q upgrade".into(),
        PackageManager::Yum => "yum -y -q update".into(),
        PackageManager::Zypper => "zypper --non-interactive --quiet update".into(),
    }
}

/// Exit 0 when a newer kernel than the running one is installed (a reboot would boot it).
pub(crate) const NEW_KERNEL_CHECK: &str =
    "running=$(uname -r); newest=$(ls /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V | tail -n 1); \
     test -n \"$newest\" && test \"$newest\" != \"$running\"";

/// Installs and removes packages and groups, in the order given, one command per run of the
/// same kind so a failure names what failed.
pub(crate) fn packages(pm: PackageManager, actions: &[PackageAction]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut refreshed = false;
    for a in actions {
        let name = quote(&a.name);
        let what = format!(
            "{} {} {}",
            if a.install { "install" } else { "remove" },
            if a.group { "group" } else { "package" },
            a.name
        );
        let cmd = match (pm, a.install, a.group) {
            (PackageManager::Apt, install, _) => {
                // apt has no groups; a "group" is a task or a meta-package name.
                let refresh = if install && !refreshed {
                    refreshed = true;
                    format!("{APT_ENV} apt-get update -q && ")
                } else {
                    String::new()
                };
                if install {
                    format!("{refresh}{APT_ENV} apt-get install -y -q {name}")
                } else {
                    format!("{APT_ENV} apt-get remove -y -q {name}")
                }
            }
            (PackageManager::Dnf, true, false) => format!("dnf -y -q install {name}"),
            (PackageManager::Dnf, false, false) => format!("dnf -y -q remove {name}"),
            (PackageManager::Dnf, true, true) => format!("dnf -y -q group install {name}"),
            (PackageManager::Dnf, false, true) => format!("dnf -y -q group remove {name}"),
            (PackageManager::Yum, true, false) => format!("yum -y -q install {name}"),
            (PackageManager::Yum, false, false) => format!("yum -y -q remove {name}"),
            (PackageManager::Yum, true, true) => format!("yum -y -q groupinstall {name}"),
            (PackageManager::Yum, false, true) => format!("yum -y -q groupremove {name}"),
            (PackageManager::Zypper, true, false) => format!("zypper --non-interactive install {name}"),
            (PackageManager::Zypper, false, false) => format!("zypper --non-interactive remove {name}"),
            (PackageManager::Zypper, true, true) => format!("zypper --non-interactive install -t pattern {name}"),
            (PackageManager::Zypper, false, true) => format!("zypper --non-interactive remove -t pattern {name}"),
        };
        out.push((what, cmd));
    }
    out
}

/// `start`: start now and at every boot; `stop`: stop now and not at boot.
pub(crate) fn service(a: &ServiceAction) -> (String, String) {
    let name = quote(&a.name);
    if a.start {
        (format!("start and enable {}", a.name), format!("systemctl enable --now {name}"))
    } else {
        (format!("stop and disable {}", a.name), format!("systemctl disable --now {name}"))
    }
}

/// Creates the user when missing and sets its password, read as `name:password` from stdin (never
/// from the command line). Password logins over SSH are switched on for this user only.
pub(crate) fn user(name: &str) -> String {
    let n = quote(name);
    format!(
        "id -u {n} >/dev/null 2>&1 || useradd -m -s /bin/bash {n}; chpasswd && \
         mkdir -p /etc/ssh/sshd_config.d && \
         printf 'Match User %s\\n    PasswordAuthentication yes\\n' {n} > /etc/ssh/sshd_config.d/60-wintermute-{name}.conf && \
         (systemctl reload ssh 2>/dev/null || systemctl reload sshd 2>/dev/null || true)"
    )
}

/// The core's SSH key is the only way in: no password logins, no root password logins
/// (manual 3.7). Users added by `user` get their own exception.
pub(crate) const HARDEN_SSH: &str = "mkdir -p /etc/ssh/sshd_config.d && \
     printf 'PasswordAuthentication no\\nKbdInteractiveAuthentication no\\nPermitRootLogin prohibit-password\\n' > /etc/ssh/sshd_config.d/10-wintermute.conf && \
     (grep -q '^Include /etc/ssh/sshd_config.d' /etc/ssh/sshd_config || sed -i '1i Include /etc/ssh/sshd_config.d/*.conf' /etc/ssh/sshd_config) && \
     (systemctl reload ssh 2>/dev/null || systemctl reload sshd 2>/dev/null || true)";

/// Finds the block device of a volume among `candidates` (the first that exists), printed on stdout.
pub(crate) fn find_device(candidates: &[String]) -> String {
    let list: Vec<String> = candidates.iter().map(|c| quote(c)).collect();
    format!(
        "for i in $(seq 1 60); do for d in {}; do if [ -b \"$d\" ]; then readlink -f \"$d\"; exit 0; fi; done; sleep 1; done; \
         echo 'the volume did not appear as a block device' >&2; exit 1",
        list.join(" ")
    )
}

/// The device-mapper name of an opened encrypted volume.
pub(crate) fn mapper_name(volume_id: i64) -> String {
    format!("wm-vol{volume_id}")
}

/// Formats a new encrypted volume (LUKS2) with the passphrase read from stdin; a volume that is
/// LUKS already (a reused one) is left as it is. No key file is ever written.
pub(crate) fn luks_format(device: &str) -> String {
    let dev = quote(device);
    format!(
        "cryptsetup isLuks {dev} || cryptsetup luksFormat --type luks2 --batch-mode --pbkdf argon2id --iter-time 1000 --key-file=- {dev}"
    )
}

/// Opens an encrypted volume with the passphrase read from stdin (nothing to do when it is open).
pub(crate) fn luks_open(device: &str, volume_id: i64) -> String {
    let (dev, mapper) = (quote(device), mapper_name(volume_id));
    format!("[ -e /dev/mapper/{mapper} ] || cryptsetup open --key-file=- {dev} {mapper}")
}

/// Makes a file system on an opened encrypted volume when it has none, and mounts it. Not in
/// fstab: after a reboot the volume stays locked until "Mount Storage".
pub(crate) fn mount_opened(volume_id: i64, mount_point: &str) -> String {
    let (mapper, mnt) = (mapper_name(volume_id), quote(mount_point));
    format!(
        "set -e; blkid /dev/mapper/{mapper} >/dev/null 2>&1 || mkfs.ext4 -q /dev/mapper/{mapper}; \
         mkdir -p {mnt}; mountpoint -q {mnt} || mount /dev/mapper/{mapper} {mnt}"
    )
}

/// Makes a file system on a plain volume when there is none, and mounts it (also at boot).
pub(crate) fn mount_plain(device: &str, mount_point: &str) -> String {
    let (dev, mnt) = (quote(device), quote(mount_point));
    format!(
        "set -e; blkid {dev} >/dev/null 2>&1 || mkfs.ext4 -q {dev}; mkdir -p {mnt}; mountpoint -q {mnt} || mount {dev} {mnt}; \
         uuid=$(blkid -s UUID -o value {dev}); grep -q \"$uuid\" /etc/fstab || echo \"UUID=$uuid {mount_point} ext4 defaults,nofail 0 2\" >> /etc/fstab"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wintermute_api::setup::{parse_packages, parse_services};

    #[test]
    fn families() {
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n";
        assert_eq!(detect(debian, false).unwrap().manager, PackageManager::Apt);
        let ubuntu = "NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\n";
        assert_eq!(detect(ubuntu, false).unwrap().manager, PackageManager::Apt);
        let rhel = "ID=\"rhel\"\nID_LIKE=\"fedora\"\nPRETTY_NAME=\"Red Hat Enterprise Linux 9\"";
        assert_eq!(detect(rhel, true).unwrap().manager, PackageManager::Dnf);
        let centos7 = "ID=\"centos\"\nID_LIKE=\"rhel fedora\"";
        assert_eq!(detect(centos7, false).unwrap().manager, PackageManager::Yum);
        let sles = "ID=\"sles\"\nID_LIKE=\"suse\"";
        assert_eq!(detect(sles, false).unwrap().manager, PackageManager::Zypper);
        let e = detect("ID=plan9\n", false).unwrap_err();
        assert!(e.contains("plan9") && e.contains("Debian"), "{e}");
    }

    #[test]
    fn quoting_is_shell_safe() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote("a'b $(x) `y` \"z\"")))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a'b $(x) `y` \"z\"");
    }

    #[test]
    fn package_commands_per_manager() {
        let a = parse_packages("screen, cups:uninstall, Development Tools:group").unwrap();
        let apt = packages(PackageManager::Apt, &a);
        assert!(apt[0].1.contains("apt-get update") && apt[0].1.contains("apt-get install -y -q 'screen'"), "{apt:?}");
        assert!(apt[1].1.contains("apt-get remove -y -q 'cups'"));
        let dnf = packages(PackageManager::Dnf, &a);
        assert_eq!(dnf[2].1, "dnf -y -q group install 'Development Tools'");
        let yum = packages(PackageManager::Yum, &a);
        assert_eq!(yum[2].1, "yum -y -q groupinstall 'Development Tools'");
        let z = packages(PackageManager::Zypper, &a);
        assert_eq!(z[1].1, "zypper --non-interactive remove 'cups'");
        let s = parse_services("sshd:start, cupsd:stop").unwrap();
        assert_eq!(service(&s[0]).1, "systemctl enable --now 'sshd'");
        assert_eq!(service(&s[1]).1, "systemctl disable --now 'cupsd'");
    }

    #[test]
    fn root_or_sudo() {
        assert_eq!(as_root(true, "id -u"), "sh -c 'id -u'");
        assert_eq!(as_root(false, "echo 'x'"), r"sudo -n sh -c 'echo '\''x'\'''");
    }
}
