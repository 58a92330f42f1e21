//! Volume passphrases: 256 random bits per encrypted volume, made and kept by the core. They
//! leave the core only by being written into an SSH channel's stdin on the instance; no call
//! returns them to a user.

use tokio::io::{AsyncWrite, AsyncWriteExt};
use wintermute_custody::VolumeKey;

use super::Purpose;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::RowExt;
use crate::time::now_ms;

fn context(volume_id: i64) -> String {
    format!("volume_keys#{volume_id}")
}

impl Engine {
    /// Makes the passphrase of a new encrypted volume (once; a second call keeps the first key).
    pub async fn create_volume_key(&self, volume_id: i64) -> CoreResult<()> {
        let key = VolumeKey::generate();
        let sealed = self.seal_secret(Purpose::VolumeKeys, &context(volume_id), key.expose().as_bytes()).await?;
        let mut tx = self.store().write_tx().await?;
        let exists = sqlx::query("SELECT volume_id FROM volume_keys WHERE volume_id = $1")
            .bind(volume_id)
            .fetch_optional(&mut *tx.tx)
            .await?;
        if exists.is_none() {
            sqlx::query("INSERT INTO volume_keys (volume_id, sealed, created_at) VALUES ($1, $2, $3)")
                .bind(volume_id)
                .bind(sealed)
                .bind(now_ms())
                .execute(&mut *tx.tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn has_volume_key(&self, volume_id: i64) -> CoreResult<bool> {
        Ok(sqlx::query("SELECT volume_id FROM volume_keys WHERE volume_id = $1")
            .bind(volume_id)
            .fetch_optional(self.store().pool())
            .await?
            .is_some())
    }

    /// Writes a volume's passphrase, followed by a newline, into `stdin` — the standard input of a
    /// remote `cryptsetup` run over SSH. This is the only way the passphrase leaves the core.
    pub async fn write_volume_passphrase<W: AsyncWrite + Unpin>(
        &self,
        volume_id: i64,
        stdin: &mut W,
    ) -> CoreResult<()> {
        let row = sqlx::query("SELECT sealed FROM volume_keys WHERE volume_id = $1")
            .bind(volume_id)
            .fetch_optional(self.store().pool())
            .await?
            .ok_or_else(|| CoreError::not_found(format!("volume {volume_id} has no encryption key")))?;
        let key = self.open_secret(&context(volume_id), &row.text("sealed")?).await?;
        let mut line = zeroize::Zeroizing::new(key.expose().clone());
        line.push(b'\n');
        stdin.write_all(&line).await.map_err(|e| CoreError::Internal(format!("could not send the volume key: {e}")))?;
        stdin.flush().await.map_err(|e| CoreError::Internal(format!("could not send the volume key: {e}")))?;
        Ok(())
    }
}
