//! The Wintermute user interface: Rust compiled to wasm, rendered in the browser with Leptos.
//! It talks to the core only through the shared typed client (`wintermute-api`).

mod api;
mod app;
mod chart;
mod desktop;
mod events;
mod pages;
mod rights;
mod ui;
mod xterm;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
