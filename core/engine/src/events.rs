//! Live events (task changes and log lines) fanned out to WebSocket subscribers.
//!
//! On a shared core (PostgreSQL) every replica also sends its events with NOTIFY and listens for
//! the other replicas' events, so a browser connected to any replica sees every task.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use wintermute_api::events::Event;

const CHANNEL: &str = "wintermute_events";
/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
const MAX_PAYLOAD: usize = 7900;

#[derive(Serialize, Deserialize)]
struct Relayed {
    origin: String,
    event: Event,
}

#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    origin: String,
    outbox: Arc<Mutex<Option<mpsc::UnboundedSender<String>>>>,
}

impl EventBus {
    pub fn new(origin: &str) -> EventBus {
        let (tx, _) = broadcast::channel(4096);
        EventBus { tx, origin: origin.to_owned(), outbox: Arc::new(Mutex::new(None)) }
    }

    pub fn publish(&self, e: Event) {
        if let Ok(Some(out)) = self.outbox.lock().as_deref() {
            if let Some(payload) = relay_payload(&self.origin, &e) {
                let _ = out.send(payload);
            }
        }
        // No subscriber is fine: events are also in the database.
        let _ = self.tx.send(Arc::new(e));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Relays events between the replicas sharing one PostgreSQL database until `stop`.
    pub async fn relay_postgres(&self, database_url: &str, pool: sqlx::AnyPool, stop: CancellationToken) {
        let mut listener = match sqlx::postgres::PgListener::connect(database_url).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("cannot listen for other replicas' events: {e}");
                return;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::error!("cannot listen for other replicas' events: {e}");
            return;
        }
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
        if let Ok(mut o) = self.outbox.lock() {
            *o = Some(out_tx);
        }
        let sender = {
            let stop = stop.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        msg = out_rx.recv() => {
                            let Some(payload) = msg else { break };
                            if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(&pool).await {
                                tracing::warn!("could not relay an event to other replicas: {e}");
                            }
                        }
                    }
                }
            })
        };
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                n = listener.try_recv() => match n {
                    Ok(Some(n)) => {
                        if let Ok(r) = serde_json::from_str::<Relayed>(n.payload()) {
                            if r.origin != self.origin {
                                let _ = self.tx.send(Arc::new(r.event));
                            }
                        }
                    }
                    // The connection dropped and is being re-established: events may be missing.
                    Ok(None) => { let _ = self.tx.send(Arc::new(Event::Lagged { skipped: 0 })); }
                    Err(e) => {
                        tracing::warn!("event relay: {e}");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        }
        if let Ok(mut o) = self.outbox.lock() {
            *o = None;
        }
        let _ = sender.await;
    }
}

fn relay_payload(origin: &str, e: &Event) -> Option<String> {
    let mut relayed = Relayed { origin: origin.to_owned(), event: e.clone() };
    let mut s = serde_json::to_string(&relayed).ok()?;
    if s.len() > MAX_PAYLOAD {
        // Only log lines can be long: shorten the line, the full text stays in the database.
        if let Event::TaskLog { line } = &mut relayed.event {
            let cut = line.line.len().saturating_sub(s.len() - MAX_PAYLOAD + 20);
            let mut end = cut;
            while !line.line.is_char_boundary(end) {
                end -= 1;
            }
            line.line.truncate(end);
            line.line.push_str(" [...]");
            s = serde_json::to_string(&relayed).ok()?;
        }
    }
    (s.len() <= MAX_PAYLOAD).then_some(s)
}
