//! QEMU's command line for an instance, starting it, and `qemu-img`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;
use wintermute_cloud::CloudError;

use crate::error::{qemu_failed, tail};
use crate::host::Accel;
use crate::network::PrivateNetwork;

/// The fw_cfg folder the guest's first-boot step reads (`/sys/firmware/qemu_fw_cfg/by_name/…`).
pub(crate) const FW_CFG_PREFIX: &str = "opt/wintermute/";

/// How long QEMU may take to set up and daemonize.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// MAC of every guest's NAT NIC (each has its own user-mode network, so they do not clash).
const NAT_MAC: &str = "52:54:00:12:34:56";

/// Everything that goes on an instance's QEMU command line.
#[derive(Debug, Clone)]
pub(crate) struct VmConfig {
    pub id: String,
    pub uuid: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub accel: Accel,
    /// The instance folder (absolute: QEMU changes to `/` when it daemonizes).
    pub dir: PathBuf,
    pub ssh_port: u16,
    pub network: PrivateNetwork,
    pub private_mac: String,
    /// Attached volumes: id and qcow2 file.
    pub volumes: Vec<(String, PathBuf)>,
    /// fw_cfg items: name below [`FW_CFG_PREFIX`], and the file holding the value.
    pub fw_cfg: Vec<(String, PathBuf)>,
}

/// A value inside a QEMU option list: commas are doubled.
fn opt(path: &Path) -> String {
    path.to_string_lossy().replace(',', ",,")
}

/// The `-blockdev` value of a qcow2 disk.
fn blockdev(node: &str, file: &Path) -> String {
    format!("driver=qcow2,node-name={node},file.driver=file,file.filename={}", opt(file))
}

impl VmConfig {
    /// QEMU's arguments. The machine is `pc` (i440FX), whose PCI bus takes hot-plugged disks
    /// without extra root ports; the root disk boots first whatever is plugged in later.
    pub(crate) fn args(&self) -> Vec<String> {
        let dir = &self.dir;
        let mut a: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
        push(&["-name", &self.id, "-uuid", &self.uuid, "-machine", "pc"]);
        push(self.accel.qemu_args());
        push(&["-smp", &self.vcpus.to_string(), "-m", &self.memory_mib.to_string()]);
        push(&["-nodefaults", "-no-user-config", "-display", "none"]);
        let console = format!("file,id=console,path={},append=on", opt(&dir.join("console.log")));
        push(&["-chardev", &console, "-serial", "chardev:console"]);
        let qmp = format!("unix:{},server=on,wait=off", opt(&dir.join("qmp.sock")));
        push(&["-qmp", &qmp]);
        push(&["-pidfile", &dir.join("qemu.pid").to_string_lossy(), "-daemonize"]);
        push(&["-blockdev", &blockdev("root", &dir.join("disk.qcow2"))]);
        push(&["-device", &format!("virtio-blk-pci,drive=root,id=root,serial={},bootindex=0", self.id)]);
        for (volume, file) in &self.volumes {
            push(&["-blockdev", &blockdev(volume, file)]);
            push(&["-device", &format!("virtio-blk-pci,drive={volume},id={volume},serial={volume}")]);
        }
        let nat = format!("user,id=nat,hostfwd=tcp:127.0.0.1:{}-:22", self.ssh_port);
        push(&["-netdev", &nat, "-device", &format!("virtio-net-pci,netdev=nat,mac={NAT_MAC}")]);
        push(&["-netdev", &self.network.netdev("private")]);
        push(&["-device", &format!("virtio-net-pci,netdev=private,mac={}", self.private_mac)]);
        push(&["-device", "virtio-rng-pci"]);
        for (name, file) in &self.fw_cfg {
            push(&["-fw_cfg", &format!("name={FW_CFG_PREFIX}{name},file={}", opt(file))]);
        }
        a
    }
}

/// Why QEMU did not start.
#[derive(Debug)]
pub(crate) enum StartError {
    /// The forwarded SSH port was taken in the meantime: try another.
    PortTaken,
    Failed(CloudError),
}

/// Starts QEMU with `args` (which daemonize it) and waits until it has set up the machine.
pub(crate) async fn start(qemu: &Path, args: &[String]) -> Result<(), StartError> {
    let child = Command::new(qemu)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| StartError::Failed(qemu_failed(format!("cannot run {}: {e}", qemu.display()))))?;
    let output = tokio::time::timeout(START_TIMEOUT, child.wait_with_output()).await.map_err(|_| {
        StartError::Failed(CloudError::Timeout { operation: "starting QEMU".into(), after: START_TIMEOUT })
    })?;
    let output = output.map_err(|e| StartError::Failed(qemu_failed(format!("QEMU: {e}"))))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("host forwarding rule") {
        return Err(StartError::PortTaken);
    }
    Err(StartError::Failed(qemu_failed(format!("QEMU did not start ({}): {}", output.status, tail(&stderr, 600)))))
}

/// Runs `qemu-img` with `args` and returns its standard output.
pub(crate) async fn qemu_img(qemu_img: &Path, args: &[&str]) -> Result<String, CloudError> {
    let output = Command::new(qemu_img)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| qemu_failed(format!("cannot run {}: {e}", qemu_img.display())))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(qemu_failed(format!("qemu-img {} failed: {}", args.join(" "), tail(&stderr, 600))));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// What `qemu-img info` says about a disk image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DiskInfo {
    /// `qcow2`, `raw`…
    pub format: String,
    pub virtual_size: u64,
}

/// Reads a disk image's format and size.
pub(crate) async fn disk_info(qemu_img_path: &Path, file: &Path) -> Result<DiskInfo, CloudError> {
    let file = file.to_string_lossy();
    let json = qemu_img(qemu_img_path, &["info", "--output=json", "-U", &file]).await?;
    parse_disk_info(&json)
}

fn parse_disk_info(json: &str) -> Result<DiskInfo, CloudError> {
    let value: Value = serde_json::from_str(json).map_err(|e| qemu_failed(format!("qemu-img info: {e}")))?;
    let format = value["format"].as_str().ok_or_else(|| qemu_failed("qemu-img info names no format"))?;
    let virtual_size = value["virtual-size"].as_u64().ok_or_else(|| qemu_failed("qemu-img info gives no size"))?;
    Ok(DiskInfo { format: format.to_string(), virtual_size })
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn config() -> VmConfig {
        VmConfig {
            id: "i-0123456789abcdef".into(),
            uuid: "6f1c5c3e-8a52-4c39-9d3e-6a5f0c1e2b3a".into(),
            vcpus: 2,
            memory_mib: 1024,
            accel: Accel::Tcg,
            dir: PathBuf::from("/var/lib/wm,local/instances/i-0123456789abcdef"),
            ssh_port: 2222,
            network: PrivateNetwork {
                group: Ipv4Addr::new(239, 255, 1, 2),
                port: 30000,
                subnet: Ipv4Addr::new(10, 77, 0, 0),
            },
            private_mac: "52:54:00:4d:00:0a".into(),
            volumes: vec![("vol-0123456789abcdef".into(), PathBuf::from("/v/vol-0123456789abcdef.qcow2"))],
            fw_cfg: vec![("instance-id".into(), PathBuf::from("/m/instance-id"))],
        }
    }

    #[test]
    fn command_line() {
        let args = config().args().join(" ");
        for part in [
            "-accel tcg,thread=multi,tb-size=64",
            "-smp 2 -m 1024",
            "-qmp unix:/var/lib/wm,,local/instances/i-0123456789abcdef/qmp.sock,server=on,wait=off",
            "-daemonize",
            "file.filename=/var/lib/wm,,local/instances/i-0123456789abcdef/disk.qcow2",
            "virtio-blk-pci,drive=root,id=root,serial=i-0123456789abcdef,bootindex=0",
            "-device virtio-blk-pci,drive=vol-0123456789abcdef,id=vol-0123456789abcdef,serial=vol-0123456789abcdef",
            "hostfwd=tcp:127.0.0.1:2222-:22",
            "socket,id=private,mcast=239.255.1.2:30000,localaddr=127.0.0.1",
            "virtio-net-pci,netdev=private,mac=52:54:00:4d:00:0a",
            "-fw_cfg name=opt/wintermute/instance-id,file=/m/instance-id",
        ] {
            assert!(args.contains(part), "{part} missing in {args}");
        }
        let kvm = VmConfig { accel: Accel::Kvm, ..config() }.args().join(" ");
        assert!(kvm.contains("-accel kvm -cpu host"), "{kvm}");
    }

    #[test]
    fn disk_info_is_read() {
        let info = parse_disk_info(r#"{"virtual-size": 1073741824, "filename": "x", "format": "qcow2"}"#).unwrap();
        assert_eq!(info, DiskInfo { format: "qcow2".into(), virtual_size: 1 << 30 });
        assert!(parse_disk_info("{}").is_err());
    }
}
