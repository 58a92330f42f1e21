//! The HTTP routes, grouped by area. Each handler carries its OpenAPI description.

pub mod auth;
pub mod console;
pub mod events;
pub mod instances;
pub mod keys;
pub mod providers;
pub mod rights;
pub mod scenarios;
pub mod sync;
pub mod system;
pub mod tasks;
pub mod users;
