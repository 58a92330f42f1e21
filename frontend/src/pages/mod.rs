//! One module per screen of the manual (chapters 6 and 7).

pub mod console;
pub mod dashboard;
pub mod groups;
pub mod images;
pub mod instances;
pub mod launch;
pub mod login;
pub mod profile;
pub mod providers;
pub mod scenarios;
pub mod security;
pub mod settings;
pub mod storage;
pub mod tasks;
pub mod transfer;
pub mod users;
