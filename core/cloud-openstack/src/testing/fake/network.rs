//! The fake Neutron.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::{empty, neutron_err, new_id, now_text, ok, with, Reply, Req, State};

/// Neutron's list filters: every query key but the paging and field keys must equal the
/// object's field (several values of one key: any of them); `tags` needs all the given tags.
fn matches(obj: &Value, r: &Req) -> bool {
    let mut keys: Vec<&str> = r.query.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().all(|k| {
        let values: Vec<&str> = r.query.iter().filter(|(x, _)| x == k).map(|(_, v)| v.as_str()).collect();
        match k {
            "limit" | "marker" | "fields" | "sort_key" | "sort_dir" | "page_reverse" => true,
            "tags" => values
                .iter()
                .flat_map(|v| v.split(','))
                .all(|t| obj["tags"].as_array().into_iter().flatten().any(|x| x == t)),
            "tags-any" => values
                .iter()
                .flat_map(|v| v.split(','))
                .any(|t| obj["tags"].as_array().into_iter().flatten().any(|x| x == t)),
            _ => values.iter().any(|v| match &obj[k] {
                Value::String(s) => s == v,
                Value::Bool(b) => b.to_string() == *v,
                Value::Number(n) => n.to_string() == *v,
                Value::Null => v.is_empty(),
                _ => false,
            }),
        }
    })
}

fn visible(obj: &Value, project: &str) -> bool {
    obj["project_id"] == project || obj["shared"] == true || obj["router:external"] == true
}

fn list(items: &[Value], r: &Req, key: &str) -> Reply {
    let out: Vec<Value> = items.iter().filter(|o| visible(o, &r.project) && matches(o, r)).cloned().collect();
    ok(json!({key: out}))
}

pub(crate) fn ensure_default_group(s: &mut State, project: &str) {
    if s.groups.iter().any(|g| g["project_id"] == project && g["name"] == "default") {
        return;
    }
    let id = new_id();
    let rule = |ethertype: &str, direction: &str, remote_group: Option<&str>| {
        json!({"id": new_id(), "security_group_id": id, "direction": direction, "ethertype": ethertype, "protocol": null,
               "port_range_min": null, "port_range_max": null, "remote_ip_prefix": null, "remote_group_id": remote_group,
               "project_id": project, "tenant_id": project, "description": "", "created_at": now_text()})
    };
    let rules = vec![
        rule("IPv4", "egress", None),
        rule("IPv6", "egress", None),
        rule("IPv4", "ingress", Some(&id)),
        rule("IPv6", "ingress", Some(&id)),
    ];
    s.groups.push(json!({"id": id, "name": "default", "description": "Default security group", "project_id": project,
                         "tenant_id": project, "security_group_rules": rules, "tags": [], "stateful": true,
                         "created_at": now_text(), "updated_at": now_text(), "revision_number": 1}));
}

/// A group of the project by name or id.
pub(crate) fn find_group(s: &State, project: &str, name_or_id: &str) -> Option<Value> {
    s.groups.iter().find(|g| g["project_id"] == project && (g["id"] == name_or_id || g["name"] == name_or_id)).cloned()
}

/// A port for a server on `network`, with the next fixed address; returns that address.
pub(crate) fn make_port(s: &mut State, project: &str, network: &str, device: &str, groups: &[String]) -> String {
    let id = new_id();
    let subnet = s.subnets.iter().find(|x| x["network_id"] == network).cloned().unwrap_or(Value::Null);
    let cidr = subnet["cidr"].as_str().unwrap_or("10.0.0.0/24");
    let prefix: Vec<&str> = cidr.split('/').next().unwrap_or("10.0.0.0").split('.').take(3).collect();
    let ip = if s.opts.fixed_addresses.is_empty() {
        format!("{}.{}", prefix.join("."), s.next_fixed)
    } else {
        let n = usize::from(s.next_fixed.saturating_sub(10)) % s.opts.fixed_addresses.len();
        s.opts.fixed_addresses[n].clone()
    };
    s.next_fixed = s.next_fixed.wrapping_add(1).max(10);
    let n = s.ports.len();
    s.ports.push(json!({
        "id": id, "name": "", "network_id": network, "device_id": device, "device_owner": "compute:nova",
        "mac_address": format!("fa:16:3e:00:{:02x}:{:02x}", (n >> 8) & 0xff, n & 0xff), "status": "ACTIVE", "admin_state_up": true,
        "fixed_ips": [{"subnet_id": subnet["id"], "ip_address": ip}], "security_groups": groups, "project_id": project,
        "tenant_id": project, "tags": [], "binding:vnic_type": "normal", "created_at": now_text(),
    }));
    ip
}

fn tags_ok(tags: &Value) -> bool {
    tags.as_array().is_some_and(|l| {
        l.iter().all(|t| t.as_str().is_some_and(|t| !t.is_empty() && t.len() <= 255 && !t.contains(',')))
    })
}

fn find_mut<'a>(items: &'a mut [Value], id: &str, project: &str) -> Option<&'a mut Value> {
    items.iter_mut().find(|o| o["id"] == id && o["project_id"] == project)
}

pub(crate) fn handle(s: &mut State, r: &Req) -> Reply {
    let segs: Vec<&str> = r.segs.iter().map(String::as_str).collect();
    let not_found = |kind: &str, id: &str| {
        neutron_err(StatusCode::NOT_FOUND, &format!("{kind}NotFound"), format!("{kind} {id} could not be found."))
    };
    match (&r.method, segs.as_slice()) {
        (&Method::GET, ["extensions"]) => {
            let ext = |alias: &str, name: &str| json!({"alias": alias, "name": name, "description": name, "updated": "2020-01-01T00:00:00Z", "links": []});
            ok(json!({"extensions": [
                ext("security-group", "security-group"), ext("external-net", "Neutron external network"),
                ext("router", "Neutron L3 Router"), ext("standard-attr-tag", "Tag support for resources"),
                ext("binding", "Port Binding"), ext("quotas", "Quota management support"),
            ]}))
        }
        (&Method::GET, ["networks"]) => list(&s.networks, r, "networks"),
        (&Method::GET, ["networks", id]) => {
            match s.networks.iter().find(|n| n["id"] == *id && visible(n, &r.project)) {
                Some(n) => ok(json!({"network": n})),
                None => not_found("Network", id),
            }
        }
        (&Method::GET, ["subnets"]) => list(
            &s.subnets
                .iter()
                .map(|x| {
                    let mut x = x.clone();
                    x["shared"] = json!(true);
                    x
                })
                .collect::<Vec<_>>(),
            r,
            "subnets",
        ),
        (&Method::GET, ["subnets", id]) => match s.subnets.iter().find(|n| n["id"] == *id) {
            Some(n) => ok(json!({"subnet": n})),
            None => not_found("Subnet", id),
        },
        (&Method::GET, ["ports"]) => list(&s.ports, r, "ports"),
        (&Method::GET, ["ports", id]) => {
            match s.ports.iter().find(|p| p["id"] == *id && p["project_id"] == r.project.as_str()) {
                Some(p) => ok(json!({"port": p})),
                None => not_found("Port", id),
            }
        }
        (&Method::GET, ["security-groups"]) => {
            ensure_default_group(s, &r.project);
            list(&s.groups, r, "security_groups")
        }
        (&Method::GET, ["security-groups", id]) => {
            ensure_default_group(s, &r.project);
            match s.groups.iter().find(|g| g["id"] == *id && g["project_id"] == r.project.as_str()) {
                Some(g) => ok(json!({"security_group": g})),
                None => not_found("SecurityGroup", id),
            }
        }
        (&Method::POST, ["security-groups"]) => {
            let b = &r.body["security_group"];
            let Some(name) = b["name"].as_str() else {
                return neutron_err(
                    StatusCode::BAD_REQUEST,
                    "HTTPBadRequest",
                    "Failed to parse request. Required attribute 'name' not specified",
                );
            };
            if name == "default" {
                return neutron_err(
                    StatusCode::CONFLICT,
                    "SecurityGroupDefaultAlreadyExists",
                    "Default security group already exists.",
                );
            }
            ensure_default_group(s, &r.project);
            let id = new_id();
            let rule = |ethertype: &str| {
                json!({"id": new_id(), "security_group_id": id, "direction": "egress", "ethertype": ethertype, "protocol": null,
                       "port_range_min": null, "port_range_max": null, "remote_ip_prefix": null, "remote_group_id": null,
                       "project_id": r.project, "tenant_id": r.project, "description": "", "created_at": now_text()})
            };
            let g = json!({"id": id, "name": name, "description": b["description"].as_str().unwrap_or(""), "project_id": r.project,
                           "tenant_id": r.project, "security_group_rules": [rule("IPv4"), rule("IPv6")], "tags": [], "stateful": true,
                           "created_at": now_text(), "updated_at": now_text(), "revision_number": 1});
            s.groups.push(g.clone());
            with(StatusCode::CREATED, json!({"security_group": g}))
        }
        (&Method::DELETE, ["security-groups", id]) => {
            let in_use = s.ports.iter().any(|p| p["security_groups"].as_array().into_iter().flatten().any(|g| g == id));
            let Some(pos) = s.groups.iter().position(|g| g["id"] == *id && g["project_id"] == r.project.as_str())
            else {
                return not_found("SecurityGroup", id);
            };
            if in_use {
                return neutron_err(StatusCode::CONFLICT, "SecurityGroupInUse", format!("Security Group {id} in use."));
            }
            s.groups.remove(pos);
            empty(StatusCode::NO_CONTENT)
        }
        (&Method::PUT, [kind @ ("security-groups" | "floatingips"), id, "tags"]) => {
            let tags = &r.body["tags"];
            if !tags_ok(tags) {
                return neutron_err(
                    StatusCode::BAD_REQUEST,
                    "InvalidInput",
                    "Invalid input for operation: tags must be strings of at most 255 characters without commas.",
                );
            }
            let items = if *kind == "security-groups" { &mut s.groups } else { &mut s.fips };
            match find_mut(items, id, &r.project) {
                Some(o) => {
                    o["tags"] = tags.clone();
                    ok(json!({"tags": tags}))
                }
                None => not_found(if *kind == "security-groups" { "SecurityGroup" } else { "FloatingIP" }, id),
            }
        }
        (&Method::GET, ["security-group-rules"]) => {
            let rules: Vec<Value> = s
                .groups
                .iter()
                .flat_map(|g| g["security_group_rules"].as_array().cloned().unwrap_or_default())
                .collect();
            list(&rules, r, "security_group_rules")
        }
        (&Method::POST, ["security-group-rules"]) => add_rule(s, r),
        (&Method::DELETE, ["security-group-rules", id]) => {
            for g in s.groups.iter_mut().filter(|g| g["project_id"] == r.project.as_str()) {
                if let Some(list) = g["security_group_rules"].as_array_mut() {
                    if let Some(p) = list.iter().position(|x| x["id"] == *id) {
                        list.remove(p);
                        return empty(StatusCode::NO_CONTENT);
                    }
                }
            }
            not_found("SecurityGroupRule", id)
        }
        (&Method::GET, ["floatingips"]) => list(&s.fips, r, "floatingips"),
        (&Method::GET, ["floatingips", id]) => {
            match s.fips.iter().find(|f| f["id"] == *id && f["project_id"] == r.project.as_str()) {
                Some(f) => ok(json!({"floatingip": f})),
                None => not_found("FloatingIP", id),
            }
        }
        (&Method::POST, ["floatingips"]) => {
            let b = &r.body["floatingip"];
            let net = b["floating_network_id"].as_str().unwrap_or_default();
            if !s.networks.iter().any(|n| n["id"] == net && n["router:external"] == true) {
                return neutron_err(
                    StatusCode::NOT_FOUND,
                    "ExternalNetworkNotFound",
                    format!("External network {net} could not be found."),
                );
            }
            if s.next_floating == 255 {
                return neutron_err(
                    StatusCode::CONFLICT,
                    "IpAddressGenerationFailure",
                    "No more IP addresses available on network.",
                );
            }
            let addr = format!("{}.{}", s.opts.floating_prefix, s.next_floating);
            s.next_floating += 1;
            let f = json!({"id": new_id(), "floating_ip_address": addr, "floating_network_id": net, "port_id": null,
                           "fixed_ip_address": null, "router_id": null, "status": "DOWN", "project_id": r.project,
                           "tenant_id": r.project, "tags": [], "description": "", "created_at": now_text(), "revision_number": 0});
            s.fips.push(f.clone());
            if b["port_id"].is_string() {
                let id = f["id"].as_str().unwrap_or_default().to_string();
                return set_port(s, r, &id, &b["port_id"], StatusCode::CREATED);
            }
            with(StatusCode::CREATED, json!({"floatingip": f}))
        }
        (&Method::PUT, ["floatingips", id]) => {
            let port = r.body["floatingip"]["port_id"].clone();
            set_port(s, r, id, &port, StatusCode::OK)
        }
        (&Method::DELETE, ["floatingips", id]) => {
            let before = s.fips.len();
            s.fips.retain(|f| !(f["id"] == *id && f["project_id"] == r.project.as_str()));
            if s.fips.len() == before {
                not_found("FloatingIP", id)
            } else {
                empty(StatusCode::NO_CONTENT)
            }
        }
        _ => neutron_err(StatusCode::NOT_FOUND, "HTTPNotFound", "The resource could not be found."),
    }
}

fn set_port(s: &mut State, r: &Req, id: &str, port: &Value, status: StatusCode) -> Reply {
    let fixed = match port.as_str() {
        Some(p) => match s.ports.iter().find(|x| x["id"] == p && x["project_id"] == r.project.as_str()) {
            Some(x) => Some(x["fixed_ips"][0]["ip_address"].clone()),
            None => return neutron_err(StatusCode::NOT_FOUND, "PortNotFound", format!("Port {p} could not be found.")),
        },
        None => None,
    };
    let Some(f) = find_mut(&mut s.fips, id, &r.project) else {
        return neutron_err(
            StatusCode::NOT_FOUND,
            "FloatingIPNotFound",
            format!("Floating IP {id} could not be found"),
        );
    };
    f["port_id"] = port.clone();
    f["fixed_ip_address"] = fixed.clone().unwrap_or(Value::Null);
    f["status"] = json!(if fixed.is_some() { "ACTIVE" } else { "DOWN" });
    with(status, json!({"floatingip": f.clone()}))
}

fn add_rule(s: &mut State, r: &Req) -> Reply {
    let b = &r.body["security_group_rule"];
    let gid = b["security_group_id"].as_str().unwrap_or_default().to_string();
    let direction = b["direction"].as_str().unwrap_or_default();
    if !matches!(direction, "ingress" | "egress") {
        return neutron_err(StatusCode::BAD_REQUEST, "InvalidInput", "Invalid input for direction.");
    }
    let ethertype = b["ethertype"].as_str().unwrap_or("IPv4");
    let prefix = b["remote_ip_prefix"].clone();
    if let Some(p) = prefix.as_str() {
        let v6 = p.contains(':');
        if v6 != (ethertype == "IPv6") {
            return neutron_err(
                StatusCode::BAD_REQUEST,
                "InvalidInput",
                format!("Conflicting value ethertype {ethertype} for CIDR {p}"),
            );
        }
    }
    let rule = json!({"id": new_id(), "security_group_id": gid, "direction": direction, "ethertype": ethertype,
                      "protocol": b["protocol"], "port_range_min": b["port_range_min"], "port_range_max": b["port_range_max"],
                      "remote_ip_prefix": prefix, "remote_group_id": b["remote_group_id"], "project_id": r.project,
                      "tenant_id": r.project, "description": b["description"].as_str().unwrap_or(""), "created_at": now_text()});
    let Some(g) = find_mut(&mut s.groups, &gid, &r.project) else {
        return neutron_err(
            StatusCode::NOT_FOUND,
            "SecurityGroupNotFound",
            format!("Security group {gid} does not exist"),
        );
    };
    let same = |x: &Value| {
        [
            "direction",
            "ethertype",
            "protocol",
            "port_range_min",
            "port_range_max",
            "remote_ip_prefix",
            "remote_group_id",
        ]
        .iter()
        .all(|k| x[*k] == rule[*k])
    };
    if let Some(existing) = g["security_group_rules"].as_array().into_iter().flatten().find(|x| same(x)) {
        let id = existing["id"].as_str().unwrap_or_default().to_string();
        return neutron_err(
            StatusCode::CONFLICT,
            "SecurityGroupRuleExists",
            format!("Security group rule already exists. Rule id is {id}."),
        );
    }
    if let Some(list) = g["security_group_rules"].as_array_mut() {
        list.push(rule.clone());
    }
    with(StatusCode::CREATED, json!({"security_group_rule": rule}))
}
