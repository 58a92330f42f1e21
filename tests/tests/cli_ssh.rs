//! `wmai ssh` against a real core and a real OpenSSH server standing in for an instance: the
//! remote exit status becomes wmai's, commands run with or without a terminal, stdin reaches the
//! shell, and the CLI never holds a key (the core logs in with the one it keeps).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use wintermute_ssh::test_sshd::TestSshd;
use wintermute_tests::console::InstanceRegistry;
use wintermute_tests::{Core, CoreOptions, Wmai, ADMIN_PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wmai_ssh_runs_commands_and_returns_their_exit_status() {
    let core = Core::start(CoreOptions::new()).await.unwrap();
    let api = core.admin_client().await.unwrap();
    let me = api.whoami().await.unwrap();
    let key = api.ssh_key(me.id).await.unwrap();
    let Some(sshd) = TestSshd::start_or_skip(&[&key.public_key]) else { return };
    let registry = InstanceRegistry::new(&core, &api).await.unwrap();
    let id = registry.add(me.id, "web", sshd.port(), sshd.user()).await.unwrap();

    let wmai = Wmai::new().unwrap();
    let url = core.url().to_owned();
    wmai.run_with_stdin(&["login", &url, "--user", "admin", "--password-stdin"], &format!("{ADMIN_PASSWORD}\n"))
        .await
        .expect_code(0);

    // The remote status is wmai's; several words are run as they are.
    let out = wmai.run(&["ssh", "web", "--", "sh", "-c", "exit 7"]).await;
    assert_eq!(out.code, Some(7), "{out}");
    assert!(out.stderr.is_empty(), "nothing to say about a remote status: {out}");
    let out = wmai.run(&["ssh", &id.to_string(), "--", "echo out; echo err >&2"]).await.expect_code(0);
    assert_eq!(out.stdout, "out\nerr\n", "no terminal when stdin is not one: {out}");
    let out = wmai.run(&["ssh", "-t", "web", "--", "tty >/dev/null && echo on-a-tty"]).await.expect_code(0);
    assert_eq!(out.stdout, "on-a-tty\r\n", "{out}");

    // Stdin reaches the command, and its end ends it.
    let out = wmai.run_with_stdin(&["ssh", "web", "--", "wc -l"], "a\nb\nc\n").await.expect_code(0);
    assert_eq!(out.stdout.trim(), "3", "{out}");

    // A shell fed from a pipe.
    let out = wmai.run_with_stdin(&["ssh", "web"], "echo shell-$((20+22))\nexit 4\n").await;
    assert_eq!(out.code, Some(4), "{out}");
    assert!(out.stdout.contains("shell-42"), "{out}");

    // wmai's own failures are 255, with the reason.
    wmai.run(&["ssh", "nosuch", "--", "true"]).await.expect_error(255, "no instance named");
    let out = Wmai::new().unwrap().run(&["--url", &url, "ssh", "web", "--", "true"]).await;
    assert_eq!(out.code, Some(255), "not logged in: {out}");

    // The sessions are on record, opened by the CLI user.
    let sessions = wmai.run(&["--json", "audit", "--action", "console.start"]).await.expect_code(0).json();
    assert_eq!(sessions["items"].as_array().map(Vec::len), Some(5), "{sessions}");
    assert!(!sshd.log().is_empty());
}
