//! Helpers shared by the emulator tests.

use wintermute_cloud::{CloudProvider, ImageQuery, InstanceSpec, ObjectRef, Tags};
use wintermute_cloud_aws::AwsProvider;

use crate::common::REGION;

/// The core id the tests tag with.
pub const CORE_ID: &str = "core-test";

/// An Amazon Linux image the emulator knows (one of its bundled default AMIs), found the way
/// an admin would: a search by owner.
pub async fn amazon_linux_image(p: &AwsProvider) -> String {
    let query =
        ImageQuery { owners: vec!["amazon".into()], name_contains: Some("amzn".into()), ..ImageQuery::default() };
    let images = p.find_images(REGION, &query).await.unwrap();
    images
        .iter()
        .find(|i| i.name.as_deref().is_some_and(|n| n.starts_with("amzn")))
        .map(|i| i.image_id.clone())
        .expect("the emulator has Amazon Linux images")
}

/// The core's tags for object `kind#id` of `owner`.
pub fn managed(owner: &str, kind: &str, id: u32) -> Tags {
    Tags::managed(CORE_ID, owner, &ObjectRef::new(kind, id))
}

/// A spec for `count` t3.micro instances of `image`.
pub fn spec(image: &str, count: u32, tags: Tags) -> InstanceSpec {
    InstanceSpec {
        name: "web".into(),
        image_id: image.into(),
        instance_type: "t3.micro".into(),
        key_name: None,
        security_group_ids: vec![],
        count,
        tags,
        availability_zone: Some(format!("{REGION}a")),
        user_data: Some("#!/bin/sh\necho hello\n".into()),
    }
}
