//! `wmai providers` and `wmai images`: cloud providers (manual 6.3) and their images (6.4).

use clap::{Args, Subcommand};
use wintermute_api::instances::AllowedSecurityGroups;
use wintermute_api::providers::{ImagePatch, ImportImage, NewProvider, OsType, Provider, ProviderKind, ProviderPatch};

use crate::exit::CliError;
use crate::follow;
use crate::output;
use crate::resolve::{parse_ref, Ref};
use crate::session::{App, Session};

#[derive(Debug, Args)]
pub struct ProvidersArgs {
    #[command(subcommand)]
    pub cmd: Option<ProvidersCmd>,
}

#[derive(Debug, Subcommand)]
pub enum ProvidersCmd {
    /// List the providers you may use (the default)
    List,
    /// Show a provider with its regions and instance types
    Show { provider: String },
    /// Configure an AWS account (the secret access key is asked for, or read with --secret-stdin)
    AddAws {
        name: String,
        /// Read the secret access key from stdin
        #[arg(long)]
        secret_stdin: bool,
        #[arg(long)]
        access_key_id: String,
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// Another EC2 endpoint (a private cloud or an emulator)
        #[arg(long)]
        endpoint_url: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Configure an OpenStack project (Keystone v3; the password is asked for, or read with
    /// --password-stdin)
    AddOpenstack {
        name: String,
        /// The Keystone auth URL, without a version suffix (e.g. https://keystone.example.com:5000)
        #[arg(long)]
        auth_url: String,
        /// The project (tenant) name
        #[arg(long)]
        project: String,
        /// The user's login name
        #[arg(long)]
        user: String,
        /// The domain of the user and of the project
        #[arg(long, default_value = "Default")]
        domain: String,
        /// Read the password from stdin
        #[arg(long)]
        password_stdin: bool,
        #[arg(long, default_value = "RegionOne")]
        region: String,
        /// Which server address the core uses: floating (a floating IP per server) or fixed
        #[arg(long, default_value = "floating", value_parser = ["floating", "fixed"])]
        address: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Configure a local provider: instances as virtual machines on the core's host
    AddLocal {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// "Synchronize configuration": check the credentials, load regions and instance types
    Sync {
        provider: String,
        /// Return at once instead of following the task
        #[arg(long)]
        no_follow: bool,
    },
    /// Choose the regions and instance types users may use
    Allow {
        provider: String,
        #[arg(long, value_delimiter = ',')]
        regions: Option<Vec<String>>,
        #[arg(long, value_delimiter = ',')]
        types: Option<Vec<String>>,
    },
    /// A region's security groups; with --allow, the ones users may add
    SecurityGroups {
        provider: String,
        #[arg(long)]
        region: String,
        /// Group ids users may add (replaces the list; empty to clear)
        #[arg(long, value_delimiter = ',', num_args = 0..)]
        allow: Option<Vec<String>>,
    },
    /// Compare the core's records with the cloud and repair drift
    Reconcile {
        provider: String,
        #[arg(long)]
        no_follow: bool,
    },
    /// Remove a provider without images or instances
    Delete { provider: String },
}

pub async fn run(app: &App, args: ProvidersArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    match args.cmd.unwrap_or(ProvidersCmd::List) {
        ProvidersCmd::List => list(&s).await,
        ProvidersCmd::Show { provider } => {
            let p = provider_by(&s, &provider).await?;
            show(&s, &p)
        }
        ProvidersCmd::AddAws { name, secret_stdin, access_key_id, region, endpoint_url, description } => {
            let secret =
                crate::input::password(secret_stdin, "Secret access key: ", "secret access key", "--secret-stdin")?;
            let p = s
                .client
                .create_provider(&NewProvider {
                    kind: Some(ProviderKind::Aws),
                    name,
                    description,
                    access_key_id,
                    secret_access_key: secret,
                    endpoint_url,
                    default_region: Some(region),
                    ..Default::default()
                })
                .await?;
            show(&s, &p)
        }
        ProvidersCmd::AddOpenstack {
            name,
            auth_url,
            project,
            user,
            domain,
            password_stdin,
            region,
            address,
            description,
        } => {
            let password = crate::input::password(password_stdin, "Password: ", "password", "--password-stdin")?;
            let p = s
                .client
                .create_provider(&NewProvider {
                    kind: Some(ProviderKind::Openstack),
                    name,
                    description,
                    access_key_id: user,
                    secret_access_key: password,
                    endpoint_url: Some(auth_url),
                    default_region: Some(region),
                    project: Some(project),
                    domain: Some(domain),
                    address_mode: Some(address),
                })
                .await?;
            show(&s, &p)
        }
        ProvidersCmd::AddLocal { name, description } => {
            let p = s
                .client
                .create_provider(&NewProvider {
                    kind: Some(ProviderKind::Local),
                    name,
                    description,
                    ..Default::default()
                })
                .await?;
            show(&s, &p)
        }
        ProvidersCmd::Sync { provider, no_follow } => {
            let p = provider_by(&s, &provider).await?;
            let t = s.client.sync_provider(p.id).await?;
            task_started(&s, t.id, no_follow).await
        }
        ProvidersCmd::Allow { provider, regions, types } => {
            let p = provider_by(&s, &provider).await?;
            if regions.is_none() && types.is_none() {
                return Err(CliError::usage("give --regions and/or --types").into());
            }
            let p = s
                .client
                .update_provider(
                    p.id,
                    &ProviderPatch { allowed_regions: regions, allowed_instance_types: types, ..Default::default() },
                )
                .await?;
            show(&s, &p)
        }
        ProvidersCmd::SecurityGroups { provider, region, allow } => {
            let p = provider_by(&s, &provider).await?;
            let groups = match allow {
                Some(ids) => {
                    let group_ids = ids.into_iter().map(|i| i.trim().to_owned()).filter(|i| !i.is_empty()).collect();
                    s.client.allow_security_groups(p.id, &AllowedSecurityGroups { region, group_ids }).await?
                }
                None => s.client.security_groups(p.id, &region).await?,
            };
            if s.json {
                return output::print_json(&groups);
            }
            let mut t = output::table(["GROUP", "NAME", "ALLOWED", "NOTE"]);
            for g in &groups {
                let note = if g.managed { "the core's SSH group (always added)" } else { "" };
                t.add_row(vec![g.group_id.clone(), g.name.clone(), output::yes_no(g.allowed).into(), note.into()]);
            }
            output::print_table(t);
            Ok(())
        }
        ProvidersCmd::Reconcile { provider, no_follow } => {
            let p = provider_by(&s, &provider).await?;
            let t = s.client.reconcile_provider(p.id).await?;
            task_started(&s, t.id, no_follow).await
        }
        ProvidersCmd::Delete { provider } => {
            let p = provider_by(&s, &provider).await?;
            s.client.delete_provider(p.id).await?;
            super::done(s.json, format!("Removed provider {}", p.name));
            Ok(())
        }
    }
}

/// Follows a task (progress and log) unless asked not to.
pub async fn task_started(s: &Session, id: i64, no_follow: bool) -> anyhow::Result<()> {
    if no_follow {
        if s.json {
            return output::print_json(&s.client.task(id).await?);
        }
        out!("Started task {id}; follow it with `wmai tasks follow {id}`.");
        return Ok(());
    }
    follow::follow(s, id).await
}

pub async fn provider_by(s: &Session, arg: &str) -> anyhow::Result<Provider> {
    let all = s.client.providers().await?;
    let found = match parse_ref(arg) {
        Ref::Id(id) => all.into_iter().find(|p| p.id == id),
        Ref::Name(n) => all.into_iter().find(|p| p.name == n),
    };
    found.ok_or_else(|| CliError::not_found(format!("no provider {arg:?} (see `wmai providers`)")).into())
}

async fn list(s: &Session) -> anyhow::Result<()> {
    let all = s.client.providers().await?;
    if s.json {
        return output::print_json(&all);
    }
    let mut t = output::table(["ID", "NAME", "KIND", "STATUS", "REGIONS", "TYPES"]);
    for p in &all {
        t.add_row(vec![
            p.id.to_string(),
            p.name.clone(),
            p.kind.as_str().into(),
            p.status.clone(),
            output::list(p.regions.iter().filter(|r| r.allowed).map(|r| r.name.as_str())),
            output::list(p.instance_types.iter().filter(|r| r.allowed).map(|r| r.name.as_str())),
        ]);
    }
    output::print_table(t);
    Ok(())
}

fn show(s: &Session, p: &Provider) -> anyhow::Result<()> {
    if s.json {
        return output::print_json(p);
    }
    let optional = ["endpoint", "user / access key", "project", "domain", "address"];
    let rows = vec![
        ("id", p.id.to_string()),
        ("name", p.name.clone()),
        ("kind", p.kind.as_str().into()),
        ("status", format!("{} {}", p.status, p.status_message)),
        ("default region", p.default_region.clone()),
        ("endpoint", p.endpoint_url.clone().unwrap_or_default()),
        ("user / access key", p.access_key_id.clone()),
        ("project", p.project.clone().unwrap_or_default()),
        ("domain", p.domain.clone().unwrap_or_default()),
        ("address", p.address_mode.clone().unwrap_or_default()),
        ("allowed regions", output::list(p.regions.iter().filter(|r| r.allowed).map(|r| r.name.as_str()))),
        ("other regions", p.regions.iter().filter(|r| !r.allowed).count().to_string()),
        (
            "allowed types",
            output::list(
                p.instance_types
                    .iter()
                    .filter(|t| t.allowed)
                    .map(|t| format!("{} ({} vCPU, {} MiB)", t.name, t.vcpus, t.memory_mib)),
            ),
        ),
        ("synced", output::time_opt(p.synced_at)),
    ];
    output::print_table(output::properties(
        rows.into_iter().filter(|(k, v)| !(v.is_empty() && optional.contains(k))).collect(),
    ));
    Ok(())
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    #[command(subcommand)]
    pub cmd: Option<ImagesCmd>,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCmd {
    /// Images you may see (the default)
    List,
    /// Search a provider's registry: `image_id:ami-…` or text of the name
    Search {
        provider: String,
        query: String,
        #[arg(long)]
        region: Option<String>,
    },
    /// Import an image (it starts disabled)
    Import {
        provider: String,
        cloud_id: String,
        #[arg(long)]
        region: Option<String>,
    },
    /// Describe and enable or disable an image
    Edit {
        image: i64,
        #[arg(long)]
        name: Option<String>,
        /// debian, ubuntu, fedora, centos, rhel or sles
        #[arg(long)]
        os: Option<String>,
        #[arg(long)]
        login_user: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
    },
}

pub async fn images(app: &App, args: ImagesArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    match args.cmd.unwrap_or(ImagesCmd::List) {
        ImagesCmd::List => {
            let all = s.client.images().await?;
            if s.json {
                return output::print_json(&all);
            }
            let mut t = output::table(["ID", "NAME", "PROVIDER", "REGION", "CLOUD ID", "OS", "ENABLED"]);
            for i in &all {
                t.add_row(vec![
                    i.id.to_string(),
                    i.name.clone(),
                    i.provider_name.clone(),
                    i.region.clone(),
                    i.cloud_id.clone(),
                    i.os_type.map(|o| o.as_str()).unwrap_or("-").into(),
                    output::yes_no(i.enabled).into(),
                ]);
            }
            output::print_table(t);
            Ok(())
        }
        ImagesCmd::Search { provider, query, region } => {
            let p = provider_by(&s, &provider).await?;
            let region = region.unwrap_or(p.default_region.clone());
            let found = s.client.search_images(p.id, &region, &query).await?;
            if s.json {
                return output::print_json(&found);
            }
            let mut t = output::table(["CLOUD ID", "NAME", "ARCH", "CREATED", "IMPORTED"]);
            for i in &found {
                t.add_row(vec![
                    i.cloud_id.clone(),
                    i.name.clone(),
                    i.architecture.clone(),
                    i.creation_date.clone(),
                    output::yes_no(i.imported).into(),
                ]);
            }
            output::print_table(t);
            Ok(())
        }
        ImagesCmd::Import { provider, cloud_id, region } => {
            let p = provider_by(&s, &provider).await?;
            let region = region.unwrap_or(p.default_region.clone());
            let i = s.client.import_image(&ImportImage { provider_id: p.id, region, cloud_id }).await?;
            if s.json {
                return output::print_json(&i);
            }
            out!("Imported image {} as {} (disabled; `wmai images edit {} --os … --enable`)", i.cloud_id, i.id, i.id);
            Ok(())
        }
        ImagesCmd::Edit { image, name, os, login_user, description, enable, disable } => {
            let os_type = match os {
                Some(o) => Some(OsType::parse(&o).ok_or_else(|| {
                    CliError::usage(format!("unknown OS type {o:?}: debian, ubuntu, fedora, centos, rhel or sles"))
                })?),
                None => None,
            };
            let enabled = if enable {
                Some(true)
            } else if disable {
                Some(false)
            } else {
                None
            };
            let i =
                s.client.update_image(image, &ImagePatch { name, os_type, login_user, description, enabled }).await?;
            if s.json {
                return output::print_json(&i);
            }
            out!("Image {} ({}): {}", i.id, i.name, if i.enabled { "enabled" } else { "disabled" });
            Ok(())
        }
    }
}
