//! Typed errors for unknown objects and wrong requests.

use wintermute_cloud::{CloudError, CloudProvider};

use crate::common::{self, REGION};
use crate::support::{amazon_linux_image, managed, spec};

#[tokio::test]
async fn unknown_ids_are_not_found() {
    let Some(moto) = common::moto().await else { return };
    let p = moto.provider();
    let instance = "i-0123456789abcdef0".to_string();
    let volume = "vol-0123456789abcdef0".to_string();

    let err = p.describe_instances(REGION, std::slice::from_ref(&instance)).await.unwrap_err();
    assert_eq!(err, CloudError::not_found("instance", &instance));
    assert_eq!(err.to_string(), "instance i-0123456789abcdef0 was not found in the cloud");
    let err = p.stop_instances(REGION, std::slice::from_ref(&instance)).await.unwrap_err();
    assert!(matches!(&err, CloudError::NotFound { what, .. } if what == "instance"), "{err:?}");
    let err = p.terminate_instances(REGION, std::slice::from_ref(&instance)).await.unwrap_err();
    assert!(matches!(&err, CloudError::NotFound { what, .. } if what == "instance"), "{err:?}");

    let err = p.describe_volumes(REGION, std::slice::from_ref(&volume)).await.unwrap_err();
    assert_eq!(err, CloudError::not_found("volume", &volume));
    let err = p.delete_volume(REGION, &volume).await.unwrap_err();
    assert!(matches!(&err, CloudError::NotFound { what, .. } if what == "volume"), "{err:?}");

    // Launching from an image that does not exist.
    let err =
        p.run_instances(REGION, &spec("ami-0000000000000dead", 1, managed("dan", "instance", 1))).await.unwrap_err();
    assert!(matches!(&err, CloudError::NotFound { what, .. } if what == "image"), "{err:?}");

    // With a key pair that does not exist.
    let image = amazon_linux_image(&p).await;
    let mut no_key = spec(&image, 1, managed("dan", "instance", 2));
    no_key.key_name = Some("wm-nobody".into());
    let err = p.run_instances(REGION, &no_key).await.unwrap_err();
    assert!(matches!(&err, CloudError::NotFound { what, id } if what == "key pair" && id == "wm-nobody"), "{err:?}");
    assert!(p.instances_by_tag(REGION, "wintermute:owner", "dan").await.unwrap().is_empty(), "nothing launched");
}

#[tokio::test]
async fn invalid_instance_type_is_refused() {
    let Some(moto) = common::moto().await else { return };
    let p = moto.provider();
    let image = amazon_linux_image(&p).await;
    let mut wrong = spec(&image, 2, managed("erin", "instance", 1));
    wrong.instance_type = "t3.gigantic".into();
    let err = p.run_instances(REGION, &wrong).await.unwrap_err();
    assert!(matches!(err, CloudError::InvalidRequest(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert!(p.instances_by_tag(REGION, "wintermute:owner", "erin").await.unwrap().is_empty(), "nothing launched");

    // Checked before asking the cloud.
    let none = wintermute_cloud::InstanceSpec { count: 0, ..spec(&image, 1, managed("erin", "instance", 2)) };
    assert!(matches!(p.run_instances(REGION, &none).await, Err(CloudError::InvalidRequest(_))));
    assert!(matches!(p.instance_types("Not A Region").await, Err(CloudError::InvalidRequest(_))));
}
