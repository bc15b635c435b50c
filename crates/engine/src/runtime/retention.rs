//! Retention: a background task that deletes closed runs (history, visibility record,
//! everything the store keeps of them) and closed standalone activities once their
//! namespace's retention has passed since they closed. What is due is read from the store
//! each time (closed runs by close time; standalone activities from memory, where they all
//! are), never kept aside, so a restart or a crash mid-sweep loses nothing: the next pass
//! finds what is still there. Each batch is one ordinary commit of at most
//! [`SWEEP_BATCH`] runs, so requests queue behind a short transaction at most, and the
//! time is the engine's clock (time skipping moves retention along with everything else).

use std::{sync::Arc, time::Duration};

use super::EngineRuntime;
use crate::error::{EngineError, Result};

/// Between two sweeps.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The most runs deleted in one commit.
pub(crate) const SWEEP_BATCH: usize = 200;

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
    /// returns how many were deleted.
    pub(crate) async fn sweep(&self, batch: usize) -> Result<usize> {
        let retentions = self.read(|registry| registry.retentions());
        let now = self.clock.now_ms();
        let mut deleted = 0;
        for (namespace, retention_ms) in retentions {
            let before = now.saturating_sub(retention_ms);
            loop {
                let store = Arc::clone(&self.store);
                let name = namespace.clone();
                let due = tokio::task::spawn_blocking(move || store.expired(&name, before, batch))
                    .await
                    .map_err(|e| EngineError::Storage(format!("retention read failed: {e}")))?
                    .map_err(EngineError::store)?;
                if due.is_empty() {
                    break;
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
                    break;
                }
                // Requests waiting for the lock or the writer go first.
                tokio::task::yield_now().await;
            }
            // Standalone activities are all in memory: found there.
            let due = self.read(|registry| registry.expired_activities(&namespace, before, batch));
            if !due.is_empty() {
                let count = due.len();
                self.execute(|registry, _, _| {
                    registry.forget_closed_runs(&due);
                    Ok(())
                })
                .await?;
                deleted += count;
            }
        }
        Ok(deleted)
    }
}
