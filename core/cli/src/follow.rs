//! Following a task to its end: its log lines and a progress bar, live over the event WebSocket,
//! by polling the task and its log every second when the WebSocket fails.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::net::TcpStream;
use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::{HeaderValue, AUTHORIZATION};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wintermute_api::client::{Client, ClientError};
use wintermute_api::events::Event;
use wintermute_api::tasks::{Task, TaskLogLine, TaskState};

use crate::exit::{CliError, Exit};
use crate::output;
use crate::session::Session;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Polling period without a WebSocket.
const POLL: Duration = Duration::from_secs(1);
/// With a WebSocket, the task is still re-read this often, in case an event went missing.
const SAFETY_POLL: Duration = Duration::from_secs(5);
/// How long the core may stay unreachable while following before giving up.
const UNREACHABLE_LIMIT: Duration = Duration::from_secs(60);

/// Follows task `id` until it is finished; the error of a failed or cancelled task carries exit
/// code 10 or 11. With `--json`, prints the final task as JSON and the log lines on stderr.
pub async fn follow(s: &Session, id: i64) -> anyhow::Result<()> {
    let mut view = View::new(s.json);
    let ws = match connect(&s.client).await {
        Ok(ws) => Some(ws),
        Err(e) => {
            view.note(&format!("no live events ({e:#}); polling every second"));
            None
        }
    };
    let result = tokio::select! {
        r = watch(&s.client, id, &mut view, ws) => r,
        _ = tokio::signal::ctrl_c() => Err(CliError::new(
            Exit::Error,
            "interrupted",
            format!("stopped following task {id}; it goes on (wmai tasks follow {id})"),
        ).into()),
    };
    view.finish();
    let task = result?;
    if s.json {
        output::print_json(&task)?;
    } else if task.state == TaskState::Succeeded {
        out!("Task {} succeeded{}", task.id, suffix(&task.message));
    }
    outcome(&task)
}

/// Exit 0, 10 or 11 by the final state of a task.
pub fn outcome(task: &Task) -> anyhow::Result<()> {
    match task.state {
        TaskState::Failed => Err(CliError::new(
            Exit::TaskFailed,
            "task_failed",
            format!("task {} failed{}", task.id, suffix(&task.message)),
        )
        .into()),
        TaskState::Cancelled => Err(CliError::new(
            Exit::TaskCancelled,
            "task_cancelled",
            format!("task {} was cancelled{}", task.id, suffix(&task.message)),
        )
        .into()),
        TaskState::Succeeded | TaskState::Queued | TaskState::Running => Ok(()),
    }
}

fn suffix(message: &str) -> String {
    if message.trim().is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// Opens `ws(s)://<core>/api/v1/events` with the session's token.
async fn connect(client: &Client) -> anyhow::Result<Ws> {
    let url = events_url(client.url("events")?)?;
    let mut req = url.as_str().into_client_request().context("bad WebSocket request")?;
    if let Some(token) = client.token() {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).context("the token is not a valid header")?;
        req.headers_mut().insert(AUTHORIZATION, value);
    }
    let (ws, _) = tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(req))
        .await
        .context("the WebSocket did not open in time")??;
    Ok(ws)
}

/// The WebSocket URL of an HTTP API URL.
pub fn events_url(mut url: url::Url) -> anyhow::Result<url::Url> {
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    url.set_scheme(scheme).map_err(|()| anyhow::anyhow!("cannot make a WebSocket URL of {url}"))?;
    Ok(url)
}

/// The next message, or never when there is no WebSocket.
async fn next_message(ws: &mut Option<Ws>) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    match ws {
        Some(ws) => ws.next().await,
        None => std::future::pending().await,
    }
}

fn ticker(period: Duration) -> Interval {
    let mut i = interval_at(Instant::now() + period, period);
    i.set_missed_tick_behavior(MissedTickBehavior::Delay);
    i
}

async fn watch(client: &Client, id: i64, view: &mut View, mut ws: Option<Ws>) -> anyhow::Result<Task> {
    // The WebSocket is open before this first read, so no event after it is missed.
    let mut task = client.task(id).await?;
    view.task(&task);
    catch_up(client, id, view, true).await?;
    let mut poll = ticker(if ws.is_some() { SAFETY_POLL } else { POLL });
    let mut unreachable_since: Option<Instant> = None;
    while !task.state.is_finished() {
        tokio::select! {
            msg = next_message(&mut ws) => match msg {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<Event>(text.as_str()) {
                    Ok(Event::Task { task: t }) if t.id == id => {
                        view.task(&t);
                        task = t;
                    }
                    Ok(Event::TaskLog { line }) if line.task_id == id => match view.last_seq {
                        Some(last) if last.checked_add(1) == Some(line.seq) => view.line(&line),
                        Some(last) if line.seq <= last => {}
                        // A gap, or the first line: read the log so none is missed.
                        _ => catch_up(client, id, view, false).await?,
                    },
                    Ok(Event::Lagged { .. }) => {
                        task = client.task(id).await?;
                        view.task(&task);
                        catch_up(client, id, view, false).await?;
                    }
                    // Other tasks, and event types this client does not know.
                    Ok(_) | Err(_) => {}
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    ws = None;
                    view.note("live events ended; polling every second");
                    poll = ticker(POLL);
                }
                Some(Ok(_)) => {}
            },
            _ = poll.tick() => {
                match refresh(client, id, view).await {
                    Ok(t) => {
                        unreachable_since = None;
                        task = t;
                    }
                    Err(ClientError::Transport { .. }) if unreachable_since.is_none_or(|t| t.elapsed() < UNREACHABLE_LIMIT) => {
                        unreachable_since.get_or_insert_with(Instant::now);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    // Lines written just before the end.
    catch_up(client, id, view, true).await?;
    Ok(task)
}

async fn refresh(client: &Client, id: i64, view: &mut View) -> Result<Task, ClientError> {
    let task = client.task(id).await?;
    view.task(&task);
    catch_up(client, id, view, false).await?;
    Ok(task)
}

/// Prints the log lines after the last one shown; with `all`, until the core has no more.
async fn catch_up(client: &Client, id: i64, view: &mut View, all: bool) -> Result<(), ClientError> {
    // Bounded, in case a core keeps answering the same lines.
    for _ in 0..10_000 {
        let before = view.last_seq;
        let lines = client.task_log(id, before).await?;
        for l in &lines {
            view.line(l);
        }
        if !all || lines.is_empty() || view.last_seq == before {
            break;
        }
    }
    Ok(())
}

/// What the user sees while following.
struct View {
    bar: Option<ProgressBar>,
    /// With `--json`, stdout is for the final JSON only.
    to_stderr: bool,
    last_seq: Option<i64>,
}

impl View {
    fn new(json: bool) -> View {
        let bar = (!json && std::io::stdout().is_terminal() && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(100);
            if let Ok(style) = ProgressStyle::with_template("[{bar:30}] {pos:>3}% {wide_msg}") {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        View { bar, to_stderr: json, last_seq: None }
    }

    fn line(&mut self, l: &TaskLogLine) {
        if self.last_seq.is_some_and(|s| l.seq <= s) {
            return;
        }
        self.last_seq = Some(l.seq);
        let text = format_line(l);
        match &self.bar {
            Some(bar) => bar.suspend(|| out!("{text}")),
            None if self.to_stderr => eprintln!("{text}"),
            None => out!("{text}"),
        }
    }

    fn task(&self, t: &Task) {
        if let Some(bar) = &self.bar {
            bar.set_position(output::percent(t.progress));
            bar.set_message(format!("{}{}", t.state, suffix(&t.message)));
        }
    }

    /// A remark about the following itself, only on a terminal.
    fn note(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.suspend(|| eprintln!("note: {text}"));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `14:05:09 info  Creating the instance`.
pub fn format_line(l: &TaskLogLine) -> String {
    format!("{} {:<5} {}", output::clock(l.at), l.level.as_str(), l.line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(state: TaskState, message: &str) -> Task {
        Task {
            id: 9,
            kind: "debug".into(),
            title: "t".into(),
            owner_id: 1,
            owner_login: "admin".into(),
            target_kind: None,
            target_id: None,
            state,
            progress: 1.0,
            message: message.into(),
            cancel_requested: false,
            attempts: 1,
            created_at: chrono::Utc::now(),
            started_at: None,
            finished_at: None,
        }
    }

    #[test]
    fn final_states_give_exit_codes() {
        assert!(outcome(&task(TaskState::Succeeded, "ok")).is_ok());
        let r = crate::exit::report(&outcome(&task(TaskState::Failed, "disk full")).unwrap_err());
        assert_eq!(r.exit.code(), 10);
        assert_eq!(r.message, "task 9 failed: disk full (task_failed)");
        let r = crate::exit::report(&outcome(&task(TaskState::Cancelled, "")).unwrap_err());
        assert_eq!(r.exit.code(), 11);
        assert_eq!(r.message, "task 9 was cancelled (task_cancelled)");
    }

    #[test]
    fn websocket_urls() {
        let u = events_url(url::Url::parse("http://127.0.0.1:8750/api/v1/events").unwrap()).unwrap();
        assert_eq!(u.as_str(), "ws://127.0.0.1:8750/api/v1/events");
        let u = events_url(url::Url::parse("https://core.example.org/wm/api/v1/events").unwrap()).unwrap();
        assert_eq!(u.as_str(), "wss://core.example.org/wm/api/v1/events");
    }

    #[test]
    fn events_parse() {
        let t = serde_json::to_value(task(TaskState::Running, "x")).unwrap();
        let text = serde_json::json!({ "type": "task", "task": t }).to_string();
        assert!(matches!(serde_json::from_str::<Event>(&text).unwrap(), Event::Task { .. }));
        let text = r#"{"type":"lagged","skipped":3}"#;
        assert!(matches!(serde_json::from_str::<Event>(text).unwrap(), Event::Lagged { skipped: 3 }));
    }
}
