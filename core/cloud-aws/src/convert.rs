//! Small conversions between SDK types and ours.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use chrono::{DateTime, Utc};
use wintermute_cloud::Tags;

/// Our tags from EC2's.
pub(crate) fn tags_from(tags: &[Tag]) -> Tags {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect()
}

/// A tag specification for a new object of type `resource`; `None` when there are no tags
/// (EC2 refuses an empty one).
pub(crate) fn tag_spec(resource: ResourceType, tags: &Tags) -> Option<TagSpecification> {
    if tags.is_empty() {
        return None;
    }
    let tags = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
    Some(TagSpecification::builder().resource_type(resource).set_tags(Some(tags)).build())
}

/// A filter `name` = one of `values`.
pub(crate) fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder().name(name).set_values(Some(values.into_iter().map(Into::into).collect())).build()
}

/// The filter for objects tagged `key` = `value`.
pub(crate) fn tag_filter(key: &str, value: &str) -> Filter {
    filter(&format!("tag:{key}"), [value])
}

/// A chrono time from an SDK time.
pub(crate) fn time(t: &aws_sdk_ec2::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// An SDK count (i32) as ours, negatives as none.
pub(crate) fn count(n: Option<i32>) -> Option<u32> {
    n.and_then(|n| u32::try_from(n).ok())
}

/// Our count as the SDK's i32, saturating.
pub(crate) fn sdk_count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip() {
        let tags = Tags::new().with("Name", "web").with("wintermute:managed", "true");
        let spec = tag_spec(ResourceType::Instance, &tags).unwrap();
        assert_eq!(tags_from(spec.tags()), tags);
        assert!(tag_spec(ResourceType::Volume, &Tags::new()).is_none());
    }
}
