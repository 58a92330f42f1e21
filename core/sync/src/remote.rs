//! What runs on the instance: POSIX shell with coreutils, findutils and tar — nothing to
//! install. Names never appear in a command line except quoted; lists of names go through
//! stdin, NUL-separated.

/// `v` as one single-quoted shell word.
pub fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

/// A remote path as a shell word: `~` and `~/…` start at the login user's home.
pub fn word(path: &str) -> String {
    if path == "~" {
        "\"$HOME\"".to_owned()
    } else if let Some(rest) = path.strip_prefix("~/") {
        format!("\"$HOME\"/{}", quote(rest))
    } else {
        quote(path)
    }
}

/// The exit status of a command that found the instance without a GNU tool it needs (BusyBox
/// systems, whose `find` has no `-printf` and whose `tar` cannot write pax lists from stdin).
pub const UNSUPPORTED: u32 = 69;

/// Fails with [`UNSUPPORTED`], naming GNU find, unless `find -printf` works.
const NEED_GNU_FIND: &str = "find . -maxdepth 0 -printf '' >/dev/null 2>&1 || { echo 'wm-sync: this instance has no GNU find (find -printf is missing; a BusyBox system?): install GNU findutils' >&2; exit 69; }";

/// Fails with [`UNSUPPORTED`], naming GNU tar, unless `tar` is GNU tar.
const NEED_GNU_TAR: &str = "tar --version 2>/dev/null | grep -q 'GNU tar' || { echo 'wm-sync: this instance has no GNU tar (a BusyBox system?): install GNU tar' >&2; exit 69; }";

const PRINTF_TREE: &str = r"'%y %s %T@ %m %P\0'";
const PRINTF_ONE: &str = r"'%y %s %T@ %m %f\0'";

/// Prints `d`, `f` or `-` for what `path` is, then the tree (a directory's entries relative to
/// it; a file's own record under its name).
pub fn list(path: &str) -> String {
    let p = word(path);
    format!(
        "LC_ALL=C; export LC_ALL; {NEED_GNU_FIND}; p={p}; \
         if [ -d \"$p\" ]; then echo d; cd -- \"$p\" && exec find . -mindepth 1 \\( -type f -o -type d -o -type l \\) -printf {PRINTF_TREE}; \
         elif [ -e \"$p\" ]; then echo f; cd -- \"$(dirname -- \"$p\")\" && exec find \"./$(basename -- \"$p\")\" -maxdepth 0 -printf {PRINTF_ONE}; \
         else echo -; fi"
    )
}

/// Unpacks a tar stream from stdin into `dir` (made if missing), keeping modes and times, owned
/// by the login user.
pub fn untar(dir: &str) -> String {
    let d = word(dir);
    format!("mkdir -p -- {d} && cd -- {d} && exec tar -x -p -o -f -")
}

/// Packs the files named on stdin (NUL-separated, relative to `dir`) as a pax tar on stdout.
pub fn tar(dir: &str) -> String {
    format!("{NEED_GNU_TAR}; cd -- {} && exec tar --format=posix -c -f - --no-recursion --null -T -", word(dir))
}

/// Appends stdin to the partial copy of `rel` in `dir` (which must hold `offset` bytes now;
/// exit 75 otherwise) and prints how many bytes it holds then. Once it has `size` bytes it gets
/// `mode` and `mtime` and is renamed into place; fewer bytes stay in the partial copy for the
/// next piece; more are an error (exit 76).
pub fn append(dir: &str, rel: &str, part: &str, offset: u64, size: u64, mode: u32, mtime: (i64, u32)) -> String {
    let (d, f, p) = (word(dir), quote(rel), quote(part));
    format!(
        "mkdir -p -- {d} && cd -- {d} || exit 1; f={f}; p={p}; mkdir -p -- \"$(dirname -- \"$f\")\" || exit 1; \
         if [ -e \"$p\" ]; then n=$(wc -c < \"$p\") || exit 1; else n=0; fi; \
         [ \"$n\" -eq {offset} ] || {{ echo \"wm-sync: the partial copy has $n bytes, not {offset}\" >&2; exit 75; }}; \
         cat >> \"$p\" || exit 1; n=$(wc -c < \"$p\") || exit 1; echo \"$n\"; \
         [ \"$n\" -lt {size} ] && exit 0; \
         [ \"$n\" -eq {size} ] || {{ echo \"wm-sync: received $n bytes, more than {size}\" >&2; exit 76; }}; \
         chmod {mode:o} -- \"$p\" && touch -m -d @{}.{:09} -- \"$p\" && mv -f -- \"$p\" \"$f\"",
        mtime.0, mtime.1
    )
}

/// Prints `rel` in `dir` from byte `offset` on.
pub fn read_from(dir: &str, rel: &str, offset: u64) -> String {
    format!("cd -- {} && exec tail -c +{} -- {}", word(dir), offset + 1, quote(rel))
}

/// Deletes the paths named on stdin (NUL-separated, relative to `dir`).
pub fn remove(dir: &str) -> String {
    format!("cd -- {} && exec xargs -0 rm -rf --", word(dir))
}

/// Prints the SHA-256 of the files named on stdin (relative to `dir`), one line each, in order.
pub fn sums(dir: &str) -> String {
    format!("cd -- {} && exec xargs -0 sha256sum --", word(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `script` with `sh` and a PATH whose `find` and `tar` are stand-ins that know only
    /// what BusyBox's know: the commands stop with [`UNSUPPORTED`] and name the GNU tool.
    fn under_busybox(script: &str) -> (Option<i32>, String) {
        let dir = std::env::temp_dir().join(format!("wm-busybox-{}-{}", std::process::id(), script.len()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, body) in [
            ("find", "#!/bin/sh\nfor a; do [ \"$a\" = -printf ] && { echo 'find: unrecognized: -printf' >&2; exit 1; }; done\nexit 0\n"),
            ("tar", "#!/bin/sh\necho 'BusyBox v1.36.1 multi-call binary.' >&2; exit 1\n"),
        ] {
            let p = dir.join(name);
            std::fs::write(&p, body).unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        }
        let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
        let out = std::process::Command::new("sh").arg("-c").arg(script).env("PATH", path).output().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    #[test]
    fn busybox_instances_are_told_which_gnu_tool_is_missing() {
        let (code, err) = under_busybox(&list("/"));
        assert_eq!(code, Some(UNSUPPORTED as i32), "{err}");
        assert!(err.contains("GNU find"), "{err}");
        let (code, err) = under_busybox(&tar("/"));
        assert_eq!(code, Some(UNSUPPORTED as i32), "{err}");
        assert!(err.contains("GNU tar"), "{err}");
        // With the GNU tools, the checks pass.
        let empty = std::env::temp_dir().join(format!("wm-gnu-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        let out = std::process::Command::new("sh").arg("-c").arg(list(&empty.display().to_string())).output().unwrap();
        std::fs::remove_dir_all(&empty).unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, b"d\n");
    }

    #[test]
    fn words_quote_and_expand_home() {
        assert_eq!(word("/mnt/it's"), r"'/mnt/it'\''s'");
        assert_eq!(word("~/x y"), "\"$HOME\"/'x y'");
        assert!(list("/d").contains("%f\\0'"));
        assert!(list("/d").contains("%P\\0'"));
    }
}
