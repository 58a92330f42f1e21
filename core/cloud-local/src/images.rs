//! Registered images: disk image files (qcow2 or raw) instances are cloned from.

use std::path::Path;

use chrono::Utc;
use wintermute_cloud::{AccountInfo, CloudError, ImageInfo, ImageQuery};

use crate::error::io_error;
use crate::provider::{Local, LocalProvider};
use crate::qemu::disk_info;
use crate::records::ImageRecord;
use crate::settings::REGION;
use crate::store::{is_id, new_id, read_json, write_json, IMAGE_PREFIX};

/// The owner every local image reports.
const OWNER: &str = "local";

impl Local {
    pub(crate) fn account_info(&self) -> Result<AccountInfo, CloudError> {
        self.qemu_system()?;
        self.qemu_img()?;
        Ok(AccountInfo {
            provider: "local".into(),
            // No account here: this says how the guests run (`qemu-kvm` or `qemu-tcg`).
            account_id: Some(format!("qemu-{}", self.accel.as_str())),
            region: REGION.into(),
            default_network: Some(format!("{}/24", self.network.subnet)),
            max_instances: Some(self.settings.max_instances),
        })
    }

    pub(crate) fn images(&self) -> Result<Vec<ImageRecord>, CloudError> {
        Ok(read_json(&self.store.images_file())?.unwrap_or_default())
    }

    /// The image `id`, or [`CloudError::NotFound`].
    pub(crate) fn image(&self, id: &str) -> Result<ImageRecord, CloudError> {
        let found = if is_id(id, IMAGE_PREFIX) { self.images()?.into_iter().find(|i| i.id == id) } else { None };
        found.ok_or_else(|| CloudError::not_found("image", id))
    }

    pub(crate) fn find_images(&self, query: &ImageQuery) -> Result<Vec<ImageInfo>, CloudError> {
        let limit = query.validate()?;
        let owners_ok = query.owners.is_empty() || query.owners.iter().any(|o| o == OWNER || o == "self");
        let mut found: Vec<ImageRecord> = self
            .images()?
            .into_iter()
            .filter(|_| owners_ok)
            .filter(|i| query.image_ids.is_empty() || query.image_ids.contains(&i.id))
            .filter(|i| query.name_contains.as_deref().is_none_or(|n| i.name.contains(n.trim())))
            .collect();
        found.sort_by_key(|i| std::cmp::Reverse(i.created));
        Ok(found.iter().take(limit as usize).map(image_info).collect())
    }
}

fn image_info(record: &ImageRecord) -> ImageInfo {
    ImageInfo {
        image_id: record.id.clone(),
        name: Some(record.name.clone()),
        description: record.description.clone(),
        owner_id: Some(OWNER.into()),
        architecture: Some("x86_64".into()),
        platform_details: Some("Linux/UNIX".into()),
        creation_date: Some(record.created.to_rfc3339()),
        root_device_type: Some(record.format.clone()),
        state: Some(if record.path.is_file() { "available" } else { "failed" }.into()),
    }
}

impl LocalProvider {
    /// Registers the disk image file `path` (qcow2 or raw, e.g. from
    /// [`crate::image::build_debian_image`] or a distribution's cloud image) as image `name`.
    /// The file is used in place, never copied: it must stay where it is while instances made
    /// from it exist. Registering the same file under the same name again returns the
    /// existing image.
    ///
    /// Instances get their keys through the first-boot step of images built by this crate; a
    /// foreign cloud image boots, but nothing in it reads that step's metadata.
    pub async fn import_image(
        &self,
        name: &str,
        path: &Path,
        description: Option<&str>,
    ) -> Result<ImageInfo, CloudError> {
        let local = &self.local;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 128 {
            return Err(CloudError::InvalidRequest("an image needs a name of 1 to 128 characters".into()));
        }
        let path = path.canonicalize().map_err(|e| io_error("cannot find the image file", path, &e))?;
        if !path.is_file() {
            return Err(CloudError::InvalidRequest(format!("{} is not a file", path.display())));
        }
        let info = disk_info(&local.qemu_img()?, &path).await?;
        if info.format != "qcow2" && info.format != "raw" {
            return Err(CloudError::InvalidRequest(format!(
                "{} is a {} image; the local provider takes qcow2 and raw images",
                path.display(),
                info.format
            )));
        }
        let _guard = local.lock.lock().await;
        let mut images = local.images()?;
        if let Some(existing) = images.iter().find(|i| i.path == path && i.name == name) {
            return Ok(image_info(existing));
        }
        let record = ImageRecord {
            id: new_id(IMAGE_PREFIX),
            name: name.to_string(),
            description: description.map(str::to_string),
            path,
            format: info.format,
            created: Utc::now(),
        };
        images.push(record.clone());
        write_json(&local.store.images_file(), &images)?;
        Ok(image_info(&record))
    }
}
