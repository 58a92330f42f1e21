//! `wmai groups`: list, create, add-member, remove-member, delete.

use clap::{Args, Subcommand};
use wintermute_api::users::{Group, GroupPatch, NewGroup};

use crate::output;
use crate::resolve::{self, parse_ref, Ref};
use crate::session::App;

#[derive(Debug, Args)]
pub struct GroupsArgs {
    #[command(subcommand)]
    pub cmd: Option<GroupsCmd>,
}

#[derive(Debug, Subcommand)]
pub enum GroupsCmd {
    /// List groups with their members (the default)
    List,
    /// Create a group
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Initial members: comma-separated logins or ids
        #[arg(long, value_delimiter = ',', value_name = "LOGIN,LOGIN,...")]
        members: Vec<String>,
    },
    /// Add a user to a group
    AddMember {
        /// Group id or name
        group: String,
        /// User id or login
        user: String,
    },
    /// Remove a user from a group
    RemoveMember {
        /// Group id or name
        group: String,
        /// User id or login
        user: String,
    },
    /// Delete a group
    Delete {
        /// Group id or name
        group: String,
    },
}

pub async fn run(app: &App, args: GroupsArgs) -> anyhow::Result<()> {
    match args.cmd.unwrap_or(GroupsCmd::List) {
        GroupsCmd::List => list(app).await,
        GroupsCmd::Create { name, description, members } => create(app, name, description, members).await,
        GroupsCmd::AddMember { group, user } => add_member(app, &group, &user).await,
        GroupsCmd::RemoveMember { group, user } => remove_member(app, &group, &user).await,
        GroupsCmd::Delete { group } => delete(app, &group).await,
    }
}

async fn list(app: &App) -> anyhow::Result<()> {
    let s = app.session()?;
    let groups = s.client.groups().await?;
    if s.json {
        return output::print_json(&groups);
    }
    let mut t = output::table(["ID", "NAME", "DESCRIPTION", "MEMBERS"]);
    for g in &groups {
        t.add_row(vec![g.id.to_string(), g.name.clone(), g.description.clone(), members(g)]);
    }
    output::print_table(t);
    Ok(())
}

fn members(g: &Group) -> String {
    output::list(g.members.iter().map(|m| m.login.as_str()))
}

fn print_group(json: bool, verb: &str, g: &Group) -> anyhow::Result<()> {
    if json {
        return output::print_json(g);
    }
    out!("{verb} group {} (id {}); members: {}", g.name, g.id, members(g));
    Ok(())
}

async fn create(app: &App, name: String, description: String, members: Vec<String>) -> anyhow::Result<()> {
    let s = app.session()?;
    let members: Vec<String> = members.into_iter().map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()).collect();
    let members = if members.is_empty() { Vec::new() } else { resolve::user_ids(&s.client, &members).await? };
    let g = s.client.create_group(&NewGroup { name, description, members }).await?;
    print_group(s.json, "Created", &g)
}

async fn add_member(app: &App, group: &str, user: &str) -> anyhow::Result<()> {
    let s = app.session()?;
    let g = resolve::group(&s.client, group).await?;
    let uid = match g.members.iter().find(|m| matches_member(m, user)) {
        Some(m) => m.id,
        None => resolve::user_id(&s.client, user).await?,
    };
    let mut ids: Vec<i64> = g.members.iter().map(|m| m.id).collect();
    if ids.contains(&uid) {
        if !s.json {
            eprintln!("note: {user} is already a member of {}", g.name);
        }
        return print_group(s.json, "Unchanged", &g);
    }
    ids.push(uid);
    let g = s.client.update_group(g.id, &GroupPatch { members: Some(ids), ..GroupPatch::default() }).await?;
    print_group(s.json, "Updated", &g)
}

async fn remove_member(app: &App, group: &str, user: &str) -> anyhow::Result<()> {
    let s = app.session()?;
    let g = resolve::group(&s.client, group).await?;
    let uid = match g.members.iter().find(|m| matches_member(m, user)) {
        Some(m) => m.id,
        // Not a member: still tell a typo (exit 5) from a user who simply is not in the group.
        None => resolve::user_id(&s.client, user).await?,
    };
    if !g.members.iter().any(|m| m.id == uid) {
        if !s.json {
            eprintln!("note: {user} is not a member of {}", g.name);
        }
        return print_group(s.json, "Unchanged", &g);
    }
    let ids: Vec<i64> = g.members.iter().map(|m| m.id).filter(|id| *id != uid).collect();
    let g = s.client.update_group(g.id, &GroupPatch { members: Some(ids), ..GroupPatch::default() }).await?;
    print_group(s.json, "Updated", &g)
}

/// Whether `arg` (id or exact login) names this member.
fn matches_member(m: &wintermute_api::users::UserRef, arg: &str) -> bool {
    match parse_ref(arg) {
        Ref::Id(id) => m.id == id,
        Ref::Name(login) => m.login == login,
    }
}

async fn delete(app: &App, group: &str) -> anyhow::Result<()> {
    let s = app.session()?;
    let g = resolve::group(&s.client, group).await?;
    s.client.delete_group(g.id).await?;
    super::done(s.json, format!("Deleted group {} (id {}).", g.name, g.id));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wintermute_api::users::UserRef;

    #[test]
    fn members_match_by_id_or_login() {
        let m = UserRef { id: 7, login: "alice".into() };
        assert!(matches_member(&m, "7"));
        assert!(matches_member(&m, "alice"));
        assert!(!matches_member(&m, "8"));
        assert!(!matches_member(&m, "bob"));
    }
}
