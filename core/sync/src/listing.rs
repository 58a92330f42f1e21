//! Listings of a tree on either side, and what has to move between them.

use std::collections::{BTreeMap, BTreeSet};

use super::paths::is_partial;
use super::tarfmt::parse_find_time;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    File,
    Dir,
}

/// A file or directory of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryType,
    pub size: u64,
    /// Seconds and nanoseconds.
    pub mtime: (i64, u32),
    /// Permission bits (07777).
    pub mode: u32,
}

/// A tree: its entries by path relative to its top, the partial files found in it (path ->
/// bytes so far), and what was left out.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub exists: bool,
    pub entries: BTreeMap<String, Entry>,
    pub partials: BTreeMap<String, u64>,
    pub skipped: Vec<(String, String)>,
    /// Directories of the tree (relative to it) left out because the user may not read them:
    /// what the other side holds under them is not deleted.
    pub denied: Vec<String>,
}

impl Listing {
    /// Reads what the instance's listing command printed: a first line `d`, `f` or `-` (the
    /// top is a directory, a file, or missing), then `find -printf '%y %s %T@ %m %P\0'` records.
    pub fn parse_remote(out: &[u8]) -> Result<(char, Listing), String> {
        let nl = out.iter().position(|&b| b == b'\n').ok_or("the listing has no header line")?;
        let top = match &out[..nl] {
            b"d" => 'd',
            b"f" => 'f',
            b"-" => '-',
            other => return Err(format!("the listing starts with {:?}", String::from_utf8_lossy(other))),
        };
        let mut listing = Listing { exists: top != '-', ..Default::default() };
        for record in out[nl + 1..].split(|&b| b == 0).filter(|r| !r.is_empty()) {
            let Ok(text) = std::str::from_utf8(record) else {
                listing.skipped.push((String::from_utf8_lossy(record).into_owned(), "the name is not UTF-8".into()));
                continue;
            };
            let mut it = text.splitn(5, ' ');
            let (Some(kind), Some(size), Some(time), Some(mode), Some(path)) =
                (it.next(), it.next(), it.next(), it.next(), it.next())
            else {
                return Err(format!("a listing record cannot be read: {text:?}"));
            };
            let size: u64 = size.parse().map_err(|_| format!("a size in the listing: {text:?}"))?;
            let mtime = parse_find_time(time).ok_or_else(|| format!("a time in the listing: {text:?}"))?;
            let mode = u32::from_str_radix(mode, 8).map_err(|_| format!("a mode in the listing: {text:?}"))?;
            let kind = match kind {
                "f" if is_partial(path) => {
                    listing.partials.insert(path.to_owned(), size);
                    continue;
                }
                "f" => EntryType::File,
                "d" => EntryType::Dir,
                "l" => {
                    listing.skipped.push((path.to_owned(), "a symlink (symlinks are never transferred)".into()));
                    continue;
                }
                _ => continue,
            };
            listing.entries.insert(path.to_owned(), Entry { kind, size, mtime, mode });
        }
        Ok((top, listing))
    }
}

/// Equal times: seconds equal, and nanoseconds too when both sides keep them.
pub fn same_time(a: (i64, u32), b: (i64, u32)) -> bool {
    a.0 == b.0 && (a.1 == b.1 || a.1 == 0 || b.1 == 0)
}

/// What moves from `source` to `dest`.
#[derive(Debug, Default, Clone)]
pub struct Plan {
    /// Files to send, in path order.
    pub files: Vec<String>,
    /// Directories to make or whose mode or time to set.
    pub dirs: Vec<String>,
    /// Paths on the destination that are not in the source (deleted only when asked).
    pub extra: Vec<String>,
    /// Paths that are a file on one side and a directory on the other: removed first.
    pub replace: Vec<String>,
    pub bytes: u64,
}

impl Plan {
    /// Compares by size and time (or by `checksums` of same-sized files when given: path ->
    /// (source sum, destination sum)).
    pub fn make(source: &Listing, dest: &Listing, sums: Option<&BTreeMap<String, (String, String)>>) -> Plan {
        let mut plan = Plan::default();
        for (path, s) in &source.entries {
            let d = dest.entries.get(path);
            match s.kind {
                EntryType::Dir => match d {
                    Some(d) if d.kind == EntryType::Dir && d.mode == s.mode && same_time(d.mtime, s.mtime) => {}
                    Some(d) if d.kind != EntryType::Dir => {
                        plan.replace.push(path.clone());
                        plan.dirs.push(path.clone());
                    }
                    _ => plan.dirs.push(path.clone()),
                },
                EntryType::File => {
                    let send = match d {
                        None => true,
                        Some(d) if d.kind != EntryType::File => {
                            plan.replace.push(path.clone());
                            true
                        }
                        Some(d) => match sums {
                            Some(sums) => d.size != s.size || sums.get(path).is_none_or(|(a, b)| a != b),
                            None => d.size != s.size || !same_time(d.mtime, s.mtime),
                        },
                    };
                    if send {
                        plan.files.push(path.clone());
                        plan.bytes += s.size;
                    } else if d.is_some_and(|d| d.mode != s.mode || (sums.is_some() && !same_time(d.mtime, s.mtime))) {
                        // Same content, other mode or time: the file is sent again, which is cheap
                        // for this rare case and sets both the way the source has them.
                        plan.files.push(path.clone());
                        plan.bytes += s.size;
                    }
                }
            }
        }
        // The parent directories of everything sent get their times set again afterwards.
        let mut dirs: BTreeSet<String> = plan.dirs.iter().cloned().collect();
        for f in plan.files.iter().chain(plan.dirs.clone().iter()) {
            let mut p = f.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                if source.entries.get(parent).is_some_and(|e| e.kind == EntryType::Dir) {
                    dirs.insert(parent.to_owned());
                }
                p = parent;
            }
        }
        plan.dirs = dirs.into_iter().collect();
        for path in dest.entries.keys() {
            if !source.entries.contains_key(path) {
                // Only the top of a removed subtree.
                let covered = path.rsplit_once('/').is_some_and(|(parent, _)| {
                    !source.entries.contains_key(parent) && dest.entries.contains_key(parent)
                });
                if !covered {
                    plan.extra.push(path.clone());
                }
            }
        }
        plan
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.dirs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64, t: i64) -> Entry {
        Entry { kind: EntryType::File, size, mtime: (t, 0), mode: 0o644 }
    }

    #[test]
    fn remote_listing_is_read() {
        let out = b"d\nf 5 1700000000.1234567890 644 a b/c\xc3\xa9\0d 4096 1700000001.0000000000 755 a b\0f 9 1.5 600 a b/.x.9-1.wmpart\0l 3 1.0 777 ln\0";
        let (top, l) = Listing::parse_remote(out).unwrap();
        assert_eq!(top, 'd');
        assert_eq!(
            l.entries["a b/c\u{e9}"],
            Entry { kind: EntryType::File, size: 5, mtime: (1_700_000_000, 123_456_789), mode: 0o644 }
        );
        assert_eq!(l.entries["a b"].kind, EntryType::Dir);
        assert_eq!(l.partials["a b/.x.9-1.wmpart"], 9);
        assert_eq!(l.skipped.len(), 1);
    }

    #[test]
    fn plans_send_only_what_changed() {
        let mut src = Listing::default();
        src.entries.insert("a".into(), file(1, 10));
        src.entries.insert("d".into(), Entry { kind: EntryType::Dir, size: 0, mtime: (5, 0), mode: 0o755 });
        src.entries.insert("d/b".into(), file(2, 10));
        let mut dst = src.clone();
        assert!(Plan::make(&src, &dst, None).is_empty());
        dst.entries.insert("d/b".into(), file(2, 11));
        dst.entries.insert("old".into(), Entry { kind: EntryType::Dir, size: 0, mtime: (5, 0), mode: 0o755 });
        dst.entries.insert("old/x".into(), file(2, 11));
        let plan = Plan::make(&src, &dst, None);
        assert_eq!(plan.files, vec!["d/b"]);
        assert_eq!(plan.dirs, vec!["d"]);
        assert_eq!(plan.extra, vec!["old"]);
        assert_eq!(plan.bytes, 2);
    }
}
