//! Block storage volumes (EBS on AWS).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{CloudError, Tags};

/// The kinds of volume the manual offers (7.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeType {
    /// "General Purpose SSD": `gp3` (existing `gp2` volumes read as this too).
    GeneralPurpose,
    /// "Provisioned IOPS SSD": `io2` (existing `io1` volumes read as this too); needs `iops`.
    ProvisionedIops,
    /// "Magnetic": `standard`.
    Magnetic,
}

impl VolumeType {
    /// Every type, in the manual's order.
    pub const ALL: [VolumeType; 3] = [Self::GeneralPurpose, Self::ProvisionedIops, Self::Magnetic];

    /// The manual's name for the type.
    pub fn display_name(&self) -> &'static str {
        match self {
            Self::GeneralPurpose => "General Purpose SSD",
            Self::ProvisionedIops => "Provisioned IOPS SSD",
            Self::Magnetic => "Magnetic",
        }
    }

    /// The EBS type new volumes of this kind get.
    pub fn ebs_name(&self) -> &'static str {
        match self {
            Self::GeneralPurpose => "gp3",
            Self::ProvisionedIops => "io2",
            Self::Magnetic => "standard",
        }
    }

    /// Reads an EBS type; `None` for the ones Wintermute does not offer (`st1`, `sc1`…).
    pub fn from_ebs(name: &str) -> Option<Self> {
        match name {
            "gp3" | "gp2" => Some(Self::GeneralPurpose),
            "io2" | "io1" => Some(Self::ProvisionedIops),
            "standard" => Some(Self::Magnetic),
            _ => None,
        }
    }
}

impl fmt::Display for VolumeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

impl FromStr for VolumeType {
    type Err = CloudError;

    /// Accepts the manual's names (any case), the EBS names and the snake_case names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|t| t.display_name().eq_ignore_ascii_case(s))
            .or_else(|| Self::from_ebs(s))
            .or(match s {
                "general_purpose" => Some(Self::GeneralPurpose),
                "provisioned_iops" => Some(Self::ProvisionedIops),
                "magnetic" => Some(Self::Magnetic),
                _ => None,
            })
            .ok_or_else(|| {
                CloudError::InvalidRequest(format!(
                    "unknown volume type `{s}` (General Purpose SSD, Provisioned IOPS SSD or Magnetic)"
                ))
            })
    }
}

/// A new volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    /// Size in GiB.
    pub size_gb: u32,
    /// Kind of volume.
    pub volume_type: VolumeType,
    /// I/O operations per second: required for Provisioned IOPS SSD, optional for General
    /// Purpose SSD, refused for Magnetic.
    pub iops: Option<u32>,
    /// The zone it lives in; it can only be attached to instances in the same zone.
    pub availability_zone: String,
    /// Its tags.
    pub tags: Tags,
}

impl VolumeSpec {
    /// Checks what can be checked without asking the cloud (the cloud checks the size and IOPS
    /// ranges, which change over time).
    pub fn validate(&self) -> Result<(), CloudError> {
        let bad = |m: &str| Err(CloudError::InvalidRequest(m.to_string()));
        if self.size_gb == 0 {
            return bad("a volume needs a size of at least 1 GiB");
        }
        if self.availability_zone.trim().is_empty() {
            return bad("a volume needs an availability zone");
        }
        match (self.volume_type, self.iops) {
            (_, Some(0)) => bad("IOPS must be at least 1"),
            (VolumeType::ProvisionedIops, None) => bad("a Provisioned IOPS SSD volume needs its IOPS"),
            (VolumeType::Magnetic, Some(_)) => bad("a Magnetic volume has no IOPS setting"),
            _ => Ok(()),
        }
    }
}

/// The life cycle of a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeState {
    /// Being made.
    Creating,
    /// Ready and not attached.
    Available,
    /// Attached to an instance.
    InUse,
    /// Being deleted.
    Deleting,
    /// Gone.
    Deleted,
    /// Broken.
    Error,
    /// A state this version of Wintermute does not know.
    Unknown,
}

impl FromStr for VolumeState {
    type Err = std::convert::Infallible;

    /// Accepts EC2's and OpenStack's spellings; anything else is [`VolumeState::Unknown`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "creating" => Self::Creating,
            "available" => Self::Available,
            "in-use" | "in_use" => Self::InUse,
            "deleting" => Self::Deleting,
            "deleted" => Self::Deleted,
            "error" => Self::Error,
            _ => Self::Unknown,
        })
    }
}

/// Where an attachment is in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentState {
    /// Being attached.
    Attaching,
    /// Attached.
    Attached,
    /// Being detached.
    Detaching,
    /// Detached.
    Detached,
    /// The cloud reports the attachment as busy.
    Busy,
    /// A state this version of Wintermute does not know.
    Unknown,
}

impl FromStr for AttachmentState {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "attaching" => Self::Attaching,
            "attached" => Self::Attached,
            "detaching" => Self::Detaching,
            "detached" => Self::Detached,
            "busy" => Self::Busy,
            _ => Self::Unknown,
        })
    }
}

/// A volume's attachment to an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeAttachment {
    /// The instance.
    pub instance_id: String,
    /// The device name, e.g. `/dev/sdf`.
    pub device: Option<String>,
    /// Where the attachment is in its life cycle.
    pub state: AttachmentState,
}

/// A volume as the cloud describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeInfo {
    /// The volume id, e.g. `vol-0abc…`.
    pub id: String,
    /// Size in GiB.
    pub size_gb: u32,
    /// Its kind; `None` for kinds Wintermute does not offer.
    pub volume_type: Option<VolumeType>,
    /// Its IOPS, when the cloud reports them.
    pub iops: Option<u32>,
    /// Its life-cycle state.
    pub state: VolumeState,
    /// The zone it lives in.
    pub availability_zone: Option<String>,
    /// Where it is attached.
    pub attachments: Vec<VolumeAttachment>,
    /// Its tags.
    pub tags: Tags,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_manual_and_ebs() {
        let names: Vec<_> = VolumeType::ALL.iter().map(VolumeType::display_name).collect();
        assert_eq!(names, ["General Purpose SSD", "Provisioned IOPS SSD", "Magnetic"]);
        assert_eq!(VolumeType::from_ebs("gp2"), Some(VolumeType::GeneralPurpose));
        assert_eq!(VolumeType::from_ebs("io1"), Some(VolumeType::ProvisionedIops));
        assert_eq!(VolumeType::from_ebs("st1"), None);
        for t in VolumeType::ALL {
            assert_eq!(VolumeType::from_ebs(t.ebs_name()), Some(t));
            assert_eq!(t.display_name().parse::<VolumeType>().unwrap(), t);
            assert_eq!(t.display_name().to_uppercase().parse::<VolumeType>().unwrap(), t);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json.trim_matches('"').parse::<VolumeType>().unwrap(), t);
        }
        assert!("SSD".parse::<VolumeType>().is_err());
    }

    #[test]
    fn validation() {
        let ok = VolumeSpec {
            size_gb: 8,
            volume_type: VolumeType::GeneralPurpose,
            iops: None,
            availability_zone: "us-east-1a".into(),
            tags: Tags::new(),
        };
        assert!(ok.validate().is_ok());
        let piops = VolumeSpec { volume_type: VolumeType::ProvisionedIops, iops: Some(1000), ..ok.clone() };
        assert!(piops.validate().is_ok());
        for bad in [
            VolumeSpec { size_gb: 0, ..ok.clone() },
            VolumeSpec { availability_zone: String::new(), ..ok.clone() },
            VolumeSpec { iops: None, ..piops.clone() },
            VolumeSpec { volume_type: VolumeType::Magnetic, iops: Some(100), ..ok.clone() },
            VolumeSpec { iops: Some(0), ..ok.clone() },
        ] {
            assert!(matches!(bad.validate(), Err(CloudError::InvalidRequest(_))), "{bad:?}");
        }
    }

    #[test]
    fn states_parse() {
        assert_eq!("in-use".parse::<VolumeState>().unwrap(), VolumeState::InUse);
        assert_eq!("optimizing".parse::<VolumeState>().unwrap(), VolumeState::Unknown);
        assert_eq!("detaching".parse::<AttachmentState>().unwrap(), AttachmentState::Detaching);
    }
}
