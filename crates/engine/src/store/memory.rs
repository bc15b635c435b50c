//! The in-memory backend: for tests and for an engine started without a database file.
//! It answers visibility queries by evaluating their conditions on each closed run's
//! columns, in Rust, with the same order and paging as the SQL stores.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Mutex, MutexGuard},
};

use tokio::sync::oneshot;

use super::{
    Batch, ClosedInfo, Commit, Load, RunRecord, Snapshot, Store, StoreError, StoredRun,
    visibility::{ClosedQuery, Cmp, Column, Columns, Cond, Value},
};

/// Keeps everything in process memory; lost when the process exits.
#[derive(Debug, Default)]
pub(crate) struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    namespaces: BTreeMap<String, String>,
    settings: BTreeMap<String, String>,
    schedules: BTreeMap<(String, String), String>,
    runs: HashMap<String, StoredEntry>,
    /// Insertion counter, so "newest run of a workflow id" means the same as in SQLite.
    created: u64,
}

#[derive(Debug)]
struct StoredEntry {
    created: u64,
    record: RunRecord,
    events: BTreeMap<i64, Vec<u8>>,
}

impl StoredEntry {
    fn stored_run(&self) -> StoredRun {
        StoredRun {
            record: self.record.clone(),
            events: self.events.values().cloned().collect(),
        }
    }
}

impl MemoryStore {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for MemoryStore {
    fn load(&self) -> Load {
        let inner = self.inner();
        let mut open: Vec<&StoredEntry> = inner
            .runs
            .values()
            .filter(|e| e.record.closed_info.is_none())
            .collect();
        open.sort_by_key(|e| e.created);
        let snapshot = Snapshot {
            namespaces: inner.namespaces.clone(),
            settings: inner.settings.clone(),
            schedules: inner
                .schedules
                .iter()
                .map(|((namespace, id), record)| (namespace.clone(), id.clone(), record.clone()))
                .collect(),
            runs: open.into_iter().map(StoredEntry::stored_run).collect(),
        };
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Ok(snapshot));
        rx
    }

    fn commit(&self, batch: Batch) -> Commit {
        let mut inner = self.inner();
        inner.namespaces.extend(batch.namespaces);
        inner.settings.extend(batch.settings);
        for write in batch.schedules {
            let key = (write.namespace, write.schedule_id);
            match write.record {
                Some(record) => inner.schedules.insert(key, record),
                None => inner.schedules.remove(&key),
            };
        }
        for write in batch.runs {
            let next = inner.created + 1;
            let entry = inner
                .runs
                .entry(write.record.run_id.clone())
                .or_insert_with(|| StoredEntry {
                    created: next,
                    record: write.record.clone(),
                    events: BTreeMap::new(),
                });
            let created = entry.created;
            entry.record = write.record;
            entry.events.extend(write.new_events);
            inner.created = inner.created.max(created);
        }
        for run_id in &batch.deleted_runs {
            inner.runs.remove(run_id);
        }
        for name in &batch.deleted_namespaces {
            inner.runs.retain(|_, e| &e.record.namespace != name);
            inner
                .schedules
                .retain(|(namespace, _), _| namespace != name);
            inner.namespaces.remove(name);
        }
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Ok(()));
        rx
    }

    fn read_run(&self, run_id: &str) -> Result<Option<StoredRun>, StoreError> {
        Ok(self.inner().runs.get(run_id).map(StoredEntry::stored_run))
    }

    fn latest_run(&self, namespace: &str, workflow_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .inner()
            .runs
            .values()
            .filter(|e| e.record.namespace == namespace && e.record.workflow_id == workflow_id)
            .max_by_key(|e| e.created)
            .map(|e| e.record.run_id.clone()))
    }

    fn expired(
        &self,
        namespace: &str,
        closed: std::ops::Range<i64>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let inner = self.inner();
        let mut due: Vec<(i64, &str)> = inner
            .runs
            .values()
            .filter(|e| e.record.namespace == namespace)
            .filter_map(|e| {
                let close_ms = Columns::of(e.record.closed_info.as_deref()?)?.close_ms?;
                closed
                    .contains(&close_ms)
                    .then_some((close_ms, e.record.run_id.as_str()))
            })
            .collect();
        due.sort_unstable();
        Ok(due
            .into_iter()
            .take(limit)
            .map(|(_, run_id)| run_id.to_owned())
            .collect())
    }

    fn closed_infos(&self, namespace: &str) -> Result<Vec<ClosedInfo>, StoreError> {
        Ok(self
            .inner()
            .runs
            .values()
            .filter(|e| e.record.namespace == namespace)
            .filter_map(|e| {
                e.record.closed_info.as_ref().map(|info| ClosedInfo {
                    run_id: e.record.run_id.clone(),
                    info: info.clone(),
                })
            })
            .collect())
    }

    fn query_closed(&self, query: &ClosedQuery) -> Result<Option<Vec<ClosedInfo>>, StoreError> {
        let mut rows = self.matching(query);
        rows.sort_by(|a, b| {
            let order = a.0.cmp(&b.0);
            if query.ascending {
                order
            } else {
                order.reverse()
            }
        });
        let beyond = |key: &(i64, String)| match &query.after {
            None => true,
            Some(after) if query.ascending => key > after,
            Some(after) => key < after,
        };
        Ok(Some(
            rows.into_iter()
                .filter(|(key, _, _)| beyond(key))
                .take(query.limit)
                .map(|(_, _, info)| info)
                .collect(),
        ))
    }

    fn count_closed(&self, query: &ClosedQuery) -> Result<Option<Vec<(i32, i64)>>, StoreError> {
        let mut counts: BTreeMap<i32, i64> = BTreeMap::new();
        for (_, status, _) in self.matching(query) {
            *counts.entry(status).or_default() += 1;
        }
        Ok(Some(counts.into_iter().collect()))
    }
}

impl MemoryStore {
    /// The closed runs `query` matches: ((start ms, run id), status, info).
    fn matching(&self, query: &ClosedQuery) -> Vec<((i64, String), i32, ClosedInfo)> {
        let exclude: HashSet<&str> = query.exclude.iter().map(String::as_str).collect();
        self.inner()
            .runs
            .values()
            .filter(|e| e.record.namespace == query.namespace)
            .filter(|e| !exclude.contains(e.record.run_id.as_str()))
            .filter_map(|e| {
                let info = e.record.closed_info.as_ref()?;
                let columns = Columns::of(info)?;
                let matches = query
                    .cond
                    .as_ref()
                    .is_none_or(|c| holds(c, &e.record.workflow_id, &columns));
                matches.then(|| {
                    (
                        (columns.start_ms, e.record.run_id.clone()),
                        columns.status,
                        ClosedInfo {
                            run_id: e.record.run_id.clone(),
                            info: info.clone(),
                        },
                    )
                })
            })
            .collect()
    }
}

/// Whether a closed run with these columns meets `cond`, as SQL would decide it (a
/// comparison with a missing value, or of different kinds, is false).
fn holds(cond: &Cond, workflow_id: &str, columns: &Columns) -> bool {
    let value = |column: Column| match column {
        Column::WorkflowId => Some(Value::Text(workflow_id.to_owned())),
        Column::WorkflowType => Some(Value::Text(columns.workflow_type.clone())),
        Column::Status => Some(Value::Int(i64::from(columns.status))),
        Column::StartMs => Some(Value::Int(columns.start_ms)),
        Column::CloseMs => columns.close_ms.map(Value::Int),
    };
    let order = |a: &Value, b: &Value| match (a, b) {
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Text(a), Value::Text(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        _ => None,
    };
    match cond {
        Cond::And(a, b) => holds(a, workflow_id, columns) && holds(b, workflow_id, columns),
        Cond::Or(a, b) => holds(a, workflow_id, columns) || holds(b, workflow_id, columns),
        Cond::Compare(column, cmp, wanted) => {
            let Some(ordering) = value(*column).and_then(|v| order(&v, wanted)) else {
                return false;
            };
            match cmp {
                Cmp::Eq => ordering.is_eq(),
                Cmp::Ne => ordering.is_ne(),
                Cmp::Lt => ordering.is_lt(),
                Cmp::Le => ordering.is_le(),
                Cmp::Gt => ordering.is_gt(),
                Cmp::Ge => ordering.is_ge(),
            }
        }
        Cond::Between(column, low, high) => value(*column).is_some_and(|v| {
            order(&v, low).is_some_and(|o| o.is_ge()) && order(&v, high).is_some_and(|o| o.is_le())
        }),
    }
}
