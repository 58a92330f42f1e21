//! Login, sessions, personal API tokens and password changes.
//!
//! Tokens are 256 random bits; only their SHA-256 is stored. Failed logins are recorded in the
//! database, so the throttle holds across restarts and across the replicas of a shared core.

use std::collections::BTreeSet;

use base64::Engine as _;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use wintermute_api::audit::AuditOutcome;
use wintermute_api::auth::{ApiToken, CreatedApiToken, LoginResponse, NewApiToken};
use wintermute_api::users::Permission;

use crate::audit::AuditRecord;
use crate::caller::{Actor, Caller};
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::RowExt;
use crate::time::{now_ms, to_dt};

const SESSION_PREFIX: &str = "wmt_";
const API_TOKEN_PREFIX: &str = "wmp_";

fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Engine {
    /// Checks a login and password and opens a session.
    pub async fn login(&self, login: &str, password: &str, address: Option<&str>) -> CoreResult<LoginResponse> {
        let actor = Actor::anonymous(Some(login), address);
        let address_key = address.unwrap_or("unknown").to_owned();
        self.check_throttle(login, &address_key).await?;

        let row = sqlx::query("SELECT id, password_hash, enabled FROM users WHERE login = $1")
            .bind(login)
            .fetch_optional(self.store().pool())
            .await?;
        let (user_id, stored, enabled) = match &row {
            Some(r) => (Some(r.int("id")?), r.text("password_hash")?, r.flag("enabled")?),
            None => (None, crate::password::dummy_hash().await.to_owned(), false),
        };
        let ok = crate::password::verify(password, &stored).await? && user_id.is_some();
        let Some(user_id) = user_id.filter(|_| ok) else {
            sqlx::query("INSERT INTO login_failures (login, address, at) VALUES ($1, $2, $3)")
                .bind(login)
                .bind(&address_key)
                .bind(now_ms())
                .execute(self.store().pool())
                .await?;
            self.audit(
                &actor,
                AuditRecord::new("auth.login", AuditOutcome::Failure)
                    .details(json!({"reason": "wrong login or password"})),
            )
            .await?;
            return Err(CoreError::InvalidCredentials);
        };
        if !enabled {
            self.audit(
                &Actor { id: Some(user_id), ..actor },
                AuditRecord::new("auth.login", AuditOutcome::Denied).details(json!({"reason": "account disabled"})),
            )
            .await?;
            return Err(CoreError::AccountDisabled);
        }
        let hours = self.setting_i64("WMAIS_SESSION_HOURS");
        let token = new_token(SESSION_PREFIX);
        let now = now_ms();
        let expires = now + hours * 3_600_000;
        let mut tx = self.store().write_tx().await?;
        sqlx::query("DELETE FROM login_failures WHERE login = $1").bind(login).execute(&mut *tx.tx).await?;
        sqlx::query(
            "INSERT INTO sessions (user_id, token_hash, kind, name, address, created_at, expires_at) VALUES ($1, $2, 'session', '', $3, $4, $5)",
        )
        .bind(user_id)
        .bind(token_hash(&token))
        .bind(address.map(str::to_owned))
        .bind(now)
        .bind(expires)
        .execute(&mut *tx.tx)
        .await?;
        crate::audit::write(
            &mut *tx.tx,
            &Actor { id: Some(user_id), ..actor },
            AuditRecord::new("auth.login", AuditOutcome::Success),
        )
        .await?;
        tx.commit().await?;
        let user = self.load_user(user_id).await?;
        Ok(LoginResponse { token, expires_at: to_dt(expires), user })
    }

    async fn check_throttle(&self, login: &str, address: &str) -> CoreResult<()> {
        let max = self.setting_i64("WMAIS_LOGIN_MAX_FAILURES");
        let window_ms = self.setting_i64("WMAIS_LOGIN_LOCKOUT_MINUTES") * 60_000;
        let since = now_ms() - window_ms;
        for (col, key, limit) in [("login", login, max), ("address", address, max * 4)] {
            let sql =
                format!("SELECT COUNT(*) AS n, MIN(at) AS first FROM login_failures WHERE {col} = $1 AND at > $2");
            let r = sqlx::query(&sql).bind(key).bind(since).fetch_one(self.store().pool()).await?;
            let n = r.int("n")?;
            if n >= limit {
                let newest_window_end = r.opt_int("first")?.unwrap_or(since) + window_ms;
                let retry_after = ((newest_window_end - now_ms()).max(1000) / 1000) as u64;
                return Err(CoreError::TooManyAttempts { retry_after });
            }
        }
        Ok(())
    }

    /// Resolves a bearer token to its user. Expired, revoked and unknown tokens are all `unauthorized`.
    pub async fn authenticate(&self, token: &str, address: Option<&str>) -> CoreResult<Caller> {
        let unauthorized = || CoreError::Unauthorized("the token is unknown, expired or revoked; log in again".into());
        if !(token.starts_with(SESSION_PREFIX) || token.starts_with(API_TOKEN_PREFIX)) || token.len() > 200 {
            return Err(unauthorized());
        }
        let now = now_ms();
        let row = sqlx::query(
            "SELECT s.id AS sid, s.last_used_at, u.id, u.login, u.is_admin, u.enabled, u.must_change_password \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2",
        )
        .bind(token_hash(token))
        .bind(now)
        .fetch_optional(self.store().pool())
        .await?
        .ok_or_else(unauthorized)?;
        if !row.flag("enabled")? {
            return Err(unauthorized());
        }
        let session_id = row.int("sid")?;
        // Remember use at most once a minute, to keep reads cheap.
        if row.opt_int("last_used_at")?.is_none_or(|t| now - t > 60_000) {
            sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(session_id)
                .execute(self.store().pool())
                .await?;
        }
        let user_id = row.int("id")?;
        Ok(Caller {
            user_id,
            login: row.text("login")?,
            is_admin: row.flag("is_admin")?,
            permissions: self.permissions_of(user_id).await?,
            must_change_password: row.flag("must_change_password")?,
            session_id,
            address: address.map(str::to_owned),
        })
    }

    pub(crate) async fn permissions_of(&self, user_id: i64) -> CoreResult<BTreeSet<Permission>> {
        let rows = sqlx::query("SELECT permission FROM user_permissions WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(self.store().pool())
            .await?;
        let mut set = BTreeSet::new();
        for r in rows {
            if let Some(p) = Permission::parse(&r.text("permission")?) {
                set.insert(p);
            }
        }
        Ok(set)
    }

    /// Revokes the caller's session (or API token).
    pub async fn logout(&self, caller: &Caller) -> CoreResult<()> {
        let mut tx = self.store().write_tx().await?;
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(caller.session_id)
            .execute(&mut *tx.tx)
            .await?;
        crate::audit::write(&mut *tx.tx, &caller.actor(), AuditRecord::new("auth.logout", AuditOutcome::Success))
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes the caller's own password. Other login sessions of the user are revoked; personal
    /// API tokens stay valid (automation keeps running), unless an administrator resets the
    /// password or disables the account, which revokes everything. Wrong current passwords count
    /// as failed logins, so a stolen session cannot be used to guess the password.
    pub async fn change_own_password(&self, caller: &Caller, current: &str, new: &str) -> CoreResult<()> {
        let address_key = caller.address.clone().unwrap_or_else(|| "unknown".into());
        self.check_throttle(&caller.login, &address_key).await?;
        let stored: String = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
            .bind(caller.user_id)
            .fetch_one(self.store().pool())
            .await?
            .text("password_hash")?;
        if !crate::password::verify(current, &stored).await? {
            sqlx::query("INSERT INTO login_failures (login, address, at) VALUES ($1, $2, $3)")
                .bind(&caller.login)
                .bind(&address_key)
                .bind(now_ms())
                .execute(self.store().pool())
                .await?;
            self.audit(
                &caller.actor(),
                AuditRecord::new("auth.password_change", AuditOutcome::Failure)
                    .target("user", caller.user_id)
                    .details(json!({"reason": "wrong current password"})),
            )
            .await?;
            return Err(CoreError::invalid("current_password", "the current password is wrong"));
        }
        crate::password::check_strength(new, &caller.login)?;
        if current == new {
            return Err(CoreError::WeakPassword("the new password must differ from the current one".into()));
        }
        let hash = crate::password::hash(new).await?;
        let now = now_ms();
        let mut tx = self.store().write_tx().await?;
        sqlx::query("UPDATE users SET password_hash = $1, must_change_password = 0, updated_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(now)
            .bind(caller.user_id)
            .execute(&mut *tx.tx)
            .await?;
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND id <> $3 AND kind = 'session' AND revoked_at IS NULL")
            .bind(now)
            .bind(caller.user_id)
            .bind(caller.session_id)
            .execute(&mut *tx.tx)
            .await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("auth.password_change", AuditOutcome::Success).target("user", caller.user_id),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates a personal API token for automation; the secret is returned only now.
    pub async fn create_api_token(&self, caller: &Caller, req: &NewApiToken) -> CoreResult<CreatedApiToken> {
        crate::validate::text("name", &req.name, 100, false)?;
        let days = i64::from(req.expires_in_days.unwrap_or(90));
        if !(1..=365).contains(&days) {
            return Err(CoreError::invalid("expires_in_days", "the lifetime must be 1 to 365 days"));
        }
        let token = new_token(API_TOKEN_PREFIX);
        let now = now_ms();
        let expires = now + days * 86_400_000;
        let mut tx = self.store().write_tx().await?;
        let id: (i64,) = sqlx::query_as(
            "INSERT INTO sessions (user_id, token_hash, kind, name, address, created_at, expires_at) VALUES ($1, $2, 'api', $3, $4, $5, $6) RETURNING id",
        )
        .bind(caller.user_id)
        .bind(token_hash(&token))
        .bind(req.name.clone())
        .bind(caller.address.clone())
        .bind(now)
        .bind(expires)
        .fetch_one(&mut *tx.tx)
        .await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("auth.token_create", AuditOutcome::Success)
                .details(json!({"token_id": id.0, "name": req.name, "days": days})),
        )
        .await?;
        tx.commit().await?;
        Ok(CreatedApiToken {
            token,
            api_token: ApiToken {
                id: id.0,
                name: req.name.clone(),
                created_at: to_dt(now),
                expires_at: to_dt(expires),
                last_used_at: None,
            },
        })
    }

    /// The caller's own API tokens that are still valid.
    pub async fn list_api_tokens(&self, caller: &Caller) -> CoreResult<Vec<ApiToken>> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, expires_at, last_used_at FROM sessions \
             WHERE user_id = $1 AND kind = 'api' AND revoked_at IS NULL AND expires_at > $2 ORDER BY id",
        )
        .bind(caller.user_id)
        .bind(now_ms())
        .fetch_all(self.store().pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiToken {
                    id: r.int("id")?,
                    name: r.text("name")?,
                    created_at: to_dt(r.int("created_at")?),
                    expires_at: to_dt(r.int("expires_at")?),
                    last_used_at: r.opt_int("last_used_at")?.map(to_dt),
                })
            })
            .collect()
    }

    pub async fn revoke_api_token(&self, caller: &Caller, id: i64) -> CoreResult<()> {
        let mut tx = self.store().write_tx().await?;
        let done = sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND kind = 'api' AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .bind(caller.user_id)
            .execute(&mut *tx.tx)
            .await?;
        if done.rows_affected() == 0 {
            let owner =
                sqlx::query("SELECT user_id FROM sessions WHERE id = $1 AND kind = 'api' AND revoked_at IS NULL")
                    .bind(id)
                    .fetch_optional(&mut *tx.tx)
                    .await?;
            return Err(match owner {
                Some(_) => CoreError::forbidden(format!("API token {id} belongs to another user")),
                None => CoreError::not_found(format!("there is no API token {id}")),
            });
        }
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("auth.token_revoke", AuditOutcome::Success).details(json!({"token_id": id})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
