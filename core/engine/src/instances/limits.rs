//! Usage limits administrators set on users and groups: running instances, total volume size and
//! the maximum lifetime after which the core powers an instance off. The core enforces them on
//! every launch, power-on and volume creation, so no client can get around them.

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::instances::{Limits, LimitsView, Usage};

use crate::audit::AuditRecord;
use crate::caller::Caller;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::RowExt;
use crate::time::now_ms;

/// Instances that count as running: everything not powered off nor gone.
const RUNNING: &str = "status NOT IN ('stopped', 'terminated')";

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    User,
    Group,
}

impl Subject {
    fn as_str(self) -> &'static str {
        match self {
            Subject::User => "user",
            Subject::Group => "group",
        }
    }
}

fn check(l: &Limits) -> CoreResult<()> {
    for (field, v, max) in [
        ("max_running_instances", l.max_running_instances, 100_000),
        ("max_volume_gb", l.max_volume_gb, 100_000_000),
        ("max_lifetime_hours", l.max_lifetime_hours, 24 * 366 * 10),
    ] {
        if let Some(v) = v {
            if !(0..=max).contains(&v) {
                return Err(CoreError::invalid(field, format!("{field} is 0 to {max}, or absent for no limit")));
            }
        }
    }
    if l.max_lifetime_hours == Some(0) {
        return Err(CoreError::invalid(
            "max_lifetime_hours",
            "a lifetime of 0 hours would power instances off at once",
        ));
    }
    Ok(())
}

async fn read_limits<'e, E>(ex: E, subject: Subject, id: i64) -> CoreResult<Limits>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let r = sqlx::query(
        "SELECT max_running_instances, max_volume_gb, max_lifetime_hours FROM usage_limits WHERE subject_kind = $1 AND subject_id = $2",
    )
    .bind(subject.as_str())
    .bind(id)
    .fetch_optional(ex)
    .await?;
    Ok(match r {
        Some(r) => Limits {
            max_running_instances: r.opt_int("max_running_instances")?,
            max_volume_gb: r.opt_int("max_volume_gb")?,
            max_lifetime_hours: r.opt_int("max_lifetime_hours")?,
        },
        None => Limits::default(),
    })
}

/// Which owners' usage counts for a subject (`$1` is the subject's id).
fn members_sql(subject: Subject) -> &'static str {
    match subject {
        Subject::User => "owner_id = $1",
        Subject::Group => "owner_id IN (SELECT user_id FROM group_members WHERE group_id = $1)",
    }
}

async fn read_usage(conn: &mut sqlx::AnyConnection, subject: Subject, id: i64) -> CoreResult<Usage> {
    let members = members_sql(subject);
    let (running,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM instances WHERE {RUNNING} AND {members}"))
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let (gb,): (i64,) = sqlx::query_as(&format!(
        "SELECT CAST(COALESCE(SUM(size_gb), 0) AS BIGINT) FROM volumes WHERE deleted_at IS NULL AND status <> 'deleted' AND {members}"
    ))
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Usage { running_instances: running, volume_gb: gb })
}

impl Engine {
    async fn limits_view(&self, subject: Subject, id: i64) -> CoreResult<LimitsView> {
        let limits = read_limits(self.store().pool(), subject, id).await?;
        let mut conn = self.store().pool().acquire().await?;
        let usage = read_usage(&mut conn, subject, id).await?;
        Ok(LimitsView { limits, usage })
    }

    /// A user's limits and usage: the user themself or administrators.
    pub async fn user_limits(&self, caller: &Caller, user_id: i64) -> CoreResult<LimitsView> {
        if !caller.is_admin && caller.user_id != user_id {
            return Err(CoreError::forbidden("only administrators see other users' limits"));
        }
        self.owner_login(user_id).await.map_err(|_| CoreError::not_found(format!("there is no user {user_id}")))?;
        self.limits_view(Subject::User, user_id).await
    }

    /// A group's limits and usage: its members or administrators.
    pub async fn group_limits(&self, caller: &Caller, group_id: i64) -> CoreResult<LimitsView> {
        let exists = sqlx::query("SELECT id FROM user_groups WHERE id = $1")
            .bind(group_id)
            .fetch_optional(self.store().pool())
            .await?;
        if exists.is_none() {
            return Err(CoreError::not_found(format!("there is no group {group_id}")));
        }
        if !caller.is_admin {
            let member = sqlx::query("SELECT 1 AS m FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(group_id)
                .bind(caller.user_id)
                .fetch_optional(self.store().pool())
                .await?;
            if member.is_none() {
                return Err(CoreError::forbidden("only administrators and members see a group's limits"));
            }
        }
        self.limits_view(Subject::Group, group_id).await
    }

    pub async fn set_user_limits(&self, caller: &Caller, user_id: i64, l: &Limits) -> CoreResult<LimitsView> {
        self.owner_login(user_id).await.map_err(|_| CoreError::not_found(format!("there is no user {user_id}")))?;
        self.set_limits(caller, Subject::User, user_id, l).await
    }

    pub async fn set_group_limits(&self, caller: &Caller, group_id: i64, l: &Limits) -> CoreResult<LimitsView> {
        let exists = sqlx::query("SELECT id FROM user_groups WHERE id = $1")
            .bind(group_id)
            .fetch_optional(self.store().pool())
            .await?;
        if exists.is_none() {
            return Err(CoreError::not_found(format!("there is no group {group_id}")));
        }
        self.set_limits(caller, Subject::Group, group_id, l).await
    }

    async fn set_limits(&self, caller: &Caller, subject: Subject, id: i64, l: &Limits) -> CoreResult<LimitsView> {
        if !caller.is_admin {
            return Err(CoreError::forbidden("only administrators set usage limits"));
        }
        check(l)?;
        let mut tx = self.store().write_tx().await?;
        sqlx::query("DELETE FROM usage_limits WHERE subject_kind = $1 AND subject_id = $2")
            .bind(subject.as_str())
            .bind(id)
            .execute(&mut *tx.tx)
            .await?;
        if *l != Limits::default() {
            sqlx::query(
                "INSERT INTO usage_limits (subject_kind, subject_id, max_running_instances, max_volume_gb, max_lifetime_hours, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(subject.as_str())
            .bind(id)
            .bind(l.max_running_instances)
            .bind(l.max_volume_gb)
            .bind(l.max_lifetime_hours)
            .bind(now_ms())
            .execute(&mut *tx.tx)
            .await?;
        }
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("limits.update", AuditOutcome::Success).target(subject.as_str(), id).details(json!(l)),
        )
        .await?;
        tx.commit().await?;
        self.limits_view(subject, id).await
    }

    /// Refuses when `owner` starting `more_instances` more running instances or `more_gb` more
    /// volume space would pass their own limits or those of a group of theirs. Call inside the
    /// write transaction that records the new usage, after `lock_usage`.
    pub(crate) async fn check_limits(
        &self,
        conn: &mut sqlx::AnyConnection,
        owner: i64,
        more_instances: i64,
        more_gb: i64,
    ) -> CoreResult<()> {
        let groups: Vec<(i64, String)> = sqlx::query_as(
            "SELECT g.id, g.name FROM user_groups g JOIN group_members m ON m.group_id = g.id WHERE m.user_id = $1 ORDER BY g.id",
        )
        .bind(owner)
        .fetch_all(&mut *conn)
        .await?;
        let mut subjects = vec![(Subject::User, owner, "your own limit".to_owned())];
        subjects
            .extend(groups.into_iter().map(|(id, name)| (Subject::Group, id, format!("the limit of group {name:?}"))));
        for (subject, id, what) in subjects {
            let l = read_limits(&mut *conn, subject, id).await?;
            if l.max_running_instances.is_none() && l.max_volume_gb.is_none() {
                continue;
            }
            let u = read_usage(conn, subject, id).await?;
            if let Some(max) = l.max_running_instances {
                if more_instances > 0 && u.running_instances + more_instances > max {
                    return Err(CoreError::LimitExceeded(format!(
                        "{more_instances} more running instance(s) would pass {what}: {} of {max} in use",
                        u.running_instances
                    )));
                }
            }
            if let Some(max) = l.max_volume_gb {
                if more_gb > 0 && u.volume_gb + more_gb > max {
                    return Err(CoreError::LimitExceeded(format!(
                        "{more_gb} GB more storage would pass {what}: {} of {max} GB in use",
                        u.volume_gb
                    )));
                }
            }
        }
        Ok(())
    }

    /// The smallest maximum lifetime (hours) of the user and their groups, if any.
    pub(crate) async fn lifetime_hours(&self, owner: i64) -> CoreResult<Option<i64>> {
        let (h,): (Option<i64>,) = sqlx::query_as(
            "SELECT MIN(max_lifetime_hours) FROM usage_limits WHERE max_lifetime_hours IS NOT NULL AND \
             ((subject_kind = 'user' AND subject_id = $1) OR \
              (subject_kind = 'group' AND subject_id IN (SELECT group_id FROM group_members WHERE user_id = $1)))",
        )
        .bind(owner)
        .fetch_one(self.store().pool())
        .await?;
        Ok(h)
    }
}
