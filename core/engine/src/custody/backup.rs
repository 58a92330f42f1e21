//! Backup and restore: one archive, encrypted with a key derived from a passphrase (Argon2id),
//! holding the master key set and every table of the database as rows. The dump is logical, so
//! a backup of a SQLite core restores into a PostgreSQL core and the other way round.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::any::AnyTypeInfoKind;
use sqlx::{Row, ValueRef};
use wintermute_api::audit::AuditOutcome;
use wintermute_api::keys::RestoreSummary;
use wintermute_custody::{BackupReader, BackupWriter, CustodyError, MasterKeySet, SecretString};

use crate::audit::AuditRecord;
use crate::caller::Caller;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::Backend;

/// Every table, parents before children, and whether its `id` is generated (PostgreSQL sequences
/// are moved past restored ids). A test checks that no table of the schema is missing here.
pub const BACKUP_TABLES: &[(&str, bool)] = &[
    ("users", true),
    ("user_permissions", false),
    ("user_groups", true),
    ("group_members", false),
    ("objects", false),
    ("object_rights", false),
    ("sessions", true),
    ("login_failures", true),
    ("tasks", true),
    ("task_logs", false),
    ("audit_log", true),
    ("settings", false),
    ("instances", true),
    ("volumes", true),
    ("data_keys", true),
    ("user_ssh_keys", false),
    ("user_ssh_key_history", true),
    ("volume_keys", false),
    ("host_keys", false),
    ("ssh_key_pushes", false),
    ("secrets", false),
    ("providers", true),
    ("provider_regions", false),
    ("provider_instance_types", false),
    ("images", true),
    ("core_meta", false),
    ("provider_security_groups", false),
    ("usage_limits", false),
    ("console_sessions", true),
    ("scripts", true),
    ("launch_templates", true),
];

const FORMAT: &str = "wintermute-backup";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Header { format: String, version: u32, created_at: i64, backend: String, schema: i64 },
    MasterKeys { text: String },
    Table { name: String, columns: Vec<String> },
    Row(Vec<Cell>),
    End { tables: i64, rows: i64 },
}

#[derive(Serialize, Deserialize, Debug, Clone)]
enum Cell {
    I(i64),
    F(f64),
    S(String),
    N,
}

fn passphrase_ok(p: &str) -> CoreResult<SecretString> {
    if p.chars().count() < 12 {
        return Err(CoreError::invalid("passphrase", "the backup passphrase must have at least 12 characters"));
    }
    Ok(SecretString::new(p.to_owned()))
}

fn io_err(e: impl std::fmt::Display) -> CoreError {
    CoreError::Internal(format!("backup file: {e}"))
}

impl Engine {
    async fn schema_version(&self) -> CoreResult<i64> {
        let (v,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM _sqlx_migrations WHERE success = TRUE",
        )
        .fetch_one(self.store().pool())
        .await?;
        Ok(v)
    }

    /// Writes an encrypted backup of the whole core to `path` (administrators).
    pub async fn backup_to_file(&self, caller: &Caller, passphrase: &str, path: &Path) -> CoreResult<i64> {
        if !caller.is_admin {
            return Err(CoreError::forbidden("only administrators take backups"));
        }
        let pass = passphrase_ok(passphrase)?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(256);
        let file = std::fs::File::create(path).map_err(io_err)?;
        let writer = tokio::task::spawn_blocking(move || -> CoreResult<()> {
            let mut w = BackupWriter::new(BufWriter::new(file), &pass)?;
            for chunk in rx {
                w.write_all(&chunk).map_err(io_err)?;
            }
            let inner = w.finish()?;
            let file = inner.into_inner().map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
            Ok(())
        });
        let send = |line: &Line| -> CoreResult<()> {
            let mut bytes = serde_json::to_vec(line).map_err(io_err)?;
            bytes.push(b'\n');
            tx.send(bytes).map_err(|_| io_err("the writer stopped"))
        };
        let produced = async {
            send(&Line::Header {
                format: FORMAT.into(),
                version: VERSION,
                created_at: crate::time::now_ms(),
                backend: self.store().backend().as_str().into(),
                schema: self.schema_version().await?,
            })?;
            let keys = self.custody().set()?.encode();
            send(&Line::MasterKeys { text: keys.expose().clone() })?;
            let mut rows_total = 0i64;
            for (table, _) in BACKUP_TABLES {
                let rows = sqlx::query(&format!("SELECT * FROM {table}")).fetch_all(self.store().pool()).await?;
                let columns: Vec<String> = match rows.first() {
                    Some(r) => r.columns().iter().map(|c| sqlx::Column::name(c).to_owned()).collect(),
                    None => Vec::new(),
                };
                send(&Line::Table { name: (*table).into(), columns: columns.clone() })?;
                for r in &rows {
                    let mut cells = Vec::with_capacity(columns.len());
                    for i in 0..columns.len() {
                        let raw = r.try_get_raw(i)?;
                        let cell = if raw.is_null() {
                            Cell::N
                        } else {
                            match raw.type_info().kind() {
                                AnyTypeInfoKind::Bool => Cell::I(i64::from(r.try_get::<bool, _>(i)?)),
                                AnyTypeInfoKind::SmallInt | AnyTypeInfoKind::Integer | AnyTypeInfoKind::BigInt => {
                                    Cell::I(r.try_get(i)?)
                                }
                                AnyTypeInfoKind::Real | AnyTypeInfoKind::Double => Cell::F(r.try_get(i)?),
                                AnyTypeInfoKind::Text => Cell::S(r.try_get(i)?),
                                other => {
                                    return Err(CoreError::Internal(format!(
                                        "{table}: cannot back up a column of type {}",
                                        other_name(other)
                                    )))
                                }
                            }
                        };
                        cells.push(cell);
                    }
                    send(&Line::Row(cells))?;
                }
                rows_total += rows.len() as i64;
            }
            send(&Line::End { tables: BACKUP_TABLES.len() as i64, rows: rows_total })?;
            Ok::<i64, CoreError>(rows_total)
        }
        .await;
        drop(tx);
        let written = writer.await.map_err(|e| CoreError::Internal(format!("backup writer: {e}")))?;
        let rows = match (produced, written) {
            (Ok(n), Ok(())) => n,
            (Err(e), _) | (_, Err(e)) => {
                let _ = std::fs::remove_file(path);
                return Err(e);
            }
        };
        self.audit(
            &caller.actor(),
            AuditRecord::new("backup.create", AuditOutcome::Success).details(json!({"rows": rows})),
        )
        .await?;
        Ok(rows)
    }

    /// Restores a backup into this core, which must be fresh (nothing but its first administrator).
    /// The database and the master key are replaced together; the caller's session ends with it.
    pub async fn restore_from_file(
        &self,
        caller: &Caller,
        passphrase: &str,
        path: &Path,
    ) -> CoreResult<RestoreSummary> {
        self.restore_inner(caller, passphrase, path).await.map_err(|e| match e {
            CoreError::Custody(c) => not_a_backup(c),
            other => other,
        })
    }

    async fn restore_inner(&self, caller: &Caller, passphrase: &str, path: &Path) -> CoreResult<RestoreSummary> {
        if !caller.is_admin {
            return Err(CoreError::forbidden("only administrators restore backups"));
        }
        let pass = SecretString::new(passphrase.to_owned());
        self.require_fresh().await?;
        let file = std::fs::File::open(path).map_err(io_err)?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<CoreResult<Line>>(256);
        let reader = tokio::task::spawn_blocking(move || {
            let r = match BackupReader::new(file, &pass) {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.blocking_send(Err(not_a_backup(e)));
                    return;
                }
            };
            for line in BufReader::new(r).lines() {
                let item = match line {
                    Ok(l) => serde_json::from_str::<Line>(&l)
                        .map_err(|e| CustodyError::BadFormat(format!("unreadable backup line: {e}")).into()),
                    Err(e) => Err(CoreError::from(CustodyError::from_io_error(e))),
                };
                let stop = item.is_err();
                if tx.blocking_send(item).is_err() || stop {
                    return;
                }
            }
        });

        let (created_at, source_backend) = match next_line(&mut rx).await? {
            Line::Header { format, version, created_at, backend, schema } => {
                if format != FORMAT || version != VERSION {
                    return Err(CustodyError::BadFormat(format!("not a Wintermute backup of version {VERSION}")).into());
                }
                let ours = self.schema_version().await?;
                if schema != ours {
                    return Err(CoreError::Conflict(format!(
                        "the backup has database schema {schema}, this core has {ours}: restore it with the core version that made it"
                    )));
                }
                (created_at, backend)
            }
            _ => return Err(CustodyError::BadFormat("the backup has no header".into()).into()),
        };
        let keys = match next_line(&mut rx).await? {
            Line::MasterKeys { text } => MasterKeySet::parse(&zeroize::Zeroizing::new(text))?,
            _ => return Err(CustodyError::BadFormat("the backup holds no master key".into()).into()),
        };
        if !self.custody().store_writable() && self.custody().set()?.encode().expose() != keys.encode().expose() {
            return Err(CoreError::Conflict(format!(
                "the {} key store is read-only: put the backup's master key there before restoring",
                self.custody().store_name()
            )));
        }

        let backend = self.store().backend();
        let mut wtx = self.store().write_tx().await?;
        let conn = wtx.conn();
        match backend {
            Backend::Sqlite => {
                sqlx::query("DROP TRIGGER IF EXISTS audit_log_no_delete").execute(&mut *conn).await?;
            }
            Backend::Postgres => {
                sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change").execute(&mut *conn).await?;
            }
        }
        for (table, _) in BACKUP_TABLES.iter().rev() {
            sqlx::query(&format!("DELETE FROM {table}")).execute(&mut *conn).await?;
        }
        let (mut tables, mut rows) = (0i64, 0i64);
        let mut current: Option<(String, Vec<String>)> = None;
        loop {
            match next_line(&mut rx).await? {
                Line::Table { name, columns } => {
                    if !BACKUP_TABLES.iter().any(|(t, _)| *t == name) {
                        return Err(CustodyError::BadFormat(format!("unknown table {name:?} in the backup")).into());
                    }
                    tables += 1;
                    current = Some((name, columns));
                }
                Line::Row(cells) => {
                    let Some((table, columns)) = &current else {
                        return Err(CustodyError::BadFormat("a row before its table".into()).into());
                    };
                    if cells.len() != columns.len()
                        || columns.iter().any(|c| !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_'))
                    {
                        return Err(CustodyError::BadFormat(format!("a malformed row of {table}")).into());
                    }
                    let mut values = Vec::with_capacity(cells.len());
                    let mut n = 0;
                    for c in &cells {
                        if matches!(c, Cell::N) {
                            values.push("NULL".to_owned());
                        } else {
                            n += 1;
                            values.push(format!("${n}"));
                        }
                    }
                    let sql = format!("INSERT INTO {table} ({}) VALUES ({})", columns.join(", "), values.join(", "));
                    let mut q = sqlx::query(&sql);
                    for c in cells {
                        q = match c {
                            Cell::I(i) => q.bind(i),
                            Cell::F(f) => q.bind(f),
                            Cell::S(s) => q.bind(s),
                            Cell::N => q,
                        };
                    }
                    q.execute(&mut *conn).await?;
                    rows += 1;
                }
                Line::End { rows: expected, .. } => {
                    if expected != rows {
                        return Err(CustodyError::BadFormat(format!(
                            "the backup announces {expected} rows but holds {rows}"
                        ))
                        .into());
                    }
                    break;
                }
                _ => return Err(CustodyError::BadFormat("unexpected line in the backup".into()).into()),
            }
        }
        // The reader must have reached the authenticated end of the archive.
        if let Some(extra) = rx.recv().await {
            extra?;
            return Err(CustodyError::BadFormat("data after the end of the backup".into()).into());
        }
        reader.await.map_err(|e| CoreError::Internal(format!("backup reader: {e}")))?;
        match backend {
            Backend::Sqlite => {
                sqlx::query(
                    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
                )
                .execute(&mut *conn)
                .await?;
            }
            Backend::Postgres => {
                sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change").execute(&mut *conn).await?;
                for (table, identity) in BACKUP_TABLES {
                    if *identity {
                        sqlx::query(&format!(
                            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 1), \
                             (SELECT MAX(id) FROM {table}) IS NOT NULL)"
                        ))
                        .execute(&mut *conn)
                        .await?;
                    }
                }
            }
        }
        // Login sessions of the backup end here: whoever held a token then logs in again. Personal
        // API tokens stay valid, so automation keeps running after a recovery.
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE kind = 'session' AND revoked_at IS NULL")
            .bind(crate::time::now_ms())
            .execute(&mut *conn)
            .await?;
        // Keys first: if saving them fails, the database change is rolled back with the transaction.
        self.custody().replace_set(keys, self.custody().store_writable())?;
        wtx.commit().await?;
        self.custody().forget_data_keys();
        self.reload_settings().await?;
        self.audit(
            &caller.actor(),
            AuditRecord::new("backup.restore", AuditOutcome::Success)
                .details(json!({"tables": tables, "rows": rows, "source_backend": source_backend, "backup_created_at": created_at})),
        )
        .await?;
        Ok(RestoreSummary { tables, rows, source_backend, backup_created_at: crate::time::to_dt(created_at) })
    }

    /// Fails with `conflict` unless this core holds nothing but its first administrator (and the
    /// example script made with it).
    pub async fn require_fresh(&self) -> CoreResult<()> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM users) - 1 + (SELECT COUNT(*) FROM objects WHERE kind <> 'uds') \
             + (SELECT COUNT(*) FROM scripts WHERE NOT (name = $1 AND created_at = (SELECT MIN(created_at) FROM users))) \
             + (SELECT COUNT(*) FROM instances) + (SELECT COUNT(*) FROM volumes) + (SELECT COUNT(*) FROM secrets)",
        )
        .bind(crate::scenarios::EXAMPLE_NAME)
        .fetch_one(self.store().pool())
        .await?;
        if n > 0 {
            return Err(CoreError::Conflict(
                "backups are restored into a fresh core only (nothing but its first administrator); start one on an empty data directory".into(),
            ));
        }
        Ok(())
    }
}

/// Problems of the archive itself are the uploader's: a clear `invalid_field` on `backup`, not an
/// integrity error of the core's own secrets. A wrong passphrase keeps its own code.
fn not_a_backup(e: CustodyError) -> CoreError {
    match e {
        CustodyError::WrongPassphrase => e.into(),
        CustodyError::BadFormat(_) | CustodyError::Tampered { .. } => {
            CoreError::invalid("backup", format!("this is not a Wintermute backup, or it is damaged: {e}"))
        }
        other => other.into(),
    }
}

async fn next_line(rx: &mut tokio::sync::mpsc::Receiver<CoreResult<Line>>) -> CoreResult<Line> {
    rx.recv().await.unwrap_or_else(|| Err(not_a_backup(CustodyError::BadFormat("the backup ends early".into()))))
}

fn other_name(k: AnyTypeInfoKind) -> &'static str {
    match k {
        AnyTypeInfoKind::Blob => "BLOB",
        AnyTypeInfoKind::Null => "NULL",
        _ => "unknown",
    }
}
