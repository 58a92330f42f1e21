//! The core's SSH security group: static address, changed address, dynamic.

use wintermute_cloud::CloudProvider;

use crate::common::{self, REGION};
use crate::support::managed;

#[tokio::test]
async fn ssh_ingress_follows_the_setting() {
    let Some(moto) = common::moto().await else { return };
    let p = moto.provider();
    let tags = managed("admin", "security_group", 1);
    let name = "wintermute-ssh";

    // Static: one workstation address.
    let g = p.ensure_security_group(REGION, name, "Wintermute SSH", Some("203.0.113.7"), &tags).await.unwrap();
    assert_eq!(g.name, name);
    assert!(g.id.starts_with("sg-"), "{g:?}");
    assert_eq!(g.ssh_cidrs, ["203.0.113.7/32"]);

    // Same setting again: nothing changes.
    let same = p.ensure_security_group(REGION, name, "Wintermute SSH", Some("203.0.113.7/32"), &tags).await.unwrap();
    assert_eq!(same, g);

    // The address changed: the old rule is revoked.
    let moved = p.ensure_security_group(REGION, name, "Wintermute SSH", Some("198.51.100.0/24"), &tags).await.unwrap();
    assert_eq!(moved.id, g.id);
    assert_eq!(moved.ssh_cidrs, ["198.51.100.0/24"]);

    // Dynamic: open to any address.
    let open = p.ensure_security_group(REGION, name, "Wintermute SSH", None, &tags).await.unwrap();
    assert_eq!(open.id, g.id);
    assert_eq!(open.ssh_cidrs, ["0.0.0.0/0"]);

    // And back to a single address.
    let closed = p.ensure_security_group(REGION, name, "Wintermute SSH", Some("203.0.113.8/32"), &tags).await.unwrap();
    assert_eq!(closed.ssh_cidrs, ["203.0.113.8/32"]);

    let all = p.security_groups(REGION).await.unwrap();
    let listed = all.iter().find(|x| x.id == g.id).unwrap();
    assert_eq!(listed.ssh_cidrs, ["203.0.113.8/32"]);
    assert_eq!(all.iter().filter(|x| x.name == name).count(), 1);
    assert!(all.iter().any(|x| x.name == "default"));

    let err = p.ensure_security_group(REGION, name, "Wintermute SSH", Some("not-an-address"), &tags).await;
    assert!(matches!(err, Err(wintermute_cloud::CloudError::InvalidRequest(_))), "{err:?}");
}
