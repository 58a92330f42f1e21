//! A minimal client for QEMU's machine protocol (QMP): JSON lines over the instance's unix
//! socket.
//!
//! QEMU serves one QMP client at a time on a socket, so a [`Qmp`] is opened for one operation
//! and dropped right after; the provider runs operations one at a time.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::time::{timeout, timeout_at, Instant};
use wintermute_cloud::CloudError;

use crate::error::qemu_failed;

/// How long one command may take to be answered.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// An open QMP session, in command mode.
pub(crate) struct Qmp {
    lines: Lines<BufReader<OwnedReadHalf>>,
    writer: OwnedWriteHalf,
    /// Events read while waiting for answers, oldest first.
    events: Vec<Value>,
}

impl Qmp {
    /// Connects to the socket and leaves capabilities negotiation.
    pub(crate) async fn connect(socket: &Path) -> Result<Self, CloudError> {
        let stream = timeout(ANSWER_TIMEOUT, UnixStream::connect(socket))
            .await
            .map_err(|_| timed_out("connecting to QMP"))?
            .map_err(|e| qemu_failed(format!("cannot connect to QMP at {}: {e}", socket.display())))?;
        let (reader, writer) = stream.into_split();
        let mut qmp = Self { lines: BufReader::new(reader).lines(), writer, events: Vec::new() };
        let greeting = qmp.next_message(Instant::now() + ANSWER_TIMEOUT).await?;
        if greeting.get("QMP").is_none() {
            return Err(qemu_failed(format!("QMP greeted with {greeting}")));
        }
        qmp.execute("qmp_capabilities", None).await?;
        Ok(qmp)
    }

    /// Runs a command and returns its `return` value; a QMP `error` becomes an error carrying
    /// QEMU's description.
    pub(crate) async fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, CloudError> {
        let mut request = json!({ "execute": command });
        if let Some(arguments) = arguments {
            request["arguments"] = arguments;
        }
        let mut line = request.to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes()).await.map_err(|e| qemu_failed(format!("QMP write failed: {e}")))?;
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            let message = self.next_message(deadline).await?;
            if let Some(value) = message.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = message.get("error") {
                let desc = error.get("desc").and_then(Value::as_str).unwrap_or("no description");
                return Err(qemu_failed(format!("QEMU refused `{command}`: {desc}")));
            }
            if message.get("event").is_some() {
                self.events.push(message);
            }
        }
    }

    /// Waits until the event `name` arrives whose `data` satisfies `matches` (events that came
    /// earlier during this session count too). `Ok(false)` when `wait` runs out first.
    pub(crate) async fn wait_event(
        &mut self,
        name: &str,
        matches: impl Fn(&Value) -> bool,
        wait: Duration,
    ) -> Result<bool, CloudError> {
        let is_it = |e: &Value| e.get("event").and_then(Value::as_str) == Some(name) && matches(&e["data"]);
        if self.events.iter().any(is_it) {
            return Ok(true);
        }
        let deadline = Instant::now() + wait;
        loop {
            match self.next_message(deadline).await {
                Ok(message) if is_it(&message) => return Ok(true),
                Ok(message) => {
                    if message.get("event").is_some() {
                        self.events.push(message);
                    }
                }
                Err(CloudError::Timeout { .. }) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }

    async fn next_message(&mut self, deadline: Instant) -> Result<Value, CloudError> {
        let line = timeout_at(deadline, self.lines.next_line())
            .await
            .map_err(|_| timed_out("waiting for QMP"))?
            .map_err(|e| qemu_failed(format!("QMP read failed: {e}")))?
            .ok_or_else(|| qemu_failed("QEMU closed its QMP connection"))?;
        serde_json::from_str(&line).map_err(|e| qemu_failed(format!("QMP sent something that is not JSON ({e})")))
    }
}

fn timed_out(what: &str) -> CloudError {
    CloudError::Timeout { operation: format!("QMP ({what})"), after: ANSWER_TIMEOUT }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;
    use tokio::net::UnixListener;

    use super::*;

    /// A fake QEMU: greets, answers capabilities, then answers `query-status` after an event,
    /// refuses `bad`, and sends DEVICE_DELETED when asked to `device_del`.
    async fn fake_qemu(listener: UnixListener) {
        let (stream, _) = listener.accept().await.unwrap();
        let (reader, mut writer) = stream.into_split();
        let mut lines = BufReader::new(reader).lines();
        writer.write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n").await.unwrap();
        while let Ok(Some(line)) = lines.next_line().await {
            let request: Value = serde_json::from_str(&line).unwrap();
            let answer = match request["execute"].as_str().unwrap() {
                "qmp_capabilities" => "{\"return\": {}}\n".to_string(),
                "query-status" => {
                    "{\"event\": \"RESUME\", \"data\": {}}\n{\"return\": {\"status\": \"running\"}}\n".to_string()
                }
                "device_del" => format!(
                    "{{\"return\": {{}}}}\n{{\"event\": \"DEVICE_DELETED\", \"data\": {{\"device\": \"{}\"}}}}\n",
                    request["arguments"]["id"].as_str().unwrap()
                ),
                _ => "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no such thing\"}}\n".to_string(),
            };
            writer.write_all(answer.as_bytes()).await.unwrap();
        }
        let mut rest = Vec::new();
        let _ = lines.into_inner().read_to_end(&mut rest).await;
    }

    #[tokio::test]
    async fn commands_errors_and_events() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("qmp.sock");
        let server = tokio::spawn(fake_qemu(UnixListener::bind(&socket).unwrap()));
        let mut qmp = Qmp::connect(&socket).await.unwrap();
        let status = qmp.execute("query-status", None).await.unwrap();
        assert_eq!(status["status"], "running");
        let err = qmp.execute("bad", None).await.unwrap_err();
        assert!(err.to_string().contains("QEMU refused `bad`: no such thing"), "{err}");
        qmp.execute("device_del", Some(json!({ "id": "vol-1" }))).await.unwrap();
        let short = Duration::from_millis(300);
        assert!(!qmp.wait_event("DEVICE_DELETED", |d| d["device"] == "vol-2", short).await.unwrap());
        assert!(qmp.wait_event("DEVICE_DELETED", |d| d["device"] == "vol-1", short).await.unwrap());
        drop(qmp);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_missing_socket_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Qmp::connect(&dir.path().join("nothing.sock")).await.is_err());
    }
}
