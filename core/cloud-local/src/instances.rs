//! Instances: launch, observe, power on and off, reboot, terminate.
//!
//! An instance's state is derived, at every look, from its record (should it run?) and its
//! QEMU process (does it?):
//!
//! | record says   | process  | state                                                        |
//! |---------------|----------|--------------------------------------------------------------|
//! | on            | running  | `running`                                                    |
//! | on            | gone     | `stopped` when the guest powered itself off (the record turns off); `failed` when QEMU crashed or was killed (see [`LocalProvider::vm_status`]); powering on starts it again |
//! | off           | running  | `stopping` (killed once the stop timeout has passed)         |
//! | off           | gone     | `stopped`                                                    |
//! | terminated    | —        | `terminated`                                                 |

use std::io::{Read, Seek, SeekFrom, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use wintermute_cloud::{
    CloudError, InstanceInfo, InstanceSpec, InstanceState, InstanceStateChange, InstanceTypeInfo, TAG_NAME,
};

use crate::error::{io_error, qemu_failed};
use crate::image::LOGIN_USER;
use crate::network::private_mac;
use crate::process::{kill_and_wait, kill_pid_and_wait, rss_kib, running_pid, wait_pid_gone};
use crate::provider::{Local, LocalProvider};
use crate::qemu::{self, StartError, VmConfig};
use crate::qmp::Qmp;
use crate::records::{Exit, ImageRecord, InstanceRecord, KeyPairRecord, Power};
use crate::settings::ZONE;
use crate::store::{is_id, new_id, read_json, remove_file, uuid_v4, write_file, write_json, INSTANCE_PREFIX};

/// The address of every instance's SSH endpoint.
pub const SSH_HOST: &str = "127.0.0.1";

/// Written to the console log before each start: how a process ended is read after the last one.
const CONSOLE_MARK: &str = "=== wintermute: QEMU started";
/// What the guest kernel prints when it powers off by itself.
const POWER_DOWN: &str = "reboot: Power down";
/// A console log larger than this is moved aside (to `console.log.old`) at the next start.
const MAX_CONSOLE_LOG: u64 = 8 << 20;
/// How long a terminated instance's record stays visible.
const TOMBSTONE_HOURS: i64 = 1;
/// Attempts at finding a free SSH port QEMU can bind.
const PORT_ATTEMPTS: usize = 5;

/// What the provider knows about an instance's VM beyond the cloud's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmStatus {
    /// The QEMU process, while it runs.
    pub pid: Option<u32>,
    /// Its resident memory, in KiB.
    pub rss_kib: Option<u64>,
    /// The serial console's log (every boot appended).
    pub console_log: PathBuf,
    /// `true` when the VM should run but its process is gone without the guest having powered
    /// itself off: QEMU crashed or was killed.
    pub crashed: bool,
}

fn instance_info(record: &InstanceRecord, state: InstanceState) -> InstanceInfo {
    let alive = matches!(state, InstanceState::Running | InstanceState::Stopping);
    InstanceInfo {
        id: record.id.clone(),
        state,
        instance_type: Some(record.instance_type.clone()),
        image_id: Some(record.image_id.clone()),
        public_ip: alive.then(|| SSH_HOST.to_string()),
        ssh_port: if alive { record.ssh_port } else { None },
        private_ip: (state != InstanceState::Terminated).then(|| record.private_ip.to_string()),
        launch_time: record.launch_time,
        tags: record.tags.clone(),
        availability_zone: Some(ZONE.to_string()),
    }
}

fn change(id: &str, previous: InstanceState, current: InstanceState) -> InstanceStateChange {
    InstanceStateChange { id: id.to_string(), previous, current }
}

/// How the last QEMU run of `dir` ended: whether the console shows the kernel powering off
/// after the last start mark.
fn exit_reason(dir: &Path) -> Exit {
    let tail = read_tail(&dir.join("console.log"), 64 * 1024).unwrap_or_default();
    let since_start = tail.rsplit(CONSOLE_MARK).next().unwrap_or_default();
    if since_start.contains(POWER_DOWN) {
        Exit::GuestPoweroff
    } else {
        Exit::Crashed
    }
}

fn read_tail(path: &Path, max: u64) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(max)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Appends the start mark to the console log (moving a large log aside first).
fn mark_console(dir: &Path) -> Result<(), CloudError> {
    let log = dir.join("console.log");
    if std::fs::metadata(&log).is_ok_and(|m| m.len() > MAX_CONSOLE_LOG) {
        std::fs::rename(&log, dir.join("console.log.old")).map_err(|e| io_error("cannot rotate", &log, &e))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| io_error("cannot open", &log, &e))?;
    writeln!(file, "\n{CONSOLE_MARK} at {}", Utc::now().to_rfc3339()).map_err(|e| io_error("cannot write", &log, &e))
}

impl Local {
    fn record_path(&self, id: &str) -> PathBuf {
        self.store.instance_dir(id).join("instance.json")
    }

    /// The record of instance `id`, or [`CloudError::NotFound`].
    pub(crate) fn load_instance(&self, id: &str) -> Result<InstanceRecord, CloudError> {
        let found = if is_id(id, INSTANCE_PREFIX) { read_json(&self.record_path(id))? } else { None };
        found.ok_or_else(|| CloudError::not_found("instance", id))
    }

    pub(crate) fn save_instance(&self, record: &InstanceRecord) -> Result<(), CloudError> {
        write_json(&self.record_path(&record.id), record)
    }

    /// Every instance record (terminated ones older than an hour are forgotten on the way).
    fn all_instances(&self) -> Result<Vec<InstanceRecord>, CloudError> {
        let mut records = Vec::new();
        for id in self.store.ids_in(&self.store.instances_dir(), INSTANCE_PREFIX, "")? {
            let Some(record) = read_json::<InstanceRecord>(&self.record_path(&id))? else {
                continue; // a launch that died before writing its record
            };
            let expired = record.terminated.is_some_and(|t| Utc::now() - t > chrono::Duration::hours(TOMBSTONE_HOURS));
            if record.power == Power::Terminated && expired {
                let dir = self.store.instance_dir(&id);
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    tracing::warn!("cannot remove {}: {e}", dir.display());
                }
                continue;
            }
            records.push(record);
        }
        Ok(records)
    }

    /// The records of `ids`, all or a [`CloudError::NotFound`] for the first unknown one.
    fn load_instances(&self, ids: &[String]) -> Result<Vec<InstanceRecord>, CloudError> {
        ids.iter().map(|id| self.load_instance(id)).collect()
    }

    /// The instance's state now (see the module docs), noting in its record how a process
    /// ended by itself, and killing a VM that did not power off within the stop timeout.
    pub(crate) async fn observe(&self, record: &mut InstanceRecord) -> Result<InstanceState, CloudError> {
        let dir = self.store.instance_dir(&record.id);
        let pid = running_pid(&dir);
        Ok(match (record.power, pid) {
            (Power::Terminated, _) => InstanceState::Terminated,
            (Power::On, Some(_)) => InstanceState::Running,
            (Power::On, None) => {
                if record.exit.is_none() {
                    let exit = exit_reason(&dir);
                    match exit {
                        Exit::GuestPoweroff => record.power = Power::Off,
                        Exit::Crashed => tracing::warn!(
                            instance = %record.id,
                            "the VM's QEMU process is gone without the guest powering off (crashed or killed); \
                             console log: {}",
                            dir.join("console.log").display()
                        ),
                    }
                    record.exit = Some(exit);
                    record.ssh_port = None;
                    self.save_instance(record)?;
                }
                match record.exit {
                    Some(Exit::Crashed) => InstanceState::Failed,
                    _ => InstanceState::Stopped,
                }
            }
            (Power::Off, Some(pid)) => {
                let timeout = chrono::Duration::from_std(self.settings.stop_timeout).unwrap_or(chrono::Duration::MAX);
                let overdue = record.stop_requested.is_none_or(|t| Utc::now() - t > timeout);
                if overdue && kill_pid_and_wait(&dir, pid).await {
                    InstanceState::Stopped
                } else {
                    InstanceState::Stopping
                }
            }
            (Power::Off, None) => InstanceState::Stopped,
        })
    }

    pub(crate) async fn run_instances(&self, spec: &InstanceSpec) -> Result<Vec<InstanceInfo>, CloudError> {
        spec.validate()?;
        if let Some(zone) = &spec.availability_zone {
            Self::check_zone(zone)?;
        }
        let qemu = self.qemu_system()?;
        let qemu_img = self.qemu_img()?;
        let _guard = self.lock.lock().await;

        let image = self.image(&spec.image_id)?;
        if !image.path.is_file() {
            return Err(CloudError::InvalidRequest(format!(
                "the file of image {} ({}) is missing",
                image.id,
                image.path.display()
            )));
        }
        let itype = self.instance_type(&spec.instance_type)?;
        let key = spec.key_name.as_deref().map(|name| self.key_pair(name)).transpose()?;
        self.check_groups(&spec.security_group_ids)?;

        let live: Vec<InstanceRecord> =
            self.all_instances()?.into_iter().filter(|r| r.power != Power::Terminated).collect();
        if live.len() + spec.count as usize > self.settings.max_instances as usize {
            return Err(CloudError::LimitExceeded(format!(
                "at most {} local instances may exist at once ({} do)",
                self.settings.max_instances,
                live.len()
            )));
        }
        let mut used: Vec<Ipv4Addr> = live.iter().map(|r| r.private_ip).collect();
        let mut addresses = Vec::new();
        for _ in 0..spec.count {
            let ip = self
                .network
                .next_address(&used)
                .ok_or_else(|| CloudError::LimitExceeded("the private network has no free address left".into()))?;
            used.push(ip);
            addresses.push(ip);
        }

        let mut made: Vec<InstanceRecord> = Vec::new();
        let mut failure = None;
        for ip in addresses {
            match self.create_instance(spec, &image, &itype, key.as_ref(), ip, &qemu_img).await {
                Ok(mut record) => {
                    let started = self.start_vm(&qemu, &mut record).await;
                    made.push(record);
                    if let Err(e) = started {
                        failure = Some(e);
                        break;
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failure {
            // All or nothing: nothing of this launch stays behind.
            for record in &made {
                let dir = self.store.instance_dir(&record.id);
                kill_and_wait(&dir).await;
                if let Err(err) = std::fs::remove_dir_all(&dir) {
                    tracing::warn!("cannot remove {}: {err}", dir.display());
                }
            }
            return Err(e);
        }
        Ok(made.iter().map(|r| instance_info(r, InstanceState::Running)).collect())
    }

    fn instance_type(&self, name: &str) -> Result<InstanceTypeInfo, CloudError> {
        self.settings.instance_types.iter().find(|t| t.name == name).cloned().ok_or_else(|| {
            let offered: Vec<&str> = self.settings.instance_types.iter().map(|t| t.name.as_str()).collect();
            CloudError::InvalidRequest(format!(
                "instance type `{name}` is not offered here (offered: {})",
                offered.join(", ")
            ))
        })
    }

    /// Makes the instance's folder: metadata for the first-boot step, the root disk overlay
    /// and the record (powered off). On failure nothing of it stays.
    async fn create_instance(
        &self,
        spec: &InstanceSpec,
        image: &ImageRecord,
        itype: &InstanceTypeInfo,
        key: Option<&KeyPairRecord>,
        ip: Ipv4Addr,
        qemu_img: &Path,
    ) -> Result<InstanceRecord, CloudError> {
        let id = new_id(INSTANCE_PREFIX);
        let dir = self.store.instance_dir(&id);
        std::fs::create_dir(&dir).map_err(|e| io_error("cannot create the instance folder", &dir, &e))?;
        let made = async {
            // Its QMP socket controls the VM: only the provider's user may reach it.
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| io_error("cannot restrict", &dir, &e))?;
            let mac = private_mac(ip);
            let meta = dir.join("meta");
            std::fs::create_dir(&meta).map_err(|e| io_error("cannot create", &meta, &e))?;
            let mut items = vec![
                ("instance-id", id.clone()),
                ("hostname", id.clone()),
                ("login-user", LOGIN_USER.to_string()),
                ("private-mac", mac.clone()),
                ("private-address", self.network.cidr(ip)),
            ];
            if let Some(key) = key {
                items.push(("authorized-keys", format!("{}\n", key.public_key)));
            }
            if let Some(data) = &spec.user_data {
                items.push(("user-data", data.clone()));
            }
            for (name, value) in items {
                write_file(&meta.join(name), value.as_bytes())?;
            }
            let backing = image.path.to_string_lossy();
            let disk = dir.join("disk.qcow2");
            let disk = disk.to_string_lossy();
            qemu::qemu_img(qemu_img, &["create", "-q", "-f", "qcow2", "-F", &image.format, "-b", &backing, &disk])
                .await?;
            let mut tags = spec.tags.clone();
            if !spec.name.is_empty() {
                tags.insert(TAG_NAME, spec.name.clone());
            }
            let record = InstanceRecord {
                id: id.clone(),
                name: spec.name.clone(),
                image_id: image.id.clone(),
                instance_type: itype.name.clone(),
                vcpus: itype.vcpus,
                memory_mib: itype.memory_mib,
                key_name: spec.key_name.clone(),
                tags,
                created: Utc::now(),
                launch_time: None,
                power: Power::Off,
                stop_requested: None,
                exit: None,
                terminated: None,
                ssh_port: None,
                uuid: uuid_v4(),
                private_ip: ip,
                private_mac: mac,
                volumes: Vec::new(),
            };
            self.save_instance(&record)?;
            Ok(record)
        }
        .await;
        if made.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        made
    }

    /// Starts the instance's QEMU (root disk, attached volumes, both NICs, metadata) and
    /// records it as on.
    async fn start_vm(&self, qemu: &Path, record: &mut InstanceRecord) -> Result<(), CloudError> {
        let dir = self.store.instance_dir(&record.id);
        remove_file(&dir.join("qemu.pid"))?;
        remove_file(&dir.join("qmp.sock"))?;
        mark_console(&dir)?;
        let mut fw_cfg: Vec<(String, PathBuf)> = Vec::new();
        let meta = dir.join("meta");
        let entries = std::fs::read_dir(&meta).map_err(|e| io_error("cannot list", &meta, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_error("cannot list", &meta, &e))?;
            fw_cfg.push((entry.file_name().to_string_lossy().into_owned(), entry.path()));
        }
        fw_cfg.sort();
        let volumes = record.volumes.iter().map(|v| (v.clone(), self.store.volume_disk(v))).collect();
        let mut config = VmConfig {
            id: record.id.clone(),
            uuid: record.uuid.clone(),
            vcpus: record.vcpus,
            memory_mib: record.memory_mib,
            accel: self.accel,
            dir,
            ssh_port: 0,
            network: self.network,
            private_mac: record.private_mac.clone(),
            volumes,
            fw_cfg,
        };
        for _ in 0..PORT_ATTEMPTS {
            config.ssh_port = crate::host::free_loopback_port()?;
            match qemu::start(qemu, &config.args()).await {
                Ok(()) => {
                    record.power = Power::On;
                    record.ssh_port = Some(config.ssh_port);
                    record.launch_time = Some(Utc::now());
                    record.stop_requested = None;
                    record.exit = None;
                    self.save_instance(record)?;
                    tracing::info!(instance = %record.id, ssh_port = config.ssh_port, "VM started");
                    return Ok(());
                }
                Err(StartError::PortTaken) => continue,
                Err(StartError::Failed(e)) => return Err(e),
            }
        }
        Err(qemu_failed(format!("QEMU could not bind a free loopback port for SSH in {PORT_ATTEMPTS} attempts")))
    }

    pub(crate) async fn describe_instances(&self, ids: &[String]) -> Result<Vec<InstanceInfo>, CloudError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let _guard = self.lock.lock().await;
        let mut infos = Vec::new();
        for mut record in self.load_instances(ids)? {
            let state = self.observe(&mut record).await?;
            infos.push(instance_info(&record, state));
        }
        Ok(infos)
    }

    pub(crate) async fn instances_by_tag(&self, key: &str, value: &str) -> Result<Vec<InstanceInfo>, CloudError> {
        let _guard = self.lock.lock().await;
        let mut infos = Vec::new();
        for mut record in self.all_instances()? {
            if record.tags.get(key) == Some(value) {
                let state = self.observe(&mut record).await?;
                infos.push(instance_info(&record, state));
            }
        }
        Ok(infos)
    }

    /// Observes every instance of `ids` (all must exist) and refuses the request when one is
    /// in a state `allowed` refuses.
    async fn observe_all(
        &self,
        ids: &[String],
        action: &str,
        allowed: impl Fn(InstanceState) -> bool,
    ) -> Result<Vec<(InstanceRecord, InstanceState)>, CloudError> {
        let mut observed = Vec::new();
        for mut record in self.load_instances(ids)? {
            let state = self.observe(&mut record).await?;
            if !allowed(state) {
                return Err(CloudError::InvalidRequest(format!(
                    "instance {} is {state}: it cannot be {action}",
                    record.id
                )));
            }
            observed.push((record, state));
        }
        Ok(observed)
    }

    /// Powers on stopped instances, and failed ones (their VM crashed): a new QEMU on the same
    /// disks, which clears the failure.
    pub(crate) async fn start_instances(&self, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let qemu = self.qemu_system()?;
        let _guard = self.lock.lock().await;
        let allowed = |s| matches!(s, InstanceState::Running | InstanceState::Stopped | InstanceState::Failed);
        let mut changes = Vec::new();
        for (mut record, state) in self.observe_all(ids, "started", allowed).await? {
            if matches!(state, InstanceState::Stopped | InstanceState::Failed) {
                self.start_vm(&qemu, &mut record).await?;
            }
            changes.push(change(&record.id, state, InstanceState::Running));
        }
        Ok(changes)
    }

    /// Presses the power button of each running instance; a VM still running after the stop
    /// timeout is killed (by a background task, or by the next look at it after a restart).
    pub(crate) async fn stop_instances(
        self: &Arc<Self>,
        ids: &[String],
    ) -> Result<Vec<InstanceStateChange>, CloudError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let _guard = self.lock.lock().await;
        let allowed = |s: InstanceState| !s.is_gone();
        let mut changes = Vec::new();
        for (mut record, state) in self.observe_all(ids, "stopped", allowed).await? {
            if record.power != Power::Off {
                record.power = Power::Off;
                record.stop_requested = Some(Utc::now());
                self.save_instance(&record)?;
            }
            let dir = self.store.instance_dir(&record.id);
            let current = match (state, running_pid(&dir)) {
                (InstanceState::Running, Some(pid)) => {
                    self.power_button(&record.id, &dir, pid).await;
                    InstanceState::Stopping
                }
                // A failed VM has no process left: off is where it is now.
                (InstanceState::Running, None) | (InstanceState::Failed, _) => InstanceState::Stopped,
                _ => state,
            };
            changes.push(change(&record.id, state, current));
        }
        Ok(changes)
    }

    /// ACPI power-down through QMP; kills at once when QMP fails, else after the stop timeout.
    async fn power_button(self: &Arc<Self>, id: &str, dir: &Path, pid: i32) {
        let pressed = async {
            let mut qmp = Qmp::connect(&dir.join("qmp.sock")).await?;
            qmp.execute("system_powerdown", None).await
        }
        .await;
        if let Err(e) = pressed {
            tracing::warn!(instance = %id, "power button failed ({e}), killing the VM");
            kill_pid_and_wait(dir, pid).await;
            return;
        }
        let timeout = self.settings.stop_timeout;
        let dir = dir.to_path_buf();
        let id = id.to_string();
        tokio::spawn(async move {
            if !wait_pid_gone(&dir, pid, timeout).await {
                tracing::warn!(instance = %id, "the guest did not power off within {timeout:?}: killing its VM");
                kill_pid_and_wait(&dir, pid).await;
            }
        });
    }

    /// Resets each instance (QMP `system_reset`, like the reset button). All must be running.
    pub(crate) async fn reboot_instances(&self, ids: &[String]) -> Result<(), CloudError> {
        if ids.is_empty() {
            return Ok(());
        }
        let _guard = self.lock.lock().await;
        let allowed = |s| s == InstanceState::Running;
        for (record, _) in self.observe_all(ids, "rebooted", allowed).await? {
            let socket = self.store.instance_dir(&record.id).join("qmp.sock");
            let mut qmp = Qmp::connect(&socket).await?;
            qmp.execute("system_reset", None).await?;
        }
        Ok(())
    }

    /// Kills each VM and deletes its disks: the root overlay and the attached volumes. The
    /// record stays (as `terminated`) for an hour.
    pub(crate) async fn terminate_instances(&self, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let _guard = self.lock.lock().await;
        let mut changes = Vec::new();
        for mut record in self.load_instances(ids)? {
            let state = self.observe(&mut record).await?;
            if state != InstanceState::Terminated {
                let dir = self.store.instance_dir(&record.id);
                if !kill_and_wait(&dir).await {
                    return Err(qemu_failed(format!("the VM of instance {} could not be killed", record.id)));
                }
                for volume in std::mem::take(&mut record.volumes) {
                    self.remove_volume_files(&volume)?;
                }
                record.power = Power::Terminated;
                record.terminated = Some(Utc::now());
                record.ssh_port = None;
                self.save_instance(&record)?;
                remove_all_but(&dir, "instance.json")?;
            }
            changes.push(change(&record.id, state, InstanceState::Terminated));
        }
        Ok(changes)
    }
}

/// Removes everything in `dir` but the file `keep`.
fn remove_all_but(dir: &Path, keep: &str) -> Result<(), CloudError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_error("cannot list", dir, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error("cannot list", dir, &e))?;
        if entry.file_name() == keep {
            continue;
        }
        let path = entry.path();
        let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| io_error("cannot remove", &path, &e))?;
    }
    Ok(())
}

impl LocalProvider {
    /// The VM behind instance `id`: its process, memory, console log, and whether it crashed.
    pub async fn vm_status(&self, id: &str) -> Result<VmStatus, CloudError> {
        let local = &self.local;
        let _guard = local.lock.lock().await;
        let mut record = local.load_instance(id)?;
        local.observe(&mut record).await?;
        let dir = local.store.instance_dir(id);
        Ok(VmStatus {
            pid: running_pid(&dir).and_then(|p| u32::try_from(p).ok()),
            rss_kib: rss_kib(&dir),
            console_log: dir.join("console.log"),
            crashed: record.power == Power::On && record.exit == Some(Exit::Crashed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_is_read_after_the_last_start() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("console.log");
        assert_eq!(exit_reason(dir.path()), Exit::Crashed, "no log at all");
        mark_console(dir.path()).unwrap();
        std::fs::write(&log, format!("{}\nboot…\n[ 9.1] {POWER_DOWN}\n", std::fs::read_to_string(&log).unwrap()))
            .unwrap();
        assert_eq!(exit_reason(dir.path()), Exit::GuestPoweroff);
        mark_console(dir.path()).unwrap();
        assert_eq!(exit_reason(dir.path()), Exit::Crashed, "the power-down was in the run before");
    }

    #[test]
    fn remove_all_but_keeps_one_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("instance.json"), "{}").unwrap();
        std::fs::write(dir.path().join("disk.qcow2"), "x").unwrap();
        std::fs::create_dir(dir.path().join("meta")).unwrap();
        std::fs::write(dir.path().join("meta/instance-id"), "x").unwrap();
        remove_all_but(dir.path(), "instance.json").unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["instance.json"]);
    }
}
