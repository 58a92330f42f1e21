//! Glance images, for the image search and import of manual 6.4.2.

use reqwest::Method;
use serde_json::Value;
use wintermute_cloud::{CloudError, ImageInfo, ImageQuery, Operation};

use crate::client::{Call, Client, Service};

/// Page size for Glance lists, and most pages one search reads.
const PAGE: usize = 200;
const MAX_PAGES: usize = 25;

fn image_info(i: &Value) -> ImageInfo {
    let text = |k: &str| i[k].as_str().filter(|s| !s.is_empty()).map(str::to_string);
    ImageInfo {
        image_id: text("id").unwrap_or_default(),
        name: text("name"),
        description: text("description"),
        owner_id: text("owner"),
        architecture: text("architecture"),
        platform_details: text("os_distro").or_else(|| text("os_type")),
        creation_date: text("created_at"),
        root_device_type: None,
        state: text("status"),
    }
}

pub(crate) async fn find(c: &Client, region: &str, query: &ImageQuery) -> Result<Vec<ImageInfo>, CloudError> {
    let op = Operation::FindImages;
    let limit = usize::try_from(query.validate()?).unwrap_or(usize::MAX);
    let project = c.session(op).await?.project_id.clone();
    let owners: Vec<String> =
        query.owners.iter().map(|o| if o == "self" { project.clone() } else { o.clone() }).collect();
    let wanted = |i: &ImageInfo| {
        (owners.is_empty() || i.owner_id.as_ref().is_some_and(|o| owners.contains(o)))
            && query.name_contains.as_deref().is_none_or(|n| i.name.as_deref().is_some_and(|name| name.contains(n)))
    };
    let mut out = Vec::new();
    if !query.image_ids.is_empty() {
        for id in &query.image_ids {
            match c
                .send(Call::new(op, Service::Image, region, Method::GET, format!("/images/{id}")).about("image", id))
                .await
            {
                Ok(v) => out.push(image_info(&v)),
                // Unknown ids (Glance also answers 404 to ids that are not UUIDs) are simply not found.
                Err(CloudError::NotFound { .. }) | Err(CloudError::InvalidRequest(_)) => {}
                Err(e) => return Err(e),
            }
        }
        out.retain(|i| wanted(i));
    } else {
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut req = Call::new(op, Service::Image, region, Method::GET, "/images")
                .query("limit", PAGE.to_string())
                .query("sort", "created_at:desc");
            if owners.len() == 1 {
                req = req.query("owner", owners[0].clone());
            }
            if let Some(m) = &marker {
                req = req.query("marker", m.clone());
            }
            let v = c.send(req).await?;
            let page = v["images"].as_array().cloned().unwrap_or_default();
            out.extend(page.iter().map(image_info).filter(|i| wanted(i)));
            marker = page.last().and_then(|i| i["id"].as_str()).map(str::to_string);
            if out.len() >= limit || v["next"].is_null() || marker.is_none() {
                break;
            }
        }
    }
    out.sort_by(|a, b| b.creation_date.cmp(&a.creation_date));
    out.truncate(limit);
    Ok(out)
}
