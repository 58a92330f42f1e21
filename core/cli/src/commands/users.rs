//! `wmai users`: list, show, create, update, delete, permissions.

use clap::{Args, Subcommand};
use wintermute_api::users::{NewUser, Permission, PermissionSet, User, UserPatch};

use crate::exit::CliError;
use crate::input;
use crate::output;
use crate::resolve;
use crate::session::App;

#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub cmd: Option<UsersCmd>,
}

#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    /// List users (the default)
    List,
    /// Show one user
    Show {
        /// User id or login
        user: String,
    },
    /// Create a user with a temporary password
    Create(CreateArgs),
    /// Change a user's properties
    Update(UpdateArgs),
    /// Delete a user
    Delete {
        /// User id or login
        user: String,
    },
    /// Replace a user's global permissions
    Permissions {
        /// User id or login
        user: String,
        /// Comma-separated permissions, or `none`
        #[arg(value_parser = parse_permissions, value_name = "PERM,PERM,...|none")]
        permissions: PermissionList,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    pub login: String,
    /// First name
    #[arg(long)]
    pub first_name: Option<String>,
    /// Last name
    #[arg(long)]
    pub last_name: Option<String>,
    /// E-mail address
    #[arg(long)]
    pub email: Option<String>,
    /// IANA time zone, e.g. Europe/Berlin (default: the core's WMAIS_DEFAULT_TIMEZONE)
    #[arg(long)]
    pub time_zone: Option<String>,
    /// Make the user an administrator
    #[arg(long)]
    pub admin: bool,
    /// Create the account disabled
    #[arg(long)]
    pub disabled: bool,
    /// Read the temporary password from the first line of stdin (default: generate and print one)
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// User id or login
    pub user: String,
    /// Rename the user
    #[arg(long, value_name = "NEW_LOGIN")]
    pub login: Option<String>,
    /// First name
    #[arg(long)]
    pub first_name: Option<String>,
    /// Last name
    #[arg(long)]
    pub last_name: Option<String>,
    /// E-mail address
    #[arg(long)]
    pub email: Option<String>,
    /// IANA time zone, e.g. Europe/Berlin
    #[arg(long)]
    pub time_zone: Option<String>,
    /// Enable the account
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Disable the account
    #[arg(long)]
    pub disable: bool,
    /// Make the user an administrator
    #[arg(long, conflicts_with = "no_admin")]
    pub admin: bool,
    /// Take administrator status away
    #[arg(long)]
    pub no_admin: bool,
    /// Set a new password read from the first line of stdin (temporary for other users)
    #[arg(long)]
    pub password_stdin: bool,
}

/// A parsed `perm,perm,...|none` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionList(pub Vec<Permission>);

fn valid_permissions() -> String {
    Permission::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
}

/// Parses `perm,perm,...` or `none` (also an empty string) into a sorted set.
pub fn parse_permissions(s: &str) -> Result<PermissionList, String> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("none") {
        return Ok(PermissionList(Vec::new()));
    }
    let mut out = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let p = Permission::parse(name)
            .ok_or_else(|| format!("unknown permission {name:?}; valid: {}, or none", valid_permissions()))?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out.sort();
    Ok(PermissionList(out))
}

pub async fn run(app: &App, args: UsersArgs) -> anyhow::Result<()> {
    match args.cmd.unwrap_or(UsersCmd::List) {
        UsersCmd::List => list(app).await,
        UsersCmd::Show { user } => show(app, &user).await,
        UsersCmd::Create(a) => create(app, a).await,
        UsersCmd::Update(a) => update(app, a).await,
        UsersCmd::Delete { user } => delete(app, &user).await,
        UsersCmd::Permissions { user, permissions } => set_permissions(app, &user, permissions).await,
    }
}

async fn list(app: &App) -> anyhow::Result<()> {
    let s = app.session()?;
    let users = s.client.users().await?;
    if s.json {
        return output::print_json(&users);
    }
    let mut t = output::table(["ID", "LOGIN", "NAME", "EMAIL", "ADMIN", "ENABLED", "PERMISSIONS"]);
    for u in &users {
        t.add_row(vec![
            u.id.to_string(),
            u.login.clone(),
            format!("{} {}", u.first_name, u.last_name).trim().to_owned(),
            u.email.clone(),
            output::yes_no(u.is_admin).to_owned(),
            output::yes_no(u.enabled).to_owned(),
            output::list(u.permissions.iter().map(|p| p.as_str())),
        ]);
    }
    output::print_table(t);
    Ok(())
}

async fn show(app: &App, arg: &str) -> anyhow::Result<()> {
    let s = app.session()?;
    let id = resolve::user_id(&s.client, arg).await?;
    let user = s.client.user(id).await?;
    if s.json {
        return output::print_json(&user);
    }
    print_user(&s.client, &user).await;
    Ok(())
}

/// A user's properties with the names of their groups (ids when the groups cannot be listed).
async fn print_user(client: &wintermute_api::client::Client, u: &User) {
    let mut rows = super::auth::user_rows(u);
    let groups = match client.groups().await {
        Ok(all) => output::list(
            u.groups
                .iter()
                .map(|id| all.iter().find(|g| g.id == *id).map(|g| g.name.clone()).unwrap_or_else(|| id.to_string())),
        ),
        Err(_) => output::list(u.groups.iter().map(i64::to_string)),
    };
    rows.push(("groups", groups));
    output::print_table(output::properties(rows));
}

async fn create(app: &App, a: CreateArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    let login = a.login.trim().to_owned();
    if login.is_empty() {
        return Err(CliError::usage("the login is empty").into());
    }
    let (password, generated) = if a.password_stdin {
        (input::password(true, "", "password", "--password-stdin")?, false)
    } else {
        (input::temporary_password(20, &login), true)
    };
    let new = NewUser {
        login,
        password: password.clone(),
        first_name: a.first_name.unwrap_or_default(),
        last_name: a.last_name.unwrap_or_default(),
        email: a.email.unwrap_or_default(),
        time_zone: a.time_zone,
        enabled: !a.disabled,
        is_admin: a.admin,
    };
    let user = s.client.create_user(&new).await?;
    if s.json {
        return output::print_json(&Created {
            user: &user,
            temporary_password: generated.then_some(password.as_str()),
        });
    }
    out!("Created user {} (id {}).", user.login, user.id);
    if generated {
        out!("Temporary password (shown only now): {password}");
        out!("The user must change it at first login.");
    }
    Ok(())
}

/// `--json` of `users create`: the user, and the generated password when there is one.
#[derive(serde::Serialize)]
struct Created<'a> {
    #[serde(flatten)]
    user: &'a User,
    #[serde(skip_serializing_if = "Option::is_none")]
    temporary_password: Option<&'a str>,
}

async fn update(app: &App, a: UpdateArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    let password =
        if a.password_stdin { Some(input::password(true, "", "password", "--password-stdin")?) } else { None };
    let patch = UserPatch {
        login: a.login,
        password,
        first_name: a.first_name,
        last_name: a.last_name,
        email: a.email,
        time_zone: a.time_zone,
        enabled: flag_pair(a.enable, a.disable),
        is_admin: flag_pair(a.admin, a.no_admin),
    };
    if patch == UserPatch::default() {
        return Err(
            CliError::usage("nothing to change: give at least one option (see `wmai users update --help`)").into()
        );
    }
    let id = resolve::user_id(&s.client, &a.user).await?;
    let user = s.client.update_user(id, &patch).await?;
    if s.json {
        return output::print_json(&user);
    }
    out!("Updated user {} (id {}).", user.login, user.id);
    Ok(())
}

/// `--x` / `--no-x` (clap keeps them exclusive) as an optional change.
fn flag_pair(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (false, true) => Some(false),
        (false, false) => None,
    }
}

async fn delete(app: &App, arg: &str) -> anyhow::Result<()> {
    let s = app.session()?;
    let id = resolve::user_id(&s.client, arg).await?;
    s.client.delete_user(id).await?;
    super::done(s.json, format!("Deleted user {arg} (id {id})."));
    Ok(())
}

async fn set_permissions(app: &App, arg: &str, perms: PermissionList) -> anyhow::Result<()> {
    let s = app.session()?;
    let id = resolve::user_id(&s.client, arg).await?;
    let user = s.client.set_permissions(id, &PermissionSet { permissions: perms.0 }).await?;
    if s.json {
        return output::print_json(&user);
    }
    out!("Permissions of {}: {}", user.login, output::list(user.permissions.iter().map(|p| p.as_str())));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_lists() {
        assert_eq!(parse_permissions("none").unwrap().0, vec![]);
        assert_eq!(parse_permissions("NONE").unwrap().0, vec![]);
        assert_eq!(parse_permissions("").unwrap().0, vec![]);
        assert_eq!(
            parse_permissions("view_logs, create_user,view_logs").unwrap().0,
            vec![Permission::CreateUser, Permission::ViewLogs]
        );
        let e = parse_permissions("create_user,fly").unwrap_err();
        assert!(e.contains("\"fly\"") && e.contains("control_tasks"), "{e}");
    }

    #[test]
    fn flag_pairs() {
        assert_eq!(flag_pair(false, false), None);
        assert_eq!(flag_pair(true, false), Some(true));
        assert_eq!(flag_pair(false, true), Some(false));
    }
}
