//! Between the registry and the store: which changes to write, and rebuilding the
//! registry from a stored snapshot.

use prost::Message;
use temporalio_protos::temporal::api::history::v1::{History, HistoryEvent};

use super::{Execution, NamespaceRecord, Registry, execution::RunState};
use crate::store::{Batch, RunRecord, RunWrite, Snapshot};

impl Registry {
    /// The changes since the last batch: dirty namespaces, and each changed run's state
    /// record with its new events.
    pub(crate) fn take_batch(&mut self) -> Batch {
        let mut batch = Batch::default();
        if std::mem::take(&mut self.namespaces_dirty) {
            for (name, record) in &self.namespaces {
                match serde_json::to_string(record) {
                    Ok(json) => batch.namespaces.push((name.clone(), json)),
                    Err(e) => tracing::error!(namespace = name, "cannot serialize: {e}"),
                }
            }
        }
        for run_id in std::mem::take(&mut self.touched) {
            let Some(exec) = self.runs.get_mut(&run_id) else {
                continue;
            };
            if !exec.dirty {
                continue;
            }
            let state = match serde_json::to_string(&exec.state) {
                Ok(json) => json,
                Err(e) => {
                    tracing::error!(run_id, "cannot serialize run state: {e}");
                    continue;
                }
            };
            let new_events = exec.events[exec.persisted_events..]
                .iter()
                .map(|e| (e.event_id, e.encode_to_vec()))
                .collect();
            let buffered = History {
                events: exec.buffered.clone(),
            }
            .encode_to_vec();
            exec.persisted_events = exec.events.len();
            exec.dirty = false;
            batch.runs.push(RunWrite {
                record: RunRecord {
                    run_id: exec.state.run_id.clone(),
                    namespace: exec.state.namespace.clone(),
                    workflow_id: exec.state.workflow_id.clone(),
                    state,
                    buffered,
                },
                new_events,
            });
        }
        batch
    }

    /// Rebuilds the registry from a snapshot. Records that cannot be decoded are skipped
    /// with an error log rather than stopping the engine.
    pub(crate) fn restore(snapshot: Snapshot) -> Self {
        let mut registry = Self::default();
        for (name, json) in snapshot.namespaces {
            match serde_json::from_str::<NamespaceRecord>(&json) {
                Ok(record) => {
                    registry.namespaces.insert(name, record);
                }
                Err(e) => tracing::error!(namespace = name, "skipping unreadable namespace: {e}"),
            }
        }
        for stored in snapshot.runs {
            let run_id = stored.record.run_id.clone();
            let state = match serde_json::from_str::<RunState>(&stored.record.state) {
                Ok(state) => state,
                Err(e) => {
                    tracing::error!(run_id, "skipping unreadable run: {e}");
                    continue;
                }
            };
            let events: Result<Vec<_>, _> = stored
                .events
                .iter()
                .map(|b| HistoryEvent::decode(b.as_slice()))
                .collect();
            let buffered = History::decode(stored.record.buffered.as_slice());
            let (Ok(events), Ok(buffered)) = (events, buffered) else {
                tracing::error!(run_id, "skipping run with unreadable history");
                continue;
            };
            let mut state = state;
            // Sticky queues belong to workers of the previous life of this engine (in demo
            // mode, the same process): start over from the normal queues.
            state.sticky = None;
            let mut exec = Execution::new(state);
            exec.persisted_events = events.len();
            exec.events = events;
            exec.buffered = buffered.events;
            exec.dirty = false;
            let key = (exec.state.namespace.clone(), exec.state.workflow_id.clone());
            let newer = registry
                .current
                .get(&key)
                .and_then(|id| registry.runs.get(id))
                .is_none_or(|cur| cur.state.start_time_ms <= exec.state.start_time_ms);
            if newer {
                registry.current.insert(key, run_id.clone());
            }
            registry.runs.insert(run_id, exec);
        }
        registry
    }
}
