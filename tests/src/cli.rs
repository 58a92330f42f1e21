//! Running the `wmai` CLI as a user would: a child process with a configuration directory of its
//! own, the token kept in a file (no OS keyring on CI), stdin piped for passwords, and its exit
//! code, stdout and stderr captured.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

use crate::binary::bin_path;

/// How long one `wmai` run may take before it is killed (a `tasks follow` included).
pub const WMAI_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment of the caller that must not leak into a `wmai` run.
const CLEARED_ENV: [&str; 4] = ["WMAI_URL", "WMAI_TOKEN", "WMAI_TOKEN_STORE", "WMAI_CONFIG_DIR"];

/// One `wmai` user: a fresh configuration directory (`WMAI_CONFIG_DIR`), `WMAI_TOKEN_STORE=file`,
/// and extra environment given with [`Wmai::env`].
#[derive(Debug)]
pub struct Wmai {
    bin: PathBuf,
    dir: TempDir,
    env: Vec<(String, String)>,
}

impl Wmai {
    /// A user with an empty configuration directory.
    pub fn new() -> anyhow::Result<Wmai> {
        let dir = tempfile::Builder::new().prefix("wmai-config-").tempdir().context("creating a config dir")?;
        Ok(Wmai { bin: bin_path("wmai")?, dir, env: Vec::new() })
    }

    /// Adds an environment variable to every run, e.g. `("WMAI_TOKEN", secret)`.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The `WMAI_CONFIG_DIR` of this user.
    pub fn config_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `wmai ARGS` with an empty stdin.
    pub async fn run(&self, args: &[&str]) -> CliOutput {
        self.run_with_stdin(args, "").await
    }

    /// Runs `wmai ARGS` with `stdin` as its standard input (then closed). Never fails: a run that
    /// cannot start or times out panics with what is known.
    pub async fn run_with_stdin(&self, args: &[&str], stdin: &str) -> CliOutput {
        let command = format!("wmai {}", args.iter().map(|a| shell_word(a)).collect::<Vec<_>>().join(" "));
        match self.try_run(args, stdin).await {
            Ok((code, stdout, stderr)) => CliOutput { command, code, stdout, stderr },
            Err(e) => panic!("running `{command}` failed: {e:#}"),
        }
    }

    async fn try_run(&self, args: &[&str], stdin: &str) -> anyhow::Result<(Option<i32>, String, String)> {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.args(args);
        for key in CLEARED_ENV {
            cmd.env_remove(key);
        }
        cmd.env("WMAI_CONFIG_DIR", self.dir.path())
            .env("WMAI_TOKEN_STORE", "file")
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().with_context(|| format!("starting {}", self.bin.display()))?;
        if let Some(mut input) = child.stdin.take() {
            // A command that does not read stdin may exit before the write: not an error.
            let _ = input.write_all(stdin.as_bytes()).await;
            drop(input);
        }
        let out = tokio::time::timeout(WMAI_TIMEOUT, child.wait_with_output())
            .await
            .with_context(|| format!("no exit within {WMAI_TIMEOUT:?} (killed)"))?
            .context("waiting for wmai")?;
        Ok((
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}

/// What one `wmai` run did. Its `Display` shows all of it, for assertion messages.
#[derive(Debug, Clone)]
pub struct CliOutput {
    /// The command line, for messages.
    pub command: String,
    /// The exit code; `None` when a signal ended the process.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// Panics, showing the whole run, unless it exited with `code`.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> CliOutput {
        if self.code != Some(code) {
            panic!("expected exit code {code}\n{self}");
        }
        self
    }

    /// [`expect_code`](CliOutput::expect_code) and stderr containing `text` (e.g. an API error code).
    #[track_caller]
    pub fn expect_error(self, code: i32, text: &str) -> CliOutput {
        let out = self.expect_code(code);
        if !out.stderr.contains(text) {
            panic!("expected {text:?} on stderr\n{out}");
        }
        out
    }

    /// Panics unless stdout contains `text`.
    #[track_caller]
    pub fn expect_stdout(self, text: &str) -> CliOutput {
        if !self.stdout.contains(text) {
            panic!("expected {text:?} on stdout\n{self}");
        }
        self
    }

    /// Stdout parsed as JSON (the `--json` output); panics with the run when it is not JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_str(&self.stdout) {
            Ok(v) => v,
            Err(e) => panic!("stdout is not JSON ({e})\n{self}"),
        }
    }
}

impl fmt::Display for CliOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code.map_or_else(|| "none (killed by a signal)".to_owned(), |c| c.to_string());
        write!(
            f,
            "$ {}\nexit code: {code}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// `arg`, quoted when a shell would split it (for messages only).
fn shell_word(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@".contains(c)) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// A loopback URL where nothing listens (a port bound and released again).
pub fn closed_port_url() -> anyhow::Result<String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
    let port = l.local_addr()?.port();
    drop(l);
    Ok(format!("http://127.0.0.1:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("users"), "users");
        assert_eq!(shell_word("http://127.0.0.1:9/"), "http://127.0.0.1:9/");
        assert_eq!(shell_word("Bad Name"), "'Bad Name'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
