//! Test support (cargo feature `test-openstack`): a real Keystone ([`keystone::Keystone`]) and a
//! fake of Nova, Glance, Cinder and Neutron ([`fake::FakeOpenstack`]) registered in its
//! catalogue; [`Lab`] puts them together with a project and a user of its own.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod fake;
pub mod keystone;

use wintermute_custody::SecretString;

pub use fake::{Backend, FakeOpenstack, FakeOptions, Seen, ServerBackend};
pub use keystone::Keystone;

use crate::{OpenstackProvider, OpenstackSettings};

/// The region the lab registers its services in.
pub const REGION: &str = "RegionOne";
/// The lab's project.
pub const PROJECT: &str = "lab";
/// The lab's user.
pub const USER: &str = "alice";
/// The lab user's password.
pub const PASSWORD: &str = "alice-lab-password";

/// A Keystone with a project and a member user, and the fake cloud in its catalogue.
pub struct Lab {
    /// The fake services (declared first: stopped before Keystone).
    pub fake: FakeOpenstack,
    /// The real Keystone.
    pub keystone: Keystone,
    /// The project's id.
    pub project_id: String,
}

impl Lab {
    /// Starts a lab with the default fake settings; `None` when the venv is missing outside CI.
    pub async fn start() -> Option<Lab> {
        Self::start_with(FakeOptions::default()).await
    }

    /// Starts a lab whose fake uses `opts`.
    pub async fn start_with(opts: FakeOptions) -> Option<Lab> {
        let keystone = Keystone::start().await?;
        Some(Self::around(keystone, opts).await)
    }

    /// A lab on a Keystone that is already running.
    pub async fn around(keystone: Keystone, opts: FakeOptions) -> Lab {
        let fake = FakeOpenstack::start(&keystone.url(), opts).await;
        keystone.register(REGION, &fake.catalogue()).await;
        let project_id = keystone.add_project(PROJECT, USER, PASSWORD).await;
        Lab { fake, keystone, project_id }
    }

    /// Provider settings for the lab's user and project.
    pub fn settings(&self) -> OpenstackSettings {
        OpenstackSettings::new(self.keystone.url(), USER, SecretString::new(PASSWORD.into()), PROJECT, REGION)
    }

    /// A provider for the lab's user and project.
    pub fn provider(&self) -> OpenstackProvider {
        OpenstackProvider::new(self.settings()).expect("valid lab settings")
    }
}
