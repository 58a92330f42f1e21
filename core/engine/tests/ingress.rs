//! The SSH ingress range of the core's security group, from the WMAIS_SG_* settings, with the
//! address discovered through a local test server standing in for WMAIS_SG_AUTO_IP_DISCOVER.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/discovery.rs"]
mod discovery;
use discovery::discovery_server;

use serde_json::json;
use wintermute_api::ErrorCode;
use wintermute_core::store::Backend;
use wintermute_core::testing::TestCore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_follows_the_settings() {
    let core = TestCore::start(Backend::Sqlite).await;
    let (engine, admin) = (&core.engine, &core.admin);

    let good = discovery_server("203.0.113.7\n").await;
    engine.settings_set(admin, "WMAIS_SG_AUTO_IP_DISCOVER", json!(good)).await.unwrap();
    assert_eq!(engine.ssh_ingress_cidr().await.unwrap().as_deref(), Some("203.0.113.7/32"), "static: discovered");
    engine.settings_set(admin, "WMAIS_SG_IP_CIDR", json!("/24")).await.unwrap();
    assert_eq!(
        engine.ssh_ingress_cidr().await.unwrap().as_deref(),
        Some("203.0.113.0/24"),
        "widened to the proxies' range"
    );
    engine.settings_set(admin, "WMAIS_SG_IP_ADDRESS", json!("198.51.100.20")).await.unwrap();
    assert_eq!(engine.ssh_ingress_cidr().await.unwrap().as_deref(), Some("198.51.100.0/24"), "a fixed address");
    engine.settings_set(admin, "WMAIS_SG_IP_ADDRESS", json!("dynamic")).await.unwrap();
    assert_eq!(engine.ssh_ingress_cidr().await.unwrap(), None, "dynamic: open to all");

    engine.settings_set(admin, "WMAIS_SG_IP_ADDRESS", json!("static")).await.unwrap();
    let junk = discovery_server("<html>hello</html>").await;
    engine.settings_set(admin, "WMAIS_SG_AUTO_IP_DISCOVER", json!(junk)).await.unwrap();
    let e = engine.ssh_ingress_cidr().await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::ServiceUnavailable);
    assert!(e.to_string().contains("not an IP address") && e.to_string().contains("dynamic"), "{e}");
    engine.settings_set(admin, "WMAIS_SG_AUTO_IP_DISCOVER", json!("http://127.0.0.1:9/")).await.unwrap();
    assert_eq!(
        engine.ssh_ingress_cidr().await.unwrap_err().code(),
        ErrorCode::ServiceUnavailable,
        "unreachable service"
    );
    engine.settings_set(admin, "WMAIS_SG_IP_CIDR", json!("/64")).await.unwrap();
    engine.settings_set(admin, "WMAIS_SG_IP_ADDRESS", json!("198.51.100.20")).await.unwrap();
    assert_eq!(engine.ssh_ingress_cidr().await.unwrap_err().code(), ErrorCode::InvalidField, "/64 does not fit IPv4");
}
