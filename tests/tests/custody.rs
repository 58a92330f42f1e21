//! Key custody of a real `wmais` process, seen from outside: a master key rotation that crashes in
//! the middle finishes after the next start and loses nothing; a key file others can read stops
//! the core; a backup restores into a new core on an empty data dir (also from SQLite to
//! PostgreSQL) with every secret byte-identical; and no secret ever reaches the core's log.
//! The in-process side of the same story is `core/engine/tests/custody_story.rs`.
//! On SQLite, and on PostgreSQL when WINTERMUTE_TEST_POSTGRES_URL is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wintermute_api::client::Client;
use wintermute_api::tasks::TaskState;
use wintermute_api::users::{NewGroup, NewUser, Permission, PermissionSet};
use wintermute_api::ErrorCode;
use wintermute_tests::custody::{
    backup, export_ssh_key, key_status, master_key_lines, master_key_text, restore, restore_ok, rotate_master_key,
    ssh_public_key, MASTER_KEY_FILE,
};
use wintermute_tests::{bin_path, fresh_postgres_db, wait_for, Core, CoreOptions, PostgresDb, ADMIN_PASSWORD};

const CRASH_ENV: &str = "WMAIS__DEBUG__CRASH_AFTER_REWRAPS";
const POLL: Duration = Duration::from_millis(200);
/// Covers a lease (5 s) running out on PostgreSQL before the interrupted rotation is taken over.
const ROTATION_TIMEOUT: Duration = Duration::from_secs(60);
const BACKUP_PASSPHRASE: &str = "Backup passphrase: 7 blue herons";
/// The admin password of the core that is backed up (the core it is restored into has [`ADMIN_PASSWORD`]).
const A_ADMIN_PASSWORD: &str = "Core-A-Secret-4711";
const SETTING: &str = "WMAIS_CONNECTION_ATTEMPTS";
/// The password new users get from the administrator, until they choose theirs.
const TEMP_PASSWORD: &str = "Temp-Pass-1234";

fn options(database: Option<&str>) -> CoreOptions {
    CoreOptions::new().env("WMAIS__TASKS__LEASE_SECONDS", "5").maybe_database(database)
}

/// A user with the password they chose after the temporary one.
struct Person {
    id: i64,
    login: String,
    password: String,
}

/// Creates `login` with a temporary password, then logs in as them and sets `password`.
async fn person(core: &Core, admin: &Client, login: &str, password: &str) -> Person {
    let u = admin
        .create_user(&NewUser {
            login: login.into(),
            password: TEMP_PASSWORD.into(),
            enabled: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut c = core.client().unwrap();
    c.login(login, TEMP_PASSWORD).await.unwrap();
    c.change_password(TEMP_PASSWORD, password).await.unwrap();
    Person { id: u.id, login: login.into(), password: password.into() }
}

async fn login(core: &Core, login: &str, password: &str) -> Client {
    let mut c = core.client().unwrap();
    c.login(login, password).await.unwrap_or_else(|e| panic!("{login} cannot log in: {e}"));
    c
}

/// A wrapper script that runs `wmais` with core dumps off, so that the deliberate abort leaves no
/// `core` file in the working directory.
fn no_core_dump_wmais(dir: &Path) -> PathBuf {
    let script = dir.join("wmais-no-core-dump");
    let wmais = bin_path("wmais").unwrap();
    std::fs::write(&script, format!("#!/bin/sh\nulimit -c 0\nexec '{}' \"$@\"\n", wmais.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn file_mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// --- 1. a rotation that crashes in the middle ---

async fn rotation_crash(database: Option<&str>) {
    let scripts = tempfile::tempdir().unwrap();
    let opts = options(database).binary(no_core_dump_wmais(scripts.path())).env(CRASH_ENV, "2");
    let mut core = Core::start(opts).await.unwrap();
    let admin = core.admin_client().await.unwrap();
    let original = master_key_lines(core.data_dir()).unwrap();
    assert_eq!(original.len(), 1, "one master key at first: {original:?}");
    let status = key_status(&admin).await.unwrap();
    assert_eq!(status.current_key_id, original[0].id);
    assert!(status.previous_key_ids.is_empty() && !status.rotation_in_progress, "{status:?}");

    let mut exported = BTreeMap::new();
    for name in ["ann", "ben", "cid", "dot"] {
        let u = admin
            .create_user(&NewUser {
                login: name.into(),
                password: TEMP_PASSWORD.into(),
                enabled: true,
                ..Default::default()
            })
            .await
            .unwrap();
        let public = ssh_public_key(&admin, u.id).await.unwrap();
        let private = export_ssh_key(&admin, u.id, None).await.unwrap();
        assert!(!private.encrypted && private.private_key.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        assert_eq!(private.public_key, public.public_key);
        exported.insert(u.id, private.private_key);
    }
    let status = key_status(&admin).await.unwrap();
    assert_eq!((status.data_keys, status.data_keys_on_previous), (4, 0), "a data key per user's SSH key: {status:?}");

    let task = rotate_master_key(&admin).await.unwrap();
    assert_eq!(task.kind, "keys.rotate_master", "{task:?}");
    wait_for("the core to abort in the middle of the rotation", Duration::from_secs(30), POLL, || {
        let running = core.is_running();
        async move { Ok((!running?).then_some(())) }
    })
    .await
    .unwrap();
    // terminate() on an exited core reports how it exited.
    let exit = format!("{:#}", core.terminate().await.unwrap_err());
    assert!(exit.contains("already exited") && exit.contains("signal"), "the core did not die of a signal: {exit}");
    assert!(!exit.contains("exit status: 0"), "{exit}");
    let logs = core.logs();
    assert!(logs.contains("debug.crash_after_rewraps reached"), "the abort is not the test hook's:\n{logs}");
    eprintln!("the core stopped: {exit}");

    let crashed = master_key_lines(core.data_dir()).unwrap();
    assert_eq!(crashed.len(), 2, "new current key and the old one as previous: {crashed:?}");
    assert_eq!(crashed[1], original[0], "the old key is kept as the second line");
    assert_ne!(crashed[0].id, original[0].id);
    assert_ne!(crashed[0].base64, original[0].base64);

    // Start again on the same data dir, without the crash hook.
    let mut opts = core.options();
    opts.binary = None;
    opts.env.retain(|(k, _)| k != CRASH_ENV);
    drop(core);
    let core = Core::start(opts).await.unwrap();
    let admin = core.admin_client().await.unwrap();
    let (first_id, first_key) = exported.first_key_value().unwrap();
    assert_eq!(
        &export_ssh_key(&admin, *first_id, None).await.unwrap().private_key,
        first_key,
        "keys open while the rotation is unfinished"
    );
    let done = wait_for("the interrupted rotation to finish", ROTATION_TIMEOUT, POLL, || {
        let admin = &admin;
        async move {
            let s = key_status(admin).await?;
            Ok((s.previous_key_ids.is_empty() && s.data_keys_on_previous == 0).then_some(s))
        }
    })
    .await
    .unwrap();
    assert_eq!(done.current_key_id, crashed[0].id, "the key made before the crash is current: {done:?}");
    assert_eq!(done.data_keys, 4, "{done:?}");
    assert!(!done.rotation_in_progress, "{done:?}");
    let finished = master_key_lines(core.data_dir()).unwrap();
    assert_eq!(finished, vec![crashed[0].clone()], "only the new key is left");
    assert!(!master_key_text(core.data_dir()).unwrap().contains(&original[0].base64), "the old key is gone");

    let task = wait_for("the rotation task to end", Duration::from_secs(30), POLL, || {
        let admin = &admin;
        async move {
            let t = admin.task(task.id).await?;
            Ok(t.state.is_finished().then_some(t))
        }
    })
    .await
    .unwrap();
    assert_eq!(task.state, TaskState::Succeeded, "{task:?}");
    let log: Vec<String> = admin.task_log(task.id, None).await.unwrap().into_iter().map(|l| l.line).collect();
    let log = log.join("\n");
    // The same task went on where it stopped: 2 of the 4 data keys were left to re-wrap.
    assert!(log.contains(&format!("continuing the rotation to master key {}", crashed[0].id)), "task log:\n{log}");
    assert!(log.contains("2 data keys re-wrapped"), "task log:\n{log}");
    eprintln!("rotation task after the restart: attempts {}, {:?}", task.attempts, task.message);

    for (id, key) in &exported {
        let again = export_ssh_key(&admin, *id, None).await.unwrap();
        assert_eq!(&again.private_key, key, "user {id}'s private key changed");
    }
}

#[tokio::test]
async fn rotation_survives_a_crash_in_the_middle_sqlite() {
    rotation_crash(None).await;
}

#[tokio::test]
async fn rotation_survives_a_crash_in_the_middle_postgres() {
    let Some(db) = fresh_postgres_db().unwrap() else { return };
    rotation_crash(Some(db.url())).await;
}

// --- 2. a key file others can read ---

#[tokio::test]
async fn a_key_file_readable_by_others_stops_the_core() {
    let mut core = Core::start(CoreOptions::new().startup_timeout(Duration::from_secs(30))).await.unwrap();
    let key_file = core.data_dir().join(MASTER_KEY_FILE);
    assert_eq!(file_mode(&key_file), 0o600, "the core writes its key file 0600");
    core.admin_client().await.unwrap();
    let status = core.terminate().await.unwrap();
    assert!(status.success(), "wmais exited with {status} after SIGTERM");

    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = format!("{:#}", core.restart().await.expect_err("a 0644 key file must stop the core"));
    assert!(err.contains("exited during startup"), "the core did not stop by itself: {err}");
    assert!(err.contains(&key_file.display().to_string()), "the message does not name the file: {err}");
    assert!(err.contains("chmod 600"), "the message does not say how to fix it: {err}");
    assert_eq!(file_mode(&key_file), 0o644, "the core does not change the mode itself");

    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    core.restart().await.unwrap();
    let admin = core.admin_client().await.unwrap();
    key_status(&admin).await.unwrap();
}

// --- 3. backup, wipe, restore ---

async fn backup_wipe_restore(a_db: Option<PostgresDb>, b_db: Option<PostgresDb>) {
    // Core A, with some state.
    let mut a = Core::start(options(a_db.as_ref().map(PostgresDb::url))).await.unwrap();
    let admin = a.admin_client().await.unwrap();
    admin.change_password(ADMIN_PASSWORD, A_ADMIN_PASSWORD).await.unwrap();
    let admin = login(&a, "admin", A_ADMIN_PASSWORD).await;
    let people =
        [person(&a, &admin, "alice", "Wonder-Land-5678").await, person(&a, &admin, "bob", "Build-It-9012").await];
    let group = admin
        .create_group(&NewGroup {
            name: "night-shift".into(),
            description: "keeps the lights on".into(),
            members: people.iter().map(|p| p.id).collect(),
        })
        .await
        .unwrap();
    admin.set_setting(SETTING, serde_json::json!(7)).await.unwrap();
    let mut keys = BTreeMap::new();
    for p in &people {
        keys.insert(p.id, export_ssh_key(&admin, p.id, None).await.unwrap().private_key);
    }
    let a_status = key_status(&admin).await.unwrap();
    let a_backend = if a_db.is_some() { "postgres" } else { "sqlite" };

    let archive = backup(&admin, BACKUP_PASSPHRASE).await.unwrap();
    assert!(archive.len() > 1000, "a backup of {} bytes", archive.len());
    for p in &people {
        let body_line = keys[&p.id].lines().nth(2).unwrap();
        assert!(!contains(&archive, body_line) && !contains(&archive, &p.password), "the archive is encrypted");
    }
    let a_key_text = master_key_text(a.data_dir()).unwrap();

    // Wipe A: process, data directory (master key included) and database.
    a.kill().await.unwrap();
    let a_dir = a.data_dir().to_owned();
    std::fs::remove_dir_all(&a_dir).unwrap();
    assert!(!a_dir.exists());
    drop(a_db);

    // Core B, new and empty.
    let mut b = Core::start(options(b_db.as_ref().map(PostgresDb::url))).await.unwrap();
    let b_admin = b.admin_client().await.unwrap(); // temporary password replaced by ADMIN_PASSWORD
    let b_key_text = master_key_text(b.data_dir()).unwrap();
    assert_ne!(b_key_text, a_key_text, "a new core has a master key of its own");

    let wrong = restore(&b_admin, &archive, "not the passphrase at all").await.unwrap();
    assert_eq!(wrong.status, 422, "{}", String::from_utf8_lossy(&wrong.body));
    assert_eq!(wrong.error().unwrap().code, ErrorCode::WrongPassphrase);
    let users = b_admin.users().await.unwrap();
    assert_eq!(users.iter().map(|u| u.login.as_str()).collect::<Vec<_>>(), ["admin"], "B unchanged");
    assert!(b_admin.groups().await.unwrap().is_empty(), "B unchanged");
    assert_eq!(b_admin.setting(SETTING).await.unwrap().value, serde_json::json!(50), "B unchanged");
    assert_eq!(master_key_text(b.data_dir()).unwrap(), b_key_text, "B's master key unchanged");

    let summary = restore_ok(&b_admin, &archive, BACKUP_PASSPHRASE).await.unwrap();
    assert_eq!(summary.source_backend, a_backend, "{summary:?}");
    assert!(summary.tables >= 20 && summary.rows > 0, "{summary:?}");
    eprintln!("restored {summary:?}");
    assert_eq!(
        b_admin.whoami().await.unwrap_err().code(),
        Some(ErrorCode::Unauthorized),
        "B's own session ended with the restore"
    );
    let mut b_before = b.client().unwrap();
    assert_eq!(
        b_before.login("admin", ADMIN_PASSWORD).await.unwrap_err().code(),
        Some(ErrorCode::InvalidCredentials),
        "B's admin password before the restore is gone with B's database"
    );
    assert_eq!(master_key_text(b.data_dir()).unwrap(), a_key_text, "B holds A's master key now");
    assert_eq!(file_mode(&b.data_dir().join(MASTER_KEY_FILE)), 0o600);

    let check_b = |b: &Core| {
        let (people, keys, group) = (&people, &keys, &group);
        let (b_url, a_key_id) = (b.url().to_owned(), a_status.current_key_id.clone());
        async move {
            let mut admin = Client::new(&b_url).unwrap();
            admin.login("admin", A_ADMIN_PASSWORD).await.expect("A's admin password opens B");
            for p in people {
                let mut c = Client::new(&b_url).unwrap();
                let r =
                    c.login(&p.login, &p.password).await.unwrap_or_else(|e| panic!("{} cannot log in: {e}", p.login));
                assert_eq!(r.user.id, p.id);
                assert!(!r.user.must_change_password, "{:?}", r.user);
                assert_eq!(&export_ssh_key(&admin, p.id, None).await.unwrap().private_key, &keys[&p.id], "{}", p.login);
            }
            assert_eq!(admin.setting(SETTING).await.unwrap().value, serde_json::json!(7));
            let groups = admin.groups().await.unwrap();
            let g = groups.iter().find(|g| g.name == group.name).expect("the group is back");
            assert_eq!(g.id, group.id);
            assert_eq!(
                g.members.iter().map(|m| m.id).collect::<Vec<_>>(),
                people.iter().map(|p| p.id).collect::<Vec<_>>()
            );
            let s = key_status(&admin).await.unwrap();
            assert_eq!(s.current_key_id, a_key_id, "{s:?}");
            assert!(s.previous_key_ids.is_empty() && s.data_keys_on_previous == 0, "{s:?}");
            admin
        }
    };
    let admin = check_b(&b).await;
    let again = restore(&admin, &archive, BACKUP_PASSPHRASE).await.unwrap();
    assert_eq!(again.status, 409, "only into a fresh core: {}", String::from_utf8_lossy(&again.body));
    assert_eq!(again.error().unwrap().code, ErrorCode::Conflict);
    // Ids go on after the restored ones (PostgreSQL sequences moved past them).
    let newcomer = admin
        .create_user(&NewUser {
            login: "newcomer".into(),
            password: TEMP_PASSWORD.into(),
            enabled: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(people.iter().all(|p| newcomer.id > p.id), "{newcomer:?}");

    // Everything still opens after a restart of B.
    let status = b.terminate().await.unwrap();
    assert!(status.success(), "wmais exited with {status} after SIGTERM");
    b.restart().await.unwrap();
    check_b(&b).await;
    assert_eq!(master_key_text(b.data_dir()).unwrap(), a_key_text);
    drop(b);
    drop(b_db);
}

#[tokio::test]
async fn backup_wipe_restore_sqlite() {
    backup_wipe_restore(None, None).await;
}

#[tokio::test]
async fn backup_wipe_restore_postgres() {
    let Some(a) = fresh_postgres_db().unwrap() else { return };
    let b = fresh_postgres_db().unwrap();
    backup_wipe_restore(Some(a), b).await;
}

#[tokio::test]
async fn backup_wipe_restore_sqlite_to_postgres() {
    let Some(b) = fresh_postgres_db().unwrap() else { return };
    backup_wipe_restore(None, Some(b)).await;
}

// --- 4. no secret in the log ---

fn contains(hay: &[u8], needle: &str) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The base64 lines between the BEGIN and END lines of an OpenSSH private key.
fn key_body_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        // The short last line could match by chance.
        .filter(|l| l.len() >= 16)
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn no_secret_in_the_core_log() {
    let mut core = Core::start(CoreOptions::new().env("RUST_LOG", "trace")).await.unwrap();
    let admin = core.admin_client().await.unwrap();
    let carol = person(&core, &admin, "carol", "Chosen-By-Her-7781").await;
    admin.set_permissions(carol.id, &PermissionSet { permissions: vec![Permission::DownloadSshKeys] }).await.unwrap();
    let as_carol = login(&core, &carol.login, &carol.password).await;
    let mut stranger = core.client().unwrap();
    let wrong_password = "Not-Her-Password-3131";
    assert_eq!(stranger.login("carol", wrong_password).await.unwrap_err().code(), Some(ErrorCode::InvalidCredentials));

    let export_passphrase = "export passphrase 42 swans";
    let plain = export_ssh_key(&as_carol, carol.id, None).await.unwrap();
    let protected = export_ssh_key(&as_carol, carol.id, Some(export_passphrase)).await.unwrap();
    assert!(protected.encrypted && protected.private_key != plain.private_key);
    let by_admin = export_ssh_key(&admin, carol.id, None).await.unwrap();
    assert_eq!(by_admin.private_key, plain.private_key);
    let archive = backup(&admin, BACKUP_PASSPHRASE).await.unwrap();
    assert!(!archive.is_empty());
    let master = master_key_lines(core.data_dir()).unwrap();

    let mut secrets: Vec<(String, String)> = vec![
        ("the admin's password".into(), ADMIN_PASSWORD.into()),
        ("carol's temporary password".into(), TEMP_PASSWORD.into()),
        ("carol's password".into(), carol.password.clone()),
        ("a wrong password".into(), wrong_password.into()),
        ("the export passphrase".into(), export_passphrase.into()),
        ("the backup passphrase".into(), BACKUP_PASSPHRASE.into()),
        ("the admin's session token".into(), admin.token().unwrap().into()),
        ("carol's session token".into(), as_carol.token().unwrap().into()),
    ];
    secrets.extend(master.iter().map(|k| (format!("master key {}", k.id), k.base64.clone())));
    for (what, pem) in [("the private key", &plain.private_key), ("the protected private key", &protected.private_key)]
    {
        let lines = key_body_lines(pem);
        assert!(lines.len() >= 3, "{what} has a body: {pem}");
        secrets.extend(lines.into_iter().enumerate().map(|(i, l)| (format!("line {} of {what}", i + 1), l)));
    }

    let status = core.terminate().await.unwrap();
    assert!(status.success(), "wmais exited with {status} after SIGTERM");
    let log = core.logs();
    assert!(log.lines().count() > 50, "a trace log has much more to say:\n{log}");
    assert!(
        log.contains("/ssh-key/export") && log.contains("/api/v1/admin/backup"),
        "the log has no request lines:\n{}",
        core.logs_tail(50)
    );
    let leaks: Vec<&str> =
        secrets.iter().filter(|(_, s)| contains(log.as_bytes(), s)).map(|(what, _)| what.as_str()).collect();
    assert!(leaks.is_empty(), "the core's log holds {leaks:?} ({} lines of log checked)", log.lines().count());
    eprintln!("{} secrets checked against {} lines of log", secrets.len(), log.lines().count());
}
