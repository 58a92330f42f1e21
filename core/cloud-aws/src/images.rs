//! Image search.

use aws_sdk_ec2::types::Image;
use wintermute_cloud::{CloudError, ImageInfo, ImageQuery, Operation};

use crate::client::Ec2;
use crate::convert::filter;

/// Images matching `query`, newest first.
pub(crate) async fn find(ec2: &Ec2, query: &ImageQuery) -> Result<Vec<ImageInfo>, CloudError> {
    let limit = query.validate()?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut request = ec2.client.describe_images();
    if !query.owners.is_empty() {
        request = request.set_owners(Some(query.owners.clone()));
    }
    // Filters rather than ImageIds: an unknown id is then an empty result, not an error.
    if !query.image_ids.is_empty() {
        request = request.filters(filter("image-id", query.image_ids.iter().cloned()));
    }
    if let Some(text) = query.name_contains.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        request = request.filters(filter("name", [format!("*{}*", escape_wildcards(text))]));
    }
    // EC2 takes page sizes of 5 to 1000.
    let page_size = i32::try_from(limit.clamp(5, 1000)).unwrap_or(1000);
    let mut pages = request.max_results(page_size).into_paginator().send();
    let mut images = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(ec2.err(Operation::FindImages))?;
        images.extend(page.images().iter().filter_map(image_info));
        if images.len() >= limit {
            break;
        }
    }
    // ISO 8601 dates sort as text; images without a date go last.
    images.sort_by(|a, b| b.creation_date.cmp(&a.creation_date));
    images.truncate(limit);
    Ok(images)
}

fn image_info(image: &Image) -> Option<ImageInfo> {
    let s = |v: Option<&str>| v.map(str::to_string);
    Some(ImageInfo {
        image_id: image.image_id()?.to_string(),
        name: s(image.name()),
        description: s(image.description()),
        owner_id: s(image.owner_id()),
        architecture: image.architecture().map(|a| a.as_str().to_string()),
        platform_details: s(image.platform_details()),
        creation_date: s(image.creation_date()),
        root_device_type: image.root_device_type().map(|t| t.as_str().to_string()),
        state: image.state().map(|t| t.as_str().to_string()),
    })
}

/// EC2 filter values treat `*` and `?` as wildcards; a backslash makes them literal.
fn escape_wildcards(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_escaped() {
        assert_eq!(escape_wildcards("ubuntu"), "ubuntu");
        assert_eq!(escape_wildcards("a*b?c\\d"), "a\\*b\\?c\\\\d");
    }
}
