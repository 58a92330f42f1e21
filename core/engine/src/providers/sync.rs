//! "Synchronize configuration" (manual 6.3.1): check the credentials, then load the regions and
//! the instance types (vCPUs, memory) of the provider's default region. What the administrator
//! allowed stays allowed.

use std::sync::Arc;

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::providers::ProviderKind;
use wintermute_api::tasks::Task;

use crate::audit::AuditRecord;
use crate::caller::{Actor, Caller};
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::tasks::{NewTask, TaskContext, TaskFailure, TaskHandler};
use crate::time::now_ms;

pub const SYNC_PROVIDER: &str = "provider.sync";

struct SyncProvider;

#[async_trait::async_trait]
impl TaskHandler for SyncProvider {
    fn kind(&self) -> &'static str {
        SYNC_PROVIDER
    }

    fn resumable(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &TaskContext) -> Result<(), TaskFailure> {
        let id = ctx.task.target_id.ok_or_else(|| TaskFailure::Failed("the task names no provider".into()))?;
        let engine = ctx.engine();
        match engine.sync_provider(ctx, id).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let msg = e.to_string();
                let _ = sqlx::query(
                    "UPDATE providers SET status = 'error', status_message = $1, updated_at = $2 WHERE id = $3",
                )
                .bind(&msg)
                .bind(now_ms())
                .bind(id)
                .execute(engine.store().pool())
                .await;
                Err(TaskFailure::Failed(msg))
            }
        }
    }
}

pub(crate) fn register(mgr: &crate::tasks::TaskManager) {
    mgr.register(Arc::new(SyncProvider));
}

impl Engine {
    /// Starts "Synchronize configuration" of a provider (administrators).
    pub async fn providers_sync(&self, caller: &Caller, id: i64) -> CoreResult<Task> {
        if !caller.is_admin {
            return Err(CoreError::forbidden("only administrators synchronize providers"));
        }
        let p = self.load_provider(id).await?;
        let task = self
            .task_submit(
                caller.user_id,
                NewTask {
                    kind: SYNC_PROVIDER.into(),
                    title: format!("Synchronize the configuration of {}", p.name),
                    target_kind: Some("provider".into()),
                    target_id: Some(id),
                    params: json!({}),
                },
            )
            .await?;
        Ok(task)
    }

    pub(crate) async fn sync_provider(&self, ctx: &TaskContext, id: i64) -> CoreResult<()> {
        let p = self.load_provider(id).await?;
        let cloud = self.cloud(id).await?;
        ctx.progress(0.1, "checking the credentials").await;
        let account = cloud.check_credentials().await.map_err(super::cloud_error)?;
        ctx.info(&format!(
            "credentials accepted (account {})",
            account.account_id.clone().unwrap_or_else(|| "unknown".into())
        ))
        .await;
        if ctx.is_cancelled() {
            return Err(CoreError::Conflict("cancelled".into()));
        }
        ctx.progress(0.4, "loading regions").await;
        let regions = cloud.regions().await.map_err(super::cloud_error)?;
        ctx.info(&format!("{} regions", regions.len())).await;
        ctx.progress(0.7, "loading instance types").await;
        let types = cloud.instance_types(&p.default_region).await.map_err(super::cloud_error)?;
        ctx.info(&format!("{} instance types in {}", types.len(), p.default_region)).await;
        // A local provider says how its guests run: with hardware virtualisation or emulated.
        let status_message = match p.kind {
            ProviderKind::Local => {
                let message = super::local_images::accel_status(self.local_provider(id).await?.accel());
                ctx.info(&message).await;
                message
            }
            _ => String::new(),
        };
        let mut tx = self.store().write_tx().await?;
        // Keep what was allowed; forget what the cloud no longer offers.
        let allowed_regions: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM provider_regions WHERE provider_id = $1 AND allowed = 1")
                .bind(id)
                .fetch_all(&mut *tx.tx)
                .await?;
        let allowed_types: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM provider_instance_types WHERE provider_id = $1 AND allowed = 1")
                .bind(id)
                .fetch_all(&mut *tx.tx)
                .await?;
        sqlx::query("DELETE FROM provider_regions WHERE provider_id = $1").bind(id).execute(&mut *tx.tx).await?;
        sqlx::query("DELETE FROM provider_instance_types WHERE provider_id = $1").bind(id).execute(&mut *tx.tx).await?;
        for r in &regions {
            let allowed = allowed_regions.iter().any(|a| a.0 == r.name);
            sqlx::query("INSERT INTO provider_regions (provider_id, name, allowed) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(&r.name)
                .bind(i64::from(allowed))
                .execute(&mut *tx.tx)
                .await?;
        }
        for t in &types {
            let allowed = allowed_types.iter().any(|a| a.0 == t.name);
            sqlx::query("INSERT INTO provider_instance_types (provider_id, name, vcpus, memory_mib, allowed) VALUES ($1, $2, $3, $4, $5)")
                .bind(id)
                .bind(&t.name)
                .bind(i64::from(t.vcpus))
                .bind(i64::try_from(t.memory_mib).unwrap_or(i64::MAX))
                .bind(i64::from(allowed))
                .execute(&mut *tx.tx)
                .await?;
        }
        let now = now_ms();
        sqlx::query("UPDATE providers SET status = 'synced', status_message = $1, synced_at = $2, updated_at = $2 WHERE id = $3")
            .bind(&status_message)
            .bind(now)
            .bind(id)
            .execute(&mut *tx.tx)
            .await?;
        crate::audit::write(
            &mut *tx.tx,
            &Actor::system(),
            AuditRecord::new("provider.sync", AuditOutcome::Success)
                .target("provider", id)
                .details(json!({"regions": regions.len(), "instance_types": types.len()})),
        )
        .await?;
        tx.commit().await?;
        ctx.progress(1.0, "synchronized").await;
        Ok(())
    }
}
