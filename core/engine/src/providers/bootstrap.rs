//! The core's own set-up of a local provider on its first start (`[bootstrap] local_provider =
//! true`, which `scripts/run-core` sets), so that a newcomer can launch a guest within minutes:
//!
//! 1. a local provider named `local`, owned by the first administrator;
//! 2. synchronized (its region `local` and its CPU/memory sizes), all of them allowed;
//! 3. the Debian 12 image, built once into the image folder (or found there), in the catalogue
//!    and enabled (OS type `debian`, login user `debian`).
//!
//! It is one task, whose log has every step (the image build's too); the steps also go to the
//! core's log, so whoever started the core sees them. Each step looks first whether it is done,
//! so an interrupted set-up continues where it stopped. When all went through, an audit entry
//! `provider.bootstrap_local` marks it done for good: the audit log is never pruned, so the core
//! does nothing of this again (not even when an administrator removed the provider later). A host
//! without QEMU gets a warning, and a core without the local provider.

use std::sync::Arc;

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::providers::{NewProvider, ProviderKind};
use wintermute_api::tasks::LogLevel;
use wintermute_cloud_local::image::DEBIAN_12;
use wintermute_cloud_local::{find_program, QEMU_IMG, QEMU_SYSTEM, REGION};

use super::local_images::{LocalImageJob, Reporter};
use crate::audit::AuditRecord;
use crate::caller::Actor;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::RowExt;
use crate::tasks::{NewTask, TaskContext, TaskFailure, TaskHandler};

pub const BOOTSTRAP_LOCAL: &str = "provider.bootstrap_local";
/// The audit action that marks the set-up as done.
const DONE: &str = "provider.bootstrap_local";
/// The name of the provider the set-up registers.
pub const LOCAL_PROVIDER_NAME: &str = "local";

struct BootstrapLocal;

#[async_trait::async_trait]
impl TaskHandler for BootstrapLocal {
    fn kind(&self) -> &'static str {
        BOOTSTRAP_LOCAL
    }

    fn resumable(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &TaskContext) -> Result<(), TaskFailure> {
        let result = ctx.engine().bootstrap_local(ctx).await;
        if let Err(TaskFailure::Failed(e)) = &result {
            tracing::warn!(
                task = ctx.task.id,
                "setting up the local provider failed: {e}; it is tried again at the next start"
            );
        }
        result
    }
}

pub(crate) fn register(mgr: &crate::tasks::TaskManager) {
    mgr.register(Arc::new(BootstrapLocal));
}

impl Engine {
    /// At start, with `bootstrap.local_provider`: queues the set-up unless it was done once or is
    /// queued already. A host without QEMU gets a warning instead.
    pub(crate) async fn queue_local_bootstrap(&self) -> CoreResult<()> {
        if !self.config().bootstrap.local_provider {
            return Ok(());
        }
        let done = sqlx::query("SELECT id FROM audit_log WHERE action = $1 AND outcome = 'success' LIMIT 1")
            .bind(DONE)
            .fetch_optional(self.store().pool())
            .await?;
        if done.is_some() {
            tracing::info!("the local provider was set up at an earlier start: nothing to do");
            return Ok(());
        }
        if let Some(id) = self.pending_task_of_kind(BOOTSTRAP_LOCAL).await? {
            tracing::info!("setting up the local provider goes on (task {id})");
            return Ok(());
        }
        let missing: Vec<String> = [QEMU_SYSTEM, QEMU_IMG]
            .iter()
            .filter(|(program, _)| find_program(program).is_none())
            .map(|(program, package)| format!("{program} (Debian package {package})"))
            .collect();
        if !missing.is_empty() {
            tracing::warn!(
                "no local provider: this host lacks {}; install them (apt-get install qemu-system-x86 qemu-utils) \
                 and start the core again to get local guests",
                missing.join(" and ")
            );
            return Ok(());
        }
        let Some(owner) = self.system_task_owner().await? else {
            tracing::warn!("no local provider: the core has no enabled administrator to own it");
            return Ok(());
        };
        let task = self
            .task_submit(
                owner,
                NewTask {
                    kind: BOOTSTRAP_LOCAL.into(),
                    title: "Set up the local provider and its Debian 12 image".into(),
                    target_kind: None,
                    target_id: None,
                    params: json!({}),
                },
            )
            .await?;
        tracing::info!(
            "setting up the local provider \"{LOCAL_PROVIDER_NAME}\" and its {DEBIAN_12} image (task {}): building \
             the image takes a few minutes, once; follow it here or with `wmai tasks follow {}`",
            task.id,
            task.id
        );
        Ok(())
    }

    async fn bootstrap_local(&self, ctx: &TaskContext) -> Result<(), TaskFailure> {
        let say = |line: String| async move {
            tracing::info!(task = ctx.task.id, "local provider set-up: {line}");
            ctx.info(&line).await;
        };
        ctx.progress(0.01, "registering the local provider").await;
        let found = sqlx::query("SELECT id, kind FROM providers WHERE name = $1")
            .bind(LOCAL_PROVIDER_NAME)
            .fetch_optional(self.store().pool())
            .await
            .map_err(CoreError::from)?;
        let id = match found {
            Some(r) if r.text("kind").map_err(CoreError::from)? == ProviderKind::Local.as_str() => {
                let id = r.int("id").map_err(CoreError::from)?;
                say(format!("local provider \"{LOCAL_PROVIDER_NAME}\" is provider {id}")).await;
                id
            }
            Some(_) => {
                return Err(TaskFailure::Failed(format!(
                    "a provider named \"{LOCAL_PROVIDER_NAME}\" exists and is not a local provider; rename it to \
                     let the core set up its local provider"
                )))
            }
            None => {
                let req = NewProvider {
                    kind: Some(ProviderKind::Local),
                    name: LOCAL_PROVIDER_NAME.into(),
                    description: "Guests as QEMU virtual machines on the core's host (set up at the first start)"
                        .into(),
                    ..Default::default()
                };
                let p = self
                    .insert_provider(ctx.task.owner_id, &Actor::system(), ProviderKind::Local, REGION, &req)
                    .await?;
                say(format!("registered the local provider \"{LOCAL_PROVIDER_NAME}\" (provider {})", p.id)).await;
                p.id
            }
        };
        ctx.check_cancel()?;

        if self.load_provider(id).await?.status != "synced" {
            say("synchronizing its configuration".into()).await;
            self.sync_provider(ctx, id).await?;
        }
        let p = self.load_provider(id).await?;
        say(p.status_message.clone()).await;
        if !p.regions.iter().any(|r| r.allowed) {
            sqlx::query("UPDATE provider_regions SET allowed = 1 WHERE provider_id = $1")
                .bind(id)
                .execute(self.store().pool())
                .await
                .map_err(CoreError::from)?;
        }
        if !p.instance_types.iter().any(|t| t.allowed) {
            sqlx::query("UPDATE provider_instance_types SET allowed = 1 WHERE provider_id = $1")
                .bind(id)
                .execute(self.store().pool())
                .await
                .map_err(CoreError::from)?;
        }
        let p = self.load_provider(id).await?;
        let allowed = |names: Vec<&str>| if names.is_empty() { "none".to_string() } else { names.join(", ") };
        say(format!(
            "allowed: region {}; sizes {}",
            allowed(p.regions.iter().filter(|r| r.allowed).map(|r| r.name.as_str()).collect()),
            allowed(p.instance_types.iter().filter(|t| t.allowed).map(|t| t.name.as_str()).collect())
        ))
        .await;
        ctx.check_cancel()?;

        let image = sqlx::query("SELECT id FROM images WHERE provider_id = $1 AND name = $2 AND enabled = 1 LIMIT 1")
            .bind(id)
            .bind(DEBIAN_12)
            .fetch_optional(self.store().pool())
            .await
            .map_err(CoreError::from)?;
        let image_id = match image {
            Some(r) => r.int("id").map_err(CoreError::from)?,
            None => {
                let mut reporter = Reporter::new(ctx, 0.05, 0.98);
                let job = LocalImageJob::debian_12(true);
                self.local_image_into_catalogue(&mut reporter, id, ctx.task.owner_id, &Actor::system(), &job).await?
            }
        };
        self.audit(
            &Actor::system(),
            AuditRecord::new(DONE, AuditOutcome::Success)
                .target("provider", id)
                .details(json!({"provider_id": id, "image_id": image_id})),
        )
        .await?;
        ctx.log(
            LogLevel::Info,
            &format!("ready: users can launch {DEBIAN_12} (image {image_id}) on provider \"{LOCAL_PROVIDER_NAME}\""),
        )
        .await;
        tracing::info!(
            "the local provider is ready: users can launch {DEBIAN_12} (image {image_id}) on provider \
             \"{LOCAL_PROVIDER_NAME}\" ({})",
            p.status_message
        );
        ctx.progress(1.0, "the local provider is ready").await;
        Ok(())
    }
}
