//! Providers, images, instances, volumes and limits through `wmai` against a real core and the
//! local EC2 emulator: an administrator configures and synchronizes an AWS provider, imports and
//! enables an image; a launch of two tagged instances with encrypted volumes is followed to the
//! end; refusals give their exit codes and messages; power off and a batch terminate keep the
//! volumes. The core's SSH-ingress address is set by hand: nothing asks a public service.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use wintermute_tests::{Core, CoreOptions, Wmai, ADMIN_PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_through_the_cli() {
    let Some(moto) = wintermute_cloud_aws::testing::moto().await else { return };
    let core = Core::start(CoreOptions::new()).await.unwrap();
    let url = core.url().to_owned();
    let admin = Wmai::new().unwrap();
    let temp = core.admin_password().unwrap();
    admin
        .run_with_stdin(&["login", &url, "--user", "admin", "--password-stdin"], &format!("{temp}\n"))
        .await
        .expect_code(0);
    admin.run_with_stdin(&["passwd", "--stdin"], &format!("{temp}\n{ADMIN_PASSWORD}\n")).await.expect_code(0);
    admin.run(&["settings", "set", "WMAIS_SG_IP_ADDRESS", "198.51.100.20"]).await.expect_code(0);

    // --- provider, sync, allowed region and type ---
    admin
        .run_with_stdin(
            &[
                "providers",
                "add-aws",
                "aws",
                "--access-key-id",
                "AKIAIOSFODNN7EXAMPLE",
                "--endpoint-url",
                &moto.url(),
                "--secret-stdin",
            ],
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
        )
        .await
        .expect_code(0);
    admin.run(&["providers", "sync", "aws"]).await.expect_code(0).expect_stdout("succeeded");
    admin
        .run(&["providers", "allow", "aws", "--regions", "us-east-1", "--types", "t3.micro,t3.small"])
        .await
        .expect_code(0);
    let shown = admin.run(&["providers", "show", "aws"]).await.expect_code(0);
    assert!(shown.stdout.contains("t3.micro (2 vCPU, 1024 MiB)"), "{}", shown.stdout);

    // --- images ---
    let found = admin.run(&["--json", "images", "search", "aws", "amzn"]).await.expect_code(0).json();
    let ami = found[0]["cloud_id"].as_str().unwrap().to_owned();
    admin.run(&["images", "import", "aws", &ami]).await.expect_code(0).expect_stdout("disabled");
    let images = admin.run(&["--json", "images"]).await.expect_code(0).json();
    let image = images[0]["id"].as_i64().unwrap().to_string();
    admin.run(&["images", "edit", &image, "--os", "plan9"]).await.expect_error(2, "unknown OS type");
    admin.run(&["images", "edit", &image, "--os", "debian", "--enable"]).await.expect_code(0).expect_stdout("enabled");

    // --- refusals ---
    // The emulator's addresses are invented: the core must not connect to them.
    let base = ["instances", "launch", "web", "--no-provision", "--image", &image];
    let with = |extra: &[&'static str]| -> Vec<String> {
        base.iter().map(|s| s.to_string()).chain(extra.iter().map(|s| s.to_string())).collect()
    };
    let args = with(&["--type", "m5.large"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    admin.run(&args).await.expect_error(4, "not allowed");
    let args = with(&["--type", "t3.micro", "--count", "2", "--tags", "1-3:php"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    admin.run(&args).await.expect_error(6, "tags");
    let args = with(&["--type", "t3.micro", "--volume-gb", "0"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    admin.run(&args).await.expect_error(6, "1 to 16384 GB");

    // --- launch two, followed to the end ---
    let args = with(&["--type", "t3.micro", "--count", "2", "--tags", "1-2:php, 1:haproxy", "--volume-gb", "1"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = admin.run(&args).await.expect_code(0);
    assert!(out.stdout.contains("web-1") && out.stdout.contains("succeeded"), "{}", out.stdout);
    let list: Value = admin.run(&["--json", "instances"]).await.expect_code(0).json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|i| i["status"] == "running"), "{list:?}");
    let table = admin.run(&["instances"]).await.expect_code(0).stdout;
    assert!(table.contains("web-2") && table.contains("1 GB encrypted"), "{table}");
    let vols: Value = admin.run(&["--json", "volumes"]).await.expect_code(0).json();
    assert_eq!(vols.as_array().unwrap().len(), 2);

    // --- power off by name; limits ---
    admin.run(&["instances", "power-off", "web-1"]).await.expect_code(0);
    let one: Value = admin.run(&["--json", "instances", "show", "web-1"]).await.expect_code(0).json();
    assert_eq!(one["status"], "stopped");
    admin.run(&["instances", "power-off", "web-1"]).await.expect_error(6, "cannot power off");
    admin.run(&["limits", "user:admin", "--running", "1"]).await.expect_code(0).expect_stdout("1 of 1");
    admin.run(&["instances", "power-on", "web-1"]).await.expect_error(4, "limit");
    admin.run(&["limits", "user:admin", "--running", "none"]).await.expect_code(0).expect_stdout("no limit");

    // --- batch terminate keeps the volumes ---
    admin.run(&["instances", "terminate", "web-1", "web-2"]).await.expect_code(0);
    let list: Value = admin.run(&["--json", "instances", "--all"]).await.expect_code(0).json();
    assert!(list.as_array().unwrap().iter().all(|i| i["status"] == "terminated"), "{list:?}");
    let vols: Value = admin.run(&["--json", "volumes"]).await.expect_code(0).json();
    assert!(vols.as_array().unwrap().iter().all(|v| v["status"] == "available"), "{vols:?}");
    let vol = vols[0]["id"].as_i64().unwrap().to_string();
    admin.run(&["volumes", "delete", &vol]).await.expect_code(0);
    admin.run(&["volumes", "delete", &vol]).await.expect_error(6, "already deleted");

    // --- scripts and templates ---
    let listed = admin.run(&["scenarios"]).await.expect_code(0).stdout;
    assert!(listed.contains("generic.sh") && listed.contains("shared"), "the example of a fresh core: {listed}");
    admin
        .run_with_stdin(
            &["scenarios", "create", "--name", "hello.sh", "--file", "-", "--parameters", "-m hi"],
            "echo hi\n",
        )
        .await
        .expect_error(6, "#! line");
    admin
        .run_with_stdin(
            &["scenarios", "create", "--name", "hello.sh", "--file", "-", "--parameters", "-m hi"],
            "#!/bin/bash\necho \"$@\"\n",
        )
        .await
        .expect_code(0)
        .expect_stdout("private");
    let shown = admin.run(&["scenarios", "show", "hello.sh"]).await.expect_code(0).stdout;
    assert!(shown.contains("-m hi") && shown.contains("echo \"$@\""), "{shown}");
    admin.run(&["scenarios", "edit", "hello.sh", "--access", "shared"]).await.expect_code(0).expect_stdout("shared");
    let args = with(&["--type", "t3.micro", "--script", "10:hello.sh:-m there"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    admin.run(&args).await.expect_error(6, "need provisioning");
    let args = with(&["--type", "t3.micro", "--script", "ten:hello.sh"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    admin.run(&args).await.expect_error(2, "is not a number");
    let args = with(&["--type", "t3.micro", "--count", "2", "--save-template", "two-webs"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    admin.run(&args).await.expect_code(0).expect_stdout("Saved template two-webs");
    assert!(admin.run(&["templates"]).await.expect_code(0).stdout.contains("two-webs"));
    let out = admin.run(&["templates", "launch", "two-webs", "--name", "tpl"]).await.expect_code(0);
    assert!(out.stdout.contains("tpl-1") && out.stdout.contains("succeeded"), "{}", out.stdout);
    admin.run(&["templates", "delete", "two-webs"]).await.expect_code(0);
    admin.run(&["templates", "launch", "two-webs"]).await.expect_error(5, "no template named");
    admin.run(&["scenarios", "delete", "hello.sh"]).await.expect_code(0);
    drop(moto);
}
