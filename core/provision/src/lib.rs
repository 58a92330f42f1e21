//! Provisioning: what the core installs on every instance it manages.
//!
//! Scripts that users write for their instances (UDS, manual chapter 6.6) load the **WMAIC shell
//! library** from `/etc/profile.d/wmaic.sh`: the variables of the manual's appendix 8.1 and the
//! functions of its appendix 8.2. This crate holds that library ([`wmaic_library`]) and what the
//! core needs to install and feed it:
//!
//! - [`WmaicEnv`]: the values only the core knows (instance id and name, tags, image, times of
//!   creation, patching and reboot, users, storage...), rendered as `/etc/wmaic/core.env`, a file
//!   of shell assignments the library sources. Values are quoted so that any text (quotes, `$`,
//!   backticks, newlines) arrives exactly as it is and is never run.
//! - [`Swarm`]: the members of the instance's swarm, rendered as `/etc/wmaic/swarm/members.env`;
//!   the swarm's shared secret goes separately through the SSH channel's stdin
//!   ([`swarm_id_command`]).
//! - [`InstallPlan`]: one shell command that writes these files (read from its stdin) with their
//!   modes, makes the instance's own secret there, and enables the unit that restores the
//!   firewall cloak at boot.
//!
//! What the instance can tell about itself (addresses, kernel, distribution, memory...) the
//! library reads there, on each load. No secret of the core is ever written into these files.
//!
//! ```
//! use wintermute_provision::{InstallPlan, Privilege, WmaicEnv};
//!
//! let env = WmaicEnv {
//!     instance_id: "i-0abc".into(),
//!     instance_name: "web@lab".into(),
//!     tags: vec!["nginx".into()],
//!     ..WmaicEnv::default()
//! };
//! let plan = InstallPlan::instance(&env).unwrap();
//! // session.exec(&plan.command(Privilege::Sudo), Some(&plan.stdin())).await?
//! assert!(plan.command(Privilege::Sudo).starts_with("sudo -n "));
//! ```

mod env;
mod error;
mod install;
mod quote;
mod swarm;

pub use env::{Stage, WmaicEnv};
pub use error::ProvisionError;
pub use install::{
    swarm_id_command, swarm_update_command, uds_command, InstallFile, InstallPlan, Privilege, CORE_ENV_PATH,
    FIREWALL_UNIT, FIREWALL_UNIT_PATH, LIBRARY_PATH, LOG_DIR, SECRET_PATH, STATE_DIR, SWARM_DIR, SWARM_ID_PATH,
    SWARM_MEMBERS_PATH,
};
pub use quote::shell_quote;
pub use swarm::{Swarm, SwarmMember};

/// The WMAIC shell library, as installed at [`LIBRARY_PATH`].
pub fn wmaic_library() -> &'static str {
    include_str!("../wmaic/wmaic.sh")
}
