//! Which runs live in memory. Open runs always do; a closed run stays only until its last
//! change is durable and newer closed runs push it out of a small cache. After that it is
//! read back from the store when someone asks for it by id (describe, history, a query, a
//! new start under the same workflow id); visibility lists closed runs straight from the
//! store. This keeps memory flat however many workflows have completed.
//!
//! Beside residency, the registry's upkeep between requests: `recovery` (rebuilding effects
//! after a restart), `pending` (work in flight, which holds a time-skipping clock) and
//! `outbox` (carrying out work that crosses runs, settled in the same operation).

pub(in crate::history) mod outbox;
pub(in crate::history) mod pending;
pub(in crate::history) mod recovery;

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    sync::Arc,
};

use crate::{history::Registry, store::Store};

/// How many closed runs stay in memory by default.
pub(crate) const DEFAULT_CLOSED_RUNS_IN_MEMORY: usize = 128;

/// Where evicted runs are read back from, and how many closed runs to keep.
pub(crate) struct Residency {
    store: Option<Arc<dyn Store>>,
    keep_closed: usize,
    /// Closed runs in memory, oldest first.
    closed: VecDeque<String>,
    /// The sequence number of the last batch taken; runs remember the batch that last
    /// wrote them, and may leave memory once that batch is durable.
    pub(crate) batch_seq: u64,
    /// Runs deleted, with the batch that deletes them: not read back from the store until
    /// that batch is durable.
    deleting: HashMap<String, u64>,
}

impl Default for Residency {
    fn default() -> Self {
        Self {
            store: None,
            keep_closed: DEFAULT_CLOSED_RUNS_IN_MEMORY,
            closed: VecDeque::new(),
            batch_seq: 0,
            deleting: HashMap::new(),
        }
    }
}

impl fmt::Debug for Residency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Residency")
            .field("has_store", &self.store.is_some())
            .field("keep_closed", &self.keep_closed)
            .field("closed", &self.closed.len())
            .field("batch_seq", &self.batch_seq)
            .finish()
    }
}

impl Registry {
    /// Reads evicted runs back from `store`; keeps at most `keep_closed` closed runs.
    pub(crate) fn attach_store(&mut self, store: Arc<dyn Store>, keep_closed: usize) {
        self.residency.store = Some(store);
        self.residency.keep_closed = keep_closed;
    }

    /// Makes sure a run is in memory, reading it back from the store if it was evicted.
    /// Returns whether it is there now.
    pub(crate) fn load(&mut self, run_id: &str) -> bool {
        if self.runs.contains_key(run_id) {
            return true;
        }
        if self.residency.deleting.contains_key(run_id) {
            return false;
        }
        let Some(store) = self.residency.store.clone() else {
            return false;
        };
        let stored = match store.read_run(run_id) {
            Ok(Some(stored)) => stored,
            Ok(None) => return false,
            Err(e) => {
                tracing::error!(run_id, "cannot read run from the store: {e}");
                return false;
            }
        };
        let Some(mut exec) = Self::decode_run(stored) else {
            return false;
        };
        if exec.is_open() {
            // Open runs never leave memory; one missing here was never ours to load.
            tracing::error!(
                run_id,
                "an open run was found only in the store; ignoring it"
            );
            return false;
        }
        exec.in_closed_cache = true;
        self.residency.closed.push_back(run_id.to_owned());
        self.runs.insert(run_id.to_owned(), exec);
        true
    }

    /// The newest run of a workflow id, loaded into memory; `None` if there is none.
    pub(crate) fn current_run(&mut self, namespace: &str, workflow_id: &str) -> Option<String> {
        let key = (namespace.to_owned(), workflow_id.to_owned());
        if let Some(run_id) = self.current.get(&key) {
            return Some(run_id.clone());
        }
        let store = self.residency.store.clone()?;
        let run_id = match store.latest_run(namespace, workflow_id) {
            Ok(found) => found?,
            Err(e) => {
                tracing::error!(workflow_id, "cannot look up the latest run: {e}");
                return None;
            }
        };
        if !self.load(&run_id) {
            return None;
        }
        self.current.insert(key, run_id.clone());
        Some(run_id)
    }

    /// Called for every run written by a batch: closed runs join the cache.
    pub(in crate::history) fn note_written(&mut self, run_id: &str) {
        let seq = self.residency.batch_seq + 1;
        let Some(exec) = self.runs.get_mut(run_id) else {
            return;
        };
        exec.written_seq = seq;
        // Standalone activities never leave memory: lists read them there.
        if !exec.is_open() && !exec.in_closed_cache && !exec.is_standalone() {
            exec.in_closed_cache = true;
            self.residency.closed.push_back(run_id.to_owned());
        }
    }

    /// Drops the oldest closed runs beyond the cache size whose last write is durable
    /// (batch `durable_seq` and all before it have been committed).
    pub(crate) fn evict(&mut self, durable_seq: u64) {
        if self.residency.store.is_none() {
            return;
        }
        if !self.residency.deleting.is_empty() {
            self.residency.deleting.retain(|_, seq| *seq > durable_seq);
        }
        while self.residency.closed.len() > self.residency.keep_closed {
            let Some(run_id) = self.residency.closed.front() else {
                return;
            };
            match self.runs.get(run_id) {
                Some(exec) if exec.is_open() => {}
                Some(exec) if exec.dirty || exec.written_seq > durable_seq => return,
                Some(exec) => {
                    let key = (exec.state.namespace.clone(), exec.state.workflow_id.clone());
                    if self.current.get(&key) == Some(run_id) {
                        self.current.remove(&key);
                    }
                    self.runs.remove(run_id);
                }
                None => {}
            }
            self.residency.closed.pop_front();
        }
    }

    /// A run was deleted: out of the cache, and not read back until the next batch, which
    /// deletes it from the store, is durable.
    pub(super) fn note_deleted(&mut self, run_id: &str) {
        self.residency.closed.retain(|id| id != run_id);
        if self.residency.store.is_some() {
            let seq = self.residency.batch_seq + 1;
            self.residency.deleting.insert(run_id.to_owned(), seq);
        }
    }

    /// Closed runs currently in memory.
    #[cfg(test)]
    pub(crate) fn closed_in_memory(&self) -> usize {
        self.residency.closed.len()
    }
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::command::v1::{
        CompleteWorkflowExecutionCommandAttributes, command::Attributes as C,
    };

    use super::*;
    use crate::history::{
        Effects, NewRun,
        testing::{self, NOW},
    };
    use crate::store::MemoryStore;

    /// Persists what changed, as the runtime does, and returns the batch's sequence number.
    async fn commit(registry: &mut Registry, store: &MemoryStore) -> u64 {
        let (batch, _) = registry.take_batch();
        let outcome = store.commit(batch).await;
        assert!(matches!(outcome, Ok(Ok(()))), "commit failed");
        registry.batch_seq()
    }

    fn finish(registry: &mut Registry, workflow_id: &str) -> String {
        let run_id = testing::start(registry, workflow_id);
        let task = testing::take_task(registry, &run_id);
        testing::complete(
            registry,
            &task,
            vec![C::CompleteWorkflowExecutionCommandAttributes(
                CompleteWorkflowExecutionCommandAttributes::default(),
            )],
            vec![],
        );
        run_id
    }

    #[tokio::test]
    async fn closed_runs_leave_memory_once_durable_and_come_back_on_demand() {
        let store = Arc::new(MemoryStore::default());
        let mut registry = testing::registry();
        registry.attach_store(store.clone(), 2);
        let open = testing::start(&mut registry, "still-open");
        let mut closed = Vec::new();
        let mut durable = 0;
        for i in 0..10 {
            closed.push(finish(&mut registry, &format!("wf-{i}")));
            durable = commit(&mut registry, &store).await;
        }
        // Nothing is durable yet: everything stays.
        registry.evict(0);
        assert_eq!(registry.runs.len(), 11);

        registry.evict(durable);
        assert_eq!(registry.closed_in_memory(), 2);
        assert_eq!(registry.runs.len(), 3, "the open run and two closed ones");
        assert!(registry.runs.contains_key(&open));
        assert!(!registry.runs.contains_key(&closed[0]));
        assert!(
            !registry
                .current
                .contains_key(&("default".into(), "wf-0".into()))
        );

        // By run id and by workflow id, with the whole history.
        let events = testing::event_types(&registry, &closed[9]);
        assert_eq!(events.len(), 5, "{events:?}");
        let loaded = registry.resolve("default", "wf-0", &closed[0]);
        assert_eq!(loaded.ok().as_deref(), Some(closed[0].as_str()));
        assert_eq!(testing::event_types(&registry, &closed[0]), events);
        assert_eq!(
            registry.resolve("default", "wf-1", "").ok().as_deref(),
            Some(closed[1].as_str())
        );
        assert!(registry.resolve("default", "wf-1", &closed[0]).is_err());
        assert!(registry.resolve("default", "never", "").is_err());

        // A new start under an evicted workflow id sees the closed run.
        let mut fx = Effects::default();
        let again = NewRun {
            namespace: "default".into(),
            workflow_id: "wf-2".into(),
            workflow_type: "T".into(),
            task_queue: "q".into(),
            ..Default::default()
        };
        let restarted = registry
            .start_workflow(again, NOW, &mut fx)
            .unwrap_or_else(|e| panic!("restart: {e}"));
        assert_ne!(restarted.run_id, closed[2]);
        assert_eq!(
            registry.current_run("default", "wf-2").as_deref(),
            Some(restarted.run_id.as_str())
        );

        // Loaded runs leave again once the cache overflows.
        let durable = commit(&mut registry, &store).await;
        registry.evict(durable);
        assert!(registry.closed_in_memory() <= 2);
        assert_eq!(registry.runs.len(), 4, "two open runs and two closed ones");
    }
}
