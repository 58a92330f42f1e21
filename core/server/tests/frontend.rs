//! The browser interface at `/`: files of the configured folder with the right content types and
//! caching, the app's own routes answered with `index.html`, the API untouched, and a plain page
//! when no frontend is installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, IF_MODIFIED_SINCE, LAST_MODIFIED};
use reqwest::StatusCode;
use wintermute_core::store::Backend;

const INDEX: &str = "<!doctype html><title>Wintermute</title><p>app shell marker</p>";
const WASM: &[u8] = b"\0asm\x01\0\0\0";

/// A folder shaped like the output of scripts/build-frontend.
fn dist() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), INDEX).unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/app-0123abcd_bg.wasm"), WASM).unwrap();
    std::fs::write(dir.path().join("assets/app-0123abcd.js"), "export default function init() {}\n").unwrap();
    std::fs::write(dir.path().join("assets/style-89efcdab.css"), "body { margin: 0 }\n").unwrap();
    std::fs::write(dir.path().join("favicon.svg"), "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
    dir
}

struct Got {
    status: StatusCode,
    content_type: String,
    cache: String,
    last_modified: Option<String>,
    body: Vec<u8>,
}

async fn get(s: &TestServer, path: &str) -> Got {
    let resp = s.http.get(format!("{}{}", s.url, path)).send().await.unwrap();
    let header = |name| resp.headers().get(name).map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned());
    Got {
        status: resp.status(),
        content_type: header(CONTENT_TYPE).unwrap_or_default(),
        cache: header(CACHE_CONTROL).unwrap_or_default(),
        last_modified: header(LAST_MODIFIED),
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

#[tokio::test]
async fn the_core_serves_the_frontend_with_types_caching_and_app_routes() {
    let dir = dist();
    let path = dir.path().to_path_buf();
    let s = TestServer::start_with(Backend::Sqlite, move |c| c.server.frontend_dir = Some(path)).await;

    let root = get(&s, "/").await;
    assert_eq!(root.status, StatusCode::OK);
    assert!(root.content_type.starts_with("text/html"), "{}", root.content_type);
    assert_eq!(root.cache, "no-cache", "index.html is revalidated, so a new build shows at once");
    assert_eq!(root.body, INDEX.as_bytes());

    for route in ["/dashboard", "/users/3", "/tasks/12/log"] {
        let page = get(&s, route).await;
        assert_eq!(page.status, StatusCode::OK, "{route}");
        assert_eq!(page.body, INDEX.as_bytes(), "{route} is a route of the app: index.html");
        assert_eq!(page.cache, "no-cache", "{route}");
    }

    let wasm = get(&s, "/assets/app-0123abcd_bg.wasm").await;
    assert_eq!(wasm.status, StatusCode::OK);
    assert_eq!(wasm.content_type, "application/wasm", "browsers compile wasm streaming only with this type");
    assert_eq!(wasm.cache, "public, max-age=31536000, immutable");
    assert_eq!(wasm.body, WASM);
    let js = get(&s, "/assets/app-0123abcd.js").await;
    assert!(js.content_type.starts_with("text/javascript"), "{}", js.content_type);
    assert_eq!(js.cache, "public, max-age=31536000, immutable");
    let css = get(&s, "/assets/style-89efcdab.css").await;
    assert!(css.content_type.starts_with("text/css"), "{}", css.content_type);
    let icon = get(&s, "/favicon.svg").await;
    assert_eq!(icon.content_type, "image/svg+xml");
    assert_eq!(icon.cache, "no-cache", "only assets/ has content-hashed names");

    // A file that is not there is a 404, not the app (a script tag must not get HTML).
    let gone = get(&s, "/assets/app-old.js").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_ne!(gone.body, INDEX.as_bytes());
    // Nothing outside the folder: at most the app itself answers.
    let secret = dir.path().parent().unwrap().join("outside-the-frontend.txt");
    std::fs::write(&secret, "not for browsers").unwrap();
    for path in [
        "/../outside-the-frontend.txt",
        "/assets/..%2f..%2foutside-the-frontend.txt",
        "/%2e%2e/outside-the-frontend.txt",
        "/assets/%2e%2e/%2e%2e/outside-the-frontend.txt",
        "/..%5coutside-the-frontend.txt",
    ] {
        let got = get(&s, path).await;
        let body = String::from_utf8_lossy(&got.body);
        assert!(!body.contains("not for browsers"), "{path} left the folder");
        assert!(got.status == StatusCode::NOT_FOUND || got.body == INDEX.as_bytes(), "{path}: {}", got.status);
    }
    std::fs::remove_file(&secret).unwrap();

    // An unchanged file is not sent again.
    let lm = wasm.last_modified.expect("Last-Modified on static files");
    let again = s
        .http
        .get(format!("{}/assets/app-0123abcd_bg.wasm", s.url))
        .header(IF_MODIFIED_SINCE, lm)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // Only GET and HEAD.
    let post = s.http.post(format!("{}/dashboard", s.url)).body("x").send().await.unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);

    // The API is not the app: unknown API routes stay JSON errors.
    let r = s.call(reqwest::Method::GET, "/api/v1/no/such/route", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "not_found");
    let r = s.call(reqwest::Method::GET, "/api/v1/health", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ok");
    s.stop().await;
}

#[tokio::test]
async fn without_a_frontend_the_root_says_so_and_the_api_works() {
    let empty = tempfile::tempdir().unwrap();
    let path = empty.path().to_path_buf();
    let s = TestServer::start_with(Backend::Sqlite, move |c| c.server.frontend_dir = Some(path)).await;

    let root = get(&s, "/").await;
    assert_eq!(root.status, StatusCode::NOT_FOUND);
    assert!(root.content_type.starts_with("text/html"), "{}", root.content_type);
    let text = String::from_utf8(root.body).unwrap();
    assert!(text.contains("browser interface is not installed"), "{text}");
    assert!(text.contains(&empty.path().display().to_string()), "names where it looked: {text}");
    assert!(text.contains("scripts/build-frontend"), "{text}");
    let page = get(&s, "/users").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);

    let r = s.call(reqwest::Method::GET, "/api/v1/health", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let admin = s.admin().await;
    let r = s.call(reqwest::Method::GET, "/api/v1/users", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = s.call(reqwest::Method::GET, "/api/v1/no/such/route", None, None).await;
    assert_eq!(r.code(), "not_found");
    s.stop().await;
}
