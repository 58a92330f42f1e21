//! Running the build's programs: with a time limit, their output read line by line, and the
//! end of it kept for the error message.

use std::collections::VecDeque;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::ImageBuildError;

/// Lines of output kept for an error message.
const KEPT_LINES: usize = 30;

/// Runs `cmd` for build step `step` within `limit`, handing each line of its output (stdout and
/// stderr) to `on_line`. A non-zero exit is an error with the last lines of output.
pub(super) async fn run_lines(
    step: &str,
    cmd: &mut Command,
    limit: Duration,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<(), ImageBuildError> {
    let failed = |detail: String| ImageBuildError::Step { step: step.to_string(), detail };
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(format!("cannot run {:?}: {e}", cmd.as_std().get_program())))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(failed("no output pipes".into()));
    };
    let mut out = BufReader::new(stdout).lines();
    let mut err = BufReader::new(stderr).lines();
    let mut kept: VecDeque<String> = VecDeque::new();
    let collect = async {
        let (mut out_open, mut err_open) = (true, true);
        loop {
            // A stream that ends (or cannot be read) is not polled again.
            let line = tokio::select! {
                line = out.next_line(), if out_open => match line {
                    Ok(Some(line)) => line,
                    _ => { out_open = false; continue; }
                },
                line = err.next_line(), if err_open => match line {
                    Ok(Some(line)) => line,
                    _ => { err_open = false; continue; }
                },
                else => break,
            };
            on_line(&line);
            if kept.len() == KEPT_LINES {
                kept.pop_front();
            }
            kept.push_back(line);
        }
        child.wait().await
    };
    let status = tokio::time::timeout(limit, collect)
        .await
        .map_err(|_| failed(format!("it did not finish within {} s", limit.as_secs())))?
        .map_err(|e| failed(e.to_string()))?;
    if status.success() {
        Ok(())
    } else {
        let lines: Vec<String> = kept.into_iter().collect();
        Err(failed(format!("{status}; last output:\n{}", lines.join("\n"))))
    }
}

/// [`run_lines`] without looking at the lines.
pub(super) async fn run(step: &str, cmd: &mut Command, limit: Duration) -> Result<(), ImageBuildError> {
    run_lines(step, cmd, limit, &mut |_| {}).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_and_failures() {
        let mut seen = Vec::new();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo one; echo two >&2; echo three"]);
        run_lines("demo", &mut cmd, Duration::from_secs(10), &mut |l| seen.push(l.to_string())).await.unwrap();
        seen.sort();
        assert_eq!(seen, ["one", "three", "two"]);

        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo why >&2; exit 3"]);
        let err = run("demo", &mut cmd, Duration::from_secs(10)).await.unwrap_err().to_string();
        assert!(err.contains("demo failed") && err.contains("why"), "{err}");

        let mut cmd = Command::new("sleep");
        cmd.arg("5");
        let err = run("slow", &mut cmd, Duration::from_millis(200)).await.unwrap_err().to_string();
        assert!(err.contains("did not finish"), "{err}");
    }
}
