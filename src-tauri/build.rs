//! Points the embedded frontend at the build of scripts/build-frontend.
//!
//! `tauri::generate_context!` embeds `build.frontendDist` into the binary at compile time. That
//! folder lives outside the clone (`WINTERMUTE_FRONTEND_DIST`, default
//! `~/.cache/wintermute/frontend-dist`), so its path is handed to the macro through the
//! `TAURI_CONFIG` variable it merges over tauri.conf.json. Without a built frontend (a `cargo
//! clippy` before `scripts/build-frontend`) the app embeds `placeholder/`, a page saying how to
//! build it properly, and the build warns.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=WINTERMUTE_FRONTEND_DIST");
    println!("cargo:rerun-if-env-changed=HOME");
    let dist = match std::env::var_os("WINTERMUTE_FRONTEND_DIST") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/wintermute/frontend-dist")),
    };
    match dist.filter(|d| d.join("index.html").is_file()) {
        Some(dir) => {
            // A new frontend build is a new folder (scripts/build-frontend swaps it in whole), and
            // its index.html names assets by content hash: both make Cargo embed it again.
            println!("cargo:rerun-if-changed={}", dir.display());
            println!("cargo:rerun-if-changed={}", dir.join("index.html").display());
            let index = std::fs::read(dir.join("index.html")).unwrap_or_default();
            println!("cargo:rustc-env=WINTERMUTE_FRONTEND_INDEX_LEN={}", index.len());
            let patch = serde_json::json!({ "build": { "frontendDist": dir } });
            println!("cargo:rustc-env=TAURI_CONFIG={patch}");
            println!("cargo:rustc-env=WINTERMUTE_FRONTEND_EMBEDDED={}", dir.display());
        }
        None => {
            println!(
                "cargo:warning=no built frontend (scripts/build-frontend): the desktop app embeds a placeholder page"
            );
            println!("cargo:rustc-env=WINTERMUTE_FRONTEND_EMBEDDED=");
        }
    }
    tauri_build::build()
}
