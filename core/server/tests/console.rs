//! The SSH console against a real OpenSSH server on loopback standing in for an instance: typing
//! and reading, window size changes, exit statuses, reconnect with replay, refusals before any SSH
//! connection, a changed host key, recordings that replay the bytes the client saw, the audit
//! trail, and a session abandoned after its reconnect time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::console::{add_instance, next_control, try_open, Console};
use common::TestServer;
use reqwest::Method;
use serde_json::{json, Value};
use wintermute_core::store::Backend;
use wintermute_ssh::test_sshd::TestSshd;

/// A core, a user `alice` with an instance served by a real sshd that trusts her core-held key.
struct Lab {
    s: TestServer,
    _data: tempfile::TempDir,
    sshd: TestSshd,
    alice: String,
    alice_id: i64,
    instance: i64,
}

async fn lab() -> Option<Lab> {
    lab_on(Backend::Sqlite).await
}

async fn lab_on(backend: Backend) -> Option<Lab> {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_owned();
    let s = TestServer::start_with(backend, |c| c.storage.data_dir = dir).await;
    let (alice_id, alice) = s.user("alice", &[]).await;
    let key = s.engine.user_public_key(alice_id).await.unwrap();
    let sshd = TestSshd::start_or_skip(&[&key.public_key])?;
    let instance = add_instance(&s.engine, alice_id, "web", sshd.port(), sshd.user()).await;
    Some(Lab { s, _data: data, sshd, alice, alice_id, instance })
}

/// The text of a recording's output events, and its header.
async fn recording(s: &TestServer, token: &str, session: i64) -> (Value, String) {
    let resp = s
        .http
        .get(format!("{}/api/v1/console-sessions/{session}/recording", s.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-asciicast");
    let text = resp.text().await.unwrap();
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let mut out = String::new();
    let mut last = 0.0;
    for line in lines {
        let event: Value = serde_json::from_str(line).unwrap();
        let at = event[0].as_f64().unwrap();
        assert!(at >= last, "events in time order: {line}");
        last = at;
        if event[1] == "o" {
            out.push_str(event[2].as_str().unwrap());
        }
    }
    (header, out)
}

async fn audit(s: &TestServer, action: &str) -> Vec<Value> {
    let admin = s.admin().await;
    let r = s.call(Method::GET, &format!("/api/v1/audit?action={action}"), Some(&admin), None).await;
    r.body["items"].as_array().unwrap().clone()
}

/// On SQLite, and on PostgreSQL when a server is given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_read_resize_exit_and_the_recording_matches() {
    for backend in wintermute_core::testing::backends() {
        let Some(lab) = lab_on(backend).await else { return };
        type_read_resize_exit(lab).await;
    }
}

async fn type_read_resize_exit(lab: Lab) {
    let s = &lab.s;
    let mut c = Console::open(s, &lab.alice, lab.instance, "cols=100&rows=30&term=xterm-256color").await;
    assert_eq!(c.ready["offset"], 0);
    assert_eq!(c.ready["recording"], true);
    c.type_str("echo $((6 * 7)); stty size; echo TERM=$TERM\n").await;
    c.read_until("30 100").await;
    c.read_until("TERM=xterm-256color").await;
    assert!(c.text().contains("42\r\n30 100\r\n"), "{}", c.text());

    let mark = c.received.len();
    c.resize(132, 43).await;
    c.type_str("stty size\n").await;
    c.read_until_from(mark, "43 132").await;

    c.type_str("printf 'gr\\303\\274\\303\\237e\\n'; exit 3\n").await;
    let controls = c.read_to_end().await;
    assert!(c.text().contains("grüße"), "{}", c.text());
    let exit = controls.iter().find(|m| m["type"] == "exit").unwrap_or_else(|| panic!("{controls:?}"));
    assert_eq!(exit["status"], 3);
    let closed = controls.last().unwrap();
    assert_eq!((closed["type"].as_str(), closed["ended"].as_str()), (Some("closed"), Some("exited")), "{controls:?}");

    // The session's record, complete once the client was told the session ended.
    let id = c.session_id();
    let r = s.call(Method::GET, &format!("/api/v1/console-sessions/{id}"), Some(&lab.alice), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["exit_status"], 3);
    assert_eq!(r.body["end_reason"], "exited");
    assert_eq!(r.body["bytes_out"].as_u64().unwrap(), c.received.len() as u64);
    assert!(r.body["bytes_in"].as_u64().unwrap() > 40);
    assert_eq!(r.body["recorded"], true);
    assert_eq!(r.body["instance_name"], "web");

    // The recording plays back exactly the bytes the client saw.
    let (header, played) = recording(s, &lab.alice, id).await;
    assert_eq!(played, c.text());
    assert_eq!(
        (header["version"].as_u64(), header["width"].as_u64(), header["height"].as_u64()),
        (Some(2), Some(100), Some(30))
    );
    assert_eq!(header["env"]["TERM"], "xterm-256color");
    let file = s.engine.config().storage.data_dir.join(format!("recordings/{id}.cast"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert_eq!(r.body["recording_bytes"].as_u64().unwrap(), std::fs::metadata(&file).unwrap().len());

    // Listed for the instance and for the user; others may not read it, "view logs" may.
    let by_instance = s
        .call(Method::GET, &format!("/api/v1/instances/{}/console-sessions", lab.instance), Some(&lab.alice), None)
        .await;
    assert_eq!(by_instance.body["items"][0]["id"], id, "{:?}", by_instance.body);
    let by_user =
        s.call(Method::GET, &format!("/api/v1/users/{}/console-sessions", lab.alice_id), Some(&lab.alice), None).await;
    assert_eq!(by_user.body["items"][0]["id"], id);
    let (_, mallory) = s.user("mallory", &[]).await;
    let r = s.call(Method::GET, &format!("/api/v1/console-sessions/{id}/recording"), Some(&mallory), None).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"));
    let r =
        s.call(Method::GET, &format!("/api/v1/users/{}/console-sessions", lab.alice_id), Some(&mallory), None).await;
    assert_eq!(r.status.as_u16(), 403);
    let (_, auditor) = s.user("auditor", &["view_logs"]).await;
    let (_, played_for_auditor) = recording(s, &auditor, id).await;
    assert_eq!(played_for_auditor, c.text());

    // Start and end in the audit log, with duration and bytes.
    let start = audit(s, "console.start").await;
    assert_eq!(start[0]["details"]["session_id"], id);
    assert_eq!(start[0]["actor_login"], "alice");
    let end = audit(s, "console.end").await;
    let d = &end[0]["details"];
    assert_eq!(
        (d["session_id"].as_i64(), d["reason"].as_str(), d["exit_status"].as_u64()),
        (Some(id), Some("exited"), Some(3))
    );
    assert_eq!(d["bytes_out"].as_u64().unwrap(), c.received.len() as u64);
    assert!(d["duration_ms"].as_i64().unwrap() > 0);
    assert_eq!(audit(s, "console.recording.read").await.len(), 2, "alice's and the auditor's reads");
    assert_eq!(s.engine.console_count(), 0);
    lab.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_reattaches_and_gets_exactly_what_it_missed() {
    let Some(lab) = lab().await else { return };
    let s = &lab.s;
    let mut c = Console::open(s, &lab.alice, lab.instance, "cols=80&rows=24").await;
    c.type_str("echo ready-$((1+1))\n").await;
    c.read_until("ready-2").await;
    // Acknowledge half of it: the core may forget that part.
    let half = c.offset() / 2;
    c.control(json!({"type": "ack", "offset": half})).await;

    // Output produced while nobody is connected.
    c.type_str("sleep 1; for i in $(seq 1 200); do echo line-$i-of-output; done; echo done-$((40+2))\n").await;
    let token = c.token();
    let seen = c.offset();
    drop(c);

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let resumed = try_open(s, &lab.alice, lab.instance, &format!("resume={token}&offset={seen}")).await.unwrap();
    let mut r = Console::ready(resumed).await;
    assert_eq!(r.ready["offset"].as_u64().unwrap(), seen, "{}", r.ready);
    assert_eq!(r.ready["missed"], 0);
    r.read_until("done-42").await;
    let text = r.text();
    assert!(text.contains("line-1-of-output") && text.contains("line-200-of-output"), "{text}");
    // Nothing twice: the lines appear once each.
    assert_eq!(text.matches("line-100-of-output").count(), 1);

    // Dropped again before acknowledging anything: the same replay once more. The first
    // connection is taken over.
    let again = try_open(s, &lab.alice, lab.instance, &format!("resume={token}&offset={seen}")).await.unwrap();
    let mut again = Console::ready(again).await;
    assert_eq!(again.ready["offset"].as_u64(), Some(seen));
    assert!(r.read_to_end().await.iter().any(|m| m["type"] == "closed" && m["reason"] == "replaced"));
    again.read_until("done-42").await;
    let upto = |t: &[u8]| {
        let t = String::from_utf8_lossy(t).into_owned();
        t[..t.find("done-42").unwrap()].to_owned()
    };
    assert_eq!(upto(&again.received), upto(&r.received));

    // The token is worthless to anyone else.
    let (_, bob) = s.user("bob", &[]).await;
    let refused = try_open(s, &bob, lab.instance, &format!("resume={token}&offset=0")).await.unwrap_err();
    assert_eq!(refused.status, 404, "another user's session does not exist for bob: {:?}", refused.body);
    let refused = try_open(s, &lab.alice, lab.instance, "resume=not-a-token").await.unwrap_err();
    assert_eq!((refused.status, refused.body["code"].as_str()), (404, Some("not_found")));

    again.control(json!({"type": "close"})).await;
    let controls = again.read_to_end().await;
    assert_eq!(controls.last().unwrap()["ended"], "closed_by_user", "{controls:?}");
    lab.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_right_nothing_reaches_the_instance() {
    let Some(lab) = lab().await else { return };
    let s = &lab.s;
    // One session first, so the server's log has a login to compare with.
    let mut c = Console::open(s, &lab.alice, lab.instance, "").await;
    c.type_str("exit\n").await;
    c.read_to_end().await;
    for _ in 0..100 {
        if lab.sshd.log().contains("Disconnected from user") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log_before = lab.sshd.log();
    assert_eq!(log_before.matches("Accepted publickey").count(), 1, "{log_before}");

    let (bob_id, bob) = s.user("bob", &[]).await;
    let refused = try_open(s, &bob, lab.instance, "").await.unwrap_err();
    assert_eq!((refused.status, refused.body["code"].as_str()), (403, Some("forbidden")), "{:?}", refused.body);
    // Viewing is not enough.
    let admin = s.admin().await;
    let team =
        s.call(Method::POST, "/api/v1/groups", Some(&admin), Some(json!({"name": "team", "members": [bob_id]}))).await;
    let team = team.body["id"].as_i64().unwrap();
    let grant =
        |right: &str| json!({"object_kind": "instance", "object_id": lab.instance, "group_id": team, "right": right});
    assert_eq!(s.call(Method::POST, "/api/v1/rights/grant", Some(&lab.alice), Some(grant("view"))).await.status, 200);
    let refused = try_open(s, &bob, lab.instance, "").await.unwrap_err();
    assert_eq!(refused.status, 403);
    assert!(refused.body["message"].as_str().unwrap().contains("ssh_console"), "{:?}", refused.body);
    let anonymous =
        tokio_tungstenite::connect_async(common::console::console_url(s, lab.instance, "")).await.unwrap_err();
    assert!(anonymous.to_string().contains("401"), "{anonymous}");
    let bad = try_open(s, &lab.alice, lab.instance, "cols=0").await.unwrap_err();
    assert_eq!((bad.status, bad.body["field"].as_str()), (422, Some("cols")));

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(lab.sshd.log(), log_before, "no connection reached the SSH server");
    let denied = audit(s, "console.open").await;
    assert!(denied.iter().any(|e| e["actor_login"] == "bob" && e["outcome"] == "denied"), "{denied:?}");

    // With the right, bob gets a console (logged in with the owner's key, which the core holds).
    assert_eq!(
        s.call(Method::POST, "/api/v1/rights/grant", Some(&lab.alice), Some(grant("ssh_console"))).await.status,
        200
    );
    let mut c = Console::open(s, &bob, lab.instance, "command=echo+hi-from-bob&pty=false").await;
    let controls = c.read_to_end().await;
    assert_eq!(c.text(), "hi-from-bob\n");
    assert!(controls.iter().any(|m| m["type"] == "exit" && m["status"] == 0), "{controls:?}");
    // Bob sees his own session, not alice's.
    let listed =
        s.call(Method::GET, &format!("/api/v1/instances/{}/console-sessions", lab.instance), Some(&bob), None).await;
    let users: Vec<&str> =
        listed.body["items"].as_array().unwrap().iter().map(|i| i["user_login"].as_str().unwrap()).collect();
    assert_eq!(users, vec!["bob"]);
    lab.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_host_key_is_refused_before_logging_in() {
    let Some(lab) = lab().await else { return };
    let s = &lab.s;
    // Pinned at first contact: another machine's key.
    let other = wintermute_custody::UserKeyPair::generate("elsewhere").public_openssh();
    s.engine.check_host_key(lab.instance, &other).await.unwrap();
    let mut ws = try_open(s, &lab.alice, lab.instance, "").await.unwrap();
    let error = next_control(&mut ws).await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["code"], "host_key_changed", "{error}");
    let message = error["message"].as_str().unwrap();
    let offered = wintermute_custody::host_key_fingerprint(lab.sshd.host_public_key()).unwrap();
    assert!(message.contains(&offered) && message.contains("accept"), "{message}");
    assert!(!lab.sshd.log().contains("Accepted publickey"), "the user's key was never used: {}", lab.sshd.log());
    let failed = audit(s, "host_key.mismatch").await;
    assert_eq!(failed.len(), 1);
    lab.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_off_and_an_abandoned_session_ends_after_its_grace_time() {
    let Some(lab) = lab().await else { return };
    let s = &lab.s;
    let admin = s.admin().await;
    for (name, value) in [("WMAIS_CONSOLE_RECORDING", json!(false)), ("WMAIS_CONSOLE_RECONNECT_SECONDS", json!(1))] {
        let r =
            s.call(Method::PUT, &format!("/api/v1/settings/{name}"), Some(&admin), Some(json!({"value": value}))).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let mut c = Console::open(s, &lab.alice, lab.instance, "").await;
    assert_eq!(c.ready["recording"], false);
    assert_eq!(c.ready["reconnect_grace_seconds"], 1);
    c.type_str("echo $((3*3))x\n").await;
    c.read_until("9x").await;
    let id = c.session_id();
    drop(c);
    let mut ended = Value::Null;
    for _ in 0..100 {
        ended = s.call(Method::GET, &format!("/api/v1/console-sessions/{id}"), Some(&lab.alice), None).await.body;
        if !ended["end_reason"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ended["end_reason"], "abandoned", "{ended}");
    assert_eq!(ended["recorded"], false);
    let r = s.call(Method::GET, &format!("/api/v1/console-sessions/{id}/recording"), Some(&lab.alice), None).await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "not_found"));
    assert!(!s.engine.config().storage.data_dir.join(format!("recordings/{id}.cast")).exists());
    lab.s.stop().await;
}
