//! The provider's state on disk, under its base directory:
//!
//! ```text
//! <base>/network.json                  the private network (multicast group, port, subnet)
//! <base>/images.json                   registered images (each points at a qcow2 or raw file)
//! <base>/key-pairs.json                imported public keys
//! <base>/security-groups.json          security groups (recorded; the SSH port is on loopback anyway)
//! <base>/instances/<id>/instance.json  an instance: what it is and whether it should run
//! <base>/instances/<id>/disk.qcow2     its root disk: a copy-on-write overlay on the image
//! <base>/instances/<id>/meta/          what its first-boot step reads through fw_cfg
//! <base>/instances/<id>/qemu.pid       its QEMU process, while it runs
//! <base>/instances/<id>/qmp.sock       that process's QMP socket
//! <base>/instances/<id>/console.log    its serial console, appended at every start
//! <base>/volumes/<id>.json, <id>.qcow2 a volume
//! ```
//!
//! Every JSON file is written whole to a temporary file and renamed into place, so a crash never
//! leaves half a record. Ids come from the caller and become file names, so they are checked
//! against the exact shape the provider makes (`i-` or `vol-` and 16 hex digits) first.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::Serialize;
use wintermute_cloud::CloudError;

use crate::error::io_error;

/// Id prefix of instances.
pub(crate) const INSTANCE_PREFIX: &str = "i-";
/// Id prefix of volumes (the id is also the guest's disk serial: at most 20 characters).
pub(crate) const VOLUME_PREFIX: &str = "vol-";
/// Id prefix of images.
pub(crate) const IMAGE_PREFIX: &str = "img-";
/// Id prefix of security groups.
pub(crate) const GROUP_PREFIX: &str = "sg-";
/// Id prefix of key pairs.
pub(crate) const KEY_PAIR_PREFIX: &str = "key-";

/// A new id: `prefix` and 16 random hex digits.
pub(crate) fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// Whether `id` has the shape of an id made by [`new_id`] with `prefix`.
pub(crate) fn is_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// A random (version 4) UUID: a VM's SMBIOS id, a file system's id.
pub(crate) fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Paths of the provider's state.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    base: PathBuf,
}

impl Store {
    /// The state under `base`, with its folders created.
    pub(crate) fn open(base: &Path) -> Result<Self, CloudError> {
        let store = Self { base: base.to_path_buf() };
        for dir in [store.base.clone(), store.instances_dir(), store.volumes_dir()] {
            std::fs::create_dir_all(&dir).map_err(|e| io_error("cannot create the folder", &dir, &e))?;
        }
        Ok(store)
    }

    pub(crate) fn base(&self) -> &Path {
        &self.base
    }

    pub(crate) fn network_file(&self) -> PathBuf {
        self.base.join("network.json")
    }

    pub(crate) fn images_file(&self) -> PathBuf {
        self.base.join("images.json")
    }

    pub(crate) fn key_pairs_file(&self) -> PathBuf {
        self.base.join("key-pairs.json")
    }

    pub(crate) fn groups_file(&self) -> PathBuf {
        self.base.join("security-groups.json")
    }

    pub(crate) fn instances_dir(&self) -> PathBuf {
        self.base.join("instances")
    }

    pub(crate) fn volumes_dir(&self) -> PathBuf {
        self.base.join("volumes")
    }

    /// The folder of instance `id` (which must have passed [`is_id`]).
    pub(crate) fn instance_dir(&self, id: &str) -> PathBuf {
        self.instances_dir().join(id)
    }

    pub(crate) fn volume_record(&self, id: &str) -> PathBuf {
        self.volumes_dir().join(format!("{id}.json"))
    }

    pub(crate) fn volume_disk(&self, id: &str) -> PathBuf {
        self.volumes_dir().join(format!("{id}.qcow2"))
    }

    /// The ids of the entries of `dir` named `<prefix><hex>[suffix]`.
    pub(crate) fn ids_in(&self, dir: &Path, prefix: &str, suffix: &str) -> Result<Vec<String>, CloudError> {
        let entries = std::fs::read_dir(dir).map_err(|e| io_error("cannot list the folder", dir, &e))?;
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error("cannot list the folder", dir, &e))?;
            let name = entry.file_name();
            if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(suffix)) {
                if is_id(id, prefix) {
                    ids.push(id.to_string());
                }
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }
}

/// Reads a JSON file; `None` when it does not exist.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, CloudError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("cannot read", path, &e)),
    };
    serde_json::from_slice(&text).map(Some).map_err(|e| CloudError::Provider {
        code: "local_state_damaged".into(),
        message: format!("{} cannot be read: {e}", path.display()),
    })
}

/// Writes a JSON file atomically (temporary file, fsync, rename).
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), CloudError> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| CloudError::Provider {
        code: "local_io".into(),
        message: format!("cannot encode {}: {e}", path.display()),
    })?;
    write_file(path, &text)
}

/// Writes a file atomically (temporary file, fsync, rename).
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CloudError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error("cannot write", path, &e)
    })
}

/// Removes a file; one that is not there is fine.
pub(crate) fn remove_file(path: &Path) -> Result<(), CloudError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("cannot remove", path, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_one_shape() {
        let id = new_id(VOLUME_PREFIX);
        assert!(is_id(&id, VOLUME_PREFIX), "{id}");
        // The volume id is the guest's disk serial, which holds 20 bytes.
        assert_eq!(id.len(), 20);
        assert!(!is_id(&id, INSTANCE_PREFIX));
        for bad in ["i-", "i-0123456789ABCDEF", "i-0123456789abcde", "i-../../etc/passwd0", "i-0123456789abcdef0"] {
            assert!(!is_id(bad, INSTANCE_PREFIX), "{bad}");
        }
    }

    #[test]
    fn uuids_look_like_uuids() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, uuid_v4());
    }

    #[test]
    fn json_round_trip_and_listing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let path = store.volume_record("vol-0123456789abcdef");
        assert_eq!(read_json::<Vec<u32>>(&path).unwrap(), None);
        write_json(&path, &vec![1, 2, 3]).unwrap();
        assert_eq!(read_json::<Vec<u32>>(&path).unwrap(), Some(vec![1, 2, 3]));
        std::fs::write(store.volumes_dir().join("vol-nothex.json"), "[]").unwrap();
        let ids = store.ids_in(&store.volumes_dir(), VOLUME_PREFIX, ".json").unwrap();
        assert_eq!(ids, ["vol-0123456789abcdef"]);
        std::fs::write(&path, "{broken").unwrap();
        assert!(matches!(read_json::<Vec<u32>>(&path), Err(CloudError::Provider { .. })));
        remove_file(&path).unwrap();
        remove_file(&path).unwrap();
    }
}
