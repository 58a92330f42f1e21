//! The fake Glance (images are read-only: they are seeded or added by tests).

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::{glance_err, ok, Reply, Req, State};

fn visible(i: &Value, project: &str) -> bool {
    i["visibility"] == "public" || i["visibility"] == "community" || i["owner"] == project
}

pub(crate) fn handle(s: &mut State, r: &Req) -> Reply {
    let segs: Vec<&str> = r.segs.iter().map(String::as_str).collect();
    match (&r.method, segs.as_slice()) {
        (&Method::GET, ["images"]) => {
            let mut list: Vec<Value> = s
                .images
                .iter()
                .filter(|i| visible(i, &r.project))
                .filter(|i| r.q("name").is_none_or(|n| i["name"] == n))
                .filter(|i| r.q("owner").is_none_or(|o| i["owner"] == o))
                .filter(|i| r.q("status").is_none_or(|st| i["status"] == st))
                .filter(|i| r.q("visibility").is_none_or(|v| v == "all" || i["visibility"] == v))
                .filter(|i| r.q("id").is_none_or(|id| i["id"] == id))
                .cloned()
                .collect();
            // sort=created_at:desc (the default of Glance is created_at:desc too).
            let asc = r.q("sort").is_some_and(|s| s.contains(":asc")) || r.q("sort_dir") == Some("asc");
            list.sort_by(|a, b| {
                a["created_at"].as_str().cmp(&b["created_at"].as_str()).then(a["id"].as_str().cmp(&b["id"].as_str()))
            });
            if !asc {
                list.reverse();
            }
            if let Some(m) = r.q("marker") {
                match list.iter().position(|i| i["id"] == m) {
                    Some(p) => list = list.split_off(p + 1),
                    None => return glance_err(StatusCode::BAD_REQUEST, format!("marker {m} could not be found")),
                }
            }
            let limit = r.q("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(25);
            let more = list.len() > limit;
            list.truncate(limit);
            let mut out = json!({"images": list, "first": "/v2/images", "schema": "/v2/schemas/images"});
            if more {
                if let Some(last) = list.last().and_then(|i| i["id"].as_str()) {
                    out["next"] = json!(format!("/v2/images?marker={last}&limit={limit}"));
                }
            }
            ok(out)
        }
        (&Method::GET, ["images", id]) => match s.images.iter().find(|i| i["id"] == *id && visible(i, &r.project)) {
            Some(i) => ok(i.clone()),
            None => glance_err(StatusCode::NOT_FOUND, format!("No image found with ID {id}")),
        },
        (&Method::GET, ["schemas", "image"]) => {
            ok(json!({"name": "image", "properties": {}, "additionalProperties": {"type": "string"}}))
        }
        _ => glance_err(StatusCode::NOT_FOUND, "The resource could not be found."),
    }
}
