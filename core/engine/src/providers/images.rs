//! Images (manual 6.4): searched in a provider's registry (`image_id:ami-…` or name text),
//! imported disabled, then described and enabled by someone with "change image". Only enabled
//! images a user may view can be launched.

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::providers::{Image, ImageCandidate, ImagePatch, ImportImage, OsType};
use wintermute_api::rights::{ObjectKind, ObjectRight};
use wintermute_cloud::ImageQuery;

use crate::audit::AuditRecord;
use crate::caller::Caller;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::{flag, RowExt};
use crate::time::{now_ms, to_dt};
use crate::validate;

impl Engine {
    pub(crate) async fn load_image(&self, id: i64) -> CoreResult<Image> {
        let r = sqlx::query(
            "SELECT i.id, i.provider_id, p.name AS provider_name, i.region, i.cloud_id, i.name, i.os_type, i.description, \
             i.login_user, i.enabled, i.created_at, i.updated_at FROM images i JOIN providers p ON p.id = i.provider_id WHERE i.id = $1",
        )
        .bind(id)
        .fetch_optional(self.store().pool())
        .await?
        .ok_or_else(|| CoreError::not_found(format!("there is no image {id}")))?;
        Ok(Image {
            id,
            provider_id: r.int("provider_id")?,
            provider_name: r.text("provider_name")?,
            region: r.text("region")?,
            cloud_id: r.text("cloud_id")?,
            name: r.text("name")?,
            os_type: OsType::parse(&r.text("os_type")?),
            description: r.text("description")?,
            login_user: r.text("login_user")?,
            enabled: r.flag("enabled")?,
            created_at: to_dt(r.int("created_at")?),
            updated_at: to_dt(r.int("updated_at")?),
        })
    }

    async fn require_allowed_region(&self, provider_id: i64, region: &str) -> CoreResult<()> {
        let ok = sqlx::query("SELECT name FROM provider_regions WHERE provider_id = $1 AND name = $2 AND allowed = 1")
            .bind(provider_id)
            .bind(region)
            .fetch_optional(self.store().pool())
            .await?;
        if ok.is_none() {
            return Err(CoreError::forbidden(format!("region {region:?} is not allowed for this provider")));
        }
        Ok(())
    }

    /// Searches a provider's registry (needs "import images" on the provider).
    pub async fn images_search(
        &self,
        caller: &Caller,
        provider_id: i64,
        region: &str,
        text: &str,
    ) -> CoreResult<Vec<ImageCandidate>> {
        self.require_right(caller, ObjectKind::Provider, provider_id, ObjectRight::ImportImages).await?;
        self.require_allowed_region(provider_id, region).await?;
        let query = ImageQuery::from_search(text).map_err(|e| CoreError::invalid("q", e.to_string()))?;
        let found = self.cloud(provider_id).await?.find_images(region, &query).await.map_err(super::cloud_error)?;
        let imported: Vec<(String,)> =
            sqlx::query_as("SELECT cloud_id FROM images WHERE provider_id = $1 AND region = $2")
                .bind(provider_id)
                .bind(region)
                .fetch_all(self.store().pool())
                .await?;
        Ok(found
            .into_iter()
            .map(|i| ImageCandidate {
                imported: imported.iter().any(|x| x.0 == i.image_id),
                cloud_id: i.image_id,
                name: i.name.unwrap_or_default(),
                description: i.description.unwrap_or_default(),
                owner_id: i.owner_id.unwrap_or_default(),
                architecture: i.architecture.unwrap_or_default(),
                creation_date: i.creation_date.unwrap_or_default(),
            })
            .collect())
    }

    /// Imports an image, disabled ("import images" on the provider). The importer owns it.
    pub async fn images_import(&self, caller: &Caller, req: &ImportImage) -> CoreResult<Image> {
        self.require_right(caller, ObjectKind::Provider, req.provider_id, ObjectRight::ImportImages).await?;
        self.require_allowed_region(req.provider_id, &req.region).await?;
        let query = ImageQuery { image_ids: vec![req.cloud_id.clone()], ..Default::default() };
        let found =
            self.cloud(req.provider_id).await?.find_images(&req.region, &query).await.map_err(super::cloud_error)?;
        let info = found.into_iter().find(|i| i.image_id == req.cloud_id).ok_or_else(|| {
            CoreError::not_found(format!("{} is not in the registry of {}", req.cloud_id, req.region))
        })?;
        let name = info.name.clone().unwrap_or_else(|| info.image_id.clone());
        let now = now_ms();
        let mut tx = self.store().write_tx().await?;
        let exists = sqlx::query("SELECT id FROM images WHERE provider_id = $1 AND region = $2 AND cloud_id = $3")
            .bind(req.provider_id)
            .bind(&req.region)
            .bind(&req.cloud_id)
            .fetch_optional(&mut *tx.tx)
            .await?;
        if let Some(r) = exists {
            return Err(CoreError::Conflict(format!("{} is already imported as image {}", req.cloud_id, r.int("id")?)));
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO images (provider_id, region, cloud_id, name, description, enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $6, $6) RETURNING id",
        )
        .bind(req.provider_id)
        .bind(&req.region)
        .bind(&req.cloud_id)
        .bind(name.chars().take(128).collect::<String>())
        .bind(info.description.clone().unwrap_or_default().chars().take(500).collect::<String>())
        .bind(now)
        .fetch_one(&mut *tx.tx)
        .await?;
        Engine::register_object(&mut *tx.tx, ObjectKind::Image, id, caller.user_id, &name).await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("image.import", AuditOutcome::Success)
                .target("image", id)
                .details(json!({"provider_id": req.provider_id, "region": req.region, "cloud_id": req.cloud_id})),
        )
        .await?;
        tx.commit().await?;
        self.load_image(id).await
    }

    /// Images the caller may view. Disabled ones only for those who may change them.
    pub async fn images_list(&self, caller: &Caller) -> CoreResult<Vec<Image>> {
        let mut out = Vec::new();
        for o in self.objects_list(caller, Some(ObjectKind::Image)).await? {
            let image = self.load_image(o.object_id).await?;
            if image.enabled || o.my_rights.contains(&ObjectRight::Change) {
                out.push(image);
            }
        }
        Ok(out)
    }

    pub async fn images_get(&self, caller: &Caller, id: i64) -> CoreResult<Image> {
        self.require_right(caller, ObjectKind::Image, id, ObjectRight::View).await?;
        self.load_image(id).await
    }

    /// Edits an image ("change image"). Enabling needs an OS type.
    pub async fn images_update(&self, caller: &Caller, id: i64, p: &ImagePatch) -> CoreResult<Image> {
        self.require_right(caller, ObjectKind::Image, id, ObjectRight::Change).await?;
        let before = self.load_image(id).await?;
        if let Some(n) = &p.name {
            validate::text("name", n, 128, false)?;
        }
        if let Some(d) = &p.description {
            validate::text("description", d, 500, true)?;
        }
        if let Some(u) = &p.login_user {
            if !u.is_empty() {
                validate::login("login_user", u)?;
            }
        }
        let os = p.os_type.or(before.os_type);
        if p.enabled == Some(true) && os.is_none() {
            return Err(CoreError::invalid(
                "os_type",
                "set the image's OS type before enabling it (a wrong type breaks provisioning)",
            ));
        }
        let mut tx = self.store().write_tx().await?;
        sqlx::query(
            "UPDATE images SET name = COALESCE($1, name), os_type = COALESCE($2, os_type), description = COALESCE($3, description), \
             login_user = COALESCE($4, login_user), enabled = COALESCE($5, enabled), updated_at = $6 WHERE id = $7",
        )
        .bind(p.name.clone())
        .bind(p.os_type.map(|o| o.as_str()))
        .bind(p.description.clone())
        .bind(p.login_user.clone())
        .bind(p.enabled.map(flag))
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
        if let Some(n) = &p.name {
            sqlx::query("UPDATE objects SET name = $1 WHERE kind = 'image' AND id = $2")
                .bind(n)
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
        }
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("image.update", AuditOutcome::Success).target("image", id).details(json!({
                "name": p.name, "os_type": p.os_type.map(|o| o.as_str()), "enabled": p.enabled, "login_user": p.login_user,
            })),
        )
        .await?;
        tx.commit().await?;
        self.load_image(id).await
    }

    /// Removes an image from the core's list ("change image"); the cloud's image is not touched.
    pub async fn images_delete(&self, caller: &Caller, id: i64) -> CoreResult<()> {
        self.require_right(caller, ObjectKind::Image, id, ObjectRight::Change).await?;
        let image = self.load_image(id).await?;
        let mut tx = self.store().write_tx().await?;
        Engine::unregister_object(&mut *tx.tx, ObjectKind::Image, id).await?;
        sqlx::query("DELETE FROM images WHERE id = $1").bind(id).execute(&mut *tx.tx).await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("image.delete", AuditOutcome::Success)
                .target("image", id)
                .details(json!({"cloud_id": image.cloud_id})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
