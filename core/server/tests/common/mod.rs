//! An in-process core on 127.0.0.1:0 with a fresh database, and helpers to log users in.
#![allow(dead_code)]

pub mod console;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use wintermute_core::store::Backend;
use wintermute_core::testing::TestDatabase;
use wintermute_core::{Config, Engine};

pub const ADMIN_PASSWORD: &str = "Adm1n-Strong-Pass";
pub const USER_PASSWORD: &str = "Us3r-Strong-Pass";

pub struct TestServer {
    pub url: String,
    pub engine: Engine,
    pub http: reqwest::Client,
    pub temp_password: String,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    db: Option<TestDatabase>,
}

/// A response: status and JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body.get("code").and_then(|c| c.as_str()).unwrap_or("")
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(Backend::Sqlite, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let db = TestDatabase::new(backend).await;
        let mut config = Config::default();
        config.database.url = db.url.clone();
        config.debug.test_tasks = true;
        config.server.body_limit_bytes = 64 * 1024;
        tweak(&mut config);
        let (engine, first) = Engine::open(config).await.expect("engine opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let stop = CancellationToken::new();
        let task = tokio::spawn(wintermute_server::serve(listener, engine.clone(), stop.clone()));
        TestServer {
            url,
            engine,
            http: reqwest::Client::new(),
            temp_password: first.expect("first start").password,
            stop,
            task: Some(task),
            db: Some(db),
        }
    }

    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        if let Some(db) = self.db.take() {
            db.drop_database().await;
        }
    }

    /// Any request; `token` None means anonymous. `body` None sends no body.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut req = self.http.request(method, format!("{}{}", self.url, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request reaches the server");
        let status = resp.status();
        let bytes = resp.bytes().await.expect("body");
        Resp { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Resp {
        let mut req =
            self.http.request(method, format!("{}{}", self.url, path)).header("content-type", content_type).body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request reaches the server");
        let status = resp.status();
        let bytes = resp.bytes().await.expect("body");
        Resp { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    pub async fn login(&self, login: &str, password: &str) -> String {
        let r = self
            .call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": login, "password": password})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "login {login}: {:?}", r.body);
        r.body["token"].as_str().expect("token").to_owned()
    }

    /// The admin's token, after replacing the temporary password (once).
    pub async fn admin(&self) -> String {
        let r = self
            .call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": "admin", "password": ADMIN_PASSWORD})))
            .await;
        if r.status == StatusCode::OK {
            return r.body["token"].as_str().expect("token").to_owned();
        }
        let t = self.login("admin", &self.temp_password).await;
        let r = self
            .call(
                Method::POST,
                "/api/v1/auth/password",
                Some(&t),
                Some(json!({"current_password": self.temp_password, "new_password": ADMIN_PASSWORD})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
        t
    }

    /// Creates a user with these global permissions and returns (id, token), password already changed.
    pub async fn user(&self, login: &str, permissions: &[&str]) -> (i64, String) {
        let admin = self.admin().await;
        let r = self
            .call(
                Method::POST,
                "/api/v1/users",
                Some(&admin),
                Some(json!({"login": login, "password": "Temp-Pass-1234"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let id = r.body["id"].as_i64().expect("id");
        if !permissions.is_empty() {
            let r = self
                .call(
                    Method::PUT,
                    &format!("/api/v1/users/{id}/permissions"),
                    Some(&admin),
                    Some(json!({"permissions": permissions})),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        }
        let t = self.login(login, "Temp-Pass-1234").await;
        let r = self
            .call(
                Method::POST,
                "/api/v1/auth/password",
                Some(&t),
                Some(json!({"current_password": "Temp-Pass-1234", "new_password": USER_PASSWORD})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
        (id, t)
    }

    /// Row count of a table, to show that refused requests wrote nothing.
    pub async fn count(&self, table: &str) -> i64 {
        let (n,): (i64,) = sqlx_count(self.engine.store().pool(), &format!("SELECT COUNT(*) FROM {table}")).await;
        n
    }
}

async fn sqlx_count(pool: &sqlx::AnyPool, sql: &str) -> (i64,) {
    sqlx::query_as(sql).fetch_one(pool).await.expect("count")
}
