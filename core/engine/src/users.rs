//! User accounts (manual 6.5.1) and their global permissions (6.5.2).
//!
//! Who may do what: everybody sees and edits their own profile (names, e-mail, time zone);
//! "create user" creates accounts, "change user" edits others' accounts and permissions;
//! only administrators touch administrators or make someone one. A non-administrator can grant
//! only the permissions they hold. The last enabled administrator cannot be removed or demoted.

use std::collections::BTreeSet;

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::users::{NewUser, Permission, PermissionSet, User, UserPatch};

use crate::audit::AuditRecord;
use crate::caller::Caller;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::{flag, RowExt};
use crate::time::{now_ms, to_dt};
use crate::validate;

const USER_COLUMNS: &str =
    "id, login, first_name, last_name, email, time_zone, enabled, is_admin, must_change_password, created_at, updated_at";

impl Engine {
    pub(crate) async fn load_user(&self, id: i64) -> CoreResult<User> {
        let r = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.store().pool())
            .await?
            .ok_or_else(|| CoreError::not_found(format!("there is no user {id}")))?;
        let groups = sqlx::query("SELECT group_id FROM group_members WHERE user_id = $1 ORDER BY group_id")
            .bind(id)
            .fetch_all(self.store().pool())
            .await?
            .iter()
            .map(|g| g.int("group_id"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(User {
            id,
            login: r.text("login")?,
            first_name: r.text("first_name")?,
            last_name: r.text("last_name")?,
            email: r.text("email")?,
            time_zone: r.text("time_zone")?,
            enabled: r.flag("enabled")?,
            is_admin: r.flag("is_admin")?,
            must_change_password: r.flag("must_change_password")?,
            permissions: self.permissions_of(id).await?.into_iter().collect(),
            groups,
            created_at: to_dt(r.int("created_at")?),
            updated_at: to_dt(r.int("updated_at")?),
        })
    }

    fn may_manage_users(caller: &Caller) -> bool {
        caller.has(Permission::CreateUser) || caller.has(Permission::ChangeUser)
    }

    /// All users for administrators and user managers; only oneself for everybody else.
    pub async fn users_list(&self, caller: &Caller) -> CoreResult<Vec<User>> {
        let ids: Vec<i64> = if Self::may_manage_users(caller) {
            sqlx::query("SELECT id FROM users ORDER BY login")
                .fetch_all(self.store().pool())
                .await?
                .iter()
                .map(|r| r.int("id"))
                .collect::<Result<_, _>>()?
        } else {
            vec![caller.user_id]
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.load_user(id).await?);
        }
        Ok(out)
    }

    pub async fn users_get(&self, caller: &Caller, id: i64) -> CoreResult<User> {
        if id != caller.user_id && !Self::may_manage_users(caller) {
            return Err(CoreError::forbidden("you may only see your own account"));
        }
        self.load_user(id).await
    }

    pub async fn users_create(&self, caller: &Caller, req: &NewUser) -> CoreResult<User> {
        if !caller.has(Permission::CreateUser) {
            return Err(CoreError::forbidden("creating users needs the \"create user\" permission"));
        }
        if req.is_admin && !caller.is_admin {
            return Err(CoreError::forbidden("only administrators create administrators"));
        }
        validate::login("login", &req.login)?;
        validate::text("first_name", &req.first_name, 100, true)?;
        validate::text("last_name", &req.last_name, 100, true)?;
        validate::email("email", &req.email)?;
        let tz = match &req.time_zone {
            Some(tz) => {
                validate::time_zone("time_zone", tz)?;
                tz.clone()
            }
            None => self.setting_string("WMAIS_DEFAULT_TIMEZONE"),
        };
        crate::password::check_strength(&req.password, &req.login)?;
        let hash = crate::password::hash(&req.password).await?;
        let now = now_ms();
        let mut tx = self.store().write_tx().await?;
        let exists =
            sqlx::query("SELECT id FROM users WHERE login = $1").bind(&req.login).fetch_optional(&mut *tx.tx).await?;
        if exists.is_some() {
            return Err(CoreError::Conflict(format!("a user with login {:?} already exists", req.login)));
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO users (login, password_hash, first_name, last_name, email, time_zone, enabled, is_admin, must_change_password, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9) RETURNING id",
        )
        .bind(&req.login)
        .bind(hash)
        .bind(&req.first_name)
        .bind(&req.last_name)
        .bind(&req.email)
        .bind(&tz)
        .bind(flag(req.enabled))
        .bind(flag(req.is_admin))
        .bind(now)
        .fetch_one(&mut *tx.tx)
        .await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("user.create", AuditOutcome::Success)
                .target("user", id)
                .details(json!({"login": req.login, "is_admin": req.is_admin, "enabled": req.enabled})),
        )
        .await?;
        tx.commit().await?;
        self.load_user(id).await
    }

    pub async fn users_update(&self, caller: &Caller, id: i64, p: &UserPatch) -> CoreResult<User> {
        let target = self.users_get(caller, id).await?;
        let own = id == caller.user_id;
        let managing =
            p.login.is_some() || p.enabled.is_some() || p.is_admin.is_some() || (p.password.is_some() && !own);
        if !own || managing {
            if !caller.has(Permission::ChangeUser) {
                return Err(CoreError::forbidden("changing this needs the \"change user\" permission"));
            }
            if (target.is_admin || p.is_admin == Some(true)) && !caller.is_admin {
                return Err(CoreError::forbidden("only administrators change administrators"));
            }
        }
        if own && p.password.is_some() {
            return Err(CoreError::invalid("password", "change your own password with POST /api/v1/auth/password"));
        }
        if let Some(l) = &p.login {
            validate::login("login", l)?;
        }
        if let Some(v) = &p.first_name {
            validate::text("first_name", v, 100, true)?;
        }
        if let Some(v) = &p.last_name {
            validate::text("last_name", v, 100, true)?;
        }
        if let Some(v) = &p.email {
            validate::email("email", v)?;
        }
        if let Some(v) = &p.time_zone {
            validate::time_zone("time_zone", v)?;
        }
        let new_hash = match &p.password {
            Some(pw) => {
                crate::password::check_strength(pw, p.login.as_deref().unwrap_or(&target.login))?;
                Some(crate::password::hash(pw).await?)
            }
            None => None,
        };
        let demoting = target.is_admin && (p.is_admin == Some(false) || p.enabled == Some(false));
        let now = now_ms();
        let mut tx = self.store().write_tx().await?;
        if demoting {
            let (n,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM users WHERE is_admin = 1 AND enabled = 1 AND id <> $1")
                    .bind(id)
                    .fetch_one(&mut *tx.tx)
                    .await?;
            if n == 0 {
                return Err(CoreError::Conflict(
                    "this is the last enabled administrator; appoint another one first".into(),
                ));
            }
        }
        if let Some(l) = &p.login {
            let clash = sqlx::query("SELECT id FROM users WHERE login = $1 AND id <> $2")
                .bind(l)
                .bind(id)
                .fetch_optional(&mut *tx.tx)
                .await?;
            if clash.is_some() {
                return Err(CoreError::Conflict(format!("a user with login {l:?} already exists")));
            }
        }
        sqlx::query(
            "UPDATE users SET login = COALESCE($1, login), first_name = COALESCE($2, first_name), last_name = COALESCE($3, last_name), \
             email = COALESCE($4, email), time_zone = COALESCE($5, time_zone), enabled = COALESCE($6, enabled), \
             is_admin = COALESCE($7, is_admin), password_hash = COALESCE($8, password_hash), \
             must_change_password = CASE WHEN $8 IS NULL THEN must_change_password ELSE 1 END, updated_at = $9 WHERE id = $10",
        )
        .bind(p.login.clone())
        .bind(p.first_name.clone())
        .bind(p.last_name.clone())
        .bind(p.email.clone())
        .bind(p.time_zone.clone())
        .bind(p.enabled.map(flag))
        .bind(p.is_admin.map(flag))
        .bind(new_hash.clone())
        .bind(now)
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
        if p.enabled == Some(false) || new_hash.is_some() {
            // A disabled account or a reset password ends every session of the user.
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
        }
        let mut changed: Vec<&str> = Vec::new();
        for (name, present) in [
            ("login", p.login.is_some()),
            ("first_name", p.first_name.is_some()),
            ("last_name", p.last_name.is_some()),
            ("email", p.email.is_some()),
            ("time_zone", p.time_zone.is_some()),
            ("enabled", p.enabled.is_some()),
            ("is_admin", p.is_admin.is_some()),
            ("password", p.password.is_some()),
        ] {
            if present {
                changed.push(name);
            }
        }
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("user.update", AuditOutcome::Success).target("user", id).details(json!({
                "login": target.login, "fields": changed, "enabled": p.enabled, "is_admin": p.is_admin,
            })),
        )
        .await?;
        tx.commit().await?;
        self.load_user(id).await
    }

    /// Deletes an account that owns nothing. Accounts that own objects are disabled instead, so
    /// that their instances, volumes and keys stay recoverable by an administrator.
    pub async fn users_delete(&self, caller: &Caller, id: i64) -> CoreResult<()> {
        let target = self.users_get(caller, id).await?;
        if !caller.has(Permission::ChangeUser) {
            return Err(CoreError::forbidden("deleting users needs the \"change user\" permission"));
        }
        if target.is_admin && !caller.is_admin {
            return Err(CoreError::forbidden("only administrators delete administrators"));
        }
        if id == caller.user_id {
            return Err(CoreError::Conflict("you cannot delete your own account".into()));
        }
        let mut tx = self.store().write_tx().await?;
        let (owned,): (i64,) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM objects WHERE owner_id = $1) + (SELECT COUNT(*) FROM instances WHERE owner_id = $1) \
             + (SELECT COUNT(*) FROM volumes WHERE owner_id = $1)",
        )
        .bind(id)
        .fetch_one(&mut *tx.tx)
        .await?;
        if owned > 0 {
            return Err(CoreError::Conflict(format!(
                "{} owns {owned} objects (instances, volumes, images...); disable the account instead",
                target.login
            )));
        }
        if target.is_admin {
            let (n,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM users WHERE is_admin = 1 AND enabled = 1 AND id <> $1")
                    .bind(id)
                    .fetch_one(&mut *tx.tx)
                    .await?;
            if n == 0 {
                return Err(CoreError::Conflict("this is the last enabled administrator".into()));
            }
        }
        sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx.tx).await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("user.delete", AuditOutcome::Success)
                .target("user", id)
                .details(json!({"login": target.login})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a user's global permissions ("Edit security" on a user).
    pub async fn users_set_permissions(&self, caller: &Caller, id: i64, set: &PermissionSet) -> CoreResult<User> {
        let target = self.users_get(caller, id).await?;
        if !caller.has(Permission::ChangeUser) {
            return Err(CoreError::forbidden("changing permissions needs the \"change user\" permission"));
        }
        if target.is_admin && !caller.is_admin {
            return Err(CoreError::forbidden("only administrators change administrators"));
        }
        let new: BTreeSet<Permission> = set.permissions.iter().copied().collect();
        let old: BTreeSet<Permission> = target.permissions.iter().copied().collect();
        if !caller.is_admin {
            if let Some(p) = new.symmetric_difference(&old).find(|p| !caller.has(**p)) {
                return Err(CoreError::forbidden(format!(
                    "you cannot grant or revoke {p}: you do not hold it yourself"
                )));
            }
        }
        let mut tx = self.store().write_tx().await?;
        sqlx::query("DELETE FROM user_permissions WHERE user_id = $1").bind(id).execute(&mut *tx.tx).await?;
        for p in &new {
            sqlx::query("INSERT INTO user_permissions (user_id, permission) VALUES ($1, $2)")
                .bind(id)
                .bind(p.as_str())
                .execute(&mut *tx.tx)
                .await?;
        }
        let granted: Vec<&str> = new.difference(&old).map(|p| p.as_str()).collect();
        let revoked: Vec<&str> = old.difference(&new).map(|p| p.as_str()).collect();
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("user.permissions", AuditOutcome::Success)
                .target("user", id)
                .details(json!({"login": target.login, "granted": granted, "revoked": revoked})),
        )
        .await?;
        tx.commit().await?;
        self.load_user(id).await
    }
}
