//! `wmai instances`, `wmai volumes` and `wmai limits`: launch and control instances (manual 7.3),
//! their storage (7.4) and the usage limits administrators set.

use clap::{Args, Subcommand};
use wintermute_api::instances::{
    AttachVolume, Instance, InstanceAction, InstancePatch, LaunchRequest, LaunchStorage, Limits, LimitsView,
    NewStorage, NewVolume, Volume, VolumePatch, VolumeType,
};

use wintermute_api::setup::{DataUpload, Setup, SetupUser};

use super::providers::{provider_by, task_started};
use crate::exit::CliError;
use crate::output;
use crate::resolve::{self, parse_ref, Ref};
use crate::session::{App, Session};

#[derive(Debug, Args)]
pub struct InstancesArgs {
    /// With no subcommand: include terminated instances in the list
    #[arg(long)]
    pub all: bool,
    #[command(subcommand)]
    pub cmd: Option<InstancesCmd>,
}

#[derive(Debug, Subcommand)]
pub enum InstancesCmd {
    /// Instances you may see (the default)
    List {
        /// Include terminated ones
        #[arg(long)]
        all: bool,
    },
    /// Details of an instance
    Show { instance: String },
    /// Launch instances and follow the launch
    Launch(Box<LaunchArgs>),
    /// Power instances off (their disks are kept)
    PowerOff(Targets),
    /// Power instances on
    PowerOn(Targets),
    /// Reboot instances
    Reboot(Targets),
    /// Terminate instances for good (their volumes are detached and kept)
    Terminate(Targets),
    /// Open and mount the encrypted storage again (after a reboot it stays locked)
    MountStorage(Targets),
    /// Run the set-up of failed instances again, as their launch asked for it
    RetrySetup(Targets),
    /// Rename an instance or change its description
    Edit {
        instance: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct LaunchArgs {
    pub name: String,
    /// An enabled image (id; see `wmai images`)
    #[arg(long)]
    pub image: i64,
    /// An allowed instance type
    #[arg(long = "type")]
    pub instance_type: String,
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Tags per instance number: "1-5:php, 2-3:apache, 1:haproxy"
    #[arg(long, default_value = "")]
    pub tags: String,
    #[arg(long, default_value = "")]
    pub description: String,
    /// Extra security groups an administrator made available (ids)
    #[arg(long, value_delimiter = ',')]
    pub security_groups: Vec<String>,
    #[arg(long)]
    pub swarm: Option<String>,
    /// A new volume of this size (GB) per instance
    #[arg(long, conflicts_with = "reuse_volume")]
    pub volume_gb: Option<i64>,
    /// general_purpose, provisioned_iops or magnetic
    #[arg(long, default_value = "general_purpose")]
    pub volume_type: String,
    #[arg(long)]
    pub iops: Option<i64>,
    /// Do not encrypt the new volume (encryption is on by default)
    #[arg(long)]
    pub unencrypted: bool,
    #[arg(long)]
    pub mount_point: Option<String>,
    #[arg(long)]
    pub device: Option<String>,
    /// Attach this available volume instead (one instance only)
    #[arg(long)]
    pub reuse_volume: Option<i64>,
    /// Return at once instead of following the launch
    #[arg(long)]
    pub no_follow: bool,
    /// Do not configure the instances (a bare instance: no updates, packages, library)
    #[arg(long)]
    pub no_provision: bool,
    /// Install the system updates
    #[arg(long)]
    pub update: bool,
    /// With --update: reboot when a new kernel was installed
    #[arg(long, requires = "update")]
    pub reboot: bool,
    /// Packages: "screen, mc, cups:uninstall, Development Tools:group"
    #[arg(long, default_value = "")]
    pub packages: String,
    /// Services: "sshd:start, cupsd:stop"
    #[arg(long, default_value = "")]
    pub services: String,
    /// Create this user (or set its password) inside the instances; the password is asked for,
    /// or read with --user-password-stdin
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long, requires = "user")]
    pub user_password_stdin: bool,
    /// A user defined script to run at the end of the set-up: "SEQUENCE:SCRIPT[:PARAMETERS]"
    /// (script id or name), e.g. "10:runMPI.sh:-i /mnt/data/input.deck"; repeat for more
    #[arg(long = "script")]
    pub scripts: Vec<String>,
    /// Save this request as a template under NAME instead of launching it
    #[arg(long)]
    pub save_template: Option<String>,
    /// Upload data after the storage is mounted: SOURCE:TARGET, SOURCE in your data directory
    /// on the core, TARGET on the instance (e.g. "deck1/:/mnt/data/"); may be repeated
    #[arg(long = "upload", value_name = "SOURCE:TARGET")]
    pub data_upload: Vec<String>,
}

#[derive(Debug, Args)]
pub struct Targets {
    /// Instance ids or names; several make one batch action
    #[arg(required = true)]
    pub instances: Vec<String>,
    #[arg(long)]
    pub no_follow: bool,
}

pub async fn run(app: &App, args: InstancesArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    match args.cmd.unwrap_or(InstancesCmd::List { all: args.all }) {
        InstancesCmd::List { all } => list(&s, all).await,
        InstancesCmd::Show { instance } => {
            let i = instance_by(&s, &instance).await?;
            show(&s, &i)
        }
        InstancesCmd::Launch(a) => {
            let LaunchArgs {
                name,
                image,
                instance_type,
                count,
                tags,
                description,
                security_groups,
                swarm,
                volume_gb,
                volume_type,
                iops,
                unencrypted,
                mount_point,
                device,
                reuse_volume,
                no_follow,
                no_provision,
                update,
                reboot,
                packages,
                services,
                user,
                user_password_stdin,
                scripts,
                save_template,
                data_upload,
            } = *a;
            let mut runs = Vec::with_capacity(scripts.len());
            for spec in &scripts {
                runs.push(super::scenarios::script_run(&s, spec).await?);
            }
            let scripts = runs;
            let user = match user {
                Some(name) => {
                    let password = crate::input::password(
                        user_password_stdin,
                        &format!("Password for {name} on the instances: "),
                        "password",
                        "--user-password-stdin",
                    )?;
                    Some(SetupUser { name, password })
                }
                None => None,
            };
            let data_upload = data_upload
                .iter()
                .map(|u| match u.split_once(':') {
                    Some((source, target)) if !source.is_empty() && !target.is_empty() => {
                        Ok(DataUpload { source: source.into(), target: target.into() })
                    }
                    _ => Err(CliError::invalid(format!("--upload takes SOURCE:TARGET, not {u:?}"))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let setup =
                Setup { provision: !no_provision, update, reboot, packages, services, user, scripts, data_upload };
            let storage = match (volume_gb, reuse_volume) {
                (Some(size_gb), _) => LaunchStorage::New(NewStorage {
                    size_gb,
                    volume_type: volume_type_arg(&volume_type)?,
                    iops,
                    encrypted: !unencrypted,
                    mount_point,
                    device,
                }),
                (None, Some(volume_id)) => LaunchStorage::Reuse { volume_id, device, mount_point },
                (None, None) => LaunchStorage::None,
            };
            let req = LaunchRequest {
                name,
                description,
                tags,
                image_id: image,
                instance_type,
                count: Some(count),
                security_groups,
                swarm,
                storage,
                setup,
            };
            if let Some(name) = save_template {
                let t =
                    s.client.create_template(&wintermute_api::scenarios::NewTemplate { name, request: req }).await?;
                if s.json {
                    return output::print_json(&t);
                }
                out!("Saved template {} ({}); launch it with `wmai templates launch {}`", t.name, t.id, t.id);
                return Ok(());
            }
            let launch = s.client.launch(&req).await?;
            if !s.json {
                let ids: Vec<String> = launch.instances.iter().map(|i| format!("{} ({})", i.name, i.id)).collect();
                out!("Launching {}", ids.join(", "));
            }
            task_started(&s, launch.task.id, no_follow).await
        }
        InstancesCmd::PowerOff(t) => act(&s, t, InstanceAction::PowerOff).await,
        InstancesCmd::PowerOn(t) => act(&s, t, InstanceAction::PowerOn).await,
        InstancesCmd::Reboot(t) => act(&s, t, InstanceAction::Reboot).await,
        InstancesCmd::Terminate(t) => act(&s, t, InstanceAction::Terminate).await,
        InstancesCmd::MountStorage(t) => act(&s, t, InstanceAction::MountStorage).await,
        InstancesCmd::RetrySetup(t) => act(&s, t, InstanceAction::RetrySetup).await,
        InstancesCmd::Edit { instance, name, description } => {
            let i = instance_by(&s, &instance).await?;
            let i = s.client.update_instance(i.id, &InstancePatch { name, description }).await?;
            show(&s, &i)
        }
    }
}

fn volume_type_arg(v: &str) -> anyhow::Result<VolumeType> {
    VolumeType::parse(v).ok_or_else(|| {
        CliError::usage(format!("unknown volume type {v:?}: general_purpose, provisioned_iops or magnetic")).into()
    })
}

async fn act(s: &Session, t: Targets, action: InstanceAction) -> anyhow::Result<()> {
    let mut ids = Vec::new();
    for arg in &t.instances {
        ids.push(instance_by(s, arg).await?.id);
    }
    let task = if ids.len() == 1 {
        s.client.instance_action(ids[0], action).await?
    } else {
        s.client.batch_action(&ids, action).await?
    };
    task_started(s, task.id, t.no_follow).await
}

/// An instance by id or by name (names must be unambiguous among live instances).
pub async fn instance_by(s: &Session, arg: &str) -> anyhow::Result<Instance> {
    match parse_ref(arg) {
        Ref::Id(id) => Ok(s.client.instance(id).await?),
        Ref::Name(n) => {
            let all = s.client.instances(false).await?;
            let mut found: Vec<Instance> = all.into_iter().filter(|i| i.name == n).collect();
            match found.len() {
                1 => Ok(found.remove(0)),
                0 => Err(CliError::not_found(format!("no instance named {n:?} (see `wmai instances`)")).into()),
                _ => Err(CliError::invalid(format!("several instances are named {n:?}; give the id")).into()),
            }
        }
    }
}

fn storage_of(i: &Instance) -> String {
    if i.volumes.is_empty() {
        return "-".into();
    }
    output::list(i.volumes.iter().map(|v| format!("{} GB{}", v.size_gb, if v.encrypted { " encrypted" } else { "" })))
}

async fn list(s: &Session, all: bool) -> anyhow::Result<()> {
    let items = s.client.instances(all).await?;
    if s.json {
        return output::print_json(&items);
    }
    let mut t =
        output::table(["ID", "NAME", "OWNER", "PROVIDER", "TYPE", "OS", "STORAGE", "STATUS", "ADDRESS", "UPDATED"]);
    for i in &items {
        t.add_row(vec![
            i.id.to_string(),
            i.name.clone(),
            i.owner_login.clone(),
            format!("{} ({})", i.provider_name, i.region),
            i.instance_type.clone(),
            i.os_type.map(|o| o.as_str()).unwrap_or("-").into(),
            storage_of(i),
            i.status.as_str().into(),
            i.public_ip.clone().or(i.private_ip.clone()).unwrap_or_else(|| "-".into()),
            output::time(i.updated_at),
        ]);
    }
    output::print_table(t);
    Ok(())
}

fn show(s: &Session, i: &Instance) -> anyhow::Result<()> {
    if s.json {
        return output::print_json(i);
    }
    let status = if i.status_message.is_empty() {
        i.status.as_str().to_owned()
    } else {
        format!("{} ({})", i.status, i.status_message)
    };
    output::print_table(output::properties(vec![
        ("id", i.id.to_string()),
        ("name", i.name.clone()),
        ("description", i.description.clone()),
        ("owner", i.owner_login.clone()),
        ("status", status),
        ("cloud", format!("{} {} {}", i.provider_name, i.region, i.cloud_id.clone().unwrap_or_default())),
        ("image", format!("{} ({})", i.image_name, i.os_type.map(|o| o.as_str()).unwrap_or("-"))),
        ("type", i.instance_type.clone()),
        ("tags", output::list(i.tags.iter())),
        ("launch", format!("{} of {}", i.launch_index, i.launch_count)),
        (
            "addresses",
            format!("{} / {}", i.public_ip.as_deref().unwrap_or("-"), i.private_ip.as_deref().unwrap_or("-")),
        ),
        ("ssh", format!("{}@{}:{}", i.login_user, i.ssh_host.as_deref().unwrap_or("-"), i.ssh_port.unwrap_or(22))),
        ("security groups", output::list(i.security_groups.iter())),
        ("storage", storage_of(i)),
        ("expires", output::time_opt(i.expires_at)),
        ("created", output::time(i.created_at)),
    ]));
    Ok(())
}

#[derive(Debug, Args)]
pub struct VolumesArgs {
    /// With no subcommand: include deleted volumes in the list
    #[arg(long)]
    pub all: bool,
    #[command(subcommand)]
    pub cmd: Option<VolumesCmd>,
}

#[derive(Debug, Subcommand)]
pub enum VolumesCmd {
    /// Volumes you may see (the default)
    List {
        /// Include deleted ones
        #[arg(long)]
        all: bool,
    },
    /// Create a volume on its own
    Create {
        name: String,
        #[arg(long)]
        provider: String,
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        zone: Option<String>,
        #[arg(long)]
        size_gb: i64,
        #[arg(long, default_value = "general_purpose")]
        volume_type: String,
        #[arg(long)]
        iops: Option<i64>,
        #[arg(long)]
        unencrypted: bool,
        #[arg(long)]
        mount_point: Option<String>,
    },
    /// Attach an available volume to an instance
    Attach {
        volume: i64,
        instance: String,
        #[arg(long)]
        device: Option<String>,
    },
    /// Detach a volume from its instance
    Detach { volume: i64 },
    /// Rename a volume or set its mount point
    Edit {
        volume: i64,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        mount_point: Option<String>,
    },
    /// Delete a detached volume and its key
    Delete { volume: i64 },
}

pub async fn volumes(app: &App, args: VolumesArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    match args.cmd.unwrap_or(VolumesCmd::List { all: args.all }) {
        VolumesCmd::List { all } => {
            let items = s.client.volumes(all).await?;
            if s.json {
                return output::print_json(&items);
            }
            let mut t = output::table([
                "ID",
                "NAME",
                "OWNER",
                "CLOUD ID",
                "TYPE",
                "SIZE",
                "ENCRYPTED",
                "STATUS",
                "ATTACHED",
                "DEVICE",
                "MOUNT",
            ]);
            for v in &items {
                t.add_row(vec![
                    v.id.to_string(),
                    v.name.clone(),
                    v.owner_login.clone(),
                    v.cloud_id.clone().unwrap_or_else(|| "-".into()),
                    v.volume_type.as_str().into(),
                    format!("{} GB", v.size_gb),
                    output::yes_no(v.encrypted).into(),
                    v.status.as_str().into(),
                    v.instance_name.clone().unwrap_or_else(|| "-".into()),
                    v.device.clone().unwrap_or_else(|| "-".into()),
                    v.mount_point.clone().unwrap_or_else(|| "-".into()),
                ]);
            }
            output::print_table(t);
            Ok(())
        }
        VolumesCmd::Create { name, provider, region, zone, size_gb, volume_type, iops, unencrypted, mount_point } => {
            let p = provider_by(&s, &provider).await?;
            let v = s
                .client
                .create_volume(&NewVolume {
                    provider_id: p.id,
                    region: region.unwrap_or(p.default_region.clone()),
                    availability_zone: zone,
                    name,
                    size_gb,
                    volume_type: volume_type_arg(&volume_type)?,
                    iops,
                    encrypted: !unencrypted,
                    mount_point,
                })
                .await?;
            show_volume(&s, "Created", &v)
        }
        VolumesCmd::Attach { volume, instance, device } => {
            let i = instance_by(&s, &instance).await?;
            let v = s.client.attach_volume(volume, &AttachVolume { instance_id: i.id, device }).await?;
            show_volume(&s, "Attached", &v)
        }
        VolumesCmd::Detach { volume } => {
            let v = s.client.detach_volume(volume).await?;
            show_volume(&s, "Detached", &v)
        }
        VolumesCmd::Edit { volume, name, mount_point } => {
            let v = s.client.update_volume(volume, &VolumePatch { name, mount_point }).await?;
            show_volume(&s, "Changed", &v)
        }
        VolumesCmd::Delete { volume } => {
            s.client.delete_volume(volume).await?;
            super::done(s.json, format!("Deleted volume {volume}"));
            Ok(())
        }
    }
}

fn show_volume(s: &Session, verb: &str, v: &Volume) -> anyhow::Result<()> {
    if s.json {
        return output::print_json(v);
    }
    out!(
        "{verb} volume {} ({}, {} GB{}): {}{}",
        v.id,
        v.name,
        v.size_gb,
        if v.encrypted { ", encrypted" } else { "" },
        v.status.as_str(),
        v.instance_name
            .as_ref()
            .map(|n| format!(" on {n} as {}", v.device.clone().unwrap_or_default()))
            .unwrap_or_default()
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct LimitsArgs {
    /// `user:<login or id>` or `group:<name or id>`; default: yourself
    pub subject: Option<String>,
    /// Set: most instances not stopped (`none` for no limit)
    #[arg(long)]
    pub running: Option<String>,
    /// Set: most GB of volumes
    #[arg(long)]
    pub volume_gb: Option<String>,
    /// Set: hours after which the core powers an instance off
    #[arg(long)]
    pub lifetime_hours: Option<String>,
}

fn limit_arg(v: &Option<String>, old: Option<i64>) -> anyhow::Result<Option<i64>> {
    match v.as_deref() {
        None => Ok(old),
        Some("none") => Ok(None),
        Some(n) => {
            n.parse::<i64>().map(Some).map_err(|_| CliError::usage(format!("{n:?} is not a number (or `none`)")).into())
        }
    }
}

pub async fn limits(app: &App, a: LimitsArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    let (is_group, id) = match a.subject.as_deref() {
        None => (false, s.client.whoami().await?.id),
        Some(x) => match x.split_once(':') {
            Some(("user", u)) => (false, resolve::user_id(&s.client, u).await?),
            Some(("group", g)) => (true, resolve::group(&s.client, g).await?.id),
            _ => return Err(CliError::usage("the subject is user:<login> or group:<name>").into()),
        },
    };
    let current = if is_group { s.client.group_limits(id).await? } else { s.client.user_limits(id).await? };
    let view = if a.running.is_some() || a.volume_gb.is_some() || a.lifetime_hours.is_some() {
        let l = Limits {
            max_running_instances: limit_arg(&a.running, current.limits.max_running_instances)?,
            max_volume_gb: limit_arg(&a.volume_gb, current.limits.max_volume_gb)?,
            max_lifetime_hours: limit_arg(&a.lifetime_hours, current.limits.max_lifetime_hours)?,
        };
        if is_group {
            s.client.set_group_limits(id, &l).await?
        } else {
            s.client.set_user_limits(id, &l).await?
        }
    } else {
        current
    };
    print_limits(&s, &view)
}

fn print_limits(s: &Session, v: &LimitsView) -> anyhow::Result<()> {
    if s.json {
        return output::print_json(v);
    }
    let lim = |l: Option<i64>| l.map(|n| n.to_string()).unwrap_or_else(|| "no limit".into());
    output::print_table(output::properties(vec![
        ("running instances", format!("{} of {}", v.usage.running_instances, lim(v.limits.max_running_instances))),
        ("volume GB", format!("{} of {}", v.usage.volume_gb, lim(v.limits.max_volume_gb))),
        ("lifetime hours", lim(v.limits.max_lifetime_hours)),
    ]));
    Ok(())
}
