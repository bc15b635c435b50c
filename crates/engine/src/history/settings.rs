//! Server-wide settings owned by parts of the engine outside the registry (task queue
//! configs, batch jobs). They are kept here so that a change is written with the batch of
//! the operation that made it, and is read back after a restart. An empty value marks a
//! removed setting, as for Nexus endpoints.

use std::collections::{BTreeMap, BTreeSet};

/// The key prefixes whose settings this room keeps.
pub(crate) const PREFIXES: &[&str] = &[TASK_QUEUE_CONFIG, BATCH_JOB, BATCH_TARGETS];
/// A task queue's config (`UpdateTaskQueueConfig`).
pub(crate) const TASK_QUEUE_CONFIG: &str = "taskqueue.config.";
/// A batch job: its request and progress.
pub(crate) const BATCH_JOB: &str = "batch.job.";
/// The runs a batch job works through, once listed.
pub(crate) const BATCH_TARGETS: &str = "batch.targets.";

/// The settings of [`PREFIXES`], and the keys changed since the last batch.
#[derive(Debug, Default)]
pub(crate) struct Settings {
    values: BTreeMap<String, String>,
    dirty: BTreeSet<String>,
}

impl Settings {
    /// The settings of [`PREFIXES`] among everything stored; removed ones are left out.
    pub(crate) fn restore(stored: &BTreeMap<String, String>) -> Self {
        let values = stored
            .iter()
            .filter(|(key, value)| {
                !value.is_empty() && PREFIXES.iter().any(|prefix| key.starts_with(prefix))
            })
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        Self {
            values,
            dirty: BTreeSet::new(),
        }
    }

    /// Sets `key` (under one of [`PREFIXES`]) to `value`, written with the next batch.
    pub(crate) fn put(&mut self, key: String, value: String) {
        debug_assert!(PREFIXES.iter().any(|prefix| key.starts_with(prefix)));
        self.dirty.insert(key.clone());
        self.values.insert(key, value);
    }

    /// Removes `key`, written with the next batch.
    pub(crate) fn remove(&mut self, key: &str) {
        if self.values.remove(key).is_some() {
            self.dirty.insert(key.to_owned());
        }
    }

    /// Removes every setting of `namespace` (each key names its namespace first, ended by
    /// a newline).
    pub(crate) fn remove_namespace(&mut self, namespace: &str) {
        let keys: Vec<String> = PREFIXES
            .iter()
            .flat_map(|prefix| {
                let start = format!("{prefix}{namespace}\n");
                self.values
                    .range(start.clone()..)
                    .map(|(key, _)| key)
                    .take_while(move |key| key.starts_with(&start))
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect();
        for key in keys {
            self.remove(&key);
        }
    }

    /// Every (key without `prefix`, value) under `prefix`.
    pub(crate) fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.values
            .range(prefix.to_owned()..)
            .map_while(move |(key, value)| {
                key.strip_prefix(prefix).map(|rest| (rest, value.as_str()))
            })
    }

    /// The writes for the keys changed since the last call (an empty value for a removed
    /// one).
    pub(crate) fn take_writes(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.dirty)
            .into_iter()
            .map(|key| {
                let value = self.values.get(&key).cloned().unwrap_or_default();
                (key, value)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_written_once_and_read_back_by_prefix() {
        let mut settings = Settings::default();
        settings.put(format!("{BATCH_JOB}a"), "1".into());
        settings.put(format!("{BATCH_JOB}b"), "2".into());
        settings.put(format!("{TASK_QUEUE_CONFIG}q"), "3".into());
        let writes: BTreeMap<String, String> = settings.take_writes().into_iter().collect();
        assert_eq!(writes.len(), 3);
        assert!(settings.take_writes().is_empty(), "nothing changed since");
        settings.remove(&format!("{BATCH_JOB}a"));
        settings.remove(&format!("{BATCH_JOB}never"));
        assert_eq!(
            settings.take_writes(),
            [(format!("{BATCH_JOB}a"), String::new())]
        );

        settings.put(format!("{TASK_QUEUE_CONFIG}gone\nq"), "4".into());
        settings.put(format!("{BATCH_JOB}gone\nj"), "5".into());
        settings.put(format!("{BATCH_JOB}gone-too\nj"), "6".into());
        settings.take_writes();
        settings.remove_namespace("gone");
        let removed: Vec<(String, String)> = settings.take_writes();
        assert_eq!(
            removed,
            [
                (format!("{BATCH_JOB}gone\nj"), String::new()),
                (format!("{TASK_QUEUE_CONFIG}gone\nq"), String::new()),
            ]
        );

        let mut stored = writes;
        stored.insert(format!("{BATCH_JOB}a"), String::new());
        stored.insert("clock.offset".into(), "5".into());
        let restored = Settings::restore(&stored);
        let jobs: Vec<(&str, &str)> = restored.under(BATCH_JOB).collect();
        assert_eq!(jobs, [("b", "2")]);
        let configs: Vec<(&str, &str)> = restored.under(TASK_QUEUE_CONFIG).collect();
        assert_eq!(configs, [("q", "3")]);
    }
}
