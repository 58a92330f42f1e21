//! Instances: what to launch, and what the cloud says about them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{CloudError, Tags};

/// Most instances one launch may ask for.
pub const MAX_INSTANCES_PER_LAUNCH: u32 = 100;

/// Most bytes of user data a launch may carry (the EC2 limit, before base64).
pub const MAX_USER_DATA_BYTES: usize = 16 * 1024;

/// What to launch. `count` instances are launched all or nothing, each tagged with `tags` and
/// named `name` (the `Name` tag).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSpec {
    /// The name every instance gets (its `Name` tag).
    pub name: String,
    /// The image to boot.
    pub image_id: String,
    /// The instance type, e.g. `t3.micro`.
    pub instance_type: String,
    /// The key pair whose public key goes on the machine.
    pub key_name: Option<String>,
    /// Security groups to put the instances in (none: the cloud's default group).
    pub security_group_ids: Vec<String>,
    /// How many instances (1 to [`MAX_INSTANCES_PER_LAUNCH`]).
    pub count: u32,
    /// Tags for the instances and their root volumes.
    pub tags: Tags,
    /// Where to launch (none: the cloud chooses).
    pub availability_zone: Option<String>,
    /// Cloud-init user data, as plain text (the provider encodes it). Never put secrets here:
    /// secrets reach a machine only through the core's SSH channel.
    pub user_data: Option<String>,
}

impl InstanceSpec {
    /// Checks what can be checked without asking the cloud.
    pub fn validate(&self) -> Result<(), CloudError> {
        let bad = |m: String| Err(CloudError::InvalidRequest(m));
        if self.count == 0 || self.count > MAX_INSTANCES_PER_LAUNCH {
            return bad(format!("launch between 1 and {MAX_INSTANCES_PER_LAUNCH} instances, not {}", self.count));
        }
        if self.image_id.trim().is_empty() {
            return bad("no image given".into());
        }
        if self.instance_type.trim().is_empty() {
            return bad("no instance type given".into());
        }
        if self.name.chars().count() > 255 {
            return bad("the instance name is longer than 255 characters".into());
        }
        if self.user_data.as_ref().is_some_and(|u| u.len() > MAX_USER_DATA_BYTES) {
            return bad(format!("user data is larger than {MAX_USER_DATA_BYTES} bytes"));
        }
        Ok(())
    }
}

/// User data is shown by size only: it is not meant to hold secrets, but it is not ours to log.
impl fmt::Debug for InstanceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstanceSpec")
            .field("name", &self.name)
            .field("image_id", &self.image_id)
            .field("instance_type", &self.instance_type)
            .field("key_name", &self.key_name)
            .field("security_group_ids", &self.security_group_ids)
            .field("count", &self.count)
            .field("tags", &self.tags)
            .field("availability_zone", &self.availability_zone)
            .field("user_data", &self.user_data.as_ref().map(|u| format!("<{} bytes>", u.len())))
            .finish()
    }
}

/// The power state of an instance, as the cloud reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    /// Starting up.
    Pending,
    /// Up.
    Running,
    /// Powering off.
    Stopping,
    /// Off (its volumes are kept).
    Stopped,
    /// Being terminated.
    ShuttingDown,
    /// Gone (it stays visible for a while).
    Terminated,
    /// Broken: it should be running but is not, and did not stop by itself (the local
    /// provider's VM crashed or was killed; OpenStack's `ERROR`). Powering it on again is the
    /// way out where the cloud allows it.
    Failed,
    /// A state this version of Wintermute does not know.
    Unknown,
}

impl InstanceState {
    /// The cloud's name for the state (`shutting-down` in EC2's spelling).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::ShuttingDown => "shutting-down",
            Self::Terminated => "terminated",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }

    /// Whether the instance is gone or going for good.
    pub fn is_gone(&self) -> bool {
        matches!(self, Self::ShuttingDown | Self::Terminated)
    }
}

impl FromStr for InstanceState {
    type Err = std::convert::Infallible;

    /// Accepts EC2's and OpenStack's spellings; anything else is [`InstanceState::Unknown`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "pending" | "build" => Self::Pending,
            "running" | "active" => Self::Running,
            "stopping" => Self::Stopping,
            "stopped" | "shutoff" => Self::Stopped,
            "shutting-down" | "shutting_down" => Self::ShuttingDown,
            "terminated" | "deleted" => Self::Terminated,
            "failed" | "error" => Self::Failed,
            _ => Self::Unknown,
        })
    }
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An instance as the cloud describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceInfo {
    /// The instance id, e.g. `i-0abc…`.
    pub id: String,
    /// Its power state.
    pub state: InstanceState,
    /// Its instance type.
    pub instance_type: Option<String>,
    /// The image it was launched from.
    pub image_id: Option<String>,
    /// Its public address, if it has one.
    pub public_ip: Option<String>,
    /// The TCP port its SSH server is reached on at `public_ip`, when it is not 22 (the local
    /// provider forwards a loopback port to each guest's port 22).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_port: Option<u16>,
    /// Its address inside the cloud network.
    pub private_ip: Option<String>,
    /// When it was (last) started.
    pub launch_time: Option<DateTime<Utc>>,
    /// Its tags.
    pub tags: Tags,
    /// Where it runs.
    pub availability_zone: Option<String>,
}

/// The answer to a start, stop or terminate, per instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStateChange {
    /// The instance.
    pub id: String,
    /// Its state before the request.
    pub previous: InstanceState,
    /// Its state right after the request (often a transition: `stopping`, `pending`…).
    pub current: InstanceState,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> InstanceSpec {
        InstanceSpec {
            name: "web".into(),
            image_id: "ami-1".into(),
            instance_type: "t3.micro".into(),
            key_name: None,
            security_group_ids: vec![],
            count: 1,
            tags: Tags::new(),
            availability_zone: None,
            user_data: Some("#!/bin/sh\necho private-ish".into()),
        }
    }

    #[test]
    fn debug_shows_user_data_size_only() {
        let out = format!("{:?}", spec());
        assert!(out.contains("<26 bytes>"), "{out}");
        assert!(!out.contains("private-ish"), "{out}");
    }

    #[test]
    fn validation() {
        assert!(spec().validate().is_ok());
        for bad in [
            InstanceSpec { count: 0, ..spec() },
            InstanceSpec { count: MAX_INSTANCES_PER_LAUNCH + 1, ..spec() },
            InstanceSpec { image_id: " ".into(), ..spec() },
            InstanceSpec { instance_type: String::new(), ..spec() },
            InstanceSpec { user_data: Some("x".repeat(MAX_USER_DATA_BYTES + 1)), ..spec() },
        ] {
            assert!(matches!(bad.validate(), Err(CloudError::InvalidRequest(_))), "{bad:?}");
        }
    }

    #[test]
    fn states_parse_and_serialize() {
        assert_eq!("shutting-down".parse::<InstanceState>().unwrap(), InstanceState::ShuttingDown);
        assert_eq!("SHUTOFF".parse::<InstanceState>().unwrap(), InstanceState::Stopped);
        assert_eq!("hibernating".parse::<InstanceState>().unwrap(), InstanceState::Unknown);
        assert_eq!("ERROR".parse::<InstanceState>().unwrap(), InstanceState::Failed);
        assert_eq!(InstanceState::Failed.as_str().parse::<InstanceState>().unwrap(), InstanceState::Failed);
        assert!(!InstanceState::Failed.is_gone());
        assert_eq!(serde_json::to_string(&InstanceState::ShuttingDown).unwrap(), r#""shutting_down""#);
        assert!(InstanceState::Terminated.is_gone());
        assert!(!InstanceState::Stopped.is_gone());
    }
}
