//! Instances (manual 7.3): launched N at a time by a task after every compliance check passed,
//! listed to those who may view them, controlled (power off/on, reboot, terminate) one by one or
//! in batches; their storage volumes (7.4); usage limits; and the reconcile that keeps the core's
//! records and the cloud in step. Every cloud object the core makes carries its tags
//! (`wintermute_cloud::Tags::managed`), so it can always be found again.

mod actions;
mod launch;
mod limits;
mod reconcile;
mod security_groups;
mod volumes;

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::instances::{Instance, InstancePatch, InstanceStatus, VolumeRef};
use wintermute_api::providers::{OsType, ProviderKind};
use wintermute_api::rights::{ObjectKind, ObjectRight};

pub use actions::INSTANCE_ACTION;
pub use launch::INSTANCE_LAUNCH;
pub use reconcile::RECONCILE;

use crate::audit::AuditRecord;
use crate::caller::Caller;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::rights::visible_filter;
use crate::store::RowExt;
use crate::time::{now_ms, opt_dt, to_dt};
use crate::validate;

pub(crate) fn register_tasks(mgr: &crate::tasks::TaskManager) {
    launch::register(mgr);
    actions::register(mgr);
    reconcile::register(mgr);
}

/// How the core names what it creates in a cloud: `wintermute-<core>-…`.
pub(crate) const NAME_PREFIX: &str = "wintermute";

const INSTANCE_COLUMNS: &str = "i.id, i.owner_id, u.login AS owner_login, i.provider_id, p.name AS provider_name, \
     p.kind AS provider_kind, i.name, i.description, i.status, i.status_message, i.region, i.cloud_id, i.image_id, \
     COALESCE(im.name, '') AS image_name, i.os_type, i.instance_type, i.cloud_state, i.tags, i.launch_index, \
     i.launch_count, i.swarm, i.security_groups, i.public_ip, i.private_ip, i.availability_zone, i.ssh_host, \
     i.ssh_port, i.login_user, i.expires_at, i.launch_task_id, i.created_at, i.updated_at, i.terminated_at";

const INSTANCE_FROM: &str =
    "FROM instances i JOIN users u ON u.id = i.owner_id JOIN providers p ON p.id = i.provider_id \
     LEFT JOIN images im ON im.id = i.image_id";

fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

impl Engine {
    /// This core's id: made once, kept in the database (and in backups), and written into the
    /// `wintermute:core` tag of everything the core creates in a cloud.
    pub async fn core_id(&self) -> CoreResult<String> {
        let pick = "SELECT value FROM core_meta WHERE name = 'core_id'";
        if let Some((id,)) = sqlx::query_as::<_, (String,)>(pick).fetch_optional(self.store().pool()).await? {
            return Ok(id);
        }
        let mut raw = [0u8; 6];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut raw);
        let fresh: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let mut tx = self.store().write_tx().await?;
        if sqlx::query(pick).fetch_optional(&mut *tx.tx).await?.is_none() {
            sqlx::query("INSERT INTO core_meta (name, value) VALUES ('core_id', $1)")
                .bind(&fresh)
                .execute(&mut *tx.tx)
                .await?;
        }
        tx.commit().await?;
        let (id,): (String,) = sqlx::query_as(pick).fetch_one(self.store().pool()).await?;
        Ok(id)
    }

    async fn instance_from_row(&self, r: &sqlx::any::AnyRow) -> CoreResult<Instance> {
        let id = r.int("id")?;
        let status = r.text("status")?;
        let kind = r.text("provider_kind")?;
        let volumes = sqlx::query(
            "SELECT id, size_gb, encrypted, device, mount_point FROM volumes WHERE instance_id = $1 AND deleted_at IS NULL ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.store().pool())
        .await?
        .iter()
        .map(|v| {
            Ok(VolumeRef {
                id: v.int("id")?,
                size_gb: v.int("size_gb")?,
                encrypted: v.flag("encrypted")?,
                device: v.opt_text("device")?,
                mount_point: v.opt_text("mount_point")?,
            })
        })
        .collect::<CoreResult<Vec<_>>>()?;
        Ok(Instance {
            id,
            name: r.text("name")?,
            description: r.text("description")?,
            owner_id: r.int("owner_id")?,
            owner_login: r.text("owner_login")?,
            provider_id: r.int("provider_id")?,
            provider_name: r.text("provider_name")?,
            provider_kind: ProviderKind::parse(&kind)
                .ok_or_else(|| CoreError::Internal(format!("unknown provider kind {kind:?}")))?,
            region: r.opt_text("region")?.unwrap_or_default(),
            cloud_id: r.opt_text("cloud_id")?,
            image_id: r.opt_int("image_id")?.unwrap_or_default(),
            image_name: r.text("image_name")?,
            os_type: OsType::parse(&r.text("os_type")?),
            instance_type: r.opt_text("instance_type")?.unwrap_or_default(),
            status: InstanceStatus::parse(&status)
                .ok_or_else(|| CoreError::Internal(format!("unknown instance status {status:?}")))?,
            status_message: r.text("status_message")?,
            cloud_state: r.opt_text("cloud_state")?,
            tags: json_list(&r.text("tags")?),
            launch_index: r.int("launch_index")?,
            launch_count: r.int("launch_count")?,
            swarm: r.opt_text("swarm")?,
            security_groups: json_list(&r.text("security_groups")?),
            public_ip: r.opt_text("public_ip")?,
            private_ip: r.opt_text("private_ip")?,
            availability_zone: r.opt_text("availability_zone")?,
            ssh_host: r.opt_text("ssh_host")?,
            ssh_port: r.opt_int("ssh_port")?,
            login_user: r.opt_text("login_user")?.unwrap_or_default(),
            volumes,
            expires_at: opt_dt(r.opt_int("expires_at")?),
            launch_task_id: r.opt_int("launch_task_id")?,
            created_at: to_dt(r.int("created_at")?),
            updated_at: to_dt(r.int("updated_at")?),
            terminated_at: opt_dt(r.opt_int("terminated_at")?),
        })
    }

    pub(crate) async fn load_instance(&self, id: i64) -> CoreResult<Instance> {
        let r = sqlx::query(&format!("SELECT {INSTANCE_COLUMNS} {INSTANCE_FROM} WHERE i.id = $1"))
            .bind(id)
            .fetch_optional(self.store().pool())
            .await?
            .ok_or_else(|| CoreError::not_found(format!("there is no instance {id}")))?;
        self.instance_from_row(&r).await
    }

    /// Instances the caller may view, newest first; terminated ones only when asked.
    pub async fn instances_list(&self, caller: &Caller, include_terminated: bool) -> CoreResult<Vec<Instance>> {
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS} {INSTANCE_FROM} JOIN objects o ON o.kind = 'instance' AND o.id = i.id \
             WHERE ($1 = 1 OR i.status <> 'terminated') AND ($2 = 1 OR {}) ORDER BY i.id DESC",
            visible_filter(3)
        );
        let rows = sqlx::query(&sql)
            .bind(i64::from(include_terminated))
            .bind(i64::from(caller.is_admin))
            .bind(caller.user_id)
            .fetch_all(self.store().pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.instance_from_row(r).await?);
        }
        Ok(out)
    }

    pub async fn instances_get(&self, caller: &Caller, id: i64) -> CoreResult<Instance> {
        self.require_right(caller, ObjectKind::Instance, id, ObjectRight::View).await?;
        self.load_instance(id).await
    }

    /// Renames an instance or changes its description ("change instance").
    pub async fn instances_update(&self, caller: &Caller, id: i64, p: &InstancePatch) -> CoreResult<Instance> {
        self.require_right(caller, ObjectKind::Instance, id, ObjectRight::Change).await?;
        if let Some(n) = &p.name {
            validate::text("name", n, 128, false)?;
        }
        if let Some(d) = &p.description {
            validate::text("description", d, 1000, true)?;
        }
        let mut tx = self.store().write_tx().await?;
        sqlx::query(
            "UPDATE instances SET name = COALESCE($1, name), description = COALESCE($2, description), updated_at = $3 WHERE id = $4",
        )
        .bind(p.name.clone())
        .bind(p.description.clone())
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
        if let Some(n) = &p.name {
            sqlx::query("UPDATE objects SET name = $1 WHERE kind = 'instance' AND id = $2")
                .bind(n)
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
        }
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("instance.update", AuditOutcome::Success)
                .target("instance", id)
                .details(json!({"name": p.name, "description": p.description})),
        )
        .await?;
        tx.commit().await?;
        self.load_instance(id).await
    }

    /// Sets an instance's status (and message), and tells the clients.
    pub(crate) async fn set_instance_status(&self, id: i64, status: InstanceStatus, message: &str) -> CoreResult<()> {
        let now = now_ms();
        let terminated = (status == InstanceStatus::Terminated).then_some(now);
        sqlx::query(
            "UPDATE instances SET status = $1, status_message = $2, updated_at = $3, terminated_at = COALESCE(terminated_at, $4) WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(message)
        .bind(now)
        .bind(terminated)
        .bind(id)
        .execute(self.store().pool())
        .await?;
        self.publish_instance_change(id).await;
        Ok(())
    }

    pub(crate) async fn publish_instance_change(&self, id: i64) {
        if let Ok(i) = self.load_instance(id).await {
            self.events().publish(wintermute_api::events::Event::Instance { instance: Box::new(i) });
        }
    }
}
