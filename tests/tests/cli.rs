//! The `wmai` command line against a real core, as a user runs it: each command is a child process
//! with its own configuration directory (token in a file, no keyring), passwords on stdin, and its
//! exit code, stdout and stderr checked. One core (with debug tasks) serves the whole story, in the
//! order an administrator would go: first login and password change, errors before login, users,
//! groups and rights, settings, tasks, audit, API tokens, maintenance, logout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use serde_json::Value;
use wintermute_api::auth::ApiToken;
use wintermute_api::client::{Client, TaskQuery};
use wintermute_api::tasks::{DebugTaskRequest, Task, TaskState};
use wintermute_api::ErrorCode;
use wintermute_tests::cli::closed_port_url;
use wintermute_tests::{wait_for, Core, CoreOptions, Wmai, ADMIN_PASSWORD};

/// bob's temporary password, set by the admin (must not contain "bob").
const BOB_TEMP_PASSWORD: &str = "Temporary-Pw-42";
/// bob's own password after `wmai passwd`.
const BOB_PASSWORD: &str = "Own-Secret-Pw-77";

/// What the sections share.
struct Story {
    core: Core,
    /// The core URL as `wmai` normalizes it (no trailing slash).
    url: String,
    /// The administrator's `wmai`.
    admin: Wmai,
    /// bob's `wmai` (a second configuration directory).
    bob: Wmai,
    /// The administrator's typed API client, for what the CLI has no command for (debug tasks).
    api: Option<Client>,
    /// Debug tasks of section 6: (succeeds, fails at step 2, cancelled).
    tasks: Option<(i64, i64, i64)>,
}

impl Story {
    fn api(&self) -> &Client {
        self.api.as_ref().expect("the API client is logged in in section 6")
    }
}

#[tokio::test]
async fn wmai_end_to_end() {
    let started = Instant::now();
    let core = Core::start(CoreOptions::new().env("WMAIS__DEBUG__TEST_TASKS", "true")).await.unwrap();
    let url = core.url().trim_end_matches('/').to_owned();
    let mut s = Story { core, url, admin: Wmai::new().unwrap(), bob: Wmai::new().unwrap(), api: None, tasks: None };

    let sections: [(&str, Duration); 10] = [
        ("1 login, password change, token file", timed(first_login(&s)).await),
        ("2 errors before login", timed(errors_before_login(&s)).await),
        ("3 users", timed(users(&s)).await),
        ("4 groups and rights", timed(groups_and_rights(&s)).await),
        ("5 settings", timed(settings(&s)).await),
        ("6 tasks", timed(tasks(&mut s)).await),
        ("7 audit", timed(audit(&s)).await),
        ("8 API tokens", timed(api_tokens(&s)).await),
        ("9 maintenance", timed(maintenance(&s)).await),
        ("10 logout", timed(logout(&s)).await),
    ];
    for (name, took) in sections {
        eprintln!("section {name}: {:.1} s", took.as_secs_f64());
    }
    eprintln!("whole CLI story: {:.1} s", started.elapsed().as_secs_f64());
}

async fn timed(f: impl std::future::Future<Output = ()>) -> Duration {
    let t = Instant::now();
    f.await;
    t.elapsed()
}

/// Section 1: Login with the temporary password of install.log, the forced password change, whoami, and
/// what is left on disk.
async fn first_login(s: &Story) {
    let temp = s.core.admin_password().unwrap();
    let out = s
        .admin
        .run_with_stdin(&["login", &s.url, "--user", "admin", "--password-stdin"], &format!("{temp}\n"))
        .await
        .expect_code(0)
        .expect_stdout("Logged in to")
        .expect_stdout("wmai passwd");
    assert!(!out.stdout.contains(&temp), "the password is echoed\n{out}");

    s.admin.run(&["users"]).await.expect_error(4, "password_change_required").expect_error(4, "wmai passwd");

    // Refused changes: wrong current password, weak new one, a missing line.
    s.admin
        .run_with_stdin(&["passwd", "--stdin"], &format!("Wrong-Current-1\n{ADMIN_PASSWORD}\n"))
        .await
        .expect_error(6, "current_password");
    s.admin.run_with_stdin(&["passwd", "--stdin"], &format!("{temp}\nshort\n")).await.expect_error(6, "weak_password");
    s.admin.run_with_stdin(&["passwd", "--stdin"], &format!("{temp}\n")).await.expect_code(2);
    s.admin.run(&["users"]).await.expect_error(4, "password_change_required");

    s.admin
        .run_with_stdin(&["passwd", "--stdin"], &format!("{temp}\n{ADMIN_PASSWORD}\n"))
        .await
        .expect_code(0)
        .expect_stdout("Password changed");

    let me = s.admin.run(&["whoami", "--json"]).await.expect_code(0).json();
    assert_eq!(me["login"], "admin", "{me}");
    assert_eq!(me["must_change_password"], false, "{me}");
    assert_eq!(me["is_admin"], true, "{me}");
    // The table form names the core.
    s.admin.run(&["whoami"]).await.expect_code(0).expect_stdout(&s.url).expect_stdout("admin");

    // The token file: owner-only, the session token of this core, no password anywhere.
    let token_file = s.admin.config_dir().join("tokens.json");
    let meta = std::fs::metadata(&token_file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "mode of {}", token_file.display());
    let tokens: Value = serde_json::from_str(&std::fs::read_to_string(&token_file).unwrap()).unwrap();
    let token = tokens[&s.url].as_str().unwrap_or_else(|| panic!("no token of {} in {tokens}", s.url));
    assert!(token.starts_with("wmt_"), "{tokens}");
    for entry in std::fs::read_dir(s.admin.config_dir()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for pw in [temp.as_str(), ADMIN_PASSWORD] {
            assert!(!text.contains(pw), "{} contains a password:\n{text}", path.display());
        }
    }
}

/// Section 2: Wrong password, unreachable core, no login at all, usage errors.
async fn errors_before_login(s: &Story) {
    let stranger = Wmai::new().unwrap();
    stranger
        .run_with_stdin(&["login", &s.url, "--user", "admin", "--password-stdin"], "Wrong-Password-123\n")
        .await
        .expect_error(3, "invalid_credentials");
    assert!(!stranger.config_dir().join("tokens.json").exists(), "a failed login left a token file");

    let closed = closed_port_url().unwrap();
    stranger
        .run_with_stdin(&["login", &closed, "--user", "admin", "--password-stdin"], "Whatever-Pass-1\n")
        .await
        .expect_error(7, "unreachable");
    stranger.run(&["whoami", "--url", &closed]).await.expect_code(3);

    let fresh = Wmai::new().unwrap();
    fresh.run(&["users"]).await.expect_error(3, "not_logged_in");
    // A URL but no token is the same.
    fresh.run(&["users", "--url", &s.url]).await.expect_error(3, "not_logged_in");

    fresh.run(&["users", "frobnicate"]).await.expect_code(2);
    fresh.run(&["--no-such-flag"]).await.expect_code(2);
    fresh.run(&[]).await.expect_code(2);
    fresh
        .run_with_stdin(&["login", "core.example.org", "--user", "admin", "--password-stdin"], "x\n")
        .await
        .expect_code(2);
    // --help is not an error and lists the exit codes.
    fresh.run(&["--help"]).await.expect_code(0).expect_stdout("Exit codes:");
}

/// Section 3: Users: create, list, conflicts, bad input, permissions, not found.
async fn users(s: &Story) {
    s.admin
        .run_with_stdin(
            &["users", "create", "bob", "--first-name", "Bob", "--password-stdin"],
            &format!("{BOB_TEMP_PASSWORD}\n"),
        )
        .await
        .expect_code(0)
        .expect_stdout("Created user bob");

    let list = s.admin.run(&["users", "--json"]).await.expect_code(0).json();
    let logins: BTreeSet<&str> = list.as_array().unwrap().iter().map(|u| u["login"].as_str().unwrap()).collect();
    assert_eq!(logins, BTreeSet::from(["admin", "bob"]), "{list}");
    let bob = list.as_array().unwrap().iter().find(|u| u["login"] == "bob").unwrap();
    assert_eq!(bob["first_name"], "Bob", "{bob}");
    assert_eq!(bob["must_change_password"], true, "{bob}");
    assert_eq!(bob["is_admin"], false, "{bob}");

    // Again: the generated password is not printed when the creation fails.
    let out = s.admin.run(&["users", "create", "bob"]).await.expect_error(6, "conflict");
    assert!(!out.stdout.contains("Temporary password"), "{out}");
    s.admin.run(&["users", "create", "Bad Name"]).await.expect_error(6, "invalid_field");

    s.admin
        .run(&["users", "permissions", "bob", "view_logs,control_tasks"])
        .await
        .expect_code(0)
        .expect_stdout("control_tasks, view_logs");
    let bob = s.admin.run(&["users", "show", "bob", "--json"]).await.expect_code(0).json();
    assert_eq!(permissions(&bob), BTreeSet::from(["control_tasks".to_owned(), "view_logs".to_owned()]), "{bob}");

    s.admin.run(&["users", "permissions", "bob", "fly"]).await.expect_error(2, "\"fly\"").expect_error(2, "view_logs");
    // Nothing changed.
    let again = s.admin.run(&["users", "show", "bob", "--json"]).await.expect_code(0).json();
    assert_eq!(permissions(&again), permissions(&bob), "{again}");

    s.admin
        .run(&["users", "update", "bob", "--email", "not-an-email"])
        .await
        .expect_error(6, "invalid_field")
        .expect_error(6, "email");
    s.admin.run(&["users", "update", "bob"]).await.expect_code(2);
    s.admin.run(&["users", "delete", "nosuchuser"]).await.expect_error(5, "not_found");
    s.admin.run(&["users", "show", "424242"]).await.expect_error(5, "not_found");
}

fn permissions(user: &Value) -> BTreeSet<String> {
    user["permissions"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect()
}

/// Section 4: Groups, and rights on objects (none exist yet: only the errors).
async fn groups_and_rights(s: &Story) {
    s.admin.run(&["groups", "create", "team", "--members", "bob"]).await.expect_code(0).expect_stdout("members: bob");
    let groups = s.admin.run(&["groups", "--json"]).await.expect_code(0).json();
    let team = groups.as_array().unwrap().iter().find(|g| g["name"] == "team").unwrap_or_else(|| panic!("{groups}"));
    let members: Vec<&str> = team["members"].as_array().unwrap().iter().map(|m| m["login"].as_str().unwrap()).collect();
    assert_eq!(members, ["bob"], "{team}");
    s.admin.run(&["groups", "create", "team"]).await.expect_error(6, "conflict");
    s.admin.run(&["groups", "create", "other", "--members", "nosuchuser"]).await.expect_error(5, "nosuchuser");

    s.admin.run(&["rights", "show", "image", "1"]).await.expect_error(5, "not_found");
    let out = s.admin.run(&["rights", "grant", "spaceship", "1", "team", "view"]).await.expect_code(2);
    for kind in ["provider", "image", "uds", "instance", "volume", "template"] {
        assert!(out.stderr.contains(kind), "the valid kind {kind} is not listed\n{out}");
    }
    // A right that does not apply to the kind is caught before asking the core.
    s.admin.run(&["rights", "grant", "image", "1", "team", "ssh_console"]).await.expect_error(2, "view, change");
}

/// Section 5: Settings: read, change, bad value, booleans stay booleans.
async fn settings(s: &Story) {
    let name = "WMAIS_CONNECTION_ATTEMPTS";
    let st = s.admin.run(&["settings", "get", name, "--json"]).await.expect_code(0).json();
    assert_eq!(st["value"], 50, "{st}");
    assert_eq!(st["default"], 50, "{st}");

    s.admin.run(&["settings", "set", name, "20"]).await.expect_code(0);
    let st = s.admin.run(&["settings", "get", name, "--json"]).await.expect_code(0).json();
    assert_eq!(st["value"], 20, "{st}");
    assert_eq!(st["updated_by"], "admin", "{st}");

    s.admin.run(&["settings", "set", name, "0"]).await.expect_error(6, "invalid_field");
    s.admin.run(&["settings", "set", name, "-1"]).await.expect_error(6, "invalid_field");
    s.admin.run(&["settings", "set", name, "many"]).await.expect_error(6, "invalid_field");
    let st = s.admin.run(&["settings", "get", name, "--json"]).await.expect_code(0).json();
    assert_eq!(st["value"], 20, "a refused value changed the setting: {st}");

    let flag = "WMAIS_KEEP_INSTANCE_RUNNING_ON_ERROR";
    let st = s.admin.run(&["settings", "set", flag, "false", "--json"]).await.expect_code(0).json();
    assert_eq!(st["value"], Value::Bool(false), "{st}");
    let st = s.admin.run(&["settings", "get", flag, "--json"]).await.expect_code(0).json();
    assert_eq!(st["value"], Value::Bool(false), "{st}");

    s.admin.run(&["settings", "get", "WMAIS_NO_SUCH_SETTING"]).await.expect_error(5, "not_found");
    let all = s.admin.run(&["settings", "--json"]).await.expect_code(0).json();
    assert!(all.as_array().unwrap().iter().any(|x| x["name"] == name && x["value"] == 20), "{all}");
}

async fn start_debug(api: &Client, steps: u32, fail_at: Option<u32>) -> Task {
    api.start_debug_task(&DebugTaskRequest { steps, resumable: false, fail_at }).await.unwrap()
}

/// Lines of `text` that contain `needle`, in order.
fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

/// Section 6: Tasks: follow to success, failure and cancellation; list and show; bob's rights on them.
async fn tasks(s: &mut Story) {
    let mut api = s.core.client().unwrap();
    api.login("admin", ADMIN_PASSWORD).await.unwrap();
    s.api = Some(api);
    let api = s.api();

    let ok = start_debug(api, 3, None).await;
    let failing = start_debug(api, 3, Some(2)).await;
    let long = start_debug(api, 60, None).await;
    let (ok_id, fail_id, long_id) = (ok.id, failing.id, long.id);

    // Both followed live, at the same time.
    let (ok_id_s, fail_id_s, long_id_s) = (ok_id.to_string(), fail_id.to_string(), long_id.to_string());
    let (follow_ok, follow_fail) = (["tasks", "follow", &ok_id_s], ["tasks", "follow", &fail_id_s]);
    let (followed_ok, followed_fail) = tokio::join!(s.admin.run(&follow_ok), s.admin.run(&follow_fail));
    let out = followed_ok.expect_code(0).expect_stdout(&format!("Task {ok_id} succeeded"));
    let steps = lines_with(&out.stdout, " of 3 done");
    assert_eq!(steps.len(), 3, "{out}");
    for (i, line) in steps.iter().enumerate() {
        assert!(line.ends_with(&format!("step {} of 3 done", i + 1)), "line {i} is {line:?}\n{out}");
        assert!(line.contains(" info "), "no level in {line:?}\n{out}");
    }

    let out = followed_fail.expect_error(10, "task_failed").expect_error(10, "step 2 of 3 failed");
    assert_eq!(lines_with(&out.stdout, " of 3 done").len(), 1, "{out}");
    assert!(out.stdout.contains("step 1 of 3 done") && out.stdout.contains("step 2 failed as asked"), "{out}");
    assert!(!out.stdout.contains("step 3"), "{out}");

    // Following a finished task prints its log and exits by its state.
    s.admin.run(&["tasks", "follow", &ok_id_s]).await.expect_code(0).expect_stdout("step 3 of 3 done");
    let json = s.admin.run(&["tasks", "follow", &fail_id_s, "--json"]).await.expect_code(10);
    assert_eq!(json.json()["state"], "failed", "{json}");
    assert!(json.stderr.contains("step 2 failed as asked"), "with --json the log goes to stderr\n{json}");

    // bob logs in, changes his temporary password, and may see admin's tasks (control_tasks).
    s.bob
        .run_with_stdin(&["login", &s.url, "--user", "bob", "--password-stdin"], &format!("{BOB_TEMP_PASSWORD}\n"))
        .await
        .expect_code(0);
    s.bob.run(&["tasks", "--all"]).await.expect_error(4, "password_change_required");
    s.bob
        .run_with_stdin(&["passwd", "--stdin"], &format!("{BOB_TEMP_PASSWORD}\n{BOB_PASSWORD}\n"))
        .await
        .expect_code(0);
    let seen = s.bob.run(&["tasks", "show", &long_id_s, "--json"]).await.expect_code(0).json();
    assert_eq!(seen["task"]["owner_login"], "admin", "{seen}");
    let all = s.bob.run(&["tasks", "--all", "--json"]).await.expect_code(0).json();
    assert_eq!(ids(&all).intersection(&BTreeSet::from([ok_id, fail_id, long_id])).count(), 3, "{all}");
    let mine = s.bob.run(&["tasks", "--json"]).await.expect_code(0).json();
    assert!(ids(&mine).is_empty(), "bob has no tasks of his own: {mine}");

    // Without control_tasks bob may neither see nor cancel them.
    s.admin.run(&["users", "permissions", "bob", "none"]).await.expect_code(0);
    s.bob.run(&["tasks", "cancel", &long_id_s]).await.expect_error(4, "forbidden");
    s.bob.run(&["tasks", "show", &long_id_s]).await.expect_error(4, "forbidden");
    s.bob.run(&["tasks", "follow", &long_id_s]).await.expect_error(4, "forbidden");
    let t = api.task(long_id).await.unwrap();
    assert!(!t.state.is_finished() && !t.cancel_requested, "bob's refused cancel touched the task: {t:?}");

    // The owner cancels the long one; following it ends with 11.
    s.admin.run(&["tasks", "cancel", &long_id_s]).await.expect_code(0);
    let out = s.admin.run(&["tasks", "follow", &long_id_s]).await.expect_error(11, "task_cancelled");
    assert!(out.stdout.contains("cancel requested by admin"), "{out}");
    s.admin.run(&["tasks", "cancel", &long_id_s]).await.expect_error(6, "not_cancellable");
    s.admin.run(&["tasks", "follow", "999999"]).await.expect_error(5, "not_found");
    s.admin.run(&["tasks", "--state", "done"]).await.expect_code(2);

    for args in [&["tasks", "--json"][..], &["tasks", "list", "--json"]] {
        let page = s.admin.run(args).await.expect_code(0).json();
        let states: Vec<(i64, String)> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["id"].as_i64().unwrap(), t["state"].as_str().unwrap().to_owned()))
            .collect();
        for (id, state) in
            [(ok_id, TaskState::Succeeded), (fail_id, TaskState::Failed), (long_id, TaskState::Cancelled)]
        {
            assert!(states.contains(&(id, state.as_str().to_owned())), "task {id} is not {state}: {page}");
        }
    }
    let page = s.admin.run(&["tasks", "--state", "failed", "--json"]).await.expect_code(0).json();
    assert_eq!(ids(&page), BTreeSet::from([fail_id]), "{page}");

    let shown = s.admin.run(&["tasks", "show", &ok_id_s, "--json"]).await.expect_code(0).json();
    assert_eq!(shown["task"]["state"], "succeeded", "{shown}");
    let log: Vec<&str> = shown["log"].as_array().unwrap().iter().map(|l| l["line"].as_str().unwrap()).collect();
    let steps: Vec<&str> = log.iter().copied().filter(|l| l.contains(" of 3 done")).collect();
    assert_eq!(steps, ["step 1 of 3 done", "step 2 of 3 done", "step 3 of 3 done"], "{shown}");
    s.admin
        .run(&["tasks", "show", &ok_id_s])
        .await
        .expect_code(0)
        .expect_stdout("succeeded")
        .expect_stdout("step 2 of 3 done");

    s.tasks = Some((ok_id, fail_id, long_id));
}

fn ids(page: &Value) -> BTreeSet<i64> {
    page["items"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect()
}

/// Section 7: Audit log: what happened so far, and who may read it.
async fn audit(s: &Story) {
    let page = s.admin.run(&["audit", "--json", "--limit", "50"]).await.expect_code(0).json();
    let items = page["items"].as_array().unwrap();
    assert!(items.len() <= 50, "{page}");
    let has = |action: &str, outcome: &str| items.iter().any(|e| e["action"] == action && e["outcome"] == outcome);
    for action in ["user.create", "setting.change", "task.cancel", "auth.password_change"] {
        assert!(has(action, "success"), "no successful {action} in the audit log: {page}");
    }
    assert!(has("auth.login", "failure"), "no failed login in the audit log: {page}");
    let failed = items.iter().find(|e| e["action"] == "auth.login" && e["outcome"] == "failure").unwrap();
    assert_eq!(failed["actor_login"], "admin", "{failed}");
    let cancel = items.iter().find(|e| e["action"] == "task.cancel").unwrap();
    let (_, _, long_id) = s.tasks.unwrap();
    assert_eq!(cancel["target_id"], long_id, "{cancel}");
    assert_eq!(cancel["actor_login"], "admin", "{cancel}");

    let only = s.admin.run(&["audit", "--json", "--action", "setting.change"]).await.expect_code(0).json();
    let actions: BTreeSet<&str> =
        only["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, BTreeSet::from(["setting.change"]), "{only}");
    assert_eq!(only["items"].as_array().unwrap().len(), 2, "20 and false: {only}");
    s.admin.run(&["audit", "--limit", "3"]).await.expect_code(0).expect_stdout("ACTION");

    // bob lost view_logs with `permissions bob none`.
    s.bob.run(&["audit", "--json", "--limit", "50"]).await.expect_error(4, "forbidden");
}

/// Section 8: Personal API tokens: the secret once, use with WMAI_TOKEN, revocation.
async fn api_tokens(s: &Story) {
    let out = s
        .admin
        .run(&["tokens", "create", "ci", "--days", "7"])
        .await
        .expect_code(0)
        .expect_stdout("Created API token ci");
    let secret = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Secret (shown only now): "))
        .unwrap_or_else(|| panic!("no secret line\n{out}"))
        .trim()
        .to_owned();
    assert!(secret.starts_with("wmp_"), "{out}");

    let list = s.admin.run(&["tokens", "--json"]).await.expect_code(0);
    assert!(!list.stdout.contains(&secret), "the listing shows the secret again\n{list}");
    let list = list.json();
    let ci = list.as_array().unwrap().iter().find(|t| t["name"] == "ci").unwrap_or_else(|| panic!("{list}"));
    let ci: ApiToken = serde_json::from_value(ci.clone()).unwrap();
    let id = ci.id;
    assert_eq!((ci.expires_at - ci.created_at).num_days(), 7, "{ci:?}");
    s.admin.run(&["tokens", "create", "too-long", "--days", "400"]).await.expect_error(6, "invalid_field");

    // A machine with only the secret and the URL.
    let ci_user = Wmai::new().unwrap().env("WMAI_TOKEN", &secret);
    let me = ci_user.run(&["whoami", "--json", "--url", &s.url]).await.expect_code(0).json();
    assert_eq!(me["login"], "admin", "{me}");
    // WMAI_URL works as well as --url.
    let ci_env = Wmai::new().unwrap().env("WMAI_TOKEN", &secret).env("WMAI_URL", &s.url);
    ci_env.run(&["whoami", "--json"]).await.expect_code(0);

    s.admin.run(&["tokens", "revoke", &id.to_string()]).await.expect_code(0);
    ci_user.run(&["whoami", "--json", "--url", &s.url]).await.expect_error(3, "unauthorized");
    let list = s.admin.run(&["tokens", "--json"]).await.expect_code(0).json();
    assert!(list.as_array().unwrap().iter().all(|t| t["id"] != id), "revoked token still listed: {list}");
}

/// Section 9: Maintenance: administrators only.
async fn maintenance(s: &Story) {
    let out = s
        .admin
        .run(&["admin", "maintenance", "prune_history", "--follow"])
        .await
        .expect_code(0)
        .expect_stdout("Started task")
        .expect_stdout("succeeded");
    assert!(out.stdout.contains("removed"), "{out}");
    s.bob.run(&["admin", "maintenance", "prune_history", "--follow"]).await.expect_error(4, "forbidden");
    s.admin.run(&["admin", "maintenance", "defragment"]).await.expect_error(6, "invalid_field");
    // The pruning keeps recent tasks.
    let (ok_id, _, _) = s.tasks.unwrap();
    s.api().task(ok_id).await.unwrap();
}

/// Section 10: Logout ends the session on the core and forgets the token here.
async fn logout(s: &Story) {
    let token_file = s.admin.config_dir().join("tokens.json");
    let tokens: Value = serde_json::from_str(&std::fs::read_to_string(&token_file).unwrap()).unwrap();
    let token = tokens[&s.url].as_str().unwrap().to_owned();

    s.admin.run(&["logout"]).await.expect_code(0).expect_stdout("Logged out");
    s.admin.run(&["whoami"]).await.expect_error(3, "not_logged_in");
    // Its only token gone, the file is removed.
    if let Ok(text) = std::fs::read_to_string(&token_file) {
        let tokens: Value = serde_json::from_str(&text).unwrap();
        assert!(tokens.get(&s.url).is_none(), "the token is still stored: {tokens}");
    }
    let old = Client::new(&s.url).unwrap().with_token(token);
    let err = old.whoami().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Unauthorized), "the session is still valid on the core: {err}");

    // A second logout is not an error; the next login works again without a password change.
    s.admin.run(&["logout"]).await.expect_code(0).expect_stdout("Not logged in");
    s.bob.run(&["logout", "--json"]).await.expect_code(0);
    s.bob.run(&["users"]).await.expect_error(3, "not_logged_in");
    s.admin.run_with_stdin(&["login", &s.url, "--password-stdin"], &format!("{ADMIN_PASSWORD}\n")).await.expect_code(0);
    let me = s.admin.run(&["whoami", "--json"]).await.expect_code(0).json();
    assert_eq!(me["login"], "admin", "the remembered login was not used: {me}");

    // The core still answers everybody else; no task is left running.
    let running =
        wait_for("no running task", Duration::from_secs(10), Duration::from_millis(200), move || async move {
            let page = s.api().tasks(&TaskQuery::default()).await?;
            Ok(page.items.iter().all(|t| t.state.is_finished()).then_some(()))
        })
        .await;
    running.unwrap();
}
