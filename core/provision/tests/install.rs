//! The core's values through the whole way they travel: rendered by [`WmaicEnv`], written by
//! the install command (run here with a root folder of its own, as on an instance), read by
//! the library in bash. Whatever characters they hold, they must arrive exactly and never run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use chrono::{TimeZone, Utc};
use wintermute_provision::{
    swarm_id_command, swarm_update_command, uds_command, InstallPlan, Privilege, Stage, Swarm, SwarmMember, WmaicEnv,
};

/// Runs `bash -c SCRIPT` with WMAIC_PREFIX=root and `stdin`.
fn bash(root: &Path, script: &str, stdin: &[u8]) -> Output {
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("WMAIC_PREFIX", root)
        .env_remove("WMAIC_STAGE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The command may stop reading early (that is one of the cases tested).
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn install(root: &Path, plan: &InstallPlan) {
    let out = bash(root, &plan.script(), &plan.stdin());
    assert!(out.status.success(), "install failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "wmaic: library /etc/profile.d/wmaic.sh installed\n");
}

/// Sources the installed library and prints each variable's value (each array element) ended
/// by a NUL byte.
fn values(root: &Path, names: &[&str]) -> Vec<String> {
    let mut script = String::from("source \"$WMAIC_PREFIX/etc/profile.d/wmaic.sh\" || exit 99\n");
    for name in names {
        script.push_str(&format!("printf '%s\\0' \"${{{name}[@]}}\"\n"));
    }
    let out = bash(root, &script, b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parts: Vec<String> = text.split('\0').map(str::to_owned).collect();
    assert_eq!(parts.pop().as_deref(), Some(""));
    parts
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Text that would do something if a shell ever read it as code.
fn nasty(marker: &Path, n: u32) -> String {
    let m = marker.display();
    match n % 6 {
        0 => format!("it's \"q\" $HOME $(touch {m}) `touch {m}` \\ ; & | < > * ? ~ {{a,b}} !x"),
        1 => "'".into(),
        2 => "line one\nline two\r\n\ttab\n".into(),
        3 => format!("'; touch {m}; echo '"),
        4 => "ünïcödé ✓ $'\\x41' \\'".into(),
        _ => "-n".into(),
    }
}

#[test]
fn every_value_arrives_exactly_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let marker = dir.path().join("ran");
    let text = |n| nasty(&marker, n);
    let env = WmaicEnv {
        instance_id: "i-0123456789abcdef0".into(),
        instance_name: text(0),
        instance_index: Some(7),
        instance_type: text(1),
        tags: vec!["web".into(), "db.primary".into(), "a_b-c".into()],
        image_id: text(2),
        cloud: "local".into(),
        region: text(3),
        availability_zone: text(4),
        public_hostname: Some(text(5)),
        public_ip4: Some("52.29.219.165".into()),
        private_ip4: Some("10.0.0.7".into()),
        created: Some(Utc.with_ymd_and_hms(2015, 3, 15, 8, 22, 0).unwrap()),
        patched: Some(Utc.with_ymd_and_hms(2015, 12, 7, 16, 6, 30).unwrap()),
        rebooted: None,
        reboot_required: true,
        debug: false,
        owner: text(0),
        login_user: "admin".into(),
        users: vec![text(1), text(2), String::new(), text(3)],
        storage_mount: Some("/mnt/data 1".into()),
        storage_encrypted: true,
        data_destination: Some(text(4)),
        swarm: None,
    };
    install(&root, &InstallPlan::instance(&env).unwrap());
    let got = values(
        &root,
        &[
            "WMAIC_INSTANCE_ID",
            "WMAIC_INSTANCE_NAME",
            "WMAIC_INSTANCE_INDEX",
            "WMAIC_INSTANCE_TYPE",
            "WMAIC_IMAGE_ID",
            "WMAIC_CLOUD",
            "WMAIC_REGION",
            "WMAIC_AVAILABILITY_ZONE",
            "WMAIC_PUBLIC_HOSTNAME",
            "WMAIC_PUBLIC_IP4",
            "WMAIC_PRIVATE_IP4",
            "WMAIC_CREATED",
            "WMAIC_PATCHED",
            "WMAIC_REBOOTED",
            "WMAIC_REBOOT_REQUIRED",
            "WMAIC_DEBUG",
            "WMAIC_OWNER",
            "WMAIC_LOGIN_USER",
            "WMAIC_STORAGE_MOUNT",
            "WMAIC_STORAGE_ENCRYPTED",
            "WMAIC_DATA_DESTINATION",
            "WMAIC_INSTANCE_TAGS",
            "WMAIC_USERS",
        ],
    );
    let want: Vec<String> = [
        "i-0123456789abcdef0".to_string(),
        text(0),
        "7".into(),
        text(1),
        text(2),
        "local".into(),
        text(3),
        text(4),
        text(5),
        "52.29.219.165".into(),
        "10.0.0.7".into(),
        "201503150822".into(),
        "201512071606".into(),
        String::new(),
        "True".into(),
        "False".into(),
        text(0),
        "admin".into(),
        "/mnt/data 1".into(),
        "True".into(),
        text(4),
        "web".into(),
        "db.primary".into(),
        "a_b-c".into(),
        text(1),
        text(2),
        String::new(),
        text(3),
    ]
    .into();
    assert_eq!(got, want);
    assert!(!marker.exists(), "a value was run as code");
}

#[test]
fn the_install_writes_the_files_with_their_modes_and_keeps_the_instance_secret() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let swarm = Swarm {
        name: "wp".into(),
        size: 2,
        members: vec![
            SwarmMember { instance_id: "i-1".into(), address: Some("10.0.0.1".into()), tags: vec!["nginx".into()] },
            SwarmMember { instance_id: "i-2".into(), address: Some("10.0.0.2".into()), tags: vec!["mysql".into()] },
        ],
    };
    let env = WmaicEnv { instance_id: "i-1".into(), swarm: Some(swarm), ..WmaicEnv::default() };
    install(root, &InstallPlan::instance(&env).unwrap());

    let lib = root.join("etc/profile.d/wmaic.sh");
    assert_eq!(std::fs::read_to_string(&lib).unwrap(), wintermute_provision::wmaic_library());
    assert_eq!(mode(&lib), 0o644);
    assert_eq!(mode(&root.join("etc/wmaic/core.env")), 0o644);
    assert_eq!(mode(&root.join("etc/wmaic/swarm/members.env")), 0o644);
    assert_eq!(mode(&root.join("etc/systemd/system/wmaic-firewall.service")), 0o644);
    assert_eq!(mode(&root.join("etc/wmaic")), 0o755);
    assert_eq!(mode(&root.join("var/lib/wmaic")), 0o700);
    assert_eq!(mode(&root.join("var/log/wmaic")), 0o750);
    let secret_file = root.join("etc/wmaic/secret");
    assert_eq!(mode(&secret_file), 0o600);
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    assert!(secret.len() == 33 && secret[..32].chars().all(|c| c.is_ascii_hexdigit()), "{secret:?}");
    assert_eq!(
        values(root, &["WMAIC_SECRET", "WMAIC_SWARM_MEMBER", "WMAIC_SWARM_MEMBERS_EXT_IPS", "WMAIC_SWARM_MEMBER_TAGS"]),
        [&secret[..32], "True", "10.0.0.2", "mysql"]
    );
    // Nothing left behind.
    let leftovers: Vec<_> = walk(root).into_iter().filter(|p| p.contains(".wmaic-install.")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Again, without the swarm: the secret stays, the swarm files go.
    std::fs::write(root.join("etc/wmaic/swarm/id"), "df36bd41\n").unwrap();
    let env = WmaicEnv { instance_id: "i-1".into(), ..WmaicEnv::default() };
    install(root, &InstallPlan::instance(&env).unwrap());
    assert_eq!(std::fs::read_to_string(&secret_file).unwrap(), secret);
    assert!(!root.join("etc/wmaic/swarm/members.env").exists());
    assert!(!root.join("etc/wmaic/swarm/id").exists());
    assert_eq!(values(root, &["WMAIC_SWARM_MEMBER", "WMAIC_SWARM_SIZE"]), ["False", "1"]);
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push(path.display().to_string());
        if path.is_dir() {
            out.extend(walk(&path));
        }
    }
    out
}

#[test]
fn a_cut_off_install_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let old = WmaicEnv { instance_name: "old".into(), ..WmaicEnv::default() };
    install(root, &InstallPlan::instance(&old).unwrap());
    let before = std::fs::read_to_string(root.join("etc/wmaic/core.env")).unwrap();

    let new = WmaicEnv { instance_name: "new".into(), ..WmaicEnv::default() };
    let plan = InstallPlan::instance(&new).unwrap();
    let stdin = plan.stdin();
    let out = bash(root, &plan.script(), &stdin[..stdin.len() - 10]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdin ended after"), "{out:?}");
    assert_eq!(std::fs::read_to_string(root.join("etc/wmaic/core.env")).unwrap(), before);
    let leftovers: Vec<_> = walk(root).into_iter().filter(|p| p.contains(".wmaic-install.")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_swarm_secret_comes_through_stdin_and_the_update_runs_registered_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let env = WmaicEnv {
        instance_id: "i-1".into(),
        swarm: Some(Swarm {
            name: "s".into(),
            size: 1,
            members: vec![SwarmMember { instance_id: "i-1".into(), address: Some("10.0.0.1".into()), tags: vec![] }],
        }),
        ..WmaicEnv::default()
    };
    install(&root, &InstallPlan::instance(&env).unwrap());

    let id = "df36bd41-9ddf-4e0b-99b9-7f52d39214bd";
    let out = bash(&root, &swarm_id_command(Privilege::Root), format!("{id}\n").as_bytes());
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&root.join("etc/wmaic/swarm/id")), 0o600);
    assert_eq!(mode(&root.join("etc/wmaic/swarm")), 0o755);
    assert_eq!(values(&root, &["WMAIC_SWARM_ID"]), [id]);

    // A UDS run by the core registers itself; the swarm update runs it again.
    let script = dir.path().join("uds.sh");
    let log = dir.path().join("uds.log");
    std::fs::write(
        &script,
        format!(
            "#!/bin/bash\nsource \"$WMAIC_PREFIX/etc/profile.d/wmaic.sh\" || exit 1\n\
             echo \"$(wmaic_get_current_stage) $#:$1:$2\" >>'{}'\nwmaic_register_for_swarm_updates\n",
            log.display()
        ),
    )
    .unwrap();
    let run =
        uds_command(Stage::PostDataTransfer, "bash", &script.display().to_string(), &["-p".into(), "a 'b'".into()])
            .unwrap();
    let out = bash(&root, &run, b"");
    assert!(out.status.success(), "{out:?}");
    let out = bash(&root, &swarm_update_command(Privilege::Root), b"");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "post-data-transfer 2:-p:a 'b'\nswarm-update-action 2:-p:a 'b'\n"
    );
}
