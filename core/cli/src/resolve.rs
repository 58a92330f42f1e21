//! Turning `<USER>` (id or login) and `<GROUP>` (id or name) arguments into ids.

use wintermute_api::client::Client;
use wintermute_api::users::{Group, User};

use crate::exit::CliError;

/// A numeric argument is an id; anything else a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref<'a> {
    Id(i64),
    Name(&'a str),
}

pub fn parse_ref(arg: &str) -> Ref<'_> {
    let arg = arg.trim();
    match arg.parse::<i64>() {
        Ok(id) if !arg.starts_with('+') => Ref::Id(id),
        _ => Ref::Name(arg),
    }
}

/// The user named by `arg` in `users`: an id, a login, or a login differing only in case when
/// that is unambiguous.
pub fn find_user<'u>(users: &'u [User], arg: &str) -> Result<&'u User, CliError> {
    let found = match parse_ref(arg) {
        Ref::Id(id) => users.iter().find(|u| u.id == id),
        Ref::Name(login) => by_name(users, login, |u| u.login.as_str()),
    };
    found.ok_or_else(|| CliError::not_found(format!("no user {arg:?}")))
}

/// The group named by `arg` in `groups`: an id or a name (case-insensitive when unambiguous).
pub fn find_group<'g>(groups: &'g [Group], arg: &str) -> Result<&'g Group, CliError> {
    let found = match parse_ref(arg) {
        Ref::Id(id) => groups.iter().find(|g| g.id == id),
        Ref::Name(name) => by_name(groups, name, |g| g.name.as_str()),
    };
    found.ok_or_else(|| CliError::not_found(format!("no group {arg:?}")))
}

fn by_name<'a, T>(items: &'a [T], name: &str, key: impl Fn(&T) -> &str) -> Option<&'a T> {
    if let Some(exact) = items.iter().find(|i| key(i) == name) {
        return Some(exact);
    }
    let mut folded = items.iter().filter(|i| key(i).eq_ignore_ascii_case(name));
    match (folded.next(), folded.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}

/// The id of the user named by `arg`; asks the core for the user list only for a login.
pub async fn user_id(client: &Client, arg: &str) -> anyhow::Result<i64> {
    match parse_ref(arg) {
        Ref::Id(id) => Ok(id),
        Ref::Name(_) => {
            let users = client.users().await?;
            Ok(find_user(&users, arg)?.id)
        }
    }
}

/// The ids of several users, with one request for the user list.
pub async fn user_ids(client: &Client, args: &[String]) -> anyhow::Result<Vec<i64>> {
    if args.iter().all(|a| matches!(parse_ref(a), Ref::Id(_))) {
        return Ok(args.iter().filter_map(|a| if let Ref::Id(id) = parse_ref(a) { Some(id) } else { None }).collect());
    }
    let users = client.users().await?;
    let mut ids = Vec::with_capacity(args.len());
    for a in args {
        let id = match parse_ref(a) {
            Ref::Id(id) => id,
            Ref::Name(_) => find_user(&users, a)?.id,
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// The group named by `arg`, fetched with the group list.
pub async fn group(client: &Client, arg: &str) -> anyhow::Result<Group> {
    let groups = client.groups().await?;
    Ok(find_group(&groups, arg)?.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use wintermute_api::users::UserRef;

    fn user(id: i64, login: &str) -> User {
        User {
            id,
            login: login.into(),
            first_name: String::new(),
            last_name: String::new(),
            email: String::new(),
            time_zone: "UTC".into(),
            enabled: true,
            is_admin: false,
            must_change_password: false,
            permissions: vec![],
            groups: vec![],
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn group(id: i64, name: &str) -> Group {
        Group {
            id,
            name: name.into(),
            description: String::new(),
            members: vec![UserRef { id: 1, login: "admin".into() }],
            created_at: Utc::now(),
        }
    }

    #[test]
    fn refs() {
        assert_eq!(parse_ref("42"), Ref::Id(42));
        assert_eq!(parse_ref(" 42 "), Ref::Id(42));
        assert_eq!(parse_ref("-3"), Ref::Id(-3));
        assert_eq!(parse_ref("+3"), Ref::Name("+3"));
        assert_eq!(parse_ref("alice"), Ref::Name("alice"));
        assert_eq!(parse_ref("4x"), Ref::Name("4x"));
        assert_eq!(parse_ref("99999999999999999999"), Ref::Name("99999999999999999999"));
    }

    #[test]
    fn users_by_id_login_and_case() {
        let users = vec![user(1, "admin"), user(2, "Alice"), user(3, "bob"), user(4, "BOB")];
        assert_eq!(find_user(&users, "2").unwrap().login, "Alice");
        assert_eq!(find_user(&users, "admin").unwrap().id, 1);
        assert_eq!(find_user(&users, "alice").unwrap().id, 2, "unique case-insensitive match");
        assert_eq!(find_user(&users, "bob").unwrap().id, 3, "exact match wins");
        assert_eq!(find_user(&users, "BOB").unwrap().id, 4);
        assert!(find_user(&users, "Bob").is_err(), "ambiguous");
        let e = find_user(&users, "carol").unwrap_err();
        assert_eq!(e.exit, crate::exit::Exit::NotFound);
        assert!(find_user(&users, "9").is_err());
    }

    #[test]
    fn groups_by_id_and_name() {
        let groups = vec![group(1, "ops"), group(2, "Dev Team")];
        assert_eq!(find_group(&groups, "1").unwrap().name, "ops");
        assert_eq!(find_group(&groups, "dev team").unwrap().id, 2);
        assert_eq!(find_group(&groups, "Dev Team").unwrap().id, 2);
        assert_eq!(find_group(&groups, "qa").unwrap_err().exit, crate::exit::Exit::NotFound);
    }
}
