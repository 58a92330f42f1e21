//! The state of the Create Instance form: one signal per field, turned into a `LaunchRequest`,
//! filled from a template's, and checked before "Create".

use leptos::prelude::*;
use wintermute_api::instances::{
    LaunchRequest, LaunchStorage, NewStorage, VolumeType, DEFAULT_DEVICE, DEFAULT_MOUNT_POINT, MAX_VOLUME_GB,
};
use wintermute_api::setup::{
    check_user_name, parse_packages, parse_parameters, parse_services, DataUpload, ScriptRun, Setup, SetupUser,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageMode {
    None,
    New,
    Reuse,
}

/// A row of the Setup tab's UDS table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdsRow {
    pub sequence: u32,
    pub script_id: i64,
    pub parameters: String,
}

/// Every field of the dialog.
#[derive(Clone, Copy)]
pub struct Form {
    pub name: RwSignal<String>,
    pub description: RwSignal<String>,
    pub tags: RwSignal<String>,
    pub image_id: RwSignal<i64>,
    pub instance_type: RwSignal<String>,
    pub count: RwSignal<String>,
    pub swarm: RwSignal<String>,
    pub groups: RwSignal<Vec<String>>,
    pub mode: RwSignal<StorageMode>,
    pub encrypted: RwSignal<bool>,
    pub size: RwSignal<String>,
    pub vtype: RwSignal<VolumeType>,
    pub iops: RwSignal<String>,
    pub mount_point: RwSignal<String>,
    pub device: RwSignal<String>,
    pub reuse_id: RwSignal<i64>,
    pub provision: RwSignal<bool>,
    pub update: RwSignal<bool>,
    pub reboot: RwSignal<bool>,
    pub packages: RwSignal<String>,
    pub services: RwSignal<String>,
    pub with_user: RwSignal<bool>,
    pub user_name: RwSignal<String>,
    pub password: RwSignal<String>,
    pub password2: RwSignal<String>,
    pub uds: RwSignal<Vec<UdsRow>>,
    /// The Data Synchronization part: source on the core -> destination on the instance.
    pub data_upload: RwSignal<Vec<DataUpload>>,
}

impl Form {
    pub fn new() -> Form {
        Form {
            name: RwSignal::new(String::new()),
            description: RwSignal::new(String::new()),
            tags: RwSignal::new(String::new()),
            image_id: RwSignal::new(0),
            instance_type: RwSignal::new(String::new()),
            count: RwSignal::new("1".into()),
            swarm: RwSignal::new(String::new()),
            groups: RwSignal::new(Vec::new()),
            mode: RwSignal::new(StorageMode::None),
            encrypted: RwSignal::new(true),
            size: RwSignal::new("10".into()),
            vtype: RwSignal::new(VolumeType::GeneralPurpose),
            iops: RwSignal::new("3000".into()),
            mount_point: RwSignal::new(DEFAULT_MOUNT_POINT.into()),
            device: RwSignal::new(DEFAULT_DEVICE.into()),
            reuse_id: RwSignal::new(0),
            provision: RwSignal::new(true),
            update: RwSignal::new(false),
            reboot: RwSignal::new(false),
            packages: RwSignal::new(String::new()),
            services: RwSignal::new(String::new()),
            with_user: RwSignal::new(false),
            user_name: RwSignal::new(String::new()),
            password: RwSignal::new(String::new()),
            password2: RwSignal::new(String::new()),
            uds: RwSignal::new(Vec::new()),
            data_upload: RwSignal::new(Vec::new()),
        }
    }

    /// Everything wrong with the form, in words (tracked: the summary follows the fields).
    pub fn problems(&self, image_chosen: bool) -> Vec<String> {
        let Form {
            name,
            instance_type,
            count,
            mode,
            size,
            reuse_id,
            packages,
            services,
            with_user,
            user_name,
            password,
            password2,
            uds,
            data_upload,
            provision,
            ..
        } = *self;
        let mut out = Vec::new();
        if name.get().trim().is_empty() {
            out.push("Instance: a name is needed.".into());
        }
        if !image_chosen {
            out.push("Instance: choose an operating system (image).".into());
        }
        if instance_type.get().is_empty() {
            out.push("Instance: choose an instance type.".into());
        }
        match count.get().trim().parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => {}
            _ => out.push("Instance: the number of instances is 1 to 100.".into()),
        }
        match mode.get() {
            StorageMode::New => match size.get().trim().parse::<i64>() {
                Ok(n) if (1..=MAX_VOLUME_GB).contains(&n) => {}
                _ => out.push(format!("Storage: the size is 1 to {MAX_VOLUME_GB} GB.")),
            },
            StorageMode::Reuse => {
                if reuse_id.get() == 0 {
                    out.push("Storage: choose the volume to reuse.".into());
                }
                if count.get().trim() != "1" {
                    out.push("Storage: a reused volume goes to one instance only.".into());
                }
            }
            StorageMode::None => {}
        }
        if let Err(e) = parse_packages(&packages.get()) {
            out.push(format!("Setup: software packages: {e}"));
        }
        if let Err(e) = parse_services(&services.get()) {
            out.push(format!("Setup: services: {e}"));
        }
        for row in uds.get() {
            if let Err(e) = parse_parameters(&row.parameters) {
                out.push(format!("Setup: parameters of UDS {}: {}", row.sequence, e.reason));
            }
        }
        if !data_upload.with(|d| d.is_empty()) && !provision.get() {
            out.push("Storage: data is uploaded by the set-up; turn the set-up on or remove the uploads.".into());
        }
        if with_user.get() {
            if let Err(e) = check_user_name(&user_name.get()) {
                out.push(format!("Setup: user: {}", e.reason));
            }
            if password.get().is_empty() {
                out.push("Setup: the user's password is empty.".into());
            } else if password.get() != password2.get() {
                out.push("Setup: the two passwords differ.".into());
            }
        }
        out
    }

    /// The request the form describes.
    pub fn request(&self) -> LaunchRequest {
        let Form {
            name,
            description,
            tags,
            image_id,
            instance_type,
            count,
            swarm,
            groups,
            mode,
            encrypted,
            size,
            vtype,
            iops,
            mount_point,
            device,
            reuse_id,
            provision,
            update,
            reboot,
            packages,
            services,
            user_name,
            password,
            with_user,
            uds,
            data_upload,
            ..
        } = *self;
        let storage = match mode.get_untracked() {
            StorageMode::None => LaunchStorage::None,
            StorageMode::New => LaunchStorage::New(NewStorage {
                size_gb: size.get_untracked().trim().parse().unwrap_or(0),
                volume_type: vtype.get_untracked(),
                iops: (vtype.get_untracked() == VolumeType::ProvisionedIops)
                    .then(|| iops.get_untracked().trim().parse().ok())
                    .flatten(),
                encrypted: encrypted.get_untracked(),
                mount_point: Some(mount_point.get_untracked()).filter(|m| !m.trim().is_empty()),
                device: Some(device.get_untracked()).filter(|d| !d.trim().is_empty()),
            }),
            StorageMode::Reuse => LaunchStorage::Reuse {
                volume_id: reuse_id.get_untracked(),
                device: Some(device.get_untracked()).filter(|d| !d.trim().is_empty()),
                mount_point: Some(mount_point.get_untracked()).filter(|m| !m.trim().is_empty()),
            },
        };
        LaunchRequest {
            name: name.get_untracked().trim().to_string(),
            description: description.get_untracked(),
            tags: tags.get_untracked(),
            image_id: image_id.get_untracked(),
            instance_type: instance_type.get_untracked(),
            count: count.get_untracked().trim().parse().ok(),
            security_groups: groups.get_untracked(),
            swarm: Some(swarm.get_untracked().trim().to_string()).filter(|s| !s.is_empty()),
            storage,
            setup: Setup {
                provision: provision.get_untracked(),
                update: update.get_untracked(),
                reboot: reboot.get_untracked() && update.get_untracked(),
                packages: packages.get_untracked(),
                services: services.get_untracked(),
                user: with_user
                    .get_untracked()
                    .then(|| SetupUser { name: user_name.get_untracked(), password: password.get_untracked() }),
                data_upload: data_upload.get_untracked(),
                scripts: uds
                    .get_untracked()
                    .into_iter()
                    .map(|r| ScriptRun {
                        sequence: r.sequence,
                        script_id: r.script_id,
                        parameters: Some(r.parameters).filter(|p| !p.trim().is_empty()),
                    })
                    .collect(),
            },
        }
    }

    /// Fills the form from a saved request (its password is never saved: it is asked again).
    pub fn fill(&self, r: &LaunchRequest) {
        let Form {
            name,
            description,
            tags,
            image_id,
            instance_type,
            count,
            swarm,
            groups,
            mode,
            encrypted,
            size,
            vtype,
            iops,
            mount_point,
            device,
            reuse_id,
            provision,
            update,
            reboot,
            packages,
            services,
            with_user,
            user_name,
            password,
            password2,
            uds,
            data_upload,
            ..
        } = *self;
        name.set(r.name.clone());
        description.set(r.description.clone());
        tags.set(r.tags.clone());
        image_id.set(r.image_id);
        instance_type.set(r.instance_type.clone());
        count.set(r.count.unwrap_or(1).to_string());
        swarm.set(r.swarm.clone().unwrap_or_default());
        groups.set(r.security_groups.clone());
        match &r.storage {
            LaunchStorage::None => mode.set(StorageMode::None),
            LaunchStorage::New(n) => {
                mode.set(StorageMode::New);
                size.set(n.size_gb.to_string());
                vtype.set(n.volume_type);
                iops.set(n.iops.map(|i| i.to_string()).unwrap_or_else(|| "3000".into()));
                encrypted.set(n.encrypted);
                mount_point.set(n.mount_point.clone().unwrap_or_else(|| DEFAULT_MOUNT_POINT.into()));
                device.set(n.device.clone().unwrap_or_else(|| DEFAULT_DEVICE.into()));
            }
            LaunchStorage::Reuse { volume_id, device: d, mount_point: m } => {
                mode.set(StorageMode::Reuse);
                reuse_id.set(*volume_id);
                device.set(d.clone().unwrap_or_else(|| DEFAULT_DEVICE.into()));
                mount_point.set(m.clone().unwrap_or_else(|| DEFAULT_MOUNT_POINT.into()));
            }
        }
        let st = &r.setup;
        provision.set(st.provision);
        update.set(st.update);
        reboot.set(st.reboot);
        packages.set(st.packages.clone());
        services.set(st.services.clone());
        with_user.set(st.user.is_some());
        user_name.set(st.user.as_ref().map(|u| u.name.clone()).unwrap_or_default());
        password.set(String::new());
        password2.set(String::new());
        data_upload.set(st.data_upload.clone());
        uds.set(
            st.scripts
                .iter()
                .map(|s| UdsRow {
                    sequence: s.sequence,
                    script_id: s.script_id,
                    parameters: s.parameters.clone().unwrap_or_default(),
                })
                .collect(),
        );
    }
}
