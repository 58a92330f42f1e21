//! One module per command group; each holds its clap arguments and what the commands do.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod groups;
pub mod instances;
pub mod keys;
pub mod local_image;
pub mod local_sync;
pub mod providers;
pub mod rights;
pub mod scenarios;
pub mod settings;
pub mod ssh;
pub mod sync;
pub mod tasks;
pub mod tokens;
pub mod users;

/// Prints a confirmation for people; `--json` prints nothing for calls without a result body.
pub fn done(json: bool, message: impl AsRef<str>) {
    if !json {
        out!("{}", message.as_ref());
    }
}
