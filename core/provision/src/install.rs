//! Where the library and its files go on an instance, and the command that puts them there.

use crate::quote::{checked, shell_quote};
use crate::{wmaic_library, ProvisionError, Stage, WmaicEnv};

/// The library; login shells and scripts source it.
pub const LIBRARY_PATH: &str = "/etc/profile.d/wmaic.sh";
/// The core's values ([`WmaicEnv::render`]); readable by every user, so never a secret.
pub const CORE_ENV_PATH: &str = "/etc/wmaic/core.env";
/// The instance's own secret (`WMAIC_SECRET`): made on the instance at install, root only (0600).
pub const SECRET_PATH: &str = "/etc/wmaic/secret";
/// The swarm files' folder.
pub const SWARM_DIR: &str = "/etc/wmaic/swarm";
/// The swarm's members ([`crate::Swarm::render`]); absent outside any swarm.
pub const SWARM_MEMBERS_PATH: &str = "/etc/wmaic/swarm/members.env";
/// The swarm's shared secret (`WMAIC_SWARM_ID`), root only (0600); see [`swarm_id_command`].
pub const SWARM_ID_PATH: &str = "/etc/wmaic/swarm/id";
/// The library's state: scripts registered for swarm updates, the firewall cloak (root only).
pub const STATE_DIR: &str = "/var/lib/wmaic";
/// Output of the scripts sent to the background (root and its group only).
pub const LOG_DIR: &str = "/var/log/wmaic";
/// The systemd unit that puts the firewall cloak back at boot.
pub const FIREWALL_UNIT_PATH: &str = "/etc/systemd/system/wmaic-firewall.service";

/// The unit at [`FIREWALL_UNIT_PATH`]: iptables rules do not survive a reboot, so the cloak a
/// script set with `wmaic_cloak_instance` (and the ports it opened) is applied again before the
/// network comes up. Without a recorded cloak it does nothing.
pub const FIREWALL_UNIT: &str = "\
[Unit]
Description=WMAIC firewall cloak (restores what wmaic_cloak_instance and wmaic_open_port set)
DefaultDependencies=no
After=local-fs.target
Before=network-pre.target
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/bash -c '. /etc/profile.d/wmaic.sh && _wmaic_core_firewall_restore'

[Install]
WantedBy=multi-user.target
";

/// How the core's command gets root on the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// The core logs in as root.
    Root,
    /// The core logs in as the image's user, which may use `sudo` without a password.
    Sudo,
}

impl Privilege {
    /// `bash -c SCRIPT`, through `sudo -n` when needed.
    pub fn wrap(self, script: &str) -> String {
        let bash = format!("bash -c {}", shell_quote(script));
        match self {
            Privilege::Root => bash,
            Privilege::Sudo => format!("sudo -n {bash}"),
        }
    }
}

/// Run on every member after the core rewrote the swarm files: the library reads its variables
/// again, applies the firewall cloak again (new members let in, gone ones out) and runs every
/// script registered with `wmaic_register_for_swarm_updates` with
/// `WMAIC_STAGE=swarm-update-action`. Their output is the command's; it fails if one failed.
///
/// Like every command here, it works inside `WMAIC_PREFIX` when that is set (for tests).
pub fn swarm_update_command(privilege: Privilege) -> String {
    privilege.wrap(&format!(". \"${{WMAIC_PREFIX:-}}{LIBRARY_PATH}\" && _wmaic_core_swarm_update"))
}

/// Writes the swarm's shared secret, read as one line from stdin, to [`SWARM_ID_PATH`] (0600):
/// use it with `Session::exec_with_secret`, so the secret is never in a command line or a file
/// the core writes elsewhere.
pub fn swarm_id_command(privilege: Privilege) -> String {
    privilege.wrap(&format!(
        "set -eu; root=${{WMAIC_PREFIX:-}}; umask 022; mkdir -p \"$root{SWARM_DIR}\"; umask 077; IFS= read -r id; \
         printf '%s\\n' \"$id\" >|\"$root{SWARM_ID_PATH}.tmp\"; mv -f \"$root{SWARM_ID_PATH}.tmp\" \"$root{SWARM_ID_PATH}\"; sync"
    ))
}

/// The command that runs a UDS script in a set-up stage: `WMAIC_STAGE=... exec bash SCRIPT
/// ARGS...` for scripts of type `bash`; a script of another type runs as a program, so its `#!`
/// line chooses the interpreter. Every word is quoted. Wrap it with [`Privilege::wrap`] to run it
/// as root.
pub fn uds_command(stage: Stage, script_type: &str, script: &str, args: &[String]) -> Result<String, ProvisionError> {
    let mut words = vec![format!("WMAIC_STAGE={}", stage.as_str()), "exec".into()];
    if script_type == "bash" {
        words.push("bash".into());
    }
    words.push(checked("script", script)?);
    for arg in args {
        words.push(checked("script argument", arg)?);
    }
    Ok(words.join(" "))
}

/// One file the install command writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallFile {
    pub path: &'static str,
    pub mode: u32,
    pub content: Vec<u8>,
}

/// Installs (or updates) the library and the core's files on an instance in one command that
/// reads the files from its stdin:
///
/// ```text
/// let plan = InstallPlan::instance(&env)?;
/// session.exec(&plan.command(Privilege::Sudo), Some(&plan.stdin())).await?
/// ```
///
/// Every file is read completely before any is replaced, and each is replaced in one step (a
/// new file renamed over the old), so an interrupted install leaves the old files. The command
/// also makes the instance's secret (once), the state and log folders, and enables the
/// firewall unit where systemd runs. It may run again at any time: that is how the core updates
/// the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallPlan {
    files: Vec<InstallFile>,
    /// Files to delete (the swarm files of an instance outside any swarm).
    remove: Vec<&'static str>,
}

impl InstallPlan {
    /// Everything an instance needs: the library, [`CORE_ENV_PATH`], the swarm's members (or no
    /// swarm files when `env.swarm` is `None`) and the firewall unit.
    pub fn instance(env: &WmaicEnv) -> Result<Self, ProvisionError> {
        let mut files = vec![
            InstallFile { path: LIBRARY_PATH, mode: 0o644, content: wmaic_library().as_bytes().to_vec() },
            InstallFile { path: CORE_ENV_PATH, mode: 0o644, content: env.render()?.into_bytes() },
            InstallFile { path: FIREWALL_UNIT_PATH, mode: 0o644, content: FIREWALL_UNIT.as_bytes().to_vec() },
        ];
        let mut remove = Vec::new();
        match &env.swarm {
            Some(swarm) => {
                files.push(InstallFile { path: SWARM_MEMBERS_PATH, mode: 0o644, content: swarm.render()?.into_bytes() })
            }
            None => remove.extend([SWARM_MEMBERS_PATH, SWARM_ID_PATH]),
        }
        Ok(InstallPlan { files, remove })
    }

    /// The files, in the order the command reads them from stdin.
    pub fn files(&self) -> &[InstallFile] {
        &self.files
    }

    /// The bash script of the command. When `WMAIC_PREFIX` is set in its environment, every path
    /// is taken inside that folder and systemd is left alone (the tests install that way).
    pub fn script(&self) -> String {
        let mut s = String::from(
            r#"set -eu
umask 022
root=${WMAIC_PREFIX:-}
tmps=""
trap 'rm -f $tmps' EXIT
# take PATH MODE BYTES: the next BYTES bytes of stdin into a new file beside PATH.
take() {
    dir=$(dirname "$root$1")
    mkdir -p "$dir"
    tmp=$(mktemp "$dir/.wmaic-install.XXXXXX")
    tmps="$tmps $tmp"
    head -c "$3" >"$tmp"
    got=$(wc -c <"$tmp")
    if [ "$got" -ne "$3" ]; then
        echo "wmaic install: $1: stdin ended after $got of $3 bytes" >&2
        exit 1
    fi
    chmod "$2" "$tmp"
    eval "new_$4=\$tmp"
}
"#,
        );
        for (i, file) in self.files.iter().enumerate() {
            s.push_str(&format!("take {} {:04o} {} {i}\n", file.path, file.mode, file.content.len()));
        }
        s.push_str("bash -n \"$new_0\" || { echo 'wmaic install: the library does not parse' >&2; exit 1; }\n");
        for (i, file) in self.files.iter().enumerate() {
            s.push_str(&format!("mv -f \"$new_{i}\" \"$root{}\"\n", file.path));
        }
        for path in &self.remove {
            s.push_str(&format!("rm -f \"$root{path}\"\n"));
        }
        s.push_str(&format!(
            r#"chmod 0755 "$root/etc/wmaic"
mkdir -p "$root{STATE_DIR}" "$root{LOG_DIR}"
chmod 0700 "$root{STATE_DIR}"
chmod 0750 "$root{LOG_DIR}"
# The instance's own secret: 16 random bytes in hex, made here once, readable by root only.
if [ ! -s "$root{SECRET_PATH}" ]; then
    (
        umask 077
        od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$root{SECRET_PATH}.tmp"
        echo >>"$root{SECRET_PATH}.tmp"
        mv -f "$root{SECRET_PATH}.tmp" "$root{SECRET_PATH}"
    )
fi
# On disk now: the core may reset the instance next.
sync
if [ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload
    systemctl enable --quiet wmaic-firewall.service
fi
echo "wmaic: library {LIBRARY_PATH} installed"
"#
        ));
        s
    }

    /// The command to run on the instance (over SSH), with its stdin from [`InstallPlan::stdin`].
    pub fn command(&self, privilege: Privilege) -> String {
        privilege.wrap(&self.script())
    }

    /// The files' contents, one after the other, for the command's stdin.
    pub fn stdin(&self) -> Vec<u8> {
        self.files.iter().flat_map(|f| f.content.iter().copied()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_comes_first_and_is_the_embedded_one() {
        let plan = InstallPlan::instance(&WmaicEnv::default()).unwrap();
        assert_eq!(plan.files()[0].path, LIBRARY_PATH);
        assert!(plan.stdin().starts_with(wmaic_library().as_bytes()));
        assert!(plan.script().contains("rm -f \"$root/etc/wmaic/swarm/members.env\""));
    }

    #[test]
    fn wraps_for_sudo() {
        assert_eq!(Privilege::Sudo.wrap("echo 'x'"), "sudo -n bash -c 'echo '\\''x'\\'''");
        assert_eq!(Privilege::Root.wrap("true"), "bash -c 'true'");
    }

    #[test]
    fn uds_commands_quote_every_word() {
        let cmd =
            uds_command(Stage::PostDataTransfer, "bash", "/root/a b.sh", &["-p".into(), "it's $x".into()]).unwrap();
        assert_eq!(cmd, "WMAIC_STAGE=post-data-transfer exec bash '/root/a b.sh' '-p' 'it'\\''s $x'");
        assert!(uds_command(Stage::PostDataTransfer, "bash", "x", &["\0".into()]).is_err());
    }
}
