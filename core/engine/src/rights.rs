//! The one object-rights mechanism every kind of object uses ("Edit security").
//!
//! Objects register here with their kind, id, owner and name. Owners hold every right on their
//! objects, administrators on every object; anybody else holds the rights granted to a group they
//! belong to — nothing by default. Lists use `visible_filter` so they never show what the caller
//! may not view.

use std::collections::BTreeSet;

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::rights::{
    GroupRights, ObjectKind, ObjectRight, ObjectSecurity, ObjectSummary, RightChange, RightSet,
};
use wintermute_api::users::UserRef;

use crate::audit::AuditRecord;
use crate::caller::Caller;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::RowExt;
use crate::time::now_ms;

/// A SQL condition (over an `objects` row aliased `o`) true when user `$uid` may view the object;
/// `uid_param` is the placeholder number of the user id.
pub fn visible_filter(uid_param: usize) -> String {
    format!(
        "(o.owner_id = ${uid_param} OR EXISTS (SELECT 1 FROM object_rights r JOIN group_members m ON m.group_id = r.group_id \
         WHERE r.object_kind = o.kind AND r.object_id = o.id AND r.right_name = 'view' AND m.user_id = ${uid_param}))"
    )
}

struct ObjectRow {
    name: String,
    owner: UserRef,
}

impl Engine {
    /// Registers a new object with its owner (called by the code that creates the object, in its
    /// transaction when it has one).
    pub async fn register_object<'e, E>(ex: E, kind: ObjectKind, id: i64, owner_id: i64, name: &str) -> CoreResult<()>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        sqlx::query("INSERT INTO objects (kind, id, owner_id, name, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(kind.as_str())
            .bind(id)
            .bind(owner_id)
            .bind(name)
            .bind(now_ms())
            .execute(ex)
            .await?;
        Ok(())
    }

    /// Forgets an object and every right on it.
    pub async fn unregister_object<'e, E>(ex: E, kind: ObjectKind, id: i64) -> CoreResult<()>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        sqlx::query("DELETE FROM objects WHERE kind = $1 AND id = $2").bind(kind.as_str()).bind(id).execute(ex).await?;
        Ok(())
    }

    async fn object_row(&self, kind: ObjectKind, id: i64) -> CoreResult<ObjectRow> {
        let r = sqlx::query("SELECT o.name, u.id AS uid, u.login FROM objects o JOIN users u ON u.id = o.owner_id WHERE o.kind = $1 AND o.id = $2")
            .bind(kind.as_str())
            .bind(id)
            .fetch_optional(self.store().pool())
            .await?
            .ok_or_else(|| CoreError::not_found(format!("there is no {kind} {id}")))?;
        Ok(ObjectRow { name: r.text("name")?, owner: UserRef { id: r.int("uid")?, login: r.text("login")? } })
    }

    async fn granted_rights(&self, caller: &Caller, kind: ObjectKind, id: i64) -> CoreResult<BTreeSet<ObjectRight>> {
        let rows = sqlx::query(
            "SELECT DISTINCT r.right_name FROM object_rights r JOIN group_members m ON m.group_id = r.group_id \
             WHERE r.object_kind = $1 AND r.object_id = $2 AND m.user_id = $3",
        )
        .bind(kind.as_str())
        .bind(id)
        .bind(caller.user_id)
        .fetch_all(self.store().pool())
        .await?;
        let mut set = BTreeSet::new();
        for r in rows {
            if let Some(right) = ObjectRight::parse(&r.text("right_name")?) {
                set.insert(right);
            }
        }
        Ok(set)
    }

    /// The caller's effective rights on an object.
    pub async fn rights_of(&self, caller: &Caller, kind: ObjectKind, id: i64) -> CoreResult<BTreeSet<ObjectRight>> {
        let obj = self.object_row(kind, id).await?;
        if caller.is_admin || obj.owner.id == caller.user_id {
            return Ok(kind.rights().iter().copied().collect());
        }
        self.granted_rights(caller, kind, id).await
    }

    /// Fails with `forbidden` unless the caller holds `right` on the object. Objects the caller
    /// may not even view are reported as missing, so their existence does not leak.
    pub async fn require_right(
        &self,
        caller: &Caller,
        kind: ObjectKind,
        id: i64,
        right: ObjectRight,
    ) -> CoreResult<()> {
        let rights = self.rights_of(caller, kind, id).await?;
        if rights.contains(&right) {
            Ok(())
        } else if rights.is_empty() {
            Err(CoreError::forbidden(format!("you have no rights on {kind} {id}")))
        } else {
            Err(CoreError::forbidden(format!("you lack the {right} right on {kind} {id}")))
        }
    }

    /// Objects the caller may view, optionally of one kind.
    pub async fn objects_list(&self, caller: &Caller, kind: Option<ObjectKind>) -> CoreResult<Vec<ObjectSummary>> {
        let sql = format!(
            "SELECT o.kind, o.id, o.name, u.id AS uid, u.login FROM objects o JOIN users u ON u.id = o.owner_id \
             WHERE ($1 IS NULL OR o.kind = $1) AND ($2 = 1 OR {}) ORDER BY o.kind, o.id",
            visible_filter(3)
        );
        let rows = sqlx::query(&sql)
            .bind(kind.map(|k| k.as_str()))
            .bind(i64::from(caller.is_admin))
            .bind(caller.user_id)
            .fetch_all(self.store().pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let Some(k) = ObjectKind::parse(&r.text("kind")?) else { continue };
            let id = r.int("id")?;
            out.push(ObjectSummary {
                object_kind: k,
                object_id: id,
                name: r.text("name")?,
                owner: UserRef { id: r.int("uid")?, login: r.text("login")? },
                my_rights: self.rights_of(caller, k, id).await?.into_iter().collect(),
            });
        }
        Ok(out)
    }

    /// Who may do what with an object; readable by whoever may view it.
    pub async fn object_security(&self, caller: &Caller, kind: ObjectKind, id: i64) -> CoreResult<ObjectSecurity> {
        self.require_right(caller, kind, id, ObjectRight::View).await?;
        self.security_unchecked(kind, id).await
    }

    async fn security_unchecked(&self, kind: ObjectKind, id: i64) -> CoreResult<ObjectSecurity> {
        let obj = self.object_row(kind, id).await?;
        let rows = sqlx::query(
            "SELECT g.id, g.name, r.right_name FROM object_rights r JOIN user_groups g ON g.id = r.group_id \
             WHERE r.object_kind = $1 AND r.object_id = $2 ORDER BY g.name, r.right_name",
        )
        .bind(kind.as_str())
        .bind(id)
        .fetch_all(self.store().pool())
        .await?;
        let mut groups: Vec<GroupRights> = Vec::new();
        for r in rows {
            let gid = r.int("id")?;
            let Some(right) = ObjectRight::parse(&r.text("right_name")?) else { continue };
            match groups.last_mut() {
                Some(g) if g.group_id == gid => g.rights.push(right),
                _ => groups.push(GroupRights { group_id: gid, group_name: r.text("name")?, rights: vec![right] }),
            }
        }
        Ok(ObjectSecurity {
            object_kind: kind,
            object_id: id,
            name: obj.name,
            owner: obj.owner,
            available_rights: kind.rights().to_vec(),
            groups,
        })
    }

    async fn require_security_editor(&self, caller: &Caller, kind: ObjectKind, id: i64) -> CoreResult<()> {
        let obj = self.object_row(kind, id).await?;
        if caller.is_admin || obj.owner.id == caller.user_id {
            return Ok(());
        }
        if self.granted_rights(caller, kind, id).await?.contains(&ObjectRight::View) {
            Err(CoreError::forbidden(format!("only the owner or an administrator edits the security of {kind} {id}")))
        } else {
            Err(CoreError::forbidden(format!("you have no rights on {kind} {id}")))
        }
    }

    fn check_rights_fit(kind: ObjectKind, rights: &[ObjectRight]) -> CoreResult<()> {
        if let Some(r) = rights.iter().find(|r| !kind.rights().contains(r)) {
            let valid: Vec<&str> = kind.rights().iter().map(|r| r.as_str()).collect();
            return Err(CoreError::invalid(
                "rights",
                format!("{r} is not a right of a {kind}; valid: {}", valid.join(", ")),
            ));
        }
        Ok(())
    }

    async fn group_exists(&self, group_id: i64) -> CoreResult<()> {
        sqlx::query("SELECT id FROM user_groups WHERE id = $1")
            .bind(group_id)
            .fetch_optional(self.store().pool())
            .await?
            .map(|_| ())
            .ok_or_else(|| CoreError::invalid("group_id", format!("there is no group {group_id}")))
    }

    /// Replaces the rights of one group on one object.
    pub async fn set_group_rights(
        &self,
        caller: &Caller,
        kind: ObjectKind,
        id: i64,
        group_id: i64,
        set: &RightSet,
    ) -> CoreResult<ObjectSecurity> {
        self.require_security_editor(caller, kind, id).await?;
        Self::check_rights_fit(kind, &set.rights)?;
        self.group_exists(group_id).await?;
        let new: BTreeSet<ObjectRight> = set.rights.iter().copied().collect();
        let mut tx = self.store().write_tx().await?;
        sqlx::query("DELETE FROM object_rights WHERE object_kind = $1 AND object_id = $2 AND group_id = $3")
            .bind(kind.as_str())
            .bind(id)
            .bind(group_id)
            .execute(&mut *tx.tx)
            .await?;
        for r in &new {
            sqlx::query(
                "INSERT INTO object_rights (object_kind, object_id, group_id, right_name) VALUES ($1, $2, $3, $4)",
            )
            .bind(kind.as_str())
            .bind(id)
            .bind(group_id)
            .bind(r.as_str())
            .execute(&mut *tx.tx)
            .await?;
        }
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("rights.set", AuditOutcome::Success)
                .target(kind.as_str(), id)
                .details(json!({"group_id": group_id, "rights": new.iter().map(|r| r.as_str()).collect::<Vec<_>>()})),
        )
        .await?;
        tx.commit().await?;
        self.security_unchecked(kind, id).await
    }

    /// Grants (`grant = true`) or revokes one right of one group on one object.
    pub async fn change_right(&self, caller: &Caller, c: &RightChange, grant: bool) -> CoreResult<ObjectSecurity> {
        self.require_security_editor(caller, c.object_kind, c.object_id).await?;
        Self::check_rights_fit(c.object_kind, &[c.right])?;
        self.group_exists(c.group_id).await?;
        let mut tx = self.store().write_tx().await?;
        sqlx::query(
            "DELETE FROM object_rights WHERE object_kind = $1 AND object_id = $2 AND group_id = $3 AND right_name = $4",
        )
        .bind(c.object_kind.as_str())
        .bind(c.object_id)
        .bind(c.group_id)
        .bind(c.right.as_str())
        .execute(&mut *tx.tx)
        .await?;
        if grant {
            sqlx::query(
                "INSERT INTO object_rights (object_kind, object_id, group_id, right_name) VALUES ($1, $2, $3, $4)",
            )
            .bind(c.object_kind.as_str())
            .bind(c.object_id)
            .bind(c.group_id)
            .bind(c.right.as_str())
            .execute(&mut *tx.tx)
            .await?;
        }
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new(if grant { "rights.grant" } else { "rights.revoke" }, AuditOutcome::Success)
                .target(c.object_kind.as_str(), c.object_id)
                .details(json!({"group_id": c.group_id, "right": c.right.as_str()})),
        )
        .await?;
        tx.commit().await?;
        self.security_unchecked(c.object_kind, c.object_id).await
    }
}
