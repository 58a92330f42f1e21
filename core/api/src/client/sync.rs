//! Client calls for data sync: upload and download tasks between the caller's data directory on
//! the core and an instance or volume, and files moved between this machine and an instance
//! through the core (the desktop and browser dialogs, `wmai upload --local`).

use reqwest::Method;
use serde::Serialize;

use super::{Client, ClientError};
use crate::sync::{Deleted, FileList, FileProgress, FileSums, RemoteTree, TarUpload, TransferRequest};
use crate::tasks::Task;

#[derive(Serialize)]
struct PathQuery<'a> {
    path: &'a str,
}

#[derive(Serialize)]
struct GetQuery<'a> {
    path: &'a str,
    offset: u64,
}

/// What a file sent with [`Client::put_file_piece`] is to be once complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FileMeta {
    /// The whole file's size.
    pub size: u64,
    /// Modification time: seconds since 1970 and nanoseconds.
    pub mtime: i64,
    pub mtime_nsec: u32,
    /// Permission bits (e.g. 0o644).
    pub mode: u32,
}

#[derive(Serialize)]
struct PutQuery<'a> {
    path: &'a str,
    offset: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: u32,
    mode: u32,
}

impl Client {
    /// Starts an upload from the caller's data directory on the core to an instance; follow
    /// the task for progress.
    pub async fn upload(&self, instance_id: i64, req: &TransferRequest) -> Result<Task, ClientError> {
        self.send(Method::POST, &format!("instances/{instance_id}/upload"), req).await
    }

    /// Starts a download from an instance into the caller's data directory on the core.
    pub async fn download(&self, instance_id: i64, req: &TransferRequest) -> Result<Task, ClientError> {
        self.send(Method::POST, &format!("instances/{instance_id}/download"), req).await
    }

    /// Starts an upload to a volume (instance paths relative to its mount point).
    pub async fn volume_upload(&self, volume_id: i64, req: &TransferRequest) -> Result<Task, ClientError> {
        self.send(Method::POST, &format!("volumes/{volume_id}/upload"), req).await
    }

    /// Starts a download from a volume (instance paths relative to its mount point).
    pub async fn volume_download(&self, volume_id: i64, req: &TransferRequest) -> Result<Task, ClientError> {
        self.send(Method::POST, &format!("volumes/{volume_id}/download"), req).await
    }

    /// The tree under `path` on an instance, with partial copies left by cut uploads.
    pub async fn instance_files(&self, instance_id: i64, path: &str) -> Result<RemoteTree, ClientError> {
        self.get_q(&format!("instances/{instance_id}/files"), &PathQuery { path }).await
    }

    /// Sends `data`, the piece of a file that starts at byte `offset`, to `path` on an instance.
    /// The instance's partial copy must hold exactly `offset` bytes (a `conflict` error
    /// otherwise: list again and go on from the bytes it has). Once all `meta.size` bytes are
    /// there the file is put in place with its mode and time.
    pub async fn put_file_piece(
        &self,
        instance_id: i64,
        path: &str,
        offset: u64,
        meta: FileMeta,
        data: Vec<u8>,
    ) -> Result<FileProgress, ClientError> {
        let url = self.url(&format!("instances/{instance_id}/files"))?;
        let q =
            PutQuery { path, offset, size: meta.size, mtime: meta.mtime, mtime_nsec: meta.mtime_nsec, mode: meta.mode };
        let req = self
            .request(Method::PUT, &url)
            .query(&q)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(data);
        let resp = self.execute(&url, req).await?;
        Self::decode(&url, resp).await
    }

    /// The file at `path` on an instance from byte `offset` on, in memory.
    pub async fn file_content(&self, instance_id: i64, path: &str, offset: u64) -> Result<Vec<u8>, ClientError> {
        let url = self.url(&format!("instances/{instance_id}/files/content"))?;
        let resp = self.execute(&url, self.request(Method::GET, &url).query(&GetQuery { path, offset })).await?;
        let bytes = resp.bytes().await.map_err(|source| ClientError::Transport { url: url.to_string(), source })?;
        Ok(bytes.to_vec())
    }

    /// The same as [`Client::file_content`], still unread: read it piece by piece with
    /// `chunk()` to write a large file as it comes. Not on wasm.
    #[cfg(not(target_arch = "wasm32"))]
    pub async fn file_content_response(
        &self,
        instance_id: i64,
        path: &str,
        offset: u64,
    ) -> Result<reqwest::Response, ClientError> {
        let url = self.url(&format!("instances/{instance_id}/files/content"))?;
        self.execute(&url, self.request(Method::GET, &url).query(&GetQuery { path, offset })).await
    }

    /// Sends a tar stream (see [`crate::tar`]) of files and directories to be unpacked in the
    /// directory `path` on an instance, keeping modes and times. Many small files go in one
    /// request; large ones resume better with [`Client::put_file_piece`].
    pub async fn put_tar(&self, instance_id: i64, path: &str, archive: Vec<u8>) -> Result<TarUpload, ClientError> {
        let url = self.url(&format!("instances/{instance_id}/files/tar"))?;
        let req = self
            .request(Method::PUT, &url)
            .query(&PathQuery { path })
            .header(reqwest::header::CONTENT_TYPE, "application/x-tar")
            .body(archive);
        let resp = self.execute(&url, req).await?;
        Self::decode(&url, resp).await
    }

    /// The named files under a directory of an instance as one tar stream, in memory (read it
    /// with [`crate::tar::Unpacker`]).
    pub async fn files_tar(&self, instance_id: i64, list: &FileList) -> Result<Vec<u8>, ClientError> {
        let url = self.url(&format!("instances/{instance_id}/files/tar"))?;
        let resp = self.execute(&url, self.request(Method::POST, &url).json(list)).await?;
        let bytes = resp.bytes().await.map_err(|source| ClientError::Transport { url: url.to_string(), source })?;
        Ok(bytes.to_vec())
    }

    /// The same as [`Client::files_tar`], still unread: read it piece by piece with `chunk()`
    /// and an [`crate::tar::Unpacker`]. Not on wasm.
    #[cfg(not(target_arch = "wasm32"))]
    pub async fn files_tar_response(
        &self,
        instance_id: i64,
        list: &FileList,
    ) -> Result<reqwest::Response, ClientError> {
        let url = self.url(&format!("instances/{instance_id}/files/tar"))?;
        self.execute(&url, self.request(Method::POST, &url).json(list)).await
    }

    /// Deletes the named files and directories under a directory of an instance.
    pub async fn delete_instance_files(&self, instance_id: i64, list: &FileList) -> Result<Deleted, ClientError> {
        self.send(Method::POST, &format!("instances/{instance_id}/files/delete"), list).await
    }

    /// The SHA-256 of the named files under a directory of an instance, in order.
    pub async fn instance_file_sums(&self, instance_id: i64, list: &FileList) -> Result<FileSums, ClientError> {
        self.send(Method::POST, &format!("instances/{instance_id}/files/sums"), list).await
    }
}
