//! Between the registry and the store: which changes to write, and rebuilding runs from
//! what was stored.

use prost::Message;
use temporalio_protos::temporal::api::history::v1::{History, HistoryEvent};

use crate::history::{
    Execution, NamespaceRecord, Registry, run::execution::RunState, run::properties::Properties,
};
use crate::store::{Batch, RunRecord, RunWrite, Snapshot, StoredRun};

impl Registry {
    /// The changes since the last batch: dirty namespaces, and each changed run's state
    /// record with its new events; with the ids of every run handed out mutably since (the
    /// runs whose waiters may need waking). A non-empty batch gets the next sequence number
    /// ([`Registry::batch_seq`]).
    pub(crate) fn take_batch(&mut self) -> (Batch, Vec<String>) {
        let mut batch = Batch::default();
        if std::mem::take(&mut self.namespaces_dirty) {
            for (name, record) in &self.namespaces {
                match serde_json::to_string(record) {
                    Ok(json) => batch.namespaces.push((name.clone(), json)),
                    Err(e) => tracing::error!(namespace = name, "cannot serialize: {e}"),
                }
            }
        }
        let touched: Vec<String> = self.touched.drain().collect();
        for run_id in &touched {
            let Some(write) = self.run_write(run_id) else {
                continue;
            };
            self.note_written(run_id);
            batch.runs.push(write);
        }
        batch.schedules = self.schedules.take_writes();
        batch.deleted_runs = std::mem::take(&mut self.deleted_runs);
        batch.deleted_namespaces = std::mem::take(&mut self.deleted_namespaces);
        batch.settings.extend(self.nexus_endpoints.take_writes());
        batch.settings.extend(self.settings.take_writes());
        if !batch.is_empty() {
            self.residency.batch_seq += 1;
        }
        (batch, touched)
    }

    /// The sequence number of the last non-empty batch taken.
    pub(crate) fn batch_seq(&self) -> u64 {
        self.residency.batch_seq
    }

    /// A dirty run's record and new events; marks it clean.
    fn run_write(&mut self, run_id: &str) -> Option<RunWrite> {
        let exec = self.runs.get(run_id).filter(|e| e.dirty)?;
        let state = match serde_json::to_string(&exec.state) {
            Ok(json) => json,
            Err(e) => {
                tracing::error!(run_id, "cannot serialize run state: {e}");
                return None;
            }
        };
        // A standalone activity has no workflow visibility record: it stays in memory.
        let closed_info = (!exec.is_open() && !exec.is_standalone())
            .then(|| self.execution_info(exec).encode_to_vec());
        let exec = self.runs.get_mut(run_id)?;
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
        Some(RunWrite {
            record: RunRecord {
                run_id: exec.state.run_id.clone(),
                namespace: exec.state.namespace.clone(),
                workflow_id: exec.state.workflow_id.clone(),
                state,
                buffered,
                closed_info,
            },
            new_events,
        })
    }

    /// Rebuilds a run from its stored record and history; `None` (logged) if it cannot be
    /// decoded.
    pub(in crate::history) fn decode_run(stored: StoredRun) -> Option<Execution> {
        let run_id = &stored.record.run_id;
        let mut state = match serde_json::from_str::<RunState>(&stored.record.state) {
            Ok(state) => state,
            Err(e) => {
                tracing::error!(run_id, "skipping unreadable run: {e}");
                return None;
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
            return None;
        };
        // Sticky queues belong to workers of the previous life of this engine (in demo
        // mode, the same process): start over from the normal queues.
        state.sticky = None;
        let mut exec = Execution::new(state);
        exec.properties = Properties::from_events(&events);
        exec.persisted_events = events.len();
        exec.events = events;
        exec.buffered = buffered.events;
        exec.dirty = false;
        Some(exec)
    }

    /// Rebuilds the registry from a snapshot of the open runs. Records that cannot be
    /// decoded are skipped with an error log rather than stopping the engine.
    pub(crate) fn restore(snapshot: Snapshot) -> Self {
        let mut registry = Self {
            schedules: crate::schedule::Schedules::restore(snapshot.schedules),
            nexus_endpoints: crate::nexus::Endpoints::restore(&snapshot.settings),
            settings: crate::history::settings::Settings::restore(&snapshot.settings),
            ..Self::default()
        };
        for (name, json) in snapshot.namespaces {
            match serde_json::from_str::<NamespaceRecord>(&json) {
                Ok(record) => {
                    registry.namespaces.insert(name, record);
                }
                Err(e) => tracing::error!(namespace = name, "skipping unreadable namespace: {e}"),
            }
        }
        // Oldest first, so the last run seen for a workflow id is its newest.
        for stored in snapshot.runs {
            let Some(mut exec) = Self::decode_run(stored) else {
                continue;
            };
            let run_id = exec.state.run_id.clone();
            if !exec.is_open() && !exec.is_standalone() {
                // Closed before the store recorded closed runs as such: write it again so
                // it gets its visibility record and leaves memory.
                exec.dirty = true;
                registry.touched.insert(run_id.clone());
            }
            let key = (exec.state.namespace.clone(), exec.state.workflow_id.clone());
            registry.current.insert(key, run_id.clone());
            registry.runs.insert(run_id, exec);
        }
        registry
    }
}
