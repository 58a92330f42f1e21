//! Regions, instance types and image search.

use wintermute_cloud::{CloudError, CloudProvider, ImageQuery};

use crate::common::{self, REGION};
use crate::support::amazon_linux_image;

#[tokio::test]
async fn regions_are_listed() {
    let Some(moto) = common::moto().await else { return };
    let regions = moto.provider().regions().await.unwrap();
    let names: Vec<_> = regions.iter().map(|r| r.name.as_str()).collect();
    assert!(names.contains(&"us-east-1") && names.contains(&"eu-west-1"), "{names:?}");
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted: {names:?}");
}

#[tokio::test]
async fn instance_types_have_cpus_and_memory() {
    let Some(moto) = common::moto().await else { return };
    let types = moto.provider().instance_types(REGION).await.unwrap();
    assert!(types.len() > 100, "{}", types.len());
    let find = |name: &str| types.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("{name} missing"));
    assert_eq!((find("t3.micro").vcpus, find("t3.micro").memory_mib), (2, 1024));
    assert_eq!((find("m5.large").vcpus, find("m5.large").memory_mib), (2, 8192));
    assert!(types.iter().all(|t| t.vcpus > 0 && t.memory_mib > 0));
}

#[tokio::test]
async fn images_by_id_and_by_name() {
    let Some(moto) = common::moto().await else { return };
    let p = moto.provider();

    let by_owner = ImageQuery { owners: vec!["amazon".into()], ..ImageQuery::default() };
    let all = p.find_images(REGION, &by_owner).await.unwrap();
    assert!(all.len() > 5, "{}", all.len());
    assert!(all.windows(2).all(|w| w[0].creation_date >= w[1].creation_date), "newest first");

    let id = amazon_linux_image(&p).await;
    let found = p.find_images(REGION, &ImageQuery::from_search(&format!("image_id:{id}")).unwrap()).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let image = &found[0];
    assert_eq!(image.image_id, id);
    assert_eq!(image.architecture.as_deref(), Some("x86_64"));
    assert_eq!(image.state.as_deref(), Some("available"));
    assert!(image.owner_id.is_some() && image.root_device_type.is_some(), "{image:?}");

    // Name text matches anywhere in the name.
    let found = p.find_images(REGION, &ImageQuery::from_search("ubuntu-xenial").unwrap()).await.unwrap();
    assert!(!found.is_empty());
    assert!(found.iter().all(|i| i.name.as_deref().unwrap().contains("ubuntu-xenial")), "{found:?}");

    let limited = ImageQuery { max_results: Some(3), ..by_owner.clone() };
    assert_eq!(p.find_images(REGION, &limited).await.unwrap().len(), 3);

    // An unknown id is an empty result; an unbounded search is refused before any call.
    let none = p.find_images(REGION, &ImageQuery::from_search("image_id:ami-00000000deadbeef0").unwrap()).await;
    assert_eq!(none.unwrap(), []);
    let err = p.find_images(REGION, &ImageQuery::default()).await.unwrap_err();
    assert!(matches!(err, CloudError::InvalidRequest(_)), "{err:?}");
}
