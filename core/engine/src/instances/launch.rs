//! "Create" in the create-instance dialog (7.3.2): every compliance check runs before any cloud
//! call, the records are written, and a task does the cloud work. A launch that fails half-way
//! removes what it made; whatever it could not remove the reconcile task finds by its tags.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::instances::{
    InstanceStatus, Launch, LaunchRequest, LaunchStorage, NewStorage, VolumeStatus, VolumeType, DEFAULT_DEVICE,
    DEFAULT_MOUNT_POINT, MAX_VOLUME_GB,
};
use wintermute_api::rights::{ObjectKind, ObjectRight};
use wintermute_api::setup::{check_user_name, parse_packages, parse_services, Setup};
use wintermute_api::tags::parse_tag_spec;
use wintermute_cloud::instance::MAX_INSTANCES_PER_LAUNCH;
use wintermute_cloud::{CloudProvider, InstanceSpec, InstanceState, ObjectRef, Tags};

use super::NAME_PREFIX;
use crate::audit::AuditRecord;
use crate::caller::{Actor, Caller};
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::providers::cloud_error;
use crate::store::RowExt;
use crate::tasks::{NewTask, TaskContext, TaskFailure, TaskHandler};
use crate::time::now_ms;
use crate::validate;

pub const INSTANCE_LAUNCH: &str = "instance.launch";

/// Tag with an instance's own tags from the launch's tag list, space separated.
pub(crate) const TAG_INSTANCE_TAGS: &str = "wintermute:tags";

/// How long the cloud may take to bring instances up or volumes to a state.
const STATE_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// What the launch task is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LaunchParams {
    instances: Vec<i64>,
    /// Per instance (same order): the volume to attach, if any, and whether the launch made it.
    volumes: Vec<Option<i64>>,
    new_volumes: bool,
    extra_security_groups: Vec<String>,
    /// The setup, without the user's password (sealed apart, see `SETUP_PASSWORD`).
    #[serde(default)]
    setup: Setup,
    /// The user defined scripts to run, copied at launch, in sequence order.
    #[serde(default)]
    scripts: Vec<crate::scenarios::ScriptToRun>,
}

/// Name of the sealed secret holding a launch's setup password (owner: its first instance).
const SETUP_PASSWORD: &str = "setup_password";

struct Launcher;

#[async_trait::async_trait]
impl TaskHandler for Launcher {
    fn kind(&self) -> &'static str {
        INSTANCE_LAUNCH
    }

    /// A launch interrupted by a restart is not run again: the reconcile task removes what it made.
    fn resumable(&self) -> bool {
        false
    }

    async fn run(&self, ctx: &TaskContext) -> Result<(), TaskFailure> {
        let params: LaunchParams = serde_json::from_value(ctx.params.clone())
            .map_err(|e| TaskFailure::Failed(format!("the launch task's parameters are unreadable: {e}")))?;
        ctx.engine().run_launch(ctx, &params).await
    }
}

pub(crate) fn register(mgr: &crate::tasks::TaskManager) {
    mgr.register(Arc::new(Launcher));
}

pub(crate) fn check_mount_point(field: &str, m: &str) -> CoreResult<()> {
    let ok = m.starts_with('/')
        && m.len() <= 255
        && m != "/"
        && !m.split('/').any(|p| p == ".." || p == ".")
        && m.chars().all(|c| c.is_ascii_alphanumeric() || "/_-.".contains(c));
    if !ok {
        return Err(CoreError::invalid(field, format!("{m:?} is not an absolute directory path like /mnt/data")));
    }
    Ok(())
}

pub(crate) fn check_device(field: &str, d: &str) -> CoreResult<()> {
    let ok = ["/dev/sd", "/dev/xvd"].iter().any(|p| {
        d.strip_prefix(p).is_some_and(|rest| rest.len() == 1 && rest.chars().all(|c| ('f'..='p').contains(&c)))
    });
    if !ok {
        return Err(CoreError::invalid(
            field,
            format!("{d:?} is not a data device name (/dev/sdf…/dev/sdp or /dev/xvdf…/dev/xvdp)"),
        ));
    }
    Ok(())
}

pub(crate) fn check_volume_size(size_gb: i64, volume_type: VolumeType, iops: Option<i64>) -> CoreResult<()> {
    if !(1..=MAX_VOLUME_GB).contains(&size_gb) {
        return Err(CoreError::invalid("size_gb", format!("a volume is 1 to {MAX_VOLUME_GB} GB, not {size_gb}")));
    }
    match (volume_type, iops) {
        (VolumeType::ProvisionedIops, None) => {
            Err(CoreError::invalid("iops", "a Provisioned IOPS SSD volume needs its IOPS (100 to 64000)"))
        }
        (VolumeType::ProvisionedIops, Some(n)) if !(100..=64_000).contains(&n) => {
            Err(CoreError::invalid("iops", format!("IOPS are 100 to 64000, not {n}")))
        }
        (VolumeType::GeneralPurpose | VolumeType::Magnetic, Some(_)) => {
            Err(CoreError::invalid("iops", "only Provisioned IOPS SSD volumes take an IOPS setting"))
        }
        _ => Ok(()),
    }
}

pub(crate) fn cloud_volume_type(t: VolumeType) -> wintermute_cloud::VolumeType {
    match t {
        VolumeType::GeneralPurpose => wintermute_cloud::VolumeType::GeneralPurpose,
        VolumeType::ProvisionedIops => wintermute_cloud::VolumeType::ProvisionedIops,
        VolumeType::Magnetic => wintermute_cloud::VolumeType::Magnetic,
    }
}

fn check_swarm(s: &str) -> CoreResult<()> {
    if s.is_empty() || s.len() > 64 || !s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
        return Err(CoreError::invalid("swarm", "a swarm name is 1 to 64 letters, digits, '_', '-' or '.'"));
    }
    Ok(())
}

/// A cloud key pair name for a user's current key: the fingerprint tells rotated keys apart.
pub(crate) fn key_pair_name(core_id: &str, login: &str, fingerprint: &str) -> String {
    let fp: String =
        fingerprint.trim_start_matches("SHA256:").chars().filter(char::is_ascii_alphanumeric).take(12).collect();
    format!("{NAME_PREFIX}-{core_id}-{login}-{fp}")
}

pub(crate) fn ssh_group_name(core_id: &str) -> String {
    format!("{NAME_PREFIX}-{core_id}-ssh")
}

impl Engine {
    /// Checks a launch request against the catalogue, the caller's rights and limits, writes the
    /// instance (and new volume) records and queues the task that launches them.
    pub async fn instances_launch(&self, caller: &Caller, req: &LaunchRequest) -> CoreResult<Launch> {
        self.launch_checked(caller, req, false).await
    }

    /// What a launch request must satisfy before the database is asked anything.
    pub(crate) fn check_launch_request(req: &LaunchRequest) -> CoreResult<()> {
        validate::text("name", &req.name, 128, false)?;
        validate::text("description", &req.description, 1000, true)?;
        let count = req.count.unwrap_or(1);
        if count == 0 || count > MAX_INSTANCES_PER_LAUNCH {
            return Err(CoreError::invalid(
                "count",
                format!("launch 1 to {MAX_INSTANCES_PER_LAUNCH} instances, not {count}"),
            ));
        }
        parse_tag_spec(&req.tags, count).map_err(|e| CoreError::invalid("tags", e.to_string()))?;
        if let Some(s) = &req.swarm {
            check_swarm(s)?;
        }
        parse_packages(&req.setup.packages).map_err(|e| CoreError::invalid("setup.packages", e.to_string()))?;
        parse_services(&req.setup.services).map_err(|e| CoreError::invalid("setup.services", e.to_string()))?;
        if let Some(u) = &req.setup.user {
            check_user_name(&u.name).map_err(|e| CoreError::invalid("setup.user.name", e.to_string()))?;
            if u.password.is_empty() || u.password.len() > 256 || u.password.contains(['\n', '\r', ':']) {
                return Err(CoreError::invalid(
                    "setup.user.password",
                    "the password is 1 to 256 characters without line breaks or ':'",
                ));
            }
        }
        if req.setup.reboot && !req.setup.update {
            return Err(CoreError::invalid("setup.reboot", "reboot goes with update: it reboots for a new kernel"));
        }
        if !req.setup.provision
            && (req.setup.update
                || !req.setup.packages.trim().is_empty()
                || !req.setup.services.trim().is_empty()
                || req.setup.user.is_some()
                || !req.setup.scripts.is_empty())
        {
            return Err(CoreError::invalid(
                "setup.provision",
                "updates, packages, services, users and scripts need provisioning",
            ));
        }
        Ok(())
    }

    /// A launch (`from_template`: of a saved template, which "create instance from template" on
    /// the provider allows as well as "create instances").
    pub(crate) async fn launch_checked(
        &self,
        caller: &Caller,
        req: &LaunchRequest,
        from_template: bool,
    ) -> CoreResult<Launch> {
        Self::check_launch_request(req)?;
        let count = req.count.unwrap_or(1);
        let tags = parse_tag_spec(&req.tags, count).map_err(|e| CoreError::invalid("tags", e.to_string()))?;
        // --- the catalogue and the caller's rights ---
        let image = self.load_image(req.image_id).await?;
        self.require_right(caller, ObjectKind::Image, image.id, ObjectRight::View).await?;
        if !image.enabled {
            return Err(CoreError::forbidden(format!(
                "image {:?} is not enabled for launching; an administrator enables it after checking it",
                image.name
            )));
        }
        let Some(os_type) = image.os_type else {
            return Err(CoreError::forbidden(format!("image {:?} has no operating system type", image.name)));
        };
        let provider = self.load_provider(image.provider_id).await?;
        let provider_rights = self.rights_of(caller, ObjectKind::Provider, provider.id).await?;
        if !(provider_rights.contains(&ObjectRight::CreateInstances)
            || (from_template && provider_rights.contains(&ObjectRight::CreateInstanceFromTemplate)))
        {
            self.require_right(caller, ObjectKind::Provider, provider.id, ObjectRight::CreateInstances).await?;
        }
        let scripts = self.scripts_for_launch(caller, &req.setup.scripts, os_type.as_str()).await?;
        self.check_data_uploads(caller, &req.setup.data_upload).await?;
        if !provider.regions.iter().any(|r| r.name == image.region && r.allowed) {
            return Err(CoreError::forbidden(format!(
                "region {:?} of image {:?} is not allowed at provider {:?}",
                image.region, image.name, provider.name
            )));
        }
        if !provider.instance_types.iter().any(|t| t.name == req.instance_type && t.allowed) {
            return Err(CoreError::forbidden(format!(
                "instance type {:?} is not allowed at provider {:?}; allowed: {}",
                req.instance_type,
                provider.name,
                provider
                    .instance_types
                    .iter()
                    .filter(|t| t.allowed)
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let allowed_groups = self.allowed_security_groups(provider.id, &image.region).await?;
        for g in &req.security_groups {
            if !allowed_groups.iter().any(|(id, _)| id == g) {
                return Err(CoreError::forbidden(format!(
                    "security group {g:?} is not one an administrator made available in {}",
                    image.region
                )));
            }
        }
        // --- storage ---
        let mut new_storage: Option<NewStorage> = None;
        let mut reuse: Option<(i64, String, String)> = None;
        let mut added_gb = 0i64;
        match &req.storage {
            LaunchStorage::None => {}
            LaunchStorage::New(s) => {
                check_volume_size(s.size_gb, s.volume_type, s.iops)?;
                check_mount_point("storage.mount_point", s.mount_point.as_deref().unwrap_or(DEFAULT_MOUNT_POINT))?;
                check_device("storage.device", s.device.as_deref().unwrap_or(DEFAULT_DEVICE))?;
                self.require_right(caller, ObjectKind::Provider, provider.id, ObjectRight::CreateVolume).await?;
                added_gb = s.size_gb * i64::from(count);
                new_storage = Some(s.clone());
            }
            LaunchStorage::Reuse { volume_id, device, mount_point } => {
                if count != 1 {
                    return Err(CoreError::invalid(
                        "storage",
                        "a reused volume can be attached to one instance only: launch 1",
                    ));
                }
                let device = device.clone().unwrap_or_else(|| DEFAULT_DEVICE.into());
                check_device("storage.device", &device)?;
                let v = self.load_volume(*volume_id).await?;
                self.require_right(caller, ObjectKind::Volume, v.id, ObjectRight::Control).await?;
                if v.status != VolumeStatus::Available {
                    return Err(CoreError::Conflict(format!(
                        "volume {} is {}, not available",
                        v.id,
                        v.status.as_str()
                    )));
                }
                if v.provider_id != provider.id || v.region != image.region {
                    return Err(CoreError::invalid(
                        "storage.volume_id",
                        format!(
                            "volume {} is at {} in {}, the image at {} in {}",
                            v.id, v.provider_name, v.region, provider.name, image.region
                        ),
                    ));
                }
                let mount = mount_point.clone().or(v.mount_point.clone()).unwrap_or_else(|| DEFAULT_MOUNT_POINT.into());
                check_mount_point("storage.mount_point", &mount)?;
                reuse = Some((v.id, device, mount));
            }
        }
        // --- records, under the limits (checked in the same write transaction) ---
        let lifetime = self.lifetime_hours(caller.user_id).await?;
        let login_user = if image.login_user.is_empty() {
            os_type.default_login_user().to_owned()
        } else {
            image.login_user.clone()
        };
        let now = now_ms();
        let mut tx = self.store().write_tx().await?;
        self.lock_usage(&mut tx).await?;
        self.check_limits(&mut tx.tx, caller.user_id, i64::from(count), added_gb).await?;
        let mut ids = Vec::new();
        let mut volumes = Vec::new();
        for (n, tags) in tags.iter().enumerate() {
            let name = if count == 1 { req.name.clone() } else { format!("{}-{}", req.name, n + 1) };
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO instances (owner_id, provider_id, name, description, status, region, image_id, instance_type, \
                 os_type, tags, launch_index, launch_count, swarm, login_user, expires_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'creating', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) RETURNING id",
            )
            .bind(caller.user_id)
            .bind(provider.id)
            .bind(&name)
            .bind(&req.description)
            .bind(&image.region)
            .bind(image.id)
            .bind(&req.instance_type)
            .bind(os_type.as_str())
            .bind(serde_json::to_string(tags).map_err(|e| CoreError::Internal(e.to_string()))?)
            .bind(n as i64 + 1)
            .bind(i64::from(count))
            .bind(req.swarm.clone())
            .bind(&login_user)
            .bind(lifetime.map(|h| now + h * 3_600_000))
            .bind(now)
            .fetch_one(&mut *tx.tx)
            .await?;
            Engine::register_object(&mut *tx.tx, ObjectKind::Instance, id, caller.user_id, &name).await?;
            ids.push(id);
            if let Some(s) = &new_storage {
                let (vid,): (i64,) = sqlx::query_as(
                    "INSERT INTO volumes (owner_id, instance_id, size_gb, encrypted, name, provider_id, region, volume_type, iops, \
                     device, mount_point, status, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'creating', $12, $12) RETURNING id",
                )
                .bind(caller.user_id)
                .bind(id)
                .bind(s.size_gb)
                .bind(i64::from(s.encrypted))
                .bind(format!("{name}-data"))
                .bind(provider.id)
                .bind(&image.region)
                .bind(s.volume_type.as_str())
                .bind(s.iops)
                .bind(s.device.clone().unwrap_or_else(|| DEFAULT_DEVICE.into()))
                .bind(s.mount_point.clone().unwrap_or_else(|| DEFAULT_MOUNT_POINT.into()))
                .bind(now)
                .fetch_one(&mut *tx.tx)
                .await?;
                Engine::register_object(&mut *tx.tx, ObjectKind::Volume, vid, caller.user_id, &format!("{name}-data"))
                    .await?;
                volumes.push(Some(vid));
            } else if let Some((vid, device, mount)) = &reuse {
                // Claimed now, so no other launch can take it meanwhile.
                sqlx::query(
                    "UPDATE volumes SET status = 'in_use', instance_id = $1, device = $2, mount_point = $3, updated_at = $4 WHERE id = $5",
                )
                .bind(id)
                .bind(device)
                .bind(mount)
                .bind(now)
                .bind(vid)
                .execute(&mut *tx.tx)
                .await?;
                volumes.push(Some(*vid));
            } else {
                volumes.push(None);
            }
        }
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("instance.launch", AuditOutcome::Success).target("instance", ids[0]).details(json!({
                "instances": ids, "image_id": image.id, "provider_id": provider.id, "region": image.region,
                "instance_type": req.instance_type, "count": count, "storage": req.storage, "swarm": req.swarm,
            })),
        )
        .await?;
        tx.commit().await?;
        if let Some(s) = &new_storage {
            if s.encrypted {
                for v in volumes.iter().flatten() {
                    self.create_volume_key(*v).await?;
                }
            }
        }
        if let Some(u) = &req.setup.user {
            self.put_secret("instance", ids[0], SETUP_PASSWORD, u.password.as_bytes()).await?;
        }
        let params = LaunchParams {
            instances: ids.clone(),
            volumes,
            new_volumes: new_storage.is_some(),
            extra_security_groups: req.security_groups.clone(),
            setup: Setup {
                user: req.setup.user.clone().map(|mut u| {
                    u.password.clear();
                    u
                }),
                ..req.setup.clone()
            },
            scripts,
        };
        let task = self
            .task_submit(
                caller.user_id,
                NewTask {
                    kind: INSTANCE_LAUNCH.into(),
                    title: if count == 1 {
                        format!("Launch {}", req.name)
                    } else {
                        format!("Launch {count} instances {}", req.name)
                    },
                    target_kind: Some("instance".into()),
                    target_id: ids.first().copied(),
                    params: serde_json::to_value(&params).map_err(|e| CoreError::Internal(e.to_string()))?,
                },
            )
            .await?;
        for id in &ids {
            sqlx::query("UPDATE instances SET launch_task_id = $1 WHERE id = $2")
                .bind(task.id)
                .bind(id)
                .execute(self.store().pool())
                .await?;
        }
        let mut instances = Vec::new();
        for id in &ids {
            instances.push(self.load_instance(*id).await?);
        }
        Ok(Launch { task, instances })
    }

    async fn run_launch(&self, ctx: &TaskContext, p: &LaunchParams) -> Result<(), TaskFailure> {
        let mut made = Made::default();
        match self.launch_steps(ctx, p, &mut made).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let reason = match &e {
                    TaskFailure::Cancelled => "the launch was cancelled".to_owned(),
                    TaskFailure::Failed(m) => m.clone(),
                };
                if made.complete {
                    return Err(e);
                }
                ctx.info(&format!("launch failed: {reason}; removing what it made")).await;
                self.roll_back_launch(ctx, p, &made, &reason).await;
                Err(e)
            }
        }
    }

    async fn launch_steps(&self, ctx: &TaskContext, p: &LaunchParams, made: &mut Made) -> Result<(), TaskFailure> {
        let first =
            self.load_instance(*p.instances.first().ok_or_else(|| TaskFailure::Failed("no instances".into()))?).await?;
        let region = first.region.clone();
        let image = self.load_image(first.image_id).await?;
        let cloud = self.cloud(first.provider_id).await?;
        let core_id = self.core_id().await?;
        let owner = first.owner_login.clone();
        let steps = p.instances.len() as f64 * 2.0 + 3.0;
        let mut step = 0.0;
        let mut advance = |what: &str| {
            step += 1.0;
            (step / steps, what.to_owned())
        };

        // The user's public key — never a private key — as a key pair.
        let (f, m) = advance("importing the owner's public SSH key");
        ctx.progress(f, &m).await;
        let key = self.user_public_key(first.owner_id).await?;
        let key_name = key_pair_name(&core_id, &owner, &key.fingerprint);
        let key_tags = Tags::managed(&core_id, &owner, &ObjectRef::new("key_pair", first.owner_id));
        cloud.import_key_pair(&region, &key_name, &key.public_key, &key_tags).await.map_err(cloud_error)?;
        ctx.info(&format!("key pair {key_name} holds {owner}'s public key ({})", key.fingerprint)).await;

        // The core's own SSH group: port 22 only from where the core connects.
        let (f, m) = advance("preparing the SSH security group");
        ctx.progress(f, &m).await;
        // Local guests are reached on loopback only; the address discovery is for clouds.
        let cidr = if first.provider_kind == wintermute_api::providers::ProviderKind::Local {
            Some("127.0.0.1/32".to_owned())
        } else {
            self.ssh_ingress_cidr().await?
        };
        let sg_tags = Tags::managed(&core_id, "(core)", &ObjectRef::new("security_group", &region));
        let sg = cloud
            .ensure_security_group(
                &region,
                &ssh_group_name(&core_id),
                "SSH from the Wintermute core",
                cidr.as_deref(),
                &sg_tags,
            )
            .await
            .map_err(cloud_error)?;
        ctx.info(&format!("security group {} opens SSH to {}", sg.name, cidr.as_deref().unwrap_or("everywhere"))).await;
        let mut groups = vec![sg.id.clone()];
        groups.extend(p.extra_security_groups.iter().cloned());

        // One run call per instance, so each carries its own name and tags and is recorded at once.
        for id in &p.instances {
            ctx.check_cancel()?;
            let inst = self.load_instance(*id).await?;
            let (f, m) = advance(&format!("launching {}", inst.name));
            ctx.progress(f, &m).await;
            let mut tags = Tags::managed(&core_id, &owner, &ObjectRef::new("instance", id));
            tags.insert(wintermute_cloud::TAG_NAME, inst.name.clone());
            if !inst.tags.is_empty() {
                tags.insert(TAG_INSTANCE_TAGS, inst.tags.join(" "));
            }
            let spec = InstanceSpec {
                name: inst.name.clone(),
                image_id: image.cloud_id.clone(),
                instance_type: inst.instance_type.clone(),
                key_name: Some(key_name.clone()),
                security_group_ids: groups.clone(),
                count: 1,
                tags,
                availability_zone: None,
                user_data: None,
            };
            let launched = cloud.run_instances(&region, &spec).await.map_err(cloud_error)?;
            for info in &launched {
                made.instances.push(info.id.clone());
            }
            let info =
                launched.into_iter().next().ok_or_else(|| TaskFailure::Failed("the cloud launched nothing".into()))?;
            sqlx::query(
                "UPDATE instances SET cloud_id = $1, key_name = $2, security_groups = $3, cloud_state = $4, \
                 availability_zone = $5, status = 'initializing', updated_at = $6 WHERE id = $7",
            )
            .bind(&info.id)
            .bind(&key_name)
            .bind(serde_json::to_string(&groups).map_err(|e| TaskFailure::Failed(e.to_string()))?)
            .bind(info.state.as_str())
            .bind(info.availability_zone.clone())
            .bind(now_ms())
            .bind(id)
            .execute(self.store().pool())
            .await
            .map_err(CoreError::from)?;
            self.publish_instance_change(*id).await;
            ctx.info(&format!("{} is {} ({})", inst.name, info.id, info.state)).await;
        }

        // Up and reachable: record the addresses the core will use for SSH.
        ctx.check_cancel()?;
        let (f, m) = advance("waiting for the instances to run");
        ctx.progress(f, &m).await;
        let infos = wait_for_instances(ctx, cloud.as_ref(), &region, &made.instances, InstanceState::Running).await?;
        for (id, info) in p.instances.iter().zip(&infos) {
            self.record_instance_info(*id, info).await?;
        }

        // Storage: a new volume per instance in its zone, or the reused one.
        for (n, (id, vol)) in p.instances.iter().zip(&p.volumes).enumerate() {
            let Some(vid) = vol else { continue };
            ctx.check_cancel()?;
            let (f, m) = advance("attaching storage");
            ctx.progress(f, &m).await;
            let info = &infos[n];
            let v = self.load_volume(*vid).await?;
            let cloud_volume = if p.new_volumes {
                let zone = info.availability_zone.clone().unwrap_or_else(|| format!("{region}a"));
                let spec = wintermute_cloud::VolumeSpec {
                    size_gb: u32::try_from(v.size_gb)
                        .map_err(|_| TaskFailure::Failed("volume size out of range".into()))?,
                    volume_type: cloud_volume_type(v.volume_type),
                    iops: v.iops.and_then(|i| u32::try_from(i).ok()),
                    availability_zone: zone.clone(),
                    tags: Tags::managed(&core_id, &owner, &ObjectRef::new("volume", vid))
                        .with(wintermute_cloud::TAG_NAME, v.name.clone()),
                };
                let created = cloud.create_volume(&region, &spec).await.map_err(cloud_error)?;
                made.volumes.push(created.id.clone());
                sqlx::query("UPDATE volumes SET cloud_id = $1, availability_zone = $2, updated_at = $3 WHERE id = $4")
                    .bind(&created.id)
                    .bind(&zone)
                    .bind(now_ms())
                    .bind(vid)
                    .execute(self.store().pool())
                    .await
                    .map_err(CoreError::from)?;
                ctx.info(&format!("volume {} ({} GB, {}) created", created.id, v.size_gb, v.volume_type.as_str()))
                    .await;
                wait_for_volume(cloud.as_ref(), &region, &created.id, wintermute_cloud::VolumeState::Available).await?;
                created.id
            } else {
                v.cloud_id.clone().ok_or_else(|| TaskFailure::Failed(format!("volume {vid} has no cloud id")))?
            };
            let device = v.device.clone().unwrap_or_else(|| DEFAULT_DEVICE.into());
            cloud.attach_volume(&region, &cloud_volume, &info.id, &device).await.map_err(cloud_error)?;
            made.attached.push((cloud_volume.clone(), info.id.clone()));
            wait_for_volume(cloud.as_ref(), &region, &cloud_volume, wintermute_cloud::VolumeState::InUse).await?;
            sqlx::query(
                "UPDATE volumes SET status = 'in_use', instance_id = $1, device = $2, status_message = '', updated_at = $3 WHERE id = $4",
            )
            .bind(id)
            .bind(&device)
            .bind(now_ms())
            .bind(vid)
            .execute(self.store().pool())
            .await
            .map_err(CoreError::from)?;
            self.publish_volume_change(*vid).await;
            ctx.info(&format!("volume {cloud_volume} attached to {} as {device}", info.id)).await;
        }

        if !p.setup.provision {
            for id in &p.instances {
                self.set_instance_status(*id, InstanceStatus::Running, "").await?;
            }
            ctx.progress(1.0, "running").await;
            return Ok(());
        }
        made.complete = true;
        ctx.progress(f64::min(step / steps, 0.9), "provisioning").await;
        self.provision_launch(ctx, p).await
    }

    /// Provisions the launched instances side by side. A failing instance is marked failed (and
    /// powered off unless WMAIS_KEEP_INSTANCE_RUNNING_ON_ERROR); it is not removed.
    async fn provision_launch(&self, ctx: &TaskContext, p: &LaunchParams) -> Result<(), TaskFailure> {
        let password = match &p.setup.user {
            Some(_) => self
                .get_secret("instance", p.instances[0], SETUP_PASSWORD)
                .await?
                .map(|b| wintermute_custody::SecretString::new(String::from_utf8_lossy(b.expose()).into_owned())),
            None => None,
        };
        let runs = p.instances.iter().map(|id| {
            let password = password.as_ref();
            async move { (*id, self.provision_instance(ctx, *id, &p.setup, &p.scripts, password).await) }
        });
        let results = futures_util::future::join_all(runs).await;
        let mut failures = Vec::new();
        let mut all_cancelled = true;
        for (id, r) in results {
            let Err(e) = r else { continue };
            all_cancelled &= matches!(e, TaskFailure::Cancelled);
            let msg = match &e {
                TaskFailure::Cancelled => "the setup was cancelled".to_owned(),
                TaskFailure::Failed(m) => m.clone(),
            };
            self.set_instance_status(id, InstanceStatus::Failed, &msg).await?;
            if !self.setting("WMAIS_KEEP_INSTANCE_RUNNING_ON_ERROR").as_bool().unwrap_or(true) {
                let inst = self.load_instance(id).await?;
                if let (Some(cid), Ok(cloud)) = (inst.cloud_id.clone(), self.cloud(inst.provider_id).await) {
                    match cloud.stop_instances(&inst.region, &[cid]).await {
                        Ok(_) => {
                            ctx.info(&format!("{}: powered off after the failed setup", inst.name)).await;
                            sqlx::query("UPDATE instances SET cloud_state = 'stopped' WHERE id = $1")
                                .bind(id)
                                .execute(self.store().pool())
                                .await
                                .map_err(CoreError::from)?;
                        }
                        Err(e) => ctx.info(&format!("{}: could not power off: {e}", inst.name)).await,
                    }
                }
            }
            failures.push(msg);
        }
        if failures.is_empty() {
            if p.setup.user.is_some() {
                self.delete_secret("instance", p.instances[0], SETUP_PASSWORD).await?;
            }
            ctx.progress(1.0, "running").await;
            Ok(())
        } else if all_cancelled {
            Err(TaskFailure::Cancelled)
        } else {
            Err(TaskFailure::Failed(failures.join("; ")))
        }
    }

    /// "Retry setup" of a failed instance: its launch's set-up (scripts as the launch copied
    /// them, the user's password still sealed) runs again; a new failure marks it failed again.
    pub(crate) async fn retry_setup(&self, ctx: &TaskContext, id: i64) -> Result<(), TaskFailure> {
        let inst = self.load_instance(id).await?;
        let Some(task_id) = inst.launch_task_id else {
            return Err(TaskFailure::Failed(format!("{} has no launch to take the set-up from", inst.name)));
        };
        let row: Option<(String,)> = sqlx::query_as("SELECT params FROM tasks WHERE id = $1")
            .bind(task_id)
            .fetch_optional(self.store().pool())
            .await
            .map_err(CoreError::from)?;
        let Some((params,)) = row else {
            return Err(TaskFailure::Failed(format!("the launch task {task_id} of {} is gone", inst.name)));
        };
        let p: LaunchParams = serde_json::from_str(&params)
            .map_err(|e| TaskFailure::Failed(format!("the launch task's parameters are unreadable: {e}")))?;
        if !p.setup.provision {
            return Err(TaskFailure::Failed(format!("{} was launched without a set-up", inst.name)));
        }
        let password = match &p.setup.user {
            Some(u) => match self.get_secret("instance", p.instances[0], SETUP_PASSWORD).await? {
                Some(b) => {
                    Some(wintermute_custody::SecretString::new(String::from_utf8_lossy(b.expose()).into_owned()))
                }
                None => {
                    return Err(TaskFailure::Failed(format!(
                        "the password of user {} is no longer kept: launch again to set it",
                        u.name
                    )))
                }
            },
            None => None,
        };
        ctx.info(&format!("{}: running the set-up again", inst.name)).await;
        match self.provision_instance(ctx, id, &p.setup, &p.scripts, password.as_ref()).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let msg = match &e {
                    TaskFailure::Cancelled => "the setup was cancelled".to_owned(),
                    TaskFailure::Failed(m) => m.clone(),
                };
                self.set_instance_status(id, InstanceStatus::Failed, &msg).await?;
                Err(e)
            }
        }
    }

    /// Records what the cloud says about a running instance: state, addresses, SSH endpoint.
    pub(crate) async fn record_instance_info(&self, id: i64, info: &wintermute_cloud::InstanceInfo) -> CoreResult<()> {
        let ssh_host = info.public_ip.clone().or_else(|| info.private_ip.clone());
        sqlx::query(
            "UPDATE instances SET cloud_state = $1, public_ip = $2, private_ip = $3, ssh_host = $4, ssh_port = $5, \
             availability_zone = COALESCE($6, availability_zone), updated_at = $7 WHERE id = $8",
        )
        .bind(info.state.as_str())
        .bind(info.public_ip.clone())
        .bind(info.private_ip.clone())
        .bind(ssh_host)
        .bind(i64::from(info.ssh_port.unwrap_or(22)))
        .bind(info.availability_zone.clone())
        .bind(now_ms())
        .bind(id)
        .execute(self.store().pool())
        .await?;
        self.publish_instance_change(id).await;
        Ok(())
    }

    /// Undoes a failed launch: detaches and deletes the volumes it created, gives reused volumes
    /// back, terminates its instances. What cannot be undone now is left marked for the
    /// reconcile task, never forgotten.
    async fn roll_back_launch(&self, ctx: &TaskContext, p: &LaunchParams, made: &Made, reason: &str) {
        let Ok(first) = self.load_instance(p.instances[0]).await else { return };
        let region = first.region.clone();
        let cloud = match self.cloud(first.provider_id).await {
            Ok(c) => c,
            Err(e) => {
                ctx.info(&format!("cannot reach the cloud to clean up ({e}); the reconcile task will")).await;
                for id in &p.instances {
                    let _ = self
                        .set_instance_status(*id, InstanceStatus::Failed, &format!("launch failed: {reason}"))
                        .await;
                }
                return;
            }
        };
        let mut clean = true;
        for (vol, inst) in &made.attached {
            if let Err(e) = cloud.detach_volume(&region, vol, inst).await {
                ctx.info(&format!("detaching {vol} failed: {e}")).await;
            } else {
                let _ = wait_for_volume(cloud.as_ref(), &region, vol, wintermute_cloud::VolumeState::Available).await;
            }
        }
        for vol in &made.volumes {
            match cloud.delete_volume(&region, vol).await {
                Ok(()) => ctx.info(&format!("volume {vol} deleted")).await,
                Err(e) => {
                    clean = false;
                    ctx.info(&format!("deleting volume {vol} failed: {e}")).await;
                }
            }
        }
        if !made.instances.is_empty() {
            match cloud.terminate_instances(&region, &made.instances).await {
                Ok(_) => ctx.info(&format!("terminated {}", made.instances.join(", "))).await,
                Err(e) => {
                    clean = false;
                    ctx.info(&format!("terminating {} failed: {e}", made.instances.join(", "))).await;
                }
            }
        }
        let now = now_ms();
        for vid in p.volumes.iter().flatten() {
            let sql = if p.new_volumes {
                "UPDATE volumes SET status = CASE WHEN $1 = 1 THEN 'deleted' ELSE 'error' END, instance_id = NULL, \
                 deleted_at = CASE WHEN $1 = 1 THEN $2 ELSE NULL END, status_message = $3, updated_at = $2 WHERE id = $4"
            } else {
                "UPDATE volumes SET status = CASE WHEN $1 = 1 THEN 'available' ELSE 'error' END, instance_id = NULL, \
                 status_message = $3, updated_at = $2 WHERE id = $4"
            };
            let _ = sqlx::query(sql)
                .bind(i64::from(clean))
                .bind(now)
                .bind(if clean { String::new() } else { format!("launch failed: {reason}") })
                .bind(vid)
                .execute(self.store().pool())
                .await;
            if p.new_volumes && clean {
                let _ = sqlx::query("DELETE FROM volume_keys WHERE volume_id = $1")
                    .bind(vid)
                    .execute(self.store().pool())
                    .await;
            }
            self.publish_volume_change(*vid).await;
        }
        for id in &p.instances {
            let (status, msg) = if clean {
                (InstanceStatus::Terminated, format!("launch failed: {reason}; everything it created was removed"))
            } else {
                (
                    InstanceStatus::Failed,
                    format!("launch failed: {reason}; cleanup is incomplete, the reconcile task retries it"),
                )
            };
            let _ = self.set_instance_status(*id, status, &msg).await;
        }
        let _ = crate::audit::write(
            self.store().pool(),
            &Actor::system(),
            AuditRecord::new(
                "instance.launch_rollback",
                if clean { AuditOutcome::Success } else { AuditOutcome::Failure },
            )
            .target("instance", p.instances[0])
            .details(json!({"reason": reason, "instances": made.instances, "volumes": made.volumes})),
        )
        .await;
    }
}

/// What a launch made in the cloud so far (to undo on failure).
#[derive(Default)]
struct Made {
    /// The cloud part is done: a later failure (in provisioning) keeps what was made.
    complete: bool,
    instances: Vec<String>,
    volumes: Vec<String>,
    attached: Vec<(String, String)>,
}

/// Polls until every instance is in `target` (in the order of `ids`). An instance that ends up
/// gone instead is a failure.
pub(crate) async fn wait_for_instances(
    ctx: &TaskContext,
    cloud: &dyn CloudProvider,
    region: &str,
    ids: &[String],
    target: InstanceState,
) -> Result<Vec<wintermute_cloud::InstanceInfo>, TaskFailure> {
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        let infos = cloud.describe_instances(region, ids).await.map_err(cloud_error)?;
        let mut ordered = Vec::new();
        for id in ids {
            let info = infos
                .iter()
                .find(|i| &i.id == id)
                .ok_or_else(|| TaskFailure::Failed(format!("the cloud no longer knows instance {id}")))?;
            if target != InstanceState::Terminated && info.state.is_gone() {
                return Err(TaskFailure::Failed(format!("instance {id} was terminated outside Wintermute")));
            }
            if info.state == InstanceState::Failed && target != InstanceState::Stopped {
                return Err(TaskFailure::Failed(format!(
                    "instance {id} failed in the cloud (its machine stopped unexpectedly)"
                )));
            }
            ordered.push(info.clone());
        }
        if ordered.iter().all(|i| i.state == target) {
            return Ok(ordered);
        }
        if started.elapsed() > STATE_TIMEOUT {
            return Err(TaskFailure::Failed(format!(
                "the instances did not reach {target} within {} minutes",
                STATE_TIMEOUT.as_secs() / 60
            )));
        }
        tokio::select! {
            _ = ctx.cancelled() => return Err(TaskFailure::Cancelled),
            _ = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// Polls until a volume is in `target`.
pub(crate) async fn wait_for_volume(
    cloud: &dyn CloudProvider,
    region: &str,
    id: &str,
    target: wintermute_cloud::VolumeState,
) -> Result<(), TaskFailure> {
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(200);
    loop {
        let infos = cloud.describe_volumes(region, &[id.to_owned()]).await.map_err(cloud_error)?;
        let info =
            infos.first().ok_or_else(|| TaskFailure::Failed(format!("the cloud no longer knows volume {id}")))?;
        if info.state == target {
            return Ok(());
        }
        if info.state == wintermute_cloud::VolumeState::Error {
            return Err(TaskFailure::Failed(format!("volume {id} is in the error state")));
        }
        if started.elapsed() > STATE_TIMEOUT {
            return Err(TaskFailure::Failed(format!("volume {id} did not become {target:?} in time")));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

impl Engine {
    /// Serialises the limit checks of concurrent launches and volume creations (PostgreSQL; on
    /// SQLite write transactions are serialised already).
    pub(crate) async fn lock_usage(&self, tx: &mut crate::store::WriteTx) -> CoreResult<()> {
        if self.store().backend() == crate::store::Backend::Postgres {
            sqlx::query("SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock(7341)) AS l")
                .execute(&mut *tx.tx)
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn owner_login(&self, user_id: i64) -> CoreResult<String> {
        let r =
            sqlx::query("SELECT login FROM users WHERE id = $1").bind(user_id).fetch_one(self.store().pool()).await?;
        Ok(r.text("login")?)
    }
}
