//! The in-memory backend: for tests and for an engine started without a database file.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
};

use tokio::sync::oneshot;

use super::{Batch, Commit, Load, RunRecord, Snapshot, Store, StoredRun};

/// Keeps everything in process memory; lost when the process exits.
#[derive(Debug, Default)]
pub(crate) struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    namespaces: BTreeMap<String, String>,
    runs: HashMap<String, (RunRecord, BTreeMap<i64, Vec<u8>>)>,
}

impl Store for MemoryStore {
    fn load(&self) -> Load {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let snapshot = Snapshot {
            namespaces: inner.namespaces.clone(),
            runs: inner
                .runs
                .values()
                .map(|(record, events)| StoredRun {
                    record: record.clone(),
                    events: events.values().cloned().collect(),
                })
                .collect(),
        };
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Ok(snapshot));
        rx
    }

    fn commit(&self, batch: Batch) -> Commit {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.namespaces.extend(batch.namespaces);
        for write in batch.runs {
            let entry = inner
                .runs
                .entry(write.record.run_id.clone())
                .or_insert_with(|| (write.record.clone(), BTreeMap::new()));
            entry.0 = write.record;
            entry.1.extend(write.new_events);
        }
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Ok(()));
        rx
    }
}
