//! Cross-origin requests from the desktop app.
//!
//! The desktop app shows the frontend bundled into it, from its own origin (`tauri://localhost`
//! on Linux and macOS, `http(s)://tauri.localhost` on Windows), and calls the core's API from
//! there: the browser engine sends those calls only when the core allows that origin. No other
//! origin is allowed, and allowing these adds no ambient authority: the API authenticates with
//! a bearer token the page holds (no cookies), which another page cannot send for it.

use std::time::Duration;

use axum::http::{header, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The origins of the desktop app's pages.
pub const DESKTOP_ORIGINS: [&str; 3] = ["tauri://localhost", "http://tauri.localhost", "https://tauri.localhost"];

/// The CORS layer of the whole application.
pub fn layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(DESKTOP_ORIGINS.map(HeaderValue::from_static)))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::RETRY_AFTER, header::CONTENT_DISPOSITION])
        .max_age(Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    fn preflight(origin: &str) -> Request<Body> {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/v1/auth/login")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization,content-type")
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn only_the_desktop_app_may_call_from_another_origin() {
        let app =
            axum::Router::new().route("/api/v1/auth/login", axum::routing::post(|| async { "ok" })).layer(layer());
        let ok = app.clone().oneshot(preflight("tauri://localhost")).await.unwrap();
        assert_eq!(ok.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "tauri://localhost");
        let allowed = ok.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap().to_owned();
        assert!(allowed.contains("authorization"), "{allowed}");
        let other = app.oneshot(preflight("https://evil.example")).await.unwrap();
        assert!(other.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    }
}
