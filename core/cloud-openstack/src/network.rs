//! Neutron: security groups with their SSH rule, ports and floating IPs.

use reqwest::Method;
use serde_json::{json, Value};
use wintermute_cloud::{AddressInfo, Cidr, CloudError, Operation, SecurityGroupInfo, Tags};

use crate::client::{Call, Client, Service};
use crate::convert::{neutron_tags_of, tags_from_neutron};

fn call<'a>(op: Operation, region: &'a str, method: Method, path: impl Into<String>) -> Call<'a> {
    Call::new(op, Service::Network, region, method, path)
}

/// Whether a rule lets TCP port 22 in, and from where (`None` for rules that name a group
/// instead of addresses).
fn ssh_cidr_of(rule: &Value) -> Option<String> {
    if rule["direction"] != "ingress" || !rule["remote_group_id"].is_null() {
        return None;
    }
    let proto = rule["protocol"].as_str();
    if !matches!(proto, None | Some("tcp") | Some("6")) {
        return None;
    }
    let min = rule["port_range_min"].as_u64().unwrap_or(0);
    let max = rule["port_range_max"].as_u64().unwrap_or(65535);
    if !(min <= 22 && 22 <= max) {
        return None;
    }
    Some(match rule["remote_ip_prefix"].as_str() {
        Some(p) => p.parse::<Cidr>().map(|c| c.to_string()).unwrap_or_else(|_| p.to_string()),
        None if rule["ethertype"] == "IPv6" => "::/0".into(),
        None => "0.0.0.0/0".into(),
    })
}

fn group_info(g: &Value) -> SecurityGroupInfo {
    let mut ssh_cidrs: Vec<String> =
        g["security_group_rules"].as_array().into_iter().flatten().filter_map(ssh_cidr_of).collect();
    ssh_cidrs.sort();
    ssh_cidrs.dedup();
    SecurityGroupInfo {
        id: g["id"].as_str().unwrap_or_default().to_string(),
        name: g["name"].as_str().unwrap_or_default().to_string(),
        description: g["description"].as_str().filter(|d| !d.is_empty()).map(str::to_string),
        ssh_cidrs,
    }
}

pub(crate) async fn list_groups(c: &Client, region: &str, op: Operation) -> Result<Vec<Value>, CloudError> {
    let project = c.session(op).await?.project_id.clone();
    let v = c.send(call(op, region, Method::GET, "/security-groups").query("project_id", project)).await?;
    Ok(v["security_groups"].as_array().cloned().unwrap_or_default())
}

pub(crate) async fn security_groups(c: &Client, region: &str) -> Result<Vec<SecurityGroupInfo>, CloudError> {
    let mut out: Vec<SecurityGroupInfo> =
        list_groups(c, region, Operation::SecurityGroups).await?.iter().map(group_info).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub(crate) async fn ensure_group(
    c: &Client,
    region: &str,
    name: &str,
    description: &str,
    ssh_cidr: Option<&str>,
    tags: &Tags,
) -> Result<SecurityGroupInfo, CloudError> {
    let op = Operation::EnsureSecurityGroup;
    let want: Cidr = ssh_cidr.unwrap_or("0.0.0.0/0").parse()?;
    let want_text = want.to_string();
    let existing = list_groups(c, region, op).await?.into_iter().find(|g| g["name"] == name);
    let group = match existing {
        Some(g) => g,
        None => {
            let made = c
                .send(
                    call(op, region, Method::POST, "/security-groups")
                        .body(json!({"security_group": {"name": name, "description": description}})),
                )
                .await?;
            let g = made["security_group"].clone();
            let id = g["id"].as_str().unwrap_or_default().to_string();
            if !tags.is_empty() {
                c.send(
                    call(op, region, Method::PUT, format!("/security-groups/{id}/tags"))
                        .body(json!({"tags": neutron_tags_of(tags)}))
                        .about("security group", &id),
                )
                .await?;
            }
            g
        }
    };
    let id = group["id"].as_str().unwrap_or_default().to_string();
    let mut have_exact = false;
    for rule in group["security_group_rules"].as_array().into_iter().flatten() {
        let Some(cidr) = ssh_cidr_of(rule) else { continue };
        let exact = cidr == want_text
            && rule["protocol"] == "tcp"
            && rule["port_range_min"] == 22
            && rule["port_range_max"] == 22;
        if exact && !have_exact {
            have_exact = true;
            continue;
        }
        let rule_id = rule["id"].as_str().unwrap_or_default().to_string();
        match c
            .send(call(op, region, Method::DELETE, format!("/security-group-rules/{rule_id}")).about("rule", &rule_id))
            .await
        {
            Ok(_) | Err(CloudError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    if !have_exact {
        let ethertype = if want_text.contains(':') { "IPv6" } else { "IPv4" };
        c.send(call(op, region, Method::POST, "/security-group-rules").body(json!({"security_group_rule": {
            "security_group_id": id, "direction": "ingress", "protocol": "tcp", "ethertype": ethertype,
            "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": want_text,
        }})))
        .await?;
    }
    let g =
        c.send(call(op, region, Method::GET, format!("/security-groups/{id}")).about("security group", &id)).await?;
    Ok(group_info(&g["security_group"]))
}

/// The ports of a server.
pub(crate) async fn ports_of(
    c: &Client,
    region: &str,
    op: Operation,
    server_id: &str,
) -> Result<Vec<Value>, CloudError> {
    let v = c.send(call(op, region, Method::GET, "/ports").query("device_id", server_id)).await?;
    Ok(v["ports"].as_array().cloned().unwrap_or_default())
}

async fn external_network(c: &Client, region: &str, op: Operation) -> Result<String, CloudError> {
    let v = c.send(call(op, region, Method::GET, "/networks").query("router:external", "true")).await?;
    v["networks"]
        .as_array()
        .and_then(|n| n.first())
        .and_then(|n| n["id"].as_str())
        .map(str::to_string)
        .ok_or_else(|| CloudError::InvalidRequest("the cloud has no external network to take floating IPs from".into()))
}

async fn address_info(c: &Client, region: &str, op: Operation, fip: &Value) -> Result<AddressInfo, CloudError> {
    let port_id = fip["port_id"].as_str().map(str::to_string);
    let instance_id = match &port_id {
        Some(p) => match c.send(call(op, region, Method::GET, format!("/ports/{p}")).about("port", p)).await {
            Ok(v) => v["port"]["device_id"].as_str().filter(|d| !d.is_empty()).map(str::to_string),
            Err(CloudError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    Ok(AddressInfo {
        allocation_id: fip["id"].as_str().unwrap_or_default().to_string(),
        public_ip: fip["floating_ip_address"].as_str().unwrap_or_default().to_string(),
        instance_id,
        association_id: port_id,
        tags: tags_from_neutron(&fip["tags"]),
    })
}

pub(crate) async fn allocate(c: &Client, region: &str, op: Operation, tags: &Tags) -> Result<AddressInfo, CloudError> {
    let net = external_network(c, region, op).await?;
    let made = c
        .send(call(op, region, Method::POST, "/floatingips").body(json!({"floatingip": {"floating_network_id": net}})))
        .await?;
    let mut fip = made["floatingip"].clone();
    let id = fip["id"].as_str().unwrap_or_default().to_string();
    if !tags.is_empty() {
        let tagged = c
            .send(
                call(op, region, Method::PUT, format!("/floatingips/{id}/tags"))
                    .body(json!({"tags": neutron_tags_of(tags)}))
                    .about("address", &id),
            )
            .await;
        if let Err(e) = tagged {
            // Not tagged means not findable: give it back.
            let _ = release(c, region, op, &id).await;
            return Err(e);
        }
        fip["tags"] = json!(neutron_tags_of(tags));
    }
    address_info(c, region, op, &fip).await
}

pub(crate) async fn associate(
    c: &Client,
    region: &str,
    op: Operation,
    allocation_id: &str,
    instance_id: &str,
) -> Result<AddressInfo, CloudError> {
    let ports = ports_of(c, region, op, instance_id).await?;
    let port = ports
        .first()
        .and_then(|p| p["id"].as_str())
        .ok_or_else(|| CloudError::InvalidRequest(format!("instance {instance_id} has no network port yet")))?;
    let v = c
        .send(
            call(op, region, Method::PUT, format!("/floatingips/{allocation_id}"))
                .body(json!({"floatingip": {"port_id": port}}))
                .about("address", allocation_id),
        )
        .await?;
    address_info(c, region, op, &v["floatingip"]).await
}

pub(crate) async fn disassociate(c: &Client, region: &str, allocation_id: &str) -> Result<(), CloudError> {
    c.send(
        call(Operation::DisassociateAddress, region, Method::PUT, format!("/floatingips/{allocation_id}"))
            .body(json!({"floatingip": {"port_id": null}}))
            .about("address", allocation_id),
    )
    .await?;
    Ok(())
}

pub(crate) async fn release(c: &Client, region: &str, op: Operation, allocation_id: &str) -> Result<(), CloudError> {
    match c
        .send(call(op, region, Method::DELETE, format!("/floatingips/{allocation_id}")).about("address", allocation_id))
        .await
    {
        Ok(_) | Err(CloudError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The floating IPs on any port of `server_id`.
pub(crate) async fn addresses_of(
    c: &Client,
    region: &str,
    op: Operation,
    server_id: &str,
) -> Result<Vec<String>, CloudError> {
    let mut out = Vec::new();
    for port in ports_of(c, region, op, server_id).await? {
        let Some(port_id) = port["id"].as_str() else { continue };
        let v = c.send(call(op, region, Method::GET, "/floatingips").query("port_id", port_id)).await?;
        out.extend(
            v["floatingips"].as_array().into_iter().flatten().filter_map(|f| f["id"].as_str()).map(str::to_string),
        );
    }
    Ok(out)
}

pub(crate) async fn addresses_by_tag(
    c: &Client,
    region: &str,
    key: &str,
    value: &str,
) -> Result<Vec<AddressInfo>, CloudError> {
    let op = Operation::AddressesByTag;
    let project = c.session(op).await?.project_id.clone();
    let v = c
        .send(
            call(op, region, Method::GET, "/floatingips")
                .query("tags", format!("{key}={value}"))
                .query("project_id", project),
        )
        .await?;
    let mut out = Vec::new();
    for fip in v["floatingips"].as_array().into_iter().flatten() {
        if tags_from_neutron(&fip["tags"]).get(key) == Some(value) {
            out.push(address_info(c, region, op, fip).await?);
        }
    }
    Ok(out)
}

/// The project's first network that is not external (where servers get their fixed address).
pub(crate) async fn default_network(c: &Client, region: &str, op: Operation) -> Result<Option<String>, CloudError> {
    let v = c.send(call(op, region, Method::GET, "/networks").query("router:external", "false")).await?;
    Ok(v["networks"].as_array().and_then(|n| n.first()).and_then(|n| n["id"].as_str()).map(str::to_string))
}
