//! `wmai admin backup` and `wmai admin restore`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use wintermute_api::client::ClientError;
use wintermute_api::keys::{BackupRequest, RestoreSummary};

use crate::exit::{CliError, Exit};
use crate::files::{self, PendingFile};
use crate::input;
use crate::output;
use crate::session::App;

/// The core refuses shorter backup passphrases.
pub const MIN_BACKUP_PASSPHRASE: usize = 12;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The new backup file (written as FILE.part, mode 0600, renamed at the end)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Read the passphrase from the first line of stdin (default: asked twice on a terminal)
    #[arg(long)]
    pub passphrase_stdin: bool,
    /// Replace FILE (and a FILE.part left by an interrupted backup) if it exists
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A backup file made by `wmai admin backup`
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Read the passphrase from the first line of stdin (default: asked on a terminal)
    #[arg(long)]
    pub passphrase_stdin: bool,
}

/// Fails unless the passphrase is long enough.
pub fn check_backup_passphrase(p: &str) -> Result<(), CliError> {
    if p.chars().count() < MIN_BACKUP_PASSPHRASE {
        return Err(CliError::invalid(format!(
            "the backup passphrase must have at least {MIN_BACKUP_PASSPHRASE} characters"
        )));
    }
    Ok(())
}

fn backup_passphrase(from_stdin: bool) -> anyhow::Result<String> {
    let p = if from_stdin {
        input::stdin_line("passphrase")?
    } else if input::interactive() {
        eprintln!(
            "The passphrase encrypts the backup. Without it the backup cannot be restored, and it cannot be recovered."
        );
        input::prompt_new_secret(
            &format!("Backup passphrase (at least {MIN_BACKUP_PASSPHRASE} characters): "),
            "Repeat the passphrase: ",
            "passphrase",
            "--passphrase-stdin",
        )?
    } else {
        return Err(input::no_terminal("passphrase", "--passphrase-stdin"));
    };
    check_backup_passphrase(&p)?;
    Ok(p)
}

/// A spinner with a byte counter on stderr, when that is a terminal and stdout is not JSON.
fn spinner(json: bool, message: &str) -> Option<ProgressBar> {
    if json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {bytes} ({bytes_per_sec}, {elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

fn interrupted(what: &str) -> anyhow::Error {
    CliError::new(Exit::Error, "interrupted", format!("{what} interrupted")).into()
}

pub async fn backup(app: &App, a: BackupArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    files::check_destination(&a.file, a.force)?;
    let passphrase = backup_passphrase(a.passphrase_stdin)?;
    // Before asking the core, so that an unwritable place fails first.
    let mut part = PendingFile::create(&a.file, PendingFile::part_path(&a.file), a.force)?;
    let bar = spinner(s.json, "waiting for the core to write the backup…");

    let url = s.client.url("admin/backup")?.to_string();
    let mut size: u64 = 0;
    let download = async {
        let mut resp = s.client.backup_response(&BackupRequest { passphrase }).await?;
        if let Some(bar) = &bar {
            bar.set_message("receiving the backup");
        }
        while let Some(chunk) =
            resp.chunk().await.map_err(|source| ClientError::Transport { url: url.clone(), source })?
        {
            part.write_all(&chunk)?;
            size += chunk.len() as u64;
            if let Some(bar) = &bar {
                bar.set_position(size);
            }
        }
        anyhow::Ok(())
    };
    let result = tokio::select! {
        r = download => r,
        _ = tokio::signal::ctrl_c() => Err(interrupted("the backup was")),
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    // On an error the .part file is removed with `part`.
    result?;
    if size == 0 {
        return Err(anyhow::anyhow!("the core sent an empty backup"));
    }
    part.persist(a.force)?;

    if s.json {
        return output::print_json(&BackupOutput { file: &a.file, bytes: size });
    }
    out!("Wrote the backup to {} ({}).", a.file.display(), HumanBytes(size));
    out!("Keep the passphrase safe: it is needed to restore this backup, and it cannot be recovered.");
    Ok(())
}

/// `--json` of `admin backup`.
#[derive(serde::Serialize)]
struct BackupOutput<'a> {
    file: &'a Path,
    bytes: u64,
}

pub async fn restore(app: &App, a: RestoreArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    let meta = std::fs::metadata(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    if !meta.is_file() {
        return Err(CliError::usage(format!("{} is not a file", a.file.display())).into());
    }
    let passphrase = if a.passphrase_stdin {
        input::stdin_line("passphrase")?
    } else if input::interactive() {
        input::prompt_password("Backup passphrase: ", "--passphrase-stdin")?
    } else {
        return Err(input::no_terminal("passphrase", "--passphrase-stdin"));
    };
    if passphrase.is_empty() {
        return Err(CliError::invalid("the passphrase is empty").into());
    }
    // In memory: reqwest streams a request body only with a feature the workspace does not enable.
    let archive = tokio::fs::read(&a.file).await.with_context(|| format!("cannot read {}", a.file.display()))?;
    let bar = spinner(s.json, &format!("restoring {}", HumanBytes(archive.len() as u64)));
    let result = s.client.restore(archive, &passphrase).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let summary: RestoreSummary = result?;

    // The restored database has its own sessions: ours is gone.
    let forgotten = match app.store().forget(&s.url) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("warning: cannot forget the token of {}: {e:#}", s.url);
            false
        }
    };
    let note = format!(
        "Your session ended with the restore. Log in again with `wmai login {}` as an account of the \
         restored core, with its password from before the backup.",
        s.url
    );
    if s.json {
        output::print_json(&summary)?;
        eprintln!("{note}");
    } else {
        out!(
            "Restored {} rows of {} tables from a backup of {} (a {} core).",
            summary.rows,
            summary.tables,
            output::time(summary.backup_created_at),
            summary.source_backend
        );
        out!("{note}");
    }
    if std::env::var_os("WMAI_TOKEN").is_some() {
        eprintln!("note: the token in WMAI_TOKEN belonged to the core before the restore and no longer works");
    } else if !forgotten {
        eprintln!("note: no stored token of {} to forget", s.url);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_passphrases() {
        assert!(check_backup_passphrase("twelve chars").is_ok());
        // Any characters travel (base64 in the restore header), only the length counts.
        assert!(check_backup_passphrase(" Umlaut-Passwört-lang ").is_ok());
        for bad in ["short", "eleven char"] {
            let e = check_backup_passphrase(bad).unwrap_err();
            assert_eq!(e.exit, Exit::Invalid, "{bad:?}");
        }
    }
}
