//! Instance controls (7.3.6) and batch controls (7.3.7): power off, power on, reboot, terminate.
//! The request checks rights and states for every instance first (all or nothing), marks them as
//! in transition, and a task does the cloud work. The core also powers off instances whose
//! owner's maximum lifetime ran out.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::instances::{InstanceAction, InstanceStatus};
use wintermute_api::rights::{ObjectKind, ObjectRight};
use wintermute_api::tasks::Task;
use wintermute_cloud::InstanceState;

use super::launch::wait_for_instances;
use crate::audit::AuditRecord;
use crate::caller::{Actor, Caller};
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::providers::cloud_error;
use crate::tasks::{NewTask, TaskContext, TaskFailure, TaskHandler};
use crate::time::now_ms;

pub const INSTANCE_ACTION: &str = "instance.action";

/// An instance in an action: record id, cloud id, status before the action.
type Member = (i64, String, InstanceStatus);

/// Most instances one batch action may name.
const MAX_BATCH: usize = 500;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ActionParams {
    action: InstanceAction,
    instances: Vec<i64>,
    /// The status each instance had before, to go back to when the cloud refuses.
    previous: Vec<InstanceStatus>,
}

struct ActionRunner;

#[async_trait::async_trait]
impl TaskHandler for ActionRunner {
    fn kind(&self) -> &'static str {
        INSTANCE_ACTION
    }

    /// Power and terminate requests are safe to send again.
    fn resumable(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &TaskContext) -> Result<(), TaskFailure> {
        let p: ActionParams = serde_json::from_value(ctx.params.clone())
            .map_err(|e| TaskFailure::Failed(format!("the action task's parameters are unreadable: {e}")))?;
        ctx.engine().run_action(ctx, &p).await
    }
}

pub(crate) fn register(mgr: &crate::tasks::TaskManager) {
    mgr.register(Arc::new(ActionRunner));
}

/// The status an instance shows while the action runs, and whether the action fits its status.
fn transition(action: InstanceAction, from: InstanceStatus) -> Option<InstanceStatus> {
    use InstanceStatus as S;
    match (action, from) {
        (InstanceAction::PowerOff, S::Running | S::Initializing | S::Mounting | S::Failed | S::Rebooting) => {
            Some(S::ShuttingDown)
        }
        (InstanceAction::PowerOn, S::Stopped | S::Failed) => Some(S::Initializing),
        (InstanceAction::Reboot, S::Running | S::Failed) => Some(S::Rebooting),
        (InstanceAction::Terminate, s) if s != S::Terminated && s != S::Terminating && s != S::Creating => {
            Some(S::Terminating)
        }
        (InstanceAction::MountStorage, S::Running | S::Failed) => Some(S::Mounting),
        (InstanceAction::RetrySetup, S::Failed) => Some(S::Initializing),
        _ => None,
    }
}

impl Engine {
    /// One action on one instance.
    pub async fn instances_action(&self, caller: &Caller, id: i64, action: InstanceAction) -> CoreResult<Task> {
        self.instances_batch(caller, &[id], action).await
    }

    /// One action on several instances: refused as a whole, naming the instance, when the caller
    /// lacks "control" on any of them or one is in a state the action does not fit.
    pub async fn instances_batch(&self, caller: &Caller, ids: &[i64], action: InstanceAction) -> CoreResult<Task> {
        if ids.is_empty() {
            return Err(CoreError::invalid("instance_ids", "name at least one instance"));
        }
        if ids.len() > MAX_BATCH {
            return Err(CoreError::invalid("instance_ids", format!("at most {MAX_BATCH} instances per batch")));
        }
        let mut unique = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let mut previous = Vec::new();
        let mut owners: BTreeMap<i64, i64> = BTreeMap::new();
        for id in &unique {
            self.require_right(caller, ObjectKind::Instance, *id, ObjectRight::Control).await?;
            let inst = self.load_instance(*id).await?;
            if transition(action, inst.status).is_none() {
                return Err(CoreError::Conflict(format!(
                    "instance {} ({}) is {}; it cannot {}",
                    inst.id,
                    inst.name,
                    inst.status,
                    action.as_str().replace('_', " ")
                )));
            }
            previous.push(inst.status);
            if action == InstanceAction::PowerOn {
                *owners.entry(inst.owner_id).or_default() += 1;
            }
        }
        self.queue_action(caller.user_id, &caller.actor(), action, unique, previous, owners).await
    }

    async fn queue_action(
        &self,
        task_owner: i64,
        actor: &Actor,
        action: InstanceAction,
        ids: Vec<i64>,
        previous: Vec<InstanceStatus>,
        power_on_owners: BTreeMap<i64, i64>,
    ) -> CoreResult<Task> {
        let now = now_ms();
        let mut tx = self.store().write_tx().await?;
        self.lock_usage(&mut tx).await?;
        for (owner, n) in &power_on_owners {
            self.check_limits(&mut tx.tx, *owner, *n, 0).await?;
        }
        for (id, from) in ids.iter().zip(&previous) {
            let Some(to) = transition(action, *from) else { continue };
            // Only from the status checked a moment ago: a concurrent action loses cleanly.
            let changed = sqlx::query(
                "UPDATE instances SET status = $1, status_message = '', updated_at = $2 WHERE id = $3 AND status = $4",
            )
            .bind(to.as_str())
            .bind(now)
            .bind(id)
            .bind(from.as_str())
            .execute(&mut *tx.tx)
            .await?;
            if changed.rows_affected() != 1 {
                return Err(CoreError::Conflict(format!("instance {id} changed meanwhile; try again")));
            }
        }
        crate::audit::write(
            &mut *tx.tx,
            actor,
            AuditRecord::new(&format!("instance.{}", action.as_str()), AuditOutcome::Success)
                .target("instance", ids[0])
                .details(json!({"instances": ids})),
        )
        .await?;
        tx.commit().await?;
        for id in &ids {
            self.publish_instance_change(*id).await;
        }
        let verb = match action {
            InstanceAction::PowerOff => "Power off",
            InstanceAction::PowerOn => "Power on",
            InstanceAction::Reboot => "Reboot",
            InstanceAction::Terminate => "Terminate",
            InstanceAction::MountStorage => "Mount the storage of",
            InstanceAction::RetrySetup => "Retry the set-up of",
        };
        let title = if ids.len() == 1 {
            let name = self.load_instance(ids[0]).await.map(|i| i.name).unwrap_or_default();
            format!("{verb} {name}")
        } else {
            format!("{verb} {} instances", ids.len())
        };
        let params = ActionParams { action, instances: ids.clone(), previous };
        self.task_submit(
            task_owner,
            NewTask {
                kind: INSTANCE_ACTION.into(),
                title,
                target_kind: Some("instance".into()),
                target_id: ids.first().copied(),
                params: serde_json::to_value(&params).map_err(|e| CoreError::Internal(e.to_string()))?,
            },
        )
        .await
    }

    async fn run_action(&self, ctx: &TaskContext, p: &ActionParams) -> Result<(), TaskFailure> {
        // Grouped by provider and region: one cloud call per group.
        let mut groups: BTreeMap<(i64, String), Vec<Member>> = BTreeMap::new();
        for (id, prev) in p.instances.iter().zip(&p.previous) {
            let inst = self.load_instance(*id).await?;
            match inst.cloud_id {
                Some(c) => groups.entry((inst.provider_id, inst.region.clone())).or_default().push((*id, c, *prev)),
                // Never reached the cloud: only the record needs changing.
                None if p.action == InstanceAction::Terminate => {
                    self.set_instance_status(*id, InstanceStatus::Terminated, "").await?;
                }
                None => self.set_instance_status(*id, *prev, "the instance has no cloud id").await?,
            }
        }
        let total = groups.len().max(1) as f64;
        let mut failures = Vec::new();
        for (n, ((provider_id, region), members)) in groups.into_iter().enumerate() {
            ctx.progress(n as f64 / total, &format!("{} in {region}", p.action.as_str().replace('_', " "))).await;
            if let Err(e) = self.action_on_group(ctx, p.action, provider_id, &region, &members).await {
                let msg = e.to_string();
                ctx.info(&format!("failed in {region}: {msg}")).await;
                for (id, _, prev) in &members {
                    let back = if p.action == InstanceAction::Terminate { InstanceStatus::Failed } else { *prev };
                    let _ = self
                        .set_instance_status(
                            *id,
                            back,
                            &format!("{} failed: {msg}", p.action.as_str().replace('_', " ")),
                        )
                        .await;
                }
                failures.push(msg);
            }
        }
        ctx.progress(1.0, "done").await;
        if failures.is_empty() {
            Ok(())
        } else {
            Err(TaskFailure::Failed(failures.join("; ")))
        }
    }

    async fn action_on_group(
        &self,
        ctx: &TaskContext,
        action: InstanceAction,
        provider_id: i64,
        region: &str,
        members: &[Member],
    ) -> Result<(), TaskFailure> {
        let cloud = self.cloud(provider_id).await?;
        let cloud_ids: Vec<String> = members.iter().map(|m| m.1.clone()).collect();
        match action {
            InstanceAction::PowerOff => {
                cloud.stop_instances(region, &cloud_ids).await.map_err(cloud_error)?;
                ctx.info(&format!("asked {} to power off", cloud_ids.join(", "))).await;
                let infos = wait_for_instances(ctx, cloud.as_ref(), region, &cloud_ids, InstanceState::Stopped).await?;
                for ((id, _, _), info) in members.iter().zip(&infos) {
                    self.record_instance_info(*id, info).await?;
                    self.set_instance_status(*id, InstanceStatus::Stopped, "").await?;
                }
            }
            InstanceAction::PowerOn => {
                cloud.start_instances(region, &cloud_ids).await.map_err(cloud_error)?;
                ctx.info(&format!("asked {} to power on", cloud_ids.join(", "))).await;
                let infos = wait_for_instances(ctx, cloud.as_ref(), region, &cloud_ids, InstanceState::Running).await?;
                for ((id, _, _), info) in members.iter().zip(&infos) {
                    self.record_instance_info(*id, info).await?;
                    let inst = self.load_instance(*id).await?;
                    if let Some(h) = self.lifetime_hours(inst.owner_id).await? {
                        sqlx::query("UPDATE instances SET expires_at = $1 WHERE id = $2")
                            .bind(now_ms() + h * 3_600_000)
                            .bind(id)
                            .execute(self.store().pool())
                            .await
                            .map_err(CoreError::from)?;
                    }
                    self.set_instance_status(*id, InstanceStatus::Running, "").await?;
                    // A key rotated while it was off reaches it now.
                    if let Err(e) = self.resume_key_pushes_for_instance(*id).await {
                        ctx.info(&format!("could not queue the SSH key hand-over for instance {id}: {e}")).await;
                    }
                }
            }
            InstanceAction::Reboot => {
                cloud.reboot_instances(region, &cloud_ids).await.map_err(cloud_error)?;
                ctx.info(&format!("asked {} to reboot", cloud_ids.join(", "))).await;
                let infos = wait_for_instances(ctx, cloud.as_ref(), region, &cloud_ids, InstanceState::Running).await?;
                for ((id, _, _), info) in members.iter().zip(&infos) {
                    self.record_instance_info(*id, info).await?;
                    self.set_instance_status(*id, InstanceStatus::Running, "").await?;
                }
            }
            InstanceAction::MountStorage => {
                for (id, _, _) in members {
                    self.remount_storage(ctx, *id).await?;
                }
            }
            InstanceAction::RetrySetup => {
                for (id, _, _) in members {
                    self.retry_setup(ctx, *id).await?;
                }
            }
            InstanceAction::Terminate => {
                // Volumes outlive their instance (they can be reused): detach them first, on
                // every cloud alike.
                for (id, _, _) in members {
                    let vols: Vec<(i64,)> =
                        sqlx::query_as("SELECT id FROM volumes WHERE instance_id = $1 AND status = 'in_use'")
                            .bind(id)
                            .fetch_all(self.store().pool())
                            .await
                            .map_err(CoreError::from)?;
                    for (vid,) in vols {
                        self.detach_volume_now(vid).await?;
                        ctx.info(&format!("volume {vid} detached and kept")).await;
                    }
                }
                match cloud.terminate_instances(region, &cloud_ids).await {
                    Ok(_) | Err(wintermute_cloud::CloudError::NotFound { .. }) => {}
                    Err(e) => return Err(cloud_error(e).into()),
                }
                ctx.info(&format!("asked {} to terminate", cloud_ids.join(", "))).await;
                // Gone, or no longer known to the cloud at all: both are terminated.
                match wait_for_instances(ctx, cloud.as_ref(), region, &cloud_ids, InstanceState::Terminated).await {
                    Ok(_) => {}
                    Err(TaskFailure::Failed(m)) if m.contains("no longer knows") => {}
                    Err(e) => return Err(e),
                }
                for (id, _, _) in members {
                    sqlx::query("UPDATE instances SET cloud_state = 'terminated', ssh_host = NULL WHERE id = $1")
                        .bind(id)
                        .execute(self.store().pool())
                        .await
                        .map_err(CoreError::from)?;
                    self.set_instance_status(*id, InstanceStatus::Terminated, "").await?;
                }
            }
        }
        Ok(())
    }

    /// Powers off the instances whose maximum lifetime ran out (called on the core's heartbeat).
    pub(crate) async fn enforce_lifetimes(&self) -> CoreResult<()> {
        let expired: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, status FROM instances WHERE expires_at IS NOT NULL AND expires_at < $1 \
             AND status IN ('running', 'initializing', 'mounting', 'failed') ORDER BY id LIMIT 200",
        )
        .bind(now_ms())
        .fetch_all(self.store().pool())
        .await?;
        if expired.is_empty() {
            return Ok(());
        }
        let Some(admin) = self.system_task_owner().await? else { return Ok(()) };
        let ids: Vec<i64> = expired.iter().map(|e| e.0).collect();
        let previous: Vec<InstanceStatus> =
            expired.iter().map(|e| InstanceStatus::parse(&e.1).unwrap_or(InstanceStatus::Running)).collect();
        tracing::info!(instances = ?ids, "powering off instances past their maximum lifetime");
        match self.queue_action(admin, &Actor::system(), InstanceAction::PowerOff, ids, previous, BTreeMap::new()).await
        {
            // Another replica got there first.
            Ok(_) | Err(CoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
