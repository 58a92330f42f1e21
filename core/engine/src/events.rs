//! Live events (task changes and log lines) fanned out to WebSocket subscribers.

use std::sync::Arc;

use tokio::sync::broadcast;
use wintermute_api::events::Event;

#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
}

impl EventBus {
    pub fn new() -> EventBus {
        let (tx, _) = broadcast::channel(4096);
        EventBus { tx }
    }

    pub fn publish(&self, e: Event) {
        // No subscriber is fine: events are also in the database.
        let _ = self.tx.send(Arc::new(e));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}
