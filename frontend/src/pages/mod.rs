//! One module per screen of the manual (chapters 6 and 7).

pub mod dashboard;
pub mod groups;
pub mod images;
pub mod login;
pub mod profile;
pub mod providers;
pub mod security;
pub mod settings;
pub mod tasks;
pub mod users;
