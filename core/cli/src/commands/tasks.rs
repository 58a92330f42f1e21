//! `wmai tasks`: list, show, cancel, follow.

use clap::{Args, Subcommand};
use serde_json::json;
use wintermute_api::client::{Client, TaskQuery};
use wintermute_api::tasks::{Task, TaskLogLine, TaskState};

use crate::follow;
use crate::output;
use crate::session::App;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TasksArgs {
    #[command(flatten)]
    pub list: ListArgs,
    #[command(subcommand)]
    pub cmd: Option<TasksCmd>,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Include other users' tasks (where you may see them)
    #[arg(long)]
    pub all: bool,
    /// Only tasks in this state
    #[arg(long, value_parser = parse_state)]
    pub state: Option<TaskState>,
    /// At most this many tasks
    #[arg(long)]
    pub limit: Option<u32>,
    /// Only tasks older than this id (the `next_before` of the previous page)
    #[arg(long, value_name = "ID")]
    pub before: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum TasksCmd {
    /// List tasks, newest first (the default)
    List(ListArgs),
    /// Show a task and its log
    Show { id: i64 },
    /// Ask a task to stop
    Cancel { id: i64 },
    /// Print a task's log and progress until it ends (exit 10 if it failed, 11 if cancelled)
    Follow { id: i64 },
}

pub fn parse_state(s: &str) -> Result<TaskState, String> {
    TaskState::parse(s.trim()).ok_or_else(|| {
        let valid: Vec<&str> = TaskState::ALL.iter().map(|t| t.as_str()).collect();
        format!("unknown task state {s:?}; valid: {}", valid.join(", "))
    })
}

/// The query of `wmai tasks`: only the caller's tasks unless `--all`.
pub fn query(a: &ListArgs) -> TaskQuery {
    TaskQuery { state: a.state.map(|s| s.as_str().to_owned()), mine: Some(!a.all), limit: a.limit, before: a.before }
}

pub async fn run(app: &App, args: TasksArgs) -> anyhow::Result<()> {
    match args.cmd {
        None => list(app, &args.list).await,
        Some(TasksCmd::List(a)) => list(app, &a).await,
        Some(TasksCmd::Show { id }) => show(app, id).await,
        Some(TasksCmd::Cancel { id }) => cancel(app, id).await,
        Some(TasksCmd::Follow { id }) => {
            let s = app.session()?;
            follow::follow(&s, id).await
        }
    }
}

async fn list(app: &App, a: &ListArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    let page = s.client.tasks(&query(a)).await?;
    if s.json {
        return output::print_json(&page);
    }
    let mut t = output::table(["ID", "STATE", "PROGRESS", "TITLE", "OWNER", "CREATED", "MESSAGE"]);
    for task in &page.items {
        t.add_row(vec![
            task.id.to_string(),
            state_text(task),
            format!("{}%", output::percent(task.progress)),
            task.title.clone(),
            task.owner_login.clone(),
            output::time(task.created_at),
            task.message.clone(),
        ]);
    }
    output::print_table(t);
    if let Some(before) = page.next_before {
        eprintln!("More: wmai tasks --before {before}");
    }
    Ok(())
}

fn state_text(t: &Task) -> String {
    if t.cancel_requested && !t.state.is_finished() {
        format!("{} (cancelling)", t.state)
    } else {
        t.state.to_string()
    }
}

async fn show(app: &App, id: i64) -> anyhow::Result<()> {
    let s = app.session()?;
    let task = s.client.task(id).await?;
    let log = whole_log(&s.client, id).await?;
    if s.json {
        return output::print_json(&json!({ "task": task, "log": log }));
    }
    print_task(&task);
    if !log.is_empty() {
        out!();
        for l in &log {
            out!("{}", follow::format_line(l));
        }
    }
    Ok(())
}

/// All log lines of a task, however the core pages them.
async fn whole_log(client: &Client, id: i64) -> anyhow::Result<Vec<TaskLogLine>> {
    let mut log: Vec<TaskLogLine> = Vec::new();
    // Bounded, in case a core keeps answering the same lines.
    for _ in 0..100_000 {
        let after = log.last().map(|l| l.seq);
        let page = client.task_log(id, after).await?;
        let fresh: Vec<TaskLogLine> = page.into_iter().filter(|l| after.is_none_or(|a| l.seq > a)).collect();
        if fresh.is_empty() {
            break;
        }
        log.extend(fresh);
    }
    Ok(log)
}

pub fn print_task(t: &Task) {
    let target = match (&t.target_kind, t.target_id) {
        (Some(k), Some(id)) => format!("{k} {id}"),
        (Some(k), None) => k.clone(),
        (None, Some(id)) => id.to_string(),
        (None, None) => "-".to_owned(),
    };
    output::print_table(output::properties(vec![
        ("id", t.id.to_string()),
        ("title", t.title.clone()),
        ("kind", t.kind.clone()),
        ("state", state_text(t)),
        ("progress", format!("{}%", output::percent(t.progress))),
        ("message", t.message.clone()),
        ("owner", t.owner_login.clone()),
        ("target", target),
        ("attempts", t.attempts.to_string()),
        ("created", output::time(t.created_at)),
        ("started", output::time_opt(t.started_at)),
        ("finished", output::time_opt(t.finished_at)),
    ]));
}

async fn cancel(app: &App, id: i64) -> anyhow::Result<()> {
    let s = app.session()?;
    let task = s.client.cancel_task(id).await?;
    if s.json {
        return output::print_json(&task);
    }
    if task.state.is_finished() {
        out!("Task {id} is {}.", task.state);
    } else {
        out!("Asked task {id} to stop; follow it with `wmai tasks follow {id}`.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_or_list_the_valid_ones() {
        assert_eq!(parse_state("running").unwrap(), TaskState::Running);
        let e = parse_state("done").unwrap_err();
        assert!(e.contains("succeeded") && e.contains("cancelled"), "{e}");
    }

    #[test]
    fn only_my_tasks_by_default() {
        let a = ListArgs { all: false, state: Some(TaskState::Failed), limit: Some(5), before: None };
        let q = query(&a);
        assert_eq!(q.mine, Some(true));
        assert_eq!(q.state.as_deref(), Some("failed"));
        assert_eq!(q.limit, Some(5));
        let q = query(&ListArgs { all: true, ..a });
        assert_eq!(q.mine, Some(false));
    }
}
