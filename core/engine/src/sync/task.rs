//! Upload and download as tasks (manual 7.3.6, 7.4.1): rights, the jail checked before
//! queueing, live progress (files, bytes, rate, time left), cancel, retries, audit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::instances::InstanceStatus;
use wintermute_api::rights::{ObjectKind, ObjectRight};
use wintermute_api::sync::{human_bytes, progress_text, TransferRequest, TransferSummary};
use wintermute_api::tasks::{LogLevel, Task};

use super::{DataRoot, Direction, LocalSide, Progress, Report, Retries, SyncError, Transfer};
use crate::audit::AuditRecord;
use crate::caller::{Actor, Caller};
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::tasks::{NewTask, TaskContext, TaskFailure, TaskHandler, TaskManager};

pub const TRANSFER: &str = "instance.transfer";

pub(crate) fn register(mgr: &TaskManager) {
    mgr.register(Arc::new(TransferRunner));
}

/// A refusal or bad path becomes a clear request error before anything is queued.
fn core_error(field: &str, e: SyncError) -> CoreError {
    match e {
        SyncError::Path(m) => CoreError::invalid(field, m),
        SyncError::Jail { .. } | SyncError::Denied(_) => CoreError::forbidden(e.to_string()),
        SyncError::Account(m) => CoreError::Conflict(m),
        other => CoreError::Unavailable(other.to_string()),
    }
}

/// The instance path of a volume transfer: relative to the volume's mount point, which it may
/// not leave.
fn volume_path(mount: &str, typed: &str) -> CoreResult<String> {
    if typed.split('/').any(|p| p == "..") {
        return Err(CoreError::invalid("path", "`..` is not allowed in a volume path"));
    }
    let rel = typed.strip_prefix(mount).filter(|r| r.is_empty() || r.starts_with('/')).unwrap_or(typed);
    let rel = rel.trim_start_matches('/');
    let mount = mount.trim_end_matches('/');
    Ok(if rel.is_empty() { format!("{mount}/") } else { format!("{mount}/{rel}") })
}

impl Engine {
    /// The caller's side of transfers on this core.
    pub fn local_side(&self, login: &str) -> Result<LocalSide, SyncError> {
        LocalSide::for_user(&self.setting_string("WMAIS_DATA_BASE_PATH"), login)
    }

    /// Starts an upload or download between the caller's data directory and an instance
    /// (needs the instance's "upload data" or "download data" right).
    pub async fn start_instance_transfer(
        &self,
        caller: &Caller,
        instance_id: i64,
        direction: Direction,
        req: &TransferRequest,
    ) -> CoreResult<Task> {
        let right = match direction {
            Direction::Upload => ObjectRight::UploadData,
            Direction::Download => ObjectRight::DownloadData,
        };
        self.require_right(caller, ObjectKind::Instance, instance_id, right).await?;
        let t = Transfer {
            direction,
            source: req.source.clone(),
            target: req.target.clone(),
            delete: req.delete,
            checksum: req.checksum,
        };
        self.queue_transfer(caller, instance_id, ("instance", instance_id), t).await
    }

    /// Starts an upload or download on a volume: the instance path is relative to the volume's
    /// mount point on the instance it is attached to (needs the volume's right).
    pub async fn start_volume_transfer(
        &self,
        caller: &Caller,
        volume_id: i64,
        direction: Direction,
        req: &TransferRequest,
    ) -> CoreResult<Task> {
        let right = match direction {
            Direction::Upload => ObjectRight::UploadData,
            Direction::Download => ObjectRight::DownloadData,
        };
        self.require_right(caller, ObjectKind::Volume, volume_id, right).await?;
        let vol = self.load_volume(volume_id).await?;
        let mount = vol.mount_point.clone().unwrap_or_else(|| wintermute_api::instances::DEFAULT_MOUNT_POINT.into());
        let (source, target) = match direction {
            Direction::Upload => (req.source.clone(), volume_path(&mount, &req.target)?),
            Direction::Download => (volume_path(&mount, &req.source)?, req.target.clone()),
        };
        let instance_id = vol.instance_id.ok_or_else(|| {
            CoreError::Conflict(format!("volume {} is not attached to an instance; attach it first", vol.name))
        })?;
        let t = Transfer { direction, source, target, delete: req.delete, checksum: req.checksum };
        self.queue_transfer(caller, instance_id, ("volume", volume_id), t).await
    }

    async fn queue_transfer(
        &self,
        caller: &Caller,
        instance_id: i64,
        on: (&str, i64),
        t: Transfer,
    ) -> CoreResult<Task> {
        let field = match t.direction {
            Direction::Upload => "source",
            Direction::Download => "target",
        };
        let template = self.setting_string("WMAIS_DATA_BASE_PATH");
        let checked = DataRoot::for_user(&template, &caller.login).and_then(|root| super::check_paths(&root, &t));
        if let Err(e) = checked {
            self.audit(
                &caller.actor(),
                AuditRecord::new("data.transfer", AuditOutcome::Denied)
                    .target(on.0, on.1)
                    .details(json!({"transfer": t, "reason": e.to_string(), "code": e.code()})),
            )
            .await?;
            return Err(core_error(field, e));
        }
        let inst = self.load_instance(instance_id).await?;
        if !matches!(inst.status, InstanceStatus::Running) {
            return Err(CoreError::Conflict(format!(
                "instance {} is {}; data moves only to and from running instances",
                inst.name, inst.status
            )));
        }
        // The system account is looked up now too, so a user without one hears it at once.
        self.local_side(&caller.login).map_err(|e| core_error(field, e))?;
        let verb = match t.direction {
            Direction::Upload => "Upload data to",
            Direction::Download => "Download data from",
        };
        let task = self
            .task_submit(
                caller.user_id,
                NewTask {
                    kind: TRANSFER.into(),
                    title: format!("{verb} {}", inst.name),
                    target_kind: Some("instance".into()),
                    target_id: Some(instance_id),
                    params: json!({"instance_id": instance_id, "login": caller.login, "transfer": t}),
                },
            )
            .await?;
        self.audit(
            &caller.actor(),
            AuditRecord::new("data.transfer", AuditOutcome::Success)
                .target(on.0, on.1)
                .details(json!({"transfer": t, "task": task.id})),
        )
        .await?;
        Ok(task)
    }

    /// Runs one transfer inside a task: per WMAIS_DATA_TRANSFER_RETRIES and
    /// WMAIS_DATA_TRANSFER_PAUSE_BETWEEN_RETRY, with progress in the task and refusals audited.
    /// The launch check of a setup's uploads, before any cloud call: each source must be in
    /// the caller's data directory (not leave it) and exist there, readable with the caller's
    /// own rights; each target must be a full instance path.
    pub(crate) async fn check_data_uploads(
        &self,
        caller: &Caller,
        uploads: &[wintermute_api::setup::DataUpload],
    ) -> CoreResult<()> {
        if uploads.is_empty() {
            return Ok(());
        }
        let field = |i: usize, f: &str| format!("setup.data_upload[{i}].{f}");
        // Every refusal names the upload it is about.
        let core_error = |f: &str, e: SyncError| match e {
            SyncError::Path(m) => CoreError::invalid(f, m),
            SyncError::Jail { .. } | SyncError::Denied(_) => CoreError::forbidden(format!("{f}: {e}")),
            SyncError::Account(m) => CoreError::Conflict(format!("{f}: {m}")),
            other => CoreError::Unavailable(format!("{f}: {other}")),
        };
        let root = DataRoot::for_user(&self.setting_string("WMAIS_DATA_BASE_PATH"), &caller.login)
            .map_err(|e| core_error(&field(0, "source"), e))?;
        let mut sources = Vec::with_capacity(uploads.len());
        for (i, u) in uploads.iter().enumerate() {
            let src = root.resolve(&u.source).map_err(|e| core_error(&field(i, "source"), e))?;
            super::paths::remote_path(&u.target).map_err(|e| core_error(&field(i, "target"), e))?;
            sources.push((i, u.source.clone(), src.joined()));
        }
        let local = self.local_side(&caller.login).map_err(|e| core_error(&field(0, "source"), e))?;
        let path = root.path().to_owned();
        let missing = super::jail::run_as(local.identity.clone(), move || {
            let jail = super::jail::Jail::open(&path)?;
            for (i, typed, rel) in sources {
                if jail.kind(&rel)?.is_none() {
                    return Ok(Some((i, typed)));
                }
            }
            Ok(None)
        })
        .await;
        match missing {
            Ok(None) => Ok(()),
            Ok(Some((i, typed))) => Err(CoreError::invalid(
                field(i, "source"),
                format!("{typed} does not exist in your data directory {}", root.path().display()),
            )),
            Err(e) => Err(core_error(&field(0, "source"), e)),
        }
    }

    /// The upload-at-launch stage of provisioning calls it too.
    pub(crate) async fn run_transfer(
        &self,
        ctx: &TaskContext,
        instance_id: i64,
        login: &str,
        t: &Transfer,
    ) -> Result<Report, TaskFailure> {
        let inst = self.load_instance(instance_id).await?;
        let actor = Actor { id: Some(ctx.task.owner_id), login: Some(login.to_owned()), address: None };
        let local = match self.local_side(login).and_then(|l| l.check(t).map(|()| l)) {
            Ok(l) => l,
            Err(e) => return Err(self.transfer_failed(&actor, instance_id, t, e).await),
        };
        let retries = Retries {
            retries: u32::try_from(self.setting_i64("WMAIS_DATA_TRANSFER_RETRIES").max(0)).unwrap_or(0),
            pause: Duration::from_secs(
                u64::try_from(self.setting_i64("WMAIS_DATA_TRANSFER_PAUSE_BETWEEN_RETRY").max(0)).unwrap_or(10),
            ),
        };
        let what = match t.direction {
            Direction::Upload => format!("{}: uploading {} to {}", inst.name, t.source, t.target),
            Direction::Download => format!("{}: downloading {} to {}", inst.name, t.source, t.target),
        };
        ctx.info(&what).await;
        let progress: Arc<Progress> = Arc::default();
        let (retry_tx, mut retry_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let connect =
            || async { self.wait_for_ssh(ctx, instance_id).await.map_err(|e| SyncError::Connection(e.to_string())) };
        let on_retry = |n: u32, e: &SyncError| {
            let _ = retry_tx.send(format!("attempt {n} failed ({e}); trying again in {:?}", retries.pause));
        };
        let work = super::transfer(connect, &local, t, &progress, retries, on_retry);
        tokio::pin!(work);
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let result = loop {
            tokio::select! {
                r = &mut work => break r,
                _ = ctx.cancelled() => return Err(TaskFailure::Cancelled),
                Some(line) = retry_rx.recv() => ctx.log(LogLevel::Warn, &line).await,
                _ = tick.tick() => {
                    let (fraction, line) = progress_line(&progress, started.elapsed());
                    ctx.progress(fraction, &line).await;
                }
            }
        };
        while let Ok(line) = retry_rx.try_recv() {
            ctx.log(LogLevel::Warn, &line).await;
        }
        let report = match result {
            Ok(r) => r,
            Err(e) => return Err(self.transfer_failed(&actor, instance_id, t, e).await),
        };
        for (path, why) in &report.skipped {
            ctx.log(LogLevel::Warn, &format!("skipped {path}: {why}")).await;
        }
        if !report.skipped.is_empty() {
            let skipped: Vec<String> = report.skipped.iter().map(|(p, w)| format!("{p}: {w}")).collect();
            let record = AuditRecord::new("data.transfer.skipped", AuditOutcome::Denied)
                .target("instance", instance_id)
                .details(json!({"transfer": t, "skipped": skipped}));
            if let Err(e) = self.audit(&actor, record).await {
                tracing::warn!("could not audit skipped paths: {e}");
            }
        }
        let summary = summary(&report);
        ctx.info(&format!(
            "{}: {} files ({}) sent, {} unchanged, {} deleted, {} skipped, {} attempt(s)",
            inst.name,
            summary.files_sent,
            human_bytes(summary.bytes_sent),
            summary.files_unchanged,
            summary.deleted,
            summary.files_skipped,
            summary.attempts
        ))
        .await;
        let mut last = format!("{} files, {}", summary.files_sent, human_bytes(summary.bytes_sent));
        if summary.files_skipped > 0 {
            last.push_str(&format!(", {} skipped", summary.files_skipped));
        }
        ctx.progress(1.0, &last).await;
        Ok(report)
    }

    /// The upload-at-launch stage of provisioning: each of the setup's uploads from the
    /// instance owner's data directory, after the storage is mounted. A failed upload fails the
    /// launch with its reason.
    pub(crate) async fn upload_at_launch(
        &self,
        ctx: &TaskContext,
        instance_id: i64,
        uploads: &[wintermute_api::setup::DataUpload],
    ) -> Result<(), TaskFailure> {
        if uploads.is_empty() {
            return Ok(());
        }
        let inst = self.load_instance(instance_id).await?;
        self.set_instance_status(instance_id, InstanceStatus::Initializing, "uploading data").await?;
        // The targets belong to the login user, who does the writing (a mount point is made by
        // root): with sudo when the login user is not root.
        let session = self.wait_for_ssh(ctx, instance_id).await?;
        for u in uploads {
            let dir = super::remote::word(u.target.trim_end_matches('/'));
            let cmd = format!(
                "u=$(id -un); if [ \"$(id -u)\" = 0 ]; then mkdir -p -- {dir}; \
                 else sudo -n mkdir -p -- {dir} && sudo -n chown -- \"$u\": {dir}; fi"
            );
            let out = session.exec(&cmd, None).await;
            if let Ok(o) = &out {
                if !o.success() {
                    ctx.log(
                        LogLevel::Warn,
                        &format!(
                            "{}: preparing {}: {}",
                            inst.name,
                            u.target,
                            String::from_utf8_lossy(&o.stderr).trim()
                        ),
                    )
                    .await;
                }
            }
        }
        session.close().await;
        for u in uploads {
            ctx.check_cancel()?;
            let t = Transfer {
                direction: Direction::Upload,
                source: u.source.clone(),
                target: u.target.clone(),
                delete: false,
                checksum: false,
            };
            self.run_transfer(ctx, instance_id, &inst.owner_login, &t).await?;
        }
        Ok(())
    }

    async fn transfer_failed(&self, actor: &Actor, instance_id: i64, t: &Transfer, e: SyncError) -> TaskFailure {
        let outcome = match e {
            SyncError::Jail { .. } | SyncError::Denied(_) | SyncError::Path(_) | SyncError::Account(_) => {
                AuditOutcome::Denied
            }
            _ => AuditOutcome::Failure,
        };
        let record = AuditRecord::new("data.transfer", outcome)
            .target("instance", instance_id)
            .details(json!({"transfer": t, "reason": e.to_string(), "code": e.code()}));
        if let Err(err) = self.audit(actor, record).await {
            tracing::warn!("could not audit a failed transfer: {err}");
        }
        TaskFailure::Failed(e.to_string())
    }
}

pub fn summary(r: &Report) -> TransferSummary {
    TransferSummary {
        files_sent: r.files_sent,
        bytes_sent: r.bytes_sent,
        files_unchanged: r.unchanged,
        deleted: r.deleted,
        attempts: r.attempts,
        files_skipped: r.skipped.len() as u64,
        skipped: r.skipped.iter().map(|(p, w)| format!("{p}: {w}")).collect(),
    }
}

/// Progress as a fraction (by bytes, files when there are no bytes) and a line: files, bytes,
/// rate, time left.
fn progress_line(p: &Progress, elapsed: Duration) -> (f64, String) {
    let (files, files_total, bytes, bytes_total) = p.snapshot();
    if p.phase.load(std::sync::atomic::Ordering::Relaxed) < 2 {
        return (0.0, "comparing the two sides".into());
    }
    let fraction = if bytes_total > 0 {
        bytes as f64 / bytes_total as f64
    } else if files_total > 0 {
        files as f64 / files_total as f64
    } else {
        1.0
    };
    let line = progress_text((files, files_total), (bytes, bytes_total), elapsed.as_secs_f64());
    (fraction.clamp(0.0, 1.0), line)
}

struct TransferRunner;

#[async_trait::async_trait]
impl TaskHandler for TransferRunner {
    fn kind(&self) -> &'static str {
        TRANSFER
    }

    /// A transfer only moves what still differs, and resumes partial files: running it again
    /// after a crash is safe.
    fn resumable(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &TaskContext) -> Result<(), TaskFailure> {
        let instance_id = ctx.params.get("instance_id").and_then(|v| v.as_i64()).ok_or_else(|| bad("instance_id"))?;
        let login = ctx.params.get("login").and_then(|v| v.as_str()).ok_or_else(|| bad("login"))?.to_owned();
        let t: Transfer = serde_json::from_value(ctx.params.get("transfer").cloned().unwrap_or_default())
            .map_err(|_| bad("transfer"))?;
        let report = ctx.engine().run_transfer(ctx, instance_id, &login, &t).await?;
        ctx.checkpoint(&json!({"summary": summary(&report)})).await?;
        Ok(())
    }
}

fn bad(what: &str) -> TaskFailure {
    TaskFailure::Failed(format!("the task's parameters lack {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_paths_stay_under_the_mount_point() {
        assert_eq!(volume_path("/mnt/data", "x/y/").unwrap(), "/mnt/data/x/y/");
        assert_eq!(volume_path("/mnt/data", "/mnt/data/x").unwrap(), "/mnt/data/x");
        assert_eq!(volume_path("/mnt/data", "/etc").unwrap(), "/mnt/data/etc");
        assert_eq!(volume_path("/mnt/data", "").unwrap(), "/mnt/data/");
        assert!(volume_path("/mnt/data", "../etc").is_err());
    }

    #[test]
    fn progress_lines_show_files_bytes_rate_and_time_left() {
        let p = Progress::default();
        p.start(10, 2_000_000);
        p.files_done.store(5, std::sync::atomic::Ordering::Relaxed);
        p.bytes_done.store(1_000_000, std::sync::atomic::Ordering::Relaxed);
        let (f, line) = progress_line(&p, Duration::from_secs(2));
        assert!((f - 0.5).abs() < 1e-9);
        assert_eq!(line, "5 of 10 files, 1.0 MB of 2.0 MB, 500.0 KB/s, 0:02 left");
    }
}
