//! Builds (or finds) the local provider's Debian 12 image and prints each step with the time
//! since the start:
//!
//! ```text
//! cargo run -p wintermute-cloud-local --example build-image [FOLDER]
//! ```
//!
//! FOLDER defaults to `~/.cache/wintermute/images`. Needs root, debootstrap, e2fsprogs and QEMU.

use std::path::PathBuf;
use std::time::Instant;

use wintermute_cloud_local::image::{build_debian_image, default_image_dir};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => default_image_dir().ok_or_else(|| anyhow::anyhow!("no cache folder on this system: give one"))?,
    };
    let started = Instant::now();
    let built = build_debian_image(&dir, |message, fraction| {
        println!("{:6.1}s {:3.0}% {message}", started.elapsed().as_secs_f64(), fraction * 100.0);
    })
    .await?;
    println!("{} (kernel {}, cached: {})", built.path.display(), built.metadata.kernel, built.cached);
    Ok(())
}
