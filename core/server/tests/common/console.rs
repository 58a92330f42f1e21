//! A console WebSocket client for tests, and an instance row that points at a test sshd.
#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wintermute_api::rights::ObjectKind;
use wintermute_core::Engine;

use super::TestServer;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for any one thing.
pub const WAIT: Duration = Duration::from_secs(20);

/// Inserts a running instance of `owner` reachable at 127.0.0.1:`port` as `login`.
pub async fn add_instance(engine: &Engine, owner: i64, name: &str, port: u16, login: &str) -> i64 {
    let now = chrono::Utc::now().timestamp_millis();
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO instances (owner_id, name, status, created_at, updated_at, ssh_host, ssh_port, login_user) \
         VALUES ($1, $2, 'running', $3, $3, '127.0.0.1', $4, $5) RETURNING id",
    )
    .bind(owner)
    .bind(name)
    .bind(now)
    .bind(i64::from(port))
    .bind(login)
    .fetch_one(engine.store().pool())
    .await
    .unwrap();
    Engine::register_object(engine.store().pool(), ObjectKind::Instance, id, owner, name).await.unwrap();
    id
}

/// What the core said when the connection was refused before the upgrade.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: Value,
}

/// An open console: the socket, every output byte received, and the `ready` message.
pub struct Console {
    pub ws: Ws,
    pub received: Vec<u8>,
    /// Offset of `received[0]`.
    pub start: u64,
    pub ready: Value,
    /// Control messages other than `ready`, in order.
    pub controls: Vec<Value>,
}

pub fn console_url(s: &TestServer, instance: i64, query: &str) -> String {
    format!("{}/api/v1/instances/{instance}/console?{query}", s.url.replace("http://", "ws://"))
}

/// Opens a console WebSocket; `Err` when the core refused it before the upgrade.
pub async fn try_open(s: &TestServer, token: &str, instance: i64, query: &str) -> Result<Ws, Refused> {
    let mut req = console_url(s, instance, query).into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp.body().as_deref().map(|b| serde_json::from_slice(b).unwrap_or(Value::Null));
            Err(Refused { status: resp.status().as_u16(), body: body.unwrap_or(Value::Null) })
        }
        Err(e) => panic!("console connection failed: {e}"),
    }
}

impl Console {
    /// Opens a console and waits for `ready` (panics on anything else).
    pub async fn open(s: &TestServer, token: &str, instance: i64, query: &str) -> Console {
        let ws = try_open(s, token, instance, query).await.unwrap_or_else(|r| panic!("refused: {r:?}"));
        Console::ready(ws).await
    }

    pub async fn ready(mut ws: Ws) -> Console {
        let first = next_control(&mut ws).await;
        Console::with_ready(ws, first)
    }

    /// A console whose `ready` message was read already.
    pub fn with_ready(ws: Ws, ready: Value) -> Console {
        assert_eq!(ready["type"], "ready", "{ready}");
        let start = ready["offset"].as_u64().unwrap();
        Console { ws, received: Vec::new(), start, ready, controls: Vec::new() }
    }

    pub fn session_id(&self) -> i64 {
        self.ready["session_id"].as_i64().unwrap()
    }

    pub fn token(&self) -> String {
        self.ready["resume_token"].as_str().unwrap().to_owned()
    }

    /// Bytes received so far, counted from the session's start.
    pub fn offset(&self) -> u64 {
        self.start + self.received.len() as u64
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.received).into_owned()
    }

    pub async fn type_str(&mut self, s: &str) {
        self.ws.send(Message::Binary(s.as_bytes().to_vec().into())).await.unwrap();
    }

    pub async fn control(&mut self, v: Value) {
        self.ws.send(Message::Text(v.to_string().into())).await.unwrap();
    }

    pub async fn resize(&mut self, cols: u32, rows: u32) {
        self.control(json!({"type": "resize", "cols": cols, "rows": rows})).await;
    }

    /// Reads one message; false when the socket ended.
    pub async fn pump(&mut self) -> bool {
        match tokio::time::timeout(WAIT, self.ws.next()).await.expect("the console went silent") {
            Some(Ok(Message::Binary(b))) => self.received.extend_from_slice(&b),
            Some(Ok(Message::Text(t))) => self.controls.push(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return false,
            Some(Ok(_)) => {}
        }
        true
    }

    /// Reads until the output contains `needle` (after `from` bytes of `received`).
    pub async fn read_until_from(&mut self, from: usize, needle: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !String::from_utf8_lossy(&self.received[from.min(self.received.len())..]).contains(needle) {
            assert!(tokio::time::Instant::now() < deadline, "no {needle:?} in: {}", self.text());
            assert!(self.pump().await, "the console ended before {needle:?}: {} {:?}", self.text(), self.controls);
        }
    }

    pub async fn read_until(&mut self, needle: &str) {
        self.read_until_from(0, needle).await;
    }

    /// Reads to the end; returns the control messages seen.
    pub async fn read_to_end(&mut self) -> Vec<Value> {
        while self.pump().await {}
        self.controls.clone()
    }
}

/// The next text message, skipping nothing else (binary frames before it are a test failure).
pub async fn next_control(ws: &mut Ws) -> Value {
    next_control_within(ws, WAIT).await
}

pub async fn next_control_within(ws: &mut Ws, wait: Duration) -> Value {
    loop {
        match tokio::time::timeout(wait, ws.next()).await.expect("no message") {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a control message, got {other:?}"),
        }
    }
}
