//! Who is calling: an authenticated user, from which address.

use std::collections::BTreeSet;

use wintermute_api::users::Permission;

#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub login: String,
    pub is_admin: bool,
    pub permissions: BTreeSet<Permission>,
    pub must_change_password: bool,
    /// The session or API token the call came with.
    pub session_id: i64,
    /// The client's address, for the audit log.
    pub address: Option<String>,
}

impl Caller {
    /// Administrators hold every permission.
    pub fn has(&self, p: Permission) -> bool {
        self.is_admin || self.permissions.contains(&p)
    }

    pub fn actor(&self) -> Actor {
        Actor { id: Some(self.user_id), login: Some(self.login.clone()), address: self.address.clone() }
    }
}

/// The subject of an audit entry: a user, or nobody yet (a failed login), or the core itself.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub id: Option<i64>,
    pub login: Option<String>,
    pub address: Option<String>,
}

impl Actor {
    pub fn system() -> Actor {
        Actor { id: None, login: Some("(core)".into()), address: None }
    }

    pub fn anonymous(login: Option<&str>, address: Option<&str>) -> Actor {
        Actor { id: None, login: login.map(str::to_owned), address: address.map(str::to_owned) }
    }
}
