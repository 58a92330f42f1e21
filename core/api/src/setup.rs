//! The "Setup" tab of the create-instance dialog (manual 7.3.2): updates, software packages,
//! services, a user with a password, and whether the core provisions the instance at all.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What the core does inside a new instance after it booted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    /// Configure the instance over SSH at all (default on). Off gives a bare instance: running
    /// once the cloud says so, nothing installed, nothing checked inside.
    #[serde(default = "yes")]
    pub provision: bool,
    /// Install the system updates.
    #[serde(default)]
    pub update: bool,
    /// With `update`: reboot when a new kernel was installed (otherwise WMAIC_REBOOT_REQUIRED is set).
    #[serde(default)]
    pub reboot: bool,
    /// `name[:install|:uninstall][:package|:group]`, comma separated.
    #[serde(default)]
    pub packages: String,
    /// `name:start|stop`, comma separated.
    #[serde(default)]
    pub services: String,
    /// A user to create (or whose password to change) inside the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<SetupUser>,
    /// User defined scripts (manual 6.6) run at the end of the set-up, in sequence order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<ScriptRun>,
    /// Data uploaded from the owner's data directory on the core once the storage is mounted
    /// (7.3.2 "Data Synchronization"), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_upload: Vec<DataUpload>,
}

/// One user defined script to run on the new instances (the "UDS" table of the Setup tab).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptRun {
    /// Scripts run in ascending sequence order (leave gaps to insert more later).
    pub sequence: u32,
    /// A script the launching user may use (own, shared, or shared with a group they are in).
    pub script_id: i64,
    /// Call parameters, split like a shell does (quotes group words): `-f "/mnt/data/my file"`.
    /// Empty means the script's default parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<String>,
}

/// One upload at launch: `source` in the owner's data directory on the core (a full path inside
/// it or a path relative to it; a trailing `/` means its contents), `target` a directory on the
/// instance — best the encrypted volume's mount point or a directory in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataUpload {
    pub source: String,
    pub target: String,
}

fn yes() -> bool {
    true
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            provision: true,
            update: false,
            reboot: false,
            packages: String::new(),
            services: String::new(),
            user: None,
            scripts: Vec::new(),
            data_upload: Vec::new(),
        }
    }
}

/// A user and password for inside the instance. The password is sealed by the core at once and
/// never returned.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupUser {
    pub name: String,
    pub password: String,
}

impl std::fmt::Debug for SetupUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupUser").field("name", &self.name).field("password", &"<redacted>").finish()
    }
}

/// Why a package or service list was refused, with the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{part:?}: {reason}")]
pub struct SpecError {
    pub part: String,
    pub reason: String,
}

fn err(part: &str, reason: impl Into<String>) -> SpecError {
    SpecError { part: part.to_owned(), reason: reason.into() }
}

/// One entry of the software package list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageAction {
    pub name: String,
    /// Install (the default) or uninstall.
    pub install: bool,
    /// A package group (yum/dnf groups, zypper patterns) rather than a package.
    pub group: bool,
}

/// A package or group name: what package managers accept, and nothing a shell would act on.
fn check_name(part: &str, name: &str, spaces: bool) -> Result<(), SpecError> {
    if name.is_empty() || name.len() > 128 {
        return Err(err(part, "the name is empty or longer than 128 characters"));
    }
    let ok = name.chars().all(|c| c.is_ascii_alphanumeric() || "+-._@".contains(c) || (spaces && c == ' '));
    if !ok || name.starts_with('-') {
        return Err(err(part, "a name has letters, digits and + - . _ @ only (group names may have spaces)"));
    }
    Ok(())
}

/// Parses `screen, mc, cups:uninstall, Development Tools:group` (manual 7.3.2): install and
/// package are the defaults; the options may come in any order.
pub fn parse_packages(spec: &str) -> Result<Vec<PackageAction>, SpecError> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut pieces = part.split(':').map(str::trim);
        let name = pieces.next().unwrap_or_default();
        let (mut install, mut group) = (None, None);
        for opt in pieces {
            let (slot, value) = match opt.to_ascii_lowercase().as_str() {
                "install" => (&mut install, true),
                "uninstall" => (&mut install, false),
                "group" => (&mut group, true),
                "package" => (&mut group, false),
                other => {
                    return Err(err(part, format!("unknown option {other:?}: install, uninstall, package or group")));
                }
            };
            if slot.replace(value).is_some() {
                return Err(err(part, "an option is given twice"));
            }
        }
        let group = group.unwrap_or(false);
        check_name(part, name, group)?;
        out.push(PackageAction { name: name.to_owned(), install: install.unwrap_or(true), group });
    }
    Ok(out)
}

/// One entry of the service list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAction {
    pub name: String,
    /// Start and enable, or stop and disable.
    pub start: bool,
}

/// Parses `sshd:start, cupsd:stop` (manual 7.3.2).
pub fn parse_services(spec: &str) -> Result<Vec<ServiceAction>, SpecError> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, action) = part.split_once(':').ok_or_else(|| err(part, "write it as name:start or name:stop"))?;
        let (name, action) = (name.trim(), action.trim());
        check_name(part, name, false)?;
        let start = match action.to_ascii_lowercase().as_str() {
            "start" => true,
            "stop" => false,
            other => return Err(err(part, format!("unknown action {other:?}: start or stop"))),
        };
        out.push(ServiceAction { name: name.to_owned(), start });
    }
    Ok(out)
}

/// A user name inside an instance: what `useradd` accepts on every supported distribution.
pub fn check_user_name(name: &str) -> Result<(), SpecError> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !ok {
        return Err(err(name, "a user name is 1 to 32 lower-case letters, digits, '_' or '-', starting with a letter"));
    }
    Ok(())
}

/// Splits script parameters into words the way a shell does for plain words: blanks separate
/// words; single quotes keep everything literally; double quotes keep blanks and allow `\"` and
/// `\\`; a backslash outside quotes keeps the next character. Nothing is expanded: `$HOME` stays
/// `$HOME`. Unclosed quotes, line breaks and NUL are refused.
pub fn parse_parameters(spec: &str) -> Result<Vec<String>, SpecError> {
    if spec.len() > 4096 {
        return Err(err(spec, "the parameters are longer than 4096 characters"));
    }
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = spec.chars();
    while let Some(c) = chars.next() {
        match c {
            '\0' | '\n' | '\r' => return Err(err(spec, "parameters are one line without NUL characters")),
            ' ' | '\t' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(err(spec, "a single quote is not closed")),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err(err(spec, "a double quote is not closed")),
                        },
                        Some(c) => w.push(c),
                        None => return Err(err(spec, "a double quote is not closed")),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err(err(spec, "a backslash ends the parameters")),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        words.push(w);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_follow_the_manual() {
        let p =
            parse_packages("screen, mc, cups:uninstall, Development Tools:group, Development Libraries:group").unwrap();
        assert_eq!(p.len(), 5);
        assert_eq!(p[0], PackageAction { name: "screen".into(), install: true, group: false });
        assert_eq!(p[2], PackageAction { name: "cups".into(), install: false, group: false });
        assert_eq!(p[3], PackageAction { name: "Development Tools".into(), install: true, group: true });
        let p = parse_packages("nginx:package:install, vim:UNINSTALL:package, base:group:uninstall").unwrap();
        assert_eq!(
            p.iter().map(|a| (a.install, a.group)).collect::<Vec<_>>(),
            [(true, false), (false, false), (false, true)]
        );
        assert!(parse_packages("").unwrap().is_empty());
        assert!(parse_packages(" , ,").unwrap().is_empty());
    }

    #[test]
    fn bad_packages_name_the_part() {
        for (spec, part) in [
            ("vim:remove", "vim:remove"),
            ("vim:install:uninstall", "vim:install:uninstall"),
            ("ok, rm -rf /", "rm -rf /"),
            ("a;b", "a;b"),
            ("$(reboot)", "$(reboot)"),
            ("-y", "-y"),
            (":install", ":install"),
        ] {
            let e = parse_packages(spec).unwrap_err();
            assert_eq!(e.part, part, "{spec}: {e}");
        }
    }

    #[test]
    fn services_follow_the_manual() {
        let s = parse_services("sshd:start, cupsd:stop").unwrap();
        assert_eq!(
            s,
            [ServiceAction { name: "sshd".into(), start: true }, ServiceAction { name: "cupsd".into(), start: false }]
        );
        for bad in ["sshd", "sshd:restart", "a b:start", "x;y:stop"] {
            assert!(parse_services(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_names() {
        for ok in ["bob", "_svc", "web-1", "a23456789012345678901234567890ab"] {
            assert!(check_user_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Bob", "1bob", "bob smith", "root;", "a234567890123456789012345678901234"] {
            assert!(check_user_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_stay_out_of_debug() {
        let u = SetupUser { name: "bob".into(), password: "hunter2-secret".into() };
        assert!(!format!("{u:?}").contains("hunter2"));
    }

    #[test]
    fn parameters_split_like_a_shell() {
        assert_eq!(parse_parameters("").unwrap(), Vec::<String>::new());
        assert_eq!(parse_parameters("  -f /mnt/data/myEnv.cfg ").unwrap(), vec!["-f", "/mnt/data/myEnv.cfg"]);
        assert_eq!(
            parse_parameters(r#"-m "hello world" 'it''s' a\ b "q\"x" $HOME ''"#).unwrap(),
            vec!["-m", "hello world", "its", "a b", "q\"x", "$HOME", ""]
        );
        assert_eq!(parse_parameters(r#""a\nb""#).unwrap(), vec![r"a\nb"]);
        for bad in ["'open", "\"open", "x\\", "a\nb", "a\0b"] {
            assert!(parse_parameters(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn provisioning_is_on_by_default() {
        let s: Setup = serde_json::from_str("{}").unwrap();
        assert!(s.provision && !s.update);
    }
}
