//! The moto helper lives in the crate (feature `test-moto`) so other crates' tests share it.
#![allow(dead_code, unused_imports)]

pub use wintermute_cloud_aws::testing::*;
