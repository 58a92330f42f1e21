//! The fake cloud answers the official clients as a real cloud would: `openstack`
//! (python-openstackclient) and `openstacksdk` drive it through the real Keystone's catalogue.
//! This keeps the fake honest, so that the provider's tests against it mean something.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use wintermute_cloud_openstack::testing::{keystone, Lab, PASSWORD, PROJECT, REGION, USER};

struct Cli {
    venv: PathBuf,
    auth_url: String,
    dir: tempfile::TempDir,
}

impl Cli {
    fn new(lab: &Lab, venv: PathBuf) -> Cli {
        Cli { venv, auth_url: lab.keystone.url(), dir: tempfile::tempdir().unwrap() }
    }

    fn command(&self, program: &str) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(self.venv.join("bin").join(program));
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.dir.path())
            .env("OS_AUTH_URL", &self.auth_url)
            .env("OS_AUTH_TYPE", "password")
            .env("OS_IDENTITY_API_VERSION", "3")
            .env("OS_USERNAME", USER)
            .env("OS_PASSWORD", PASSWORD)
            .env("OS_PROJECT_NAME", PROJECT)
            .env("OS_USER_DOMAIN_NAME", "Default")
            .env("OS_PROJECT_DOMAIN_NAME", "Default")
            .env("OS_REGION_NAME", REGION)
            .env("OS_INTERFACE", "public");
        c
    }

    /// Runs `openstack <args>` and returns its JSON output (Null when it prints none).
    async fn run(&self, args: &[&str]) -> Value {
        let out = self.command("openstack").args(args).output().await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "openstack {}: {}\n{stdout}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        if stdout.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&stdout).unwrap_or_else(|_| Value::String(stdout.to_string()))
        }
    }

    /// Runs `openstack <args>` that must fail; returns its error output.
    async fn fail(&self, args: &[&str]) -> String {
        let out = self.command("openstack").args(args).output().await.unwrap();
        assert!(!out.status.success(), "openstack {} should fail", args.join(" "));
        String::from_utf8_lossy(&out.stderr).to_string()
    }

    async fn python(&self, script: &str) -> Value {
        let out = self.command("python3").arg("-c").arg(script).output().await.unwrap();
        assert!(out.status.success(), "openstacksdk script: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    async fn until(&self, args: &[&str], field: &str, want: &str) -> Value {
        for _ in 0..60 {
            let v = self.run(args).await;
            if v[field] == want {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("openstack {} never showed {field} = {want}", args.join(" "));
    }
}

fn names(list: &Value) -> Vec<String> {
    let mut n: Vec<String> =
        list.as_array().unwrap().iter().map(|x| x["Name"].as_str().unwrap_or_default().to_string()).collect();
    n.sort();
    n
}

#[tokio::test]
async fn the_official_clients_work_against_the_fake() {
    let Some(lab) = Lab::start().await else { return };
    let venv = keystone::venv().unwrap();
    let cli = Cli::new(&lab, venv);

    // Catalogue, version discovery and name lookups (GET by name answers 404, then a filtered list).
    assert_eq!(
        names(&cli.run(&["flavor", "list", "-f", "json"]).await),
        ["m1.large", "m1.medium", "m1.small", "m1.tiny"]
    );
    let flavor = cli.run(&["flavor", "show", "m1.small", "-f", "json"]).await;
    assert_eq!((flavor["vcpus"].as_u64(), flavor["ram"].as_u64()), (Some(1), Some(2048)));
    let images = cli.run(&["image", "list", "-f", "json"]).await;
    assert_eq!(images.as_array().unwrap().len(), 3);
    let image = cli.run(&["image", "show", "debian-12-genericcloud-amd64", "-f", "json"]).await;
    assert_eq!(image["status"], "active");
    assert!(cli.fail(&["image", "show", "no-such-image"]).await.contains("No Image found"));
    let networks = cli.run(&["network", "list", "-f", "json"]).await;
    assert_eq!(names(&networks), ["private", "public"]);

    // Key pair and security group with an SSH rule.
    let key = cli.dir.path().join("id.pub");
    std::fs::write(&key, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl t@x\n")
        .unwrap();
    cli.run(&["keypair", "create", "--public-key", key.to_str().unwrap(), "k1", "-f", "json"]).await;
    assert_eq!(names(&cli.run(&["keypair", "list", "-f", "json"]).await), ["k1"]);
    cli.run(&["security", "group", "create", "wm-test", "-f", "json"]).await;
    let rule = cli
        .run(&[
            "security",
            "group",
            "rule",
            "create",
            "--protocol",
            "tcp",
            "--dst-port",
            "22",
            "--remote-ip",
            "203.0.113.0/24",
            "wm-test",
            "-f",
            "json",
        ])
        .await;
    assert_eq!(rule["port_range_min"], 22);

    // A server, built and waited for.
    let server = cli
        .run(&[
            "server",
            "create",
            "--image",
            "debian-12-genericcloud-amd64",
            "--flavor",
            "m1.small",
            "--key-name",
            "k1",
            "--security-group",
            "wm-test",
            "--network",
            "private",
            "--property",
            "team=ops",
            "--wait",
            "vm1",
            "-f",
            "json",
        ])
        .await;
    assert_eq!(server["status"], "ACTIVE");
    let listed = cli.run(&["server", "list", "-f", "json"]).await;
    assert_eq!(names(&listed), ["vm1"]);
    let shown = cli.run(&["server", "show", "vm1", "-f", "json"]).await;
    assert_eq!(shown["key_name"], "k1");
    assert!(shown["addresses"].to_string().contains("10.0.0."), "{}", shown["addresses"]);

    // Power.
    cli.run(&["server", "stop", "vm1"]).await;
    cli.until(&["server", "show", "vm1", "-f", "json"], "status", "SHUTOFF").await;
    cli.run(&["server", "start", "vm1"]).await;
    cli.until(&["server", "show", "vm1", "-f", "json"], "status", "ACTIVE").await;

    // A volume, attached and detached.
    cli.run(&["volume", "create", "--size", "1", "vol1", "-f", "json"]).await;
    cli.until(&["volume", "show", "vol1", "-f", "json"], "status", "available").await;
    cli.run(&["server", "add", "volume", "vm1", "vol1"]).await;
    let attached = cli.until(&["volume", "show", "vol1", "-f", "json"], "status", "in-use").await;
    assert!(attached["attachments"].to_string().contains("/dev/vdb"), "{}", attached["attachments"]);
    cli.run(&["server", "remove", "volume", "vm1", "vol1"]).await;
    cli.until(&["volume", "show", "vol1", "-f", "json"], "status", "available").await;
    cli.run(&["volume", "delete", "vol1"]).await;

    // A floating IP on the server.
    let fip = cli.run(&["floating", "ip", "create", "public", "-f", "json"]).await;
    let address = fip["floating_ip_address"].as_str().unwrap().to_string();
    cli.run(&["server", "add", "floating", "ip", "vm1", &address]).await;
    let shown = cli.run(&["server", "show", "vm1", "-f", "json"]).await;
    assert!(shown["addresses"].to_string().contains(&address), "{}", shown["addresses"]);

    // The SDK sees the same, by its own paths.
    let seen = cli
        .python(
            "import json, openstack\n\
             c = openstack.connect()\n\
             s = c.compute.find_server('vm1')\n\
             s = c.compute.get_server(s.id)\n\
             print(json.dumps({'status': s.status, 'flavor': s.flavor.name, 'meta': s.metadata,\n\
               'images': sorted(i.name for i in c.image.images()),\n\
               'groups': sorted(g.name for g in c.network.security_groups()),\n\
               'fips': [f.floating_ip_address for f in c.network.ips()]}))",
        )
        .await;
    assert_eq!(seen["status"], "ACTIVE");
    assert_eq!(seen["flavor"], "m1.small");
    assert_eq!(seen["meta"]["team"], "ops");
    assert_eq!(seen["groups"], serde_json::json!(["default", "wm-test"]));
    assert_eq!(seen["fips"], serde_json::json!([address]));

    // Deleted, waited for; the floating IP stays (as in OpenStack) until deleted.
    cli.run(&["server", "delete", "--wait", "vm1"]).await;
    assert_eq!(cli.run(&["server", "list", "-f", "json"]).await, serde_json::json!([]));
    cli.run(&["floating", "ip", "delete", &address]).await;
    assert!(lab.fake.floating_ips().is_empty());
    // The clients looked names up as they do on a real cloud: GET by name first (404), then a list.
    let seen = lab.fake.seen();
    assert!(seen.iter().any(|s| s.method == "GET" && s.path == "/compute/v2.1/servers/vm1"), "{seen:?}");
    assert!(seen.iter().any(|s| s.method == "GET" && s.path == "/compute/v2.1/flavors/m1.small"));
    // Every compute call carried a microversion the fake accepted.
    assert!(lab
        .fake
        .seen()
        .iter()
        .filter(|s| s.path.starts_with("/compute/v2.1/"))
        .all(|s| s.microversion.is_some() || s.path.ends_with("/compute/v2.1/")));
}
