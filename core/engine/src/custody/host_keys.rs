//! Instance host keys: pinned at first contact; a different key afterwards is refused until an
//! administrator accepts it (audited).

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::keys::{HostKey, HostKeyChange};
use wintermute_api::rights::{ObjectKind, ObjectRight};
use wintermute_custody::host_key_fingerprint;

use crate::audit::AuditRecord;
use crate::caller::{Actor, Caller};
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::RowExt;
use crate::time::{now_ms, opt_dt, to_dt};

/// What a host key check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyCheck {
    /// First contact: the key is now pinned.
    Pinned,
    /// The pinned key.
    Matches,
}

impl Engine {
    /// Checks the key an instance offers (OpenSSH public key text) against the pinned one.
    /// Several first contacts at once (consoles opened together) pin one key; the others are
    /// checked against it.
    pub async fn check_host_key(&self, instance_id: i64, offered: &str) -> CoreResult<HostKeyCheck> {
        for _ in 0..3 {
            match self.check_host_key_once(instance_id, offered).await {
                // Pinned by a concurrent first contact meanwhile: check against that.
                Err(CoreError::Store(e)) if e.is_unique_violation() => continue,
                other => return other,
            }
        }
        self.check_host_key_once(instance_id, offered).await
    }

    async fn check_host_key_once(&self, instance_id: i64, offered: &str) -> CoreResult<HostKeyCheck> {
        let fp = host_key_fingerprint(offered)?;
        let offered = offered.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        let row = sqlx::query("SELECT fingerprint FROM host_keys WHERE instance_id = $1")
            .bind(instance_id)
            .fetch_optional(self.store().pool())
            .await?;
        match row {
            None => {
                let mut tx = self.store().write_tx().await?;
                sqlx::query("INSERT INTO host_keys (instance_id, public_key, fingerprint, first_seen_at) VALUES ($1, $2, $3, $4)")
                    .bind(instance_id)
                    .bind(&offered)
                    .bind(&fp)
                    .bind(now_ms())
                    .execute(&mut *tx.tx)
                    .await?;
                crate::audit::write(
                    &mut *tx.tx,
                    &Actor::system(),
                    AuditRecord::new("host_key.pin", AuditOutcome::Success)
                        .target("instance", instance_id)
                        .details(json!({"fingerprint": fp})),
                )
                .await?;
                tx.commit().await?;
                Ok(HostKeyCheck::Pinned)
            }
            Some(r) if r.text("fingerprint")? == fp => Ok(HostKeyCheck::Matches),
            Some(r) => {
                let expected = r.text("fingerprint")?;
                let mut tx = self.store().write_tx().await?;
                sqlx::query("UPDATE host_keys SET offered_key = $1, offered_fingerprint = $2, offered_at = $3 WHERE instance_id = $4")
                    .bind(&offered)
                    .bind(&fp)
                    .bind(now_ms())
                    .bind(instance_id)
                    .execute(&mut *tx.tx)
                    .await?;
                crate::audit::write(
                    &mut *tx.tx,
                    &Actor::system(),
                    AuditRecord::new("host_key.mismatch", AuditOutcome::Denied)
                        .target("instance", instance_id)
                        .details(json!({"expected": expected, "offered": fp})),
                )
                .await?;
                tx.commit().await?;
                Err(CoreError::HostKeyChanged { instance_id, expected, offered: fp })
            }
        }
    }

    /// The pinned host key of an instance (needs the view right on it).
    pub async fn host_key(&self, caller: &Caller, instance_id: i64) -> CoreResult<HostKey> {
        self.require_right(caller, ObjectKind::Instance, instance_id, ObjectRight::View).await?;
        let r = sqlx::query(
            "SELECT public_key, fingerprint, first_seen_at, offered_key, offered_fingerprint, offered_at, accepted_by, accepted_at \
             FROM host_keys WHERE instance_id = $1",
        )
        .bind(instance_id)
        .fetch_optional(self.store().pool())
        .await?
        .ok_or_else(|| CoreError::not_found(format!("instance {instance_id} has not been contacted yet")))?;
        let pending_change =
            match (r.opt_text("offered_key")?, r.opt_text("offered_fingerprint")?, r.opt_int("offered_at")?) {
                (Some(public_key), Some(fingerprint), Some(at)) => {
                    Some(HostKeyChange { public_key, fingerprint, offered_at: to_dt(at) })
                }
                _ => None,
            };
        Ok(HostKey {
            instance_id,
            public_key: r.text("public_key")?,
            fingerprint: r.text("fingerprint")?,
            first_seen_at: to_dt(r.int("first_seen_at")?),
            pending_change,
            accepted_by: r.opt_text("accepted_by")?,
            accepted_at: opt_dt(r.opt_int("accepted_at")?),
        })
    }

    /// Accepts the changed host key an instance offered (administrators, audited).
    pub async fn accept_host_key(&self, caller: &Caller, instance_id: i64) -> CoreResult<HostKey> {
        if !caller.is_admin {
            return Err(CoreError::forbidden("only administrators accept changed host keys"));
        }
        let current = self.host_key(caller, instance_id).await?;
        let Some(change) = current.pending_change else {
            return Err(CoreError::Conflict(format!("instance {instance_id} offered no different host key")));
        };
        let mut tx = self.store().write_tx().await?;
        sqlx::query(
            "UPDATE host_keys SET public_key = offered_key, fingerprint = offered_fingerprint, offered_key = NULL, \
             offered_fingerprint = NULL, offered_at = NULL, accepted_by = $1, accepted_at = $2 WHERE instance_id = $3",
        )
        .bind(&caller.login)
        .bind(now_ms())
        .bind(instance_id)
        .execute(&mut *tx.tx)
        .await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("host_key.accept", AuditOutcome::Success)
                .target("instance", instance_id)
                .details(json!({"old": current.fingerprint, "new": change.fingerprint})),
        )
        .await?;
        tx.commit().await?;
        self.host_key(caller, instance_id).await
    }
}
