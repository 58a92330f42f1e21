//! Volumes: qcow2 files, hot-plugged into running VMs through QMP.
//!
//! A volume attached to an instance is a virtio disk whose serial is the volume id, so the
//! guest sees it as `/dev/disk/by-id/virtio-<volume id>` whatever the order of attachment;
//! that path is what [`VolumeAttachment::device`] reports (the device name the caller asked
//! for has no meaning here). Attached volumes stay attached across power off/on and reboots:
//! they are on the VM's command line at every start. Attaching to or detaching from a stopped
//! instance only changes the record.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use wintermute_cloud::{
    AttachmentState, CloudError, InstanceState, VolumeAttachment, VolumeInfo, VolumeSpec, VolumeState,
};

use crate::provider::Local;
use crate::qmp::Qmp;
use crate::records::{Power, VolumeRecord};
use crate::store::{is_id, new_id, read_json, remove_file, write_json, VOLUME_PREFIX};

/// Most volumes attached to one instance.
const MAX_ATTACHED: usize = 16;
/// How long the guest has to release a disk being detached.
const UNPLUG_WAIT: Duration = Duration::from_secs(30);

/// The path under which the guest sees volume `id`.
pub fn guest_device(id: &str) -> String {
    format!("/dev/disk/by-id/virtio-{id}")
}

fn volume_info(record: &VolumeRecord) -> VolumeInfo {
    VolumeInfo {
        id: record.id.clone(),
        size_gb: record.size_gb,
        volume_type: Some(record.volume_type),
        iops: record.iops,
        state: if record.attached_to.is_some() { VolumeState::InUse } else { VolumeState::Available },
        availability_zone: Some(record.availability_zone.clone()),
        attachments: record
            .attached_to
            .iter()
            .map(|instance| VolumeAttachment {
                instance_id: instance.clone(),
                device: Some(guest_device(&record.id)),
                state: AttachmentState::Attached,
            })
            .collect(),
        tags: record.tags.clone(),
    }
}

impl Local {
    /// The record of volume `id`, or [`CloudError::NotFound`].
    fn load_volume(&self, id: &str) -> Result<VolumeRecord, CloudError> {
        let found = if is_id(id, VOLUME_PREFIX) { read_json(&self.store.volume_record(id))? } else { None };
        found.ok_or_else(|| CloudError::not_found("volume", id))
    }

    fn save_volume(&self, record: &VolumeRecord) -> Result<(), CloudError> {
        write_json(&self.store.volume_record(&record.id), record)
    }

    /// Deletes a volume's file and record.
    pub(crate) fn remove_volume_files(&self, id: &str) -> Result<(), CloudError> {
        remove_file(&self.store.volume_disk(id))?;
        remove_file(&self.store.volume_record(id))
    }

    pub(crate) async fn create_volume(&self, spec: &VolumeSpec) -> Result<VolumeInfo, CloudError> {
        spec.validate()?;
        Self::check_zone(&spec.availability_zone)?;
        if spec.size_gb > self.settings.max_volume_gb {
            return Err(CloudError::InvalidRequest(format!(
                "a local volume holds at most {} GiB, not {}",
                self.settings.max_volume_gb, spec.size_gb
            )));
        }
        let qemu_img = self.qemu_img()?;
        let _guard = self.lock.lock().await;
        let record = VolumeRecord {
            id: new_id(VOLUME_PREFIX),
            size_gb: spec.size_gb,
            volume_type: spec.volume_type,
            iops: spec.iops,
            availability_zone: spec.availability_zone.clone(),
            tags: spec.tags.clone(),
            created: Utc::now(),
            attached_to: None,
        };
        let disk = self.store.volume_disk(&record.id);
        let size = format!("{}G", spec.size_gb);
        let made = crate::qemu::qemu_img(&qemu_img, &["create", "-q", "-f", "qcow2", &disk.to_string_lossy(), &size])
            .await
            .and_then(|_| self.save_volume(&record));
        if let Err(e) = made {
            let _ = self.remove_volume_files(&record.id);
            return Err(e);
        }
        Ok(volume_info(&record))
    }

    pub(crate) async fn attach_volume(
        &self,
        volume_id: &str,
        instance_id: &str,
        _device: &str,
    ) -> Result<VolumeAttachment, CloudError> {
        let _guard = self.lock.lock().await;
        let mut volume = self.load_volume(volume_id)?;
        let mut instance = self.load_instance(instance_id)?;
        if let Some(other) = &volume.attached_to {
            return Err(CloudError::InvalidRequest(format!("volume {volume_id} is already attached to {other}")));
        }
        if instance.volumes.len() >= MAX_ATTACHED {
            return Err(CloudError::LimitExceeded(format!("an instance takes at most {MAX_ATTACHED} volumes")));
        }
        match self.observe(&mut instance).await? {
            InstanceState::Running => {
                self.hotplug(instance_id, volume_id, &self.store.volume_disk(volume_id)).await?;
            }
            InstanceState::Stopped => {}
            state => {
                return Err(CloudError::InvalidRequest(format!(
                    "instance {instance_id} is {state}: volumes can be attached when it runs or is stopped"
                )))
            }
        }
        instance.volumes.push(volume_id.to_string());
        self.save_instance(&instance)?;
        volume.attached_to = Some(instance_id.to_string());
        self.save_volume(&volume)?;
        Ok(VolumeAttachment {
            instance_id: instance_id.to_string(),
            device: Some(guest_device(volume_id)),
            state: AttachmentState::Attached,
        })
    }

    pub(crate) async fn detach_volume(
        &self,
        volume_id: &str,
        instance_id: &str,
    ) -> Result<VolumeAttachment, CloudError> {
        let _guard = self.lock.lock().await;
        let mut volume = self.load_volume(volume_id)?;
        let mut instance = self.load_instance(instance_id)?;
        if volume.attached_to.as_deref() != Some(instance_id) {
            return Err(CloudError::InvalidRequest(format!("volume {volume_id} is not attached to {instance_id}")));
        }
        match self.observe(&mut instance).await? {
            InstanceState::Running => self.unplug(instance_id, volume_id, UNPLUG_WAIT).await?,
            InstanceState::Stopped | InstanceState::Terminated => {}
            state => {
                return Err(CloudError::InvalidRequest(format!(
                    "instance {instance_id} is {state}: volumes can be detached when it runs or is stopped"
                )))
            }
        }
        instance.volumes.retain(|v| v != volume_id);
        if instance.power != Power::Terminated {
            self.save_instance(&instance)?;
        }
        volume.attached_to = None;
        self.save_volume(&volume)?;
        Ok(VolumeAttachment {
            instance_id: instance_id.to_string(),
            device: Some(guest_device(volume_id)),
            state: AttachmentState::Detached,
        })
    }

    pub(crate) async fn delete_volume(&self, volume_id: &str) -> Result<(), CloudError> {
        let _guard = self.lock.lock().await;
        let volume = self.load_volume(volume_id)?;
        if let Some(instance) = &volume.attached_to {
            return Err(CloudError::InvalidRequest(format!(
                "volume {volume_id} is attached to {instance}: detach it first"
            )));
        }
        self.remove_volume_files(volume_id)
    }

    pub(crate) async fn describe_volumes(&self, ids: &[String]) -> Result<Vec<VolumeInfo>, CloudError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let _guard = self.lock.lock().await;
        ids.iter().map(|id| self.load_volume(id).map(|v| volume_info(&v))).collect()
    }

    pub(crate) async fn volumes_by_tag(&self, key: &str, value: &str) -> Result<Vec<VolumeInfo>, CloudError> {
        let _guard = self.lock.lock().await;
        let mut infos = Vec::new();
        for id in self.store.ids_in(&self.store.volumes_dir(), VOLUME_PREFIX, ".json")? {
            let volume = self.load_volume(&id)?;
            if volume.tags.get(key) == Some(value) {
                infos.push(volume_info(&volume));
            }
        }
        Ok(infos)
    }

    /// Hot-plugs volume `volume` (its qcow2 file) into the running VM of `instance`.
    async fn hotplug(&self, instance: &str, volume: &str, file: &Path) -> Result<(), CloudError> {
        let socket = self.store.instance_dir(instance).join("qmp.sock");
        let mut qmp = Qmp::connect(&socket).await?;
        let node = json!({
            "driver": "qcow2",
            "node-name": volume,
            "file": { "driver": "file", "filename": file.to_string_lossy() },
        });
        qmp.execute("blockdev-add", Some(node)).await?;
        let device = json!({ "driver": "virtio-blk-pci", "id": volume, "drive": volume, "serial": volume });
        if let Err(e) = qmp.execute("device_add", Some(device)).await {
            let _ = qmp.execute("blockdev-del", Some(json!({ "node-name": volume }))).await;
            return Err(e);
        }
        Ok(())
    }

    /// Unplugs volume `volume` from the running VM of `instance`: asks the guest to release
    /// the device, waits for it (up to `wait`), then closes the file.
    async fn unplug(&self, instance: &str, volume: &str, wait: Duration) -> Result<(), CloudError> {
        let socket = self.store.instance_dir(instance).join("qmp.sock");
        let mut qmp = Qmp::connect(&socket).await?;
        qmp.execute("device_del", Some(json!({ "id": volume }))).await?;
        if !qmp.wait_event("DEVICE_DELETED", |d| d["device"] == volume, wait).await? {
            return Err(CloudError::Timeout {
                operation: format!("detaching {volume} (the guest did not release the disk)"),
                after: wait,
            });
        }
        qmp.execute("blockdev-del", Some(json!({ "node-name": volume }))).await?;
        Ok(())
    }
}
