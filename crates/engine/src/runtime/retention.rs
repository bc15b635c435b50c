//! Retention: a background task that deletes closed runs (history, visibility record,
//! everything the store keeps of them) and closed standalone activities once the retention
//! their namespace had when they closed has passed since (the real server fixes a run's
//! deletion time at close; the namespace record keeps the retentions before a change until
//! their runs are gone). What is due is read from the store each time (closed runs by
//! close time; standalone activities from memory, where they all are), never kept aside,
//! so a restart or a crash mid-sweep loses nothing: the next pass finds what is still
//! there. Each batch is one ordinary commit of at most [`SWEEP_BATCH`] runs, so requests
//! queue behind a short transaction at most, and the time is the engine's clock (time
//! skipping moves retention along with everything else).

use std::{sync::Arc, time::Duration};

use super::EngineRuntime;
use crate::error::{EngineError, Result};

/// Between two sweeps.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The most runs deleted in one commit.
pub(crate) const SWEEP_BATCH: usize = 200;

/// Between two batches of one sweep: requests waiting for the lock or the writer go
/// first, and a large expiry spreads out (still 4,000 runs a second at most).
pub(crate) const SWEEP_PAUSE: Duration = Duration::from_millis(50);

/// Starts the background task that sweeps every [`SWEEP_EVERY`] until shutdown.
pub(crate) fn spawn_sweeper(runtime: Arc<EngineRuntime>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = runtime.shutting_down() => return,
                () = tokio::time::sleep(SWEEP_EVERY) => {}
            }
            match runtime.sweep(SWEEP_BATCH).await {
                Ok(0) => {}
                Ok(deleted) => tracing::debug!(deleted, "retention deleted closed runs"),
                Err(e) => tracing::warn!("retention sweep stopped early, carrying on later: {e}"),
            }
        }
    })
}

impl EngineRuntime {
    /// One pass over every namespace, deleting expired runs in commits of at most `batch`;
    /// returns how many were deleted. A run expires by the retention in force when it
    /// closed (see [`crate::history::RetentionWindow`]).
    pub(crate) async fn sweep(&self, batch: usize) -> Result<usize> {
        let retentions = self.read(|registry| registry.retentions());
        let now = self.clock.now_ms();
        let mut deleted = 0;
        for (namespace, windows) in retentions {
            let last = windows.len().saturating_sub(1);
            // The end of the oldest earlier retentions now spent: every run closed under
            // them was due and is deleted, and none can close under them any more.
            let (mut spent, mut all_spent) = (None, true);
            for (i, window) in windows.iter().enumerate() {
                let due = window.due(now);
                if !due.is_empty() {
                    deleted += self.sweep_closed(&namespace, due.clone(), batch).await?;
                    deleted += self.sweep_activities(&namespace, due, batch).await?;
                }
                all_spent &= i < last && window.all_due(now);
                if all_spent {
                    spent = Some(window.closed.end);
                }
            }
            if let Some(until_ms) = spent {
                self.execute(|registry, _, _| {
                    registry.drop_retentions_until(&namespace, until_ms);
                    Ok(())
                })
                .await?;
            }
        }
        Ok(deleted)
    }

    /// Deletes up to `batch` closed standalone activities of `namespace` that closed in
    /// `closed` (all in memory: found there); returns how many.
    async fn sweep_activities(
        &self,
        namespace: &str,
        closed: std::ops::Range<i64>,
        batch: usize,
    ) -> Result<usize> {
        let due = self.read(|registry| registry.expired_activities(namespace, &closed, batch));
        if due.is_empty() {
            return Ok(0);
        }
        let count = due.len();
        self.execute(|registry, _, _| {
            registry.forget_closed_runs(&due);
            Ok(())
        })
        .await?;
        Ok(count)
    }

    /// Deletes the closed runs of `namespace` that closed in `closed`, in commits of at
    /// most `batch`; returns how many.
    async fn sweep_closed(
        &self,
        namespace: &str,
        closed: std::ops::Range<i64>,
        batch: usize,
    ) -> Result<usize> {
        let mut deleted = 0;
        loop {
            let store = Arc::clone(&self.store);
            let (name, range) = (namespace.to_owned(), closed.clone());
            let due = tokio::task::spawn_blocking(move || store.expired(&name, range, batch))
                .await
                .map_err(|e| EngineError::Storage(format!("retention read failed: {e}")))?
                .map_err(EngineError::store)?;
            if due.is_empty() {
                return Ok(deleted);
            }
            let count = due.len();
            self.execute(|registry, _, _| {
                registry.forget_closed_runs(&due);
                Ok(())
            })
            .await?;
            deleted += count;
            tracing::debug!(namespace, count, "deleted runs past retention");
            if count < batch {
                return Ok(deleted);
            }
            tokio::time::sleep(SWEEP_PAUSE).await;
        }
    }
}
