//! The AWS EC2 provider of Wintermute: [`AwsProvider`] implements
//! [`wintermute_cloud::CloudProvider`] with the official `aws-sdk-ec2`.
//!
//! * Static credentials ([`AwsSettings`]): an access key id and a secret access key that key
//!   custody unsealed; the secret never shows in `Debug` output or error messages.
//! * TLS is rustls with ring (no OpenSSL, no aws-lc); HTTP is the SDK's hyper client.
//! * An endpoint override points every region at another EC2 endpoint, e.g. the `moto`
//!   emulator the tests run against.
//! * SDK errors become [`wintermute_cloud::CloudError`]s sorted by what the caller can do
//!   (see `error.rs` for the code table).

mod addresses;
mod catalogue;
mod client;
mod convert;
mod error;
mod images;
mod instances;
mod key_pairs;
mod provider;
mod security_groups;
mod settings;
mod volumes;

pub use provider::AwsProvider;
pub use settings::AwsSettings;

#[cfg(feature = "test-moto")]
pub mod testing;
