//! The swarm an instance is in, as the library reads it.

use std::net::IpAddr;

use crate::quote::Assignments;
use crate::ProvisionError;

/// One instance of a swarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmMember {
    /// The cloud's id of the instance (matched against `WMAIC_INSTANCE_ID` to find "this one").
    pub instance_id: String,
    /// The address the other members reach it at (its private address when they share a
    /// network), or `None` while the core does not know it yet (the instance is still starting).
    pub address: Option<String>,
    /// Its tags, each one word of letters, digits, `_`, `-`, `.`.
    pub tags: Vec<String>,
}

/// A swarm as one of its members sees it: rendered by [`Swarm::render`] as
/// `/etc/wmaic/swarm/members.env`. The core rewrites that file on every member when members join
/// or leave, then runs [`crate::swarm_update_command`] there.
///
/// From it the library derives `WMAIC_SWARM_MEMBER` ("True"), `WMAIC_SWARM_SIZE`,
/// `WMAIC_SWARM_MEMBERS_EXT_IPS` and `WMAIC_SWARM_MEMBER_TAGS` (the other members, in this order),
/// and `wmaic_wait_for_instances` waits until `size` members are listed with an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swarm {
    /// `WMAIC_SWARM_NAME`: the swarm's name (not empty).
    pub name: String,
    /// `WMAIC_SWARM_SIZE`: how many instances the swarm has, this one and those still starting
    /// included.
    pub size: u32,
    /// Every member the core knows, this instance included, in the order the core keeps them.
    pub members: Vec<SwarmMember>,
}

/// A tag is one word, as the create-instance dialog accepts them.
pub(crate) fn check_tag(field: &str, tag: &str) -> Result<(), ProvisionError> {
    if tag.is_empty() || !tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err(ProvisionError::invalid(field, tag, "a tag is one word of letters, digits, '_', '-' or '.'"));
    }
    Ok(())
}

impl Swarm {
    /// The text of `/etc/wmaic/swarm/members.env`. Refuses an empty name, an instance id that is
    /// empty or holds white space, an address that is not an IP address, and a tag that is not
    /// one word.
    pub fn render(&self) -> Result<String, ProvisionError> {
        if self.name.trim().is_empty() {
            return Err(ProvisionError::invalid("WMAIC_SWARM_NAME", &self.name, "a swarm has a name"));
        }
        let (mut ids, mut addresses, mut tags) = (Vec::new(), Vec::new(), Vec::new());
        for member in &self.members {
            let id = &member.instance_id;
            if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(ProvisionError::invalid("swarm member", id, "an instance id is one word"));
            }
            let address = member.address.clone().unwrap_or_default();
            if !address.is_empty() && address.parse::<IpAddr>().is_err() {
                return Err(ProvisionError::invalid("swarm member address", &address, "not an IP address"));
            }
            for tag in &member.tags {
                check_tag("swarm member tags", tag)?;
            }
            ids.push(id.clone());
            addresses.push(address);
            tags.push(member.tags.join(" "));
        }
        let mut out = Assignments::new(
            "Written by the Wintermute core: the swarm this instance is in, for the WMAIC shell\n\
             library. Every member, this one included; an empty address: not known yet.",
        );
        out.scalar("WMAIC_SWARM_NAME", &self.name)?;
        out.scalar("WMAIC_SWARM_SIZE", &self.size.to_string())?;
        out.array("_WMAIC_MEMBER_IDS", &ids)?;
        out.array("_WMAIC_MEMBER_IPS", &addresses)?;
        out.array("_WMAIC_MEMBER_TAGS", &tags)?;
        Ok(out.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, address: Option<&str>, tags: &[&str]) -> SwarmMember {
        SwarmMember {
            instance_id: id.into(),
            address: address.map(Into::into),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn renders_members_in_order() {
        let swarm = Swarm {
            name: "wp".into(),
            size: 3,
            members: vec![member("i-1", Some("10.0.0.1"), &["nginx"]), member("i-2", None, &["mysql", "db"])],
        };
        let text = swarm.render().unwrap();
        assert!(text.contains("\nWMAIC_SWARM_NAME='wp'\nWMAIC_SWARM_SIZE='3'\n"), "{text}");
        assert!(text.contains("\n_WMAIC_MEMBER_IDS=('i-1' 'i-2')\n"));
        assert!(text.contains("\n_WMAIC_MEMBER_IPS=('10.0.0.1' '')\n"));
        assert!(text.contains("\n_WMAIC_MEMBER_TAGS=('nginx' 'mysql db')\n"));
    }

    #[test]
    fn refuses_bad_members() {
        let bad = |m: SwarmMember| Swarm { name: "s".into(), size: 1, members: vec![m] }.render().is_err();
        assert!(bad(member("i 1", None, &[])));
        assert!(bad(member("", None, &[])));
        assert!(bad(member("i-1", Some("10.0.0.1; reboot"), &[])));
        assert!(bad(member("i-1", None, &["a b"])));
        assert!(!bad(member("i-1", Some("fd00::1"), &["a.b-c_d"])));
        assert!(Swarm { name: " ".into(), size: 0, members: vec![] }.render().is_err());
    }
}
