//! Keys exported by `UserKeyPair` are accepted by the real OpenSSH `ssh-keygen`.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wintermute_custody::{host_key_fingerprint, UserKeyPair};

fn ssh_keygen() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/bin/ssh-keygen");
    if path.exists() {
        Some(path)
    } else {
        println!("note: /usr/bin/ssh-keygen is missing (install openssh-client); skipping the interop test");
        None
    }
}

fn write_private(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).unwrap();
    file.write_all(pem.as_bytes()).unwrap();
    path
}

fn run(keygen: &Path, args: &[&str]) -> Output {
    Command::new(keygen).args(args).stdin(std::process::Stdio::null()).output().unwrap()
}

/// `ssh-ed25519 AAAA...` without the comment.
fn key_part(line: &str) -> String {
    line.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

#[test]
fn encrypted_export_opens_with_ssh_keygen() {
    let Some(keygen) = ssh_keygen() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pair = UserKeyPair::generate("alice@wintermute");
    let pem = pair.export_openssh(Some("s3cret pass")).unwrap();
    let path = write_private(dir.path(), "id_ed25519", pem.expose());
    let path = path.to_str().unwrap();

    let out = run(&keygen, &["-y", "-P", "s3cret pass", "-f", path]);
    assert!(out.status.success(), "ssh-keygen refused the key: {}", String::from_utf8_lossy(&out.stderr));
    let public = String::from_utf8(out.stdout).unwrap();
    assert_eq!(key_part(&public), key_part(&pair.public_openssh()));

    let out = run(&keygen, &["-y", "-P", "not the passphrase", "-f", path]);
    assert!(!out.status.success(), "ssh-keygen accepted a wrong passphrase");
    assert!(out.stdout.is_empty());
}

#[test]
fn unencrypted_export_and_fingerprint_match_ssh_keygen() {
    let Some(keygen) = ssh_keygen() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pair = UserKeyPair::generate("bob@wintermute");
    let path = write_private(dir.path(), "id_ed25519", pair.private_openssh().unwrap().expose());
    let path_str = path.to_str().unwrap();

    let out = run(&keygen, &["-y", "-P", "", "-f", path_str]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(key_part(&String::from_utf8(out.stdout).unwrap()), key_part(&pair.public_openssh()));

    let public_path = dir.path().join("id_ed25519.pub");
    fs::write(&public_path, format!("{}\n", pair.public_openssh())).unwrap();
    let out = run(&keygen, &["-l", "-E", "sha256", "-f", public_path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = String::from_utf8(out.stdout).unwrap();
    // "256 SHA256:... bob@wintermute (ED25519)"
    let fingerprint = listed.split_whitespace().nth(1).unwrap();
    assert_eq!(fingerprint, pair.fingerprint_sha256());
    assert_eq!(fingerprint, host_key_fingerprint(&pair.public_openssh()).unwrap());
}

#[test]
fn keys_made_by_ssh_keygen_import_and_fingerprint_alike() {
    let Some(keygen) = ssh_keygen() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("made_by_openssh");
    let key_str = key.to_str().unwrap();
    let out = run(&keygen, &["-q", "-t", "ed25519", "-N", "pw here", "-C", "carol", "-f", key_str]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let pem = fs::read_to_string(&key).unwrap();
    let pair = UserKeyPair::from_encrypted_openssh(&pem, "pw here").unwrap();
    let public = fs::read_to_string(dir.path().join("made_by_openssh.pub")).unwrap();
    assert_eq!(key_part(&pair.public_openssh()), key_part(&public));
    assert!(matches!(
        UserKeyPair::from_encrypted_openssh(&pem, "wrong"),
        Err(wintermute_custody::CustodyError::WrongPassphrase)
    ));

    // Any key type works for host key fingerprints: an ECDSA one, as many hosts have.
    let host = dir.path().join("host_ecdsa");
    let out = run(&keygen, &["-q", "-t", "ecdsa", "-N", "", "-f", host.to_str().unwrap()]);
    assert!(out.status.success());
    let host_pub = dir.path().join("host_ecdsa.pub");
    let out = run(&keygen, &["-l", "-E", "sha256", "-f", host_pub.to_str().unwrap()]);
    let listed = String::from_utf8(out.stdout).unwrap();
    let line = fs::read_to_string(&host_pub).unwrap();
    assert_eq!(host_key_fingerprint(&line).unwrap(), listed.split_whitespace().nth(1).unwrap());
}
