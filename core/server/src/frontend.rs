//! The browser interface: the built frontend (`scripts/build-frontend`) served at `/`.
//!
//! - Files come from one folder (`[server] frontend_dir`, else `frontend/` next to the binary, else
//!   `../share/wintermute/frontend/`); paths cannot leave it (tower-http's `ServeDir`).
//! - A path that names no file and looks like a page of the app (no `.` in its last segment) gets
//!   `index.html`, so the app's own routes (`/users`, `/tasks/3`) survive a reload.
//! - `assets/` holds files whose names carry a hash of their content: browsers may keep them for
//!   a year. Everything else (`index.html` above all) is revalidated on every load, so a new
//!   build reaches every browser at once.
//! - `/api/...` never reaches this: an unknown API route stays a JSON `not_found`.
//! - Without a frontend, `/` says so in a plain page; the API works as always.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};
use wintermute_api::ErrorCode;

use crate::error::HttpError;

/// `Cache-Control` of the content-hashed files under `assets/`.
pub const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of everything else: use it, but ask the core first whether it changed.
pub const CACHE_REVALIDATE: &str = "no-cache";

/// Where the frontend is, or where it was looked for.
#[derive(Debug, Clone)]
pub enum Frontend {
    Dir(PathBuf),
    Missing { looked_in: Vec<PathBuf> },
}

impl Frontend {
    /// The configured folder, else the first default folder that holds an `index.html`.
    pub fn locate(configured: Option<&Path>) -> Frontend {
        let candidates = match configured {
            Some(dir) => vec![dir.to_path_buf()],
            None => default_dirs(),
        };
        match candidates.iter().find(|d| d.join("index.html").is_file()) {
            Some(dir) => Frontend::Dir(dir.clone()),
            None => Frontend::Missing { looked_in: candidates },
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        match self {
            Frontend::Dir(d) => Some(d),
            Frontend::Missing { .. } => None,
        }
    }
}

/// `frontend/` next to the running binary, then `../share/wintermute/frontend/` from it.
fn default_dirs() -> Vec<PathBuf> {
    let Some(bin_dir) = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)) else {
        return Vec::new();
    };
    let mut dirs = vec![bin_dir.join("frontend")];
    if let Some(prefix) = bin_dir.parent() {
        dirs.push(prefix.join("share/wintermute/frontend"));
    }
    dirs
}

/// Answers every request no API route took.
pub async fn serve(frontend: &Frontend, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if path == "/api" || path.starts_with("/api/") {
        return HttpError::new(ErrorCode::NotFound, "there is no such route; see /api/v1/openapi.json").into_response();
    }
    let dir = match frontend {
        Frontend::Dir(dir) => dir,
        Frontend::Missing { looked_in } => return missing_page(looked_in),
    };
    let method = req.method().clone();
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD")], "only GET and HEAD here\n")
            .into_response();
    }
    let page_route = is_page_route(&path);
    let mut resp = match ServeDir::new(dir).oneshot(req).await {
        Ok(r) => r.map(Body::new),
        Err(e) => match e {},
    };
    if resp.status() == StatusCode::NOT_FOUND && page_route {
        // A route of the app: the app itself decides what to show.
        let req = Request::builder().method(method).uri("/index.html").body(Body::empty());
        let Ok(req) = req else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
        resp = match ServeFile::new(dir.join("index.html")).oneshot(req).await {
            Ok(r) => r.map(Body::new),
            Err(e) => match e {},
        };
    }
    if resp.status().is_success() || resp.status() == StatusCode::NOT_MODIFIED {
        let cache = if path.starts_with("/assets/") && !page_route { CACHE_IMMUTABLE } else { CACHE_REVALIDATE };
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    resp
}

/// `/`, `/users`, `/tasks/3`: no file extension in the last segment.
fn is_page_route(path: &str) -> bool {
    !path.rsplit('/').next().unwrap_or("").contains('.')
}

fn missing_page(looked_in: &[PathBuf]) -> Response {
    let places: String =
        looked_in.iter().map(|p| format!("<li><code>{}</code></li>", html_escape(&p.display().to_string()))).collect();
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Wintermute core</title></head>\
         <body><h1>Wintermute core</h1>\
         <p>This core runs, but its browser interface is not installed: there is no <code>index.html</code> in</p>\
         <ul>{places}</ul>\
         <p>Build it with <code>scripts/build-frontend</code> and point <code>[server] frontend_dir</code> \
         (or <code>WMAIS__SERVER__FRONTEND_DIR</code>) at the folder it prints. \
         The API at <a href=\"/api/v1/openapi.json\">/api/v1</a> and the <code>wmai</code> command line work without it.</p>\
         </body></html>\n"
    );
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, CACHE_REVALIDATE)],
        body,
    )
        .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_routes_have_no_extension() {
        assert!(is_page_route("/"));
        assert!(is_page_route("/users"));
        assert!(is_page_route("/tasks/12"));
        assert!(!is_page_route("/assets/app-1234.wasm"));
        assert!(!is_page_route("/favicon.ico"));
    }

    #[test]
    fn a_configured_folder_without_index_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        match Frontend::locate(Some(dir.path())) {
            Frontend::Missing { looked_in } => assert_eq!(looked_in, vec![dir.path().to_path_buf()]),
            other => panic!("expected missing, got {other:?}"),
        }
        std::fs::write(dir.path().join("index.html"), "<p>hi</p>").unwrap();
        assert_eq!(Frontend::locate(Some(dir.path())).dir(), Some(dir.path()));
    }
}
