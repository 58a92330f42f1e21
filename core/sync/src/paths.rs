//! Paths of a transfer: the user's data root on the core, the paths users type (full or relative
//! to the root, rsync's trailing-slash meaning), and names inside a tree.

use std::path::{Path, PathBuf};

use super::SyncError;

/// The directory of the core a user's transfers are jailed to: WMAIS_DATA_BASE_PATH with
/// `%USER%` replaced by the login name (manual 6.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRoot {
    path: PathBuf,
}

impl DataRoot {
    /// The root of `login` for the setting's `template`. Logins that could change the path's
    /// shape (a `/`, `..`, a NUL) are refused, as is a template that is not an absolute path.
    pub fn for_user(template: &str, login: &str) -> Result<DataRoot, SyncError> {
        if login.is_empty() || login == "." || login == ".." || login.contains(['/', '\0']) {
            return Err(SyncError::Path(format!("the login {login:?} cannot name a data directory")));
        }
        let path = template.replace("%USER%", login);
        if !path.starts_with('/') {
            return Err(SyncError::Path(format!("WMAIS_DATA_BASE_PATH must be an absolute path; it is {template:?}")));
        }
        let path = PathBuf::from(path.trim_end_matches('/').to_owned() + "/");
        Ok(DataRoot { path: clean(&path) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where a path the user typed points inside the root: a full path under the root or a
    /// path relative to it. `..` anywhere, and full paths outside the root, are refused.
    pub fn resolve(&self, typed: &str) -> Result<LocalPath, SyncError> {
        if typed.contains('\0') {
            return Err(SyncError::Path("a path cannot contain a NUL character".into()));
        }
        let trailing_slash = typed.ends_with('/') || typed.is_empty() || typed.ends_with("/.") || typed == ".";
        let relative = if typed.starts_with('/') {
            let root = self.path.to_string_lossy();
            let root = root.trim_end_matches('/');
            match typed.strip_prefix(root) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.to_owned(),
                _ => {
                    return Err(SyncError::Path(format!(
                        "{typed} is outside your data directory {}; give a path inside it, full or relative",
                        self.path.display()
                    )))
                }
            }
        } else {
            typed.to_owned()
        };
        let mut parts = Vec::new();
        for part in relative.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    return Err(SyncError::Path(format!(
                        "{typed}: `..` is not allowed in a data path (it could leave your data directory)"
                    )))
                }
                p => parts.push(p.to_owned()),
            }
        }
        Ok(LocalPath { parts, trailing_slash })
    }
}

/// A path inside a data root, as components (never `..`, never empty components).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPath {
    pub parts: Vec<String>,
    /// The user wrote a trailing `/` (or named the root itself): the directory's contents are
    /// meant, not the directory.
    pub trailing_slash: bool,
}

impl LocalPath {
    pub fn joined(&self) -> String {
        self.parts.join("/")
    }

    pub fn name(&self) -> Option<&str> {
        self.parts.last().map(String::as_str)
    }

    pub fn parent(&self) -> LocalPath {
        let mut parts = self.parts.clone();
        parts.pop();
        LocalPath { parts, trailing_slash: true }
    }

    pub fn child(&self, name: &str) -> LocalPath {
        let mut parts = self.parts.clone();
        parts.extend(name.split('/').filter(|p| !p.is_empty()).map(str::to_owned));
        LocalPath { parts, trailing_slash: true }
    }
}

/// A path on the instance as the user typed it; must be absolute (or start at the login
/// user's home with `~/`) and free of NUL and newline characters.
pub fn remote_path(typed: &str) -> Result<(String, bool), SyncError> {
    if typed.is_empty() {
        return Err(SyncError::Path("the path on the instance is empty".into()));
    }
    if typed.contains(['\0', '\n']) {
        return Err(SyncError::Path("a path on the instance cannot contain NUL or newline characters".into()));
    }
    if !typed.starts_with('/') && !typed.starts_with("~/") && typed != "~" {
        return Err(SyncError::Path(format!("{typed}: give a full path on the instance, e.g. /mnt/data/")));
    }
    let trailing = typed.ends_with('/') || typed.ends_with("/.");
    let trimmed = typed.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    Ok((trimmed.to_owned(), trailing))
}

/// The last component of a remote path (for rsync's "no trailing slash: the directory itself").
pub fn remote_name(path: &str) -> Option<&str> {
    path.rsplit('/').next().filter(|n| !n.is_empty() && *n != "." && *n != ".." && *n != "~")
}

/// `a` joined with the relative `b` (either may be empty).
pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ if a.ends_with('/') => format!("{a}{b}"),
        _ => format!("{a}/{b}"),
    }
}

/// Removes `.` and duplicate `/` from an absolute path, lexically.
fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        if let std::path::Component::Normal(n) = c {
            out.push(n);
        }
    }
    out
}

/// The name under which a file is assembled before it is put in place: beside the file,
/// hidden, tagged with the size and modification time it is meant to have (so a partial copy
/// of an older version is never resumed).
pub fn partial_name(rel: &str, size: u64, mtime_sec: i64) -> String {
    let (dir, name) = match rel.rsplit_once('/') {
        Some((d, n)) => (Some(d), n),
        None => (None, rel),
    };
    let tag = format!("{:x}-{:x}", size, mtime_sec);
    let part = format!(".{name}.{tag}.wmpart");
    match dir {
        Some(d) => format!("{d}/{part}"),
        None => part,
    }
}

/// True for names made by [`partial_name`]: they are never listed as content of a tree.
pub fn is_partial(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name.starts_with('.') && name.ends_with(".wmpart")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_and_typed_paths() {
        let root = DataRoot::for_user("/srv/data/%USER%/cloud", "bob").unwrap();
        assert_eq!(root.path(), Path::new("/srv/data/bob/cloud"));
        assert!(DataRoot::for_user("/srv/%USER%", "../etc").is_err());
        assert!(DataRoot::for_user("/srv/%USER%", "a/b").is_err());
        assert!(DataRoot::for_user("rel/%USER%", "bob").is_err());

        let p = root.resolve("/srv/data/bob/cloud/deck1/").unwrap();
        assert_eq!(p.parts, vec!["deck1"]);
        assert!(p.trailing_slash);
        let p = root.resolve("deck1/sub").unwrap();
        assert_eq!(p.parts, vec!["deck1", "sub"]);
        assert!(!p.trailing_slash);
        assert!(root.resolve("/srv/data/bob/cloud").unwrap().parts.is_empty());
        assert!(root.resolve("").unwrap().trailing_slash);

        for bad in ["../alice/cloud", "deck/../../x", "/srv/data/bob/cloudy/x", "/etc/passwd", "/srv/data/alice/cloud/"]
        {
            assert!(matches!(root.resolve(bad), Err(SyncError::Path(_))), "{bad} was accepted");
        }
    }

    #[test]
    fn remote_paths_and_partials() {
        assert_eq!(remote_path("/mnt/data/").unwrap(), ("/mnt/data".into(), true));
        assert_eq!(remote_path("/").unwrap(), ("/".into(), true));
        assert!(remote_path("mnt").is_err());
        assert!(remote_path("/a\nb").is_err());
        assert_eq!(remote_name("/mnt/data"), Some("data"));
        assert_eq!(partial_name("a/b.bin", 16, 255), "a/.b.bin.10-ff.wmpart");
        assert!(is_partial("a/.b.bin.10-ff.wmpart"));
        assert!(!is_partial("a/b.bin"));
    }
}
