//! Nova: flavors, limits, key pairs, servers and their power, volume attachments.

use std::time::Duration;

use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};
use wintermute_cloud::{
    CloudError, InstanceInfo, InstanceSpec, InstanceState, InstanceStateChange, InstanceTypeInfo, KeyPairInfo,
    Operation, TAG_NAME,
};

use crate::client::{Call, Client, Service};
use crate::convert::{instance, metadata_of};
use crate::{network, AddressMode};

/// Page size for Nova lists.
const PAGE: usize = 500;

fn call<'a>(op: Operation, region: &'a str, method: Method, path: impl Into<String>) -> Call<'a> {
    Call::new(op, Service::Compute, region, method, path)
}

pub(crate) async fn flavors(c: &Client, region: &str, op: Operation) -> Result<Vec<Value>, CloudError> {
    let v = c.send(call(op, region, Method::GET, "/flavors/detail")).await?;
    Ok(v["flavors"].as_array().cloned().unwrap_or_default())
}

pub(crate) async fn instance_types(c: &Client, region: &str) -> Result<Vec<InstanceTypeInfo>, CloudError> {
    let mut out: Vec<InstanceTypeInfo> = flavors(c, region, Operation::InstanceTypes)
        .await?
        .iter()
        .filter(|f| f["OS-FLV-DISABLED:disabled"] != true)
        .map(|f| InstanceTypeInfo {
            name: f["name"].as_str().unwrap_or_default().to_string(),
            vcpus: f["vcpus"].as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
            memory_mib: f["ram"].as_u64().unwrap_or(0),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The account's instance limit (`maxTotalInstances`).
pub(crate) async fn max_instances(c: &Client, region: &str, op: Operation) -> Result<Option<u32>, CloudError> {
    let v = c.send(call(op, region, Method::GET, "/limits")).await?;
    Ok(v["limits"]["absolute"]["maxTotalInstances"].as_i64().and_then(|n| u32::try_from(n).ok()))
}

/// The key type and data of an OpenSSH public key, without its comment.
fn key_body(key: &str) -> String {
    key.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

fn key_info(k: &Value) -> KeyPairInfo {
    KeyPairInfo {
        name: k["name"].as_str().unwrap_or_default().to_string(),
        key_pair_id: k["id"].as_u64().map(|i| i.to_string()).or_else(|| k["name"].as_str().map(str::to_string)),
        fingerprint: k["fingerprint"].as_str().map(str::to_string),
    }
}

pub(crate) async fn import_key_pair(
    c: &Client,
    region: &str,
    name: &str,
    public_key: &str,
) -> Result<KeyPairInfo, CloudError> {
    let op = Operation::ImportKeyPair;
    if name.is_empty() || name.len() > 255 || name.chars().any(|ch| ch.is_control() || ch == '/') {
        return Err(CloudError::InvalidRequest(format!("{name:?} is not a key pair name")));
    }
    match c.send(call(op, region, Method::GET, format!("/os-keypairs/{name}")).about("key pair", name)).await {
        Ok(v) => {
            let k = &v["keypair"];
            if key_body(k["public_key"].as_str().unwrap_or_default()) == key_body(public_key) {
                return Ok(key_info(k));
            }
            return Err(CloudError::InvalidRequest(format!("key pair {name} exists with another public key")));
        }
        Err(CloudError::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    let v = c
        .send(
            call(op, region, Method::POST, "/os-keypairs")
                .body(json!({"keypair": {"name": name, "public_key": public_key.trim(), "type": "ssh"}})),
        )
        .await?;
    Ok(key_info(&v["keypair"]))
}

pub(crate) async fn delete_key_pair(c: &Client, region: &str, name: &str) -> Result<(), CloudError> {
    match c
        .send(
            call(Operation::DeleteKeyPair, region, Method::DELETE, format!("/os-keypairs/{name}"))
                .about("key pair", name),
        )
        .await
    {
        Ok(_) | Err(CloudError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Launches `spec.count` servers one request each, so that every one is known by id; when one
/// fails, the ones made are deleted again (all or nothing). With floating addresses, each
/// server also gets a floating IP carrying its tags.
pub(crate) async fn run(
    c: &Client,
    region: &str,
    spec: &InstanceSpec,
    mode: AddressMode,
    port_wait: Duration,
) -> Result<Vec<InstanceInfo>, CloudError> {
    spec.validate()?;
    let op = Operation::RunInstances;
    let flavor = flavors(c, region, op)
        .await?
        .into_iter()
        .find(|f| f["name"] == spec.instance_type.as_str() || f["id"] == spec.instance_type.as_str())
        .and_then(|f| f["id"].as_str().map(str::to_string))
        .ok_or_else(|| CloudError::InvalidRequest(format!("the cloud offers no flavor {:?}", spec.instance_type)))?;
    let mut tags = spec.tags.clone();
    tags.insert(TAG_NAME, spec.name.clone());
    let session = c.session(op).await?;
    let endpoint = c.endpoint(op, &session, Service::Compute, region).await?;
    let mut server = json!({
        "name": spec.name, "imageRef": spec.image_id, "flavorRef": flavor, "metadata": metadata_of(&tags),
        "min_count": 1, "max_count": 1,
    });
    if endpoint.microversion().is_some_and(|v| v >= (2, 37)) {
        server["networks"] = json!("auto");
    }
    if let Some(k) = &spec.key_name {
        server["key_name"] = json!(k);
    }
    if !spec.security_group_ids.is_empty() {
        server["security_groups"] =
            json!(spec.security_group_ids.iter().map(|g| json!({"name": g})).collect::<Vec<_>>());
    }
    if let Some(z) = &spec.availability_zone {
        server["availability_zone"] = json!(z);
    }
    if let Some(u) = &spec.user_data {
        server["user_data"] = json!(base64::engine::general_purpose::STANDARD.encode(u));
    }
    let mut made: Vec<String> = Vec::new();
    let mut addresses: Vec<String> = Vec::new();
    let result: Result<(), CloudError> = async {
        for _ in 0..spec.count {
            let v = c.send(call(op, region, Method::POST, "/servers").body(json!({"server": server}))).await?;
            let id = v["server"]["id"]
                .as_str()
                .ok_or_else(|| CloudError::Unavailable("Nova did not say which server it made".into()))?;
            made.push(id.to_string());
        }
        if mode == AddressMode::Floating {
            for id in &made {
                let fip = network::allocate(c, region, op, &tags).await?;
                addresses.push(fip.allocation_id.clone());
                // The server's port appears once Nova has scheduled it.
                let started = tokio::time::Instant::now();
                loop {
                    match network::associate(c, region, op, &fip.allocation_id, id).await {
                        Ok(_) => break,
                        Err(CloudError::InvalidRequest(m))
                            if m.contains("no network port") && started.elapsed() < port_wait =>
                        {
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        for a in &addresses {
            let _ = network::release(c, region, op, a).await;
        }
        for id in &made {
            let _ = c.send(call(op, region, Method::DELETE, format!("/servers/{id}")).about("instance", id)).await;
        }
        return Err(e);
    }
    describe(c, region, op, &made, mode).await
}

async fn server(c: &Client, region: &str, op: Operation, id: &str) -> Result<Option<Value>, CloudError> {
    match c.send(call(op, region, Method::GET, format!("/servers/{id}")).about("instance", id)).await {
        Ok(v) => Ok(Some(v["server"].clone())),
        Err(CloudError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every server of the project, deleted ones too when `deleted` (Nova lists deleted servers
/// when asked for changes since a time).
async fn list(c: &Client, region: &str, op: Operation, deleted: bool) -> Result<Vec<Value>, CloudError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut req = call(op, region, Method::GET, "/servers/detail").query("limit", PAGE.to_string());
        if deleted {
            req = req.query("changes-since", "1970-01-01T00:00:00Z");
        }
        if let Some(m) = &marker {
            req = req.query("marker", m.clone());
        }
        let v = c.send(req).await?;
        let page = v["servers"].as_array().cloned().unwrap_or_default();
        let n = page.len();
        marker = page.last().and_then(|s| s["id"].as_str()).map(str::to_string);
        out.extend(page);
        if n < PAGE || marker.is_none() {
            return Ok(out);
        }
    }
}

pub(crate) async fn describe(
    c: &Client,
    region: &str,
    op: Operation,
    ids: &[String],
    mode: AddressMode,
) -> Result<Vec<InstanceInfo>, CloudError> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for id in ids {
        match server(c, region, op, id).await? {
            Some(s) => out.push(instance(&s, mode)),
            None => missing.push(id.clone()),
        }
    }
    if !missing.is_empty() {
        // Deleted servers are still listed as DELETED for a while: they are terminated, not unknown.
        let gone = list(c, region, op, true).await?;
        for id in &missing {
            match gone.iter().find(|s| s["id"] == id.as_str()) {
                Some(s) => {
                    let mut info = instance(s, mode);
                    info.state = InstanceState::Terminated;
                    out.push(info);
                }
                None => return Err(CloudError::not_found("instance", id.clone())),
            }
        }
        out.sort_by_key(|i| ids.iter().position(|x| *x == i.id));
    }
    Ok(out)
}

pub(crate) async fn by_tag(
    c: &Client,
    region: &str,
    key: &str,
    value: &str,
    mode: AddressMode,
) -> Result<Vec<InstanceInfo>, CloudError> {
    Ok(list(c, region, Operation::InstancesByTag, false)
        .await?
        .iter()
        .map(|s| instance(s, mode))
        .filter(|i| i.tags.get(key) == Some(value))
        .collect())
}

/// Sends a server action to each server not already in `done`; answers with each server's
/// state before and right after.
async fn power(
    c: &Client,
    region: &str,
    op: Operation,
    ids: &[String],
    action: Value,
    done: &[InstanceState],
    after: InstanceState,
) -> Result<Vec<InstanceStateChange>, CloudError> {
    let before = describe(c, region, op, ids, AddressMode::Fixed).await?;
    let mut out = Vec::new();
    for info in before {
        if info.state.is_gone() {
            return Err(CloudError::InvalidRequest(format!("instance {} is terminated", info.id)));
        }
        if done.contains(&info.state) {
            out.push(InstanceStateChange { id: info.id.clone(), previous: info.state, current: info.state });
            continue;
        }
        c.send(
            call(op, region, Method::POST, format!("/servers/{}/action", info.id))
                .body(action.clone())
                .about("instance", &info.id),
        )
        .await?;
        out.push(InstanceStateChange { id: info.id.clone(), previous: info.state, current: after });
    }
    Ok(out)
}

pub(crate) async fn start(c: &Client, region: &str, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError> {
    let done = [InstanceState::Running, InstanceState::Pending];
    power(c, region, Operation::StartInstances, ids, json!({"os-start": null}), &done, InstanceState::Pending).await
}

pub(crate) async fn stop(c: &Client, region: &str, ids: &[String]) -> Result<Vec<InstanceStateChange>, CloudError> {
    let done = [InstanceState::Stopped, InstanceState::Stopping];
    power(c, region, Operation::StopInstances, ids, json!({"os-stop": null}), &done, InstanceState::Stopping).await
}

pub(crate) async fn reboot(c: &Client, region: &str, ids: &[String]) -> Result<(), CloudError> {
    let op = Operation::RebootInstances;
    for id in ids {
        c.send(
            call(op, region, Method::POST, format!("/servers/{id}/action"))
                .body(json!({"reboot": {"type": "SOFT"}}))
                .about("instance", id),
        )
        .await?;
    }
    Ok(())
}

/// Deletes servers, and first the floating IPs on their ports (nothing is left behind).
pub(crate) async fn terminate(
    c: &Client,
    region: &str,
    ids: &[String],
) -> Result<Vec<InstanceStateChange>, CloudError> {
    let op = Operation::TerminateInstances;
    let before = describe(c, region, op, ids, AddressMode::Fixed).await?;
    let mut out = Vec::new();
    for info in before {
        if info.state == InstanceState::Terminated {
            out.push(InstanceStateChange { id: info.id.clone(), previous: info.state, current: info.state });
            continue;
        }
        for fip in network::addresses_of(c, region, op, &info.id).await? {
            network::release(c, region, op, &fip).await?;
        }
        match c
            .send(call(op, region, Method::DELETE, format!("/servers/{}", info.id)).about("instance", &info.id))
            .await
        {
            Ok(_) | Err(CloudError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        out.push(InstanceStateChange {
            id: info.id.clone(),
            previous: info.state,
            current: InstanceState::ShuttingDown,
        });
    }
    Ok(out)
}

pub(crate) async fn attach(
    c: &Client,
    region: &str,
    volume_id: &str,
    server_id: &str,
    device: &str,
) -> Result<Value, CloudError> {
    let op = Operation::AttachVolume;
    if server(c, region, op, server_id).await?.is_none() {
        return Err(CloudError::not_found("instance", server_id));
    }
    let v = c
        .send(
            call(op, region, Method::POST, format!("/servers/{server_id}/os-volume_attachments"))
                .body(json!({"volumeAttachment": {"volumeId": volume_id, "device": device}}))
                .about("volume", volume_id),
        )
        .await?;
    Ok(v["volumeAttachment"].clone())
}

pub(crate) async fn detach(c: &Client, region: &str, volume_id: &str, server_id: &str) -> Result<(), CloudError> {
    let op = Operation::DetachVolume;
    if server(c, region, op, server_id).await?.is_none() {
        return Err(CloudError::not_found("instance", server_id));
    }
    c.send(
        call(op, region, Method::DELETE, format!("/servers/{server_id}/os-volume_attachments/{volume_id}"))
            .about("volume", volume_id),
    )
    .await?;
    Ok(())
}
