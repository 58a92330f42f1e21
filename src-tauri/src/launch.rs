//! What the app was asked to do on its command line: `--console <instance>`, or a
//! `wintermute://console/<instance>` link (the desktop entry registers the scheme, so the system
//! runs `wintermute-desktop wintermute://console/12` for a link). A second start hands its
//! request to the running app (single instance) instead of opening another one.

/// One thing to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The SSH console of this instance, in a window of its own.
    Console(i64),
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Launch {
    pub version: bool,
    pub help: bool,
    pub requests: Vec<Request>,
    /// Arguments not understood (reported, then ignored).
    pub unknown: Vec<String>,
}

pub const USAGE: &str = "\
Usage: wintermute-desktop [--console INSTANCE] [wintermute://console/INSTANCE]

  --console INSTANCE              open the SSH console of an instance (its number) in a window
  wintermute://console/INSTANCE   the same, as a link
  --version                       print the version and exit
  --help                          print this and exit

Environment:
  WINTERMUTE_DESKTOP_DATA_DIR     the app's data folder (settings and the embedded core)
";

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Launch {
    let mut out = Launch::default();
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--version" | "-V" => out.version = true,
            "--help" | "-h" => out.help = true,
            "--console" => match args.next().as_deref().and_then(instance) {
                Some(id) => out.requests.push(Request::Console(id)),
                None => out.unknown.push(a),
            },
            _ => match a.strip_prefix("--console=").and_then(instance).or_else(|| link(&a)) {
                Some(id) => out.requests.push(Request::Console(id)),
                None => out.unknown.push(a),
            },
        }
    }
    out
}

fn instance(s: &str) -> Option<i64> {
    s.trim().parse::<i64>().ok().filter(|id| *id > 0)
}

/// `wintermute://console/12` (a trailing slash or query is tolerated).
fn link(s: &str) -> Option<i64> {
    let rest = s.strip_prefix("wintermute://console/")?;
    let id = rest.split(['/', '?', '#']).next()?;
    instance(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Launch {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn console_requests_come_from_the_option_and_from_links() {
        assert_eq!(p(&["--console", "12"]).requests, [Request::Console(12)]);
        assert_eq!(p(&["--console=3"]).requests, [Request::Console(3)]);
        assert_eq!(p(&["wintermute://console/7/"]).requests, [Request::Console(7)]);
        assert_eq!(p(&["wintermute://console/7?x=1"]).requests, [Request::Console(7)]);
        let bad = p(&["--console", "abc", "wintermute://other/1", "--nope"]);
        assert!(bad.requests.is_empty());
        assert_eq!(bad.unknown.len(), 3);
        assert!(p(&["--version"]).version);
        assert!(p(&[]).requests.is_empty());
    }
}
