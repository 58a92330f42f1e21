//! The manual's WMAIS_* settings (6.1, 8.3) with the same names and defaults, plus a few of the
//! core's own. Values live in the database; a setting never written has its default. Everyone
//! may read them; administrators change them, every change is validated and audited.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::RwLock;

use serde_json::{json, Value};
use wintermute_api::audit::AuditOutcome;
use wintermute_api::settings::{Setting, SettingType};

use crate::audit::AuditRecord;
use crate::caller::Caller;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::RowExt;

type Check = fn(&Value) -> Result<(), String>;

pub struct SettingDef {
    pub name: &'static str,
    pub value_type: SettingType,
    pub default: fn() -> Value,
    pub description: &'static str,
    pub constraint: &'static str,
    pub check: Check,
}

fn int_range(v: &Value, lo: i64, hi: i64) -> Result<(), String> {
    match v.as_i64() {
        Some(n) if (lo..=hi).contains(&n) => Ok(()),
        Some(n) => Err(format!("{n} is out of range ({lo} to {hi})")),
        None => Err(format!("expected a whole number from {lo} to {hi}")),
    }
}

fn any_bool(v: &Value) -> Result<(), String> {
    v.as_bool().map(|_| ()).ok_or_else(|| "expected true or false".to_owned())
}

fn sg_ip_address(v: &Value) -> Result<(), String> {
    let s = v.as_str().ok_or("expected a string")?;
    if s == "static" || s == "dynamic" || s.parse::<IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(format!("{s:?} is neither \"static\", \"dynamic\" nor an IP address"))
    }
}

fn sg_cidr(v: &Value) -> Result<(), String> {
    let s = v.as_str().ok_or("expected a string like \"/32\"")?;
    match s.strip_prefix('/').and_then(|n| n.parse::<u8>().ok()) {
        Some(n) if n <= 128 => Ok(()),
        _ => Err(format!("{s:?} is not a prefix length like \"/32\"")),
    }
}

fn http_url(v: &Value) -> Result<(), String> {
    let s = v.as_str().ok_or("expected a URL")?;
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(format!("{s:?} is not an http(s) URL")),
    }
}

fn data_base_path(v: &Value) -> Result<(), String> {
    let s = v.as_str().ok_or("expected a path")?;
    if !s.starts_with('/') {
        return Err(format!("{s:?} must be an absolute path"));
    }
    if s.contains('\0') || s.split('/').any(|c| c == "..") {
        return Err(format!("{s:?} must not contain '..' or NUL"));
    }
    Ok(())
}

fn time_zone(v: &Value) -> Result<(), String> {
    let s = v.as_str().ok_or("expected a time zone name")?;
    s.parse::<chrono_tz::Tz>().map(|_| ()).map_err(|_| format!("{s:?} is not a known time zone"))
}

pub static DEFS: &[SettingDef] = &[
    SettingDef {
        name: "WMAIS_SG_IP_ADDRESS",
        value_type: SettingType::String,
        default: || json!("static"),
        description: "Where the core reaches instances from, for its SSH security group: \"static\" (discovered \
                      through WMAIS_SG_AUTO_IP_DISCOVER), a fixed IP address, or \"dynamic\" (SSH open to all).",
        constraint: "\"static\", \"dynamic\" or an IP address",
        check: sg_ip_address,
    },
    SettingDef {
        name: "WMAIS_SG_IP_CIDR",
        value_type: SettingType::String,
        default: || json!("/32"),
        description: "Prefix length of the address range SSH is opened to, when the address is static or fixed.",
        constraint: "\"/0\" to \"/32\" (IPv4) or \"/128\" (IPv6)",
        check: sg_cidr,
    },
    SettingDef {
        name: "WMAIS_SG_AUTO_IP_DISCOVER",
        value_type: SettingType::String,
        default: || json!("http://checkip.amazonaws.com/"),
        description:
            "Web service that answers with the caller's IP address, used when WMAIS_SG_IP_ADDRESS is \"static\".",
        constraint: "an http or https URL",
        check: http_url,
    },
    SettingDef {
        name: "WMAIS_DATA_BASE_PATH",
        value_type: SettingType::String,
        default: || json!("/home/%USER%/cloud"),
        description: "The only directory tree data may be synchronised from and to; %USER% is the login name.",
        constraint: "an absolute path without '..'",
        check: data_base_path,
    },
    SettingDef {
        name: "WMAIS_DEFAULT_TIMEZONE",
        value_type: SettingType::String,
        default: || json!("Europe/Berlin"),
        description: "Time zone of new users.",
        constraint: "an IANA time zone name",
        check: time_zone,
    },
    SettingDef {
        name: "WMAIS_DASHBOARD_HISTORY_DAYS",
        value_type: SettingType::Integer,
        default: || json!(90),
        description: "Days of history kept for the dashboard's activity list and graphs.",
        constraint: "1 to 3650",
        check: |v| int_range(v, 1, 3650),
    },
    SettingDef {
        name: "WMAIS_DATA_TRANSFER_RETRIES",
        value_type: SettingType::Integer,
        default: || json!(4),
        description: "Retries of a failed or aborted data transfer.",
        constraint: "0 to 100",
        check: |v| int_range(v, 0, 100),
    },
    SettingDef {
        name: "WMAIS_DATA_TRANSFER_PAUSE_BETWEEN_RETRY",
        value_type: SettingType::Integer,
        default: || json!(10),
        description: "Seconds between data transfer retries.",
        constraint: "0 to 3600",
        check: |v| int_range(v, 0, 3600),
    },
    SettingDef {
        name: "WMAIS_CONNECTION_ATTEMPTS",
        value_type: SettingType::Integer,
        default: || json!(50),
        description: "SSH connection attempts to a new instance before its setup is marked failed.",
        constraint: "1 to 1000",
        check: |v| int_range(v, 1, 1000),
    },
    SettingDef {
        name: "WMAIS_CONNECTION_RETRY_PAUSE",
        value_type: SettingType::Integer,
        default: || json!(10),
        description: "Seconds between SSH connection attempts.",
        constraint: "0 to 3600",
        check: |v| int_range(v, 0, 3600),
    },
    SettingDef {
        name: "WMAIS_KEEP_INSTANCE_RUNNING_ON_ERROR",
        value_type: SettingType::Boolean,
        default: || json!(true),
        description: "After a failed setup, keep the instance running (true) or power it off (false).",
        constraint: "true or false",
        check: any_bool,
    },
    SettingDef {
        name: "WMAIS_SESSION_HOURS",
        value_type: SettingType::Integer,
        default: || json!(12),
        description: "Hours a login session stays valid.",
        constraint: "1 to 720",
        check: |v| int_range(v, 1, 720),
    },
    SettingDef {
        name: "WMAIS_LOGIN_MAX_FAILURES",
        value_type: SettingType::Integer,
        default: || json!(5),
        description: "Failed logins of one account within WMAIS_LOGIN_LOCKOUT_MINUTES before further attempts are \
                      refused; one address may fail four times as often.",
        constraint: "1 to 1000",
        check: |v| int_range(v, 1, 1000),
    },
    SettingDef {
        name: "WMAIS_LOGIN_LOCKOUT_MINUTES",
        value_type: SettingType::Integer,
        default: || json!(15),
        description: "Window and lock-out time of the failed-login throttle, in minutes.",
        constraint: "1 to 1440",
        check: |v| int_range(v, 1, 1440),
    },
    SettingDef {
        name: CONSOLE_RECORDING,
        value_type: SettingType::Boolean,
        default: || json!(true),
        description: "Record every SSH console session (asciicast v2 files in the core's data directory, readable \
                      by the session's user, administrators and \"view logs\"). Off for sites that must not record.",
        constraint: "true or false",
        check: any_bool,
    },
    SettingDef {
        name: CONSOLE_IDLE_MINUTES,
        value_type: SettingType::Integer,
        default: || json!(60),
        description:
            "Minutes without input or output after which an SSH console session is closed; 0 never closes one.",
        constraint: "0 to 10080",
        check: |v| int_range(v, 0, 10080),
    },
    SettingDef {
        name: CONSOLE_RECONNECT_SECONDS,
        value_type: SettingType::Integer,
        default: || json!(120),
        description: "Seconds an SSH console session waits for its client to reconnect after the connection dropped; \
                      the output of that time is replayed on reconnect.",
        constraint: "0 to 3600",
        check: |v| int_range(v, 0, 3600),
    },
];

/// Whether console sessions are recorded.
pub const CONSOLE_RECORDING: &str = "WMAIS_CONSOLE_RECORDING";
/// Idle minutes before a console session is closed (0: never).
pub const CONSOLE_IDLE_MINUTES: &str = "WMAIS_CONSOLE_IDLE_MINUTES";
/// Grace period of a dropped console connection, in seconds.
pub const CONSOLE_RECONNECT_SECONDS: &str = "WMAIS_CONSOLE_RECONNECT_SECONDS";

/// `WMAIS_CONSOLE_RECORDING`.
pub(crate) fn console_recording(engine: &Engine) -> bool {
    engine.setting(CONSOLE_RECORDING).as_bool().unwrap_or(true)
}

pub fn def(name: &str) -> Option<&'static SettingDef> {
    DEFS.iter().find(|d| d.name == name)
}

#[derive(Debug, Clone)]
struct Stored {
    value: Value,
    updated_at: i64,
    updated_by: Option<String>,
}

/// The settings as last read from the database; re-read after each change and periodically, so
/// replicas of a shared core pick up each other's changes.
pub struct SettingsCache {
    values: RwLock<HashMap<String, Stored>>,
}

impl SettingsCache {
    pub fn new() -> SettingsCache {
        SettingsCache { values: RwLock::new(HashMap::new()) }
    }
}

impl Default for SettingsCache {
    fn default() -> Self {
        SettingsCache::new()
    }
}

impl Engine {
    pub async fn reload_settings(&self) -> CoreResult<()> {
        let rows = sqlx::query("SELECT name, value, updated_at, updated_by FROM settings")
            .fetch_all(self.store().pool())
            .await?;
        let mut map = HashMap::new();
        for r in rows {
            let name = r.text("name")?;
            let Ok(value) = serde_json::from_str::<Value>(&r.text("value")?) else { continue };
            // A stored value that no longer passes validation falls back to the default.
            if def(&name).is_some_and(|d| (d.check)(&value).is_ok()) {
                map.insert(
                    name,
                    Stored { value, updated_at: r.int("updated_at")?, updated_by: r.opt_text("updated_by")? },
                );
            }
        }
        if let Ok(mut guard) = self.inner.settings.values.write() {
            *guard = map;
        }
        Ok(())
    }

    /// The current value of a setting (its default when never set).
    pub fn setting(&self, name: &str) -> Value {
        let stored = self.inner.settings.values.read().ok().and_then(|m| m.get(name).map(|s| s.value.clone()));
        stored.or_else(|| def(name).map(|d| (d.default)())).unwrap_or(Value::Null)
    }

    pub fn setting_i64(&self, name: &str) -> i64 {
        self.setting(name).as_i64().unwrap_or_else(|| def(name).and_then(|d| (d.default)().as_i64()).unwrap_or(0))
    }

    pub fn setting_string(&self, name: &str) -> String {
        self.setting(name).as_str().unwrap_or_default().to_owned()
    }

    fn describe(&self, d: &SettingDef) -> Setting {
        let stored = self.inner.settings.values.read().ok().and_then(|m| m.get(d.name).cloned());
        Setting {
            name: d.name.into(),
            value: stored.as_ref().map(|s| s.value.clone()).unwrap_or_else(d.default),
            default: (d.default)(),
            value_type: d.value_type,
            description: d.description.into(),
            constraint: d.constraint.into(),
            updated_at: stored.as_ref().map(|s| crate::time::to_dt(s.updated_at)),
            updated_by: stored.and_then(|s| s.updated_by),
        }
    }

    /// Every setting; readable by all users.
    pub fn settings_list(&self, _caller: &Caller) -> Vec<Setting> {
        DEFS.iter().map(|d| self.describe(d)).collect()
    }

    pub fn settings_get(&self, _caller: &Caller, name: &str) -> CoreResult<Setting> {
        def(name).map(|d| self.describe(d)).ok_or_else(|| CoreError::not_found(format!("there is no setting {name:?}")))
    }

    /// Changes a setting (administrators only), validated and audited with old and new value.
    pub async fn settings_set(&self, caller: &Caller, name: &str, value: Value) -> CoreResult<Setting> {
        let d = def(name).ok_or_else(|| CoreError::not_found(format!("there is no setting {name:?}")))?;
        if !caller.is_admin {
            return Err(CoreError::forbidden("only administrators change settings"));
        }
        (d.check)(&value).map_err(|m| CoreError::invalid("value", format!("{name}: {m}")))?;
        let old = self.setting(name);
        let now = crate::time::now_ms();
        let mut tx = self.store().write_tx().await?;
        sqlx::query("DELETE FROM settings WHERE name = $1").bind(name).execute(&mut *tx.tx).await?;
        sqlx::query("INSERT INTO settings (name, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)")
            .bind(name)
            .bind(value.to_string())
            .bind(now)
            .bind(caller.login.clone())
            .execute(&mut *tx.tx)
            .await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("setting.change", AuditOutcome::Success)
                .details(json!({"name": name, "old": old, "new": value})),
        )
        .await?;
        tx.commit().await?;
        self.reload_settings().await?;
        self.settings_get(caller, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_their_own_checks() {
        for d in DEFS {
            assert!((d.check)(&(d.default)()).is_ok(), "{}", d.name);
        }
    }

    #[test]
    fn checks_refuse_bad_values() {
        let get = |n| def(n).unwrap().check;
        assert!(get("WMAIS_SG_IP_ADDRESS")(&json!("1.2.3.4")).is_ok());
        assert!(get("WMAIS_SG_IP_ADDRESS")(&json!("somewhere")).is_err());
        assert!(get("WMAIS_SG_IP_CIDR")(&json!("/24")).is_ok());
        assert!(get("WMAIS_SG_IP_CIDR")(&json!("24")).is_err());
        assert!(get("WMAIS_CONNECTION_ATTEMPTS")(&json!(0)).is_err());
        assert!(get("WMAIS_CONNECTION_ATTEMPTS")(&json!("5")).is_err());
        assert!(get("WMAIS_DATA_BASE_PATH")(&json!("/data/../etc")).is_err());
        assert!(get("WMAIS_DATA_BASE_PATH")(&json!("relative/%USER%")).is_err());
        assert!(get("WMAIS_SG_AUTO_IP_DISCOVER")(&json!("ftp://x")).is_err());
        assert!(get("WMAIS_KEEP_INSTANCE_RUNNING_ON_ERROR")(&json!("True")).is_err());
        assert!(get("WMAIS_DEFAULT_TIMEZONE")(&json!("Europe/Nowhere")).is_err());
        assert!(get(CONSOLE_IDLE_MINUTES)(&json!(0)).is_ok());
        assert!(get(CONSOLE_IDLE_MINUTES)(&json!(-1)).is_err());
        assert!(get(CONSOLE_RECONNECT_SECONDS)(&json!(3601)).is_err());
        assert!(get(CONSOLE_RECORDING)(&json!("off")).is_err());
    }
}
