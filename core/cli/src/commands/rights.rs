//! `wmai rights` (who may do what with an object) and `wmai objects`.

use clap::{Args, Subcommand};
use wintermute_api::rights::{ObjectKind, ObjectRight, ObjectSecurity, RightChange};

use crate::exit::CliError;
use crate::output;
use crate::resolve;
use crate::session::App;

#[derive(Debug, Subcommand)]
pub enum RightsCmd {
    /// Show the owner and the group rights of an object
    Show {
        #[arg(value_parser = parse_kind)]
        kind: ObjectKind,
        id: i64,
    },
    /// Grant a right on an object to a group
    Grant(ChangeArgs),
    /// Revoke a right on an object from a group
    Revoke(ChangeArgs),
}

#[derive(Debug, Args)]
pub struct ChangeArgs {
    #[arg(value_parser = parse_kind)]
    pub kind: ObjectKind,
    pub id: i64,
    /// Group id or name
    pub group: String,
    #[arg(value_parser = parse_right)]
    pub right: ObjectRight,
}

#[derive(Debug, Args)]
pub struct ObjectsArgs {
    /// Only objects of this kind
    #[arg(long, value_parser = parse_kind)]
    pub kind: Option<ObjectKind>,
}

fn names<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str) -> String {
    all.iter().map(|x| name(*x)).collect::<Vec<_>>().join(", ")
}

pub fn parse_kind(s: &str) -> Result<ObjectKind, String> {
    ObjectKind::parse(s.trim())
        .ok_or_else(|| format!("unknown object kind {s:?}; valid: {}", names(&ObjectKind::ALL, ObjectKind::as_str)))
}

pub fn parse_right(s: &str) -> Result<ObjectRight, String> {
    ObjectRight::parse(s.trim())
        .ok_or_else(|| format!("unknown right {s:?}; valid: {}", names(&ObjectRight::ALL, ObjectRight::as_str)))
}

/// A right that exists but makes no sense on this kind of object is a usage error.
pub fn check_right_for_kind(kind: ObjectKind, right: ObjectRight) -> Result<(), CliError> {
    if kind.rights().contains(&right) {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "the right {right} does not apply to objects of kind {kind}; valid: {}",
        names(kind.rights(), ObjectRight::as_str)
    )))
}

pub async fn run(app: &App, cmd: RightsCmd) -> anyhow::Result<()> {
    match cmd {
        RightsCmd::Show { kind, id } => {
            let s = app.session()?;
            let sec = s.client.object_security(kind, id).await?;
            print_security(s.json, &sec)
        }
        RightsCmd::Grant(a) => change(app, a, true).await,
        RightsCmd::Revoke(a) => change(app, a, false).await,
    }
}

async fn change(app: &App, a: ChangeArgs, grant: bool) -> anyhow::Result<()> {
    check_right_for_kind(a.kind, a.right)?;
    let s = app.session()?;
    let group = resolve::group(&s.client, &a.group).await?;
    let change = RightChange { object_kind: a.kind, object_id: a.id, group_id: group.id, right: a.right };
    let sec = if grant { s.client.grant(&change).await? } else { s.client.revoke(&change).await? };
    print_security(s.json, &sec)
}

fn print_security(json: bool, sec: &ObjectSecurity) -> anyhow::Result<()> {
    if json {
        return output::print_json(sec);
    }
    out!("{} {} {:?}, owned by {}", sec.object_kind, sec.object_id, sec.name, sec.owner.login);
    out!("Rights of this kind: {}", output::list(sec.available_rights.iter().map(|r| r.as_str())));
    let mut t = output::table(["GROUP ID", "GROUP", "RIGHTS"]);
    for g in &sec.groups {
        t.add_row(vec![
            g.group_id.to_string(),
            g.group_name.clone(),
            output::list(g.rights.iter().map(|r| r.as_str())),
        ]);
    }
    output::print_table(t);
    Ok(())
}

pub async fn objects(app: &App, args: ObjectsArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    let objects = s.client.objects(args.kind).await?;
    if s.json {
        return output::print_json(&objects);
    }
    let mut t = output::table(["KIND", "ID", "NAME", "OWNER", "MY RIGHTS"]);
    for o in &objects {
        t.add_row(vec![
            o.object_kind.to_string(),
            o.object_id.to_string(),
            o.name.clone(),
            o.owner.login.clone(),
            output::list(o.my_rights.iter().map(|r| r.as_str())),
        ]);
    }
    output::print_table(t);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_rights_parse_or_list_the_valid_ones() {
        assert_eq!(parse_kind("instance").unwrap(), ObjectKind::Instance);
        let e = parse_kind("vm").unwrap_err();
        assert!(e.contains("provider") && e.contains("template"), "{e}");
        assert_eq!(parse_right("ssh_console").unwrap(), ObjectRight::SshConsole);
        let e = parse_right("root").unwrap_err();
        assert!(e.contains("view") && e.contains("import_volumes"), "{e}");
    }

    #[test]
    fn rights_must_fit_the_kind() {
        assert!(check_right_for_kind(ObjectKind::Instance, ObjectRight::SshConsole).is_ok());
        let e = check_right_for_kind(ObjectKind::Image, ObjectRight::SshConsole).unwrap_err();
        assert_eq!(e.exit, crate::exit::Exit::Usage);
        assert!(e.message.contains("view, change"), "{}", e.message);
    }
}
