//! Cinder volumes (attached and detached through Nova, see `compute.rs`).
//!
//! Volume kinds: "General Purpose SSD" is the cloud's default volume type; the other kinds need a
//! Cinder volume type of that name (`io2`/`Provisioned IOPS SSD`, `standard`/`Magnetic`). IOPS
//! are a property of Cinder volume types (QoS), not of single volumes: a requested IOPS value is
//! left to the type, and volumes report none.

use reqwest::Method;
use serde_json::{json, Value};
use wintermute_cloud::{
    AttachmentState, CloudError, Operation, VolumeAttachment, VolumeInfo, VolumeSpec, VolumeState, VolumeType,
};

use crate::client::{Call, Client, Service};
use crate::convert::{metadata_of, tags_of};

const PAGE: usize = 500;

fn call<'a>(op: Operation, region: &'a str, method: Method, path: impl Into<String>) -> Call<'a> {
    Call::new(op, Service::Volume, region, method, path)
}

fn kind_of(type_name: Option<&str>) -> Option<VolumeType> {
    match type_name {
        None | Some("") | Some("__DEFAULT__") => Some(VolumeType::GeneralPurpose),
        Some(t) => t.parse().ok(),
    }
}

pub(crate) fn info(v: &Value) -> VolumeInfo {
    let attachments = v["attachments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| VolumeAttachment {
            instance_id: a["server_id"].as_str().unwrap_or_default().to_string(),
            device: a["device"].as_str().map(str::to_string),
            state: AttachmentState::Attached,
        })
        .collect();
    let state = v["status"].as_str().unwrap_or_default().parse().unwrap_or(VolumeState::Unknown);
    VolumeInfo {
        id: v["id"].as_str().unwrap_or_default().to_string(),
        size_gb: v["size"].as_u64().and_then(|s| u32::try_from(s).ok()).unwrap_or(0),
        volume_type: kind_of(v["volume_type"].as_str()),
        iops: None,
        state,
        availability_zone: v["availability_zone"].as_str().map(str::to_string),
        attachments,
        tags: tags_of(&v["metadata"]),
    }
}

pub(crate) async fn create(c: &Client, region: &str, spec: &VolumeSpec) -> Result<VolumeInfo, CloudError> {
    spec.validate()?;
    let op = Operation::CreateVolume;
    let mut volume = json!({
        "size": spec.size_gb, "availability_zone": spec.availability_zone, "metadata": metadata_of(&spec.tags),
    });
    if let Some(n) = spec.tags.name() {
        volume["name"] = json!(n);
    }
    if spec.volume_type != VolumeType::GeneralPurpose {
        let types = c.send(call(op, region, Method::GET, "/types")).await?;
        let name = types["volume_types"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str())
            .find(|n| n.parse::<VolumeType>().ok() == Some(spec.volume_type))
            .ok_or_else(|| {
                CloudError::InvalidRequest(format!(
                    "this cloud has no {} volume type (a Cinder volume type named {} is needed)",
                    spec.volume_type,
                    spec.volume_type.ebs_name()
                ))
            })?;
        volume["volume_type"] = json!(name);
    }
    let v = c.send(call(op, region, Method::POST, "/volumes").body(json!({"volume": volume}))).await?;
    Ok(info(&v["volume"]))
}

pub(crate) async fn describe(c: &Client, region: &str, ids: &[String]) -> Result<Vec<VolumeInfo>, CloudError> {
    let op = Operation::DescribeVolumes;
    let mut out = Vec::new();
    for id in ids {
        let v = c.send(call(op, region, Method::GET, format!("/volumes/{id}")).about("volume", id)).await?;
        out.push(info(&v["volume"]));
    }
    Ok(out)
}

pub(crate) async fn by_tag(c: &Client, region: &str, key: &str, value: &str) -> Result<Vec<VolumeInfo>, CloudError> {
    let op = Operation::VolumesByTag;
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut req = call(op, region, Method::GET, "/volumes/detail").query("limit", PAGE.to_string());
        if let Some(m) = &marker {
            req = req.query("marker", m.clone());
        }
        let v = c.send(req).await?;
        let page = v["volumes"].as_array().cloned().unwrap_or_default();
        let n = page.len();
        marker = page.last().and_then(|s| s["id"].as_str()).map(str::to_string);
        out.extend(page.iter().map(info).filter(|i| i.tags.get(key) == Some(value)));
        if n < PAGE || marker.is_none() {
            return Ok(out);
        }
    }
}

pub(crate) async fn delete(c: &Client, region: &str, id: &str) -> Result<(), CloudError> {
    c.send(call(Operation::DeleteVolume, region, Method::DELETE, format!("/volumes/{id}")).about("volume", id)).await?;
    Ok(())
}
