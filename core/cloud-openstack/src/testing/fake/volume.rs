//! The fake Cinder (attachments are made through the fake Nova).

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::{empty, new_id, nova_err, now_text, ok, with, Change, Reply, Req, State};

fn view(v: &Value, r: &Req) -> Value {
    let mut out = v.clone();
    if let Some(o) = out.as_object_mut() {
        o.remove("project_id");
    }
    out["os-vol-tenant-attr:tenant_id"] = json!(r.project);
    out
}

pub(crate) fn handle(s: &mut State, r: &Req) -> Reply {
    let segs: Vec<&str> = r.segs.iter().map(String::as_str).collect();
    let mine = |v: &&Value| v["project_id"] == r.project.as_str();
    match (&r.method, segs.as_slice()) {
        (&Method::GET, ["volumes"]) | (&Method::GET, ["volumes", "detail"]) => {
            let detail = segs.len() == 2;
            let mut list: Vec<Value> =
                s.volumes
                    .iter()
                    .filter(mine)
                    .filter(|v| r.q("name").is_none_or(|n| v["name"] == n))
                    .filter(|v| r.q("status").is_none_or(|st| v["status"] == st))
                    .map(|v| {
                        if detail {
                            view(v, r)
                        } else {
                            json!({"id": v["id"], "name": v["name"], "links": v["links"]})
                        }
                    })
                    .collect();
            if let Some(m) = r.q("marker") {
                match list.iter().position(|v| v["id"] == m) {
                    Some(p) => list = list.split_off(p + 1),
                    None => return nova_err(StatusCode::BAD_REQUEST, format!("marker {m} not found")),
                }
            }
            if let Some(l) = r.q("limit").and_then(|l| l.parse::<usize>().ok()) {
                list.truncate(l);
            }
            ok(json!({"volumes": list}))
        }
        (&Method::GET, ["volumes", id]) => match s.volumes.iter().filter(mine).find(|v| v["id"] == *id) {
            Some(v) => ok(json!({"volume": view(v, r)})),
            None => nova_err(StatusCode::NOT_FOUND, format!("Volume {id} could not be found.")),
        },
        (&Method::POST, ["volumes"]) => create(s, r),
        (&Method::DELETE, ["volumes", id]) => {
            let Some(v) = s.volumes.iter_mut().find(|v| v["id"] == *id && v["project_id"] == r.project.as_str()) else {
                return nova_err(StatusCode::NOT_FOUND, format!("Volume {id} could not be found."));
            };
            if !matches!(v["status"].as_str(), Some("available" | "error")) {
                return nova_err(
                    StatusCode::BAD_REQUEST,
                    format!("Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer. (currently {})", v["status"].as_str().unwrap_or_default()),
                );
            }
            v["status"] = json!("deleting");
            s.later(Change::VolumeGone { id: id.to_string() });
            empty(StatusCode::ACCEPTED)
        }
        (&Method::GET, ["types"]) => ok(json!({"volume_types": s.volume_types})),
        (&Method::GET, ["types", id]) => match s.volume_types.iter().find(|t| t["id"] == *id || t["name"] == *id) {
            Some(t) => ok(json!({"volume_type": t})),
            None => nova_err(StatusCode::NOT_FOUND, format!("Volume type {id} could not be found.")),
        },
        (&Method::GET, ["os-availability-zone"]) => {
            ok(json!({"availabilityZoneInfo": [{"zoneName": s.opts.zone, "zoneState": {"available": true}}]}))
        }
        _ => nova_err(StatusCode::NOT_FOUND, "The resource could not be found."),
    }
}

fn create(s: &mut State, r: &Req) -> Reply {
    let b = &r.body["volume"];
    let Some(size) = b["size"].as_u64().filter(|n| *n >= 1) else {
        return nova_err(StatusCode::BAD_REQUEST, "Invalid input for field/attribute size. Value: None.");
    };
    if size > 1000 {
        return nova_err(StatusCode::PAYLOAD_TOO_LARGE, format!("VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested {size}G, quota is 1000G"));
    }
    let zone = b["availability_zone"].as_str().unwrap_or(&s.opts.zone).to_string();
    if zone != s.opts.zone {
        return nova_err(
            StatusCode::BAD_REQUEST,
            format!("Invalid input received: Availability zone '{zone}' is invalid."),
        );
    }
    let vtype = match b["volume_type"].as_str() {
        None => "__DEFAULT__".to_string(),
        Some(t) => match s.volume_types.iter().find(|x| x["name"] == t || x["id"] == t) {
            Some(x) => x["name"].as_str().unwrap_or_default().to_string(),
            None => return nova_err(StatusCode::NOT_FOUND, format!("Volume type with name {t} could not be found.")),
        },
    };
    if !(b["metadata"].is_null() || b["metadata"].as_object().is_some_and(|m| m.values().all(Value::is_string))) {
        return nova_err(StatusCode::BAD_REQUEST, "Invalid input for field/attribute metadata.");
    }
    let id = new_id();
    let v = json!({
        "id": id, "name": b["name"], "description": b["description"], "size": size, "status": "creating",
        "availability_zone": zone, "volume_type": vtype, "metadata": if b["metadata"].is_null() { json!({}) } else { b["metadata"].clone() },
        "attachments": [], "bootable": "false", "encrypted": false, "multiattach": false, "replication_status": null,
        "snapshot_id": null, "source_volid": null, "consistencygroup_id": null, "user_id": r.user, "project_id": r.project,
        "created_at": now_text(), "updated_at": null,
        "links": [{"rel": "self", "href": format!("{}/volume/v3/{}/volumes/{id}", s.base, r.project)}],
    });
    s.volumes.push(v.clone());
    s.later(Change::Volume { id, status: "available" });
    with(StatusCode::ACCEPTED, json!({"volume": view(&v, r)}))
}
