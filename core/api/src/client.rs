//! A typed client for the core's HTTP API (native and wasm, through reqwest).

use reqwest::{Method, StatusCode};
use serde::{de::DeserializeOwned, Serialize};

use crate::audit::AuditEntry;
use crate::auth::{ApiToken, ChangePasswordRequest, CreatedApiToken, LoginRequest, LoginResponse, NewApiToken};
use crate::dashboard::Dashboard;
use crate::error::{ApiError, ErrorCode};
use crate::keys::{
    BackupRequest, HostKey, KeyStatus, RestoreSummary, SshKeyExportRequest, SshPrivateKey, SshPublicKey,
    BACKUP_PASSPHRASE_HEADER,
};
use crate::providers::LocalImageRequest;
use crate::rights::{ObjectKind, ObjectSecurity, ObjectSummary, RightChange, RightSet};
use crate::settings::{Setting, SettingUpdate};
use crate::tasks::{DebugTaskRequest, MaintenanceRequest, Task, TaskLogLine};
use crate::users::{Group, GroupPatch, NewGroup, NewUser, PermissionSet, User, UserPatch};
use crate::{Health, Page};

mod cloud;
mod sync;

pub use sync::FileMeta;

/// What a call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The core answered with an error body.
    #[error("{0}")]
    Api(ApiError),
    /// The core could not be reached or the answer was not understood.
    #[error("cannot reach the core at {url}: {source}")]
    Transport { url: String, source: reqwest::Error },
    /// The core answered something that is not the API's JSON.
    #[error("unexpected answer from the core ({status}): {body}")]
    Unexpected { status: u16, body: String },
    /// The base URL is not usable.
    #[error("invalid core URL {0:?}: {1}")]
    BadUrl(String, String),
}

impl ClientError {
    /// The API error code, when the core sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api(e) => Some(e.code),
            _ => None,
        }
    }
}

/// Query of `GET /api/v1/tasks`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mine: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
}

/// Query of `GET /api/v1/audit`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
}

/// A connection to one core, optionally logged in.
#[derive(Debug, Clone)]
pub struct Client {
    base: url::Url,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// `base` is the core's URL, e.g. `http://127.0.0.1:8750`.
    pub fn new(base: &str) -> Result<Client, ClientError> {
        let mut base = url::Url::parse(base).map_err(|e| ClientError::BadUrl(base.to_owned(), e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::BadUrl(base.to_string(), "the scheme must be http or https".into()));
        }
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        Ok(Client { base, token: None, http: reqwest::Client::new() })
    }

    pub fn with_token(mut self, token: impl Into<String>) -> Client {
        self.token = Some(token.into());
        self
    }

    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token;
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn base_url(&self) -> &url::Url {
        &self.base
    }

    /// The full URL of an API path such as `tasks/3`.
    pub fn url(&self, path: &str) -> Result<url::Url, ClientError> {
        self.base
            .join("api/v1/")
            .and_then(|u| u.join(path.trim_start_matches('/')))
            .map_err(|e| ClientError::BadUrl(path.to_owned(), e.to_string()))
    }

    /// A request to an API path, with the token when there is one.
    fn request(&self, method: Method, url: &url::Url) -> reqwest::RequestBuilder {
        let req = self.http.request(method, url.clone());
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// Sends `req`; a successful answer is returned unread, an error answer becomes the error.
    async fn execute(&self, url: &url::Url, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let resp = req.send().await.map_err(|source| ClientError::Transport { url: url.to_string(), source })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let bytes = resp.bytes().await.map_err(|source| ClientError::Transport { url: url.to_string(), source })?;
        match serde_json::from_slice::<ApiError>(&bytes) {
            Ok(e) => Err(ClientError::Api(e)),
            Err(_) => Err(ClientError::Unexpected {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            }),
        }
    }

    /// Reads a successful answer as the API's JSON.
    async fn decode<T: DeserializeOwned>(url: &url::Url, resp: reqwest::Response) -> Result<T, ClientError> {
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|source| ClientError::Transport { url: url.to_string(), source })?;
        let bytes = if status == StatusCode::NO_CONTENT || bytes.is_empty() { &b"null"[..] } else { &bytes[..] };
        serde_json::from_slice(bytes).map_err(|e| ClientError::Unexpected {
            status: status.as_u16(),
            body: format!("{e}: {}", String::from_utf8_lossy(bytes).chars().take(300).collect::<String>()),
        })
    }

    async fn call<B: Serialize + ?Sized, Q: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: Option<&Q>,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let url = self.url(path)?;
        let mut req = self.request(method, &url);
        if let Some(q) = query {
            req = req.query(q);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = self.execute(&url, req).await?;
        Self::decode(&url, resp).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call::<(), (), T>(Method::GET, path, None, None).await
    }

    async fn get_q<Q: Serialize, T: DeserializeOwned>(&self, path: &str, q: &Q) -> Result<T, ClientError> {
        self.call::<(), Q, T>(Method::GET, path, Some(q), None).await
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.call::<B, (), T>(method, path, None, Some(body)).await
    }

    /// A call without a body that answers JSON (e.g. `POST .../rotate`).
    async fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call::<(), (), T>(Method::POST, path, None, None).await
    }

    async fn empty(&self, method: Method, path: &str) -> Result<(), ClientError> {
        self.call::<(), (), serde_json::Value>(method, path, None, None).await.map(|_| ())
    }

    // --- health and auth ---

    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get("health").await
    }

    pub async fn login(&mut self, login: &str, password: &str) -> Result<LoginResponse, ClientError> {
        let r: LoginResponse = self
            .send(Method::POST, "auth/login", &LoginRequest { login: login.into(), password: password.into() })
            .await?;
        self.token = Some(r.token.clone());
        Ok(r)
    }

    pub async fn logout(&mut self) -> Result<(), ClientError> {
        self.empty(Method::POST, "auth/logout").await?;
        self.token = None;
        Ok(())
    }

    pub async fn change_password(&self, current: &str, new: &str) -> Result<(), ClientError> {
        let body = ChangePasswordRequest { current_password: current.into(), new_password: new.into() };
        self.send::<_, serde_json::Value>(Method::POST, "auth/password", &body).await.map(|_| ())
    }

    pub async fn whoami(&self) -> Result<User, ClientError> {
        self.get("auth/me").await
    }

    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>, ClientError> {
        self.get("auth/tokens").await
    }

    pub async fn create_api_token(&self, req: &NewApiToken) -> Result<CreatedApiToken, ClientError> {
        self.send(Method::POST, "auth/tokens", req).await
    }

    pub async fn revoke_api_token(&self, id: i64) -> Result<(), ClientError> {
        self.empty(Method::DELETE, &format!("auth/tokens/{id}")).await
    }

    // --- users, permissions, groups ---

    pub async fn users(&self) -> Result<Vec<User>, ClientError> {
        self.get("users").await
    }

    pub async fn user(&self, id: i64) -> Result<User, ClientError> {
        self.get(&format!("users/{id}")).await
    }

    pub async fn create_user(&self, u: &NewUser) -> Result<User, ClientError> {
        self.send(Method::POST, "users", u).await
    }

    pub async fn update_user(&self, id: i64, p: &UserPatch) -> Result<User, ClientError> {
        self.send(Method::PATCH, &format!("users/{id}"), p).await
    }

    pub async fn delete_user(&self, id: i64) -> Result<(), ClientError> {
        self.empty(Method::DELETE, &format!("users/{id}")).await
    }

    pub async fn set_permissions(&self, id: i64, p: &PermissionSet) -> Result<User, ClientError> {
        self.send(Method::PUT, &format!("users/{id}/permissions"), p).await
    }

    pub async fn groups(&self) -> Result<Vec<Group>, ClientError> {
        self.get("groups").await
    }

    pub async fn create_group(&self, g: &NewGroup) -> Result<Group, ClientError> {
        self.send(Method::POST, "groups", g).await
    }

    pub async fn update_group(&self, id: i64, g: &GroupPatch) -> Result<Group, ClientError> {
        self.send(Method::PATCH, &format!("groups/{id}"), g).await
    }

    pub async fn delete_group(&self, id: i64) -> Result<(), ClientError> {
        self.empty(Method::DELETE, &format!("groups/{id}")).await
    }

    // --- object rights ---

    pub async fn objects(&self, kind: Option<ObjectKind>) -> Result<Vec<ObjectSummary>, ClientError> {
        #[derive(Serialize)]
        struct Q {
            #[serde(skip_serializing_if = "Option::is_none")]
            kind: Option<ObjectKind>,
        }
        self.get_q("objects", &Q { kind }).await
    }

    pub async fn object_security(&self, kind: ObjectKind, id: i64) -> Result<ObjectSecurity, ClientError> {
        self.get(&format!("rights/{kind}/{id}")).await
    }

    pub async fn set_group_rights(
        &self,
        kind: ObjectKind,
        id: i64,
        group: i64,
        rights: &RightSet,
    ) -> Result<ObjectSecurity, ClientError> {
        self.send(Method::PUT, &format!("rights/{kind}/{id}/groups/{group}"), rights).await
    }

    pub async fn grant(&self, change: &RightChange) -> Result<ObjectSecurity, ClientError> {
        self.send(Method::POST, "rights/grant", change).await
    }

    pub async fn revoke(&self, change: &RightChange) -> Result<ObjectSecurity, ClientError> {
        self.send(Method::POST, "rights/revoke", change).await
    }

    // --- tasks ---

    pub async fn tasks(&self, q: &TaskQuery) -> Result<Page<Task>, ClientError> {
        self.get_q("tasks", q).await
    }

    pub async fn task(&self, id: i64) -> Result<Task, ClientError> {
        self.get(&format!("tasks/{id}")).await
    }

    pub async fn task_log(&self, id: i64, after: Option<i64>) -> Result<Vec<TaskLogLine>, ClientError> {
        #[derive(Serialize)]
        struct Q {
            #[serde(skip_serializing_if = "Option::is_none")]
            after: Option<i64>,
        }
        self.get_q(&format!("tasks/{id}/log"), &Q { after }).await
    }

    pub async fn cancel_task(&self, id: i64) -> Result<Task, ClientError> {
        self.send(Method::POST, &format!("tasks/{id}/cancel"), &serde_json::json!({})).await
    }

    pub async fn start_maintenance(&self, req: &MaintenanceRequest) -> Result<Task, ClientError> {
        self.send(Method::POST, "admin/maintenance", req).await
    }

    pub async fn start_debug_task(&self, req: &DebugTaskRequest) -> Result<Task, ClientError> {
        self.send(Method::POST, "debug/tasks", req).await
    }

    // --- audit, settings, dashboard ---

    pub async fn audit(&self, q: &AuditQuery) -> Result<Page<AuditEntry>, ClientError> {
        self.get_q("audit", q).await
    }

    pub async fn settings(&self) -> Result<Vec<Setting>, ClientError> {
        self.get("settings").await
    }

    pub async fn setting(&self, name: &str) -> Result<Setting, ClientError> {
        self.get(&format!("settings/{name}")).await
    }

    pub async fn set_setting(&self, name: &str, value: serde_json::Value) -> Result<Setting, ClientError> {
        self.send(Method::PUT, &format!("settings/{name}"), &SettingUpdate { value }).await
    }

    pub async fn dashboard(&self) -> Result<Dashboard, ClientError> {
        self.get("dashboard").await
    }

    // --- key custody: SSH keys, host keys, the master key, backup and restore ---

    /// A user's public SSH key (made by the core on first use).
    pub async fn ssh_key(&self, user_id: i64) -> Result<SshPublicKey, ClientError> {
        self.get(&format!("users/{user_id}/ssh-key")).await
    }

    /// A user's private SSH key, in OpenSSH format, encrypted when `req` has a passphrase. Audited.
    pub async fn export_ssh_key(&self, user_id: i64, req: &SshKeyExportRequest) -> Result<SshPrivateKey, ClientError> {
        self.send(Method::POST, &format!("users/{user_id}/ssh-key/export"), req).await
    }

    /// Replaces a user's SSH key pair (administrators).
    pub async fn rotate_ssh_key(&self, user_id: i64) -> Result<SshPublicKey, ClientError> {
        self.post_empty(&format!("users/{user_id}/ssh-key/rotate")).await
    }

    /// Retries handing a rotated key over to the user's instances (administrators).
    pub async fn push_ssh_key(&self, user_id: i64) -> Result<Task, ClientError> {
        self.post_empty(&format!("users/{user_id}/ssh-key/push")).await
    }

    /// The host key pinned for an instance, and a different one it offered since.
    pub async fn host_key(&self, instance_id: i64) -> Result<HostKey, ClientError> {
        self.get(&format!("instances/{instance_id}/host-key")).await
    }

    /// Accepts the different host key an instance offered (administrators).
    pub async fn accept_host_key(&self, instance_id: i64) -> Result<HostKey, ClientError> {
        self.post_empty(&format!("instances/{instance_id}/host-key/accept")).await
    }

    /// Builds or imports an image into a local provider's catalogue; the answer is its task
    /// (administrators).
    pub async fn local_image(&self, provider_id: i64, req: &LocalImageRequest) -> Result<Task, ClientError> {
        self.send(Method::POST, &format!("providers/{provider_id}/local-images"), req).await
    }

    /// The master key's state (administrators).
    pub async fn key_status(&self) -> Result<KeyStatus, ClientError> {
        self.get("admin/keys").await
    }

    /// Starts an online rotation of the master key; the answer is its task (administrators).
    pub async fn rotate_master_key(&self) -> Result<Task, ClientError> {
        self.post_empty("admin/keys/rotate").await
    }

    /// An encrypted backup of the whole core, in memory (administrators). See
    /// [`backup_response`](Client::backup_response) to stream a large one to a file.
    pub async fn backup(&self, req: &BackupRequest) -> Result<Vec<u8>, ClientError> {
        let url = self.url("admin/backup")?;
        let resp = self.execute(&url, self.request(Method::POST, &url).json(req)).await?;
        let bytes = resp.bytes().await.map_err(|source| ClientError::Transport { url: url.to_string(), source })?;
        Ok(bytes.to_vec())
    }

    /// The successful, still unread answer of `POST /admin/backup`: read it piece by piece with
    /// `chunk()`. Not on wasm, where reqwest has no streaming body without extra features.
    #[cfg(not(target_arch = "wasm32"))]
    pub async fn backup_response(&self, req: &BackupRequest) -> Result<reqwest::Response, ClientError> {
        let url = self.url("admin/backup")?;
        self.execute(&url, self.request(Method::POST, &url).json(req)).await
    }

    /// Restores a backup (the archive's bytes) into this core, which must be fresh (administrators).
    /// The caller's session does not survive it: the restored database has its own accounts.
    pub async fn restore(&self, archive: Vec<u8>, passphrase: &str) -> Result<RestoreSummary, ClientError> {
        let url = self.url("admin/restore")?;
        let mut value = reqwest::header::HeaderValue::from_str(&crate::keys::encode_passphrase_header(passphrase))
            .map_err(|e| ClientError::BadUrl(url.to_string(), e.to_string()))?;
        value.set_sensitive(true);
        let req = self
            .request(Method::POST, &url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(BACKUP_PASSPHRASE_HEADER, value)
            .body(archive);
        let resp = self.execute(&url, req).await?;
        Self::decode(&url, resp).await
    }
}
