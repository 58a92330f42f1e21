//! The fake Nova.

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use serde_json::{json, Value};

use super::network::{ensure_default_group, find_group, make_port};
use super::{empty, new_id, nova_err, now_text, ok, with, Change, Reply, Req, State};

pub(crate) fn handle(s: &mut State, r: &Req) -> Reply {
    let segs: Vec<&str> = r.segs.iter().map(String::as_str).collect();
    match (&r.method, segs.as_slice()) {
        (&Method::GET, ["flavors"]) => ok(
            json!({"flavors": s.flavors.iter().map(|f| json!({"id": f["id"], "name": f["name"], "description": f["description"]})).collect::<Vec<_>>()}),
        ),
        (&Method::GET, ["flavors", "detail"]) => ok(json!({"flavors": s.flavors})),
        (&Method::GET, ["flavors", id]) => match s.flavors.iter().find(|f| f["id"] == *id) {
            Some(f) => ok(json!({"flavor": f})),
            None => nova_err(StatusCode::NOT_FOUND, format!("Flavor {id} could not be found.")),
        },
        (&Method::GET, ["flavors", id, "os-extra_specs"]) => match s.flavors.iter().find(|f| f["id"] == *id) {
            Some(_) => ok(json!({"extra_specs": {}})),
            None => nova_err(StatusCode::NOT_FOUND, format!("Flavor {id} could not be found.")),
        },
        (&Method::GET, ["limits"]) => {
            let used = s.servers.iter().filter(|v| v["tenant_id"] == r.project.as_str()).count();
            ok(json!({"limits": {"rate": [], "absolute": {
                "maxTotalInstances": s.opts.max_instances, "totalInstancesUsed": used,
                "maxTotalCores": 200, "totalCoresUsed": 0, "maxTotalRAMSize": 512000, "totalRAMUsed": 0,
                "maxServerMeta": 128, "maxTotalKeypairs": 100, "maxImageMeta": 128, "maxPersonality": 5,
                "maxPersonalitySize": 10240, "maxSecurityGroups": 10, "maxSecurityGroupRules": 20,
                "maxTotalFloatingIps": 10, "totalFloatingIpsUsed": 0, "totalSecurityGroupsUsed": 0,
                "maxServerGroups": 10, "maxServerGroupMembers": 10, "totalServerGroupsUsed": 0,
            }}}))
        }
        (&Method::GET, ["os-availability-zone"]) => ok(
            json!({"availabilityZoneInfo": [{"zoneName": s.opts.zone, "zoneState": {"available": true}, "hosts": null}]}),
        ),
        (&Method::GET, ["os-keypairs"]) => ok(json!({"keypairs": s
            .keypairs
            .iter()
            .filter(|(p, _)| *p == r.user)
            .map(|(_, k)| json!({"keypair": {"name": k["name"], "public_key": k["public_key"], "fingerprint": k["fingerprint"], "type": k["type"]}}))
            .collect::<Vec<_>>()})),
        (&Method::GET, ["os-keypairs", name]) => {
            match s.keypairs.iter().find(|(p, k)| *p == r.user && k["name"] == *name) {
                Some((_, k)) => ok(json!({"keypair": k})),
                None => nova_err(StatusCode::NOT_FOUND, format!("Keypair {name} not found for user {}", r.user)),
            }
        }
        (&Method::POST, ["os-keypairs"]) => import_key(s, r),
        (&Method::DELETE, ["os-keypairs", name]) => {
            let before = s.keypairs.len();
            s.keypairs.retain(|(p, k)| !(*p == r.user && k["name"] == *name));
            if s.keypairs.len() == before {
                nova_err(StatusCode::NOT_FOUND, format!("Keypair {name} not found for user {}", r.user))
            } else {
                empty(StatusCode::ACCEPTED)
            }
        }
        (&Method::POST, ["servers"]) => create(s, r),
        (&Method::GET, ["servers"]) => {
            let list = list(s, r);
            ok(
                json!({"servers": list.iter().map(|v| json!({"id": v["id"], "name": v["name"], "links": v["links"]})).collect::<Vec<_>>()}),
            )
        }
        (&Method::GET, ["servers", "detail"]) => ok(json!({"servers": list(s, r)})),
        (&Method::GET, ["servers", id]) => match server(s, r, id) {
            Some(v) => ok(json!({"server": view(s, r, &v)})),
            None => nova_err(StatusCode::NOT_FOUND, format!("Instance {id} could not be found.")),
        },
        (&Method::DELETE, ["servers", id]) => match server(s, r, id) {
            Some(_) => {
                set_task(s, id, "deleting");
                s.later(Change::ServerGone { id: id.to_string() });
                empty(StatusCode::NO_CONTENT)
            }
            None => nova_err(StatusCode::NOT_FOUND, format!("Instance {id} could not be found.")),
        },
        (&Method::POST, ["servers", id, "action"]) => action(s, r, id),
        (&Method::GET, ["servers", id, "os-security-groups"]) => match server(s, r, id) {
            Some(v) => {
                let groups: Vec<Value> = v["security_groups"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|g| s.groups.iter().find(|x| x["name"] == g["name"]).cloned())
                    .map(|g| json!({"id": g["id"], "name": g["name"], "description": g["description"], "tenant_id": g["project_id"], "rules": []}))
                    .collect();
                ok(json!({"security_groups": groups}))
            }
            None => nova_err(StatusCode::NOT_FOUND, format!("Instance {id} could not be found.")),
        },
        (&Method::GET, ["servers", id, "os-volume_attachments"]) => match server(s, r, id) {
            Some(_) => {
                let list: Vec<Value> = s
                    .volumes
                    .iter()
                    .flat_map(|v| v["attachments"].as_array().cloned().unwrap_or_default())
                    .filter(|a| a["server_id"] == *id)
                    .map(|a| attachment_view(&a))
                    .collect();
                ok(json!({"volumeAttachments": list}))
            }
            None => nova_err(StatusCode::NOT_FOUND, format!("Instance {id} could not be found.")),
        },
        (&Method::POST, ["servers", id, "os-volume_attachments"]) => attach(s, r, id),
        (&Method::DELETE, ["servers", id, "os-volume_attachments", vol]) => detach(s, r, id, vol),
        _ => nova_err(StatusCode::NOT_FOUND, "The resource could not be found."),
    }
}

fn attachment_view(a: &Value) -> Value {
    json!({"id": a["volume_id"], "volumeId": a["volume_id"], "serverId": a["server_id"], "device": a["device"],
           "tag": null, "delete_on_termination": false, "attachment_id": a["attachment_id"]})
}

fn import_key(s: &mut State, r: &Req) -> Reply {
    let k = &r.body["keypair"];
    let Some(name) = k["name"].as_str() else {
        return nova_err(StatusCode::BAD_REQUEST, "Invalid input: 'name' is a required property");
    };
    if name.is_empty() || name.len() > 255 {
        return nova_err(StatusCode::BAD_REQUEST, "Keypair name must be string and between 1 and 255 characters long");
    }
    if s.keypairs.iter().any(|(p, k)| *p == r.user && k["name"] == name) {
        return nova_err(StatusCode::CONFLICT, format!("Key pair '{name}' already exists."));
    }
    let public = k["public_key"].as_str().unwrap_or_default();
    let mut parts = public.split_whitespace();
    let (Some(kind), Some(data)) = (parts.next(), parts.next()) else {
        return nova_err(StatusCode::BAD_REQUEST, "Keypair data is invalid: failed to generate fingerprint");
    };
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(data) else {
        return nova_err(StatusCode::BAD_REQUEST, "Keypair data is invalid: failed to generate fingerprint");
    };
    if !kind.starts_with("ssh-") && !kind.starts_with("ecdsa-") {
        return nova_err(StatusCode::BAD_REQUEST, "Keypair data is invalid: failed to generate fingerprint");
    }
    // Nova's fingerprint is MD5; a digest of the key data serves the fake as well.
    let fingerprint = raw.iter().take(16).map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    let kp = json!({"name": name, "public_key": public, "fingerprint": fingerprint, "type": k["type"].as_str().unwrap_or("ssh"),
                    "user_id": r.user, "created_at": now_text(), "deleted": false, "id": s.keypairs.len() + 1});
    s.keypairs.push((r.user.clone(), kp.clone()));
    let mut out = kp;
    if let Some(o) = out.as_object_mut() {
        o.remove("created_at");
        o.remove("deleted");
        o.remove("id");
    }
    ok(json!({"keypair": out}))
}

fn server(s: &State, r: &Req, id: &str) -> Option<Value> {
    s.servers.iter().find(|v| v["id"] == id && v["tenant_id"] == r.project.as_str()).cloned()
}

fn set_task(s: &mut State, id: &str, task: &str) {
    if let Some(v) = s.servers.iter_mut().find(|v| v["id"] == id) {
        v["OS-EXT-STS:task_state"] = json!(task);
    }
}

/// A server as the asked microversion shows it: addresses from Neutron, the flavor embedded
/// from 2.47 on.
fn view(s: &State, r: &Req, v: &Value) -> Value {
    let mut out = v.clone();
    let id = v["id"].as_str().unwrap_or_default();
    let mut addresses = serde_json::Map::new();
    for p in s.ports.iter().filter(|p| p["device_id"] == id) {
        let net = s
            .networks
            .iter()
            .find(|n| n["id"] == p["network_id"])
            .and_then(|n| n["name"].as_str())
            .unwrap_or("private");
        let mac = p["mac_address"].clone();
        let list = addresses.entry(net.to_string()).or_insert_with(|| json!([]));
        for ip in p["fixed_ips"].as_array().into_iter().flatten() {
            if let Some(a) = list.as_array_mut() {
                a.push(json!({"addr": ip["ip_address"], "version": 4, "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": mac}));
            }
        }
        for f in s.fips.iter().filter(|f| f["port_id"] == p["id"]) {
            if let Some(a) = list.as_array_mut() {
                a.push(json!({"addr": f["floating_ip_address"], "version": 4, "OS-EXT-IPS:type": "floating", "OS-EXT-IPS-MAC:mac_addr": mac}));
            }
        }
    }
    out["addresses"] = Value::Object(addresses);
    let flavor_id = v["flavor"]["id"].as_str().unwrap_or_default();
    if r.micro >= (2, 47) {
        if let Some(f) = s.flavors.iter().find(|f| f["id"] == flavor_id) {
            out["flavor"] = json!({"original_name": f["name"], "vcpus": f["vcpus"], "ram": f["ram"], "disk": f["disk"],
                                   "ephemeral": 0, "swap": 0, "extra_specs": {}});
        }
    }
    out["os-extended-volumes:volumes_attached"] = json!(s
        .volumes
        .iter()
        .filter(|vol| vol["attachments"].as_array().into_iter().flatten().any(|a| a["server_id"] == id))
        .map(|vol| json!({"id": vol["id"], "delete_on_termination": false}))
        .collect::<Vec<_>>());
    if r.micro < (2, 26) {
        if let Some(o) = out.as_object_mut() {
            o.remove("tags");
        }
    }
    out
}

fn list(s: &State, r: &Req) -> Vec<Value> {
    let deleted = r.q("changes-since").is_some() || r.q("changes_since").is_some();
    let mut all: Vec<&Value> = s.servers.iter().collect();
    if deleted {
        all.extend(s.deleted_servers.iter());
    }
    let mut out: Vec<Value> = all
        .into_iter()
        .filter(|v| v["tenant_id"] == r.project.as_str())
        .filter(|v| r.q("name").is_none_or(|n| v["name"].as_str().is_some_and(|name| name.contains(n))))
        .filter(|v| r.q("status").is_none_or(|st| v["status"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(st))))
        .map(|v| view(s, r, v))
        .collect();
    if let Some(m) = r.q("marker") {
        match out.iter().position(|v| v["id"] == m) {
            Some(p) => out = out.split_off(p + 1),
            None => return Vec::new(),
        }
    }
    if let Some(l) = r.q("limit").and_then(|l| l.parse::<usize>().ok()) {
        out.truncate(l);
    }
    out
}

fn meta_key_ok(k: &str) -> bool {
    !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_alphanumeric() || "-_:. ".contains(c))
}

fn create(s: &mut State, r: &Req) -> Reply {
    let b = &r.body["server"];
    let bad = |m: String| nova_err(StatusCode::BAD_REQUEST, m);
    let Some(name) = b["name"].as_str().filter(|n| !n.trim().is_empty()) else {
        return bad("Invalid input: 'name' is a required property".into());
    };
    let image = b["imageRef"].as_str().unwrap_or_default();
    if !s.images.iter().any(|i| i["id"] == image && i["status"] == "active") {
        return bad(format!("Image {image} could not be found."));
    }
    let flavor_ref = b["flavorRef"].as_str().unwrap_or_default();
    let Some(flavor) = s.flavors.iter().find(|f| f["id"] == flavor_ref).cloned() else {
        return bad(format!("Flavor {flavor_ref} could not be found."));
    };
    if let Some(k) = b["key_name"].as_str() {
        if !s.keypairs.iter().any(|(p, kp)| *p == r.user && kp["name"] == k) {
            return bad("Invalid key_name provided.".into());
        }
    }
    let metadata = b["metadata"].clone();
    if let Some(m) = metadata.as_object() {
        for (k, v) in m {
            if !meta_key_ok(k) || v.as_str().is_none_or(|v| v.len() > 255) {
                return bad(format!("Invalid input for field/attribute metadata. Value: {k}"));
            }
        }
    } else if !metadata.is_null() {
        return bad("Invalid input for field/attribute metadata.".into());
    }
    if let Some(u) = b["user_data"].as_str() {
        if base64::engine::general_purpose::STANDARD.decode(u).is_err() {
            return bad("User data needs to be valid base 64.".into());
        }
    }
    if r.micro >= (2, 37) && b["networks"].is_null() {
        return bad("Invalid input: 'networks' is a required property".into());
    }
    let network = match &b["networks"] {
        Value::String(a) if a == "none" => None,
        Value::Array(list) if !list.is_empty() => {
            let n = &list[0];
            let id = n["uuid"].as_str().or_else(|| n["port"].as_str().and(None));
            match id {
                Some(id) => match s.networks.iter().find(|x| x["id"] == id) {
                    Some(net) => Some(net["id"].as_str().unwrap_or_default().to_string()),
                    None => return bad(format!("Network {id} could not be found.")),
                },
                None => private_network(s),
            }
        }
        _ => private_network(s),
    };
    ensure_default_group(s, &r.project);
    let mut groups = Vec::new();
    let asked: Vec<String> = match b["security_groups"].as_array() {
        Some(list) => list.iter().filter_map(|g| g["name"].as_str().map(str::to_string)).collect(),
        None => vec!["default".into()],
    };
    for g in &asked {
        match find_group(s, &r.project, g) {
            Some(found) => groups.push(found),
            None => return bad(format!("Security group {g} not found for project {}.", r.project)),
        }
    }
    let count = b["max_count"].as_u64().unwrap_or(1).max(b["min_count"].as_u64().unwrap_or(1));
    let used = s.servers.iter().filter(|v| v["tenant_id"] == r.project.as_str()).count() as u64;
    if used + count > u64::from(s.opts.max_instances) {
        return nova_err(
            StatusCode::FORBIDDEN,
            format!(
                "Quota exceeded for instances: Requested {count}, but already used {used} of {} instances",
                s.opts.max_instances
            ),
        );
    }
    let zone = b["availability_zone"].as_str().unwrap_or(&s.opts.zone).to_string();
    if zone != s.opts.zone {
        return bad(format!("The requested availability zone is not available: {zone}"));
    }
    let mut first = None;
    for _ in 0..count {
        let id = new_id();
        let link = format!("{}/compute/v2.1/servers/{id}", s.base);
        let group_names: Vec<Value> = groups.iter().map(|g| json!({"name": g["name"]})).collect();
        let server = json!({
            "id": id, "name": name, "status": "BUILD", "tenant_id": r.project, "user_id": r.user,
            "OS-EXT-STS:task_state": "scheduling", "OS-EXT-STS:vm_state": "building", "OS-EXT-STS:power_state": 0,
            "flavor": {"id": flavor["id"], "links": [{"rel": "bookmark", "href": format!("{}/compute/flavors/{}", s.base, flavor_ref)}]},
            "image": {"id": image, "links": [{"rel": "bookmark", "href": format!("{}/compute/images/{image}", s.base)}]},
            "key_name": b["key_name"], "metadata": if metadata.is_null() { json!({}) } else { metadata.clone() },
            "security_groups": group_names, "created": now_text(), "updated": now_text(),
            "OS-SRV-USG:launched_at": null, "OS-SRV-USG:terminated_at": null,
            "OS-EXT-AZ:availability_zone": zone, "hostId": "fakehost", "accessIPv4": "", "accessIPv6": "",
            "config_drive": "", "progress": 0, "OS-DCF:diskConfig": "MANUAL", "locked": false, "tags": [],
            "description": null, "host_status": "UP", "trusted_image_certificates": null, "locked_reason": null,
            "links": [{"rel": "self", "href": link}, {"rel": "bookmark", "href": link}],
        });
        s.servers.push(server);
        let mut address = None;
        if let Some(net) = &network {
            let group_ids: Vec<String> = groups.iter().filter_map(|g| g["id"].as_str().map(str::to_string)).collect();
            address = Some(make_port(s, &r.project, net, &id, &group_ids));
        }
        if s.opts.backend.is_some() {
            let public_key = b["key_name"].as_str().and_then(|k| {
                s.keypairs
                    .iter()
                    .find(|(u, kp)| *u == r.user && kp["name"] == k)
                    .and_then(|(_, kp)| kp["public_key"].as_str())
            });
            let job = super::BackendJob::Create {
                id: id.clone(),
                address: address.unwrap_or_default(),
                public_key: public_key.map(str::to_string),
            };
            s.jobs.push(job);
        } else {
            s.later(Change::Server { id: id.clone(), status: "ACTIVE" });
        }
        first.get_or_insert(id);
    }
    let id = first.unwrap_or_default();
    let link = format!("{}/compute/v2.1/servers/{id}", s.base);
    with(
        StatusCode::ACCEPTED,
        json!({"server": {"id": id, "links": [{"rel": "self", "href": link}], "OS-DCF:diskConfig": "MANUAL",
                          "security_groups": groups.iter().map(|g| json!({"name": g["name"]})).collect::<Vec<_>>(),
                          "adminPass": "fake-admin-pass"}}),
    )
}

fn private_network(s: &State) -> Option<String> {
    s.networks.iter().find(|n| n["router:external"] == false).and_then(|n| n["id"].as_str()).map(str::to_string)
}

fn action(s: &mut State, r: &Req, id: &str) -> Reply {
    let Some(v) = server(s, r, id) else {
        return nova_err(StatusCode::NOT_FOUND, format!("Instance {id} could not be found."));
    };
    let status = v["status"].as_str().unwrap_or_default().to_string();
    let busy = !v["OS-EXT-STS:task_state"].is_null();
    let conflict = |what: &str| {
        nova_err(
            StatusCode::CONFLICT,
            format!("Cannot '{what}' instance {id} while it is in vm_state {}", status.to_ascii_lowercase()),
        )
    };
    let key = r.body.as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_default();
    match key.as_str() {
        "os-stop" => {
            if status != "ACTIVE" && status != "ERROR" || busy {
                return conflict("stop");
            }
            set_task(s, id, "powering-off");
            s.later(Change::Server { id: id.to_string(), status: "SHUTOFF" });
        }
        "os-start" => {
            if status != "SHUTOFF" || busy {
                return conflict("start");
            }
            set_task(s, id, "powering-on");
            s.later(Change::Server { id: id.to_string(), status: "ACTIVE" });
        }
        "reboot" => {
            if status != "ACTIVE" || busy {
                return conflict("reboot");
            }
            if let Some(x) = s.servers.iter_mut().find(|x| x["id"] == id) {
                x["status"] = json!("REBOOT");
                x["OS-EXT-STS:task_state"] = json!("rebooting");
            }
            s.later(Change::Server { id: id.to_string(), status: "ACTIVE" });
        }
        other => return nova_err(StatusCode::BAD_REQUEST, format!("There is no such action: {other}")),
    }
    empty(StatusCode::ACCEPTED)
}

fn attach(s: &mut State, r: &Req, id: &str) -> Reply {
    if server(s, r, id).is_none() {
        return nova_err(StatusCode::NOT_FOUND, format!("Instance {id} could not be found."));
    }
    let a = &r.body["volumeAttachment"];
    let vol = a["volumeId"].as_str().unwrap_or_default().to_string();
    let Some(v) = s.volumes.iter().find(|v| v["id"] == vol.as_str() && v["project_id"] == r.project.as_str()).cloned()
    else {
        return nova_err(StatusCode::NOT_FOUND, format!("Volume {vol} could not be found."));
    };
    if v["status"] != "available" || s.busy(&vol) {
        return nova_err(
            StatusCode::BAD_REQUEST,
            format!(
                "Invalid volume: volume {vol} status must be 'available'. Currently in '{}'",
                v["status"].as_str().unwrap_or_default()
            ),
        );
    }
    let taken: Vec<String> = s
        .volumes
        .iter()
        .flat_map(|v| v["attachments"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["server_id"] == id)
        .filter_map(|a| a["device"].as_str().map(str::to_string))
        .collect();
    // Like libvirt, the next free virtio name, whatever was asked.
    let device =
        (b'b'..=b'z').map(|c| format!("/dev/vd{}", c as char)).find(|d| !taken.contains(d)).unwrap_or_default();
    let att = json!({"server_id": id, "attachment_id": new_id(), "volume_id": vol, "device": device,
                     "host_name": "fakehost", "attached_at": now_text(), "id": vol});
    if let Some(x) = s.volumes.iter_mut().find(|x| x["id"] == vol.as_str()) {
        x["status"] = json!("attaching");
        if let Some(list) = x["attachments"].as_array_mut() {
            list.push(att.clone());
        }
    }
    s.later(Change::Volume { id: vol.clone(), status: "in-use" });
    ok(json!({"volumeAttachment": attachment_view(&att)}))
}

fn detach(s: &mut State, r: &Req, id: &str, vol: &str) -> Reply {
    if server(s, r, id).is_none() {
        return nova_err(StatusCode::NOT_FOUND, format!("Instance {id} could not be found."));
    }
    let Some(x) = s.volumes.iter_mut().find(|x| x["id"] == vol && x["project_id"] == r.project.as_str()) else {
        return nova_err(StatusCode::NOT_FOUND, format!("Volume {vol} could not be found."));
    };
    let attached = x["attachments"].as_array().into_iter().flatten().any(|a| a["server_id"] == id);
    if !attached {
        return nova_err(StatusCode::NOT_FOUND, format!("volume_id not found: {vol}"));
    }
    if x["status"] != "in-use" {
        return nova_err(
            StatusCode::BAD_REQUEST,
            format!("Invalid volume: volume {vol} is {}", x["status"].as_str().unwrap_or_default()),
        );
    }
    x["status"] = json!("detaching");
    if let Some(list) = x["attachments"].as_array_mut() {
        list.retain(|a| a["server_id"] != id);
    }
    s.later(Change::Volume { id: vol.to_string(), status: "available" });
    empty(StatusCode::ACCEPTED)
}
