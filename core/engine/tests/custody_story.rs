//! Key custody end to end inside the engine, on SQLite and PostgreSQL: SSH keys, volume keys,
//! sealed secrets, host keys, tamper detection, rotation, backup and restore — and no plaintext
//! secret in the database files or in the log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wintermute_api::tasks::TaskState;
use wintermute_api::users::{NewUser, Permission, PermissionSet};
use wintermute_api::ErrorCode;
use wintermute_core::custody::{HostKeyCheck, BACKUP_TABLES};
use wintermute_core::store::Backend;
use wintermute_core::testing::{backends, TestDatabase};
use wintermute_core::{Caller, Config, CoreError, Engine};

/// Everything logged by this test binary, at every level.
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> LogBuf {
    static BUF: std::sync::OnceLock<LogBuf> = std::sync::OnceLock::new();
    BUF.get_or_init(|| {
        let buf = LogBuf::default();
        let w = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
            .with_writer(move || w.clone())
            .with_ansi(false)
            .try_init();
        buf
    })
    .clone()
}

async fn open(db_url: &str, data_dir: &std::path::Path) -> Result<(Engine, Option<String>), CoreError> {
    let mut config = Config::default();
    config.database.url = db_url.to_owned();
    config.storage.data_dir = data_dir.to_owned();
    Engine::open(config).await.map(|(e, f)| (e, f.map(|f| f.password)))
}

async fn login(engine: &Engine, user: &str, pw: &str) -> Caller {
    let r = engine.login(user, pw, None).await.unwrap();
    engine.authenticate(&r.token, None).await.unwrap()
}

async fn admin_of(engine: &Engine, temp: &str) -> Caller {
    let a = login(engine, "admin", temp).await;
    engine.change_own_password(&a, temp, "Adm1n-Strong-Pass").await.unwrap();
    login(engine, "admin", "Adm1n-Strong-Pass").await
}

async fn volume_passphrase(engine: &Engine, volume: i64) -> Vec<u8> {
    let mut out = Vec::new();
    engine.write_volume_passphrase(volume, &mut out).await.unwrap();
    out
}

async fn raw_dump(engine: &Engine, db: &TestDatabase, data_dir: &std::path::Path) -> Vec<u8> {
    match db.backend {
        Backend::Sqlite => {
            // The database file and its write-ahead log, byte for byte.
            let mut all = Vec::new();
            for entry in std::fs::read_dir(
                std::path::Path::new(db.url.trim_start_matches("sqlite://").split('?').next().unwrap())
                    .parent()
                    .unwrap(),
            )
            .unwrap()
            {
                let p = entry.unwrap().path();
                if p.to_string_lossy().contains("test.db") {
                    all.extend(std::fs::read(&p).unwrap());
                }
            }
            let _ = data_dir;
            all
        }
        Backend::Postgres => {
            let _ = engine;
            let out =
                std::process::Command::new("pg_dump").arg("--data-only").arg(&db.url).output().expect("pg_dump runs");
            assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
            out.stdout
        }
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

async fn story(backend: Backend) {
    let logs = capture_logs();
    let db = TestDatabase::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, temp) = open(&db.url, dir.path()).await.unwrap();
    let stop = CancellationToken::new();
    engine.start(stop.clone());
    let admin = admin_of(&engine, &temp.unwrap()).await;

    // The master key is a 0600 file in the data directory, never in the database.
    let key_file = dir.path().join("master.key");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key_file).unwrap().permissions()) & 0o777;
    assert_eq!(mode, 0o600);
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    let master_b64 = key_text.split_whitespace().nth(2).unwrap().to_owned();

    // --- SSH keys ---
    let alice = engine
        .users_create(
            &admin,
            &NewUser { login: "alice".into(), password: "Temp-Pass-1234".into(), enabled: true, ..Default::default() },
        )
        .await
        .unwrap();
    let a = login(&engine, "alice", "Temp-Pass-1234").await;
    engine.change_own_password(&a, "Temp-Pass-1234", "Wonder-Land-5678").await.unwrap();
    let a = login(&engine, "alice", "Wonder-Land-5678").await;
    let public = engine.ssh_public_key(&a, alice.id).await.unwrap();
    assert!(public.public_key.starts_with("ssh-ed25519 ") && public.public_key.ends_with("alice@wintermute"));
    assert_eq!(engine.ssh_public_key(&a, alice.id).await.unwrap(), public, "made once");
    assert_eq!(engine.ssh_public_key(&a, admin.user_id).await.unwrap_err().code(), ErrorCode::Forbidden);
    assert_eq!(engine.ssh_public_key(&admin, alice.id).await.unwrap(), public, "admins read anyone's");
    assert_eq!(
        engine.ssh_export(&a, alice.id, None).await.unwrap_err().code(),
        ErrorCode::Forbidden,
        "needs the permission"
    );
    engine
        .users_set_permissions(&admin, alice.id, &PermissionSet { permissions: vec![Permission::DownloadSshKeys] })
        .await
        .unwrap();
    let a = login(&engine, "alice", "Wonder-Land-5678").await;
    let private = engine.ssh_export(&a, alice.id, None).await.unwrap();
    let alice_token = engine.login("alice", "Wonder-Land-5678", None).await.unwrap().token;
    assert!(private.private_key.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    let protected = engine.ssh_export(&a, alice.id, Some("correct horse battery")).await.unwrap();
    assert!(protected.encrypted && protected.private_key != private.private_key);
    assert_eq!(
        engine.ssh_export(&a, admin.user_id, None).await.unwrap_err().code(),
        ErrorCode::Forbidden,
        "not someone else's"
    );
    let audit = engine.audit_list(&admin, &Default::default()).await.unwrap().items;
    assert!(audit
        .iter()
        .any(|e| e.action == "ssh_key.export" && e.outcome == wintermute_api::audit::AuditOutcome::Denied));
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "ssh_key.export" && e.outcome == wintermute_api::audit::AuditOutcome::Success)
            .count(),
        2
    );
    let pem_line = private.private_key.lines().nth(2).unwrap().to_owned();

    // --- volume keys and sealed secrets ---
    let now = chrono::Utc::now().timestamp_millis();
    for _ in 0..2 {
        sqlx::query(
            "INSERT INTO volumes (owner_id, size_gb, encrypted, created_at, updated_at) VALUES ($1, 1, 1, $2, $2)",
        )
        .bind(alice.id)
        .bind(now)
        .execute(engine.store().pool())
        .await
        .unwrap();
    }
    engine.create_volume_key(1).await.unwrap();
    engine.create_volume_key(2).await.unwrap();
    let vk1 = volume_passphrase(&engine, 1).await;
    assert_eq!(vk1.len(), 65);
    assert!(vk1[..64].iter().all(u8::is_ascii_hexdigit) && vk1[64] == b'\n');
    engine.create_volume_key(1).await.unwrap();
    assert_eq!(volume_passphrase(&engine, 1).await, vk1, "a second create keeps the first key");
    assert_ne!(volume_passphrase(&engine, 2).await, vk1);
    let vk1_text = String::from_utf8(vk1[..64].to_vec()).unwrap();
    engine.put_secret("provider", 1, "secret_access_key", b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").await.unwrap();
    engine.put_secret("provider", 2, "secret_access_key", b"another-cloud-secret-0123456789").await.unwrap();
    assert_eq!(
        engine.get_secret("provider", 1, "secret_access_key").await.unwrap().unwrap().expose(),
        b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    );

    // --- host keys ---
    sqlx::query(
        "INSERT INTO instances (owner_id, name, status, created_at, updated_at) VALUES ($1, 'web', 'running', $2, $2)",
    )
    .bind(alice.id)
    .bind(now)
    .execute(engine.store().pool())
    .await
    .unwrap();
    Engine::register_object(engine.store().pool(), wintermute_api::rights::ObjectKind::Instance, 1, alice.id, "web")
        .await
        .unwrap();
    let host_a = wintermute_custody::UserKeyPair::generate("host-a").public_openssh();
    let host_b = wintermute_custody::UserKeyPair::generate("host-b").public_openssh();
    assert_eq!(engine.check_host_key(1, &host_a).await.unwrap(), HostKeyCheck::Pinned);
    assert_eq!(engine.check_host_key(1, &host_a).await.unwrap(), HostKeyCheck::Matches);
    let changed = engine.check_host_key(1, &host_b).await.unwrap_err();
    assert_eq!(changed.code(), ErrorCode::HostKeyChanged);
    assert!(changed.to_string().contains("SHA256:"), "{changed}");
    assert_eq!(engine.check_host_key(1, &host_b).await.unwrap_err().code(), ErrorCode::HostKeyChanged, "still refused");
    let hk = engine.host_key(&a, 1).await.unwrap();
    assert!(hk.pending_change.is_some());
    assert_eq!(engine.accept_host_key(&a, 1).await.unwrap_err().code(), ErrorCode::Forbidden, "only admins accept");
    engine.accept_host_key(&admin, 1).await.unwrap();
    assert_eq!(engine.check_host_key(1, &host_b).await.unwrap(), HostKeyCheck::Matches);
    assert_eq!(engine.check_host_key(1, &host_a).await.unwrap_err().code(), ErrorCode::HostKeyChanged);

    // --- no plaintext secret in the database or the log ---
    let secrets = [
        "Wonder-Land-5678",
        "Adm1n-Strong-Pass",
        "Temp-Pass-1234",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "another-cloud-secret-0123456789",
        vk1_text.as_str(),
        pem_line.as_str(),
        master_b64.as_str(),
    ];
    let dump = raw_dump(&engine, &db, dir.path()).await;
    assert!(dump.len() > 10_000, "the dump has content");
    assert!(contains(&dump, "alice@wintermute"), "public keys are there in the clear");
    let log = logs.0.lock().unwrap().clone();
    assert!(contains(&log, "INSERT INTO"), "the log captured the engine's statements");
    for s in secrets {
        assert!(!contains(&dump, s), "database holds {s:?} in the clear");
        assert!(!contains(&log, s), "the log holds {s:?}");
    }

    // --- tampering is detected, never a panic ---
    let sealed: (String,) =
        sqlx::query_as("SELECT sealed FROM secrets WHERE owner_id = 1").fetch_one(engine.store().pool()).await.unwrap();
    let mut bytes = sealed.0.clone().into_bytes();
    for i in [5usize, bytes.len() / 2, bytes.len() - 2] {
        let orig = bytes[i];
        bytes[i] = if orig == b'A' { b'B' } else { b'A' };
        sqlx::query("UPDATE secrets SET sealed = $1 WHERE owner_id = 1")
            .bind(String::from_utf8(bytes.clone()).unwrap())
            .execute(engine.store().pool())
            .await
            .unwrap();
        let e = engine.get_secret("provider", 1, "secret_access_key").await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::IntegrityError, "byte {i}: {e}");
        bytes[i] = orig;
    }
    // a sealed value moved to another row does not open there
    let other: (String,) =
        sqlx::query_as("SELECT sealed FROM secrets WHERE owner_id = 2").fetch_one(engine.store().pool()).await.unwrap();
    sqlx::query("UPDATE secrets SET sealed = $1 WHERE owner_id = 1")
        .bind(&other.0)
        .execute(engine.store().pool())
        .await
        .unwrap();
    assert_eq!(
        engine.get_secret("provider", 1, "secret_access_key").await.unwrap_err().code(),
        ErrorCode::IntegrityError
    );
    sqlx::query("UPDATE secrets SET sealed = $1 WHERE owner_id = 1")
        .bind(&sealed.0)
        .execute(engine.store().pool())
        .await
        .unwrap();
    let ssh_sealed: (String,) = sqlx::query_as("SELECT private_sealed FROM user_ssh_keys WHERE user_id = $1")
        .bind(alice.id)
        .fetch_one(engine.store().pool())
        .await
        .unwrap();
    let broken = format!("{}A{}", &ssh_sealed.0[..40], &ssh_sealed.0[41..]);
    let broken =
        if broken == ssh_sealed.0 { format!("{}B{}", &ssh_sealed.0[..40], &ssh_sealed.0[41..]) } else { broken };
    sqlx::query("UPDATE user_ssh_keys SET private_sealed = $1 WHERE user_id = $2")
        .bind(&broken)
        .bind(alice.id)
        .execute(engine.store().pool())
        .await
        .unwrap();
    assert_eq!(engine.ssh_export(&a, alice.id, None).await.unwrap_err().code(), ErrorCode::IntegrityError);
    sqlx::query("UPDATE user_ssh_keys SET private_sealed = $1 WHERE user_id = $2")
        .bind(&ssh_sealed.0)
        .bind(alice.id)
        .execute(engine.store().pool())
        .await
        .unwrap();

    // --- master key rotation, online ---
    let before = engine.key_status_full(&admin).await.unwrap();
    assert!(before.data_keys >= 3 && before.previous_key_ids.is_empty());
    let task = engine.start_master_key_rotation(&admin).await.unwrap();
    assert_eq!(engine.start_master_key_rotation(&a).await.unwrap_err().code(), ErrorCode::Forbidden);
    let mut state = TaskState::Queued;
    for _ in 0..100 {
        state = engine.tasks_get(&admin, task.id).await.unwrap().state;
        if state.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, TaskState::Succeeded);
    let after = engine.key_status_full(&admin).await.unwrap();
    assert_ne!(after.current_key_id, before.current_key_id);
    assert!(after.previous_key_ids.is_empty() && after.data_keys_on_previous == 0 && !after.rotation_in_progress);
    assert!(!std::fs::read_to_string(&key_file).unwrap().contains(&master_b64), "the old key is gone from the store");
    assert_eq!(
        engine.ssh_export(&a, alice.id, None).await.unwrap().private_key,
        private.private_key,
        "everything still opens"
    );
    assert_eq!(volume_passphrase(&engine, 1).await, vk1);

    // --- backup covers every table ---
    let tables: Vec<(String,)> = match backend {
        Backend::Sqlite => sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'")
            .fetch_all(engine.store().pool())
            .await
            .unwrap(),
        Backend::Postgres => sqlx::query_as("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'")
            .fetch_all(engine.store().pool())
            .await
            .unwrap(),
    };
    let in_db: BTreeSet<String> = tables.into_iter().map(|t| t.0).collect();
    let in_backup: BTreeSet<String> = BACKUP_TABLES.iter().map(|t| t.0.to_owned()).collect();
    assert_eq!(in_db, in_backup, "every table is backed up");

    // --- backup, wipe, restore into a new core ---
    let archive = dir.path().join("core.backup");
    assert_eq!(
        engine.backup_to_file(&a, "a long backup passphrase", &archive).await.unwrap_err().code(),
        ErrorCode::Forbidden
    );
    assert_eq!(engine.backup_to_file(&admin, "short", &archive).await.unwrap_err().code(), ErrorCode::InvalidField);
    engine.backup_to_file(&admin, "a long backup passphrase", &archive).await.unwrap();
    let archive_bytes = std::fs::read(&archive).unwrap();
    for s in secrets.iter().chain([private.private_key.as_str()].iter()) {
        assert!(!contains(&archive_bytes, s), "the archive is encrypted");
    }
    stop.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    engine.close().await;
    db.drop_database().await;
    drop(dir); // the whole data directory, master key included, is gone

    let db2 = TestDatabase::new(backend).await;
    let dir2 = tempfile::tempdir().unwrap();
    let (fresh, temp2) = open(&db2.url, dir2.path()).await.unwrap();
    let admin2 = admin_of(&fresh, &temp2.unwrap()).await;
    let moved = dir2.path().join("copy.backup");
    std::fs::write(&moved, &archive_bytes).unwrap();
    // Reading one's own key on the fresh core does not make it "used".
    fresh.ssh_public_key(&admin2, admin2.user_id).await.unwrap();
    let junk = dir2.path().join("junk.backup");
    std::fs::write(&junk, b"WMBACKUP1\nthis is not really a backup at all, just some bytes").unwrap();
    let e = fresh.restore_from_file(&admin2, "a long backup passphrase", &junk).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidField, "{e}");
    std::fs::write(&junk, &archive_bytes[..archive_bytes.len() - 100]).unwrap();
    let e = fresh.restore_from_file(&admin2, "a long backup passphrase", &junk).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidField, "a truncated backup: {e}");
    assert!(e.to_string().contains("damaged"), "{e}");
    let wrong = fresh.restore_from_file(&admin2, "not the passphrase", &moved).await.unwrap_err();
    assert_eq!(wrong.code(), ErrorCode::WrongPassphrase, "{wrong}");
    let summary = fresh.restore_from_file(&admin2, "a long backup passphrase", &moved).await.unwrap();
    assert_eq!(summary.tables, BACKUP_TABLES.len() as i64);
    assert_eq!(summary.source_backend, backend.as_str());
    assert_eq!(
        fresh.authenticate(&alice_token, None).await.unwrap_err().code(),
        ErrorCode::Unauthorized,
        "restored login sessions are revoked"
    );
    let a2 = login(&fresh, "alice", "Wonder-Land-5678").await;
    assert_eq!(
        fresh.ssh_export(&a2, alice.id, None).await.unwrap().private_key,
        private.private_key,
        "private key byte-identical"
    );
    assert_eq!(volume_passphrase(&fresh, 1).await, vk1, "volume passphrase byte-identical");
    assert_eq!(
        fresh.get_secret("provider", 2, "secret_access_key").await.unwrap().unwrap().expose(),
        b"another-cloud-secret-0123456789"
    );
    let admin3 = login(&fresh, "admin", "Adm1n-Strong-Pass").await;
    assert!(fresh
        .audit_list(&admin3, &Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .any(|e| e.action == "backup.restore"));
    assert_eq!(
        fresh.restore_from_file(&admin3, "a long backup passphrase", &moved).await.unwrap_err().code(),
        ErrorCode::Conflict,
        "only into a fresh core"
    );
    // ids keep counting after the restored ones
    let u = fresh
        .users_create(
            &admin3,
            &NewUser {
                login: "newcomer".into(),
                password: "Temp-Pass-1234".into(),
                enabled: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(u.id > alice.id);
    fresh.close().await;

    // --- a key file others can read stops the core, naming the file ---
    let key2 = dir2.path().join("master.key");
    std::fs::set_permissions(&key2, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let err = match open(&db2.url, dir2.path()).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a 0644 key file must stop the core"),
    };
    assert!(err.contains(&key2.display().to_string()) && err.contains("chmod 600"), "{err}");
    // and a key file from another core does not open this database
    std::fs::write(&key2, "wmk1 0011223344556677 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
    std::fs::set_permissions(&key2, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let err = match open(&db2.url, dir2.path()).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a foreign master key must stop the core"),
    };
    assert!(err.contains("does not hold"), "{err}");
    db2.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custody_on_every_backend() {
    for backend in backends() {
        eprintln!("== custody on {}", backend.as_str());
        story(backend).await;
    }
}
