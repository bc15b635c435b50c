//! Per-run wake-ups for long polls on history and updates: a change to one run wakes only
//! the callers waiting on that run, not every waiter in the engine.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use tokio::sync::{Notify, futures::Notified};

/// The runs someone is waiting on.
#[derive(Debug, Default)]
pub(crate) struct RunWatchers {
    runs: Mutex<HashMap<String, Arc<Notify>>>,
}

/// A caller's interest in one run; dropped when the caller stops waiting.
#[derive(Debug)]
pub(crate) struct RunWatch<'a> {
    watchers: &'a RunWatchers,
    run_id: String,
    notify: Arc<Notify>,
}

impl RunWatchers {
    /// Starts watching `run_id`.
    pub(crate) fn watch(&self, run_id: &str) -> RunWatch<'_> {
        let notify = Arc::clone(self.lock().entry(run_id.to_owned()).or_default());
        RunWatch {
            watchers: self,
            run_id: run_id.to_owned(),
            notify,
        }
    }

    /// Wakes everyone waiting on any of `run_ids`.
    pub(crate) fn wake<'r>(&self, run_ids: impl IntoIterator<Item = &'r String>) {
        let runs = self.lock();
        if runs.is_empty() {
            return;
        }
        for run_id in run_ids {
            if let Some(notify) = runs.get(run_id) {
                notify.notify_waiters();
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RunWatch<'_> {
    /// Resolves at the next wake-up of this run. Call `enable` on it (or poll it) before
    /// reading the state it guards, so no wake-up between the read and the wait is lost.
    pub(crate) fn changed(&self) -> Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for RunWatch<'_> {
    fn drop(&mut self) {
        let mut runs = self.watchers.lock();
        // The map holds one reference and this watch another: nobody else is waiting.
        if Arc::strong_count(&self.notify) == 2 {
            runs.remove(&self.run_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_change_wakes_only_the_watchers_of_its_run() {
        let watchers = RunWatchers::default();
        let a = watchers.watch("a");
        let b = watchers.watch("b");
        {
            let woken_a = a.changed();
            let woken_b = b.changed();
            tokio::pin!(woken_a, woken_b);
            woken_a.as_mut().enable();
            woken_b.as_mut().enable();
            watchers.wake([&"a".to_owned()]);
            let short = Duration::from_millis(20);
            assert!(tokio::time::timeout(short, woken_a).await.is_ok());
            assert!(tokio::time::timeout(short, woken_b).await.is_err());
        }
        drop(a);
        assert_eq!(watchers.lock().len(), 1, "a's entry is gone, b's stays");
        drop(b);
        assert!(watchers.lock().is_empty());
    }
}
