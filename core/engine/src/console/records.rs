//! The `console_sessions` table: a row per console, listed per instance and per user, and the
//! recordings behind them. Who may see them: the user who opened the session, administrators, and
//! holders of "view logs".

use std::path::PathBuf;

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::console::{ConsoleEndReason, ConsoleSession, ConsoleSessionQuery};
use wintermute_api::rights::{ObjectKind, ObjectRight};
use wintermute_api::users::Permission;
use wintermute_api::Page;

use super::ConsoleOpen;
use crate::audit::AuditRecord;
use crate::caller::Caller;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::RowExt;
use crate::time::{now_ms, opt_dt, to_dt};

const COLUMNS: &str = "id, instance_id, instance_name, user_id, user_login, command, term, cols, rows, started_at, \
     ended_at, bytes_in, bytes_out, exit_status, end_reason, recording_path, recording_bytes";

/// Whether the caller sees every console session (not only their own).
fn sees_all(caller: &Caller) -> bool {
    caller.has(Permission::ViewLogs)
}

fn from_row(r: &sqlx::any::AnyRow) -> CoreResult<ConsoleSession> {
    let started = r.int("started_at")?;
    let ended = r.opt_int("ended_at")?;
    let u32_of = |v: i64| u32::try_from(v).unwrap_or(0);
    Ok(ConsoleSession {
        id: r.int("id")?,
        instance_id: r.int("instance_id")?,
        instance_name: r.text("instance_name")?,
        user_id: r.int("user_id")?,
        user_login: r.text("user_login")?,
        command: r.opt_text("command")?,
        term: r.text("term")?,
        cols: u32_of(r.int("cols")?),
        rows: u32_of(r.int("rows")?),
        started_at: to_dt(started),
        ended_at: opt_dt(ended),
        duration_ms: ended.unwrap_or_else(now_ms) - started,
        bytes_in: r.int("bytes_in")?,
        bytes_out: r.int("bytes_out")?,
        exit_status: r.opt_int("exit_status")?.map(u32_of),
        end_reason: r.opt_text("end_reason")?.as_deref().and_then(ConsoleEndReason::parse),
        recorded: r.opt_text("recording_path")?.is_some(),
        recording_bytes: r.int("recording_bytes")?,
    })
}

impl Engine {
    pub(super) async fn console_insert(
        &self,
        caller: &Caller,
        instance_id: i64,
        instance_name: &str,
        req: &ConsoleOpen,
        started: i64,
    ) -> CoreResult<i64> {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO console_sessions (instance_id, instance_name, user_id, user_login, command, term, cols, rows, \
             started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(instance_id)
        .bind(instance_name)
        .bind(caller.user_id)
        .bind(&caller.login)
        .bind(req.command.clone())
        .bind(&req.term)
        .bind(i64::from(req.cols))
        .bind(i64::from(req.rows))
        .bind(started)
        .fetch_one(self.store().pool())
        .await?;
        Ok(id)
    }

    /// Records the end of a session; returns its duration in milliseconds.
    pub(super) async fn console_finish_row(
        &self,
        id: i64,
        exit_status: Option<u32>,
        reason: &str,
        bytes_in: u64,
        bytes_out: u64,
        recording_bytes: u64,
    ) -> CoreResult<i64> {
        let now = now_ms();
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        sqlx::query(
            "UPDATE console_sessions SET ended_at = $1, exit_status = $2, end_reason = $3, bytes_in = $4, \
             bytes_out = $5, recording_bytes = $6 WHERE id = $7",
        )
        .bind(now)
        .bind(exit_status.map(i64::from))
        .bind(reason)
        .bind(as_i64(bytes_in))
        .bind(as_i64(bytes_out))
        .bind(as_i64(recording_bytes))
        .bind(id)
        .execute(self.store().pool())
        .await?;
        let (started,): (i64,) = sqlx::query_as("SELECT started_at FROM console_sessions WHERE id = $1")
            .bind(id)
            .fetch_one(self.store().pool())
            .await?;
        Ok(now - started)
    }

    async fn console_page(
        &self,
        filter: &str,
        subject: i64,
        only_user: Option<i64>,
        q: &ConsoleSessionQuery,
    ) -> CoreResult<Page<ConsoleSession>> {
        let limit = crate::validate::limit(q.limit)?;
        let sql = format!(
            "SELECT {COLUMNS} FROM console_sessions WHERE {filter} = $1 AND ($2 IS NULL OR user_id = $2) \
             AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(subject)
            .bind(only_user)
            .bind(q.before)
            .bind(limit + 1)
            .fetch_all(self.store().pool())
            .await?;
        let mut items = rows.iter().take(limit as usize).map(from_row).collect::<CoreResult<Vec<_>>>()?;
        let next_before = if rows.len() as i64 > limit { items.last().map(|s| s.id) } else { None };
        items.truncate(limit as usize);
        Ok(Page { items, next_before })
    }

    /// Console sessions on an instance, newest first: all of them for administrators and holders
    /// of "view logs", else the caller's own (who must be able to view the instance).
    pub async fn console_sessions_of_instance(
        &self,
        caller: &Caller,
        instance_id: i64,
        q: &ConsoleSessionQuery,
    ) -> CoreResult<Page<ConsoleSession>> {
        if sees_all(caller) {
            return self.console_page("instance_id", instance_id, None, q).await;
        }
        self.require_right(caller, ObjectKind::Instance, instance_id, ObjectRight::View).await?;
        self.console_page("instance_id", instance_id, Some(caller.user_id), q).await
    }

    /// Console sessions a user opened, newest first: their own, or anyone's for administrators
    /// and holders of "view logs".
    pub async fn console_sessions_of_user(
        &self,
        caller: &Caller,
        user_id: i64,
        q: &ConsoleSessionQuery,
    ) -> CoreResult<Page<ConsoleSession>> {
        if user_id != caller.user_id && !sees_all(caller) {
            return Err(CoreError::forbidden("other users' console sessions need the \"view logs\" permission"));
        }
        self.console_page("user_id", user_id, None, q).await
    }

    /// One console session (its user, administrators, "view logs").
    pub async fn console_session(&self, caller: &Caller, id: i64) -> CoreResult<ConsoleSession> {
        Ok(self.console_session_row(caller, id).await?.0)
    }

    async fn console_session_row(&self, caller: &Caller, id: i64) -> CoreResult<(ConsoleSession, Option<String>)> {
        let r = sqlx::query(&format!("SELECT {COLUMNS} FROM console_sessions WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.store().pool())
            .await?
            .ok_or_else(|| CoreError::not_found(format!("there is no console session {id}")))?;
        let session = from_row(&r)?;
        if session.user_id != caller.user_id && !sees_all(caller) {
            return Err(CoreError::forbidden(format!(
                "console session {id} is another user's; seeing it needs the \"view logs\" permission"
            )));
        }
        Ok((session, r.opt_text("recording_path")?))
    }

    /// The recording of a console session: the session and the path of its asciicast file, to
    /// be streamed. Reading someone else's recording is audited.
    pub async fn console_recording(&self, caller: &Caller, id: i64) -> CoreResult<(ConsoleSession, PathBuf)> {
        let (session, path) = self.console_session_row(caller, id).await?;
        let Some(relative) = path else {
            return Err(CoreError::not_found(format!(
                "console session {id} was not recorded (WMAIS_CONSOLE_RECORDING was off)"
            )));
        };
        let path = self.recording_path(&relative);
        if !path.is_file() {
            return Err(CoreError::not_found(format!("the recording of console session {id} is gone from the core")));
        }
        self.audit(
            &caller.actor(),
            AuditRecord::new("console.recording.read", AuditOutcome::Success)
                .target("instance", session.instance_id)
                .details(json!({"session_id": id, "user": session.user_login})),
        )
        .await?;
        Ok((session, path))
    }
}
