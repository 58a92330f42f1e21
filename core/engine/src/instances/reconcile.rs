//! Reconcile: compare the core's records of a provider with what the cloud holds under this
//! core's tags, and repair the drift — an instance terminated or stopped in the cloud's console
//! shows so here; an instance or volume the core made but has no live record of (a launch cut
//! short by a crash, a failed rollback) is terminated or deleted; a volume deleted in the cloud
//! is marked deleted. Runs on demand and every 15 minutes for providers with live instances.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::instances::{InstanceStatus, VolumeStatus};
use wintermute_api::tasks::Task;
use wintermute_cloud::{InstanceState, VolumeState, TAG_CORE};

use crate::audit::AuditRecord;
use crate::caller::{Actor, Caller};
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::providers::cloud_error;
use crate::store::RowExt;
use crate::tasks::{NewTask, TaskContext, TaskFailure, TaskHandler};
use crate::time::now_ms;

pub const RECONCILE: &str = "provider.reconcile";

/// How often a provider with live instances is reconciled by itself.
const PERIOD_MS: i64 = 15 * 60 * 1000;

struct Reconcile;

#[async_trait::async_trait]
impl TaskHandler for Reconcile {
    fn kind(&self) -> &'static str {
        RECONCILE
    }

    fn resumable(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &TaskContext) -> Result<(), TaskFailure> {
        let id = ctx.task.target_id.ok_or_else(|| TaskFailure::Failed("the task names no provider".into()))?;
        let report = ctx.engine().reconcile_provider(ctx, id).await?;
        ctx.info(&format!("reconcile done: {report}")).await;
        Ok(())
    }
}

pub(crate) fn register(mgr: &crate::tasks::TaskManager) {
    mgr.register(Arc::new(Reconcile));
}

/// Instance statuses that mean "should exist in the cloud".
fn live(status: &str) -> bool {
    !matches!(status, "terminated")
}

impl Engine {
    /// Starts a reconcile of a provider (administrators).
    pub async fn providers_reconcile(&self, caller: &Caller, id: i64) -> CoreResult<Task> {
        if !caller.is_admin {
            return Err(CoreError::forbidden("only administrators reconcile providers"));
        }
        let p = self.load_provider(id).await?;
        self.queue_reconcile(caller.user_id, id, &p.name).await
    }

    async fn queue_reconcile(&self, owner: i64, id: i64, name: &str) -> CoreResult<Task> {
        self.task_submit(
            owner,
            NewTask {
                kind: RECONCILE.into(),
                title: format!("Reconcile {name} with the cloud"),
                target_kind: Some("provider".into()),
                target_id: Some(id),
                params: json!({}),
            },
        )
        .await
    }

    /// Queues a reconcile of every provider with live instances or volumes that had none in the
    /// last period (called on the core's heartbeat; one replica wins per period).
    pub(crate) async fn schedule_reconciles(&self) -> CoreResult<()> {
        let since = now_ms() - PERIOD_MS;
        let due: Vec<(i64, String)> = sqlx::query_as(
            "SELECT p.id, p.name FROM providers p WHERE \
             (EXISTS (SELECT 1 FROM instances i WHERE i.provider_id = p.id AND i.status <> 'terminated') \
              OR EXISTS (SELECT 1 FROM volumes v WHERE v.provider_id = p.id AND v.status <> 'deleted')) \
             AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.kind = $1 AND t.target_id = p.id AND t.created_at > $2)",
        )
        .bind(RECONCILE)
        .bind(since)
        .fetch_all(self.store().pool())
        .await?;
        if due.is_empty() {
            return Ok(());
        }
        let Some(admin) = self.system_task_owner().await? else { return Ok(()) };
        for (id, name) in due {
            self.queue_reconcile(admin, id, &name).await?;
        }
        Ok(())
    }

    async fn reconcile_provider(&self, ctx: &TaskContext, provider_id: i64) -> Result<String, TaskFailure> {
        let core_id = self.core_id().await?;
        let cloud = self.cloud(provider_id).await?;
        // Regions: the allowed ones and any where the core has records.
        let mut regions: BTreeSet<String> =
            self.load_provider(provider_id).await?.regions.into_iter().filter(|r| r.allowed).map(|r| r.name).collect();
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT region FROM instances WHERE provider_id = $1 AND region IS NOT NULL \
             UNION SELECT DISTINCT region FROM volumes WHERE provider_id = $1 AND region IS NOT NULL",
        )
        .bind(provider_id)
        .fetch_all(self.store().pool())
        .await
        .map_err(CoreError::from)?;
        regions.extend(rows.into_iter().map(|r| r.0));
        let (mut changed, mut removed, mut checked) = (0, 0, 0);
        for region in regions {
            ctx.check_cancel()?;
            ctx.progress(0.5, &format!("comparing {region}")).await;
            let in_cloud = cloud.instances_by_tag(&region, TAG_CORE, &core_id).await.map_err(cloud_error)?;
            let rows = sqlx::query(
                "SELECT i.id, i.status, i.cloud_id, i.launch_task_id, t.state AS task_state FROM instances i \
                 LEFT JOIN tasks t ON t.id = i.launch_task_id WHERE i.provider_id = $1 AND i.region = $2",
            )
            .bind(provider_id)
            .bind(&region)
            .fetch_all(self.store().pool())
            .await
            .map_err(CoreError::from)?;
            // Records against the cloud.
            for r in &rows {
                let id = r.int("id").map_err(CoreError::from)?;
                let status = r.text("status").map_err(CoreError::from)?;
                if !live(&status) {
                    continue;
                }
                checked += 1;
                let cloud_id = r.opt_text("cloud_id").map_err(CoreError::from)?;
                let task_state = r.opt_text("task_state").map_err(CoreError::from)?;
                let launch_over = !matches!(task_state.as_deref(), Some("queued" | "running"));
                let found = in_cloud.iter().find(|c| {
                    Some(&c.id) == cloud_id.as_ref()
                        || c.tags.object().is_some_and(|o| o.kind == "instance" && o.id == id.to_string())
                });
                // A launch that ended without making this instance "running": whatever it left
                // in the cloud goes, and the record says so.
                if launch_over && status == "creating" {
                    if let Some(c) = found.filter(|c| !c.state.is_gone()) {
                        cloud.terminate_instances(&region, std::slice::from_ref(&c.id)).await.map_err(cloud_error)?;
                        removed += 1;
                        ctx.info(&format!("instance {id}: its launch did not finish; terminated {}", c.id)).await;
                    }
                    self.set_instance_status(
                        id,
                        InstanceStatus::Terminated,
                        "the launch did not finish; nothing is left in the cloud",
                    )
                    .await?;
                    changed += 1;
                    continue;
                }
                match found {
                    None if cloud_id.is_some() && launch_over => {
                        self.set_instance_status(
                            id,
                            InstanceStatus::Terminated,
                            "no longer in the cloud (terminated outside Wintermute)",
                        )
                        .await?;
                        ctx.info(&format!("instance {id}: gone from the cloud; marked terminated")).await;
                        changed += 1;
                    }
                    Some(c) if c.state.is_gone() && status != "terminating" => {
                        self.set_instance_status(id, InstanceStatus::Terminated, "terminated outside Wintermute")
                            .await?;
                        ctx.info(&format!("instance {id}: terminated in the cloud; marked terminated")).await;
                        changed += 1;
                    }
                    Some(c) if c.state == InstanceState::Stopped && status == "running" => {
                        self.record_instance_info(id, c).await?;
                        self.set_instance_status(id, InstanceStatus::Stopped, "powered off outside Wintermute").await?;
                        ctx.info(&format!("instance {id}: powered off in the cloud; marked stopped")).await;
                        changed += 1;
                    }
                    Some(c) if c.state == InstanceState::Failed && status == "running" => {
                        self.set_instance_status(id, InstanceStatus::Failed, "its machine stopped unexpectedly")
                            .await?;
                        ctx.info(&format!("instance {id}: failed in the cloud; marked failed")).await;
                        changed += 1;
                    }
                    Some(c) if c.state == InstanceState::Running && status == "stopped" => {
                        self.record_instance_info(id, c).await?;
                        self.set_instance_status(id, InstanceStatus::Running, "powered on outside Wintermute").await?;
                        changed += 1;
                    }
                    Some(c) if status == "failed" && cloud_id.is_none() => {
                        // A failed rollback: finish it.
                        cloud.terminate_instances(&region, std::slice::from_ref(&c.id)).await.map_err(cloud_error)?;
                        self.set_instance_status(
                            id,
                            InstanceStatus::Terminated,
                            "the failed launch's instance was removed",
                        )
                        .await?;
                        removed += 1;
                    }
                    _ => {}
                }
            }
            // The cloud against the records: the core's instances with no live record.
            for c in &in_cloud {
                if c.state.is_gone() {
                    continue;
                }
                let record = c.tags.object().filter(|o| o.kind == "instance").and_then(|o| o.id.parse::<i64>().ok());
                let alive = record.is_some_and(|id| {
                    rows.iter().any(|r| {
                        r.int("id").ok() == Some(id)
                            && r.text("status").map(|s| live(&s)).unwrap_or(false)
                            && r.opt_text("cloud_id").ok().flatten().is_none_or(|cid| cid == c.id)
                    })
                });
                if !alive {
                    cloud.terminate_instances(&region, std::slice::from_ref(&c.id)).await.map_err(cloud_error)?;
                    removed += 1;
                    ctx.info(&format!("{}: made by this core but no live record; terminated", c.id)).await;
                    let _ = crate::audit::write(
                        self.store().pool(),
                        &Actor::system(),
                        AuditRecord::new("reconcile.orphan_terminated", AuditOutcome::Success)
                            .target("provider", provider_id)
                            .details(json!({"cloud_id": c.id, "region": region, "record": record})),
                    )
                    .await;
                }
            }
            // Volumes.
            let vols_in_cloud = cloud.volumes_by_tag(&region, TAG_CORE, &core_id).await.map_err(cloud_error)?;
            let vol_rows: Vec<(i64, String, Option<String>)> =
                sqlx::query_as("SELECT id, status, cloud_id FROM volumes WHERE provider_id = $1 AND region = $2")
                    .bind(provider_id)
                    .bind(&region)
                    .fetch_all(self.store().pool())
                    .await
                    .map_err(CoreError::from)?;
            for (id, status, cloud_id) in &vol_rows {
                if status == "deleted" || status == "creating" {
                    continue;
                }
                let Some(cid) = cloud_id else { continue };
                if !vols_in_cloud.iter().any(|v| &v.id == cid && v.state != VolumeState::Deleted) {
                    sqlx::query("UPDATE volumes SET status = 'deleted', deleted_at = $1, instance_id = NULL, status_message = $2, updated_at = $1 WHERE id = $3")
                        .bind(now_ms())
                        .bind("deleted outside Wintermute")
                        .bind(id)
                        .execute(self.store().pool())
                        .await
                        .map_err(CoreError::from)?;
                    ctx.info(&format!("volume {id}: gone from the cloud; marked deleted")).await;
                    changed += 1;
                } else if let Some(v) = vols_in_cloud.iter().find(|v| &v.id == cid) {
                    if v.state == VolumeState::Available && status == "in_use" {
                        self.set_volume_status(*id, VolumeStatus::Available, "detached outside Wintermute").await?;
                        sqlx::query("UPDATE volumes SET instance_id = NULL WHERE id = $1")
                            .bind(id)
                            .execute(self.store().pool())
                            .await
                            .map_err(CoreError::from)?;
                        changed += 1;
                    }
                }
            }
            for v in &vols_in_cloud {
                if v.state == VolumeState::Deleted || v.state == VolumeState::Deleting {
                    continue;
                }
                let known = vol_rows.iter().any(|(_, s, cid)| cid.as_deref() == Some(v.id.as_str()) && s != "deleted");
                let record = v.tags.object().filter(|o| o.kind == "volume").and_then(|o| o.id.parse::<i64>().ok());
                let in_flight =
                    record.is_some_and(|rid| vol_rows.iter().any(|(id, s, _)| *id == rid && s == "creating"));
                if !known && !in_flight && v.state == VolumeState::Available {
                    cloud.delete_volume(&region, &v.id).await.map_err(cloud_error)?;
                    removed += 1;
                    ctx.info(&format!("{}: volume made by this core but no live record; deleted", v.id)).await;
                }
            }
            // Public addresses made for instances (OpenStack's floating IPs carry their instance's
            // tags): one pointing nowhere whose instance has no live record is given back. A
            // launch in flight still has a live record, so its address is left alone.
            for a in cloud.addresses_by_tag(&region, TAG_CORE, &core_id).await.map_err(cloud_error)? {
                if a.instance_id.is_some() {
                    continue;
                }
                let record = a.tags.object().filter(|o| o.kind == "instance").and_then(|o| o.id.parse::<i64>().ok());
                let live_record = match record {
                    Some(rid) => rows
                        .iter()
                        .any(|r| r.int("id").is_ok_and(|id| id == rid) && r.text("status").is_ok_and(|s| live(&s))),
                    None => false,
                };
                if !live_record {
                    cloud.release_address(&region, &a.allocation_id).await.map_err(cloud_error)?;
                    removed += 1;
                    ctx.info(&format!("{}: address made by this core for no live instance; released", a.public_ip))
                        .await;
                }
            }
        }
        Ok(format!("{checked} instance records checked, {changed} records updated, {removed} cloud objects removed"))
    }
}
