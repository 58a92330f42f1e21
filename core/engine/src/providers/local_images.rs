//! Images of local providers, made on the core's host: built from a recipe (`debian-12`:
//! debootstrap, one boot of the raw disk to install its boot loader, conversion to qcow2) or
//! imported from a qcow2/raw disk image file of the host (copied into the image folder). Either
//! way the image lands in the provider's catalogue disabled, with its OS type, login user and
//! description filled in, so an administrator only has to enable it. Administrators only; a task
//! whose log has the steps.
//!
//! Built images are kept in the image folder (`local.image_dir`, default `<data-dir>/images`):
//! a recipe is built there once and reused by every later request and every provider.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::providers::{LocalImageRequest, OsType, ProviderKind};
use wintermute_api::rights::ObjectKind;
use wintermute_api::tasks::Task;
use wintermute_cloud_local::image::{
    build_debian_image, check_build_host, find_built_image, import_disk_image, sniff_disk_image, ImageBuildError,
    DEBIAN_12, DEBIAN_12_DESCRIPTION, LOGIN_USER, RECIPES,
};
use wintermute_cloud_local::{find_program, Accel, QEMU_IMG, REGION};

use crate::audit::AuditRecord;
use crate::caller::{Actor, Caller};
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::{flag, RowExt};
use crate::tasks::{NewTask, TaskContext, TaskFailure, TaskHandler};
use crate::time::now_ms;
use crate::validate;

pub const LOCAL_IMAGE: &str = "provider.local_image";

/// What the status message of a synchronized local provider says.
pub(crate) fn accel_status(accel: Accel) -> String {
    match accel {
        Accel::Kvm => "guests run with KVM (hardware virtualisation)".into(),
        Accel::Tcg => "guests run with TCG (software emulation: this host offers no usable hardware \
                       virtualisation, so guests are several times slower than with KVM)"
            .into(),
    }
}

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Source {
    /// Built from this recipe.
    Recipe(String),
    /// Copied from this file of the core's host.
    Path(PathBuf),
}

/// A checked request: the parameters of its task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LocalImageJob {
    pub source: Source,
    pub name: String,
    pub description: String,
    pub os_type: Option<OsType>,
    pub login_user: String,
    /// Enable the image in the catalogue at once (the core's own first-start set-up does).
    #[serde(default)]
    pub enable: bool,
}

impl LocalImageJob {
    /// The Debian 12 recipe with everything filled in.
    pub(crate) fn debian_12(enable: bool) -> LocalImageJob {
        LocalImageJob {
            source: Source::Recipe(DEBIAN_12.into()),
            name: DEBIAN_12.into(),
            description: DEBIAN_12_DESCRIPTION.into(),
            os_type: Some(OsType::Debian),
            login_user: LOGIN_USER.into(),
            enable,
        }
    }

    /// Checks a request and fills in the defaults.
    fn from_request(req: &LocalImageRequest) -> CoreResult<LocalImageJob> {
        let recipe = req.recipe.as_deref().map(str::trim).filter(|r| !r.is_empty());
        let path = req.path.as_deref().map(str::trim).filter(|p| !p.is_empty());
        let mut job = match (recipe, path) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(CoreError::invalid(
                    "recipe",
                    format!("give either a recipe ({}) or the path of a disk image file, not both", RECIPES.join(", ")),
                ))
            }
            (Some(recipe), None) => {
                if !RECIPES.contains(&recipe) {
                    return Err(CoreError::invalid(
                        "recipe",
                        format!("there is no image recipe {recipe:?}; known: {}", RECIPES.join(", ")),
                    ));
                }
                LocalImageJob::debian_12(false)
            }
            (None, Some(path)) => {
                let path = PathBuf::from(path);
                if !path.is_absolute() {
                    return Err(CoreError::invalid("path", "give an absolute path of a file on the core's host"));
                }
                sniff_disk_image(&path).map_err(|e| CoreError::invalid("path", e.to_string()))?;
                let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                let name = stem.trim_end_matches(".qcow2").trim_end_matches(".raw").to_string();
                LocalImageJob {
                    description: format!("imported from {}", path.display()).chars().take(500).collect(),
                    source: Source::Path(path),
                    name,
                    os_type: None,
                    login_user: String::new(),
                    enable: false,
                }
            }
        };
        if let Some(name) = &req.name {
            job.name = name.trim().to_string();
        }
        if let Some(d) = &req.description {
            job.description = d.trim().to_string();
        }
        if req.os_type.is_some() {
            job.os_type = req.os_type;
        }
        if let Some(u) = &req.login_user {
            job.login_user = u.trim().to_string();
        }
        validate::text("name", &job.name, 128, false)?;
        validate::text("description", &job.description, 500, true)?;
        if !job.login_user.is_empty() {
            validate::login("login_user", &job.login_user)?;
        }
        Ok(job)
    }

    fn title(&self, provider: &str) -> String {
        match &self.source {
            Source::Recipe(r) => format!("Build the {r} image for local provider {provider}"),
            Source::Path(p) => format!("Import {} as image {} of local provider {provider}", p.display(), self.name),
        }
    }
}

/// "Not installed on the core's host", naming the Debian package.
fn missing(program: &str, package: &str) -> CoreError {
    CoreError::Unavailable(format!(
        "`{program}` is not installed on the core's host: install the Debian package {package} \
         (apt-get install {package})"
    ))
}

/// An image build or copy that failed, as the engine reports it.
fn build_error(e: ImageBuildError) -> CoreError {
    match e {
        ImageBuildError::MissingTool { program, package } => missing(&program, &package),
        ImageBuildError::NotRoot => CoreError::Unavailable(
            "building a local image needs root on the core's host (debootstrap and chroot): run the core as root, \
             or build the image once as root with `cargo run -p wintermute-cloud-local --example build-image` into \
             the core's image folder"
                .into(),
        ),
        e @ (ImageBuildError::NoSuchFile { .. } | ImageBuildError::NotAnImage { .. }) => {
            CoreError::invalid("path", e.to_string())
        }
        e => CoreError::Unavailable(e.to_string()),
    }
}

/// Whether this host can do `job` now: the programs it needs are there (and root, to build).
pub(crate) fn check_host(job: &LocalImageJob, image_dir: &Path) -> CoreResult<()> {
    if find_program(QEMU_IMG.0).is_none() {
        return Err(missing(QEMU_IMG.0, QEMU_IMG.1));
    }
    if matches!(job.source, Source::Recipe(_)) && find_built_image(image_dir).is_none() {
        check_build_host().map_err(build_error)?;
    }
    Ok(())
}

/// Writes a build's steps to the task log (and the core's log), and its progress to the task:
/// every step, but of debootstrap's line per package only the first of each kind.
pub(crate) struct Reporter<'a> {
    ctx: &'a TaskContext,
    /// The task's progress at the start and end of this piece of work.
    range: (f64, f64),
    stage: String,
    last_fraction: f64,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(ctx: &'a TaskContext, from: f64, to: f64) -> Reporter<'a> {
        Reporter { ctx, range: (from, to), stage: String::new(), last_fraction: -1.0 }
    }

    async fn report(&mut self, message: &str, fraction: f64) {
        let stage = stage_of(message);
        let new_stage = stage != self.stage;
        if new_stage {
            self.stage = stage;
            self.ctx.info(message).await;
            tracing::info!(task = self.ctx.task.id, "{}: {message}", self.ctx.task.title);
        }
        if new_stage || fraction - self.last_fraction >= 0.01 {
            self.last_fraction = fraction;
            let (from, to) = self.range;
            self.ctx.progress(from + (to - from) * fraction.clamp(0.0, 1.0), message).await;
        }
    }
}

/// What a build step is part of: itself, but for debootstrap's lines their first word (so its
/// line per package counts once: "Retrieving", "Extracting", "Unpacking", "Configuring"…, where
/// retrieving and validating alternate for each package and count as one).
fn stage_of(message: &str) -> String {
    match message.strip_prefix("debootstrap: ") {
        Some(line) => match line.split_whitespace().next().unwrap_or_default() {
            "Validating" => "Retrieving".to_string(),
            word => word.to_string(),
        },
        None => message.to_string(),
    }
}

/// Runs `work` (which reports `(message, fraction)` through the sender it is given), passing
/// its reports to `reporter`, until it ends or the task is cancelled (then `work` is dropped,
/// which kills the programs it runs).
async fn reported<T, F>(
    reporter: &mut Reporter<'_>,
    work: impl FnOnce(mpsc::UnboundedSender<(String, f64)>) -> F,
) -> Result<T, TaskFailure>
where
    F: std::future::Future<Output = Result<T, ImageBuildError>>,
{
    let (tx, mut rx) = mpsc::unbounded_channel();
    let work = work(tx);
    tokio::pin!(work);
    let result = loop {
        tokio::select! {
            r = &mut work => break r,
            Some((message, fraction)) = rx.recv() => reporter.report(&message, fraction).await,
            _ = reporter.ctx.cancelled() => return Err(TaskFailure::Cancelled),
        }
    };
    while let Ok((message, fraction)) = rx.try_recv() {
        reporter.report(&message, fraction).await;
    }
    result.map_err(|e| TaskFailure::Failed(build_error(e).to_string()))
}

struct LocalImage;

#[async_trait::async_trait]
impl TaskHandler for LocalImage {
    fn kind(&self) -> &'static str {
        LOCAL_IMAGE
    }

    /// A build or copy interrupted by a restart starts again (a build's leftovers are removed
    /// first; a finished build is found and reused).
    fn resumable(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &TaskContext) -> Result<(), TaskFailure> {
        let id = ctx.task.target_id.ok_or_else(|| TaskFailure::Failed("the task names no provider".into()))?;
        let job: LocalImageJob = serde_json::from_value(ctx.params.clone())
            .map_err(|e| TaskFailure::Failed(format!("the task's parameters cannot be read: {e}")))?;
        let actor = Actor { id: Some(ctx.task.owner_id), login: Some(ctx.task.owner_login.clone()), address: None };
        let mut reporter = Reporter::new(ctx, 0.0, 0.95);
        ctx.engine().local_image_into_catalogue(&mut reporter, id, ctx.task.owner_id, &actor, &job).await?;
        Ok(())
    }
}

pub(crate) fn register(mgr: &crate::tasks::TaskManager) {
    mgr.register(Arc::new(LocalImage));
}

impl Engine {
    /// Starts building or importing an image for local provider `provider_id` (administrators).
    /// The request is checked at once, the host too (QEMU's tools, and debootstrap and root when a
    /// recipe is not built yet); the work is a task.
    pub async fn local_images_start(
        &self,
        caller: &Caller,
        provider_id: i64,
        req: &LocalImageRequest,
    ) -> CoreResult<Task> {
        if !caller.is_admin {
            return Err(CoreError::forbidden("only administrators build and import local images"));
        }
        let p = self.load_provider(provider_id).await?;
        if p.kind != ProviderKind::Local {
            return Err(CoreError::invalid(
                "provider",
                format!(
                    "provider {:?} is an {} provider: images are built and imported for local providers only",
                    p.name,
                    p.kind.as_str()
                ),
            ));
        }
        let job = LocalImageJob::from_request(req)?;
        check_host(&job, &self.config().local_image_dir())?;
        let params = serde_json::to_value(&job).map_err(|e| CoreError::Internal(e.to_string()))?;
        self.task_submit(
            caller.user_id,
            NewTask {
                kind: LOCAL_IMAGE.into(),
                title: job.title(&p.name),
                target_kind: Some("provider".into()),
                target_id: Some(provider_id),
                params,
            },
        )
        .await
    }

    /// Builds (or finds) or copies the image of `job`, registers it with local provider
    /// `provider_id` and puts it into the catalogue owned by `owner_id`; returns its catalogue id.
    /// An image already in the catalogue is found again, not added twice.
    pub(crate) async fn local_image_into_catalogue(
        &self,
        reporter: &mut Reporter<'_>,
        provider_id: i64,
        owner_id: i64,
        actor: &Actor,
        job: &LocalImageJob,
    ) -> Result<i64, TaskFailure> {
        let p = self.load_provider(provider_id).await?;
        if p.kind != ProviderKind::Local {
            return Err(TaskFailure::Failed(format!("provider {:?} is not a local provider", p.name)));
        }
        let image_dir = self.config().local_image_dir();
        check_host(job, &image_dir)?;
        let file = match &job.source {
            Source::Recipe(_) => {
                reporter.report(&format!("image folder {}", image_dir.display()), 0.0).await;
                let dir = image_dir.clone();
                let built = reported(reporter, |tx| async move {
                    build_debian_image(&dir, move |m, f| {
                        let _ = tx.send((m.to_string(), f));
                    })
                    .await
                })
                .await?;
                built.path
            }
            Source::Path(path) => {
                let (dir, path, name) = (image_dir.clone(), path.clone(), job.name.clone());
                reported(reporter, |tx| async move {
                    import_disk_image(&path, &dir, &name, move |m, f| {
                        let _ = tx.send((m.to_string(), f));
                    })
                    .await
                })
                .await?
            }
        };
        reporter.report(&format!("registering {} with provider {}", file.display(), p.name), 1.0).await;
        let local = self.local_provider(provider_id).await?;
        let info = local
            .import_image(&job.name, &file, Some(&job.description))
            .await
            .map_err(|e| TaskFailure::Failed(super::cloud_error(e).to_string()))?;
        let (id, enabled) = self.catalogue_local_image(provider_id, owner_id, actor, &info.image_id, job).await?;
        let state = if enabled { "enabled" } else { "disabled: an administrator enables it" };
        reporter
            .ctx
            .info(&format!("image {} ({}) is image {id} of the catalogue, {state}", job.name, info.image_id))
            .await;
        Ok(id)
    }

    /// The catalogue entry of local image `cloud_id` (the existing one, or a new one) and
    /// whether it is enabled.
    async fn catalogue_local_image(
        &self,
        provider_id: i64,
        owner_id: i64,
        actor: &Actor,
        cloud_id: &str,
        job: &LocalImageJob,
    ) -> CoreResult<(i64, bool)> {
        let now = now_ms();
        let mut tx = self.store().write_tx().await?;
        let exists =
            sqlx::query("SELECT id, enabled FROM images WHERE provider_id = $1 AND region = $2 AND cloud_id = $3")
                .bind(provider_id)
                .bind(REGION)
                .bind(cloud_id)
                .fetch_optional(&mut *tx.tx)
                .await?;
        let (id, enabled) = match exists {
            Some(r) => {
                let id = r.int("id")?;
                let enabled = r.flag("enabled")?;
                if job.enable && !enabled {
                    sqlx::query(
                        "UPDATE images SET os_type = $1, login_user = $2, enabled = 1, updated_at = $3 WHERE id = $4",
                    )
                    .bind(job.os_type.map(|o| o.as_str()).unwrap_or_default())
                    .bind(&job.login_user)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx.tx)
                    .await?;
                }
                (id, enabled || job.enable)
            }
            None => {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO images (provider_id, region, cloud_id, name, os_type, description, login_user, enabled, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
                )
                .bind(provider_id)
                .bind(REGION)
                .bind(cloud_id)
                .bind(&job.name)
                .bind(job.os_type.map(|o| o.as_str()).unwrap_or_default())
                .bind(&job.description)
                .bind(&job.login_user)
                .bind(flag(job.enable))
                .bind(now)
                .fetch_one(&mut *tx.tx)
                .await?;
                Engine::register_object(&mut *tx.tx, ObjectKind::Image, id, owner_id, &job.name).await?;
                crate::audit::write(
                    &mut *tx.tx,
                    actor,
                    AuditRecord::new("image.import", AuditOutcome::Success).target("image", id).details(json!({
                        "provider_id": provider_id, "region": REGION, "cloud_id": cloud_id, "name": job.name,
                        "source": job.source, "enabled": job.enable,
                    })),
                )
                .await?;
                (id, job.enable)
            }
        };
        tx.commit().await?;
        Ok((id, enabled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(recipe: Option<&str>, path: Option<&str>) -> LocalImageRequest {
        LocalImageRequest { recipe: recipe.map(String::from), path: path.map(String::from), ..Default::default() }
    }

    fn field(e: CoreError) -> String {
        match e {
            CoreError::InvalidField { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn requests_are_checked_and_filled_in() {
        let job = LocalImageJob::from_request(&req(Some("debian-12"), None)).unwrap();
        assert_eq!(job, LocalImageJob::debian_12(false));
        assert_eq!((job.os_type, job.login_user.as_str()), (Some(OsType::Debian), "debian"));
        assert_eq!(field(LocalImageJob::from_request(&req(Some("arch"), None)).unwrap_err()), "recipe");
        assert_eq!(field(LocalImageJob::from_request(&req(None, None)).unwrap_err()), "recipe");
        assert_eq!(field(LocalImageJob::from_request(&req(Some("debian-12"), Some("/x"))).unwrap_err()), "recipe");
        assert_eq!(field(LocalImageJob::from_request(&req(None, Some("rel/disk.qcow2"))).unwrap_err()), "path");
        let e = LocalImageJob::from_request(&req(None, Some("/nonexistent/disk.qcow2"))).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cloud.qcow2");
        std::fs::write(&file, b"QFI\xfb\0\0\0\x03").unwrap();
        let path = file.to_str().unwrap();
        let job = LocalImageJob::from_request(&req(None, Some(path))).unwrap();
        assert_eq!((job.name.as_str(), job.os_type, job.login_user.as_str()), ("cloud", None, ""));
        let named = LocalImageRequest {
            name: Some("Fedora 40".into()),
            os_type: Some(OsType::Fedora),
            login_user: Some("fedora".into()),
            ..req(None, Some(path))
        };
        let job = LocalImageJob::from_request(&named).unwrap();
        assert_eq!(
            (job.name.as_str(), job.os_type, job.login_user.as_str()),
            ("Fedora 40", Some(OsType::Fedora), "fedora")
        );
        let bad_user = LocalImageRequest { login_user: Some("Root!".into()), ..req(None, Some(path)) };
        assert_eq!(field(LocalImageJob::from_request(&bad_user).unwrap_err()), "login_user");
        std::fs::write(&file, "text").unwrap();
        let e = LocalImageJob::from_request(&req(None, Some(path))).unwrap_err();
        assert!(e.to_string().contains("not a qcow2 or raw disk image"), "{e}");
    }

    #[test]
    fn the_job_survives_the_task_parameters() {
        let job = LocalImageJob { source: Source::Path("/srv/a.raw".into()), ..LocalImageJob::debian_12(true) };
        let back: LocalImageJob = serde_json::from_value(serde_json::to_value(&job).unwrap()).unwrap();
        assert_eq!(back, job);
    }

    #[test]
    fn debootstrap_lines_are_logged_once_per_stage() {
        let lines = [
            "debootstrap bookworm from http://deb.debian.org/debian",
            "debootstrap: Retrieving InRelease",
            "debootstrap: Checking Release signature",
            "debootstrap: Retrieving Packages",
            "debootstrap: Validating Packages",
            "debootstrap: Resolving dependencies of required packages...",
            "debootstrap: Resolving dependencies of base packages...",
            "debootstrap: Retrieving adduser 3.134",
            "debootstrap: Validating adduser 3.134",
            "debootstrap: Retrieving apt 2.6.1",
            "debootstrap: Validating apt 2.6.1",
            "debootstrap: Extracting adduser...",
            "debootstrap: Extracting apt...",
            "debootstrap: Installing core packages...",
            "debootstrap: Unpacking required packages...",
            "debootstrap: Unpacking adduser...",
            "debootstrap: Configuring required packages...",
            "debootstrap: Configuring adduser...",
            "debootstrap: Base system installed successfully.",
            "setting up the guest system",
            "writing the file system",
        ];
        let mut logged = Vec::new();
        let mut stage = String::new();
        for line in lines {
            let s = stage_of(line);
            if s != stage {
                logged.push(line);
                stage = s;
            }
        }
        assert_eq!(
            logged,
            [
                "debootstrap bookworm from http://deb.debian.org/debian",
                "debootstrap: Retrieving InRelease",
                "debootstrap: Checking Release signature",
                "debootstrap: Retrieving Packages",
                "debootstrap: Resolving dependencies of required packages...",
                "debootstrap: Retrieving adduser 3.134",
                "debootstrap: Extracting adduser...",
                "debootstrap: Installing core packages...",
                "debootstrap: Unpacking required packages...",
                "debootstrap: Configuring required packages...",
                "debootstrap: Base system installed successfully.",
                "setting up the guest system",
                "writing the file system",
            ]
        );
    }

    #[test]
    fn status_names_the_accelerator() {
        assert!(accel_status(Accel::Kvm).contains("KVM"));
        assert!(accel_status(Accel::Tcg).contains("TCG (software emulation"));
    }
}
