//! The WMAIC shell library's own tests, run from cargo so that `cargo nextest` (and so
//! `scripts/test-all`) runs them: every bats file in `tests/bats/` as a test of its own, and
//! shellcheck over the library and the tests.
//!
//! Without bats or shellcheck the tests are skipped with a note, except under CI (`CI` set),
//! where that is a failure; `scripts/test-all` installs both. Tests inside the bats files that
//! need root (network namespaces, iptables) follow the same rule.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn under_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// The program's path, or `None` (with a note) when it is missing outside CI.
fn tool(program: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join(program)).find(|p| p.is_file()));
    if found.is_none() {
        let note = format!("{program} is missing (Debian package {package}); scripts/test-all installs it");
        assert!(!under_ci(), "{note}");
        eprintln!("SKIPPED: {note}");
    }
    found
}

/// Runs one bats file and fails with its report when a test in it failed.
fn bats(file: &str) {
    let Some(bats) = tool("bats", "bats") else { return };
    let path = crate_dir().join("tests/bats").join(file);
    let out = Command::new(bats).arg(&path).output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{report}");
    assert!(out.status.success(), "{file}: some tests failed:\n{report}");
    let passed = report.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(passed > 0, "{file}: no test ran:\n{report}");
    if under_ci() {
        assert!(!report.contains("# skip"), "{file}: tests were skipped under CI:\n{report}");
    }
}

/// The bats files this test runs; `every_bats_file_runs` makes sure none is forgotten.
const BATS_FILES: &[&str] = &[
    "background.bats",
    "exclusive_run.bats",
    "exit.bats",
    "firewall.bats",
    "manual_examples.bats",
    "parse_template.bats",
    "swarm.bats",
    "variables.bats",
    "wait_for_services.bats",
];

#[test]
fn bats_background() {
    bats("background.bats");
}

#[test]
fn bats_exclusive_run() {
    bats("exclusive_run.bats");
}

#[test]
fn bats_exit() {
    bats("exit.bats");
}

#[test]
fn bats_firewall() {
    bats("firewall.bats");
}

#[test]
fn bats_manual_examples() {
    bats("manual_examples.bats");
}

#[test]
fn bats_parse_template() {
    bats("parse_template.bats");
}

#[test]
fn bats_swarm() {
    bats("swarm.bats");
}

#[test]
fn bats_variables() {
    bats("variables.bats");
}

#[test]
fn bats_wait_for_services() {
    bats("wait_for_services.bats");
}

#[test]
fn every_bats_file_runs() {
    let mut found: Vec<String> = std::fs::read_dir(crate_dir().join("tests/bats"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".bats"))
        .collect();
    found.sort();
    assert_eq!(found, BATS_FILES, "add the new bats file to BATS_FILES and give it a test");
}

#[test]
fn shellcheck_is_clean() {
    let Some(shellcheck) = tool("shellcheck", "shellcheck") else { return };
    let bats_dir = crate_dir().join("tests/bats");
    let mut files = vec![crate_dir().join("wmaic/wmaic.sh"), bats_dir.join("helpers.bash")];
    files.extend(BATS_FILES.iter().map(|f| bats_dir.join(f)));
    let out = Command::new(shellcheck).arg("--external-sources").args(&files).current_dir(&bats_dir).output().unwrap();
    assert!(
        out.status.success(),
        "shellcheck:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_embedded_library_is_the_file() {
    let file = std::fs::read_to_string(crate_dir().join("wmaic/wmaic.sh")).unwrap();
    assert_eq!(wintermute_provision::wmaic_library(), file);
}
