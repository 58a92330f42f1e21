//! An OpenStack provider through `wmai` against a real core, a real Keystone and the fake cloud
//! in its catalogue: an administrator adds the provider with the password on stdin, synchronises
//! it (regions, flavors), allows a flavor, imports and enables a Glance image; two tagged
//! instances with encrypted volumes are launched and followed to the end, then terminated
//! (volumes kept, no server or floating IP left). Nothing connects to the fake's addresses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use wintermute_cloud_openstack::testing::{Lab, PASSWORD, PROJECT, REGION, USER};
use wintermute_tests::{Core, CoreOptions, Wmai, ADMIN_PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstack_through_the_cli() {
    let Some(lab) = Lab::start().await else { return };
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

    let keystone = lab.keystone.url();
    let add = |auth_url: String| {
        vec![
            "providers".to_string(),
            "add-openstack".into(),
            "lab".into(),
            "--auth-url".into(),
            auth_url,
            "--project".into(),
            PROJECT.into(),
            "--user".into(),
            USER.into(),
            "--password-stdin".into(),
        ]
    };
    let versioned = add(format!("{keystone}/v3"));
    let versioned: Vec<&str> = versioned.iter().map(String::as_str).collect();
    admin.run_with_stdin(&versioned, &format!("{PASSWORD}\n")).await.expect_error(6, "version suffix");
    let args = add(keystone.clone());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = admin.run_with_stdin(&args, &format!("{PASSWORD}\n")).await.expect_code(0);
    assert!(out.stdout.contains(PROJECT) && out.stdout.contains("floating"), "{}", out.stdout);
    assert!(!out.stdout.contains(PASSWORD));
    let shown: Value = admin.run(&["--json", "providers", "show", "lab"]).await.expect_code(0).json();
    assert_eq!(shown["kind"], "openstack");
    assert_eq!(shown["endpoint_url"], keystone.as_str());
    assert!(!shown.to_string().contains(PASSWORD));
    admin.run(&["providers", "sync", "lab"]).await.expect_code(0).expect_stdout("succeeded");
    admin.run(&["providers", "allow", "lab", "--regions", REGION, "--types", "m1.small"]).await.expect_code(0);
    let shown = admin.run(&["providers", "show", "lab"]).await.expect_code(0);
    assert!(shown.stdout.contains("m1.small (1 vCPU, 2048 MiB)"), "{}", shown.stdout);

    // --- a Glance image ---
    let found =
        admin.run(&["--json", "images", "search", "lab", "debian", "--region", REGION]).await.expect_code(0).json();
    let glance_id = found[0]["cloud_id"].as_str().unwrap().to_owned();
    admin
        .run(&["images", "import", "lab", &glance_id, "--region", REGION])
        .await
        .expect_code(0)
        .expect_stdout("disabled");
    let images = admin.run(&["--json", "images"]).await.expect_code(0).json();
    let image = images[0]["id"].as_i64().unwrap().to_string();
    admin.run(&["images", "edit", &image, "--os", "debian", "--enable"]).await.expect_code(0).expect_stdout("enabled");

    // --- launch two, followed to the end ---
    let base = ["instances", "launch", "web", "--no-provision", "--image", image.as_str(), "--type"];
    let mut args: Vec<&str> = base.to_vec();
    args.extend(["m1.large"]);
    admin.run(&args).await.expect_error(4, "not allowed");
    let mut args: Vec<&str> = base.to_vec();
    args.extend(["m1.small", "--count", "2", "--tags", "1-2:php, 1:haproxy", "--volume-gb", "1"]);
    let out = admin.run(&args).await.expect_code(0);
    assert!(out.stdout.contains("web-1") && out.stdout.contains("succeeded"), "{}", out.stdout);
    let list: Value = admin.run(&["--json", "instances"]).await.expect_code(0).json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|i| i["status"] == "running"), "{list:?}");
    assert_eq!(lab.fake.servers().len(), 2);
    assert_eq!(lab.fake.floating_ips().len(), 2);
    assert_eq!(lab.fake.volumes().len(), 2);

    // --- power off and terminate: volumes kept, nothing else left ---
    admin.run(&["instances", "power-off", "web-1"]).await.expect_code(0);
    let one: Value = admin.run(&["--json", "instances", "show", "web-1"]).await.expect_code(0).json();
    assert_eq!(one["status"], "stopped");
    admin.run(&["instances", "terminate", "web-1", "web-2"]).await.expect_code(0);
    let list: Value = admin.run(&["--json", "instances", "--all"]).await.expect_code(0).json();
    assert!(list.as_array().unwrap().iter().all(|i| i["status"] == "terminated"), "{list:?}");
    let vols: Value = admin.run(&["--json", "volumes"]).await.expect_code(0).json();
    assert!(vols.as_array().unwrap().iter().all(|v| v["status"] == "available"), "{vols:?}");
    assert!(lab.fake.floating_ips().is_empty());
    assert!(lab.fake.servers().iter().all(|s| s["OS-EXT-STS:task_state"] == "deleting"));
}
