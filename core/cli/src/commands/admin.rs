//! `wmai admin`: maintenance of the core, its master key, backups.

use clap::Subcommand;
use wintermute_api::tasks::{MaintenanceRequest, Task};

use crate::follow;
use crate::output;
use crate::session::{App, Session};

use super::{backup, local_image};

#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Start a maintenance task, e.g. prune_history
    Maintenance {
        /// What to do, e.g. prune_history
        action: String,
        /// Follow the task until it ends (exit 10 if it failed, 11 if cancelled)
        #[arg(long)]
        follow: bool,
    },
    /// The master key: its store, its id, the data keys it wraps, a rotation under way
    Keys,
    /// Replace the master key online: a task re-wraps every data key with a new one
    RotateMasterKey {
        /// Follow the task until it ends (exit 10 if it failed, 11 if cancelled)
        #[arg(long)]
        follow: bool,
    },
    /// Download an encrypted backup of the whole core (database and keys) to a new file
    Backup(backup::BackupArgs),
    /// Restore a backup into this core, which must be fresh; you are logged out afterwards
    Restore(backup::RestoreArgs),
    /// Images of local providers: build one from Debian's packages, or import a disk image file
    #[command(subcommand)]
    LocalImage(local_image::LocalImageCmd),
}

pub async fn run(app: &App, cmd: AdminCmd) -> anyhow::Result<()> {
    match cmd {
        AdminCmd::Maintenance { action, follow } => {
            let s = app.session()?;
            let task = s.client.start_maintenance(&MaintenanceRequest { action }).await?;
            started(&s, task, follow).await
        }
        AdminCmd::Keys => keys(app).await,
        AdminCmd::RotateMasterKey { follow } => {
            let s = app.session()?;
            let task = s.client.rotate_master_key().await?;
            started(&s, task, follow).await
        }
        AdminCmd::Backup(a) => backup::backup(app, a).await,
        AdminCmd::Restore(a) => backup::restore(app, a).await,
        AdminCmd::LocalImage(c) => local_image::run(app, c).await,
    }
}

/// After starting a task: follow it, or say how to.
pub(super) async fn started(s: &Session, task: Task, follow: bool) -> anyhow::Result<()> {
    if follow {
        // With --json only the final task is printed, as by `wmai tasks follow`.
        if !s.json {
            out!("Started task {}: {}", task.id, task.title);
        }
        return follow::follow(s, task.id).await;
    }
    if s.json {
        return output::print_json(&task);
    }
    out!("Started task {}: {}", task.id, task.title);
    out!("Follow it with `wmai tasks follow {}`.", task.id);
    Ok(())
}

async fn keys(app: &App) -> anyhow::Result<()> {
    let s = app.session()?;
    let k = s.client.key_status().await?;
    if s.json {
        return output::print_json(&k);
    }
    output::print_table(output::properties(vec![
        ("store", k.store.clone()),
        ("store writable", output::yes_no(k.store_writable).to_owned()),
        ("current key", k.current_key_id.clone()),
        ("previous keys", output::list(&k.previous_key_ids)),
        ("data keys", k.data_keys.to_string()),
        ("on previous keys", k.data_keys_on_previous.to_string()),
        ("rotation in progress", output::yes_no(k.rotation_in_progress).to_owned()),
    ]));
    if k.rotation_in_progress {
        out!();
        out!("A rotation is under way: see `wmai tasks --all --state running`.");
    }
    Ok(())
}
