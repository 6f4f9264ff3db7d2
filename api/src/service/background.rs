//! Background tasks of a running instance: draining the deletion queue, expiring pending
//! uploads, and removing job log lines past their retention.

use std::time::Duration;

use crate::state::AppState;

/// How often the deletion queue is looked at when nothing wakes the drainer.
const DRAIN_PERIOD: Duration = Duration::from_secs(5);
/// How often lapsed uploads are looked for.
const EXPIRY_PERIOD: Duration = Duration::from_secs(60);

/// How often old job log lines are looked for.
const LOG_SWEEP_PERIOD: Duration = Duration::from_secs(3600);

/// Starts the tasks; they stop with the runtime.
pub fn spawn(state: AppState) {
    if let Some(retention) = state.settings.job_log_retention {
        let db = state.db.clone();
        tokio::spawn(crate::db::in_background(async move {
            let mut ticks = super::uploads::every(LOG_SWEEP_PERIOD);
            loop {
                ticks.tick().await;
                match super::jobs::sweep_logs(&db, retention).await {
                    Ok(n) if n > 0 => tracing::info!(removed = n, "old job log lines removed"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(code = e.code(), "job log sweep failed"),
                }
            }
        }));
    }
    let drainer = state.clone();
    tokio::spawn(crate::db::in_background(async move {
        loop {
            match super::deletions::drain_once(&drainer.db, &drainer.storage).await {
                Ok(n) if n > 0 => tracing::debug!(removed = n, "objects removed"),
                Ok(_) => {}
                Err(e) => tracing::warn!(code = e.code(), "deletion queue pass failed"),
            }
            tokio::select! {
                () = drainer.deletions_due.notified() => {}
                () = tokio::time::sleep(DRAIN_PERIOD) => {}
            }
        }
    }));
    if let Some(cache) = state.cache.clone() {
        tokio::spawn(async move {
            let mut ticks = super::uploads::every(Duration::from_secs(1));
            loop {
                ticks.tick().await;
                cache.generations().heal().await;
            }
        });
    }
    tokio::spawn(crate::db::in_background(async move {
        let mut ticks = super::uploads::every(EXPIRY_PERIOD);
        loop {
            ticks.tick().await;
            match super::uploads::expire(&state).await {
                Ok(n) if n > 0 => tracing::info!(aborted = n, "lapsed uploads aborted"),
                Ok(_) => {}
                Err(e) => tracing::warn!(code = e.code(), "upload expiry pass failed"),
            }
        }
    }));
}
