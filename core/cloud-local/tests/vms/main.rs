//! The local provider with real guests: the Debian image is built (once, cached in
//! `~/.cache/wintermute/images`) and booted under QEMU.
//!
//! Every test skips with a note when QEMU, qemu-img or debootstrap is missing or the tests do
//! not run as root (building the image needs it) — except under CI (`CI` set), where that fails.
//! `scripts/test-all` installs what they need.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod lifecycle;
mod restart;
mod support;
