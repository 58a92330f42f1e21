//! Times are stored as Unix milliseconds (UTC) in both database backends.

use chrono::{DateTime, TimeZone, Utc};

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub fn to_dt(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
}

pub fn opt_dt(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.map(to_dt)
}
