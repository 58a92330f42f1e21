//! Key custody inside the engine: the master key (in its key store, never in the database), data
//! keys (wrapped by the master key, in `data_keys`), and secrets sealed by data keys with their
//! place as context. Users' SSH keys, volume passphrases and instance host keys build on it.

mod backup;
mod host_keys;
mod key_push;
mod rotation;
mod ssh_keys;
mod volume_keys;

use std::collections::HashMap;
use std::sync::RwLock;

use wintermute_custody::{
    generate_data_key, load_or_create, open, seal, unwrap_data_key, wrap_data_key, CustodyError, KeyStore,
    MasterKeySet, SecretBytes,
};

pub use backup::BACKUP_TABLES;
pub use host_keys::HostKeyCheck;
pub use key_push::PUSH_SSH_KEY;
pub use rotation::ROTATE_MASTER;

pub(crate) fn register_tasks(mgr: &crate::tasks::TaskManager) {
    rotation::register(mgr);
    key_push::register(mgr);
}

use crate::config::Config;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::RowExt;
use crate::time::now_ms;

/// What a data key protects; each purpose has its own data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// One user's SSH key (a data key per user).
    SshKey(i64),
    VolumeKeys,
    Secrets,
}

impl Purpose {
    fn name(self) -> String {
        match self {
            Purpose::SshKey(user) => format!("ssh:{user}"),
            Purpose::VolumeKeys => "volume".into(),
            Purpose::Secrets => "secret".into(),
        }
    }
}

pub struct Custody {
    store: Box<dyn KeyStore>,
    set: RwLock<MasterKeySet>,
    /// Unwrapped data keys, by id.
    deks: RwLock<HashMap<i64, SecretBytes>>,
    /// Serialises creating data keys and rotating.
    pub(crate) lock: tokio::sync::Mutex<()>,
}

impl Custody {
    /// Opens the configured key store and loads (or, on first start, creates) the master key.
    /// A key file readable by others, an unreachable keyring or an empty read-only store stop
    /// the core with a message naming the store.
    pub fn open(config: &Config) -> CoreResult<Custody> {
        let store = config.keys.open(&config.storage.data_dir)?;
        let (set, _created) = load_or_create(store.as_ref())?;
        Ok(Custody {
            store,
            set: RwLock::new(set),
            deks: RwLock::new(HashMap::new()),
            lock: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn set(&self) -> CoreResult<MasterKeySet> {
        self.set.read().map(|s| s.clone()).map_err(|_| CoreError::Internal("master key lock poisoned".into()))
    }

    pub(crate) fn replace_set(&self, set: MasterKeySet, save: bool) -> CoreResult<()> {
        if save {
            self.store.save(&set)?;
        }
        let mut guard = self.set.write().map_err(|_| CoreError::Internal("master key lock poisoned".into()))?;
        *guard = set;
        Ok(())
    }

    pub(crate) fn forget_data_keys(&self) {
        if let Ok(mut d) = self.deks.write() {
            d.clear();
        }
    }

    pub fn store_name(&self) -> &'static str {
        self.store.name()
    }

    pub fn store_writable(&self) -> bool {
        self.store.is_writable()
    }

    fn cached(&self, id: i64) -> Option<SecretBytes> {
        self.deks.read().ok().and_then(|d| d.get(&id).cloned())
    }

    fn cache(&self, id: i64, key: SecretBytes) {
        if let Ok(mut d) = self.deks.write() {
            d.insert(id, key);
        }
    }
}

impl Engine {
    pub(crate) fn custody(&self) -> &Custody {
        &self.inner.custody
    }

    /// Refuses to run against a database whose data keys were wrapped by a master key this core
    /// does not hold (a lost or swapped key file), before anything is written.
    pub(crate) async fn check_master_key_matches(&self) -> CoreResult<()> {
        let set = self.custody().set()?;
        let rows = sqlx::query("SELECT DISTINCT master_key_id FROM data_keys").fetch_all(self.store().pool()).await?;
        for r in rows {
            let id = r.text("master_key_id")?;
            if !set.iter().any(|k| k.id().to_string() == id) {
                return Err(CoreError::Unavailable(format!(
                    "the database's keys are sealed by master key {id}, which the {} key store does not hold; \
                     put the right master key back or restore a backup",
                    self.custody().store_name()
                )));
            }
        }
        Ok(())
    }

    async fn data_key(&self, id: i64) -> CoreResult<SecretBytes> {
        if let Some(k) = self.custody().cached(id) {
            return Ok(k);
        }
        let row = sqlx::query("SELECT wrapped FROM data_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(self.store().pool())
            .await?
            .ok_or(CustodyError::UnknownKey { key_id: format!("data key {id}") })?;
        let key = unwrap_data_key(&self.custody().set()?, id, &row.text("wrapped")?)?;
        self.custody().cache(id, key.clone());
        Ok(key)
    }

    /// The data key of a purpose, created (and wrapped by the current master key) when first needed.
    async fn current_data_key(&self, purpose: Purpose) -> CoreResult<(i64, SecretBytes)> {
        let pick = "SELECT id FROM data_keys WHERE purpose = $1 ORDER BY id DESC LIMIT 1";
        let purpose = purpose.name();
        if let Some(r) = sqlx::query(pick).bind(&purpose).fetch_optional(self.store().pool()).await? {
            let id = r.int("id")?;
            return Ok((id, self.data_key(id).await?));
        }
        let _guard = self.custody().lock.lock().await;
        let mut tx = self.store().write_tx().await?;
        if let Some(r) = sqlx::query(pick).bind(&purpose).fetch_optional(&mut *tx.tx).await? {
            drop(tx);
            let id = r.int("id")?;
            return Ok((id, self.data_key(id).await?));
        }
        let set = self.custody().set()?;
        let key = generate_data_key();
        // The id is needed inside the wrapping (it is authenticated), so reserve the row first.
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO data_keys (purpose, wrapped, master_key_id, created_at) VALUES ($1, '', $2, $3) RETURNING id",
        )
        .bind(&purpose)
        .bind(set.current.id().to_string())
        .bind(now_ms())
        .fetch_one(&mut *tx.tx)
        .await?;
        let wrapped = wrap_data_key(&set.current, id, &key)?;
        sqlx::query("UPDATE data_keys SET wrapped = $1 WHERE id = $2")
            .bind(wrapped)
            .bind(id)
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        self.custody().cache(id, key.clone());
        Ok((id, key))
    }

    /// Seals a secret for storage; `context` names where it is kept (e.g. `user_ssh_keys#42`) and
    /// must be given again to open it.
    pub async fn seal_secret(&self, purpose: Purpose, context: &str, plaintext: &[u8]) -> CoreResult<String> {
        let (id, key) = self.current_data_key(purpose).await?;
        Ok(seal(id, &key, context, plaintext)?)
    }

    /// Opens a sealed secret. Any change to it, or a wrong context, is an integrity error.
    pub async fn open_secret(&self, context: &str, sealed: &str) -> CoreResult<SecretBytes> {
        let key_ref = wintermute_custody::sealed_key_ref(sealed)?;
        let id = match key_ref {
            wintermute_custody::KeyRef::Data(id) => id,
            wintermute_custody::KeyRef::Master(_) => {
                return Err(CustodyError::BadFormat("expected a value sealed by a data key".into()).into())
            }
        };
        let key = self.data_key(id).await?;
        let result = open(|i| (i == id).then(|| key.clone()), context, sealed);
        if let Err(e) = &result {
            tracing::error!(context, "a sealed secret did not open: {e}");
        }
        Ok(result?)
    }

    /// Stores a named secret of an object (for example a provider's secret access key), sealed.
    pub async fn put_secret(&self, owner_kind: &str, owner_id: i64, name: &str, plaintext: &[u8]) -> CoreResult<()> {
        let context = format!("secrets:{owner_kind}#{owner_id}:{name}");
        let sealed = self.seal_secret(Purpose::Secrets, &context, plaintext).await?;
        let mut tx = self.store().write_tx().await?;
        sqlx::query("DELETE FROM secrets WHERE owner_kind = $1 AND owner_id = $2 AND name = $3")
            .bind(owner_kind)
            .bind(owner_id)
            .bind(name)
            .execute(&mut *tx.tx)
            .await?;
        sqlx::query("INSERT INTO secrets (owner_kind, owner_id, name, sealed, updated_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(owner_kind)
            .bind(owner_id)
            .bind(name)
            .bind(sealed)
            .bind(now_ms())
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Opens a named secret of an object, for the code that uses it (never for users).
    pub async fn get_secret(&self, owner_kind: &str, owner_id: i64, name: &str) -> CoreResult<Option<SecretBytes>> {
        let row = sqlx::query("SELECT sealed FROM secrets WHERE owner_kind = $1 AND owner_id = $2 AND name = $3")
            .bind(owner_kind)
            .bind(owner_id)
            .bind(name)
            .fetch_optional(self.store().pool())
            .await?;
        match row {
            Some(r) => Ok(Some(
                self.open_secret(&format!("secrets:{owner_kind}#{owner_id}:{name}"), &r.text("sealed")?).await?,
            )),
            None => Ok(None),
        }
    }

    /// Forgets a named secret of an object (nothing to do when there is none).
    pub async fn delete_secret(&self, owner_kind: &str, owner_id: i64, name: &str) -> CoreResult<()> {
        let mut tx = self.store().write_tx().await?;
        sqlx::query("DELETE FROM secrets WHERE owner_kind = $1 AND owner_id = $2 AND name = $3")
            .bind(owner_kind)
            .bind(owner_id)
            .bind(name)
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
