//! The SSH console: the WebSocket at `/api/v1/instances/{id}/console` (protocol in
//! `wintermute_api::console`), the console sessions of an instance and of a user, and their
//! recordings, streamed from disk.
//!
//! Each WebSocket runs as two tokio tasks: one reads the client's frames (typing goes straight to
//! the SSH channel, so it never waits for output to be sent), one sends output and control
//! messages and pings the client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use wintermute_api::console::{
    ConsoleClientMessage, ConsoleCloseReason, ConsoleQuery, ConsoleServerMessage, ConsoleSession, ConsoleSessionQuery,
    DEFAULT_TERM,
};
use wintermute_api::{ApiError, ErrorCode, Page};
use wintermute_core::console::{ConsoleAttachment, ConsoleControls, ConsoleOpen, ConsoleOutput};
use wintermute_core::{Caller, CoreError, Engine};

use crate::error::{HttpError, HttpResult};
use crate::extract::{Authed, AuthedWs, Path, Query};
use crate::state::AppState;

/// How often the core pings a console client, and how long a silent one is given.
const PING_EVERY: Duration = Duration::from_secs(20);
const SILENT_LIMIT: Duration = Duration::from_secs(60);
/// How long sending one frame may take before the client is taken as gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest frame a client may send (a big paste).
const MAX_CLIENT_MESSAGE: usize = 1024 * 1024;

/// Open an SSH console on an instance (WebSocket). Needs the "SSH console" right on it; refusals
/// that need no SSH connection are HTTP errors before the upgrade, the rest are `error` messages.
/// Binary frames carry terminal bytes, text frames JSON control messages (see the schemas
/// `ConsoleClientMessage` and `ConsoleServerMessage`).
#[utoipa::path(get, path = "/api/v1/instances/{id}/console", tag = "console", security(("bearer" = [])),
    params(("id" = i64, Path), ConsoleQuery),
    responses((status = 101, description = "switching to the WebSocket protocol"), (status = 401, body = ApiError),
        (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError),
        (status = 422, body = ApiError)))]
pub async fn console(
    State(s): State<AppState>,
    AuthedWs(c): AuthedWs,
    Path(id): Path<i64>,
    Query(q): Query<ConsoleQuery>,
    ws: WebSocketUpgrade,
) -> HttpResult<Response> {
    let engine = s.engine.clone();
    let request = match &q.resume {
        Some(token) => {
            engine.console_resumable(&c, id, token).await?;
            Request::Resume { token: token.clone(), offset: q.offset.unwrap_or(0) }
        }
        None => {
            if q.offset.is_some() {
                return Err(HttpError(ApiError::field(ErrorCode::InvalidField, "offset", "offset goes with resume")));
            }
            let open = ConsoleOpen {
                term: q.term.clone().unwrap_or_else(|| DEFAULT_TERM.into()),
                cols: q.cols.unwrap_or(80),
                rows: q.rows.unwrap_or(24),
                command: q.command.clone(),
                pty: q.pty.unwrap_or(true),
            };
            open.check()?;
            engine.console_check(&c, id).await?;
            Request::Open(open)
        }
    };
    Ok(ws
        .read_buffer_size(16 * 1024)
        .write_buffer_size(16 * 1024)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| serve(engine, c, id, request, socket)))
}

enum Request {
    Open(ConsoleOpen),
    Resume { token: String, offset: u64 },
}

type Sink = SplitSink<WebSocket, Message>;

fn json_text(m: &ConsoleServerMessage) -> Message {
    Message::Text(Utf8Bytes::from(serde_json::to_string(m).unwrap_or_default()))
}

async fn send(sink: &mut Sink, m: Message) -> bool {
    matches!(tokio::time::timeout(SEND_TIMEOUT, sink.send(m)).await, Ok(Ok(())))
}

async fn close(sink: &mut Sink, code: u16, reason: &str) {
    let frame = CloseFrame { code, reason: Utf8Bytes::from(reason.chars().take(100).collect::<String>()) };
    let _ = send(sink, Message::Close(Some(frame))).await;
}

async fn serve(engine: Engine, caller: Caller, id: i64, request: Request, socket: WebSocket) {
    let (mut sink, stream) = socket.split();
    let attached = match request {
        Request::Open(open) => engine.console_open(&caller, id, &open).await,
        Request::Resume { token, offset } => engine.console_resume(&caller, id, &token, offset).await,
    };
    let mut att = match attached {
        Ok(a) => a,
        Err(e) => {
            let api = HttpError::from(e).0;
            send(&mut sink, json_text(&ConsoleServerMessage::Error { code: api.code, message: api.message })).await;
            close(&mut sink, 1008, api.code.as_str()).await;
            return;
        }
    };
    let ready = ConsoleServerMessage::Ready {
        session_id: att.session_id,
        resume_token: att.resume_token.clone(),
        offset: att.offset,
        missed: att.missed,
        recording: att.recording,
        reconnect_grace_seconds: att.reconnect_grace.as_secs(),
        idle_timeout_minutes: att.idle_timeout.map_or(0, |d| d.as_secs() / 60),
    };
    if !send(&mut sink, json_text(&ready)).await {
        return;
    }
    let started = Instant::now();
    let last_seen = Arc::new(AtomicU64::new(0));
    let (notes_tx, notes) = mpsc::unbounded_channel();
    let reader = tokio::spawn(read(stream, att.controls(), last_seen.clone(), started, notes_tx));
    pump(&mut sink, &mut att, notes, &last_seen, started).await;
    reader.abort();
    drop(att);
}

/// Sends output and control messages until the session ends, is taken over, or the client goes.
async fn pump(
    sink: &mut Sink,
    att: &mut ConsoleAttachment,
    mut notes: mpsc::UnboundedReceiver<ConsoleServerMessage>,
    last_seen: &AtomicU64,
    started: Instant,
) {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    loop {
        tokio::select! {
            out = att.next() => match out {
                ConsoleOutput::Data(bytes) => {
                    if !send(sink, Message::Binary(bytes)).await {
                        return;
                    }
                }
                ConsoleOutput::Exit(e) => {
                    if !send(sink, json_text(&ConsoleServerMessage::Exit { status: e.status, signal: e.signal })).await {
                        return;
                    }
                }
                ConsoleOutput::Ended(reason) => {
                    let message = format!("the console session ended: {}", reason.as_str().replace('_', " "));
                    let m = ConsoleServerMessage::Closed { reason: ConsoleCloseReason::Ended, ended: Some(reason), message };
                    send(sink, json_text(&m)).await;
                    close(sink, 1000, reason.as_str()).await;
                    return;
                }
                ConsoleOutput::Replaced => {
                    let m = ConsoleServerMessage::Closed {
                        reason: ConsoleCloseReason::Replaced,
                        ended: None,
                        message: "another connection took this console session over".into(),
                    };
                    send(sink, json_text(&m)).await;
                    close(sink, 1000, "replaced").await;
                    return;
                }
            },
            note = notes.recv() => match note {
                Some(m) => {
                    if !send(sink, json_text(&m)).await {
                        return;
                    }
                }
                // The client went away: the reader ended.
                None => return,
            },
            _ = ping.tick() => {
                let silent = started.elapsed().saturating_sub(Duration::from_millis(last_seen.load(Ordering::Relaxed)));
                if silent > SILENT_LIMIT || !send(sink, Message::Ping(Default::default())).await {
                    return;
                }
            }
        }
    }
}

/// Reads the client's frames: typing, control messages. Ends when the client closes or errs
/// (dropping `notes`, which ends the pump).
async fn read(
    mut stream: SplitStream<WebSocket>,
    controls: ConsoleControls,
    last_seen: Arc<AtomicU64>,
    started: Instant,
    notes: mpsc::UnboundedSender<ConsoleServerMessage>,
) {
    while let Some(Ok(msg)) = stream.next().await {
        last_seen.store(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
        let result = match msg {
            Message::Binary(bytes) => controls.input(bytes).await,
            Message::Text(text) => match serde_json::from_str::<ConsoleClientMessage>(text.as_str()) {
                Ok(ConsoleClientMessage::Resize { cols, rows }) => controls.resize(cols, rows).await,
                Ok(ConsoleClientMessage::Ack { offset }) => {
                    controls.ack(offset);
                    Ok(())
                }
                Ok(ConsoleClientMessage::Eof) => controls.eof().await,
                Ok(ConsoleClientMessage::Close) => {
                    controls.close();
                    Ok(())
                }
                Err(e) => {
                    let message = format!("not a console control message: {e}");
                    let _ = notes.send(ConsoleServerMessage::Error { code: ErrorCode::InvalidBody, message });
                    Ok(())
                }
            },
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => Ok(()),
        };
        if let Err(e) = result {
            // The channel is gone; the session task notices and ends the session.
            tracing::debug!("console input: {e}");
        }
    }
}

/// Console sessions on an instance, newest first: all for administrators and "view logs", else
/// the caller's own.
#[utoipa::path(get, path = "/api/v1/instances/{id}/console-sessions", tag = "console", security(("bearer" = [])),
    params(("id" = i64, Path), ConsoleSessionQuery),
    responses((status = 200, body = Page<ConsoleSession>), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError)))]
pub async fn of_instance(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Query(q): Query<ConsoleSessionQuery>,
) -> HttpResult<axum::Json<Page<ConsoleSession>>> {
    Ok(axum::Json(s.engine.console_sessions_of_instance(&c, id, &q).await?))
}

/// Console sessions a user opened, newest first (their own; anyone's with "view logs").
#[utoipa::path(get, path = "/api/v1/users/{id}/console-sessions", tag = "console", security(("bearer" = [])),
    params(("id" = i64, Path), ConsoleSessionQuery),
    responses((status = 200, body = Page<ConsoleSession>), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub async fn of_user(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
    Query(q): Query<ConsoleSessionQuery>,
) -> HttpResult<axum::Json<Page<ConsoleSession>>> {
    Ok(axum::Json(s.engine.console_sessions_of_user(&c, id, &q).await?))
}

/// One console session.
#[utoipa::path(get, path = "/api/v1/console-sessions/{id}", tag = "console", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = ConsoleSession), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError)))]
pub async fn get(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(id): Path<i64>,
) -> HttpResult<axum::Json<ConsoleSession>> {
    Ok(axum::Json(s.engine.console_session(&c, id).await?))
}

/// The recording of a console session, an asciicast v2 file, streamed as it is on disk (a
/// session still open streams what was recorded so far). The user who opened the session,
/// administrators and "view logs" may read it; reading is audited.
#[utoipa::path(get, path = "/api/v1/console-sessions/{id}/recording", tag = "console", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, description = "the asciicast v2 recording", content_type = "application/x-asciicast"),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn recording(State(s): State<AppState>, Authed(c): Authed, Path(id): Path<i64>) -> HttpResult<Response> {
    let (_, path) = s.engine.console_recording(&c, id).await?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| CoreError::Unavailable(format!("cannot read the recording of console session {id}: {e}")))?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024));
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-asciicast".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"console-session-{id}.cast\"")),
        ],
        body,
    )
        .into_response())
}
