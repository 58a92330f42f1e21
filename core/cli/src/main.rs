//! `wmai`, the Wintermute command line. It talks only to the core's HTTP API.

#[macro_use]
mod output;
mod commands;
mod config;
mod exit;
mod files;
mod follow;
mod input;
mod resolve;
mod session;
mod token_store;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::{
    admin, audit, auth, groups, instances, keys, providers, rights, scenarios, settings, ssh, sync, tasks, tokens,
    users,
};
use crate::exit::{Exit, EXIT_CODES_HELP};
use crate::session::App;

#[derive(Debug, Parser)]
#[command(
    name = "wmai",
    version,
    about = "Wintermute command line: manage a Wintermute core through its API",
    after_help = EXIT_CODES_HELP,
    propagate_version = true
)]
struct Cli {
    /// URL of the core (default: the one of the last `wmai login`)
    #[arg(long, global = true, env = "WMAI_URL", value_name = "URL")]
    url: Option<String>,
    /// Print the API's result as JSON instead of tables
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Log in to a core and remember it as the current one
    Login(auth::LoginArgs),
    /// Change your password
    Passwd(auth::PasswdArgs),
    /// End the session on the core and forget its token here
    Logout,
    /// Show who you are logged in as
    Whoami,
    /// Users and their global permissions
    Users(users::UsersArgs),
    /// Groups of users
    Groups(groups::GroupsArgs),
    /// Group rights on objects
    #[command(subcommand)]
    Rights(rights::RightsCmd),
    /// Objects you may see, with your rights on them
    Objects(rights::ObjectsArgs),
    /// The core's WMAIS_* settings
    Settings(settings::SettingsArgs),
    /// Tasks: the core's long actions
    Tasks(tasks::TasksArgs),
    /// The audit log
    Audit(audit::AuditArgs),
    /// Personal API tokens for automation
    Tokens(tokens::TokensArgs),
    /// SSH keys the core keeps for users: show, export, rotate
    SshKey(keys::SshKeyArgs),
    /// Host keys pinned for instances: show, accept a changed one
    #[command(subcommand)]
    HostKey(keys::HostKeyCmd),
    /// Cloud providers: configure, synchronize, allow regions and types, reconcile
    Providers(providers::ProvidersArgs),
    /// Images: search a provider's registry, import, describe and enable
    Images(providers::ImagesArgs),
    /// Instances: launch, list, power off/on, reboot, terminate
    Instances(instances::InstancesArgs),
    /// Storage volumes: create, attach, detach, delete
    Volumes(instances::VolumesArgs),
    /// Usage limits of users and groups, and what they use
    Limits(instances::LimitsArgs),
    /// User defined scripts run at the end of an instance's set-up
    Scenarios(scenarios::ScenariosArgs),
    /// Saved create-instance requests: list, launch, delete
    Templates(scenarios::TemplatesArgs),
    /// A terminal on an instance through the core (which holds the key), or run a command there
    Ssh(ssh::SshArgs),
    /// Upload data to an instance: from your data directory on the core (or this machine with --local)
    Upload(sync::TransferArgs),
    /// Download data from an instance: into your data directory on the core (or this machine with --local)
    Download(sync::TransferArgs),
    /// Administration of the core
    #[command(subcommand)]
    Admin(admin::AdminCmd),
}

async fn dispatch(app: &App, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Login(a) => auth::login(app, a).await,
        Command::Passwd(a) => auth::passwd(app, a).await,
        Command::Logout => auth::logout(app).await,
        Command::Whoami => auth::whoami(app).await,
        Command::Users(a) => users::run(app, a).await,
        Command::Groups(a) => groups::run(app, a).await,
        Command::Rights(c) => rights::run(app, c).await,
        Command::Objects(a) => rights::objects(app, a).await,
        Command::Settings(a) => settings::run(app, a).await,
        Command::Tasks(a) => tasks::run(app, a).await,
        Command::Audit(a) => audit::run(app, a).await,
        Command::Tokens(a) => tokens::run(app, a).await,
        Command::SshKey(a) => keys::ssh_key(app, a).await,
        Command::HostKey(c) => keys::host_key(app, c).await,
        Command::Providers(a) => providers::run(app, a).await,
        Command::Images(a) => providers::images(app, a).await,
        Command::Instances(a) => instances::run(app, a).await,
        Command::Volumes(a) => instances::volumes(app, a).await,
        Command::Limits(a) => instances::limits(app, a).await,
        Command::Ssh(a) => ssh::run(app, a).await,
        Command::Scenarios(a) => scenarios::scenarios(app, a).await,
        Command::Templates(a) => scenarios::templates(app, a).await,
        Command::Upload(a) => sync::upload(app, a).await,
        Command::Download(a) => sync::download(app, a).await,
        Command::Admin(c) => admin::run(app, c).await,
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let app = App::new(cli.url, cli.json)?;
    dispatch(&app, cli.command).await
}

fn main() -> ExitCode {
    // clap prints help and usage errors itself; usage errors exit 2.
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(Exit::Error.code());
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::from(Exit::Success.code()),
        Err(err) => {
            let report = exit::report(&err);
            if !report.message.is_empty() {
                eprintln!("error: {}", report.message);
            }
            if let Some(hint) = report.hint {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(report.exit.code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("wmai").chain(args.iter().copied()))
    }

    #[test]
    fn bare_groups_default_to_list() {
        assert!(matches!(parse(&["users"]).unwrap().command, Command::Users(users::UsersArgs { cmd: None })));
        assert!(matches!(parse(&["tasks", "--all"]).unwrap().command, Command::Tasks(_)));
        assert!(matches!(parse(&["settings"]).unwrap().command, Command::Settings(_)));
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = parse(&["users", "show", "alice", "--json", "--url", "http://x:1"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.url.as_deref(), Some("http://x:1"));
    }

    #[test]
    fn bad_names_are_usage_errors() {
        for args in [
            &["rights", "show", "vm", "1"][..],
            &["rights", "grant", "instance", "1", "ops", "fly"],
            &["users", "permissions", "bob", "create_user,fly"],
            &["tasks", "--state", "done"],
            &["users", "update", "bob", "--enable", "--disable"],
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn negative_setting_values_are_values() {
        let cli = parse(&["settings", "set", "WMAIS_X", "-1"]).unwrap();
        match cli.command {
            Command::Settings(settings::SettingsArgs { cmd: Some(settings::SettingsCmd::Set { value, .. }) }) => {
                assert_eq!(value, "-1")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ssh_key_user_or_subcommand() {
        let user_of = |args: &[&str]| match parse(args).unwrap().command {
            Command::SshKey(keys::SshKeyArgs { user, cmd: None }) => user,
            Command::SshKey(keys::SshKeyArgs { user: None, cmd: Some(keys::SshKeyCmd::Show { user }) }) => user,
            other => panic!("{other:?}"),
        };
        assert_eq!(user_of(&["ssh-key"]), None);
        assert_eq!(user_of(&["ssh-key", "bob"]).as_deref(), Some("bob"));
        assert_eq!(user_of(&["ssh-key", "show"]), None);
        assert_eq!(user_of(&["ssh-key", "show", "7", "--json"]).as_deref(), Some("7"));
        match parse(&["ssh-key", "export", "bob", "-o", "key", "--no-passphrase", "--force"]).unwrap().command {
            Command::SshKey(keys::SshKeyArgs { cmd: Some(keys::SshKeyCmd::Export(a)), .. }) => {
                assert_eq!(a.user.as_deref(), Some("bob"));
                assert_eq!(a.output.as_deref(), Some(std::path::Path::new("key")));
                assert!(a.no_passphrase && a.force && !a.passphrase_stdin);
            }
            other => panic!("{other:?}"),
        }
        for args in [
            &["ssh-key", "export", "--passphrase-stdin", "--no-passphrase"][..],
            &["ssh-key", "export", "--force"],
            &["ssh-key", "rotate"],
            &["ssh-key", "bob", "alice"],
            &["host-key", "show", "web1"],
            &["host-key", "accept"],
            &["admin", "backup"],
            &["admin", "restore"],
        ] {
            assert_eq!(parse(args).unwrap_err().exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn admin_key_commands() {
        assert!(matches!(parse(&["admin", "keys", "--json"]).unwrap().command, Command::Admin(admin::AdminCmd::Keys)));
        assert!(matches!(
            parse(&["admin", "rotate-master-key", "--follow"]).unwrap().command,
            Command::Admin(admin::AdminCmd::RotateMasterKey { follow: true })
        ));
        match parse(&["admin", "backup", "core.backup", "--passphrase-stdin", "--force"]).unwrap().command {
            Command::Admin(admin::AdminCmd::Backup(a)) => {
                assert_eq!(a.file, std::path::PathBuf::from("core.backup"));
                assert!(a.passphrase_stdin && a.force);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["admin", "restore", "core.backup"]).unwrap().command,
            Command::Admin(admin::AdminCmd::Restore(commands::backup::RestoreArgs { passphrase_stdin: false, .. }))
        ));
        assert!(matches!(
            parse(&["host-key", "accept", "12"]).unwrap().command,
            Command::HostKey(keys::HostKeyCmd::Accept { instance: 12 })
        ));
    }

    #[test]
    fn local_image_commands() {
        use commands::local_image::{LocalImageCmd, Os};
        match parse(&["admin", "local-image", "build", "debian-12", "--provider", "lab"]).unwrap().command {
            Command::Admin(admin::AdminCmd::LocalImage(LocalImageCmd::Build { recipe, opts })) => {
                assert_eq!(
                    (recipe.as_str(), opts.provider.as_deref(), opts.no_follow),
                    ("debian-12", Some("lab"), false)
                );
            }
            other => panic!("{other:?}"),
        }
        match parse(&[
            "admin",
            "local-image",
            "import",
            "disk.qcow2",
            "--name",
            "fedora",
            "--os-type",
            "fedora",
            "--no-follow",
        ])
        .unwrap()
        .command
        {
            Command::Admin(admin::AdminCmd::LocalImage(LocalImageCmd::Import { path, os_type, opts, .. })) => {
                assert_eq!(path, std::path::PathBuf::from("disk.qcow2"));
                assert_eq!(os_type, Some(Os::Fedora));
                assert_eq!(opts.name.as_deref(), Some("fedora"));
                assert!(opts.no_follow);
            }
            other => panic!("{other:?}"),
        }
        for args in
            [&["admin", "local-image", "build"][..], &["admin", "local-image", "import", "x", "--os-type", "arch"]]
        {
            assert_eq!(parse(args).unwrap_err().exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn help_lists_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:") && help.contains("11  the followed task was cancelled"));
    }
}
