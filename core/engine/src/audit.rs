//! The append-only audit log: who did what, when, from where. The database refuses updates and
//! deletes of its rows (triggers on both backends).

use serde_json::Value;
use sqlx::Row;
use wintermute_api::audit::{AuditEntry, AuditOutcome};
use wintermute_api::users::Permission;
use wintermute_api::Page;

use crate::caller::{Actor, Caller};
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult, StoreError};
use crate::store::RowExt;

/// One entry to append.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<i64>,
    pub outcome: AuditOutcome,
    pub details: Value,
}

impl AuditRecord {
    pub fn new(action: &str, outcome: AuditOutcome) -> AuditRecord {
        AuditRecord {
            action: action.into(),
            target_kind: None,
            target_id: None,
            outcome,
            details: Value::Object(Default::default()),
        }
    }

    pub fn target(mut self, kind: &str, id: i64) -> AuditRecord {
        self.target_kind = Some(kind.into());
        self.target_id = Some(id);
        self
    }

    pub fn details(mut self, d: Value) -> AuditRecord {
        self.details = d;
        self
    }
}

/// Appends an entry, inside the caller's transaction when one is given.
pub async fn write<'e, E>(ex: E, actor: &Actor, r: AuditRecord) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, actor_login, address, action, target_kind, target_id, outcome, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(crate::time::now_ms())
    .bind(actor.id)
    .bind(actor.login.clone())
    .bind(actor.address.clone())
    .bind(r.action)
    .bind(r.target_kind)
    .bind(r.target_id)
    .bind(r.outcome.as_str())
    .bind(r.details.to_string())
    .execute(ex)
    .await?;
    Ok(())
}

/// Filters of `GET /api/v1/audit`.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this action, or actions starting with it when it ends with `.` (e.g. `auth.`).
    pub action: Option<String>,
    /// Only entries of this login.
    pub actor: Option<String>,
    /// At most this many entries (1–500, default 100).
    pub limit: Option<u32>,
    /// Only entries older than this id (paging).
    pub before: Option<i64>,
}

impl Engine {
    /// Appends an entry on its own.
    pub async fn audit(&self, actor: &Actor, r: AuditRecord) -> CoreResult<()> {
        write(self.store().pool(), actor, r).await?;
        Ok(())
    }

    /// Reads the audit log, newest first. Needs "view logs".
    pub async fn audit_list(&self, caller: &Caller, q: &AuditQuery) -> CoreResult<Page<AuditEntry>> {
        if !caller.has(Permission::ViewLogs) {
            return Err(CoreError::forbidden("reading the audit log needs the \"view logs\" permission"));
        }
        let limit = crate::validate::limit(q.limit)?;
        let (action_eq, action_prefix) = match &q.action {
            Some(a) if a.ends_with('.') => (None, Some(format!("{a}%"))),
            Some(a) => (Some(a.clone()), None),
            None => (None, None),
        };
        let rows = sqlx::query(
            "SELECT id, at, actor_id, actor_login, address, action, target_kind, target_id, outcome, details FROM audit_log \
             WHERE ($1 IS NULL OR id < $1) AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR action LIKE $3) \
             AND ($4 IS NULL OR actor_login = $4) ORDER BY id DESC LIMIT $5",
        )
        .bind(q.before)
        .bind(action_eq)
        .bind(action_prefix)
        .bind(q.actor.clone())
        .bind(limit + 1)
        .fetch_all(self.store().pool())
        .await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows.iter().take(limit as usize) {
            items.push(AuditEntry {
                id: r.int("id")?,
                at: crate::time::to_dt(r.int("at")?),
                actor_id: r.opt_int("actor_id")?,
                actor_login: r.opt_text("actor_login")?,
                address: r.opt_text("address")?,
                action: r.text("action")?,
                target_kind: r.opt_text("target_kind")?,
                target_id: r.opt_int("target_id")?,
                outcome: AuditOutcome::parse(&r.text("outcome")?).unwrap_or(AuditOutcome::Failure),
                details: serde_json::from_str(&r.try_get::<String, _>("details").map_err(StoreError::from)?)
                    .unwrap_or(Value::Null),
            });
        }
        let next_before = if rows.len() as i64 > limit { items.last().map(|e| e.id) } else { None };
        Ok(Page { items, next_before })
    }
}
