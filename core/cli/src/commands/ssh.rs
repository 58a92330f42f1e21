//! `wmai ssh <instance> [-- command...]`: the core's SSH console in this terminal. The core logs in
//! to the instance with the key it keeps; this program never sees a key. It speaks the console
//! WebSocket (`wintermute_api::console`): the terminal in raw mode, window size changes on
//! SIGWINCH, acknowledgements, and a reconnect with replay when the connection to the core drops.
//!
//! Exit status: the remote command's (or shell's); 255 when the session could not be opened or
//! ended without one (as OpenSSH's `ssh` does), with the reason on stderr.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::{HeaderValue, AUTHORIZATION};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wintermute_api::client::ClientError;
use wintermute_api::console::{ConsoleClientMessage, ConsoleQuery, ConsoleServerMessage, DEFAULT_TERM};
use wintermute_api::ApiError;

use super::instances::instance_by;
use crate::exit::{CliError, Exit};
use crate::session::{App, Session};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Acknowledge received output at least every this many bytes...
const ACK_BYTES: u64 = 128 * 1024;
/// ...and this often while some is unacknowledged.
const ACK_EVERY: Duration = Duration::from_millis(500);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Args)]
pub struct SshArgs {
    /// The instance (id or name)
    pub instance: String,
    /// Run the command on a terminal even when this one is not a terminal
    #[arg(short = 't', conflicts_with = "no_tty")]
    pub tty: bool,
    /// Run the command without a terminal (raw output; its stderr comes with its stdout)
    #[arg(short = 'T')]
    pub no_tty: bool,
    /// A command to run instead of the login shell. One argument is a shell command line; several
    /// are run as they are (each quoted), e.g. `-- sh -c 'exit 7'`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Quotes a word for a POSIX shell.
fn quote(word: &str) -> String {
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The command line the remote shell runs.
pub fn command_line(words: &[String]) -> Option<String> {
    match words {
        [] => None,
        [one] => Some(one.clone()),
        many => Some(many.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")),
    }
}

/// Runs the console; the remote exit status becomes this program's.
pub async fn run(app: &App, args: SshArgs) -> anyhow::Result<()> {
    let status = match session(app, &args).await {
        Ok(status) => status,
        Err(e) => return Err(SshFailure(e).into()),
    };
    if status == 0 {
        Ok(())
    } else {
        Err(CliError::new(Exit::Remote(u8::try_from(status).unwrap_or(255)), "", "").into())
    }
}

/// A failure of `wmai ssh` itself (not of the remote command): exit status 255.
#[derive(Debug)]
pub struct SshFailure(pub anyhow::Error);

impl std::fmt::Display for SshFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for SshFailure {}

/// Puts the terminal in raw mode and back.
struct RawMode(bool);

impl RawMode {
    fn enter(on: bool) -> anyhow::Result<RawMode> {
        if on {
            crossterm::terminal::enable_raw_mode().context("cannot put the terminal in raw mode")?;
        }
        Ok(RawMode(on))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if self.0 {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}

fn window_size() -> (u32, u32) {
    match crossterm::terminal::size() {
        Ok((c, r)) if c > 0 && r > 0 => (u32::from(c), u32::from(r)),
        _ => (80, 24),
    }
}

/// Where the session stands, for a reconnect.
struct Progress {
    token: Option<String>,
    /// Output bytes received (the next byte's offset).
    received: u64,
    acked: u64,
    grace: Duration,
}

async fn session(app: &App, args: &SshArgs) -> anyhow::Result<u32> {
    let s = app.session()?;
    let instance = instance_by(&s, &args.instance).await?;
    let command = command_line(&args.command);
    let stdin_tty = std::io::stdin().is_terminal();
    let pty = match &command {
        None => true,
        Some(_) => args.tty || (!args.no_tty && stdin_tty && std::io::stdout().is_terminal()),
    };
    let (cols, rows) = if stdin_tty { window_size() } else { (80, 24) };
    let term = std::env::var("TERM").ok().filter(|t| !t.is_empty() && t != "dumb").unwrap_or(DEFAULT_TERM.into());
    let query = ConsoleQuery {
        cols: Some(cols),
        rows: Some(rows),
        term: Some(term),
        command,
        pty: Some(pty),
        ..Default::default()
    };
    let mut ws = connect(&s, instance.id, &query).await?;
    let _raw = RawMode::enter(pty && stdin_tty)?;
    let mut progress = Progress { token: None, received: 0, acked: 0, grace: Duration::ZERO };
    let mut stdin = tokio::io::stdin();
    let mut stdout = tokio::io::stdout();
    let mut input = vec![0u8; 16 * 1024];
    let mut stdin_open = true;
    let mut exit: Option<u32> = None;
    let mut ack = tokio::time::interval(ACK_EVERY);
    #[cfg(unix)]
    let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        .context("cannot watch the terminal's size")?;
    loop {
        #[cfg(unix)]
        let resized = winch.recv();
        #[cfg(not(unix))]
        let resized = std::future::pending::<Option<()>>();
        tokio::select! {
            msg = ws.next() => {
                let msg = match msg {
                    Some(Ok(m)) => m,
                    Some(Err(_)) | None => {
                        ws = reconnect(&s, instance.id, &progress).await?;
                        continue;
                    }
                };
                match msg {
                    Message::Binary(bytes) => {
                        stdout.write_all(&bytes).await.context("writing to stdout")?;
                        stdout.flush().await.context("writing to stdout")?;
                        progress.received += bytes.len() as u64;
                        if progress.received - progress.acked >= ACK_BYTES {
                            send_ack(&mut ws, &mut progress).await;
                        }
                    }
                    Message::Text(text) => match serde_json::from_str::<ConsoleServerMessage>(text.as_str()) {
                        Ok(ConsoleServerMessage::Ready { resume_token, offset, missed, reconnect_grace_seconds, .. }) => {
                            if missed > 0 {
                                eprint!("\r\n[wmai: {missed} bytes of output were lost while disconnected]\r\n");
                            }
                            progress.token = Some(resume_token);
                            progress.received = offset;
                            progress.grace = Duration::from_secs(reconnect_grace_seconds);
                        }
                        Ok(ConsoleServerMessage::Exit { status, .. }) => exit = Some(status),
                        Ok(ConsoleServerMessage::Closed { message, .. }) => {
                            return match exit {
                                Some(status) => Ok(status),
                                None => Err(CliError::new(Exit::Error, "console_closed", message).into()),
                            };
                        }
                        Ok(ConsoleServerMessage::Error { code, message }) => {
                            return Err(ClientError::Api(ApiError::new(code, message)).into());
                        }
                        Err(_) => {}
                    },
                    Message::Close(_) => {
                        return match exit {
                            Some(status) => Ok(status),
                            None => Err(CliError::new(Exit::Error, "console_closed", "the core closed the console").into()),
                        };
                    }
                    _ => {}
                }
            }
            n = stdin.read(&mut input), if stdin_open => {
                match n {
                    Ok(0) | Err(_) => {
                        stdin_open = false;
                        let _ = send_control(&mut ws, &ConsoleClientMessage::Eof).await;
                    }
                    Ok(n) => {
                        if ws.send(Message::Binary(input[..n].to_vec().into())).await.is_err() {
                            ws = reconnect(&s, instance.id, &progress).await?;
                        }
                    }
                }
            }
            Some(()) = resized => {
                let (cols, rows) = window_size();
                let _ = send_control(&mut ws, &ConsoleClientMessage::Resize { cols, rows }).await;
            }
            _ = ack.tick() => {
                if progress.received > progress.acked {
                    send_ack(&mut ws, &mut progress).await;
                }
            }
        }
    }
}

async fn send_control(ws: &mut Ws, m: &ConsoleClientMessage) -> Result<(), WsError> {
    ws.send(Message::Text(serde_json::to_string(m).unwrap_or_default().into())).await
}

async fn send_ack(ws: &mut Ws, progress: &mut Progress) {
    if send_control(ws, &ConsoleClientMessage::Ack { offset: progress.received }).await.is_ok() {
        progress.acked = progress.received;
    }
}

/// Opens the console WebSocket; an HTTP refusal becomes the API error it carries.
async fn connect(s: &Session, instance: i64, query: &ConsoleQuery) -> anyhow::Result<Ws> {
    let mut url = crate::follow::events_url(s.client.url(&format!("instances/{instance}/console"))?)?;
    let q = serde_json::to_value(query)?;
    if let Some(obj) = q.as_object() {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in obj {
            match v {
                serde_json::Value::String(t) => pairs.append_pair(k, t),
                other => pairs.append_pair(k, &other.to_string()),
            };
        }
    }
    let mut req = url.as_str().into_client_request().context("bad WebSocket request")?;
    if let Some(token) = s.client.token() {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).context("the token is not a valid header")?;
        req.headers_mut().insert(AUTHORIZATION, value);
    }
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(req)).await {
        Err(_) => Err(CliError::new(Exit::Unreachable, "unreachable", "the console did not open in time").into()),
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(WsError::Http(resp))) => {
            let body = resp.body().as_deref().unwrap_or_default();
            match serde_json::from_slice::<ApiError>(body) {
                Ok(api) => Err(ClientError::Api(api).into()),
                Err(_) => Err(anyhow::anyhow!("the core refused the console ({})", resp.status())),
            }
        }
        Ok(Err(e)) => {
            Err(CliError::new(Exit::Unreachable, "unreachable", format!("cannot open the console at {url}: {e}"))
                .into())
        }
    }
}

/// Reattaches after a dropped connection, for as long as the core keeps the session.
async fn reconnect(s: &Session, instance: i64, progress: &Progress) -> anyhow::Result<Ws> {
    let Some(token) = progress.token.clone() else {
        return Err(CliError::new(Exit::Unreachable, "unreachable", "the connection to the core dropped").into());
    };
    let query = ConsoleQuery { resume: Some(token), offset: Some(progress.received), ..Default::default() };
    let deadline = tokio::time::Instant::now() + progress.grace;
    eprint!("\r\n[wmai: connection to the core lost; reconnecting]\r\n");
    loop {
        match connect(s, instance, &query).await {
            Ok(ws) => return Ok(ws),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
            Err(e) if e.downcast_ref::<ClientError>().is_some() => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_words_are_quoted_one_is_a_command_line() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(command_line(&words(&["sh", "-c", "exit 7"])).unwrap(), "sh -c 'exit 7'");
        assert_eq!(command_line(&words(&["ls | wc -l"])).unwrap(), "ls | wc -l");
        assert_eq!(command_line(&words(&["echo", "it's"])).unwrap(), r"echo 'it'\''s'");
        assert_eq!(command_line(&words(&["printf", ""])).unwrap(), "printf ''");
        assert_eq!(command_line(&[]), None);
    }
}
