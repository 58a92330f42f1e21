//! `wmai audit`: the audit log, newest first.

use clap::Args;
use wintermute_api::audit::AuditEntry;
use wintermute_api::client::AuditQuery;

use crate::output;
use crate::session::App;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this action, e.g. auth.login
    #[arg(long)]
    pub action: Option<String>,
    /// Only actions of this login
    #[arg(long, value_name = "LOGIN")]
    pub actor: Option<String>,
    /// At most this many entries
    #[arg(long)]
    pub limit: Option<u32>,
    /// Only entries older than this id (the `next_before` of the previous page)
    #[arg(long, value_name = "ID")]
    pub before: Option<i64>,
}

pub async fn run(app: &App, a: AuditArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    let q = AuditQuery { action: a.action, actor: a.actor, limit: a.limit, before: a.before };
    let page = s.client.audit(&q).await?;
    if s.json {
        return output::print_json(&page);
    }
    let mut t = output::table(["TIME", "ACTOR", "ADDRESS", "ACTION", "TARGET", "OUTCOME"]);
    for e in &page.items {
        t.add_row(vec![
            output::time(e.at),
            actor(e),
            e.address.clone().unwrap_or_else(|| "-".to_owned()),
            e.action.clone(),
            target(e),
            e.outcome.as_str().to_owned(),
        ]);
    }
    output::print_table(t);
    if let Some(before) = page.next_before {
        eprintln!("More: wmai audit --before {before}");
    }
    Ok(())
}

fn actor(e: &AuditEntry) -> String {
    match (&e.actor_login, e.actor_id) {
        (Some(login), _) => login.clone(),
        (None, Some(id)) => format!("#{id}"),
        (None, None) => "-".to_owned(),
    }
}

fn target(e: &AuditEntry) -> String {
    match (&e.target_kind, e.target_id) {
        (Some(k), Some(id)) => format!("{k} {id}"),
        (Some(k), None) => k.clone(),
        (None, Some(id)) => format!("#{id}"),
        (None, None) => "-".to_owned(),
    }
}
