//! Cloud providers (manual 6.3): accounts an administrator configures, whose secret credential is
//! sealed by key custody; "Synchronize configuration" loads regions and instance types, of which
//! the administrator allows some. Every cloud call goes through the `CloudProvider` trait.
//! Providers are objects with group rights (6.3.3): "view" makes one usable at all.

mod bootstrap;
mod images;
mod ingress;
mod local_images;
mod sync;

use std::sync::Arc;

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::providers::{
    NewProvider, Provider, ProviderInstanceType, ProviderKind, ProviderPatch, ProviderRegion,
};
use wintermute_api::rights::{ObjectKind, ObjectRight};
use wintermute_cloud::CloudProvider;
use wintermute_cloud_aws::{AwsProvider, AwsSettings};
use wintermute_cloud_local::{LocalProvider, LocalSettings};
use wintermute_cloud_openstack::{AddressMode, OpenstackProvider, OpenstackSettings};
use wintermute_custody::SecretString;

pub use bootstrap::{BOOTSTRAP_LOCAL, LOCAL_PROVIDER_NAME};
pub use local_images::LOCAL_IMAGE;
pub use sync::SYNC_PROVIDER;

use crate::audit::AuditRecord;
use crate::caller::{Actor, Caller};
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::{flag, RowExt};
use crate::time::{now_ms, opt_dt, to_dt};
use crate::validate;

const SECRET_NAME: &str = "secret_access_key";

pub(crate) fn register_tasks(mgr: &crate::tasks::TaskManager) {
    sync::register(mgr);
    local_images::register(mgr);
    bootstrap::register(mgr);
}

fn check_region(field: &str, r: &str) -> CoreResult<()> {
    if r.is_empty() || r.len() > 64 || !r.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(CoreError::invalid(field, format!("{r:?} is not a region name like eu-central-1")));
    }
    Ok(())
}

/// OpenStack region names are free text in Keystone (`RegionOne`, `eu-de-1`).
fn check_openstack_region(field: &str, r: &str) -> CoreResult<()> {
    if r.is_empty() || r.len() > 64 || !r.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(CoreError::invalid(field, format!("{r:?} is not a region name like RegionOne")));
    }
    Ok(())
}

fn check_region_of(kind: ProviderKind, field: &str, r: &str) -> CoreResult<()> {
    match kind {
        ProviderKind::Openstack => check_openstack_region(field, r),
        _ => check_region(field, r),
    }
}

/// The Keystone auth URL: http(s), without a version suffix (manual 6.3.2).
fn check_auth_url(u: &str) -> CoreResult<()> {
    let parsed = url::Url::parse(u)
        .ok()
        .filter(|p| matches!(p.scheme(), "http" | "https") && p.host().is_some())
        .ok_or_else(|| CoreError::invalid("endpoint_url", format!("the auth URL {u:?} is not an http(s) URL")))?;
    let last = parsed.path_segments().and_then(|mut s| s.next_back()).unwrap_or_default().to_string();
    if last.len() > 1 && last.starts_with('v') && last[1..].starts_with(|c: char| c.is_ascii_digit()) {
        return Err(CoreError::invalid(
            "endpoint_url",
            format!("give the Keystone auth URL without its version suffix (not …/{last})"),
        ));
    }
    Ok(())
}

/// OpenStack user, project and domain names: 1 to 255 printable characters.
fn check_openstack_name(field: &str, n: &str) -> CoreResult<()> {
    if n.trim().is_empty() || n.len() > 255 || n.chars().any(char::is_control) {
        return Err(CoreError::invalid(field, "1 to 255 printable characters"));
    }
    Ok(())
}

fn check_address_mode(m: &str) -> CoreResult<()> {
    AddressMode::parse(m)
        .map(|_| ())
        .ok_or_else(|| CoreError::invalid("address_mode", format!("{m:?} is not floating or fixed")))
}

fn check_endpoint(u: &str) -> CoreResult<()> {
    match url::Url::parse(u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => Ok(()),
        _ => Err(CoreError::invalid("endpoint_url", format!("{u:?} is not an http(s) URL"))),
    }
}

fn check_access_key(k: &str) -> CoreResult<()> {
    if k.len() < 4 || k.len() > 128 || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(CoreError::invalid("access_key_id", "the access key id is 4 to 128 letters and digits (AKIA…)"));
    }
    Ok(())
}

fn check_secret(s: &str) -> CoreResult<()> {
    if s.is_empty() || s.len() > 256 || s.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            "secret_access_key",
            "the secret access key must be 1 to 256 printable characters",
        ));
    }
    Ok(())
}

impl Engine {
    pub(crate) async fn load_provider(&self, id: i64) -> CoreResult<Provider> {
        let r = sqlx::query(
            "SELECT id, kind, name, description, access_key_id, endpoint_url, default_region, status, status_message, \
             synced_at, created_at, updated_at, project, domain, address_mode FROM providers WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.store().pool())
        .await?
        .ok_or_else(|| CoreError::not_found(format!("there is no provider {id}")))?;
        let regions = sqlx::query("SELECT name, allowed FROM provider_regions WHERE provider_id = $1 ORDER BY name")
            .bind(id)
            .fetch_all(self.store().pool())
            .await?
            .iter()
            .map(|r| Ok(ProviderRegion { name: r.text("name")?, allowed: r.flag("allowed")? }))
            .collect::<CoreResult<Vec<_>>>()?;
        let instance_types =
            sqlx::query("SELECT name, vcpus, memory_mib, allowed FROM provider_instance_types WHERE provider_id = $1 ORDER BY vcpus, memory_mib, name")
                .bind(id)
                .fetch_all(self.store().pool())
                .await?
                .iter()
                .map(|r| {
                    Ok(ProviderInstanceType {
                        name: r.text("name")?,
                        vcpus: r.int("vcpus")?,
                        memory_mib: r.int("memory_mib")?,
                        allowed: r.flag("allowed")?,
                    })
                })
                .collect::<CoreResult<Vec<_>>>()?;
        let kind = r.text("kind")?;
        let kind =
            ProviderKind::parse(&kind).ok_or_else(|| CoreError::Internal(format!("unknown provider kind {kind:?}")))?;
        let openstack = |v: String| (kind == ProviderKind::Openstack).then_some(v);
        Ok(Provider {
            id,
            kind,
            name: r.text("name")?,
            description: r.text("description")?,
            access_key_id: r.text("access_key_id")?,
            endpoint_url: r.opt_text("endpoint_url")?,
            project: openstack(r.text("project")?),
            domain: openstack(r.text("domain")?),
            address_mode: openstack(r.text("address_mode")?),
            default_region: r.text("default_region")?,
            status: r.text("status")?,
            status_message: r.text("status_message")?,
            synced_at: opt_dt(r.opt_int("synced_at")?),
            regions,
            instance_types,
            created_at: to_dt(r.int("created_at")?),
            updated_at: to_dt(r.int("updated_at")?),
        })
    }

    /// Providers the caller may use ("view provider configuration").
    pub async fn providers_list(&self, caller: &Caller) -> CoreResult<Vec<Provider>> {
        let mut out = Vec::new();
        for o in self.objects_list(caller, Some(ObjectKind::Provider)).await? {
            out.push(self.load_provider(o.object_id).await?);
        }
        Ok(out)
    }

    pub async fn providers_get(&self, caller: &Caller, id: i64) -> CoreResult<Provider> {
        self.require_right(caller, ObjectKind::Provider, id, ObjectRight::View).await?;
        self.load_provider(id).await
    }

    /// Configures a provider account (administrators). Its secret is sealed at once.
    pub async fn providers_create(&self, caller: &Caller, req: &NewProvider) -> CoreResult<Provider> {
        if !caller.is_admin {
            return Err(CoreError::forbidden("only administrators configure cloud providers"));
        }
        let kind = req.kind.unwrap_or(ProviderKind::Aws);
        validate::text("name", &req.name, 64, false)?;
        validate::text("description", &req.description, 500, true)?;
        let region = match kind {
            ProviderKind::Aws => {
                check_access_key(&req.access_key_id)?;
                check_secret(&req.secret_access_key)?;
                if let Some(u) = &req.endpoint_url {
                    check_endpoint(u)?;
                }
                req.default_region.clone().unwrap_or_else(|| "us-east-1".into())
            }
            ProviderKind::Local => {
                if !req.access_key_id.is_empty() || !req.secret_access_key.is_empty() || req.endpoint_url.is_some() {
                    return Err(CoreError::invalid("kind", "a local provider takes no credentials and no endpoint"));
                }
                wintermute_cloud_local::REGION.to_owned()
            }
            ProviderKind::Openstack => {
                let auth_url = req.endpoint_url.as_deref().ok_or_else(|| {
                    CoreError::invalid("endpoint_url", "an OpenStack provider needs its Keystone auth URL")
                })?;
                check_auth_url(auth_url)?;
                check_openstack_name("access_key_id", &req.access_key_id)?;
                check_secret(&req.secret_access_key)?;
                let project = req.project.as_deref().unwrap_or_default();
                check_openstack_name("project", project)?;
                if let Some(d) = &req.domain {
                    check_openstack_name("domain", d)?;
                }
                if let Some(m) = &req.address_mode {
                    check_address_mode(m)?;
                }
                req.default_region.clone().unwrap_or_else(|| "RegionOne".into())
            }
        };
        if kind != ProviderKind::Openstack
            && (req.project.is_some() || req.domain.is_some() || req.address_mode.is_some())
        {
            return Err(CoreError::invalid(
                "project",
                "only OpenStack providers have a project, domain and address mode",
            ));
        }
        check_region_of(kind, "default_region", &region)?;
        self.insert_provider(caller.user_id, &caller.actor(), kind, &region, req).await
    }

    /// Records a checked provider owned by `owner_id`, and seals its secret.
    pub(crate) async fn insert_provider(
        &self,
        owner_id: i64,
        actor: &Actor,
        kind: ProviderKind,
        region: &str,
        req: &NewProvider,
    ) -> CoreResult<Provider> {
        let now = now_ms();
        let mut tx = self.store().write_tx().await?;
        if sqlx::query("SELECT id FROM providers WHERE name = $1")
            .bind(&req.name)
            .fetch_optional(&mut *tx.tx)
            .await?
            .is_some()
        {
            return Err(CoreError::Conflict(format!("a provider named {:?} already exists", req.name)));
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO providers (kind, name, description, access_key_id, endpoint_url, default_region, status, created_at, updated_at, \
             project, domain, address_mode) VALUES ($1, $2, $3, $4, $5, $6, 'new', $7, $7, $8, $9, $10) RETURNING id",
        )
        .bind(kind.as_str())
        .bind(&req.name)
        .bind(&req.description)
        .bind(&req.access_key_id)
        .bind(req.endpoint_url.clone())
        .bind(region)
        .bind(now)
        .bind(req.project.clone().unwrap_or_default())
        .bind(match kind {
            ProviderKind::Openstack => req.domain.clone().unwrap_or_else(|| "Default".into()),
            _ => String::new(),
        })
        .bind(match kind {
            ProviderKind::Openstack => req.address_mode.clone().unwrap_or_else(|| AddressMode::default().as_str().into()),
            _ => String::new(),
        })
        .fetch_one(&mut *tx.tx)
        .await?;
        Engine::register_object(&mut *tx.tx, ObjectKind::Provider, id, owner_id, &req.name).await?;
        crate::audit::write(
            &mut *tx.tx,
            actor,
            AuditRecord::new("provider.create", AuditOutcome::Success)
                .target("provider", id)
                .details(json!({"name": req.name, "kind": kind.as_str(), "access_key_id": req.access_key_id, "endpoint_url": req.endpoint_url,
                    "project": req.project, "domain": req.domain})),
        )
        .await?;
        tx.commit().await?;
        if matches!(kind, ProviderKind::Aws | ProviderKind::Openstack) {
            self.put_secret("provider", id, SECRET_NAME, req.secret_access_key.as_bytes()).await?;
        }
        self.load_provider(id).await
    }

    /// Changes a provider, including which regions and instance types users may use (administrators).
    pub async fn providers_update(&self, caller: &Caller, id: i64, p: &ProviderPatch) -> CoreResult<Provider> {
        if !caller.is_admin {
            return Err(CoreError::forbidden("only administrators configure cloud providers"));
        }
        let before = self.load_provider(id).await?;
        if let Some(n) = &p.name {
            validate::text("name", n, 64, false)?;
        }
        if let Some(d) = &p.description {
            validate::text("description", d, 500, true)?;
        }
        let openstack = before.kind == ProviderKind::Openstack;
        if let Some(k) = &p.access_key_id {
            if openstack {
                check_openstack_name("access_key_id", k)?;
            } else {
                check_access_key(k)?;
            }
        }
        if let Some(s) = &p.secret_access_key {
            check_secret(s)?;
        }
        if openstack && p.endpoint_url.as_deref() == Some("") {
            return Err(CoreError::invalid("endpoint_url", "an OpenStack provider needs its Keystone auth URL"));
        }
        if let Some(u) = p.endpoint_url.as_deref().filter(|u| !u.is_empty()) {
            if openstack {
                check_auth_url(u)?;
            } else {
                check_endpoint(u)?;
            }
        }
        if let Some(r) = &p.default_region {
            check_region_of(before.kind, "default_region", r)?;
        }
        if !openstack && (p.project.is_some() || p.domain.is_some() || p.address_mode.is_some()) {
            return Err(CoreError::invalid(
                "project",
                "only OpenStack providers have a project, domain and address mode",
            ));
        }
        if let Some(v) = &p.project {
            check_openstack_name("project", v)?;
        }
        if let Some(v) = &p.domain {
            check_openstack_name("domain", v)?;
        }
        if let Some(v) = &p.address_mode {
            check_address_mode(v)?;
        }
        if let Some(regions) = &p.allowed_regions {
            for r in regions {
                if !before.regions.iter().any(|x| &x.name == r) {
                    return Err(CoreError::invalid(
                        "allowed_regions",
                        format!("{r:?} is not a region of this provider; synchronize its configuration first"),
                    ));
                }
            }
        }
        if let Some(types) = &p.allowed_instance_types {
            for t in types {
                if !before.instance_types.iter().any(|x| &x.name == t) {
                    return Err(CoreError::invalid(
                        "allowed_instance_types",
                        format!("{t:?} is not an instance type of this provider"),
                    ));
                }
            }
        }
        let mut tx = self.store().write_tx().await?;
        if let Some(n) = &p.name {
            if sqlx::query("SELECT id FROM providers WHERE name = $1 AND id <> $2")
                .bind(n)
                .bind(id)
                .fetch_optional(&mut *tx.tx)
                .await?
                .is_some()
            {
                return Err(CoreError::Conflict(format!("a provider named {n:?} already exists")));
            }
            sqlx::query("UPDATE objects SET name = $1 WHERE kind = 'provider' AND id = $2")
                .bind(n)
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
        }
        let endpoint_changed = p.endpoint_url.is_some();
        sqlx::query(
            "UPDATE providers SET name = COALESCE($1, name), description = COALESCE($2, description), \
             access_key_id = COALESCE($3, access_key_id), default_region = COALESCE($4, default_region), \
             endpoint_url = CASE WHEN $5 = 1 THEN $6 ELSE endpoint_url END, updated_at = $7, \
             project = COALESCE($9, project), domain = COALESCE($10, domain), address_mode = COALESCE($11, address_mode) \
             WHERE id = $8",
        )
        .bind(p.name.clone())
        .bind(p.description.clone())
        .bind(p.access_key_id.clone())
        .bind(p.default_region.clone())
        .bind(flag(endpoint_changed))
        .bind(p.endpoint_url.clone().filter(|u| !u.is_empty()))
        .bind(now_ms())
        .bind(id)
        .bind(p.project.clone())
        .bind(p.domain.clone())
        .bind(p.address_mode.clone())
        .execute(&mut *tx.tx)
        .await?;
        if let Some(regions) = &p.allowed_regions {
            sqlx::query("UPDATE provider_regions SET allowed = 0 WHERE provider_id = $1")
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
            for r in regions {
                sqlx::query("UPDATE provider_regions SET allowed = 1 WHERE provider_id = $1 AND name = $2")
                    .bind(id)
                    .bind(r)
                    .execute(&mut *tx.tx)
                    .await?;
            }
        }
        if let Some(types) = &p.allowed_instance_types {
            sqlx::query("UPDATE provider_instance_types SET allowed = 0 WHERE provider_id = $1")
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
            for t in types {
                sqlx::query("UPDATE provider_instance_types SET allowed = 1 WHERE provider_id = $1 AND name = $2")
                    .bind(id)
                    .bind(t)
                    .execute(&mut *tx.tx)
                    .await?;
            }
        }
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("provider.update", AuditOutcome::Success).target("provider", id).details(json!({
                "name": p.name, "access_key_id": p.access_key_id, "secret_changed": p.secret_access_key.is_some(),
                "endpoint_url": p.endpoint_url, "default_region": p.default_region,
                "project": p.project, "domain": p.domain, "address_mode": p.address_mode,
                "allowed_regions": p.allowed_regions, "allowed_instance_types": p.allowed_instance_types,
            })),
        )
        .await?;
        tx.commit().await?;
        if let Some(s) = &p.secret_access_key {
            self.put_secret("provider", id, SECRET_NAME, s.as_bytes()).await?;
        }
        self.load_provider(id).await
    }

    /// Removes a provider that has no images or instances left (administrators).
    pub async fn providers_delete(&self, caller: &Caller, id: i64) -> CoreResult<()> {
        if !caller.is_admin {
            return Err(CoreError::forbidden("only administrators configure cloud providers"));
        }
        let p = self.load_provider(id).await?;
        let mut tx = self.store().write_tx().await?;
        let (used,): (i64,) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM images WHERE provider_id = $1) + (SELECT COUNT(*) FROM instances WHERE provider_id = $1 AND terminated_at IS NULL)",
        )
        .bind(id)
        .fetch_one(&mut *tx.tx)
        .await?;
        if used > 0 {
            return Err(CoreError::Conflict(format!(
                "provider {:?} still has images or instances; remove them first",
                p.name
            )));
        }
        sqlx::query("DELETE FROM secrets WHERE owner_kind = 'provider' AND owner_id = $1")
            .bind(id)
            .execute(&mut *tx.tx)
            .await?;
        Engine::unregister_object(&mut *tx.tx, ObjectKind::Provider, id).await?;
        sqlx::query("DELETE FROM providers WHERE id = $1").bind(id).execute(&mut *tx.tx).await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("provider.delete", AuditOutcome::Success)
                .target("provider", id)
                .details(json!({"name": p.name})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The cloud behind a provider, with its secret unsealed for just this use.
    pub async fn cloud(&self, provider_id: i64) -> CoreResult<Arc<dyn CloudProvider>> {
        let p = self.load_provider(provider_id).await?;
        match p.kind {
            ProviderKind::Aws => {
                let secret = self
                    .get_secret("provider", provider_id, SECRET_NAME)
                    .await?
                    .ok_or_else(|| CoreError::Conflict(format!("provider {:?} has no secret access key", p.name)))?;
                let secret = SecretString::new(
                    String::from_utf8(secret.expose().clone())
                        .map_err(|_| CoreError::Internal("a stored secret is not text".into()))?,
                );
                let mut settings = AwsSettings::new(p.access_key_id.clone(), secret, p.default_region.clone());
                if let Some(u) = &p.endpoint_url {
                    settings = settings.with_endpoint_url(u.clone());
                }
                Ok(Arc::new(AwsProvider::new(settings).map_err(cloud_error)?))
            }
            ProviderKind::Local => Ok(Arc::new(self.local_provider(provider_id).await?)),
            ProviderKind::Openstack => Ok(self.openstack_provider(&p).await?),
        }
    }

    /// The OpenStack provider object of `p`, kept while its settings do not change so that its
    /// Keystone token is reused (and renewed) across calls.
    async fn openstack_provider(&self, p: &Provider) -> CoreResult<Arc<dyn CloudProvider>> {
        let version = p.updated_at.timestamp_millis();
        if let Some((v, c)) = self.inner.openstack_clouds.lock().unwrap_or_else(|e| e.into_inner()).get(&p.id) {
            if *v == version {
                return Ok(c.clone());
            }
        }
        let password = self
            .get_secret("provider", p.id, SECRET_NAME)
            .await?
            .ok_or_else(|| CoreError::Conflict(format!("provider {:?} has no password", p.name)))?;
        let password = SecretString::new(
            String::from_utf8(password.expose().clone())
                .map_err(|_| CoreError::Internal("a stored secret is not text".into()))?,
        );
        let auth_url = p
            .endpoint_url
            .clone()
            .ok_or_else(|| CoreError::Conflict(format!("provider {:?} has no auth URL", p.name)))?;
        let mut settings = OpenstackSettings::new(
            auth_url,
            p.access_key_id.clone(),
            password,
            p.project.clone().unwrap_or_default(),
            p.default_region.clone(),
        );
        if let Some(d) = p.domain.as_deref().filter(|d| !d.is_empty()) {
            settings = settings.with_domain(d);
        }
        if let Some(m) = p.address_mode.as_deref().and_then(AddressMode::parse) {
            settings = settings.with_address_mode(m);
        }
        let cloud = Arc::new(OpenstackProvider::new(settings).map_err(cloud_error)?);
        self.inner.openstack_clouds.lock().unwrap_or_else(|e| e.into_inner()).insert(p.id, (version, cloud.clone()));
        Ok(cloud)
    }
}

impl Engine {
    /// The local provider `provider_id` (which must be of kind `local`), its guests' state under
    /// `<data-dir>/local/<id>`. One object per provider: its lock serialises the guests'
    /// bookkeeping.
    pub async fn local_provider(&self, provider_id: i64) -> CoreResult<LocalProvider> {
        let mut cache = self.inner.local_clouds.lock().await;
        if let Some(c) = cache.get(&provider_id) {
            return Ok(c.clone());
        }
        let base = self.config().storage.data_dir.join("local").join(provider_id.to_string());
        let local = LocalProvider::new(LocalSettings::new(base)).map_err(cloud_error)?;
        cache.insert(provider_id, local.clone());
        Ok(local)
    }
}

/// A cloud's refusal or failure as the engine reports it.
pub(crate) fn cloud_error(e: wintermute_cloud::CloudError) -> CoreError {
    use wintermute_cloud::CloudError as C;
    match e {
        C::NotFound { .. } => CoreError::NotFound(e.to_string()),
        C::InvalidRequest(_) => CoreError::invalid("request", e.to_string()),
        C::Auth(_) => CoreError::Unavailable(format!("the cloud refused the provider's credentials: {e}")),
        C::LimitExceeded(_) => CoreError::Conflict(e.to_string()),
        _ => CoreError::Unavailable(e.to_string()),
    }
}
