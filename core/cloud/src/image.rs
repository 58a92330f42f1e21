//! Machine images and how to search for them.

use serde::{Deserialize, Serialize};

use crate::CloudError;

/// A machine image (AMI) as the cloud describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// The image id, e.g. `ami-0abc…`.
    pub image_id: String,
    /// The image's name.
    pub name: Option<String>,
    /// The image's description.
    pub description: Option<String>,
    /// The account that owns the image.
    pub owner_id: Option<String>,
    /// `x86_64`, `arm64`…
    pub architecture: Option<String>,
    /// E.g. `Linux/UNIX`, `Windows`.
    pub platform_details: Option<String>,
    /// When the image was made (as the cloud writes it, ISO 8601).
    pub creation_date: Option<String>,
    /// `ebs` or `instance-store`.
    pub root_device_type: Option<String>,
    /// `available`, `pending`, `failed`…
    pub state: Option<String>,
}

/// Most images one search returns when the query sets no limit.
pub const DEFAULT_IMAGE_RESULTS: u32 = 100;

/// Most images one search may return.
pub const MAX_IMAGE_RESULTS: u32 = 1000;

/// A search for images. At least one of `image_ids`, `name_contains` or `owners` must be set:
/// an unconstrained search would list every public image of the region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageQuery {
    /// Only these image ids (unknown ids are simply not in the result).
    pub image_ids: Vec<String>,
    /// Only images whose name contains this text (case-sensitive, as the clouds match).
    pub name_contains: Option<String>,
    /// Only images of these owners: account ids, or `amazon`, `self`, `aws-marketplace`.
    pub owners: Vec<String>,
    /// At most this many results ([`DEFAULT_IMAGE_RESULTS`] when unset, at most
    /// [`MAX_IMAGE_RESULTS`]).
    pub max_results: Option<u32>,
}

impl ImageQuery {
    /// Parses the import dialog's search text: `image_id:ami-…` (several ids may be separated by
    /// commas or spaces) searches by id, anything else is name text.
    pub fn from_search(text: &str) -> Result<Self, CloudError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(CloudError::InvalidRequest("the image search is empty".into()));
        }
        if let Some(ids) = text.strip_prefix("image_id:") {
            let image_ids: Vec<String> =
                ids.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
            if image_ids.is_empty() {
                return Err(CloudError::InvalidRequest("`image_id:` needs an image id after it".into()));
            }
            return Ok(Self { image_ids, ..Self::default() });
        }
        Ok(Self { name_contains: Some(text.to_string()), ..Self::default() })
    }

    /// Checks that the query is bounded, and returns the result limit to apply.
    pub fn validate(&self) -> Result<u32, CloudError> {
        let has_name = self.name_contains.as_deref().is_some_and(|n| !n.trim().is_empty());
        if self.image_ids.is_empty() && !has_name && self.owners.is_empty() {
            return Err(CloudError::InvalidRequest("an image search needs image ids, name text or owners".into()));
        }
        match self.max_results {
            None => Ok(DEFAULT_IMAGE_RESULTS),
            Some(0) => Err(CloudError::InvalidRequest("max_results must be at least 1".into())),
            Some(n) => Ok(n.min(MAX_IMAGE_RESULTS)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_by_id_or_name() {
        let q = ImageQuery::from_search("image_id:ami-123, ami-456").unwrap();
        assert_eq!(q.image_ids, ["ami-123", "ami-456"]);
        assert_eq!(q.name_contains, None);
        let q = ImageQuery::from_search("  ubuntu jammy ").unwrap();
        assert_eq!(q.name_contains.as_deref(), Some("ubuntu jammy"));
        assert!(q.image_ids.is_empty());
        assert!(ImageQuery::from_search("image_id: ").is_err());
        assert!(ImageQuery::from_search("").is_err());
    }

    #[test]
    fn unbounded_searches_are_refused() {
        assert!(matches!(ImageQuery::default().validate(), Err(CloudError::InvalidRequest(_))));
        let q = ImageQuery { name_contains: Some(" ".into()), ..ImageQuery::default() };
        assert!(q.validate().is_err());
        let q = ImageQuery { owners: vec!["amazon".into()], ..ImageQuery::default() };
        assert_eq!(q.validate().unwrap(), DEFAULT_IMAGE_RESULTS);
        let q = ImageQuery { owners: vec!["self".into()], max_results: Some(5000), ..ImageQuery::default() };
        assert_eq!(q.validate().unwrap(), MAX_IMAGE_RESULTS);
        let q = ImageQuery { owners: vec!["self".into()], max_results: Some(0), ..ImageQuery::default() };
        assert!(q.validate().is_err());
    }
}
