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

const PRINTF_TREE: &str = r"'%y %s %T@ %m %P\0'";
const PRINTF_ONE: &str = r"'%y %s %T@ %m %f\0'";

/// Prints `d`, `f` or `-` for what `path` is, then the tree (a directory's entries relative to
/// it; a file's own record under its name).
pub fn list(path: &str) -> String {
    let p = word(path);
    format!(
        "LC_ALL=C; export LC_ALL; p={p}; \
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
    format!("cd -- {} && exec tar --format=posix -c -f - --no-recursion --null -T -", word(dir))
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

    #[test]
    fn words_quote_and_expand_home() {
        assert_eq!(word("/mnt/it's"), r"'/mnt/it'\''s'");
        assert_eq!(word("~/x y"), "\"$HOME\"/'x y'");
        assert!(list("/d").contains("%f\\0'"));
        assert!(list("/d").contains("%P\\0'"));
    }
}
