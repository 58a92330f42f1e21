//! `wmai ssh-key` (the SSH key the core keeps for each user) and `wmai host-key` (the host keys
//! pinned for instances).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use wintermute_api::client::Client;
use wintermute_api::keys::{HostKey, SshKeyExportRequest, SshPrivateKey, SshPublicKey};

use crate::exit::CliError;
use crate::files;
use crate::input;
use crate::output;
use crate::resolve;
use crate::session::App;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SshKeyArgs {
    /// User id or login (default: yourself)
    #[arg(value_name = "USER")]
    pub user: Option<String>,
    #[command(subcommand)]
    pub cmd: Option<SshKeyCmd>,
}

#[derive(Debug, Subcommand)]
pub enum SshKeyCmd {
    /// Show a public key and its fingerprint (the default)
    Show {
        /// User id or login (default: yourself)
        user: Option<String>,
    },
    /// Export a private key: your own needs the download_ssh_keys permission, other users' are
    /// for administrators. Always written to the audit log
    Export(ExportArgs),
    /// Give a user a new key pair (administrators); a task hands it over to the user's
    /// instances and removes the old key there
    Rotate {
        /// User id or login
        user: String,
    },
    /// Retry handing a rotated key over to the user's instances (administrators)
    Push {
        /// User id or login
        user: String,
    },
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// User id or login (default: yourself)
    pub user: Option<String>,
    /// Write the key to this new file (mode 0600) instead of stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace FILE if it exists
    #[arg(long, requires = "output")]
    pub force: bool,
    /// Read the passphrase protecting the key from the first line of stdin (at least 8 characters)
    #[arg(long, conflicts_with = "no_passphrase")]
    pub passphrase_stdin: bool,
    /// Export the key without a passphrase (default: asked twice on a terminal; empty for none)
    #[arg(long)]
    pub no_passphrase: bool,
}

pub async fn ssh_key(app: &App, args: SshKeyArgs) -> anyhow::Result<()> {
    match args.cmd {
        None => show(app, args.user.as_deref()).await,
        Some(SshKeyCmd::Show { user }) => show(app, user.as_deref()).await,
        Some(SshKeyCmd::Export(a)) => export(app, a).await,
        Some(SshKeyCmd::Rotate { user }) => rotate(app, &user).await,
        Some(SshKeyCmd::Push { user }) => push(app, &user).await,
    }
}

/// The id of the user named by `arg` (yourself when `None`) and a name for messages. Your own
/// login is recognised without listing the users, and an id goes to the core as it is, so that
/// the core says whether you may see that user's key.
async fn target_user(client: &Client, arg: Option<&str>) -> anyhow::Result<(i64, String)> {
    let me = client.whoami().await?;
    let Some(arg) = arg.map(str::trim) else {
        return Ok((me.id, me.login));
    };
    match resolve::parse_ref(arg) {
        resolve::Ref::Id(id) if id == me.id => Ok((me.id, me.login)),
        resolve::Ref::Id(id) => Ok((id, format!("user {id}"))),
        resolve::Ref::Name(login) if login == me.login => Ok((me.id, me.login)),
        resolve::Ref::Name(_) => {
            let users = client.users().await?;
            let u = resolve::find_user(&users, arg)?;
            Ok((u.id, u.login.clone()))
        }
    }
}

async fn show(app: &App, user: Option<&str>) -> anyhow::Result<()> {
    let s = app.session()?;
    let (id, login) = target_user(&s.client, user).await?;
    let key = s.client.ssh_key(id).await?;
    if s.json {
        return output::print_json(&key);
    }
    print_public(&login, &key);
    Ok(())
}

/// The key line first, so that `wmai ssh-key | head -1` is an `authorized_keys` line.
fn print_public(login: &str, key: &SshPublicKey) {
    out!("{}", key.public_key.trim_end());
    out!("Fingerprint: {} (key of {login}, made {})", key.fingerprint, output::time(key.created_at));
}

/// Where the passphrase of an exported key comes from; `None` exports it unencrypted.
fn export_passphrase(a: &ExportArgs) -> anyhow::Result<Option<String>> {
    if a.no_passphrase {
        return Ok(None);
    }
    if a.passphrase_stdin {
        let p = input::stdin_line("passphrase")?;
        if p.is_empty() {
            return Err(CliError::invalid("the passphrase is empty; use --no-passphrase for a key without one").into());
        }
        return Ok(Some(p));
    }
    if !input::interactive() {
        return Err(input::no_terminal("passphrase", "--passphrase-stdin or --no-passphrase"));
    }
    let p = input::prompt_new_secret(
        "Passphrase for the exported key (empty for none): ",
        "Repeat the passphrase: ",
        "passphrase",
        "--passphrase-stdin",
    )?;
    Ok((!p.is_empty()).then_some(p))
}

async fn export(app: &App, a: ExportArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    if let Some(path) = &a.output {
        files::check_destination(path, a.force)?;
    }
    let (id, login) = target_user(&s.client, a.user.as_deref()).await?;
    let passphrase = export_passphrase(&a)?;
    let key = s.client.export_ssh_key(id, &SshKeyExportRequest { passphrase }).await?;
    let mut text = key.private_key.clone();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let Some(path) = &a.output else {
        if s.json {
            return output::print_json(&key);
        }
        use std::io::Write as _;
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
        return Ok(());
    };
    files::write_secret(path, text.as_bytes(), a.force)?;
    if s.json {
        return output::print_json(&Exported::new(path, &login, &key));
    }
    out!(
        "Wrote the private SSH key of {login} to {} ({}).",
        path.display(),
        if key.encrypted { "protected by the passphrase" } else { "without a passphrase" }
    );
    Ok(())
}

/// `--json` of `ssh-key export -o FILE`: where the key went, without the key itself.
#[derive(serde::Serialize)]
struct Exported<'a> {
    file: &'a Path,
    user: &'a str,
    public_key: &'a str,
    encrypted: bool,
}

impl<'a> Exported<'a> {
    fn new(file: &'a Path, user: &'a str, key: &'a SshPrivateKey) -> Exported<'a> {
        Exported { file, user, public_key: &key.public_key, encrypted: key.encrypted }
    }
}

async fn rotate(app: &App, user: &str) -> anyhow::Result<()> {
    let s = app.session()?;
    let (id, login) = target_user(&s.client, Some(user)).await?;
    let key = s.client.rotate_ssh_key(id).await?;
    if s.json {
        return output::print_json(&key);
    }
    out!("Gave {login} a new SSH key pair; a task puts it on their instances and removes the old one there.");
    print_public(&login, &key);
    Ok(())
}

async fn push(app: &App, user: &str) -> anyhow::Result<()> {
    let s = app.session()?;
    let (id, login) = target_user(&s.client, Some(user)).await?;
    let task = s.client.push_ssh_key(id).await?;
    if s.json {
        return output::print_json(&task);
    }
    out!(
        "Handing {login}'s key over to their instances: task {} (follow it with `wmai tasks follow {}`).",
        task.id,
        task.id
    );
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum HostKeyCmd {
    /// Show the host key pinned for an instance, and a different one it offered since
    Show {
        #[arg(value_name = "INSTANCE_ID")]
        instance: i64,
    },
    /// Accept the different host key an instance offered (administrators)
    Accept {
        #[arg(value_name = "INSTANCE_ID")]
        instance: i64,
    },
}

pub async fn host_key(app: &App, cmd: HostKeyCmd) -> anyhow::Result<()> {
    let s = app.session()?;
    let key = match cmd {
        HostKeyCmd::Show { instance } => s.client.host_key(instance).await?,
        HostKeyCmd::Accept { instance } => s.client.accept_host_key(instance).await?,
    };
    if s.json {
        return output::print_json(&key);
    }
    output::print_table(output::properties(host_key_rows(&key)));
    if let Some(change) = &key.pending_change {
        out!();
        out!(
            "The instance offered a different host key ({}) on {}; connections are refused until an \
             administrator accepts it with `wmai host-key accept {}`.",
            change.fingerprint,
            output::time(change.offered_at),
            key.instance_id
        );
    }
    Ok(())
}

fn host_key_rows(k: &HostKey) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("instance", k.instance_id.to_string()),
        ("fingerprint", k.fingerprint.clone()),
        ("public key", k.public_key.clone()),
        ("first seen", output::time(k.first_seen_at)),
    ];
    if let Some(c) = &k.pending_change {
        rows.push(("offered instead", c.fingerprint.clone()));
        rows.push(("offered key", c.public_key.clone()));
        rows.push(("offered", output::time(c.offered_at)));
    }
    if let Some(by) = &k.accepted_by {
        rows.push(("accepted by", by.clone()));
    }
    if k.accepted_at.is_some() {
        rows.push(("accepted", output::time_opt(k.accepted_at)));
    }
    rows
}
