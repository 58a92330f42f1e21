//! Elastic IPs: allocate, associate, move to another instance, disassociate, release, find by tag.

use wintermute_cloud::{CloudProvider, TAG_OWNER};

use crate::common::{self, REGION};
use crate::support::{amazon_linux_image, managed, spec};

#[tokio::test]
async fn addresses_follow_their_instance() {
    let Some(moto) = common::moto().await else { return };
    let p = moto.provider();
    let image = amazon_linux_image(&p).await;
    let a = p.run_instances(REGION, &spec(&image, 1, managed("dora", "instance", 40))).await.unwrap().remove(0);
    let b = p.run_instances(REGION, &spec(&image, 1, managed("dora", "instance", 41))).await.unwrap().remove(0);

    let tags = managed("dora", "address", 1);
    let addr = p.allocate_address(REGION, &tags).await.unwrap();
    assert!(addr.allocation_id.starts_with("eipalloc-"), "{addr:?}");
    assert!(addr.public_ip.parse::<std::net::Ipv4Addr>().is_ok(), "{addr:?}");
    assert_eq!(addr.instance_id, None);

    let on_a = p.associate_address(REGION, &addr.allocation_id, &a.id).await.unwrap();
    assert_eq!(on_a.instance_id.as_deref(), Some(a.id.as_str()));
    assert!(on_a.association_id.is_some());
    // Moving it is one call: the address follows to the other instance.
    let on_b = p.associate_address(REGION, &addr.allocation_id, &b.id).await.unwrap();
    assert_eq!(on_b.instance_id.as_deref(), Some(b.id.as_str()));

    let found = p.addresses_by_tag(REGION, TAG_OWNER, "dora").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].allocation_id, addr.allocation_id);
    assert!(p.addresses_by_tag(REGION, TAG_OWNER, "nobody").await.unwrap().is_empty());

    p.disassociate_address(REGION, &addr.allocation_id).await.unwrap();
    p.disassociate_address(REGION, &addr.allocation_id).await.unwrap();
    let found = p.addresses_by_tag(REGION, TAG_OWNER, "dora").await.unwrap();
    assert_eq!(found[0].instance_id, None, "unhooked, twice is fine");

    p.release_address(REGION, &addr.allocation_id).await.unwrap();
    p.release_address(REGION, &addr.allocation_id).await.unwrap();
    assert!(p.addresses_by_tag(REGION, TAG_OWNER, "dora").await.unwrap().is_empty(), "released, twice is fine");
    let gone = p.associate_address(REGION, &addr.allocation_id, &a.id).await.unwrap_err();
    assert!(matches!(gone, wintermute_cloud::CloudError::NotFound { .. }), "{gone:?}");
}
