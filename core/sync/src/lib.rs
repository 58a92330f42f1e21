//! Data sync between a user's data directory on the core and a path on an instance (manual
//! 6.1.2, 6.5, 7.3.2 "Data Synchronization", 7.3.6 Upload/Download, 8.3.1.2). The engine
//! (`wintermute_core::sync`) runs it as tasks with rights, progress and audit; this crate is the
//! transfer itself, so it builds (and benchmarks) without the rest of the core.
//!
//! - **What moves**: new or changed files only — by size and modification time, or by SHA-256
//!   when asked; modes and times are kept; deletions only when asked. Paths mean what they mean
//!   to rsync: `data/` is the directory's contents, `data` the directory itself.
//! - **Resume**: small files travel together in one tar stream, each complete file in place
//!   with its time as soon as it arrived, so a cut connection costs at most the file in flight;
//!   large files ([`LARGE_FILE`] and up) are assembled under a hidden partial name and a later
//!   attempt appends from where the cut left them. Attempts are retried per
//!   WMAIS_DATA_TRANSFER_RETRIES and WMAIS_DATA_TRANSFER_PAUSE_BETWEEN_RETRY.
//! - **The instance** needs nothing installed: POSIX shell, coreutils, find and tar (GNU tar to
//!   download), see [`remote`].
//! - **The jail** on the core: see [`jail`].

pub mod jail;
pub mod listing;
pub mod paths;
pub mod remote;
mod run;
mod tarfmt;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wintermute_ssh::Session;

pub use jail::Identity;
pub use paths::DataRoot;
pub use run::{Attempt, LARGE_FILE};

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A path the user gave that is refused or does not exist: not retried.
    #[error("{0}")]
    Path(String),
    /// Something on the core's side would have left the data directory (a symlink, an escape):
    /// refused, audited, not retried.
    #[error("refused: {path}: {reason}")]
    Jail { path: String, reason: String },
    /// The user's own rights on the core do not allow it: not retried.
    #[error("{0}")]
    Denied(String),
    /// No system account for the user while the core runs as root: not retried.
    #[error("{0}")]
    Account(String),
    /// A file changed while it was being sent: retried (the next attempt plans again).
    #[error("{0} changed while it was being sent")]
    Changed(String),
    /// Reading or writing on the core failed.
    #[error("on the core: {0}")]
    Local(String),
    /// A command on the instance failed: retried.
    #[error("on the instance: {0}")]
    Remote(String),
    /// The instance lacks a tool sync needs (GNU find or GNU tar: BusyBox systems are not
    /// supported); the message names it. Not retried.
    #[error("the instance cannot take part: {0}")]
    Unsupported(String),
    /// The SSH connection failed or was cut: retried.
    #[error("the connection to the instance: {0}")]
    Connection(String),
}

impl SyncError {
    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SyncError::Changed(_) | SyncError::Remote(_) | SyncError::Connection(_))
    }

    /// A short machine-readable code, for task logs and the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::Path(_) => "bad_path",
            SyncError::Jail { .. } => "jail_refused",
            SyncError::Denied(_) => "permission_denied",
            SyncError::Account(_) => "no_system_account",
            SyncError::Changed(_) => "changed",
            SyncError::Local(_) => "local",
            SyncError::Remote(_) => "remote",
            SyncError::Unsupported(_) => "unsupported_instance",
            SyncError::Connection(_) => "connection",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Core to instance.
    Upload,
    /// Instance to core.
    Download,
}

/// A transfer as the user asked for it. For an upload `source` is in the data directory and
/// `target` on the instance; for a download the other way round.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Transfer {
    pub direction: Direction,
    pub source: String,
    pub target: String,
    #[serde(default)]
    pub delete: bool,
    #[serde(default)]
    pub checksum: bool,
}

/// The core's side: the user's data root and whose rights the file work runs with.
#[derive(Debug, Clone)]
pub struct LocalSide {
    pub root: DataRoot,
    pub identity: Option<Identity>,
}

impl LocalSide {
    /// The side of `login` for the WMAIS_DATA_BASE_PATH `template`.
    pub fn for_user(template: &str, login: &str) -> Result<LocalSide, SyncError> {
        Ok(LocalSide { root: DataRoot::for_user(template, login)?, identity: Identity::for_login(login)? })
    }

    /// Checks the transfer's paths without touching any file: `..`, paths outside the data
    /// directory and bad instance paths are refused here, before a task is queued.
    pub fn check(&self, t: &Transfer) -> Result<(), SyncError> {
        check_paths(&self.root, t)
    }
}

/// [`LocalSide::check`] for a data root alone (no system account needed).
pub fn check_paths(root: &DataRoot, t: &Transfer) -> Result<(), SyncError> {
    let (local, remote) = match t.direction {
        Direction::Upload => (&t.source, &t.target),
        Direction::Download => (&t.target, &t.source),
    };
    root.resolve(local)?;
    paths::remote_path(remote)?;
    Ok(())
}

impl LocalSide {}

/// Live counters of the current attempt, read by whoever shows progress.
#[derive(Debug, Default)]
pub struct Progress {
    pub files_total: AtomicU64,
    pub files_done: AtomicU64,
    pub bytes_total: AtomicU64,
    pub bytes_done: AtomicU64,
    /// 1 while comparing the two sides, 2 while moving data, 3 when done.
    pub phase: AtomicU64,
}

impl Progress {
    /// A new attempt: the totals of its plan, nothing done yet.
    pub fn start(&self, files: u64, bytes: u64) {
        self.files_total.store(files, Ordering::Relaxed);
        self.bytes_total.store(bytes, Ordering::Relaxed);
        self.files_done.store(0, Ordering::Relaxed);
        self.bytes_done.store(0, Ordering::Relaxed);
        self.phase.store(2, Ordering::Relaxed);
    }

    /// (files done, files total, bytes done, bytes total)
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.files_done.load(Ordering::Relaxed),
            self.files_total.load(Ordering::Relaxed),
            self.bytes_done.load(Ordering::Relaxed),
            self.bytes_total.load(Ordering::Relaxed),
        )
    }
}

/// What a whole transfer did, over all its attempts.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub attempts: u32,
    pub files_sent: u64,
    pub bytes_sent: u64,
    pub deleted: u64,
    /// Files already the same on both sides (in the last attempt).
    pub unchanged: u64,
    /// Paths left out, and why (symlinks, names that are not UTF-8).
    pub skipped: Vec<(String, String)>,
    /// Why earlier attempts failed.
    pub retried: Vec<String>,
}

/// How often to try again after a failed attempt, and how long to wait in between.
#[derive(Debug, Clone, Copy)]
pub struct Retries {
    pub retries: u32,
    pub pause: Duration,
}

/// Runs `transfer`, opening a session with `connect` for each attempt and trying again per
/// `retries` while the failure is one that another attempt may get past. `on_retry` hears each
/// failed attempt.
pub async fn transfer<C, F>(
    mut connect: C,
    local: &LocalSide,
    t: &Transfer,
    progress: &Arc<Progress>,
    retries: Retries,
    mut on_retry: impl FnMut(u32, &SyncError),
) -> Result<Report, SyncError>
where
    C: FnMut() -> F,
    F: Future<Output = Result<Session, SyncError>>,
{
    let mut report = Report::default();
    loop {
        report.attempts += 1;
        progress.phase.store(1, Ordering::Relaxed);
        let result = match connect().await {
            Ok(session) => {
                let r = run::attempt(&session, local, t, progress).await;
                session.close().await;
                r
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(a) => {
                report.files_sent += a.files_sent;
                report.bytes_sent += a.bytes_sent;
                report.deleted += a.deleted;
                report.unchanged = a.unchanged;
                report.skipped = a.skipped;
                progress.phase.store(3, Ordering::Relaxed);
                return Ok(report);
            }
            Err(e) if e.is_retryable() && report.attempts <= retries.retries => {
                on_retry(report.attempts, &e);
                report.retried.push(e.to_string());
                tokio::time::sleep(retries.pause).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// One attempt over an open session, for callers that handle connections themselves.
pub async fn transfer_once(
    session: &Session,
    local: &LocalSide,
    t: &Transfer,
    progress: &Arc<Progress>,
) -> Result<Attempt, SyncError> {
    run::attempt(session, local, t, progress).await
}
