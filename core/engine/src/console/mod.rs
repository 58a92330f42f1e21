//! The SSH console (manual 7.3.6 "SSH Console"): the core opens an SSH session to an instance
//! with the key it keeps — the user never holds it — and relays a terminal to the user's client.
//!
//! * [`Engine::console_check`] refuses before any SSH connection: the "SSH console" right on the
//!   instance, a running instance with an SSH address.
//! * [`Engine::console_open`] connects with the instance owner's key and the pinned host key (a
//!   changed one is `HostKeyChanged`), opens a PTY with a shell or a command, and starts the
//!   session task; [`Engine::console_resume`] reattaches a dropped client to it.
//! * Sessions live in this core's memory (a client reattaches through the replica that holds its
//!   session), are listed and audited through the `console_sessions` table
//!   ([`records`]), and recorded as asciicast v2 unless `WMAIS_CONSOLE_RECORDING` is off.

mod recorder;
mod records;
mod ring;
mod session;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rand::RngCore;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::console::DEFAULT_TERM;
use wintermute_api::rights::{ObjectKind, ObjectRight};
use wintermute_ssh::{SshTarget, TerminalRequest, MAX_TERMINAL_SIZE, MIN_TERMINAL_SIZE};

pub use session::{ConsoleAttachment, ConsoleControls, ConsoleOutput};

use crate::audit::AuditRecord;
use crate::caller::{Actor, Caller};
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::RowExt;
use recorder::{CastHeader, Recorder};
use session::{SessionParams, Shared};

/// Where recordings go, inside the data directory.
pub const RECORDINGS_DIR: &str = "recordings";

/// What a client asks for when it opens a console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleOpen {
    pub term: String,
    pub cols: u32,
    pub rows: u32,
    /// A command instead of the login shell.
    pub command: Option<String>,
    /// A PTY (always for a shell).
    pub pty: bool,
}

impl Default for ConsoleOpen {
    fn default() -> Self {
        ConsoleOpen { term: DEFAULT_TERM.into(), cols: 80, rows: 24, command: None, pty: true }
    }
}

/// The consoles open on this core.
#[derive(Default)]
pub(crate) struct ConsoleHub {
    /// By resume token.
    sessions: Mutex<HashMap<String, Arc<Shared>>>,
    recorder: OnceLock<Recorder>,
    shutdown: CancellationToken,
}

impl ConsoleHub {
    fn get(&self, token: &str) -> Option<Arc<Shared>> {
        self.sessions.lock().ok().and_then(|m| m.get(token).cloned())
    }

    fn insert(&self, shared: Arc<Shared>) {
        if let Ok(mut m) = self.sessions.lock() {
            m.insert(shared.resume_token.clone(), shared);
        }
    }

    fn remove(&self, token: &str) {
        if let Ok(mut m) = self.sessions.lock() {
            m.remove(token);
        }
    }

    /// Open sessions on this core.
    pub(crate) fn count(&self) -> usize {
        self.sessions.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Ends every session (the core is stopping).
    pub(crate) fn shut_down(&self) {
        self.shutdown.cancel();
    }

    fn recorder(&self) -> CoreResult<Recorder> {
        if let Some(r) = self.recorder.get() {
            return Ok(r.clone());
        }
        let started = Recorder::start()
            .map_err(|e| CoreError::Unavailable(format!("cannot start the console recording writer: {e}")))?;
        Ok(self.recorder.get_or_init(|| started).clone())
    }
}

/// Where and as whom the core logs in to an instance.
struct Endpoint {
    name: String,
    owner_id: i64,
    target: SshTarget,
}

impl ConsoleOpen {
    /// Refuses sizes, `TERM` values and commands the console does not take.
    pub fn check(&self) -> CoreResult<()> {
        validate(self)
    }
}

fn validate(req: &ConsoleOpen) -> CoreResult<()> {
    let size = MIN_TERMINAL_SIZE..=MAX_TERMINAL_SIZE;
    if !size.contains(&req.cols) {
        return Err(CoreError::invalid("cols", format!("cols must be {MIN_TERMINAL_SIZE} to {MAX_TERMINAL_SIZE}")));
    }
    if !size.contains(&req.rows) {
        return Err(CoreError::invalid("rows", format!("rows must be {MIN_TERMINAL_SIZE} to {MAX_TERMINAL_SIZE}")));
    }
    if req.term.is_empty()
        || req.term.len() > 64
        || !req.term.chars().all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
    {
        return Err(CoreError::invalid("term", "term must be 1 to 64 letters, digits, '.', '_', '+' or '-'"));
    }
    if let Some(c) = &req.command {
        if c.trim().is_empty() || c.len() > 16 * 1024 || c.contains('\0') {
            return Err(CoreError::invalid("command", "the command must be 1 to 16384 bytes without NUL"));
        }
    }
    if !req.pty && req.command.is_none() {
        return Err(CoreError::invalid("pty", "a shell needs a terminal; pty=false is for commands"));
    }
    Ok(())
}

fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

impl Engine {
    /// What is checked before a console connection is accepted, before any SSH connection: the
    /// caller's "SSH console" right on the instance, and that the instance runs and has an SSH
    /// address. A refusal is audited.
    pub async fn console_check(&self, caller: &Caller, instance_id: i64) -> CoreResult<()> {
        let result = match self.require_right(caller, ObjectKind::Instance, instance_id, ObjectRight::SshConsole).await
        {
            Ok(()) => self.console_endpoint(instance_id).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            let outcome =
                if matches!(e, CoreError::Forbidden(_)) { AuditOutcome::Denied } else { AuditOutcome::Failure };
            self.audit(
                &caller.actor(),
                AuditRecord::new("console.open", outcome)
                    .target("instance", instance_id)
                    .details(json!({"error": e.to_string()})),
            )
            .await?;
        }
        result
    }

    async fn console_endpoint(&self, instance_id: i64) -> CoreResult<Endpoint> {
        let r = sqlx::query(
            "SELECT name, owner_id, status, ssh_host, ssh_port, login_user FROM instances \
             WHERE id = $1 AND terminated_at IS NULL",
        )
        .bind(instance_id)
        .fetch_optional(self.store().pool())
        .await?
        .ok_or_else(|| CoreError::not_found(format!("there is no instance {instance_id}")))?;
        let status = r.text("status")?;
        if status != "running" {
            return Err(CoreError::Conflict(format!(
                "instance {instance_id} is {status}; a console needs it running (power it on first)"
            )));
        }
        let Some(host) = r.opt_text("ssh_host")?.filter(|h| !h.is_empty()) else {
            return Err(CoreError::Conflict(format!("instance {instance_id} has no SSH address yet")));
        };
        let port = r.opt_int("ssh_port")?.unwrap_or(22);
        let port = u16::try_from(port)
            .map_err(|_| CoreError::Internal(format!("instance {instance_id} has SSH port {port}")))?;
        let user = r.opt_text("login_user")?.filter(|u| !u.is_empty()).unwrap_or_else(|| "root".into());
        Ok(Endpoint { name: r.text("name")?, owner_id: r.int("owner_id")?, target: SshTarget::new(host, port, user) })
    }

    /// Opens a console on an instance: checks as [`Engine::console_check`], logs in with the
    /// instance owner's key and the pinned host key, starts the shell (or command) on a PTY, and
    /// returns the first attachment. Audited (`console.start`, later `console.end`).
    pub async fn console_open(
        &self,
        caller: &Caller,
        instance_id: i64,
        req: &ConsoleOpen,
    ) -> CoreResult<ConsoleAttachment> {
        validate(req)?;
        self.console_check(caller, instance_id).await?;
        let ep = self.console_endpoint(instance_id).await?;
        let opened = self.console_connect(instance_id, &ep, req).await;
        let (ssh, input, output) = match opened {
            Ok(io) => io,
            Err(e) => {
                self.audit(
                    &caller.actor(),
                    AuditRecord::new("console.open", AuditOutcome::Failure)
                        .target("instance", instance_id)
                        .details(json!({"error": e.to_string(), "code": e.code()})),
                )
                .await?;
                return Err(e);
            }
        };
        let recording = crate::settings::console_recording(self);
        let started = crate::time::now_ms();
        let id = self.console_insert(caller, instance_id, &ep.name, req, started).await?;
        let recorder = match recording {
            true => match self.console_start_recording(id, caller, &ep.name, req, started).await {
                Ok(r) => Some(r),
                Err(e) => {
                    input.close().await;
                    ssh.close().await;
                    self.console_finish_row(id, None, "recording_failed", 0, 0, 0).await?;
                    return Err(e);
                }
            },
            false => None,
        };
        let idle = u64::try_from(self.setting_i64(crate::settings::CONSOLE_IDLE_MINUTES)).unwrap_or(0);
        let grace = u64::try_from(self.setting_i64(crate::settings::CONSOLE_RECONNECT_SECONDS)).unwrap_or(0);
        let params = SessionParams {
            id,
            user_id: caller.user_id,
            instance_id,
            resume_token: random_token(),
            recording: recorder.clone(),
            idle: (idle > 0).then(|| Duration::from_secs(idle * 60)),
            grace: Duration::from_secs(grace),
        };
        let (shared, commands) = session::new_shared(&params, input);
        self.audit(
            &caller.actor(),
            AuditRecord::new("console.start", AuditOutcome::Success).target("instance", instance_id).details(json!({
                "session_id": id,
                "instance": ep.name,
                "login_user": ep.target.user,
                "command": req.command,
                "cols": req.cols,
                "rows": req.rows,
                "recording": recorder.is_some(),
            })),
        )
        .await?;
        let attachment = shared.attach(0);
        let hub = &self.inner.consoles;
        hub.insert(shared.clone());
        let engine = self.clone();
        let actor = caller.actor();
        let shutdown = hub.shutdown.clone();
        tokio::spawn(async move {
            let ending = session::run(shared.clone(), output, commands, recorder, shutdown).await;
            if let Err(e) = engine.console_ended(&actor, &shared, &ending).await {
                tracing::warn!(session = shared.id, "recording the end of a console session failed: {e}");
            }
            ssh.close().await;
            engine.inner.consoles.remove(&shared.resume_token);
            session::finish(&shared, ending.reason);
        });
        Ok(attachment)
    }

    async fn console_connect(
        &self,
        instance_id: i64,
        ep: &Endpoint,
        req: &ConsoleOpen,
    ) -> CoreResult<(wintermute_ssh::Session, wintermute_ssh::TerminalInput, wintermute_ssh::TerminalOutput)> {
        let key = self.user_key_pair(ep.owner_id).await?;
        let ssh = self.ssh_to_instance(instance_id, &ep.target, &key).await?;
        let terminal = TerminalRequest {
            term: req.term.clone(),
            cols: req.cols,
            rows: req.rows,
            command: req.command.clone(),
            pty: req.pty || req.command.is_none(),
        };
        match ssh.open_terminal(&terminal).await {
            Ok((input, output)) => Ok((ssh, input, output)),
            Err(e) => {
                ssh.close().await;
                Err(CoreError::Unavailable(format!("cannot open a terminal on instance {instance_id}: {e}")))
            }
        }
    }

    async fn console_start_recording(
        &self,
        id: i64,
        caller: &Caller,
        instance_name: &str,
        req: &ConsoleOpen,
        started_ms: i64,
    ) -> CoreResult<Recorder> {
        let recorder = self.inner.consoles.recorder()?;
        let relative = format!("{RECORDINGS_DIR}/{id}.cast");
        let path = self.config().storage.data_dir.join(&relative);
        let title = format!("{}@{}", caller.login, instance_name);
        let header = CastHeader {
            cols: req.cols,
            rows: req.rows,
            started_unix: started_ms / 1000,
            term: &req.term,
            title: &title,
            command: req.command.as_deref(),
        };
        recorder.open(id, &path, &header).await.map_err(|e| {
            CoreError::Unavailable(format!(
                "cannot create the recording {} ({e}); recording is required by WMAIS_CONSOLE_RECORDING",
                path.display()
            ))
        })?;
        sqlx::query("UPDATE console_sessions SET recording_path = $1 WHERE id = $2")
            .bind(&relative)
            .bind(id)
            .execute(self.store().pool())
            .await?;
        Ok(recorder)
    }

    /// Reattaches a client to its session after a dropped connection; replay starts at `offset`.
    /// Only the user who opened the session may, and only while they still hold the right.
    pub async fn console_resume(
        &self,
        caller: &Caller,
        instance_id: i64,
        token: &str,
        offset: u64,
    ) -> CoreResult<ConsoleAttachment> {
        let shared = self.console_resumable_session(caller, instance_id, token).await?;
        Ok(shared.attach(offset))
    }

    /// Checks a resume token (before the connection is accepted): an open session of this
    /// caller on this instance, and the caller still holds the "SSH console" right.
    pub async fn console_resumable(&self, caller: &Caller, instance_id: i64, token: &str) -> CoreResult<()> {
        self.console_resumable_session(caller, instance_id, token).await.map(|_| ())
    }

    async fn console_resumable_session(
        &self,
        caller: &Caller,
        instance_id: i64,
        token: &str,
    ) -> CoreResult<Arc<Shared>> {
        let gone = || {
            CoreError::not_found(
                "no console session with this resume token on this core (it ended, or its reconnect time ran out)",
            )
        };
        let shared = self.inner.consoles.get(token).ok_or_else(gone)?;
        if shared.user_id != caller.user_id || shared.instance_id != instance_id || shared.ended().is_some() {
            return Err(gone());
        }
        self.require_right(caller, ObjectKind::Instance, instance_id, ObjectRight::SshConsole).await?;
        Ok(shared)
    }

    /// Open console sessions on this core.
    pub fn console_count(&self) -> usize {
        self.inner.consoles.count()
    }

    async fn console_ended(&self, actor: &Actor, shared: &Shared, ending: &session::Ending) -> CoreResult<()> {
        let duration_ms = self
            .console_finish_row(
                shared.id,
                ending.exit.as_ref().map(|e| e.status),
                ending.reason.as_str(),
                ending.bytes_in,
                ending.bytes_out,
                ending.recording_bytes,
            )
            .await?;
        self.audit(
            actor,
            AuditRecord::new("console.end", AuditOutcome::Success).target("instance", shared.instance_id).details(
                json!({
                    "session_id": shared.id,
                    "reason": ending.reason.as_str(),
                    "exit_status": ending.exit.as_ref().map(|e| e.status),
                    "duration_ms": duration_ms,
                    "bytes_in": ending.bytes_in,
                    "bytes_out": ending.bytes_out,
                    "recording_bytes": ending.recording_bytes,
                }),
            ),
        )
        .await
    }

    /// The absolute path of a recording kept as `relative` in the table.
    fn recording_path(&self, relative: &str) -> PathBuf {
        self.config().storage.data_dir.join(relative)
    }
}
