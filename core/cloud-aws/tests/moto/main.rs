//! The AWS provider against the local EC2 emulator (`moto` in server mode).
//! See `../common/mod.rs` for how the emulator is run, and its limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod addresses;
mod catalogue;
mod credentials;
mod errors;
mod instances;
mod key_pairs;
mod security_groups;
mod support;
mod volumes;
