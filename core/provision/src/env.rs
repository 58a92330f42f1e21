//! The values of the WMAIC variables that only the core knows.

use chrono::{DateTime, Utc};

use crate::quote::Assignments;
use crate::swarm::check_tag;
use crate::{ProvisionError, Swarm};

/// What the core tells an instance about itself: rendered by [`WmaicEnv::render`] as
/// `/etc/wmaic/core.env`, which the WMAIC shell library sources.
///
/// The variables of the manual's appendix 8.1 that the instance can find out itself (addresses,
/// host names, kernel, distribution, memory, processors, time zone) are not here: the library
/// reads them on the instance. Neither is `WMAIC_SECRET` (made on the instance, never seen by the
/// core) nor `WMAIC_STAGE` (set per script run, see [`Stage`]).
///
/// Text fields may hold any text but a NUL byte. Empty text and `None` give empty variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WmaicEnv {
    /// `WMAIC_INSTANCE_ID`: the cloud's id of the instance (`i-a754e31b`).
    pub instance_id: String,
    /// `WMAIC_INSTANCE_NAME`: the name given when the instance was created.
    pub instance_name: String,
    /// `WMAIC_INSTANCE_INDEX`: the instance's number (from 1) among those created together, the
    /// number the tag syntax `1-3:web` refers to.
    pub instance_index: Option<u32>,
    /// `WMAIC_INSTANCE_TYPE`: the cloud's instance type (`t2.small`).
    pub instance_type: String,
    /// `WMAIC_INSTANCE_TAGS`: the instance's tags, each one word of letters, digits, `_`, `-`, `.`.
    pub tags: Vec<String>,
    /// `WMAIC_IMAGE_ID`: the image the instance was made from (`ami-02724d1f`).
    pub image_id: String,
    /// `WMAIC_CLOUD`: the kind of provider (`aws`, `openstack`, `local`).
    pub cloud: String,
    /// `WMAIC_REGION`: the provider's region.
    pub region: String,
    /// `WMAIC_AVAILABILITY_ZONE`: the provider's zone (`eu-central-1b`).
    pub availability_zone: String,
    /// `WMAIC_PUBLIC_HOSTNAME`: the host name the instance is reached at from outside.
    pub public_hostname: Option<String>,
    /// `WMAIC_PUBLIC_IP4`: the address the instance is reached at from outside.
    pub public_ip4: Option<String>,
    /// `WMAIC_PRIVATE_IP4`: the address other instances of the same network reach it at (the one
    /// `wmaic_get_instances -i` gives for this instance).
    pub private_ip4: Option<String>,
    /// `WMAIC_CREATED`: when the instance was created (`YYYYMMDDHHmm`, UTC).
    pub created: Option<DateTime<Utc>>,
    /// `WMAIC_PATCHED`: when the core last applied system updates (`YYYYMMDDHHmm`, UTC).
    pub patched: Option<DateTime<Utc>>,
    /// `WMAIC_REBOOTED`: when the core last rebooted the instance (`YYYYMMDDHHmm`, UTC).
    pub rebooted: Option<DateTime<Utc>>,
    /// `WMAIC_REBOOT_REQUIRED`: updates need a reboot that has not happened yet.
    pub reboot_required: bool,
    /// `WMAIC_DEBUG`: the core runs in debug mode.
    pub debug: bool,
    /// `WMAIC_OWNER`: the Wintermute user who created the instance.
    pub owner: String,
    /// `WMAIC_LOGIN_USER`: the account the core logs in with (the image's login user).
    pub login_user: String,
    /// `WMAIC_USERS`: the accounts the core created or set a password for during set-up.
    pub users: Vec<String>,
    /// `WMAIC_STORAGE_MOUNT`: where the instance's extra volume is mounted (`/mnt/data`).
    pub storage_mount: Option<String>,
    /// `WMAIC_STORAGE_ENCRYPTED`: that volume is encrypted.
    pub storage_encrypted: bool,
    /// `WMAIC_DATA_DESTINATION`: the folder the data upload of the set-up goes to.
    pub data_destination: Option<String>,
    /// The instance's swarm, if it is in one: written to its own file (see [`Swarm::render`]).
    pub swarm: Option<Swarm>,
}

/// The set-up stage a script runs in: the library's `WMAIC_STAGE`, which
/// `wmaic_get_current_stage` prints and `wmaic_is_swarm_update_action` tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// After the instance is set up, patched, rebooted if needed, and its data uploaded.
    PostDataTransfer,
    /// A member joined or left the instance's swarm.
    SwarmUpdateAction,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::PostDataTransfer => "post-data-transfer",
            Stage::SwarmUpdateAction => "swarm-update-action",
        }
    }
}

/// `YYYYMMDDHHmm`, the manual's time stamp format.
fn stamp(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.format("%Y%m%d%H%M").to_string()).unwrap_or_default()
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "True"
    } else {
        "False"
    }
}

impl WmaicEnv {
    /// The text of `/etc/wmaic/core.env`: one assignment a variable, every value quoted (see
    /// [`crate::shell_quote`]). Refuses a value with a NUL byte and a tag that is not one word.
    pub fn render(&self) -> Result<String, ProvisionError> {
        for tag in &self.tags {
            check_tag("WMAIC_INSTANCE_TAGS", tag)?;
        }
        let mut out = Assignments::new(
            "Written by the Wintermute core: the WMAIC variables only the core knows, for the WMAIC\n\
             shell library (/etc/profile.d/wmaic.sh). The core rewrites this file: do not edit it.",
        );
        out.scalar("WMAIC_INSTANCE_ID", &self.instance_id)?;
        out.scalar("WMAIC_INSTANCE_NAME", &self.instance_name)?;
        out.scalar("WMAIC_INSTANCE_INDEX", &self.instance_index.map(|i| i.to_string()).unwrap_or_default())?;
        out.scalar("WMAIC_INSTANCE_TYPE", &self.instance_type)?;
        out.array("WMAIC_INSTANCE_TAGS", &self.tags)?;
        out.scalar("WMAIC_IMAGE_ID", &self.image_id)?;
        out.scalar("WMAIC_CLOUD", &self.cloud)?;
        out.scalar("WMAIC_REGION", &self.region)?;
        out.scalar("WMAIC_AVAILABILITY_ZONE", &self.availability_zone)?;
        out.scalar("WMAIC_PUBLIC_HOSTNAME", self.public_hostname.as_deref().unwrap_or_default())?;
        out.scalar("WMAIC_PUBLIC_IP4", self.public_ip4.as_deref().unwrap_or_default())?;
        out.scalar("WMAIC_PRIVATE_IP4", self.private_ip4.as_deref().unwrap_or_default())?;
        out.scalar("WMAIC_CREATED", &stamp(self.created))?;
        out.scalar("WMAIC_PATCHED", &stamp(self.patched))?;
        out.scalar("WMAIC_REBOOTED", &stamp(self.rebooted))?;
        out.scalar("WMAIC_REBOOT_REQUIRED", yes_no(self.reboot_required))?;
        out.scalar("WMAIC_DEBUG", yes_no(self.debug))?;
        out.scalar("WMAIC_OWNER", &self.owner)?;
        out.scalar("WMAIC_LOGIN_USER", &self.login_user)?;
        out.array("WMAIC_USERS", &self.users)?;
        out.scalar("WMAIC_STORAGE_MOUNT", self.storage_mount.as_deref().unwrap_or_default())?;
        out.scalar("WMAIC_STORAGE_ENCRYPTED", yes_no(self.storage_encrypted))?;
        out.scalar("WMAIC_DATA_DESTINATION", self.data_destination.as_deref().unwrap_or_default())?;
        Ok(out.finish())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn renders_every_variable_quoted() {
        let env = WmaicEnv {
            instance_id: "i-a754e31b".into(),
            instance_name: "deb8@FFM".into(),
            instance_index: Some(2),
            tags: vec!["nginx".into(), "web".into()],
            created: Some(Utc.with_ymd_and_hms(2015, 3, 15, 8, 22, 59).unwrap()),
            reboot_required: true,
            ..WmaicEnv::default()
        };
        let text = env.render().unwrap();
        assert!(text.contains("\nWMAIC_INSTANCE_ID='i-a754e31b'\n"), "{text}");
        assert!(text.contains("\nWMAIC_INSTANCE_NAME='deb8@FFM'\n"));
        assert!(text.contains("\nWMAIC_INSTANCE_INDEX='2'\n"));
        assert!(text.contains("\nWMAIC_INSTANCE_TAGS=('nginx' 'web')\n"));
        assert!(text.contains("\nWMAIC_CREATED='201503150822'\n"));
        assert!(text.contains("\nWMAIC_PATCHED=''\n"));
        assert!(text.contains("\nWMAIC_REBOOT_REQUIRED='True'\n"));
        assert!(text.contains("\nWMAIC_DEBUG='False'\n"));
        assert!(text.contains("\nWMAIC_USERS=()\n"));
        // Comments, then assignments only.
        for line in text.lines() {
            assert!(line.starts_with('#') || line.starts_with("WMAIC_"), "{line}");
        }
    }

    #[test]
    fn refuses_what_a_shell_cannot_hold() {
        let env = WmaicEnv { owner: "a\0b".into(), ..WmaicEnv::default() };
        assert_eq!(env.render().unwrap_err(), ProvisionError::NulByte { field: "WMAIC_OWNER".into() });
        let env = WmaicEnv { tags: vec!["two words".into()], ..WmaicEnv::default() };
        assert!(matches!(env.render().unwrap_err(), ProvisionError::Invalid { .. }));
    }

    #[test]
    fn stage_names_are_the_manuals() {
        assert_eq!(Stage::PostDataTransfer.as_str(), "post-data-transfer");
        assert_eq!(Stage::SwarmUpdateAction.as_str(), "swarm-update-action");
    }
}
