//! Data sync as the core offers it: upload and download tasks with rights, progress, cancel and
//! audit ([`task`]), the upload-at-launch stage of provisioning, and files moved between a
//! workstation and an instance through the core ([`workstation`]). The transfer itself — the
//! jail, the instance side, resume — is the crate `wintermute_sync`, re-exported here.

pub use wintermute_sync::*;

pub(crate) mod task;
mod workstation;

pub use workstation::FileMeta;
