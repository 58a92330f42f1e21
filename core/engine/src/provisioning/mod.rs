//! Provisioning (manual 3.3, 3.7, 7.3.2 "Setup"): after the cloud started an instance, the core
//! configures it from the inside over SSH with the owner's key it keeps — waits for SSH and pins
//! the host key, detects the distribution, hardens SSH, installs the WMAIC shell library with the
//! instance's values, installs updates (rebooting for a new kernel when asked), installs and
//! removes packages, starts and stops services, sets a user's password, opens (LUKS2) and mounts
//! its storage, then marks it running. Every step is a line of the launch task's log with its
//! output; a failing step marks the instance failed with the step and its output.

pub(crate) mod commands;

use std::time::Duration;

use wintermute_api::instances::InstanceStatus;
use wintermute_api::setup::{parse_packages, parse_services, Setup};
use wintermute_api::tasks::LogLevel;
use wintermute_custody::SecretString;
use wintermute_provision::{InstallPlan, Privilege, Stage, WmaicEnv};
use wintermute_ssh::{Session, SshTarget};

use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::scenarios::ScriptToRun;
use crate::tasks::{TaskContext, TaskFailure};
use commands::{as_root, quote, OsInfo};

/// Most bytes of a step's output that go into the task log.
const LOG_OUTPUT_LIMIT: usize = 4000;

/// Where a step failed, with its output: what the instance's status message and the log say.
fn step_failed(step: &str, out: &wintermute_ssh::ExecOutput) -> TaskFailure {
    let tail = |b: &[u8]| {
        let text = String::from_utf8_lossy(b);
        let t = text.trim();
        let start = t.len().saturating_sub(600);
        let mut cut = start;
        while !t.is_char_boundary(cut) {
            cut += 1;
        }
        t[cut..].to_owned()
    };
    let err = tail(&out.stderr);
    let detail = if err.is_empty() { tail(&out.stdout) } else { err };
    TaskFailure::Failed(format!("{step} failed (exit {}): {detail}", out.exit_status))
}

fn ssh_err(step: &str) -> impl FnOnce(wintermute_ssh::SshError) -> TaskFailure + '_ {
    move |e| TaskFailure::Failed(format!("{step}: the SSH connection failed: {e}"))
}

/// One instance being provisioned.
struct Run<'a> {
    engine: &'a Engine,
    ctx: &'a TaskContext,
    instance_id: i64,
    name: String,
    session: Session,
    root: bool,
}

impl Run<'_> {
    async fn log_output(&self, out: &wintermute_ssh::ExecOutput) {
        for (bytes, level) in [(&out.stdout, LogLevel::Info), (&out.stderr, LogLevel::Warn)] {
            let text = String::from_utf8_lossy(bytes);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let mut shown: String = text.chars().take(LOG_OUTPUT_LIMIT).collect();
            if shown.len() < text.len() {
                shown.push_str(" […]");
            }
            for line in shown.lines() {
                self.ctx.log(level, &format!("  {}: {line}", self.name)).await;
            }
        }
    }

    /// Runs `script` as root; a non-zero exit fails the step.
    async fn step(
        &self,
        what: &str,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> Result<wintermute_ssh::ExecOutput, TaskFailure> {
        self.ctx.info(&format!("{}: {what}", self.name)).await;
        let out = self.session.exec(&as_root(self.root, script), stdin).await.map_err(ssh_err(what))?;
        self.log_output(&out).await;
        if !out.success() {
            return Err(step_failed(&format!("{}: {what}", self.name), &out));
        }
        Ok(out)
    }
}

impl Engine {
    /// Opens an SSH session to a new instance, retrying per WMAIS_CONNECTION_ATTEMPTS and
    /// WMAIS_CONNECTION_RETRY_PAUSE while it boots. The first host key seen is pinned.
    pub(crate) async fn wait_for_ssh(&self, ctx: &TaskContext, instance_id: i64) -> Result<Session, TaskFailure> {
        let attempts = self.setting_i64("WMAIS_CONNECTION_ATTEMPTS").max(1);
        let pause = Duration::from_secs(u64::try_from(self.setting_i64("WMAIS_CONNECTION_RETRY_PAUSE")).unwrap_or(10));
        let inst = self.load_instance(instance_id).await?;
        let key = self.user_key_pair(inst.owner_id).await?;
        let mut last = String::new();
        for n in 1..=attempts {
            ctx.check_cancel()?;
            let inst = self.load_instance(instance_id).await?;
            let Some(host) = inst.ssh_host.clone() else {
                return Err(TaskFailure::Failed(format!("{} has no address to reach it at", inst.name)));
            };
            let target =
                SshTarget::new(host, u16::try_from(inst.ssh_port.unwrap_or(22)).unwrap_or(22), inst.login_user.clone());
            match self.ssh_to_instance(instance_id, &target, &key).await {
                Ok(s) => return Ok(s),
                // A different host key is an attack or a mix-up, never "not ready yet".
                Err(e @ (CoreError::Conflict(_) | CoreError::HostKeyChanged { .. })) => {
                    return Err(TaskFailure::Failed(e.to_string()))
                }
                Err(e) => {
                    last = e.to_string();
                    if n == 1 || n % 5 == 0 {
                        ctx.info(&format!("{}: waiting for SSH (attempt {n} of {attempts})", inst.name)).await;
                    }
                }
            }
            tokio::select! {
                _ = ctx.cancelled() => return Err(TaskFailure::Cancelled),
                _ = tokio::time::sleep(pause) => {}
            }
        }
        Err(TaskFailure::Failed(format!("SSH did not answer after {attempts} attempts: {last}")))
    }

    /// Provisions one instance that the cloud reports running, its storage attached.
    pub(crate) async fn provision_instance(
        &self,
        ctx: &TaskContext,
        instance_id: i64,
        setup: &Setup,
        scripts: &[ScriptToRun],
        password: Option<&SecretString>,
    ) -> Result<(), TaskFailure> {
        let inst = self.load_instance(instance_id).await?;
        self.set_instance_status(instance_id, InstanceStatus::Initializing, "connecting over SSH").await?;
        let session = self.wait_for_ssh(ctx, instance_id).await?;
        let whoami = session.exec("id -u", None).await.map_err(ssh_err("checking the login user"))?;
        let root = String::from_utf8_lossy(&whoami.stdout).trim() == "0";
        let mut run = Run { engine: self, ctx, instance_id, name: inst.name.clone(), session, root };
        let first = run.first_part(setup).await;
        let (os, reboot) = match first {
            Ok(v) => v,
            Err(e) => {
                run.session.close().await;
                return Err(e);
            }
        };
        if reboot {
            run = self.reboot_for_kernel(ctx, run).await?;
            run.install_library(false, Some(chrono::Utc::now()), Some(chrono::Utc::now())).await?;
        }
        let result = run.rest(setup, scripts, password, &os).await;
        run.session.close().await;
        result
    }

    /// Reboots an instance through its cloud and waits until it is back (a new boot id).
    async fn reboot_for_kernel<'a>(&'a self, ctx: &'a TaskContext, run: Run<'a>) -> Result<Run<'a>, TaskFailure> {
        let boot_id = |out: wintermute_ssh::ExecOutput| String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let before = boot_id(
            run.session
                .exec("cat /proc/sys/kernel/random/boot_id", None)
                .await
                .map_err(ssh_err("reading the boot id"))?,
        );
        run.session.close().await;
        let inst = self.load_instance(run.instance_id).await?;
        self.set_instance_status(run.instance_id, InstanceStatus::Rebooting, "booting the new kernel").await?;
        let cloud_id =
            inst.cloud_id.clone().ok_or_else(|| TaskFailure::Failed("the instance has no cloud id".into()))?;
        self.cloud(inst.provider_id)
            .await?
            .reboot_instances(&inst.region, &[cloud_id])
            .await
            .map_err(crate::providers::cloud_error)?;
        loop {
            let session = self.wait_for_ssh(ctx, run.instance_id).await?;
            let now = session.exec("cat /proc/sys/kernel/random/boot_id", None).await.map(boot_id).unwrap_or_default();
            if !now.is_empty() && now != before {
                ctx.info(&format!("{}: back after the reboot", run.name)).await;
                return Ok(Run { session, ..run });
            }
            session.close().await;
            tokio::select! {
                _ = ctx.cancelled() => return Err(TaskFailure::Cancelled),
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    }
}

impl Run<'_> {
    /// Up to the updates: returns the distribution and whether to reboot for a new kernel.
    async fn first_part(&self, setup: &Setup) -> Result<(OsInfo, bool), TaskFailure> {
        let e = self.engine;
        // --- the distribution ---
        let os_release =
            self.session.exec("cat /etc/os-release", None).await.map_err(ssh_err("reading /etc/os-release"))?;
        let has_dnf = self.session.exec("command -v dnf", None).await.map(|o| o.success()).unwrap_or(false);
        let os: OsInfo =
            commands::detect(&String::from_utf8_lossy(&os_release.stdout), has_dnf).map_err(TaskFailure::Failed)?;
        self.ctx.info(&format!("{}: {} ({:?})", self.name, os.pretty, os.manager)).await;
        let sudo_ok = self.root || self.session.exec("sudo -n true", None).await.map(|o| o.success()).unwrap_or(false);
        if !sudo_ok {
            return Err(TaskFailure::Failed(format!(
                "{}: the login user can neither act as root nor use sudo without a password",
                self.name
            )));
        }

        // --- the core's key is the only way in ---
        self.step("hardening SSH (key logins only)", commands::HARDEN_SSH, None).await?;

        // --- the WMAIC library and the instance's values ---
        self.install_library(false, None, None).await?;

        // --- package sources an administrator set for local guests ---
        if let Some(sources) = &e.config().local.apt_sources {
            let inst = e.load_instance(self.instance_id).await?;
            if inst.provider_kind == wintermute_api::providers::ProviderKind::Local
                && os.manager == commands::PackageManager::Apt
            {
                let mut text = sources.trim_end().to_owned();
                text.push('\n');
                self.step(
                    "writing the package sources set for local guests",
                    commands::APT_SOURCES,
                    Some(text.as_bytes()),
                )
                .await?;
            }
        }

        // --- updates ---
        if setup.update {
            e.set_instance_status(self.instance_id, InstanceStatus::Initializing, "installing updates").await?;
            self.step("installing updates", &commands::update(os.manager), None).await?;
            let newer = self
                .session
                .exec(&format!("sh -c {}", quote(commands::NEW_KERNEL_CHECK)), None)
                .await
                .map(|o| o.success())
                .unwrap_or(false);
            if newer && setup.reboot {
                self.ctx.info(&format!("{}: a new kernel was installed; rebooting", self.name)).await;
                return Ok((os, true));
            }
            if newer {
                self.ctx.info(&format!("{}: a new kernel is installed; WMAIC_REBOOT_REQUIRED is set", self.name)).await;
            }
            self.install_library(newer, Some(chrono::Utc::now()), None).await?;
        }
        Ok((os, false))
    }

    /// Everything after updates (also the part that runs again after a reboot).
    async fn rest(
        &self,
        setup: &Setup,
        scripts: &[ScriptToRun],
        password: Option<&SecretString>,
        os: &OsInfo,
    ) -> Result<(), TaskFailure> {
        let e = self.engine;
        // --- packages and services ---
        let packages = parse_packages(&setup.packages).map_err(|e| TaskFailure::Failed(e.to_string()))?;
        for (what, cmd) in commands::packages(os.manager, &packages) {
            self.ctx.check_cancel()?;
            self.step(&what, &cmd, None).await?;
        }
        let services = parse_services(&setup.services).map_err(|e| TaskFailure::Failed(e.to_string()))?;
        for s in &services {
            self.ctx.check_cancel()?;
            let (what, cmd) = commands::service(s);
            self.step(&what, &cmd, None).await?;
        }

        // --- a user and password (the password only on stdin) ---
        if let (Some(u), Some(pw)) = (&setup.user, password) {
            self.ctx.check_cancel()?;
            let line = SecretString::new(format!("{}:{}", u.name, pw.expose()));
            let what = format!("setting the password of user {}", u.name);
            self.ctx.info(&format!("{}: {what}", self.name)).await;
            let out = self
                .session
                .exec_with_secret(&as_root(self.root, &commands::user(&u.name)), &line)
                .await
                .map_err(ssh_err(&what))?;
            self.log_output(&out).await;
            if !out.success() {
                return Err(step_failed(&what, &out));
            }
        }

        // --- storage ---
        self.mount_storage().await?;

        // --- data upload at launch (7.3.2 "Data Synchronization"): see crate::sync ---
        e.upload_at_launch(self.ctx, self.instance_id, &setup.data_upload).await?;

        // --- user defined scripts, stage post-data-transfer (manual 6.6), in sequence order ---
        if !scripts.is_empty() {
            e.set_instance_status(self.instance_id, InstanceStatus::Initializing, "running scripts").await?;
        }
        for script in scripts {
            self.ctx.check_cancel()?;
            self.run_script(script).await?;
        }
        e.set_instance_status(self.instance_id, InstanceStatus::Running, "").await?;
        Ok(())
    }

    /// Copies a script to the instance (root only, under the library's state folder) and runs
    /// it as root with `WMAIC_STAGE=post-data-transfer` and its parameters. Its output goes to
    /// the log; a non-zero exit fails the set-up with its standard error.
    async fn run_script(&self, script: &ScriptToRun) -> Result<(), TaskFailure> {
        let path = format!("{}/uds/{}-{}", wintermute_provision::STATE_DIR, script.sequence, script.name);
        let copy = format!(
            "set -e; umask 077; mkdir -p {dir}; cat >{tmp}; chmod 700 {tmp}; mv -f {tmp} {path}",
            dir = quote(&format!("{}/uds", wintermute_provision::STATE_DIR)),
            tmp = quote(&format!("{path}.new")),
            path = quote(&path),
        );
        let shown = format!("{} {}", script.name, script.args.join(" "));
        self.step(
            &format!("copying script {} (sequence {})", script.name, script.sequence),
            &copy,
            Some(script.content.as_bytes()),
        )
        .await?;
        let run = wintermute_provision::uds_command(Stage::PostDataTransfer, &script.script_type, &path, &script.args)
            .map_err(|e| TaskFailure::Failed(format!("{}: script {}: {e}", self.name, script.name)))?;
        let started = std::time::Instant::now();
        let out = self.step(&format!("running script {}", shown.trim()), &format!("cd / && {run}"), None).await?;
        self.ctx
            .info(&format!(
                "{}: script {} ended with exit 0 after {:.1} s",
                self.name,
                script.name,
                started.elapsed().as_secs_f64()
            ))
            .await;
        drop(out);
        Ok(())
    }

    /// Writes the library and the instance's values (again: values change after updates).
    async fn install_library(
        &self,
        reboot_required: bool,
        patched: Option<chrono::DateTime<chrono::Utc>>,
        rebooted: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(), TaskFailure> {
        let inst = self.engine.load_instance(self.instance_id).await?;
        let image = self.engine.load_image(inst.image_id).await?;
        let volume = inst.volumes.first();
        let env = WmaicEnv {
            instance_id: inst.cloud_id.clone().unwrap_or_default(),
            instance_name: inst.name.clone(),
            instance_index: u32::try_from(inst.launch_index).ok(),
            instance_type: inst.instance_type.clone(),
            tags: inst.tags.clone(),
            image_id: image.cloud_id.clone(),
            cloud: inst.provider_kind.as_str().to_owned(),
            region: inst.region.clone(),
            availability_zone: inst.availability_zone.clone().unwrap_or_default(),
            public_hostname: inst.public_ip.clone(),
            created: Some(inst.created_at),
            patched,
            rebooted,
            reboot_required,
            owner: inst.owner_login.clone(),
            login_user: inst.login_user.clone(),
            storage_mount: volume.and_then(|v| v.mount_point.clone()),
            storage_encrypted: volume.is_some_and(|v| v.encrypted),
            ..Default::default()
        };
        let plan = InstallPlan::instance(&env).map_err(|e| TaskFailure::Failed(format!("the WMAIC values: {e}")))?;
        let privilege = if self.root { Privilege::Root } else { Privilege::Sudo };
        self.ctx.info(&format!("{}: installing the WMAIC library", self.name)).await;
        let out = self
            .session
            .exec(&plan.command(privilege), Some(&plan.stdin()))
            .await
            .map_err(ssh_err("installing the WMAIC library"))?;
        self.log_output(&out).await;
        if !out.success() {
            return Err(step_failed("installing the WMAIC library", &out));
        }
        Ok(())
    }

    /// Opens and mounts every volume attached to the instance.
    async fn mount_storage(&self) -> Result<(), TaskFailure> {
        let e = self.engine;
        let inst = e.load_instance(self.instance_id).await?;
        if inst.volumes.is_empty() {
            return Ok(());
        }
        e.set_instance_status(self.instance_id, InstanceStatus::Mounting, "").await?;
        for v in &inst.volumes {
            self.ctx.check_cancel()?;
            let vol = e.load_volume(v.id).await?;
            let mount =
                vol.mount_point.clone().unwrap_or_else(|| wintermute_api::instances::DEFAULT_MOUNT_POINT.into());
            let candidates = e.guest_device_candidates(&inst.provider_kind, &vol);
            let found =
                self.step(&format!("finding volume {}", vol.id), &commands::find_device(&candidates), None).await?;
            let device = String::from_utf8_lossy(&found.stdout).trim().to_owned();
            if vol.encrypted {
                let mut key = zeroize::Zeroizing::new(Vec::new());
                e.write_volume_passphrase(vol.id, &mut *key).await?;
                self.step(
                    &format!("encrypting volume {} on {device}", vol.id),
                    &commands::luks_format(&device),
                    Some(&key),
                )
                .await?;
                self.step(&format!("opening volume {}", vol.id), &commands::luks_open(&device, vol.id), Some(&key))
                    .await?;
                self.step(
                    &format!("mounting volume {} at {mount}", vol.id),
                    &commands::mount_opened(vol.id, &mount),
                    None,
                )
                .await?;
            } else {
                self.step(
                    &format!("mounting volume {} at {mount}", vol.id),
                    &commands::mount_plain(&device, &mount),
                    None,
                )
                .await?;
            }
        }
        Ok(())
    }
}

impl Engine {
    /// Where a volume shows up inside a guest, most specific first.
    pub(crate) fn guest_device_candidates(
        &self,
        kind: &wintermute_api::providers::ProviderKind,
        vol: &wintermute_api::instances::Volume,
    ) -> Vec<String> {
        let mut out = Vec::new();
        let cloud_id = vol.cloud_id.clone().unwrap_or_default();
        if *kind == wintermute_api::providers::ProviderKind::Local {
            out.push(wintermute_cloud_local::guest_device(&cloud_id));
        }
        // EBS on Nitro instances: an NVMe device whose serial is the volume id without its dash.
        if cloud_id.starts_with("vol-") {
            out.push(format!("/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{}", cloud_id.replace('-', "")));
        }
        if let Some(d) = &vol.device {
            out.push(d.clone());
            if let Some(letter) = d.strip_prefix("/dev/sd") {
                out.push(format!("/dev/xvd{letter}"));
            }
        }
        out
    }

    /// "Mount Storage" after a reboot: opens and mounts the instance's encrypted volumes again.
    pub(crate) async fn remount_storage(&self, ctx: &TaskContext, instance_id: i64) -> CoreResult<()> {
        let inst = self.load_instance(instance_id).await?;
        let session = self.wait_for_ssh(ctx, instance_id).await.map_err(|e| CoreError::Unavailable(e.to_string()))?;
        let whoami = session.exec("id -u", None).await.map_err(|e| CoreError::Unavailable(e.to_string()))?;
        let root = String::from_utf8_lossy(&whoami.stdout).trim() == "0";
        let run = Run { engine: self, ctx, instance_id, name: inst.name.clone(), session, root };
        let r = run.mount_storage().await;
        run.session.close().await;
        r.map_err(|e| CoreError::Unavailable(e.to_string()))?;
        self.set_instance_status(instance_id, InstanceStatus::Running, "").await
    }
}
