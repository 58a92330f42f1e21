//! SSH console helpers for end-to-end tests and the console benchmark: an instance record that
//! points at an SSH server the test runs (written straight into the core's SQLite database, since
//! no cloud launched it), and a console WebSocket client.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::SqlitePool;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wintermute_api::client::Client;
use wintermute_api::providers::{NewProvider, ProviderKind};

use crate::core::Core;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The core's SQLite database (a core started without `--database`).
pub async fn database(core: &Core) -> anyhow::Result<SqlitePool> {
    database_at(&core.data_dir().join("wintermute.db")).await
}

async fn database_at(path: &Path) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::new().filename(path).busy_timeout(Duration::from_secs(10));
    SqlitePoolOptions::new().max_connections(2).connect_with(options).await.context("opening the core's database")
}

/// Instances pointing at SSH servers the test runs, under a local provider `lab` of the core.
pub struct InstanceRegistry {
    db: SqlitePool,
    provider: i64,
}

impl InstanceRegistry {
    /// Creates the provider `lab` through the API (`admin` must be an administrator).
    pub async fn new(core: &Core, admin: &Client) -> anyhow::Result<InstanceRegistry> {
        let provider = admin
            .create_provider(&NewProvider { kind: Some(ProviderKind::Local), name: "lab".into(), ..Default::default() })
            .await
            .context("creating a local provider")?;
        Ok(InstanceRegistry { db: database(core).await?, provider: provider.id })
    }

    /// A running instance `name` of `owner`, whose SSH server is `127.0.0.1:port`, login `login`.
    pub async fn add(&self, owner: i64, name: &str, port: u16, login: &str) -> anyhow::Result<i64> {
        let now = chrono_now_ms();
        let mut tx = self.db.begin().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO instances (owner_id, provider_id, name, status, created_at, updated_at, ssh_host, ssh_port, \
             login_user, public_ip, region) VALUES ($1, $2, $3, 'running', $4, $4, '127.0.0.1', $5, $6, '127.0.0.1', 'local') \
             RETURNING id",
        )
        .bind(owner)
        .bind(self.provider)
        .bind(name)
        .bind(now)
        .bind(i64::from(port))
        .bind(login)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO objects (kind, id, owner_id, name, created_at) VALUES ('instance', $1, $2, $3, $4)")
            .bind(id)
            .bind(owner)
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    pub fn db(&self) -> &SqlitePool {
        &self.db
    }
}

fn chrono_now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// The console WebSocket URL of an instance.
pub fn console_url(core_url: &str, instance: i64, query: &str) -> String {
    let base = core_url.trim_end_matches('/').replacen("http://", "ws://", 1).replacen("https://", "wss://", 1);
    format!("{base}/api/v1/instances/{instance}/console?{query}")
}

/// An open console: its socket, and the `ready` message.
pub struct ConsoleClient {
    pub ws: Ws,
    pub ready: Value,
    /// Output bytes received.
    pub received: u64,
    acked: u64,
}

impl ConsoleClient {
    /// Opens a console and waits for `ready`.
    pub async fn open(core_url: &str, token: &str, instance: i64, query: &str) -> anyhow::Result<ConsoleClient> {
        let mut req = console_url(core_url, instance, query).into_client_request()?;
        req.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.context("opening the console")?;
        let ready = loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => break serde_json::from_str::<Value>(t.as_str())?,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => bail!("expected the ready message, got {other:?}"),
            }
        };
        if ready["type"] != "ready" {
            bail!("the console was not opened: {ready}");
        }
        let received = ready["offset"].as_u64().unwrap_or(0);
        Ok(ConsoleClient { ws, ready, received, acked: received })
    }

    pub async fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.ws.send(Message::Binary(bytes.to_vec().into())).await.context("sending to the console")
    }

    /// The next output bytes (control messages other than the end are skipped); `None` at the end.
    /// Acknowledges output every 256 KiB.
    pub async fn next_output(&mut self) -> anyhow::Result<Option<bytes::Bytes>> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Binary(b))) => {
                    self.received += b.len() as u64;
                    if self.received - self.acked >= 256 * 1024 {
                        self.ack().await?;
                    }
                    return Ok(Some(b));
                }
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str())?;
                    if v["type"] == "error" {
                        return Err(anyhow!("console error: {v}"));
                    }
                }
                Some(Ok(Message::Close(_))) | None => return Ok(None),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
            }
        }
    }

    pub async fn ack(&mut self) -> anyhow::Result<()> {
        let m = json!({"type": "ack", "offset": self.received}).to_string();
        self.ws.send(Message::Text(m.into())).await?;
        self.acked = self.received;
        Ok(())
    }

    /// Reads until the output (from now on) contains `needle`; returns what was read.
    pub async fn read_until(&mut self, needle: &[u8], timeout: Duration) -> anyhow::Result<Vec<u8>> {
        let mut seen = Vec::new();
        tokio::time::timeout(timeout, async {
            loop {
                match self.next_output().await? {
                    Some(b) => {
                        // Only the new bytes (and the needle's length before them) can hold it.
                        let from = seen.len().saturating_sub(needle.len());
                        seen.extend_from_slice(&b);
                        if contains(&seen[from..], needle) {
                            break;
                        }
                    }
                    None => bail!("the console ended before {:?}", String::from_utf8_lossy(needle)),
                }
            }
            Ok(())
        })
        .await
        .map_err(|_| anyhow!("no {:?} within {timeout:?}", String::from_utf8_lossy(needle)))??;
        Ok(seen)
    }

    /// Ends the session (`close` message) and reads to the end.
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.ws.send(Message::Text(json!({"type": "close"}).to_string().into())).await?;
        while self.next_output().await?.is_some() {}
        Ok(())
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}
