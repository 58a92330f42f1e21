//! Credentials check, unreachable and silent endpoints, refused credentials.

use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use wintermute_cloud::{CloudError, CloudProvider};
use wintermute_cloud_aws::AwsProvider;

use crate::common::{self, Moto, REGION};

#[tokio::test]
async fn credentials_check_reports_the_account() {
    let Some(moto) = common::moto().await else { return };
    let account = moto.provider().check_credentials().await.unwrap();
    assert_eq!(account.provider, "aws");
    assert_eq!(account.region, REGION);
    // The emulator's fixed account.
    assert_eq!(account.account_id.as_deref(), Some("123456789012"));
    // The emulator reports no default VPC (`none`, which reads as no network) and 20 instances.
    assert_eq!(account.default_network, None);
    assert_eq!(account.max_instances, Some(20));
}

#[tokio::test]
async fn unreachable_endpoint_is_unavailable_within_the_timeout() {
    // A port nobody listens on: connections are refused at once.
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
    let settings = common::settings(&format!("http://127.0.0.1:{port}")).with_timeouts(
        Duration::from_secs(1),
        Duration::from_secs(2),
        Duration::from_secs(5),
    );
    let provider = AwsProvider::new(settings).unwrap();
    let started = Instant::now();
    let err = provider.check_credentials().await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, CloudError::Unavailable(_)), "{err:?}");
    assert!(err.is_retryable());
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(!err.to_string().contains("wintermute-test-secret"), "{err}");
}

#[tokio::test]
async fn silent_endpoint_times_out() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let settings = common::settings(&format!("http://127.0.0.1:{port}")).with_timeouts(
        Duration::from_secs(1),
        Duration::from_secs(1),
        Duration::from_secs(2),
    );
    let provider = AwsProvider::new(settings).unwrap();
    let started = Instant::now();
    let err = provider.regions().await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, CloudError::Timeout { .. }), "{err:?}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[tokio::test]
async fn refused_credentials_are_an_auth_error() {
    // A server of its own that checks credentials against its (empty) IAM from the first call.
    let Some(moto) =
        tokio::task::spawn_blocking(|| Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")])).await.unwrap()
    else {
        return;
    };
    let err = moto.provider().check_credentials().await.unwrap_err();
    assert!(matches!(err, CloudError::Auth(_)), "{err:?}");
    assert!(!err.is_retryable());
    let text = format!("{err} {err:?}");
    assert!(!text.contains("wintermute-test-secret"), "{text}");
    tokio::task::spawn_blocking(move || drop(moto)).await.unwrap();
}
