//! Fresh databases for tests: SQLite in a temporary directory, or a new database on the PostgreSQL
//! server named by `WINTERMUTE_TEST_POSTGRES_URL` (dropped again by `TestDatabase::drop_database`).

use rand::RngCore;
use sqlx::Connection;

use crate::store::Backend;

pub const POSTGRES_ENV: &str = "WINTERMUTE_TEST_POSTGRES_URL";

pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile_dir::Dir>,
}

/// The backends to run a conformance test on: always SQLite; PostgreSQL when the server URL is
/// set. Under CI (`CI` set) a missing PostgreSQL URL is an error, so no run passes by skipping it.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    match std::env::var(POSTGRES_ENV) {
        Ok(u) if !u.is_empty() => v.push(Backend::Postgres),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{POSTGRES_ENV} is not set under CI; scripts/test-all starts a PostgreSQL server and sets it")
        }
        _ => eprintln!("note: {POSTGRES_ENV} is not set; skipping the PostgreSQL run"),
    }
    v
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> TestDatabase {
        let mut id = [0u8; 6];
        rand::thread_rng().fill_bytes(&mut id);
        let name = format!("wm_test_{}", hex::encode(id));
        match backend {
            Backend::Sqlite => {
                let dir = tempfile_dir::Dir::new(&name);
                let url = format!("sqlite://{}?mode=rwc", dir.path.join("test.db").display());
                TestDatabase { url, backend, admin_url: None, name, _dir: Some(dir) }
            }
            Backend::Postgres => {
                sqlx::any::install_default_drivers();
                let admin_url = std::env::var(POSTGRES_ENV).unwrap_or_default();
                let mut conn = sqlx::AnyConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| panic!("cannot connect to {admin_url}: {e}"));
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("create database: {e}"));
                let _ = conn.close().await;
                let mut u = url::Url::parse(&admin_url).unwrap_or_else(|e| panic!("bad {POSTGRES_ENV}: {e}"));
                u.set_path(&format!("/{name}"));
                TestDatabase { url: u.to_string(), backend, admin_url: Some(admin_url), name, _dir: None }
            }
        }
    }

    /// Removes a PostgreSQL test database (SQLite ones go with their directory).
    pub async fn drop_database(self) {
        if let Some(admin) = &self.admin_url {
            if let Ok(mut conn) = sqlx::AnyConnection::connect(admin).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
            }
        }
    }
}

/// A temporary directory removed on drop (kept small to avoid a dependency for the library).
pub mod tempfile_dir {
    use std::path::PathBuf;

    pub struct Dir {
        pub path: PathBuf,
    }

    impl Dir {
        pub fn new(name: &str) -> Dir {
            let path = std::env::temp_dir().join(name);
            let _ = std::fs::create_dir_all(&path);
            Dir { path }
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// An engine on a fresh database and data directory, its workers running, with the first
/// administrator's temporary password already replaced. Stops its workers when dropped.
pub struct TestCore {
    pub engine: crate::Engine,
    pub admin: crate::Caller,
    pub db: TestDatabase,
    pub data_dir: tempfile_dir::Dir,
    stop: tokio_util::sync::CancellationToken,
}

/// The password `TestCore` gives the administrator and the users it creates.
pub const TEST_PASSWORD: &str = "Tested-Pass-4711";

impl TestCore {
    pub async fn start(backend: Backend) -> TestCore {
        TestCore::start_with(backend, |_| {}).await
    }

    /// [`TestCore::start`] with changes to its configuration.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut crate::Config)) -> TestCore {
        let db = TestDatabase::new(backend).await;
        let mut id = [0u8; 6];
        rand::thread_rng().fill_bytes(&mut id);
        let data_dir = tempfile_dir::Dir::new(&format!("wm_core_{}", hex::encode(id)));
        let mut config = crate::Config::default();
        config.database.url = db.url.clone();
        config.storage.data_dir = data_dir.path.clone();
        config.debug.test_tasks = true;
        tweak(&mut config);
        let (engine, first) = crate::Engine::open(config).await.unwrap_or_else(|e| panic!("engine: {e}"));
        let temp = first.unwrap_or_else(|| panic!("a fresh core has a first start")).password;
        let stop = tokio_util::sync::CancellationToken::new();
        engine.start(stop.clone());
        let admin = replace_temporary(&engine, "admin", &temp).await;
        // Tests never ask a public service for the core's address: a closed loopback port stands
        // in until a test points the setting at its own server.
        engine
            .settings_set(&admin, "WMAIS_SG_AUTO_IP_DISCOVER", serde_json::json!("http://127.0.0.1:9/"))
            .await
            .unwrap_or_else(|e| panic!("setting: {e}"));
        TestCore { engine, admin, db, data_dir, stop }
    }

    /// Logs a user in and resolves the session to a caller.
    pub async fn login(&self, login: &str, password: &str) -> crate::Caller {
        let r = self.engine.login(login, password, None).await.unwrap_or_else(|e| panic!("login {login}: {e}"));
        self.engine.authenticate(&r.token, None).await.unwrap_or_else(|e| panic!("authenticate {login}: {e}"))
    }

    /// Creates a user (password `TEST_PASSWORD`, temporary one already replaced).
    pub async fn user(&self, login: &str) -> (wintermute_api::users::User, crate::Caller) {
        let req = wintermute_api::users::NewUser {
            login: login.into(),
            password: "Temporary-Pass-0815".into(),
            enabled: true,
            ..Default::default()
        };
        let user = self.engine.users_create(&self.admin, &req).await.unwrap_or_else(|e| panic!("create {login}: {e}"));
        let caller = replace_temporary(&self.engine, login, "Temporary-Pass-0815").await;
        (user, caller)
    }

    /// Waits (up to 30 s) until a task has finished and returns it.
    pub async fn finished_task(&self, caller: &crate::Caller, id: i64) -> wintermute_api::tasks::Task {
        for _ in 0..300 {
            let t = self.engine.tasks_get(caller, id).await.unwrap_or_else(|e| panic!("task {id}: {e}"));
            if t.state.is_finished() {
                return t;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("task {id} did not finish within 30 s");
    }
}

impl Drop for TestCore {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn replace_temporary(engine: &crate::Engine, login: &str, temp: &str) -> crate::Caller {
    let r = engine.login(login, temp, None).await.unwrap_or_else(|e| panic!("login {login}: {e}"));
    let c = engine.authenticate(&r.token, None).await.unwrap_or_else(|e| panic!("authenticate {login}: {e}"));
    engine.change_own_password(&c, temp, TEST_PASSWORD).await.unwrap_or_else(|e| panic!("password of {login}: {e}"));
    let r = engine.login(login, TEST_PASSWORD, None).await.unwrap_or_else(|e| panic!("login {login}: {e}"));
    engine.authenticate(&r.token, None).await.unwrap_or_else(|e| panic!("authenticate {login}: {e}"))
}
