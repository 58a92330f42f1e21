//! Groups of users. Object rights are granted to groups.
//!
//! Administrators and holders of "change user" manage groups and see all of them; everybody else
//! sees the groups they belong to.

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::users::{Group, GroupPatch, NewGroup, Permission, UserRef};

use crate::audit::AuditRecord;
use crate::caller::Caller;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::{RowExt, WriteTx};
use crate::time::{now_ms, to_dt};
use crate::validate;

impl Engine {
    async fn load_group(&self, id: i64) -> CoreResult<Group> {
        let r = sqlx::query("SELECT id, name, description, created_at FROM user_groups WHERE id = $1")
            .bind(id)
            .fetch_optional(self.store().pool())
            .await?
            .ok_or_else(|| CoreError::not_found(format!("there is no group {id}")))?;
        let members = sqlx::query(
            "SELECT u.id, u.login FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = $1 ORDER BY u.login",
        )
        .bind(id)
        .fetch_all(self.store().pool())
        .await?
        .iter()
        .map(|m| Ok(UserRef { id: m.int("id")?, login: m.text("login")? }))
        .collect::<CoreResult<Vec<_>>>()?;
        Ok(Group {
            id,
            name: r.text("name")?,
            description: r.text("description")?,
            members,
            created_at: to_dt(r.int("created_at")?),
        })
    }

    fn may_manage_groups(caller: &Caller) -> bool {
        caller.has(Permission::ChangeUser)
    }

    pub async fn groups_list(&self, caller: &Caller) -> CoreResult<Vec<Group>> {
        let rows = if Self::may_manage_groups(caller) || caller.has(Permission::CreateUser) {
            sqlx::query("SELECT id FROM user_groups ORDER BY name").fetch_all(self.store().pool()).await?
        } else {
            sqlx::query(
                "SELECT g.id FROM user_groups g JOIN group_members m ON m.group_id = g.id WHERE m.user_id = $1 ORDER BY g.name",
            )
            .bind(caller.user_id)
            .fetch_all(self.store().pool())
            .await?
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(self.load_group(r.int("id")?).await?);
        }
        Ok(out)
    }

    pub async fn groups_get(&self, caller: &Caller, id: i64) -> CoreResult<Group> {
        let g = self.load_group(id).await?;
        if Self::may_manage_groups(caller)
            || caller.has(Permission::CreateUser)
            || g.members.iter().any(|m| m.id == caller.user_id)
        {
            Ok(g)
        } else {
            Err(CoreError::forbidden("you may only see groups you belong to"))
        }
    }

    async fn set_members(tx: &mut WriteTx, group: i64, members: &[i64]) -> CoreResult<()> {
        sqlx::query("DELETE FROM group_members WHERE group_id = $1").bind(group).execute(&mut *tx.tx).await?;
        let mut seen = std::collections::BTreeSet::new();
        for &u in members {
            if !seen.insert(u) {
                continue;
            }
            let exists = sqlx::query("SELECT id FROM users WHERE id = $1").bind(u).fetch_optional(&mut *tx.tx).await?;
            if exists.is_none() {
                return Err(CoreError::invalid("members", format!("there is no user {u}")));
            }
            sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)")
                .bind(group)
                .bind(u)
                .execute(&mut *tx.tx)
                .await?;
        }
        Ok(())
    }

    pub async fn groups_create(&self, caller: &Caller, req: &NewGroup) -> CoreResult<Group> {
        if !Self::may_manage_groups(caller) {
            return Err(CoreError::forbidden("managing groups needs the \"change user\" permission"));
        }
        validate::text("name", &req.name, 64, false)?;
        validate::text("description", &req.description, 500, true)?;
        let mut tx = self.store().write_tx().await?;
        if sqlx::query("SELECT id FROM user_groups WHERE name = $1")
            .bind(&req.name)
            .fetch_optional(&mut *tx.tx)
            .await?
            .is_some()
        {
            return Err(CoreError::Conflict(format!("a group named {:?} already exists", req.name)));
        }
        let (id,): (i64,) =
            sqlx::query_as("INSERT INTO user_groups (name, description, created_at) VALUES ($1, $2, $3) RETURNING id")
                .bind(&req.name)
                .bind(&req.description)
                .bind(now_ms())
                .fetch_one(&mut *tx.tx)
                .await?;
        Self::set_members(&mut tx, id, &req.members).await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("group.create", AuditOutcome::Success)
                .target("group", id)
                .details(json!({"name": req.name, "members": req.members})),
        )
        .await?;
        tx.commit().await?;
        self.load_group(id).await
    }

    pub async fn groups_update(&self, caller: &Caller, id: i64, p: &GroupPatch) -> CoreResult<Group> {
        if !Self::may_manage_groups(caller) {
            return Err(CoreError::forbidden("managing groups needs the \"change user\" permission"));
        }
        let before = self.load_group(id).await?;
        if let Some(n) = &p.name {
            validate::text("name", n, 64, false)?;
        }
        if let Some(d) = &p.description {
            validate::text("description", d, 500, true)?;
        }
        let mut tx = self.store().write_tx().await?;
        if let Some(n) = &p.name {
            let clash = sqlx::query("SELECT id FROM user_groups WHERE name = $1 AND id <> $2")
                .bind(n)
                .bind(id)
                .fetch_optional(&mut *tx.tx)
                .await?;
            if clash.is_some() {
                return Err(CoreError::Conflict(format!("a group named {n:?} already exists")));
            }
        }
        sqlx::query(
            "UPDATE user_groups SET name = COALESCE($1, name), description = COALESCE($2, description) WHERE id = $3",
        )
        .bind(p.name.clone())
        .bind(p.description.clone())
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
        if let Some(m) = &p.members {
            Self::set_members(&mut tx, id, m).await?;
        }
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("group.update", AuditOutcome::Success).target("group", id).details(json!({
                "name": p.name.clone().unwrap_or(before.name),
                "members_before": before.members.iter().map(|m| m.id).collect::<Vec<_>>(),
                "members": p.members,
            })),
        )
        .await?;
        tx.commit().await?;
        self.load_group(id).await
    }

    /// Deletes a group and every right granted to it.
    pub async fn groups_delete(&self, caller: &Caller, id: i64) -> CoreResult<()> {
        if !Self::may_manage_groups(caller) {
            return Err(CoreError::forbidden("managing groups needs the \"change user\" permission"));
        }
        let g = self.load_group(id).await?;
        let mut tx = self.store().write_tx().await?;
        sqlx::query("DELETE FROM object_rights WHERE group_id = $1").bind(id).execute(&mut *tx.tx).await?;
        sqlx::query("DELETE FROM group_members WHERE group_id = $1").bind(id).execute(&mut *tx.tx).await?;
        sqlx::query("DELETE FROM user_groups WHERE id = $1").bind(id).execute(&mut *tx.tx).await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("group.delete", AuditOutcome::Success)
                .target("group", id)
                .details(json!({"name": g.name})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
