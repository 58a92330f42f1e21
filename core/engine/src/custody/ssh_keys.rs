//! Users' SSH keys: Ed25519 pairs made by the core when first needed. Only public halves leave the
//! core, except through an audited export by holders of "download SSH keys".

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::keys::{SshPrivateKey, SshPublicKey};
use wintermute_api::users::Permission;
use wintermute_custody::UserKeyPair;

use super::Purpose;
use crate::audit::AuditRecord;
use crate::caller::Caller;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::RowExt;
use crate::time::{now_ms, to_dt};

fn context(user_id: i64) -> String {
    format!("user_ssh_keys#{user_id}")
}

impl Engine {
    pub(crate) async fn login_of(&self, user_id: i64) -> CoreResult<String> {
        sqlx::query("SELECT login FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(self.store().pool())
            .await?
            .ok_or_else(|| CoreError::not_found(format!("there is no user {user_id}")))?
            .text("login")
            .map_err(Into::into)
    }

    /// The user's public key, creating the pair on first use.
    pub async fn user_public_key(&self, user_id: i64) -> CoreResult<SshPublicKey> {
        let pick = "SELECT public_key, fingerprint, created_at FROM user_ssh_keys WHERE user_id = $1";
        if let Some(r) = sqlx::query(pick).bind(user_id).fetch_optional(self.store().pool()).await? {
            return Ok(SshPublicKey {
                public_key: r.text("public_key")?,
                fingerprint: r.text("fingerprint")?,
                created_at: to_dt(r.int("created_at")?),
            });
        }
        let login = self.login_of(user_id).await?;
        let pair = UserKeyPair::generate(&format!("{login}@wintermute"));
        let sealed = self
            .seal_secret(Purpose::SshKey(user_id), &context(user_id), pair.private_openssh()?.expose().as_bytes())
            .await?;
        let now = now_ms();
        let mut tx = self.store().write_tx().await?;
        // Two first uses at once: the first insert wins, the other reads it.
        if sqlx::query(pick).bind(user_id).fetch_optional(&mut *tx.tx).await?.is_none() {
            sqlx::query("INSERT INTO user_ssh_keys (user_id, public_key, fingerprint, private_sealed, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(user_id)
                .bind(pair.public_openssh())
                .bind(pair.fingerprint_sha256())
                .bind(sealed)
                .bind(now)
                .execute(&mut *tx.tx)
                .await?;
            crate::audit::write(
                &mut *tx.tx,
                &crate::caller::Actor::system(),
                AuditRecord::new("ssh_key.create", AuditOutcome::Success)
                    .target("user", user_id)
                    .details(json!({"login": login, "fingerprint": pair.fingerprint_sha256()})),
            )
            .await?;
        }
        tx.commit().await?;
        Box::pin(self.user_public_key(user_id)).await
    }

    /// `GET /users/{id}/ssh-key`: one's own key; anybody's for administrators.
    pub async fn ssh_public_key(&self, caller: &Caller, user_id: i64) -> CoreResult<SshPublicKey> {
        if user_id != caller.user_id && !caller.is_admin {
            return Err(CoreError::forbidden("only administrators read other users' SSH keys"));
        }
        self.user_public_key(user_id).await
    }

    /// The user's key pair, for the code that connects to instances as that user.
    pub async fn user_key_pair(&self, user_id: i64) -> CoreResult<UserKeyPair> {
        self.user_public_key(user_id).await?;
        let r = sqlx::query("SELECT private_sealed FROM user_ssh_keys WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(self.store().pool())
            .await?;
        let pem = self.open_secret(&context(user_id), &r.text("private_sealed")?).await?;
        let text = std::str::from_utf8(pem.expose())
            .map_err(|_| CoreError::Internal("a stored SSH key is not text".into()))?;
        Ok(UserKeyPair::from_private_openssh(text)?)
    }

    /// Exports a private key (OpenSSH format, optionally passphrase-protected): one's own with the
    /// "download SSH keys" permission, anybody's for administrators (recovery). Always audited.
    pub async fn ssh_export(
        &self,
        caller: &Caller,
        user_id: i64,
        passphrase: Option<&str>,
    ) -> CoreResult<SshPrivateKey> {
        let allowed = if user_id == caller.user_id { caller.has(Permission::DownloadSshKeys) } else { caller.is_admin };
        if !allowed {
            self.audit(
                &caller.actor(),
                AuditRecord::new("ssh_key.export", AuditOutcome::Denied).target("user", user_id),
            )
            .await?;
            return Err(CoreError::forbidden(if user_id == caller.user_id {
                "exporting your SSH key needs the \"download SSH keys\" permission"
            } else {
                "only administrators export other users' SSH keys"
            }));
        }
        if let Some(p) = passphrase {
            if p.chars().count() < 8 {
                return Err(CoreError::invalid("passphrase", "the passphrase must have at least 8 characters"));
            }
        }
        let pair = self.user_key_pair(user_id).await?;
        let exported = pair.export_openssh(passphrase)?;
        self.audit(
            &caller.actor(),
            AuditRecord::new("ssh_key.export", AuditOutcome::Success)
                .target("user", user_id)
                .details(json!({"fingerprint": pair.fingerprint_sha256(), "encrypted": passphrase.is_some()})),
        )
        .await?;
        Ok(SshPrivateKey {
            private_key: exported.expose().clone(),
            public_key: pair.public_openssh(),
            encrypted: passphrase.is_some(),
        })
    }

    /// Replaces a user's key pair (administrators). The old pair is kept, sealed, until the new
    /// public key is on every instance of the user and the old one removed there (a task does
    /// that hand-over); users without instances are done at once.
    pub async fn ssh_rotate(&self, caller: &Caller, user_id: i64) -> CoreResult<SshPublicKey> {
        if !caller.is_admin {
            return Err(CoreError::forbidden("only administrators rotate SSH keys"));
        }
        let old_public = self.user_public_key(user_id).await?;
        let pending = sqlx::query("SELECT previous_public_key FROM user_ssh_keys WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(self.store().pool())
            .await?
            .opt_text("previous_public_key")?;
        if pending.is_some() {
            return Err(CoreError::Conflict(
                "the previous rotation of this key is still being handed over to the user's instances; \
                 finish it first (POST /api/v1/users/{id}/ssh-key/push)"
                    .into(),
            ));
        }
        let old = self.user_key_pair(user_id).await?;
        let login = self.login_of(user_id).await?;
        let pair = UserKeyPair::generate(&format!("{login}@wintermute"));
        let sealed = self
            .seal_secret(Purpose::SshKey(user_id), &context(user_id), pair.private_openssh()?.expose().as_bytes())
            .await?;
        let old_sealed = self
            .seal_secret(
                Purpose::SshKey(user_id),
                &format!("{}:previous", context(user_id)),
                old.private_openssh()?.expose().as_bytes(),
            )
            .await?;
        let now = now_ms();
        let mut tx = self.store().write_tx().await?;
        sqlx::query(
            "INSERT INTO user_ssh_key_history (user_id, public_key, fingerprint, retired_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(user_id)
        .bind(&old_public.public_key)
        .bind(&old_public.fingerprint)
        .bind(now)
        .execute(&mut *tx.tx)
        .await?;
        sqlx::query(
            "UPDATE user_ssh_keys SET public_key = $1, fingerprint = $2, private_sealed = $3, created_at = $4, \
             previous_public_key = $5, previous_private_sealed = $6 WHERE user_id = $7",
        )
        .bind(pair.public_openssh())
        .bind(pair.fingerprint_sha256())
        .bind(sealed)
        .bind(now)
        .bind(&old_public.public_key)
        .bind(old_sealed)
        .bind(user_id)
        .execute(&mut *tx.tx)
        .await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("ssh_key.rotate", AuditOutcome::Success)
                .target("user", user_id)
                .details(json!({"login": login, "old": old_public.fingerprint, "new": pair.fingerprint_sha256()})),
        )
        .await?;
        tx.commit().await?;
        // The hand-over runs as a task; with no instances it just forgets the old key.
        self.queue_key_push(caller.user_id, user_id, &login).await?;
        self.user_public_key(user_id).await
    }
}
