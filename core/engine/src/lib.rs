//! The Wintermute core engine: the domain and its services, with no HTTP in it.
//!
//! `Engine::open` connects the store, runs migrations, recovers interrupted tasks and creates the
//! first administrator. Every operation takes the calling user (`Caller`) and checks their rights.

pub mod audit;
pub mod auth;
pub mod caller;
pub mod config;
pub mod console;
pub mod custody;
pub mod dashboard;
pub mod engine;
pub mod error;
pub mod events;
pub mod groups;
pub mod instances;
pub mod password;
pub mod providers;
mod provisioning;
pub mod rights;
pub mod scenarios;
pub mod settings;
pub mod store;
pub mod sync;
pub mod tasks;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
pub mod users;
pub mod validate;

pub use caller::Caller;
pub use config::Config;
pub use engine::{Engine, FirstStart};
pub use error::{CoreError, CoreResult, StoreError};
