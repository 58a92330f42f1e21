//! `GET /api/v1/events`: live task events over a WebSocket, only those the caller may see.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;
use wintermute_api::events::Event;
use wintermute_api::rights::{ObjectKind, ObjectRight};
use wintermute_api::ApiError;
use wintermute_core::{Caller, Engine};

use crate::extract::AuthedWs;
use crate::state::AppState;

/// Live events (JSON text frames of `Event`). Authenticate with the Authorization header or,
/// from browsers, `?token=`.
#[utoipa::path(get, path = "/api/v1/events", tag = "tasks", security(("bearer" = [])),
    params(("token" = Option<String>, Query, description = "the bearer token, for clients that cannot set headers")),
    responses((status = 101, description = "switching to the WebSocket protocol"), (status = 401, body = ApiError)))]
pub async fn events(State(s): State<AppState>, AuthedWs(c): AuthedWs, ws: WebSocketUpgrade) -> Response {
    let engine = s.engine.clone();
    ws.on_upgrade(move |socket| stream(engine, c, socket))
}

fn visible(c: &Caller, e: &Event, owners: &mut std::collections::HashMap<i64, bool>) -> bool {
    match e {
        Event::Task { task } => {
            let ok = Engine::may_see_task(c, task.owner_id);
            owners.insert(task.id, ok);
            ok
        }
        // Log lines follow their task's event, which always comes first (at creation).
        Event::TaskLog { line } => owners.get(&line.task_id).copied().unwrap_or(false),
        Event::Lagged { .. } => true,
        // Checked against the object's rights in `stream`.
        Event::Instance { .. } | Event::Volume { .. } => false,
    }
}

async fn stream(engine: Engine, caller: Caller, mut socket: WebSocket) {
    let mut rx = engine.events().subscribe();
    let mut owners = std::collections::HashMap::new();
    let mut ping = tokio::time::interval(Duration::from_secs(30));
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(RecvError::Lagged(n)) => std::sync::Arc::new(Event::Lagged { skipped: n }),
                    Err(RecvError::Closed) => break,
                };
                if !visible(&caller, &ev, &mut owners) {
                    let object = match ev.as_ref() {
                        Event::Instance { instance } => Some((ObjectKind::Instance, instance.id)),
                        Event::Volume { volume } => Some((ObjectKind::Volume, volume.id)),
                        _ => None,
                    };
                    if let Some((kind, id)) = object {
                        if engine.require_right(&caller, kind, id, ObjectRight::View).await.is_err() { continue; }
                    } else if let Event::TaskLog { line } = ev.as_ref() {
                        // A task created before this stream opened: look its owner up once.
                        if owners.contains_key(&line.task_id) { continue; }
                        let ok = engine.tasks_get(&caller, line.task_id).await.is_ok();
                        owners.insert(line.task_id, ok);
                        if !ok { continue; }
                    } else {
                        continue;
                    }
                }
                let Ok(text) = serde_json::to_string(ev.as_ref()) else { continue };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
        }
    }
}
