//! Storage volumes (manual 7.4): created with an instance or on their own, attached, detached,
//! deleted; rights of 7.4.1 ("change", "control", "view"). Encrypted volumes get a key from key
//! custody when they are created; the key goes when the volume is deleted.

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::instances::{
    AttachVolume, InstanceStatus, NewVolume, Volume, VolumePatch, VolumeStatus, VolumeType, DEFAULT_DEVICE,
};
use wintermute_api::providers::ProviderKind;
use wintermute_api::rights::{ObjectKind, ObjectRight};
use wintermute_cloud::{ObjectRef, Tags, VolumeSpec, VolumeState};

use super::launch::{check_device, check_mount_point, check_volume_size, cloud_volume_type, wait_for_volume};
use crate::audit::AuditRecord;
use crate::caller::Caller;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::providers::cloud_error;
use crate::rights::visible_filter;
use crate::store::RowExt;
use crate::tasks::TaskFailure;
use crate::time::{now_ms, to_dt};
use crate::validate;

const VOLUME_COLUMNS: &str = "v.id, v.name, v.owner_id, u.login AS owner_login, v.provider_id, p.name AS provider_name, \
     v.region, v.availability_zone, v.cloud_id, v.size_gb, v.volume_type, v.iops, v.encrypted, v.status, v.status_message, \
     v.instance_id, i.name AS instance_name, v.device, v.mount_point, v.created_at, v.updated_at";
const VOLUME_FROM: &str = "FROM volumes v JOIN users u ON u.id = v.owner_id JOIN providers p ON p.id = v.provider_id \
     LEFT JOIN instances i ON i.id = v.instance_id";

fn failed(e: TaskFailure) -> CoreError {
    match e {
        TaskFailure::Cancelled => CoreError::Conflict("cancelled".into()),
        TaskFailure::Failed(m) => CoreError::Unavailable(m),
    }
}

fn volume_from_row(r: &sqlx::any::AnyRow) -> CoreResult<Volume> {
    let status = r.text("status")?;
    let vt = r.text("volume_type")?;
    Ok(Volume {
        id: r.int("id")?,
        name: r.text("name")?,
        owner_id: r.int("owner_id")?,
        owner_login: r.text("owner_login")?,
        provider_id: r.int("provider_id")?,
        provider_name: r.text("provider_name")?,
        region: r.opt_text("region")?.unwrap_or_default(),
        availability_zone: r.opt_text("availability_zone")?,
        cloud_id: r.opt_text("cloud_id")?,
        size_gb: r.int("size_gb")?,
        volume_type: VolumeType::parse(&vt)
            .ok_or_else(|| CoreError::Internal(format!("unknown volume type {vt:?}")))?,
        iops: r.opt_int("iops")?,
        encrypted: r.flag("encrypted")?,
        status: VolumeStatus::parse(&status)
            .ok_or_else(|| CoreError::Internal(format!("unknown volume status {status:?}")))?,
        status_message: r.text("status_message")?,
        instance_id: r.opt_int("instance_id")?,
        instance_name: r.opt_text("instance_name")?,
        device: r.opt_text("device")?,
        mount_point: r.opt_text("mount_point")?,
        created_at: to_dt(r.int("created_at")?),
        updated_at: to_dt(r.int("updated_at")?),
    })
}

impl Engine {
    pub(crate) async fn load_volume(&self, id: i64) -> CoreResult<Volume> {
        let r = sqlx::query(&format!("SELECT {VOLUME_COLUMNS} {VOLUME_FROM} WHERE v.id = $1"))
            .bind(id)
            .fetch_optional(self.store().pool())
            .await?
            .ok_or_else(|| CoreError::not_found(format!("there is no volume {id}")))?;
        volume_from_row(&r)
    }

    pub(crate) async fn publish_volume_change(&self, id: i64) {
        if let Ok(v) = self.load_volume(id).await {
            self.events().publish(wintermute_api::events::Event::Volume { volume: Box::new(v) });
        }
    }

    /// Volumes the caller may view (deleted ones only when asked).
    pub async fn volumes_list(&self, caller: &Caller, include_deleted: bool) -> CoreResult<Vec<Volume>> {
        let sql = format!(
            "SELECT {VOLUME_COLUMNS} {VOLUME_FROM} JOIN objects o ON o.kind = 'volume' AND o.id = v.id \
             WHERE ($1 = 1 OR v.status <> 'deleted') AND ($2 = 1 OR {}) ORDER BY v.id DESC",
            visible_filter(3)
        );
        sqlx::query(&sql)
            .bind(i64::from(include_deleted))
            .bind(i64::from(caller.is_admin))
            .bind(caller.user_id)
            .fetch_all(self.store().pool())
            .await?
            .iter()
            .map(volume_from_row)
            .collect()
    }

    pub async fn volumes_get(&self, caller: &Caller, id: i64) -> CoreResult<Volume> {
        self.require_right(caller, ObjectKind::Volume, id, ObjectRight::View).await?;
        self.load_volume(id).await
    }

    /// Creates a volume on its own ("create volume" on the provider), within the caller's limits.
    pub async fn volumes_create(&self, caller: &Caller, req: &NewVolume) -> CoreResult<Volume> {
        validate::text("name", &req.name, 128, false)?;
        check_volume_size(req.size_gb, req.volume_type, req.iops)?;
        if let Some(m) = &req.mount_point {
            check_mount_point("mount_point", m)?;
        }
        let provider = self.load_provider(req.provider_id).await?;
        self.require_right(caller, ObjectKind::Provider, provider.id, ObjectRight::CreateVolume).await?;
        if !provider.regions.iter().any(|r| r.name == req.region && r.allowed) {
            return Err(CoreError::forbidden(format!(
                "region {:?} is not allowed at provider {:?}",
                req.region, provider.name
            )));
        }
        let zone = match (&req.availability_zone, provider.kind) {
            (Some(z), _) => z.clone(),
            (None, ProviderKind::Local) => wintermute_cloud_local::ZONE.to_owned(),
            // Nova's and Cinder's default availability zone.
            (None, ProviderKind::Openstack) => "nova".to_owned(),
            (None, _) => format!("{}a", req.region),
        };
        let now = now_ms();
        let mut tx = self.store().write_tx().await?;
        self.lock_usage(&mut tx).await?;
        self.check_limits(&mut tx.tx, caller.user_id, 0, req.size_gb).await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO volumes (owner_id, size_gb, encrypted, name, provider_id, region, availability_zone, volume_type, iops, \
             mount_point, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'creating', $11, $11) RETURNING id",
        )
        .bind(caller.user_id)
        .bind(req.size_gb)
        .bind(i64::from(req.encrypted))
        .bind(&req.name)
        .bind(provider.id)
        .bind(&req.region)
        .bind(&zone)
        .bind(req.volume_type.as_str())
        .bind(req.iops)
        .bind(req.mount_point.clone())
        .bind(now)
        .fetch_one(&mut *tx.tx)
        .await?;
        Engine::register_object(&mut *tx.tx, ObjectKind::Volume, id, caller.user_id, &req.name).await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("volume.create", AuditOutcome::Success).target("volume", id).details(json!({
                "provider_id": provider.id, "region": req.region, "size_gb": req.size_gb,
                "volume_type": req.volume_type.as_str(), "encrypted": req.encrypted,
            })),
        )
        .await?;
        tx.commit().await?;
        let result = async {
            if req.encrypted {
                self.create_volume_key(id).await?;
            }
            let spec = VolumeSpec {
                size_gb: u32::try_from(req.size_gb).map_err(|_| CoreError::invalid("size_gb", "too large"))?,
                volume_type: cloud_volume_type(req.volume_type),
                iops: req.iops.and_then(|i| u32::try_from(i).ok()),
                availability_zone: zone.clone(),
                tags: Tags::managed(&self.core_id().await?, &caller.login, &ObjectRef::new("volume", id))
                    .with(wintermute_cloud::TAG_NAME, req.name.clone()),
            };
            let cloud = self.cloud(provider.id).await?;
            let made = cloud.create_volume(&req.region, &spec).await.map_err(cloud_error)?;
            sqlx::query("UPDATE volumes SET cloud_id = $1, updated_at = $2 WHERE id = $3")
                .bind(&made.id)
                .bind(now_ms())
                .bind(id)
                .execute(self.store().pool())
                .await?;
            wait_for_volume(cloud.as_ref(), &req.region, &made.id, VolumeState::Available).await.map_err(failed)?;
            Ok::<_, CoreError>(())
        }
        .await;
        match result {
            Ok(()) => self.set_volume_status(id, VolumeStatus::Available, "").await?,
            Err(e) => {
                // Nothing made in the cloud stays untracked: the row says what happened, and a
                // volume the cloud did make is still listed (status error) for deletion.
                let made: Option<(Option<String>,)> = sqlx::query_as("SELECT cloud_id FROM volumes WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.store().pool())
                    .await?;
                if made.and_then(|m| m.0).is_some() {
                    self.set_volume_status(id, VolumeStatus::Error, &e.to_string()).await?;
                } else {
                    self.set_volume_status(id, VolumeStatus::Deleted, &format!("creation failed: {e}")).await?;
                    sqlx::query("UPDATE volumes SET deleted_at = $1 WHERE id = $2")
                        .bind(now_ms())
                        .bind(id)
                        .execute(self.store().pool())
                        .await?;
                    sqlx::query("DELETE FROM volume_keys WHERE volume_id = $1")
                        .bind(id)
                        .execute(self.store().pool())
                        .await?;
                }
                return Err(e);
            }
        }
        self.load_volume(id).await
    }

    pub(crate) async fn set_volume_status(&self, id: i64, status: VolumeStatus, message: &str) -> CoreResult<()> {
        sqlx::query("UPDATE volumes SET status = $1, status_message = $2, updated_at = $3 WHERE id = $4")
            .bind(status.as_str())
            .bind(message)
            .bind(now_ms())
            .bind(id)
            .execute(self.store().pool())
            .await?;
        self.publish_volume_change(id).await;
        Ok(())
    }

    /// Renames a volume or sets its mount point ("change volume").
    pub async fn volumes_update(&self, caller: &Caller, id: i64, p: &VolumePatch) -> CoreResult<Volume> {
        self.require_right(caller, ObjectKind::Volume, id, ObjectRight::Change).await?;
        if let Some(n) = &p.name {
            validate::text("name", n, 128, false)?;
        }
        if let Some(m) = &p.mount_point {
            check_mount_point("mount_point", m)?;
        }
        let mut tx = self.store().write_tx().await?;
        sqlx::query("UPDATE volumes SET name = COALESCE($1, name), mount_point = COALESCE($2, mount_point), updated_at = $3 WHERE id = $4")
            .bind(p.name.clone())
            .bind(p.mount_point.clone())
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx.tx)
            .await?;
        if let Some(n) = &p.name {
            sqlx::query("UPDATE objects SET name = $1 WHERE kind = 'volume' AND id = $2")
                .bind(n)
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
        }
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("volume.update", AuditOutcome::Success).target("volume", id).details(json!(p)),
        )
        .await?;
        tx.commit().await?;
        self.load_volume(id).await
    }

    /// Attaches an available volume to an instance: "control" on the volume and on the instance.
    pub async fn volumes_attach(&self, caller: &Caller, id: i64, req: &AttachVolume) -> CoreResult<Volume> {
        self.require_right(caller, ObjectKind::Volume, id, ObjectRight::Control).await?;
        self.require_right(caller, ObjectKind::Instance, req.instance_id, ObjectRight::Control).await?;
        let device = req.device.clone().unwrap_or_else(|| DEFAULT_DEVICE.into());
        check_device("device", &device)?;
        let v = self.load_volume(id).await?;
        let inst = self.load_instance(req.instance_id).await?;
        if !matches!(inst.status, InstanceStatus::Running | InstanceStatus::Stopped) {
            return Err(CoreError::Conflict(format!(
                "instance {} is {}; attach to a running or stopped instance",
                inst.id, inst.status
            )));
        }
        if inst.provider_id != v.provider_id || inst.region != v.region {
            return Err(CoreError::invalid(
                "instance_id",
                "the volume and the instance are at different providers or regions",
            ));
        }
        if v.availability_zone.is_some()
            && inst.availability_zone.is_some()
            && v.availability_zone != inst.availability_zone
        {
            return Err(CoreError::invalid(
                "instance_id",
                format!(
                    "the volume is in zone {} and the instance in {}",
                    v.availability_zone.unwrap_or_default(),
                    inst.availability_zone.unwrap_or_default()
                ),
            ));
        }
        if inst.volumes.iter().any(|x| x.device.as_deref() == Some(device.as_str())) {
            return Err(CoreError::Conflict(format!("instance {} already has a volume at {device}", inst.id)));
        }
        // Claim it first, so two attaches cannot both go ahead.
        let claimed = sqlx::query("UPDATE volumes SET status = 'in_use', instance_id = $1, device = $2, updated_at = $3 WHERE id = $4 AND status = 'available'")
            .bind(inst.id)
            .bind(&device)
            .bind(now_ms())
            .bind(id)
            .execute(self.store().pool())
            .await?;
        if claimed.rows_affected() != 1 {
            return Err(CoreError::Conflict(format!("volume {id} is {}, not available", v.status.as_str())));
        }
        let result = async {
            let (vol, ins) = (
                v.cloud_id.clone().ok_or_else(|| CoreError::Conflict("the volume has no cloud id".into()))?,
                inst.cloud_id.clone().ok_or_else(|| CoreError::Conflict("the instance has no cloud id".into()))?,
            );
            let cloud = self.cloud(v.provider_id).await?;
            cloud.attach_volume(&v.region, &vol, &ins, &device).await.map_err(cloud_error)?;
            wait_for_volume(cloud.as_ref(), &v.region, &vol, VolumeState::InUse).await.map_err(failed)
        }
        .await;
        if let Err(e) = result {
            sqlx::query("UPDATE volumes SET status = 'available', instance_id = NULL, status_message = $1, updated_at = $2 WHERE id = $3")
                .bind(format!("attaching failed: {e}"))
                .bind(now_ms())
                .bind(id)
                .execute(self.store().pool())
                .await?;
            return Err(e);
        }
        self.audit_volume(caller, "volume.attach", id, json!({"instance_id": inst.id, "device": device})).await?;
        self.set_volume_status(id, VolumeStatus::InUse, "").await?;
        self.publish_instance_change(inst.id).await;
        self.load_volume(id).await
    }

    /// Detaches a volume from its instance ("control" on the volume).
    pub async fn volumes_detach(&self, caller: &Caller, id: i64) -> CoreResult<Volume> {
        self.require_right(caller, ObjectKind::Volume, id, ObjectRight::Control).await?;
        let v = self.load_volume(id).await?;
        let Some(instance_id) = v.instance_id.filter(|_| v.status == VolumeStatus::InUse) else {
            return Err(CoreError::Conflict(format!("volume {id} is not attached")));
        };
        self.detach_volume_now(id).await?;
        self.audit_volume(caller, "volume.detach", id, json!({"instance_id": instance_id})).await?;
        self.publish_instance_change(instance_id).await;
        self.load_volume(id).await
    }

    /// Detaches a volume in the cloud and records it as available.
    pub(crate) async fn detach_volume_now(&self, id: i64) -> CoreResult<()> {
        let v = self.load_volume(id).await?;
        let Some(instance_id) = v.instance_id else { return Ok(()) };
        let inst = self.load_instance(instance_id).await?;
        if let (Some(vol), Some(ins)) = (&v.cloud_id, &inst.cloud_id) {
            let cloud = self.cloud(v.provider_id).await?;
            match cloud.detach_volume(&v.region, vol, ins).await {
                Ok(_) => {
                    wait_for_volume(cloud.as_ref(), &v.region, vol, VolumeState::Available).await.map_err(failed)?
                }
                // Already detached (or the instance is gone): only the record is behind.
                Err(wintermute_cloud::CloudError::NotFound { .. }) => {}
                Err(e) => return Err(cloud_error(e)),
            }
        }
        sqlx::query("UPDATE volumes SET status = 'available', instance_id = NULL, status_message = '', updated_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(self.store().pool())
            .await?;
        self.publish_volume_change(id).await;
        Ok(())
    }

    /// Deletes a detached volume and its encryption key ("control" on the volume).
    pub async fn volumes_delete(&self, caller: &Caller, id: i64) -> CoreResult<()> {
        self.require_right(caller, ObjectKind::Volume, id, ObjectRight::Control).await?;
        let v = self.load_volume(id).await?;
        match v.status {
            VolumeStatus::Available | VolumeStatus::Error => {}
            VolumeStatus::Deleted => return Err(CoreError::Conflict(format!("volume {id} is already deleted"))),
            other => {
                return Err(CoreError::Conflict(format!("volume {id} is {}; detach it first", other.as_str())));
            }
        }
        if let Some(vol) = &v.cloud_id {
            let cloud = self.cloud(v.provider_id).await?;
            match cloud.delete_volume(&v.region, vol).await {
                Ok(()) | Err(wintermute_cloud::CloudError::NotFound { .. }) => {}
                Err(e) => return Err(cloud_error(e)),
            }
        }
        let mut tx = self.store().write_tx().await?;
        let now = now_ms();
        sqlx::query(
            "UPDATE volumes SET status = 'deleted', deleted_at = $1, instance_id = NULL, updated_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
        // The key is useless without the volume, and must not outlive it.
        sqlx::query("DELETE FROM volume_keys WHERE volume_id = $1").bind(id).execute(&mut *tx.tx).await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("volume.delete", AuditOutcome::Success)
                .target("volume", id)
                .details(json!({"cloud_id": v.cloud_id, "size_gb": v.size_gb})),
        )
        .await?;
        tx.commit().await?;
        self.publish_volume_change(id).await;
        Ok(())
    }

    async fn audit_volume(&self, caller: &Caller, action: &str, id: i64, details: serde_json::Value) -> CoreResult<()> {
        crate::audit::write(
            self.store().pool(),
            &caller.actor(),
            AuditRecord::new(action, AuditOutcome::Success).target("volume", id).details(details),
        )
        .await?;
        Ok(())
    }
}
