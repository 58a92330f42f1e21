//! Finding the workspace's built binaries.

use std::path::{Path, PathBuf};

use anyhow::bail;

/// A binary of the workspace in the profile the running program was built with (tests: `debug`),
/// e.g. `bin_path("wmais")`.
///
/// Looks in the target folder the running executable lives in (a test binary is
/// `<target>/debug/deps/<test>-<hash>`), then in `$CARGO_TARGET_DIR/debug`.
pub fn bin_path(name: &str) -> anyhow::Result<PathBuf> {
    let mut tried = Vec::new();
    for dir in exe_ancestors() {
        // The profile folder is the one that holds `deps`.
        if dir.join("deps").is_dir() {
            let p = dir.join(exe_name(name));
            if p.is_file() {
                return Ok(p);
            }
            tried.push(p);
        }
    }
    if let Some(dir) = target_dir_from_env() {
        let p = dir.join("debug").join(exe_name(name));
        if p.is_file() {
            return Ok(p);
        }
        tried.push(p);
    }
    not_found(name, "debug", &tried)
}

/// A binary of the workspace built in `profile` (`release`, `debug`): `$CARGO_TARGET_DIR/<profile>/<name>`,
/// else `<target>/<profile>/<name>` next to the running executable's own profile folder.
pub fn bin_path_in_profile(name: &str, profile: &str) -> anyhow::Result<PathBuf> {
    let mut tried = Vec::new();
    let mut candidates = Vec::new();
    if let Some(dir) = target_dir_from_env() {
        candidates.push(dir.join(profile).join(exe_name(name)));
    }
    for dir in exe_ancestors() {
        if dir.file_name().is_some_and(|n| n == profile) {
            candidates.push(dir.join(exe_name(name)));
        }
        candidates.push(dir.join(profile).join(exe_name(name)));
    }
    for p in candidates {
        if p.is_file() {
            return Ok(p);
        }
        if !tried.contains(&p) {
            tried.push(p);
        }
    }
    not_found(name, profile, &tried)
}

fn not_found(name: &str, profile: &str, tried: &[PathBuf]) -> anyhow::Result<PathBuf> {
    let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    let build = if profile == "release" {
        "cargo build --release --workspace --bins"
    } else {
        "cargo build --workspace --bins"
    };
    bail!(
        "the {profile} binary {name:?} is not built (looked for {}); run `{build}` first \
         (with the same CARGO_TARGET_DIR)",
        if list.is_empty() { "nothing: no target folder known".to_owned() } else { list.join(", ") }
    )
}

fn exe_name(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

fn target_dir_from_env() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("CARGO_TARGET_DIR")?);
    if dir.as_os_str().is_empty() {
        return None;
    }
    if dir.is_absolute() {
        return Some(dir);
    }
    // Relative to the workspace root, where cargo was most likely run.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    Some(root.join(dir))
}

fn exe_ancestors() -> Vec<PathBuf> {
    match std::env::current_exe() {
        Ok(exe) => exe.ancestors().skip(1).map(Path::to_path_buf).collect(),
        Err(_) => Vec::new(),
    }
}
