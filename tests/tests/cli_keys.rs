//! Key custody through `wmai` against real cores: users' SSH keys (shown, exported as real
//! OpenSSH checks them, refused without the permission, audited), the master key (status,
//! rotation that leaves every key readable), and an encrypted backup restored into a second,
//! fresh core where bob logs in with his old password and gets the very same private key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::Value;
use wintermute_tests::{Core, CoreOptions, Wmai, ADMIN_PASSWORD};

const BOB_TEMP_PASSWORD: &str = "Temporary-Pw-42";
const BOB_PASSWORD: &str = "Own-Secret-Pw-77";
const KEY_PASSPHRASE: &str = "bob's key passphrase";
const BACKUP_PASSPHRASE: &str = "backup passphrase 2024";
const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";

/// Logs `wmai` in to a fresh core as admin and replaces the temporary password.
async fn first_admin_login(core: &Core, admin: &Wmai, url: &str) {
    let temp = core.admin_password().unwrap();
    admin
        .run_with_stdin(&["login", url, "--user", "admin", "--password-stdin"], &format!("{temp}\n"))
        .await
        .expect_code(0);
    admin.run_with_stdin(&["passwd", "--stdin"], &format!("{temp}\n{ADMIN_PASSWORD}\n")).await.expect_code(0);
}

async fn login(who: &Wmai, url: &str, user: &str, password: &str) {
    who.run_with_stdin(&["login", url, "--user", user, "--password-stdin"], &format!("{password}\n"))
        .await
        .expect_code(0);
}

/// `ssh-keygen ARGS`: (success, stdout, stderr).
fn ssh_keygen(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(SSH_KEYGEN).args(args).output().unwrap_or_else(|e| panic!("running {SSH_KEYGEN}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The type and base64 of an OpenSSH public key line, without its comment.
fn key_material(line: &str) -> String {
    line.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn key_custody_through_wmai() {
    assert!(Path::new(SSH_KEYGEN).exists(), "this test needs OpenSSH's ssh-keygen at {SSH_KEYGEN}");
    let started = Instant::now();
    let files = tempfile::tempdir().unwrap();
    let dir = files.path();

    // --- the first core: admin and bob ---
    let core = Core::start(CoreOptions::new()).await.unwrap();
    let url = core.url().trim_end_matches('/').to_owned();
    let admin = Wmai::new().unwrap();
    let bob = Wmai::new().unwrap();
    first_admin_login(&core, &admin, &url).await;
    admin
        .run_with_stdin(&["users", "create", "bob", "--password-stdin"], &format!("{BOB_TEMP_PASSWORD}\n"))
        .await
        .expect_code(0);
    login(&bob, &url, "bob", BOB_TEMP_PASSWORD).await;
    bob.run_with_stdin(&["passwd", "--stdin"], &format!("{BOB_TEMP_PASSWORD}\n{BOB_PASSWORD}\n")).await.expect_code(0);

    // --- public keys ---
    let mine = admin.run(&["ssh-key", "--json"]).await.expect_code(0).json();
    let admin_key = mine["public_key"].as_str().unwrap().to_owned();
    assert!(admin_key.starts_with("ssh-ed25519 AAAA"), "{mine}");
    assert!(mine["fingerprint"].as_str().unwrap().starts_with("SHA256:"), "{mine}");
    let bob_pub = bob.run(&["ssh-key", "show", "--json"]).await.expect_code(0).json();
    let bob_key = bob_pub["public_key"].as_str().unwrap().to_owned();
    assert!(bob_key.starts_with("ssh-ed25519 AAAA") && bob_key != admin_key, "{bob_pub}");
    // The administrator sees bob's by login; bob sees his by his own login without listing users.
    let seen = admin.run(&["ssh-key", "bob", "--json"]).await.expect_code(0).json();
    assert_eq!(seen, bob_pub);
    let shown = bob.run(&["ssh-key", "show", "bob"]).await.expect_code(0).expect_stdout("Fingerprint: SHA256:");
    assert_eq!(shown.stdout.lines().next(), Some(bob_key.as_str()), "the key line comes first\n{shown}");
    // Other users' keys are the administrators': bob does not even see the login, and the id is refused.
    bob.run(&["ssh-key", "show", "admin"]).await.expect_error(5, "not_found");
    let admin_id = admin.run(&["whoami", "--json"]).await.expect_code(0).json()["id"].as_i64().unwrap();
    bob.run(&["ssh-key", "show", &admin_id.to_string()]).await.expect_error(4, "forbidden");
    bob.run(&["ssh-key", "rotate", "bob"]).await.expect_error(4, "forbidden");
    admin.run(&["ssh-key", "show", "nosuchuser"]).await.expect_error(5, "not_found");
    // The administrator's own key, rotated: a new key, bob's untouched.
    let rotated = admin.run(&["ssh-key", "rotate", "admin", "--json"]).await.expect_code(0).json();
    assert_ne!(rotated["public_key"], Value::String(admin_key.clone()), "{rotated}");
    assert_eq!(admin.run(&["ssh-key", "bob", "--json"]).await.expect_code(0).json(), bob_pub);

    // --- export: refused without the permission, then allowed ---
    let key_file = dir.join("bob_ed25519");
    let key_path = path_str(&key_file);
    bob.run(&["ssh-key", "export", "-o", key_path, "--no-passphrase"]).await.expect_error(4, "forbidden");
    assert!(names(dir).is_empty(), "a refused export left files: {:?}", names(dir));
    // No terminal and no flag: a usage error, not a hang.
    bob.run(&["ssh-key", "export", "-o", key_path]).await.expect_error(2, "--no-passphrase");

    admin.run(&["users", "permissions", "bob", "download_ssh_keys"]).await.expect_code(0);
    bob.run(&["ssh-key", "export", "-o", key_path, "--no-passphrase"])
        .await
        .expect_code(0)
        .expect_stdout("without a passphrase");
    assert_eq!(mode(&key_file), 0o600);
    assert_eq!(names(dir), ["bob_ed25519"], "temporary files left");
    let exported = std::fs::read(&key_file).unwrap();
    let exported_text = String::from_utf8(exported.clone()).unwrap();
    assert!(exported_text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"), "{exported_text}");
    let (ok, out, err) = ssh_keygen(&["-y", "-P", "", "-f", key_path]);
    assert!(ok, "ssh-keygen -y failed: {err}");
    assert_eq!(key_material(&out), key_material(&bob_key), "ssh-keygen derives another public key");

    // Never replaced silently; --force does; stdout gives the same bytes.
    bob.run(&["ssh-key", "export", "-o", key_path, "--no-passphrase"]).await.expect_error(6, "--force");
    assert_eq!(std::fs::read(&key_file).unwrap(), exported);
    bob.run(&["ssh-key", "export", "-o", key_path, "--no-passphrase", "--force"]).await.expect_code(0);
    assert_eq!(std::fs::read(&key_file).unwrap(), exported, "an unencrypted export is stable");
    let to_stdout = bob.run(&["ssh-key", "export", "--no-passphrase"]).await.expect_code(0);
    assert_eq!(to_stdout.stdout.as_bytes(), &exported[..]);

    // With a passphrase: OpenSSH needs it, and only it.
    let locked_file = dir.join("bob_locked");
    let locked = path_str(&locked_file);
    let out = bob
        .run_with_stdin(
            &["ssh-key", "export", "-o", locked, "--passphrase-stdin", "--json"],
            &format!("{KEY_PASSPHRASE}\n"),
        )
        .await
        .expect_code(0);
    let json = out.json();
    assert_eq!(json["encrypted"], true, "{json}");
    assert!(json.get("private_key").is_none(), "the key is printed with -o: {json}");
    assert!(!out.stdout.contains("PRIVATE KEY"), "{out}");
    assert_eq!(mode(&locked_file), 0o600);
    let (ok, out, err) = ssh_keygen(&["-y", "-P", KEY_PASSPHRASE, "-f", locked]);
    assert!(ok, "ssh-keygen -y -P <passphrase> failed: {err}");
    assert_eq!(key_material(&out), key_material(&bob_key));
    let (ok, _, _) = ssh_keygen(&["-y", "-P", "not the passphrase", "-f", locked]);
    assert!(!ok, "ssh-keygen opened the key with a wrong passphrase");
    let short_file = dir.join("short");
    bob.run_with_stdin(&["ssh-key", "export", "-o", path_str(&short_file), "--passphrase-stdin"], "short\n")
        .await
        .expect_error(6, "passphrase");
    assert!(!short_file.exists());

    // Every export is in the audit log, the refused one too.
    let audit =
        admin.run(&["audit", "--json", "--action", "ssh_key.export", "--limit", "50"]).await.expect_code(0).json();
    let outcomes: Vec<&str> =
        audit["items"].as_array().unwrap().iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert!(outcomes.contains(&"denied") && outcomes.contains(&"success"), "{audit}");
    assert!(audit["items"].as_array().unwrap().iter().all(|e| e["actor_login"] == "bob"), "{audit}");

    // No instance exists: no host key either.
    admin.run(&["host-key", "show", "4242"]).await.expect_error(5, "not_found");

    // --- the master key: status, rotation ---
    let keys = admin.run(&["admin", "keys", "--json"]).await.expect_code(0).json();
    assert_eq!(keys["store"], "file", "{keys}");
    assert_eq!(keys["rotation_in_progress"], false, "{keys}");
    assert!(keys["data_keys"].as_i64().unwrap() >= 1, "{keys}");
    let old_key_id = keys["current_key_id"].as_str().unwrap().to_owned();
    admin.run(&["admin", "keys"]).await.expect_code(0).expect_stdout(&old_key_id);
    bob.run(&["admin", "keys"]).await.expect_error(4, "forbidden");
    bob.run(&["admin", "rotate-master-key"]).await.expect_error(4, "forbidden");

    admin
        .run(&["admin", "rotate-master-key", "--follow"])
        .await
        .expect_code(0)
        .expect_stdout("Started task")
        .expect_stdout("succeeded");
    let keys = admin.run(&["admin", "keys", "--json"]).await.expect_code(0).json();
    let new_key_id = keys["current_key_id"].as_str().unwrap().to_owned();
    assert_ne!(new_key_id, old_key_id, "{keys}");
    assert_eq!(keys["previous_key_ids"], serde_json::json!([]), "{keys}");
    assert_eq!(keys["data_keys_on_previous"], 0, "{keys}");
    bob.run(&["ssh-key", "export", "-o", key_path, "--no-passphrase", "--force"]).await.expect_code(0);
    assert_eq!(std::fs::read(&key_file).unwrap(), exported, "the key changed with the master key");

    // --- backup ---
    let backup_file = dir.join("core.backup");
    let backup = path_str(&backup_file);
    bob.run_with_stdin(&["admin", "backup", backup, "--passphrase-stdin"], &format!("{BACKUP_PASSPHRASE}\n"))
        .await
        .expect_error(4, "forbidden");
    assert!(!backup_file.exists() && !dir.join("core.backup.part").exists(), "{:?}", names(dir));
    admin.run_with_stdin(&["admin", "backup", backup, "--passphrase-stdin"], "too short\n").await.expect_error(6, "12");
    admin.run(&["admin", "backup", backup]).await.expect_error(2, "--passphrase-stdin");
    assert!(!backup_file.exists());

    let out = admin
        .run_with_stdin(&["admin", "backup", backup, "--passphrase-stdin"], &format!("{BACKUP_PASSPHRASE}\n"))
        .await
        .expect_code(0)
        .expect_stdout("cannot be recovered");
    assert_eq!(mode(&backup_file), 0o600);
    assert!(!dir.join("core.backup.part").exists(), "{out}");
    let archive = std::fs::read(&backup_file).unwrap();
    assert!(archive.len() > 1000, "{} bytes\n{out}", archive.len());
    let body: String = exported_text.lines().filter(|l| !l.starts_with("-----")).collect::<Vec<_>>().concat();
    let haystack = String::from_utf8_lossy(&archive);
    for needle in ["OPENSSH PRIVATE KEY", body.as_str(), exported_text.lines().nth(1).unwrap(), BOB_PASSWORD] {
        assert!(!haystack.contains(needle), "the backup holds {needle:?} in the clear");
    }
    admin
        .run_with_stdin(&["admin", "backup", backup, "--passphrase-stdin"], &format!("{BACKUP_PASSPHRASE}\n"))
        .await
        .expect_error(6, "--force");
    assert_eq!(std::fs::read(&backup_file).unwrap(), archive, "a refused backup touched the file");

    // --- restore into a second, fresh core ---
    let core2 = Core::start(CoreOptions::new()).await.unwrap();
    let url2 = core2.url().trim_end_matches('/').to_owned();
    let admin2 = Wmai::new().unwrap();
    first_admin_login(&core2, &admin2, &url2).await;
    admin2
        .run_with_stdin(&["admin", "restore", backup, "--passphrase-stdin"], "not the backup passphrase\n")
        .await
        .expect_error(6, "wrong_passphrase");
    admin2.run(&["whoami"]).await.expect_code(0);
    let out = admin2
        .run_with_stdin(&["admin", "restore", backup, "--passphrase-stdin"], &format!("{BACKUP_PASSPHRASE}\n"))
        .await
        .expect_code(0)
        .expect_stdout("Restored")
        .expect_stdout("wmai login");
    // The local token is forgotten.
    admin2.run(&["whoami"]).await.expect_error(3, "not_logged_in");
    assert!(
        !std::fs::read_to_string(admin2.config_dir().join("tokens.json")).unwrap_or_default().contains(&url2),
        "{out}"
    );

    // bob, with his password of the first core, gets the very same key.
    let bob2 = Wmai::new().unwrap();
    login(&bob2, &url2, "bob", BOB_PASSWORD).await;
    let again_file = dir.join("bob_again");
    bob2.run(&["ssh-key", "export", "-o", path_str(&again_file), "--no-passphrase"]).await.expect_code(0);
    assert_eq!(std::fs::read(&again_file).unwrap(), exported, "the restored core exports another key");
    assert_eq!(bob2.run(&["ssh-key", "--json"]).await.expect_code(0).json(), bob_pub);

    // The master key came along; a second restore is refused: the core is no longer fresh.
    login(&admin2, &url2, "admin", ADMIN_PASSWORD).await;
    let keys2 = admin2.run(&["admin", "keys", "--json"]).await.expect_code(0).json();
    assert_eq!(keys2["current_key_id"], Value::String(new_key_id), "{keys2}");
    admin2
        .run_with_stdin(&["admin", "restore", backup, "--passphrase-stdin"], &format!("{BACKUP_PASSPHRASE}\n"))
        .await
        .expect_error(6, "conflict");

    eprintln!("key custody through wmai: {:.1} s", started.elapsed().as_secs_f64());
}
