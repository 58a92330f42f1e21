//! The engine handle every front end (HTTP server, embedded desktop core, tests) works through.

use std::sync::Arc;
use wintermute_api::rights::ObjectKind;

use tokio_util::sync::CancellationToken;
use wintermute_api::audit::AuditOutcome;

use crate::audit::AuditRecord;
use crate::caller::Actor;
use crate::config::Config;
use crate::error::{CoreError, CoreResult};
use crate::events::EventBus;
use crate::settings::SettingsCache;
use crate::store::Store;
use crate::tasks::TaskManager;

/// The temporary password of the first administrator, created on the very first start.
#[derive(Debug)]
pub struct FirstStart {
    pub login: String,
    pub password: String,
}

#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub custody: crate::custody::Custody,
    /// SSH console sessions open on this core.
    pub consoles: crate::console::ConsoleHub,
    /// Local providers' objects, one per provider (see `Engine::local_provider`).
    pub local_clouds: tokio::sync::Mutex<std::collections::HashMap<i64, wintermute_cloud_local::LocalProvider>>,
    /// OpenStack providers' objects (which hold their Keystone token), one per provider and
    /// version of its settings (see `Engine::cloud`).
    pub openstack_clouds: std::sync::Mutex<
        std::collections::HashMap<i64, (i64, std::sync::Arc<wintermute_cloud_openstack::OpenstackProvider>)>,
    >,
    pub config: Config,
    pub store: Store,
    pub events: EventBus,
    pub settings: SettingsCache,
    pub tasks: TaskManager,
}

impl Engine {
    /// Opens the database (running migrations), recovers tasks a previous run left behind and, on
    /// the first start, creates the `admin` user with a random temporary password.
    pub async fn open(config: Config) -> CoreResult<(Engine, Option<FirstStart>)> {
        prepare_data_dir(&config.storage.data_dir)?;
        // The master key first: a key store that is unsafe or unreachable stops the core here.
        let custody = crate::custody::Custody::open(&config)?;
        let store = Store::open(&config.database_url(), config.database.max_connections).await?;
        let settings = SettingsCache::new();
        let tasks = TaskManager::new(&config);
        let events = EventBus::new(&tasks.replica_id);
        let engine = Engine {
            inner: Arc::new(Inner {
                custody,
                consoles: Default::default(),
                local_clouds: Default::default(),
                openstack_clouds: Default::default(),
                config,
                store,
                events,
                settings,
                tasks,
            }),
        };
        engine.check_master_key_matches().await?;
        engine.reload_settings().await?;
        engine.recover_tasks().await?;
        let first = engine.bootstrap_admin().await?;
        engine.resume_interrupted_rotation().await?;
        // Never a reason not to start: the set-up says itself what it lacks.
        if let Err(e) = engine.queue_local_bootstrap().await {
            tracing::warn!("cannot queue the set-up of the local provider: {e}");
        }
        Ok((engine, first))
    }

    /// Runs the task workers, housekeeping and (on PostgreSQL) the event relay between replicas
    /// until `shutdown` fires, then hands back running tasks.
    pub fn start(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let relay = self.start_event_relay(shutdown.clone());
        let engine = self.clone();
        // Console sessions end with the core (their clients are told why).
        let consoles = self.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            consoles.inner.consoles.shut_down();
        });
        tokio::spawn(async move {
            crate::tasks::run_workers(engine, shutdown).await;
            if let Some(r) = relay {
                let _ = r.await;
            }
        })
    }

    /// On PostgreSQL, relays live events to and from the other replicas until `shutdown`.
    pub fn start_event_relay(&self, shutdown: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
        if self.store().backend() != crate::store::Backend::Postgres {
            return None;
        }
        let engine = self.clone();
        Some(tokio::spawn(async move {
            let url = engine.config().database_url();
            engine.events().relay_postgres(&url, engine.store().pool().clone(), shutdown).await
        }))
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn events(&self) -> &EventBus {
        &self.inner.events
    }

    async fn bootstrap_admin(&self) -> CoreResult<Option<FirstStart>> {
        let mut tx = self.store().write_tx().await?;
        let row: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(&mut *tx.tx).await?;
        if row.0 > 0 {
            return Ok(None);
        }
        let password = crate::password::generate(20);
        let hash = crate::password::hash(&password).await?;
        let tz = self.setting_string("WMAIS_DEFAULT_TIMEZONE");
        let now = crate::time::now_ms();
        let id: (i64,) = sqlx::query_as(
            "INSERT INTO users (login, password_hash, first_name, last_name, email, time_zone, enabled, is_admin, \
             must_change_password, created_at, updated_at) VALUES ('admin', $1, 'Administrator', '', '', $2, 1, 1, 1, $3, $3) RETURNING id",
        )
        .bind(hash)
        .bind(tz)
        .bind(now)
        .fetch_one(&mut *tx.tx)
        .await?;
        crate::audit::write(
            &mut *tx.tx,
            &Actor::system(),
            AuditRecord::new("user.create", AuditOutcome::Success)
                .target("user", id.0)
                .details(serde_json::json!({"login": "admin", "is_admin": true, "reason": "first start"})),
        )
        .await?;
        // The example script every fresh core has (manual 6.6.1), shared with every user.
        let script: (i64,) = sqlx::query_as(
            "INSERT INTO scripts (name, description, script_type, platform, stage, access, parameters, content, owner_id, created_at, updated_at) \
             VALUES ($1, $2, 'bash', 'linux-generic', 'post-data-transfer', 'shared', '', $3, $4, $5, $5) RETURNING id",
        )
        .bind(crate::scenarios::EXAMPLE_NAME)
        .bind(crate::scenarios::EXAMPLE_DESCRIPTION)
        .bind(crate::scenarios::EXAMPLE_CONTENT)
        .bind(id.0)
        .bind(now)
        .fetch_one(&mut *tx.tx)
        .await?;
        Engine::register_object(&mut *tx.tx, ObjectKind::Uds, script.0, id.0, crate::scenarios::EXAMPLE_NAME).await?;
        tx.commit().await?;
        Ok(Some(FirstStart { login: "admin".into(), password }))
    }

    /// Stops the engine's database pool (after the workers have stopped).
    pub async fn close(&self) {
        self.inner.store.close().await;
    }
}

/// Creates the data directory, readable by the core's user only (an existing one is left as the
/// administrator set it up).
fn prepare_data_dir(dir: &std::path::Path) -> CoreResult<()> {
    if dir.exists() {
        return Ok(());
    }
    let fail =
        |e: std::io::Error| CoreError::Unavailable(format!("cannot create the data directory {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
    }
    Ok(())
}
