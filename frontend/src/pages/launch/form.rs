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
        let storage = match self.mode.get_untracked() {
            StorageMode::None => LaunchStorage::None,
            StorageMode::New => LaunchStorage::New(NewStorage {
                size_gb: self.size.get_untracked().trim().parse().unwrap_or(0),
                volume_type: self.vtype.get_untracked(),
                iops: (self.vtype.get_untracked() == VolumeType::ProvisionedIops)
                    .then(|| self.iops.get_untracked().trim().parse().ok())
                    .flatten(),
                encrypted: self.encrypted.get_untracked(),
                mount_point: Some(self.mount_point.get_untracked()).filter(|m| !m.trim().is_empty()),
                device: Some(self.device.get_untracked()).filter(|d| !d.trim().is_empty()),
            }),
            StorageMode::Reuse => LaunchStorage::Reuse {
                volume_id: self.reuse_id.get_untracked(),
                device: Some(self.device.get_untracked()).filter(|d| !d.trim().is_empty()),
                mount_point: Some(self.mount_point.get_untracked()).filter(|m| !m.trim().is_empty()),
            },
        };
        LaunchRequest {
            name: self.name.get_untracked().trim().to_string(),
            description: self.description.get_untracked(),
            tags: self.tags.get_untracked(),
            image_id: self.image_id.get_untracked(),
            instance_type: self.instance_type.get_untracked(),
            count: self.count.get_untracked().trim().parse().ok(),
            security_groups: self.groups.get_untracked(),
            swarm: Some(self.swarm.get_untracked().trim().to_string()).filter(|s| !s.is_empty()),
            storage,
            setup: Setup {
                provision: self.provision.get_untracked(),
                update: self.update.get_untracked(),
                reboot: self.reboot.get_untracked() && self.update.get_untracked(),
                packages: self.packages.get_untracked(),
                services: self.services.get_untracked(),
                user: self.with_user.get_untracked().then(|| SetupUser {
                    name: self.user_name.get_untracked(),
                    password: self.password.get_untracked(),
                }),
                data_upload: self.data_upload.get_untracked(),
                scripts: self
                    .uds
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
        self.name.set(r.name.clone());
        self.description.set(r.description.clone());
        self.tags.set(r.tags.clone());
        self.image_id.set(r.image_id);
        self.instance_type.set(r.instance_type.clone());
        self.count.set(r.count.unwrap_or(1).to_string());
        self.swarm.set(r.swarm.clone().unwrap_or_default());
        self.groups.set(r.security_groups.clone());
        match &r.storage {
            LaunchStorage::None => self.mode.set(StorageMode::None),
            LaunchStorage::New(n) => {
                self.mode.set(StorageMode::New);
                self.size.set(n.size_gb.to_string());
                self.vtype.set(n.volume_type);
                self.iops.set(n.iops.map(|i| i.to_string()).unwrap_or_else(|| "3000".into()));
                self.encrypted.set(n.encrypted);
                self.mount_point.set(n.mount_point.clone().unwrap_or_else(|| DEFAULT_MOUNT_POINT.into()));
                self.device.set(n.device.clone().unwrap_or_else(|| DEFAULT_DEVICE.into()));
            }
            LaunchStorage::Reuse { volume_id, device: d, mount_point: m } => {
                self.mode.set(StorageMode::Reuse);
                self.reuse_id.set(*volume_id);
                self.device.set(d.clone().unwrap_or_else(|| DEFAULT_DEVICE.into()));
                self.mount_point.set(m.clone().unwrap_or_else(|| DEFAULT_MOUNT_POINT.into()));
            }
        }
        let st = &r.setup;
        self.provision.set(st.provision);
        self.update.set(st.update);
        self.reboot.set(st.reboot);
        self.packages.set(st.packages.clone());
        self.services.set(st.services.clone());
        self.with_user.set(st.user.is_some());
        self.user_name.set(st.user.as_ref().map(|u| u.name.clone()).unwrap_or_default());
        self.password.set(String::new());
        self.password2.set(String::new());
        self.data_upload.set(st.data_upload.clone());
        self.uds.set(
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
