//! Key custody routes the typed client does not have (SSH key export, master key status and
//! rotation, backup and restore), called with raw reqwest and the client's token; and readers of
//! the `master.key` file of a data dir.

use std::path::Path;

use anyhow::{anyhow, bail, Context};
use reqwest::Method;
use serde::de::DeserializeOwned;
use wintermute_api::client::Client;
use wintermute_api::keys::{
    KeyStatus, RestoreSummary, SshKeyExportRequest, SshPrivateKey, SshPublicKey, BACKUP_PASSPHRASE_HEADER,
};
use wintermute_api::tasks::Task;
use wintermute_api::ApiError;

/// The name of the master key file in a data dir (the default `file` key store).
pub const MASTER_KEY_FILE: &str = "master.key";

/// An answer of the core, as it came.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON of type `T`, if the status is a success; else an error with the body.
    pub fn json<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        if !(200..300).contains(&self.status) {
            bail!("the core answered {}: {}", self.status, String::from_utf8_lossy(&self.body));
        }
        serde_json::from_slice(&self.body)
            .with_context(|| format!("unexpected answer ({}): {}", self.status, String::from_utf8_lossy(&self.body)))
    }

    /// The API error of a failed call.
    pub fn error(&self) -> anyhow::Result<ApiError> {
        if (200..300).contains(&self.status) {
            bail!("expected an error, the core answered {}", self.status);
        }
        serde_json::from_slice(&self.body)
            .with_context(|| format!("not an API error ({}): {}", self.status, String::from_utf8_lossy(&self.body)))
    }
}

/// Sends `method path` (relative to `/api/v1/`) with `client`'s token and an optional body.
pub async fn send(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<reqwest::Body>,
    headers: &[(&str, &str)],
) -> anyhow::Result<Answer> {
    let url = client.url(path)?;
    let mut req = reqwest::Client::new().request(method, url.clone());
    if let Some(t) = client.token() {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let resp = req.send().await.with_context(|| format!("calling {url}"))?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.with_context(|| format!("reading the answer of {url}"))?.to_vec();
    Ok(Answer { status, body })
}

async fn send_json(client: &Client, method: Method, path: &str, body: &serde_json::Value) -> anyhow::Result<Answer> {
    let bytes = serde_json::to_vec(body)?;
    send(client, method, path, Some(bytes.into()), &[("content-type", "application/json")]).await
}

/// `GET /users/{id}/ssh-key` (made on first use).
pub async fn ssh_public_key(client: &Client, user_id: i64) -> anyhow::Result<SshPublicKey> {
    send(client, Method::GET, &format!("users/{user_id}/ssh-key"), None, &[]).await?.json()
}

/// `POST /users/{id}/ssh-key/export`.
pub async fn export_ssh_key(client: &Client, user_id: i64, passphrase: Option<&str>) -> anyhow::Result<SshPrivateKey> {
    let req = serde_json::to_value(SshKeyExportRequest { passphrase: passphrase.map(str::to_owned) })?;
    send_json(client, Method::POST, &format!("users/{user_id}/ssh-key/export"), &req).await?.json()
}

/// `GET /admin/keys`.
pub async fn key_status(client: &Client) -> anyhow::Result<KeyStatus> {
    send(client, Method::GET, "admin/keys", None, &[]).await?.json()
}

/// `POST /admin/keys/rotate` (expects 202).
pub async fn rotate_master_key(client: &Client) -> anyhow::Result<Task> {
    let a = send(client, Method::POST, "admin/keys/rotate", None, &[]).await?;
    if a.status != 202 {
        bail!("POST admin/keys/rotate answered {}: {}", a.status, String::from_utf8_lossy(&a.body));
    }
    a.json()
}

/// `POST /admin/backup`: the encrypted archive.
pub async fn backup(client: &Client, passphrase: &str) -> anyhow::Result<Vec<u8>> {
    let a = send_json(client, Method::POST, "admin/backup", &serde_json::json!({ "passphrase": passphrase })).await?;
    if a.status != 200 {
        bail!("POST admin/backup answered {}: {}", a.status, String::from_utf8_lossy(&a.body));
    }
    Ok(a.body)
}

/// `POST /admin/restore` with the archive as the body; the answer as it came (see [`Answer::json`]
/// for the [`RestoreSummary`] and [`Answer::error`]).
pub async fn restore(client: &Client, archive: &[u8], passphrase: &str) -> anyhow::Result<Answer> {
    send(
        client,
        Method::POST,
        "admin/restore",
        Some(archive.to_vec().into()),
        &[
            ("content-type", "application/octet-stream"),
            (BACKUP_PASSPHRASE_HEADER, &wintermute_api::keys::encode_passphrase_header(passphrase)),
        ],
    )
    .await
}

/// [`restore`] that must succeed.
pub async fn restore_ok(client: &Client, archive: &[u8], passphrase: &str) -> anyhow::Result<RestoreSummary> {
    restore(client, archive, passphrase).await?.json()
}

/// The text of `<data-dir>/master.key`.
pub fn master_key_text(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(MASTER_KEY_FILE);
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// One `wmk1 <id> <base64>` line of a master key file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterKeyLine {
    pub id: String,
    pub base64: String,
}

/// The `wmk1` lines of `<data-dir>/master.key`, current key first.
pub fn master_key_lines(data_dir: &Path) -> anyhow::Result<Vec<MasterKeyLine>> {
    let text = master_key_text(data_dir)?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            match parts.as_slice() {
                ["wmk1", id, b64] => Ok(MasterKeyLine { id: (*id).to_owned(), base64: (*b64).to_owned() }),
                _ => Err(anyhow!("not a `wmk1 <id> <base64>` line in master.key: {l:?}")),
            }
        })
        .collect()
}
