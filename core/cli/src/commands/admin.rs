//! `wmai admin`: maintenance of the core.

use clap::Subcommand;
use wintermute_api::tasks::MaintenanceRequest;

use crate::follow;
use crate::output;
use crate::session::App;

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
}

pub async fn run(app: &App, cmd: AdminCmd) -> anyhow::Result<()> {
    match cmd {
        AdminCmd::Maintenance { action, follow } => {
            let s = app.session()?;
            let task = s.client.start_maintenance(&MaintenanceRequest { action }).await?;
            if follow {
                // With --json only the final task is printed, as by `wmai tasks follow`.
                if !s.json {
                    out!("Started task {}: {}", task.id, task.title);
                }
                return follow::follow(&s, task.id).await;
            }
            if s.json {
                return output::print_json(&task);
            }
            out!("Started task {}: {}", task.id, task.title);
            out!("Follow it with `wmai tasks follow {}`.", task.id);
            Ok(())
        }
    }
}
