//! Key pairs and security groups.
//!
//! Key pairs are public keys the guests receive at first boot. Security groups are recorded
//! so the engine can use this provider as it uses a cloud, but there is nothing to enforce:
//! an instance's SSH port listens on 127.0.0.1 only.

use wintermute_cloud::{Cidr, CloudError, KeyPairInfo, SecurityGroupInfo, Tags, ANYWHERE_V4};
use wintermute_custody::host_key_fingerprint;

use crate::provider::Local;
use crate::records::{GroupRecord, KeyPairRecord};
use crate::store::{new_id, read_json, write_json, GROUP_PREFIX, KEY_PAIR_PREFIX};

fn key_pair_info(record: &KeyPairRecord) -> KeyPairInfo {
    KeyPairInfo {
        name: record.name.clone(),
        key_pair_id: Some(record.id.clone()),
        fingerprint: Some(record.fingerprint.clone()),
    }
}

fn group_info(record: &GroupRecord) -> SecurityGroupInfo {
    SecurityGroupInfo {
        id: record.id.clone(),
        name: record.name.clone(),
        description: Some(record.description.clone()),
        ssh_cidrs: record.ssh_cidrs.clone(),
    }
}

/// Checks a key pair or group name: 1 to 255 printable characters.
fn check_name(what: &str, name: &str) -> Result<(), CloudError> {
    if name.trim().is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(CloudError::InvalidRequest(format!("a {what} needs a name of 1 to 255 printable characters")));
    }
    Ok(())
}

impl Local {
    pub(crate) fn key_pairs(&self) -> Result<Vec<KeyPairRecord>, CloudError> {
        Ok(read_json(&self.store.key_pairs_file())?.unwrap_or_default())
    }

    /// The key pair `name`, or [`CloudError::NotFound`].
    pub(crate) fn key_pair(&self, name: &str) -> Result<KeyPairRecord, CloudError> {
        self.key_pairs()?.into_iter().find(|k| k.name == name).ok_or_else(|| CloudError::not_found("key pair", name))
    }

    pub(crate) async fn import_key_pair(
        &self,
        name: &str,
        public_key: &str,
        tags: &Tags,
    ) -> Result<KeyPairInfo, CloudError> {
        check_name("key pair", name)?;
        let public_key = public_key.trim();
        if public_key.lines().count() != 1 {
            return Err(CloudError::InvalidRequest("a key pair holds exactly one public key line".into()));
        }
        let fingerprint = host_key_fingerprint(public_key)
            .map_err(|e| CloudError::InvalidRequest(format!("the public key cannot be read: {e}")))?;
        let _guard = self.lock.lock().await;
        let mut pairs = self.key_pairs()?;
        if let Some(existing) = pairs.iter().find(|k| k.name == name) {
            if existing.fingerprint == fingerprint {
                return Ok(key_pair_info(existing));
            }
            return Err(CloudError::InvalidRequest(format!("a key pair named `{name}` exists with another key")));
        }
        let record = KeyPairRecord {
            id: new_id(KEY_PAIR_PREFIX),
            name: name.to_string(),
            public_key: public_key.to_string(),
            fingerprint,
            tags: tags.clone(),
        };
        pairs.push(record.clone());
        write_json(&self.store.key_pairs_file(), &pairs)?;
        Ok(key_pair_info(&record))
    }

    pub(crate) async fn delete_key_pair(&self, name: &str) -> Result<(), CloudError> {
        let _guard = self.lock.lock().await;
        let mut pairs = self.key_pairs()?;
        let before = pairs.len();
        pairs.retain(|k| k.name != name);
        if pairs.len() != before {
            write_json(&self.store.key_pairs_file(), &pairs)?;
        }
        Ok(())
    }

    fn groups(&self) -> Result<Vec<GroupRecord>, CloudError> {
        Ok(read_json(&self.store.groups_file())?.unwrap_or_default())
    }

    /// Checks that every id names a recorded security group.
    pub(crate) fn check_groups(&self, ids: &[String]) -> Result<(), CloudError> {
        let groups = self.groups()?;
        match ids.iter().find(|id| !groups.iter().any(|g| &g.id == *id)) {
            Some(unknown) => Err(CloudError::not_found("security group", unknown.as_str())),
            None => Ok(()),
        }
    }

    pub(crate) async fn ensure_security_group(
        &self,
        name: &str,
        description: &str,
        ssh_cidr: Option<&str>,
        tags: &Tags,
    ) -> Result<SecurityGroupInfo, CloudError> {
        check_name("security group", name)?;
        let cidr = match ssh_cidr {
            Some(text) => text.parse::<Cidr>()?,
            None => ANYWHERE_V4,
        };
        let _guard = self.lock.lock().await;
        let mut groups = self.groups()?;
        let record = match groups.iter_mut().find(|g| g.name == name) {
            Some(existing) => {
                existing.ssh_cidrs = vec![cidr.to_string()];
                existing.clone()
            }
            None => {
                let record = GroupRecord {
                    id: new_id(GROUP_PREFIX),
                    name: name.to_string(),
                    description: description.to_string(),
                    ssh_cidrs: vec![cidr.to_string()],
                    tags: tags.clone(),
                };
                groups.push(record.clone());
                record
            }
        };
        write_json(&self.store.groups_file(), &groups)?;
        Ok(group_info(&record))
    }

    pub(crate) fn security_groups(&self) -> Result<Vec<SecurityGroupInfo>, CloudError> {
        Ok(self.groups()?.iter().map(group_info).collect())
    }
}
