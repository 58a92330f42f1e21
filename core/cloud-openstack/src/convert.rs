//! From OpenStack's JSON to the provider trait's types.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};
use wintermute_cloud::{InstanceInfo, InstanceState, Tags};

use crate::AddressMode;

/// Nova metadata (string keys and values) as tags.
pub(crate) fn tags_of(metadata: &Value) -> Tags {
    metadata
        .as_object()
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect())
        .unwrap_or_default()
}

/// Tags as Nova or Cinder metadata.
pub(crate) fn metadata_of(tags: &Tags) -> Value {
    Value::Object(tags.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect::<Map<_, _>>())
}

/// Tags as Neutron tag strings (`key=value`): Neutron tags are plain strings.
pub(crate) fn neutron_tags_of(tags: &Tags) -> Vec<String> {
    tags.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Neutron tag strings back to tags (strings without `=` are ignored).
pub(crate) fn tags_from_neutron(tags: &Value) -> Tags {
    tags.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|t| t.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Nova writes times with or without a zone (`2026-11-28T12:00:00.000000`, `…Z`).
pub(crate) fn time(v: &Value) -> Option<DateTime<Utc>> {
    let s = v.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|n| n.and_utc()))
}

/// The power state from Nova's status and task state.
pub(crate) fn server_state(server: &Value) -> InstanceState {
    let task = server["OS-EXT-STS:task_state"].as_str().unwrap_or_default();
    let status = server["status"].as_str().unwrap_or_default().to_ascii_uppercase();
    match task {
        "deleting" => return InstanceState::ShuttingDown,
        "powering-off" => return InstanceState::Stopping,
        "powering-on" => return InstanceState::Pending,
        _ => {}
    }
    match status.as_str() {
        "BUILD" => InstanceState::Pending,
        "ACTIVE" | "REBOOT" | "HARD_REBOOT" | "PASSWORD" | "RESIZE" | "VERIFY_RESIZE" | "MIGRATING" => {
            InstanceState::Running
        }
        "SHUTOFF" | "SUSPENDED" | "PAUSED" | "SHELVED" | "SHELVED_OFFLOADED" => InstanceState::Stopped,
        "DELETED" | "SOFT_DELETED" => InstanceState::Terminated,
        "ERROR" => InstanceState::Failed,
        _ => InstanceState::Unknown,
    }
}

/// A Nova server as an [`InstanceInfo`].
pub(crate) fn instance(server: &Value, mode: AddressMode) -> InstanceInfo {
    let mut fixed = None;
    let mut floating = None;
    for addrs in server["addresses"].as_object().into_iter().flat_map(|m| m.values()) {
        for a in addrs.as_array().into_iter().flatten() {
            if a["version"].as_u64() == Some(6) {
                continue;
            }
            let addr = a["addr"].as_str().map(str::to_string);
            match a["OS-EXT-IPS:type"].as_str() {
                Some("floating") => floating = floating.or(addr),
                _ => fixed = fixed.or(addr),
            }
        }
    }
    let public_ip = match mode {
        AddressMode::Floating => floating,
        AddressMode::Fixed => fixed.clone(),
    };
    let flavor = &server["flavor"];
    let image_id = server["image"]["id"].as_str().filter(|s| !s.is_empty()).map(str::to_string);
    InstanceInfo {
        id: server["id"].as_str().unwrap_or_default().to_string(),
        state: server_state(server),
        instance_type: flavor["original_name"].as_str().or_else(|| flavor["id"].as_str()).map(str::to_string),
        image_id,
        public_ip,
        ssh_port: None,
        private_ip: fixed,
        launch_time: time(&server["OS-SRV-USG:launched_at"]).or_else(|| time(&server["created"])),
        tags: tags_of(&server["metadata"]),
        availability_zone: server["OS-EXT-AZ:availability_zone"].as_str().filter(|s| !s.is_empty()).map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn servers_read_well() {
        let s = json!({
            "id": "abc", "status": "ACTIVE", "OS-EXT-STS:task_state": null,
            "flavor": {"original_name": "m1.small", "vcpus": 1},
            "image": {"id": "img-1"},
            "addresses": {"private": [
                {"addr": "fd00::5", "version": 6, "OS-EXT-IPS:type": "fixed"},
                {"addr": "10.0.0.5", "version": 4, "OS-EXT-IPS:type": "fixed"},
                {"addr": "172.24.4.9", "version": 4, "OS-EXT-IPS:type": "floating"}
            ]},
            "OS-SRV-USG:launched_at": "2026-11-28T12:00:00.000000",
            "metadata": {"Name": "web", "wintermute:managed": "true"},
            "OS-EXT-AZ:availability_zone": "nova"
        });
        let i = instance(&s, AddressMode::Floating);
        assert_eq!(i.state, InstanceState::Running);
        assert_eq!(i.public_ip.as_deref(), Some("172.24.4.9"));
        assert_eq!(i.private_ip.as_deref(), Some("10.0.0.5"));
        assert_eq!(i.instance_type.as_deref(), Some("m1.small"));
        assert_eq!(i.tags.name(), Some("web"));
        assert!(i.launch_time.is_some());
        assert_eq!(instance(&s, AddressMode::Fixed).public_ip.as_deref(), Some("10.0.0.5"));
        let stopping = json!({"status": "ACTIVE", "OS-EXT-STS:task_state": "powering-off"});
        assert_eq!(server_state(&stopping), InstanceState::Stopping);
        assert_eq!(server_state(&json!({"status": "SHUTOFF"})), InstanceState::Stopped);
        assert_eq!(server_state(&json!({"status": "DELETED"})), InstanceState::Terminated);
        assert_eq!(server_state(&json!({"status": "ERROR"})), InstanceState::Failed);
        let tags = Tags::new().with("a", "1").with("b", "x=y");
        assert_eq!(tags_from_neutron(&json!(neutron_tags_of(&tags))), tags);
    }
}
