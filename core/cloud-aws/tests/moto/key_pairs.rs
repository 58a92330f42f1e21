//! Key pairs: public keys only, imported idempotently.

use wintermute_cloud::{CloudError, CloudProvider};
use wintermute_custody::UserKeyPair;

use crate::common::{self, REGION};
use crate::support::managed;

#[tokio::test]
async fn key_pair_import_is_idempotent() {
    let Some(moto) = common::moto().await else { return };
    let p = moto.provider();
    let alice = UserKeyPair::generate("alice@wintermute");
    let tags = managed("alice", "key_pair", 1);

    let first = p.import_key_pair(REGION, "wm-alice", &alice.public_openssh(), &tags).await.unwrap();
    assert_eq!(first.name, "wm-alice");
    assert!(first.fingerprint.is_some());
    // Same name, same key (the comment does not matter): fine, the same pair.
    let key_without_comment = alice.public_openssh().split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let again = p.import_key_pair(REGION, "wm-alice", &key_without_comment, &tags).await.unwrap();
    assert_eq!(again.fingerprint, first.fingerprint);
    assert_eq!(again.key_pair_id, first.key_pair_id);

    // Same name, another key: refused.
    let mallory = UserKeyPair::generate("mallory@wintermute");
    let err = p.import_key_pair(REGION, "wm-alice", &mallory.public_openssh(), &tags).await.unwrap_err();
    assert!(matches!(&err, CloudError::InvalidRequest(m) if m.contains("different key")), "{err:?}");

    // A private key never leaves.
    let private = alice.private_openssh().unwrap();
    let err = p.import_key_pair(REGION, "wm-oops", private.expose(), &tags).await.unwrap_err();
    assert!(matches!(err, CloudError::InvalidRequest(_)), "{err:?}");

    p.delete_key_pair(REGION, "wm-alice").await.unwrap();
    p.delete_key_pair(REGION, "wm-alice").await.unwrap();
    // Gone: importing another key under the name works now.
    p.import_key_pair(REGION, "wm-alice", &mallory.public_openssh(), &tags).await.unwrap();
}
