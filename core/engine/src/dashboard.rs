//! The dashboard of manual 7.2.1 for the calling user, computed from the real tables: tiles,
//! recent task activity, and day-by-day history over WMAIS_DASHBOARD_HISTORY_DAYS days, with day
//! boundaries in the user's time zone.

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use wintermute_api::dashboard::{ActivityEntry, Dashboard, DashboardHistory, DashboardTiles};

use crate::caller::Caller;
use crate::engine::Engine;
use crate::error::CoreResult;
use crate::store::RowExt;
use crate::time::{now_ms, to_dt};

/// Half-open lifetimes `[from, to)` in ms; `to = None` means still alive.
fn count_per_day(days: &[(i64, i64)], spans: &[(i64, Option<i64>)]) -> Vec<i64> {
    days.iter()
        .map(|&(start, end)| {
            spans.iter().filter(|&&(from, to)| from < end && to.is_none_or(|t| t > start)).count() as i64
        })
        .collect()
}

fn count_starts(days: &[(i64, i64)], starts: &[i64]) -> Vec<i64> {
    days.iter().map(|&(s, e)| starts.iter().filter(|&&t| t >= s && t < e).count() as i64).collect()
}

impl Engine {
    pub async fn dashboard(&self, caller: &Caller) -> CoreResult<Dashboard> {
        let pool = self.store().pool();
        let uid = caller.user_id;
        let scalar = |sql: &'static str| async move {
            let r = sqlx::query(sql).bind(uid).fetch_one(pool).await?;
            r.int("n")
        };
        let tiles = DashboardTiles {
            instances_running: scalar("SELECT COUNT(*) AS n FROM instances WHERE owner_id = $1 AND status = 'running' AND terminated_at IS NULL").await?,
            volumes_attached: scalar(
                "SELECT COUNT(*) AS n FROM volumes WHERE owner_id = $1 AND instance_id IS NOT NULL AND deleted_at IS NULL",
            )
            .await?,
            volumes_size_gb: scalar(
                "SELECT CAST(COALESCE(SUM(size_gb), 0) AS BIGINT) AS n FROM volumes WHERE owner_id = $1 AND instance_id IS NOT NULL AND deleted_at IS NULL",
            )
            .await?,
            tasks_running: scalar("SELECT COUNT(*) AS n FROM tasks WHERE owner_id = $1 AND state IN ('queued', 'running')").await?,
        };

        let history_days = self.setting_i64("WMAIS_DASHBOARD_HISTORY_DAYS").clamp(1, 3650);
        let tz: Tz = sqlx::query("SELECT time_zone FROM users WHERE id = $1")
            .bind(uid)
            .fetch_one(pool)
            .await?
            .text("time_zone")?
            .parse()
            .unwrap_or(Tz::UTC);
        let today = Utc::now().with_timezone(&tz).date_naive();
        let dates: Vec<NaiveDate> = (0..history_days).rev().map(|i| today - Duration::days(i)).collect();
        let bounds: Vec<(i64, i64)> = dates
            .iter()
            .map(|d| {
                let start = |d: NaiveDate| {
                    d.and_hms_opt(0, 0, 0)
                        .and_then(|n| tz.from_local_datetime(&n).earliest())
                        .map(|t| t.timestamp_millis())
                        .unwrap_or(0)
                };
                (start(*d), start(*d + Duration::days(1)))
            })
            .collect();
        let window_start = bounds.first().map(|b| b.0).unwrap_or(0);

        let inst = sqlx::query("SELECT created_at, terminated_at FROM instances WHERE owner_id = $1 AND (terminated_at IS NULL OR terminated_at >= $2)")
            .bind(uid)
            .bind(window_start)
            .fetch_all(pool)
            .await?;
        let inst_spans: Vec<(i64, Option<i64>)> =
            inst.iter().map(|r| Ok((r.int("created_at")?, r.opt_int("terminated_at")?))).collect::<CoreResult<_>>()?;
        let vols = sqlx::query("SELECT created_at, deleted_at FROM volumes WHERE owner_id = $1 AND (deleted_at IS NULL OR deleted_at >= $2)")
            .bind(uid)
            .bind(window_start)
            .fetch_all(pool)
            .await?;
        let vol_spans: Vec<(i64, Option<i64>)> =
            vols.iter().map(|r| Ok((r.int("created_at")?, r.opt_int("deleted_at")?))).collect::<CoreResult<_>>()?;
        let task_starts: Vec<i64> =
            sqlx::query("SELECT created_at FROM tasks WHERE owner_id = $1 AND created_at >= $2")
                .bind(uid)
                .bind(window_start)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| r.int("created_at"))
                .collect::<Result<_, _>>()?;
        let created: Vec<i64> = inst_spans.iter().map(|s| s.0).collect();
        let history = DashboardHistory {
            created_instances: count_starts(&bounds, &created),
            active_instances: count_per_day(&bounds, &inst_spans),
            volumes: count_per_day(&bounds, &vol_spans),
            tasks: count_starts(&bounds, &task_starts),
            days: dates,
        };

        let activity = sqlx::query(
            "SELECT l.at, l.line, t.id, t.kind, t.title FROM task_logs l JOIN tasks t ON t.id = l.task_id \
             WHERE t.owner_id = $1 AND l.at >= $2 ORDER BY l.at DESC, l.seq DESC LIMIT 30",
        )
        .bind(uid)
        .bind(now_ms() - history_days * 86_400_000)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(ActivityEntry {
                at: to_dt(r.int("at")?),
                task_id: r.int("id")?,
                task_kind: r.text("kind")?,
                task_title: r.text("title")?,
                line: r.text("line")?,
            })
        })
        .collect::<CoreResult<Vec<_>>>()?;
        Ok(Dashboard { tiles, activity, history })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_day_counts() {
        let days = [(0, 10), (10, 20), (20, 30)];
        // alive from 5 to 15, from 12 on, and one that ended exactly when day 2 began
        let spans = [(5, Some(15)), (12, None), (1, Some(10))];
        assert_eq!(count_per_day(&days, &spans), vec![2, 2, 1]);
        assert_eq!(count_starts(&days, &[0, 9, 10, 29, 30]), vec![2, 1, 1]);
    }
}
