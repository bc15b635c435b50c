//! Deleting runs and namespaces from the registry: what `DeleteWorkflowExecution`, the
//! operator's `DeleteNamespace` and the retention sweep (`runtime/retention.rs`) change.
//! A deleted run leaves memory at once and its deletion goes out with the next batch, in
//! the same transaction as whatever else the operation changed; until that batch is
//! durable the run is not read back from the store.

use crate::history::{Execution, Registry, RetentionWindow};

impl Registry {
    /// Each namespace with the retentions its closed runs expire by, for the sweep.
    pub(crate) fn retentions(&self) -> Vec<(String, Vec<RetentionWindow>)> {
        self.namespaces
            .iter()
            .map(|(name, record)| (name.clone(), record.retention_windows()))
            .collect()
    }

    /// Forgets the earlier retentions of `namespace` up to the one that ended at `until_ms`
    /// (the sweep found every run closed under them gone).
    pub(crate) fn drop_retentions_until(&mut self, namespace: &str, until_ms: i64) {
        if let Some(record) = self.namespaces.get_mut(namespace) {
            let before = record.earlier_retentions.len();
            record.drop_retentions_until(until_ms);
            if record.earlier_retentions.len() != before {
                self.namespaces_dirty = true;
            }
        }
    }

    /// Deletes closed runs the store found past their retention; an open one (which the
    /// store cannot have listed) is left alone.
    pub(crate) fn forget_closed_runs(&mut self, run_ids: &[String]) {
        for run_id in run_ids {
            if self.runs.get(run_id).is_some_and(Execution::is_open) {
                tracing::error!(run_id, "retention listed an open run; kept");
                continue;
            }
            self.forget_run(run_id);
        }
    }

    /// Deletes a run: out of memory now, out of the store with the next batch.
    pub(crate) fn forget_run(&mut self, run_id: &str) {
        self.drop_from_memory(run_id);
        self.deleted_runs.push(run_id.to_owned());
        self.note_deleted(run_id);
    }

    /// Deletes a namespace with its runs and schedules, in memory now and in the store with
    /// the next batch.
    pub(crate) fn delete_namespace(&mut self, name: &str) {
        let runs: Vec<String> = self
            .runs
            .iter()
            .filter(|(_, exec)| exec.state.namespace == name)
            .map(|(run_id, _)| run_id.clone())
            .collect();
        for run_id in &runs {
            self.drop_from_memory(run_id);
            self.note_deleted(run_id);
        }
        self.current.retain(|(namespace, _), _| namespace != name);
        let schedules: Vec<_> = self
            .schedules
            .entries
            .keys()
            .filter(|(namespace, _)| namespace == name)
            .cloned()
            .collect();
        for key in &schedules {
            self.schedules.remove(key);
        }
        self.namespaces.remove(name);
        self.namespaces_dirty = true;
        self.deleted_namespaces.push(name.to_owned());
        self.settings.remove_namespace(name);
    }

    fn drop_from_memory(&mut self, run_id: &str) {
        if let Some(exec) = self.runs.remove(run_id) {
            let key = (exec.state.namespace.clone(), exec.state.workflow_id.clone());
            if self
                .current
                .get(&key)
                .is_some_and(|current| current == run_id)
            {
                self.current.remove(&key);
            }
        }
        self.touched.remove(run_id);
        self.schedules.by_run.remove(run_id);
    }
}
