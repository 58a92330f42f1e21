//! Which Debian mirror to build from: the one the host's APT already uses for the suite.

use std::path::Path;

/// Used when the host's APT names no mirror for the suite.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// The first `deb` mirror the host's APT sources use for `suite` (deb822 `.sources` files and
/// one-line `.list` files under `/etc/apt`), or [`DEFAULT_MIRROR`].
pub fn host_mirror(suite: &str) -> String {
    mirror_in(Path::new("/etc/apt"), suite).unwrap_or_else(|| DEFAULT_MIRROR.to_string())
}

fn mirror_in(apt: &Path, suite: &str) -> Option<String> {
    let mut files = vec![apt.join("sources.list")];
    if let Ok(entries) = std::fs::read_dir(apt.join("sources.list.d")) {
        let mut more: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    files.iter().find_map(|file| {
        let text = std::fs::read_to_string(file).ok()?;
        match file.extension().and_then(|e| e.to_str()) {
            Some("sources") => from_deb822(&text, suite),
            Some("list") => from_one_line(&text, suite),
            _ => None,
        }
    })
}

fn usable(uri: &str) -> bool {
    uri.starts_with("http://") || uri.starts_with("https://")
}

/// From one-line entries: `deb [options] URI SUITE COMPONENT...`.
fn from_one_line(text: &str, suite: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        if words.next()? != "deb" {
            return None;
        }
        let mut rest: Vec<&str> = words.collect();
        // Skip `[arch=amd64 signed-by=…]`.
        if rest.first().is_some_and(|w| w.starts_with('[')) {
            let end = rest.iter().position(|w| w.ends_with(']'))?;
            rest.drain(..=end);
        }
        match rest.as_slice() {
            [uri, s, ..] if *s == suite && usable(uri) => Some(uri.trim_end_matches('/').to_string()),
            _ => None,
        }
    })
}

/// From deb822 stanzas: `Types: deb`, `URIs: …`, `Suites: …`.
fn from_deb822(text: &str, suite: &str) -> Option<String> {
    text.split("\n\n").find_map(|stanza| {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let enabled = field("Enabled").is_none_or(|v| !v.eq_ignore_ascii_case("no"));
        let types = field("Types")?;
        let suites = field("Suites")?;
        if !enabled || !types.split_whitespace().any(|t| t == "deb") || !suites.split_whitespace().any(|s| s == suite) {
            return None;
        }
        field("URIs")?.split_whitespace().find(|u| usable(u)).map(|u| u.trim_end_matches('/').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_sources() {
        let text = "Types: deb\n# comment\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\
                    Components: main\n\nTypes: deb deb-src\nURIs: https://mirror.example/debian/\n\
                    Suites: bookworm bookworm-updates\nComponents: main\n";
        assert_eq!(from_deb822(text, "bookworm").as_deref(), Some("https://mirror.example/debian"));
        assert_eq!(from_deb822(text, "trixie"), None);
        let disabled = "Enabled: no\nTypes: deb\nURIs: http://x/debian\nSuites: bookworm\n";
        assert_eq!(from_deb822(disabled, "bookworm"), None);
    }

    #[test]
    fn one_line_sources() {
        let text = "# deb http://old/debian bookworm main\ndeb cdrom:[Debian]/ bookworm main\n\
                    deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n";
        assert_eq!(from_one_line(text, "bookworm").as_deref(), Some("http://mirror.example/debian"));
        assert_eq!(from_one_line("deb http://x/debian bookworm-updates main\n", "bookworm"), None);
    }

    #[test]
    fn host_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(mirror_in(dir.path(), "bookworm"), None);
        std::fs::create_dir(dir.path().join("sources.list.d")).unwrap();
        std::fs::write(
            dir.path().join("sources.list.d/debian.sources"),
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n",
        )
        .unwrap();
        assert_eq!(mirror_in(dir.path(), "bookworm").as_deref(), Some("http://deb.debian.org/debian"));
    }
}
