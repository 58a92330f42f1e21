//! `wmais`: the Wintermute core daemon.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use wintermute_core::config::{redact_url, Config, EXAMPLE_CONFIG};
use wintermute_core::FirstStart;

#[derive(Parser)]
#[command(name = "wmais", version, about = "The Wintermute core: an in-house cloud access broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the core until SIGTERM or Ctrl-C.
    Serve {
        /// TOML configuration file (see `wmais config example`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (default /var/lib/wintermute for root, ~/.local/share/wintermute otherwise).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Address to listen on (default 127.0.0.1:8750).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Database URL: sqlite://PATH or postgres://USER:PASSWORD@HOST/DB (default SQLite in the data directory).
        #[arg(long)]
        database: Option<String>,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the example configuration file.
    Example,
    /// Print the configuration in effect (file, environment and flags applied).
    Show {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Config { command: ConfigCommand::Example } => {
            print!("{EXAMPLE_CONFIG}");
            Ok(())
        }
        Command::Config { command: ConfigCommand::Show { config } } => {
            let cfg = load(config.as_deref(), None, None, None)?;
            let mut shown = cfg.clone();
            shown.database.url = redact_url(&shown.database.url);
            print!("{}", toml::to_string_pretty(&shown).context("cannot print the configuration")?);
            Ok(())
        }
        Command::Serve { config, data_dir, listen, database } => {
            init_logging();
            let cfg = load(config.as_deref(), data_dir, listen, database)?;
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(serve(cfg))
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_writer(std::io::stderr)
        .init();
}

fn load(
    file: Option<&Path>,
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    database: Option<String>,
) -> anyhow::Result<Config> {
    let loaded = Config::load(file, std::env::vars())?;
    for key in &loaded.unknown_keys {
        tracing::warn!("unknown configuration key {key:?} ignored");
        eprintln!("warning: unknown configuration key {key:?} ignored");
    }
    let mut cfg = loaded.config;
    if let Some(d) = data_dir {
        cfg.storage.data_dir = d;
    }
    if let Some(l) = listen {
        cfg.server.listen = l;
    }
    if let Some(db) = database {
        if !(db.starts_with("sqlite:") || db.starts_with("postgres://") || db.starts_with("postgresql://")) {
            bail!("--database must be sqlite://PATH or postgres://...");
        }
        cfg.database.url = db;
    }
    Ok(cfg)
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    let data_dir = cfg.storage.data_dir.clone();
    let listener = tokio::net::TcpListener::bind(cfg.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.server.listen))?;
    let mut cfg = cfg;
    // With port 0 the system picks one: report the real address.
    cfg.server.listen = listener.local_addr()?;
    let url = cfg.public_url();
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    tracing::info!("database: {}", redact_url(&cfg.database_url()));
    let mut ready_err = None;
    wintermute_server::launch(listener, cfg, shutdown, |_, first| {
        if let Some(first) = first {
            if let Err(e) = report_first_start(&data_dir, &url, first) {
                ready_err = Some(e);
            }
        }
        println!("Wintermute core listening on {url}");
        let _ = std::io::stdout().flush();
    })
    .await?;
    if let Some(e) = ready_err {
        return Err(e);
    }
    tracing::info!("stopped");
    Ok(())
}

/// Prints the temporary admin password once and keeps it in `install.log` (mode 0600), as the
/// manual's first login describes.
fn report_first_start(data_dir: &Path, url: &str, first: &FirstStart) -> anyhow::Result<()> {
    let text = format!(
        "Wintermute core — first start\nURL:      {url}\nLogin:    {}\nPassword: {}\n\
         This password is temporary: change it at the first login (wmai login {url} --user {}; wmai passwd).\n",
        first.login, first.password, first.login
    );
    print!("{text}");
    let path = data_dir.join("install.log");
    let mut f = open_private(&path).with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let f = std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

async fn wait_for_signal(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("interrupted: shutting down"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    shutdown.cancel();
}
