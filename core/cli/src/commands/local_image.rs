//! `wmai admin local-image`: build or import an image for a local provider (guests as QEMU
//! virtual machines on the core's host). The work is a task, followed until it ends.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use wintermute_api::providers::{LocalImageRequest, OsType, Provider, ProviderKind};

use crate::exit::CliError;
use crate::resolve::{parse_ref, Ref};
use crate::session::App;

use super::admin::started;

#[derive(Debug, Subcommand)]
pub enum LocalImageCmd {
    /// Build an image from Debian's packages on the core's host (once: a built image is reused)
    /// and put it into a local provider's catalogue, disabled
    Build {
        /// The recipe: debian-12
        recipe: String,
        #[command(flatten)]
        opts: ImageOpts,
    },
    /// Import a qcow2 or raw disk image file of the core's host (it is copied) into a local
    /// provider's catalogue, disabled
    Import {
        /// The file, on the core's host (a relative path is taken from the current folder)
        path: PathBuf,
        /// OS type of the image (needed before enabling it)
        #[arg(long, value_enum)]
        os_type: Option<Os>,
        /// The account the users' keys are installed for
        #[arg(long)]
        login_user: Option<String>,
        #[command(flatten)]
        opts: ImageOpts,
    },
}

#[derive(Debug, Args)]
pub struct ImageOpts {
    /// The local provider (name or id); default: the only one
    #[arg(long, value_name = "NAME|ID")]
    pub provider: Option<String>,
    /// The image's name in the catalogue (default: the recipe, or the file's name)
    #[arg(long)]
    pub name: Option<String>,
    /// The image's description
    #[arg(long)]
    pub description: Option<String>,
    /// Do not follow the task; print it and return
    #[arg(long)]
    pub no_follow: bool,
}

/// OS types, as `--os-type` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Os {
    Debian,
    Ubuntu,
    Fedora,
    Centos,
    Rhel,
    Sles,
}

impl From<Os> for OsType {
    fn from(o: Os) -> OsType {
        match o {
            Os::Debian => OsType::Debian,
            Os::Ubuntu => OsType::Ubuntu,
            Os::Fedora => OsType::Fedora,
            Os::Centos => OsType::Centos,
            Os::Rhel => OsType::Rhel,
            Os::Sles => OsType::Sles,
        }
    }
}

/// The local provider named by `arg` (a name or an id), or the only local provider there is.
pub fn pick_provider<'p>(providers: &'p [Provider], arg: Option<&str>) -> Result<&'p Provider, CliError> {
    let local: Vec<&Provider> = providers.iter().filter(|p| p.kind == ProviderKind::Local).collect();
    let Some(arg) = arg else {
        return match local.as_slice() {
            [one] => Ok(one),
            [] => Err(CliError::not_found("there is no local provider (the core's first-start set-up makes one)")),
            several => {
                let names: Vec<&str> = several.iter().map(|p| p.name.as_str()).collect();
                Err(CliError::usage(format!(
                    "there are several local providers; choose one with --provider: {}",
                    names.join(", ")
                )))
            }
        };
    };
    let found = match parse_ref(arg) {
        Ref::Id(id) => providers.iter().find(|p| p.id == id),
        Ref::Name(name) => providers.iter().find(|p| p.name == name),
    };
    found.ok_or_else(|| CliError::not_found(format!("no provider {arg:?}")))
}

pub async fn run(app: &App, cmd: LocalImageCmd) -> anyhow::Result<()> {
    let s = app.session()?;
    let (req, opts) = match cmd {
        LocalImageCmd::Build { recipe, opts } => {
            (LocalImageRequest { recipe: Some(recipe), ..Default::default() }, opts)
        }
        LocalImageCmd::Import { path, os_type, login_user, opts } => {
            let path = std::path::absolute(&path)
                .map_err(|e| CliError::usage(format!("cannot make {} an absolute path: {e}", path.display())))?;
            let req = LocalImageRequest {
                path: Some(path.to_string_lossy().into_owned()),
                os_type: os_type.map(OsType::from),
                login_user,
                ..Default::default()
            };
            (req, opts)
        }
    };
    let req = LocalImageRequest { name: opts.name, description: opts.description, ..req };
    let providers = s.client.providers().await?;
    let provider = pick_provider(&providers, opts.provider.as_deref())?;
    let task = s.client.local_image(provider.id, &req).await?;
    started(&s, task, !opts.no_follow).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(id: i64, name: &str, kind: ProviderKind) -> Provider {
        Provider {
            id,
            kind,
            name: name.into(),
            description: String::new(),
            access_key_id: String::new(),
            endpoint_url: None,
            project: None,
            domain: None,
            address_mode: None,
            default_region: "local".into(),
            status: "synced".into(),
            status_message: String::new(),
            synced_at: None,
            regions: vec![],
            instance_types: vec![],
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn the_provider_is_named_or_the_only_local_one() {
        let aws = provider(1, "aws", ProviderKind::Aws);
        let lab = provider(2, "lab", ProviderKind::Local);
        let two = [aws.clone(), lab.clone()];
        assert_eq!(pick_provider(&two, None).unwrap().id, 2);
        assert_eq!(pick_provider(&two, Some("lab")).unwrap().id, 2);
        assert_eq!(pick_provider(&two, Some("1")).unwrap().id, 1, "the core says why an AWS provider will not do");
        assert_eq!(pick_provider(&two, Some("gcp")).unwrap_err().exit, crate::exit::Exit::NotFound);
        assert_eq!(pick_provider(&[aws], None).unwrap_err().exit, crate::exit::Exit::NotFound);
        let three = [lab, provider(3, "lab2", ProviderKind::Local)];
        let e = pick_provider(&three, None).unwrap_err();
        assert_eq!(e.exit, crate::exit::Exit::Usage);
        assert!(e.message.contains("lab, lab2"), "{}", e.message);
    }
}
