//! What every handler gets.

use wintermute_core::Engine;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
}
