//! Many first contacts with an instance at once (consoles opened together): one host key is
//! pinned and every contact that offers it is accepted; a different key is still refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use wintermute_api::ErrorCode;
use wintermute_core::custody::HostKeyCheck;
use wintermute_core::testing::{backends, TestCore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_contacts_pin_one_key() {
    for backend in backends() {
        let core = TestCore::start(backend).await;
        let (instance,): (i64,) = sqlx::query_as(
            "INSERT INTO instances (owner_id, name, status, created_at, updated_at) VALUES ($1, 'web', 'running', 0, 0) \
             RETURNING id",
        )
        .bind(core.admin.user_id)
        .fetch_one(core.engine.store().pool())
        .await
        .unwrap();
        let key = wintermute_custody::UserKeyPair::generate("host").public_openssh();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (engine, key) = (core.engine.clone(), key.clone());
            tasks.spawn(async move { engine.check_host_key(instance, &key).await });
        }
        let mut pinned = 0;
        while let Some(r) = tasks.join_next().await {
            match r.unwrap() {
                Ok(HostKeyCheck::Pinned) => pinned += 1,
                Ok(HostKeyCheck::Matches) => {}
                Err(e) => panic!("{backend:?}: a concurrent first contact failed: {e}"),
            }
        }
        assert_eq!(pinned, 1, "{backend:?}");
        let other = wintermute_custody::UserKeyPair::generate("other").public_openssh();
        assert_eq!(core.engine.check_host_key(instance, &other).await.unwrap_err().code(), ErrorCode::HostKeyChanged);
    }
}
