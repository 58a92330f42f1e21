//! Wire types of the Wintermute core's HTTP API (`/api/v1`).
//!
//! This crate holds only serde-level types, so the wasm frontend, the desktop shell, the `wmai` CLI and
//! the tests all speak the same language. The typed client lives behind the `client` feature.

pub mod audit;
pub mod auth;
pub mod console;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod instances;
pub mod keys;
pub mod providers;
pub mod rights;
pub mod scenarios;
pub mod settings;
pub mod setup;
pub mod sync;
pub mod tags;
pub mod tar;
pub mod tasks;
pub mod users;

#[cfg(feature = "client")]
pub mod client;

pub use error::{ApiError, ErrorCode};

/// Version of the API described by these types.
pub const API_VERSION: &str = "v1";

/// `GET /api/v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` when the core answers.
    pub status: String,
    /// Version of the core software.
    pub version: String,
    /// Database backend: `sqlite` or `postgres`.
    pub database: String,
}

/// A page of results with the cursor for the next page.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}
