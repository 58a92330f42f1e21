//! Handing a rotated SSH key over to the user's instances. The old private key stays (sealed)
//! until the new public key is in `authorized_keys` on every instance of the user and the old one
//! is gone from there; only then is it forgotten. Instances that are not running wait: their
//! push resumes when they run again.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::tasks::{LogLevel, Task};
use wintermute_custody::UserKeyPair;
use wintermute_ssh::{HostKeyPolicy, SshTarget};

use crate::audit::AuditRecord;
use crate::caller::{Actor, Caller};
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::RowExt;
use crate::tasks::{NewTask, TaskContext, TaskFailure, TaskHandler};
use crate::time::now_ms;

pub const PUSH_SSH_KEY: &str = "ssh_key.push";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

pub(crate) struct PushSshKey;

#[async_trait::async_trait]
impl TaskHandler for PushSshKey {
    fn kind(&self) -> &'static str {
        PUSH_SSH_KEY
    }

    fn resumable(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &TaskContext) -> Result<(), TaskFailure> {
        let user_id = ctx
            .params
            .get("user_id")
            .and_then(|v| v.as_i64())
            .ok_or_else(|| TaskFailure::Failed("the task has no user_id".into()))?;
        ctx.engine().push_user_key(ctx, user_id).await
    }
}

pub(crate) fn register(mgr: &crate::tasks::TaskManager) {
    mgr.register(Arc::new(PushSshKey));
}

/// Pins the instance's host key at first contact and refuses a changed one. The refusal is kept,
/// so the caller gets the typed error (`HostKeyChanged`) rather than its text.
struct PinnedByEngine {
    engine: Engine,
    instance_id: i64,
    refusal: std::sync::Mutex<Option<CoreError>>,
}

#[async_trait::async_trait]
impl HostKeyPolicy for PinnedByEngine {
    async fn check(&self, offered_openssh: &str) -> Result<(), String> {
        match self.engine.check_host_key(self.instance_id, offered_openssh).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let reason = e.to_string();
                if let Ok(mut kept) = self.refusal.lock() {
                    *kept = Some(e);
                }
                Err(reason)
            }
        }
    }
}

struct Endpoint {
    instance_id: i64,
    name: String,
    running: bool,
    target: SshTarget,
}

/// The shell run on an instance: add the new key unless present, drop every line with the old
/// key's base64 body, keep modes. Public keys only: nothing secret on the command line.
fn replace_key_command(new_public: &str, old_public: &str) -> String {
    let old_body = old_public.split_whitespace().nth(1).unwrap_or_default();
    let q = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    format!(
        "set -e; d=\"$HOME/.ssh\"; f=\"$d/authorized_keys\"; mkdir -p \"$d\"; chmod 700 \"$d\"; touch \"$f\"; \
         grep -qxF {new} \"$f\" || printf '%s\\n' {new} >> \"$f\"; \
         t=$(mktemp \"$f.XXXXXX\"); grep -vF {old} \"$f\" > \"$t\" || true; cat \"$t\" > \"$f\"; rm -f \"$t\"; chmod 600 \"$f\"",
        new = q(new_public),
        old = q(old_body),
    )
}

impl Engine {
    /// Opens an SSH session to an instance as `key`, pinning its host key. A changed host key is
    /// `CoreError::HostKeyChanged`; an unreachable instance `Unavailable`.
    pub async fn ssh_to_instance(
        &self,
        instance_id: i64,
        target: &SshTarget,
        key: &UserKeyPair,
    ) -> CoreResult<wintermute_ssh::Session> {
        let policy = Arc::new(PinnedByEngine { engine: self.clone(), instance_id, refusal: Default::default() });
        wintermute_ssh::connect(target, key, policy.clone(), CONNECT_TIMEOUT).await.map_err(|e| match e {
            wintermute_ssh::SshError::HostKeyRejected { reason } => {
                policy.refusal.lock().ok().and_then(|mut kept| kept.take()).unwrap_or(CoreError::Conflict(reason))
            }
            other => CoreError::Unavailable(format!("cannot reach instance {instance_id} over SSH: {other}")),
        })
    }

    async fn ssh_endpoints_of(&self, user_id: i64) -> CoreResult<Vec<Endpoint>> {
        let rows = sqlx::query(
            "SELECT id, name, status, ssh_host, ssh_port, login_user FROM instances \
             WHERE owner_id = $1 AND terminated_at IS NULL AND ssh_host IS NOT NULL ORDER BY id",
        )
        .bind(user_id)
        .fetch_all(self.store().pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Endpoint {
                    instance_id: r.int("id")?,
                    name: r.text("name")?,
                    running: r.text("status")? == "running",
                    target: SshTarget {
                        host: r.text("ssh_host")?,
                        port: u16::try_from(r.opt_int("ssh_port")?.unwrap_or(22)).unwrap_or(22),
                        user: r.opt_text("login_user")?.unwrap_or_else(|| "root".into()),
                    },
                })
            })
            .collect()
    }

    pub(crate) async fn queue_key_push(&self, owner: i64, user_id: i64, login: &str) -> CoreResult<Task> {
        self.task_submit(
            owner,
            NewTask {
                kind: PUSH_SSH_KEY.into(),
                title: format!("Push {login}'s new SSH key to their instances"),
                target_kind: Some("user".into()),
                target_id: Some(user_id),
                params: json!({"user_id": user_id}),
            },
        )
        .await
    }

    /// Retries handing a rotated key over (administrators), e.g. after an instance was unreachable.
    /// Harmless when nothing is pending.
    pub async fn ssh_push(&self, caller: &Caller, user_id: i64) -> CoreResult<Task> {
        if !caller.is_admin {
            return Err(CoreError::forbidden("only administrators push SSH keys"));
        }
        // Harmless when nothing is pending: the task then says so and ends.
        let login = self.login_of(user_id).await?;
        self.queue_key_push(caller.user_id, user_id, &login).await
    }

    /// Continues pending key hand-overs that involve this instance (call when it runs again).
    pub async fn resume_key_pushes_for_instance(&self, instance_id: i64) -> CoreResult<()> {
        let rows =
            sqlx::query("SELECT DISTINCT user_id FROM ssh_key_pushes WHERE instance_id = $1 AND state <> 'done'")
                .bind(instance_id)
                .fetch_all(self.store().pool())
                .await?;
        for r in rows {
            let user_id = r.int("user_id")?;
            let login = self.login_of(user_id).await?;
            self.queue_key_push(user_id, user_id, &login).await?;
        }
        Ok(())
    }

    async fn push_user_key(&self, ctx: &TaskContext, user_id: i64) -> Result<(), TaskFailure> {
        let current = self.user_key_pair(user_id).await?;
        let Some(previous) = self.previous_key_pair(user_id).await? else {
            ctx.info("nothing to hand over: the key has no predecessor").await;
            return Ok(());
        };
        let new_fp = current.fingerprint_sha256();
        let endpoints = self.ssh_endpoints_of(user_id).await?;
        ctx.info(&format!("handing key {new_fp} over to {} instance(s)", endpoints.len())).await;
        let mut waiting = Vec::new();
        for (i, ep) in endpoints.iter().enumerate() {
            ctx.check_cancel()?;
            let outcome = if ep.running {
                self.push_to_instance(ep, &current, &previous).await
            } else {
                Err(CoreError::Conflict("not running; the key will be pushed when it runs again".into()))
            };
            let (state, message) = match &outcome {
                Ok(()) => ("done", String::new()),
                Err(e) => (if ep.running { "failed" } else { "waiting" }, e.to_string()),
            };
            sqlx::query("DELETE FROM ssh_key_pushes WHERE user_id = $1 AND instance_id = $2")
                .bind(user_id)
                .bind(ep.instance_id)
                .execute(self.store().pool())
                .await
                .map_err(CoreError::from)?;
            sqlx::query("INSERT INTO ssh_key_pushes (user_id, instance_id, new_fingerprint, state, message, updated_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(user_id)
                .bind(ep.instance_id)
                .bind(&new_fp)
                .bind(state)
                .bind(&message)
                .bind(now_ms())
                .execute(self.store().pool())
                .await
                .map_err(CoreError::from)?;
            match outcome {
                Ok(()) => {
                    ctx.info(&format!("{} (instance {}): new key in place, old key removed", ep.name, ep.instance_id))
                        .await
                }
                Err(e) => {
                    ctx.log(LogLevel::Warn, &format!("{} (instance {}): {e}", ep.name, ep.instance_id)).await;
                    waiting.push(ep.instance_id);
                }
            }
            ctx.progress(
                (i + 1) as f64 / endpoints.len().max(1) as f64,
                &format!("{} of {} instances", i + 1, endpoints.len()),
            )
            .await;
        }
        if !waiting.is_empty() {
            return Err(TaskFailure::Failed(format!(
                "the new key is not yet on instance(s) {waiting:?}; the old key is kept for them until it is (retry with POST /api/v1/users/{user_id}/ssh-key/push)"
            )));
        }
        sqlx::query(
            "UPDATE user_ssh_keys SET previous_public_key = NULL, previous_private_sealed = NULL WHERE user_id = $1",
        )
        .bind(user_id)
        .execute(self.store().pool())
        .await
        .map_err(CoreError::from)?;
        self.audit(
            &Actor::system(),
            AuditRecord::new("ssh_key.push", AuditOutcome::Success)
                .target("user", user_id)
                .details(json!({"fingerprint": new_fp, "instances": endpoints.len()})),
        )
        .await?;
        ctx.info("the old key is forgotten").await;
        Ok(())
    }

    async fn push_to_instance(&self, ep: &Endpoint, current: &UserKeyPair, previous: &UserKeyPair) -> CoreResult<()> {
        // Already handed over (a resumed task)? Then the new key gets in; otherwise the old one.
        let session = match self.ssh_to_instance(ep.instance_id, &ep.target, current).await {
            Ok(s) => s,
            Err(e @ (CoreError::Conflict(_) | CoreError::HostKeyChanged { .. })) => return Err(e),
            Err(_) => self.ssh_to_instance(ep.instance_id, &ep.target, previous).await?,
        };
        let out = session
            .exec(&replace_key_command(&current.public_openssh(), &previous.public_openssh()), None)
            .await
            .map_err(|e| CoreError::Unavailable(format!("updating authorized_keys failed: {e}")))?;
        session.close().await;
        if out.exit_status != 0 {
            return Err(CoreError::Unavailable(format!(
                "updating authorized_keys failed with status {}: {}",
                out.exit_status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        // Prove the new key works before the old one may be forgotten.
        let check = self.ssh_to_instance(ep.instance_id, &ep.target, current).await?;
        let ok = check.exec("true", None).await.map_err(|e| CoreError::Unavailable(e.to_string()))?;
        check.close().await;
        if ok.exit_status != 0 {
            return Err(CoreError::Unavailable("the new key does not log in".into()));
        }
        Ok(())
    }

    pub(crate) async fn previous_key_pair(&self, user_id: i64) -> CoreResult<Option<UserKeyPair>> {
        let r = sqlx::query("SELECT previous_private_sealed FROM user_ssh_keys WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(self.store().pool())
            .await?;
        let Some(sealed) = r.and_then(|r| r.opt_text("previous_private_sealed").ok().flatten()) else {
            return Ok(None);
        };
        let pem = self.open_secret(&format!("user_ssh_keys#{user_id}:previous"), &sealed).await?;
        let text = std::str::from_utf8(pem.expose())
            .map_err(|_| CoreError::Internal("a stored SSH key is not text".into()))?;
        Ok(Some(UserKeyPair::from_private_openssh(text)?))
    }
}
