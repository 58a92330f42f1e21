//! Harness of the end-to-end tests and benchmarks (see also tests/README.md).
//!
//! The tests here run the real `wmais` binary, built beforehand (`cargo build --workspace --bins`),
//! and talk to it over HTTP like any other client:
//!
//! - [`bin_path`] finds a built binary of the workspace (`$CARGO_TARGET_DIR/debug/<name>`, or the
//!   target folder the running test binary was built into).
//! - [`Core::start`] runs `wmais serve` on a fresh temporary data dir (or the one in
//!   [`CoreOptions::data_dir`], so a restart reuses it) and a free loopback port, with extra
//!   environment (`WMAIS__SECTION__KEY=...`) and arguments (`--database URL`), and waits until
//!   `GET /api/v1/health` answers. Its stdout and stderr go to `core.stdout.log` and
//!   `core.stderr.log` in the data dir; they are printed when a test panics with the core alive, and
//!   [`Core::logs`] returns them. [`Core::kill`] is a crash (SIGKILL), [`Core::terminate`] a graceful
//!   stop (SIGTERM). Dropping a `Core` kills its process.
//! - [`Core::admin_client`] logs in as `admin`, replacing the temporary password of `install.log`
//!   by [`ADMIN_PASSWORD`] the first time.
//! - [`postgres::fresh_postgres_db`] creates a database of its own on the PostgreSQL server named by
//!   `WINTERMUTE_TEST_POSTGRES_URL` (with `psql`) and drops it again when the guard is dropped.
//! - [`wait_for`] polls a condition with a deadline.
//! - [`cli::Wmai`] runs the `wmai` CLI as a child process with a configuration directory of its
//!   own and the token in a file, and captures its exit code, stdout and stderr ([`cli::CliOutput`]).
//! - [`forward::Forwarder`] relays TCP connections from one loopback address to another; with
//!   `Forwarder::on_free_loopback_address(22, guest)` and the EC2 emulator handing out that
//!   address as an instance's public address, SSH to the "EC2" instance lands on a real guest.
//! - [`browser::Browser`] runs Debian's headless Chromium through chromedriver (WebDriver, with
//!   `fantoccini`) on a fresh profile; [`browser::browser_prerequisites`] finds Chromium,
//!   chromedriver and the built frontend (`scripts/build-frontend`), failing under `CI=true` when one
//!   is missing; screenshots go to [`browser::screenshots_dir`].
//! - [`console`] points an instance record at an SSH server the test runs and opens console
//!   WebSockets on it.
//! - [`custody`] calls the key custody routes the typed client lacks (SSH key export, master key
//!   status and rotation, backup, restore) and reads a data dir's `master.key`.

pub mod binary;
pub mod browser;
pub mod cli;
pub mod console;
pub mod core;
pub mod custody;
pub mod forward;
pub mod postgres;

use std::future::Future;
use std::time::{Duration, Instant};

pub use crate::binary::{bin_path, bin_path_in_profile};
pub use crate::cli::{CliOutput, Wmai};
pub use crate::core::{Core, CoreOptions, DataDir, ADMIN_PASSWORD};
pub use crate::forward::Forwarder;
pub use crate::postgres::{fresh_postgres_db, postgres_url, PostgresDb, POSTGRES_ENV};

/// Calls `check` every `every` until it returns `Some`, or fails after `timeout` saying `what`
/// (with the last error `check` returned, if any).
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, every: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if Instant::now() >= deadline {
            return Err(match last_error {
                Some(e) => e.context(format!("timed out after {timeout:?} waiting for {what}")),
                None => anyhow::anyhow!("timed out after {timeout:?} waiting for {what}"),
            });
        }
        tokio::time::sleep(every).await;
    }
}

/// Waits (up to 10 minutes: a first start builds it) until the local provider's Debian 12 image is
/// enabled in `client`'s catalogue, and returns it.
pub async fn local_debian_image(
    client: &wintermute_api::client::Client,
) -> anyhow::Result<wintermute_api::providers::Image> {
    wait_for("the local provider's Debian image", Duration::from_secs(600), Duration::from_secs(1), || async {
        Ok(client.images().await?.into_iter().find(|i| i.enabled && i.name == "debian-12"))
    })
    .await
}

/// Waits until instance `id` has status `want`, as `client` sees it.
pub async fn instance_reaches(
    client: &wintermute_api::client::Client,
    id: i64,
    want: wintermute_api::instances::InstanceStatus,
    timeout: Duration,
) -> anyhow::Result<()> {
    wait_for(&format!("instance {id} to be {want}"), timeout, Duration::from_secs(1), || async {
        Ok((client.instance(id).await?.status == want).then_some(()))
    })
    .await
}
