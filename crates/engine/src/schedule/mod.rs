//! Schedules: what they match (`spec`, `calendar`), their durable state machine (`state`),
//! the registry's collection of them (here) and carrying out their actions against runs
//! (`runs`: starting, cancelling, terminating workflows), and reading them (`list`). The RPCs
//! are `api/schedules.rs`.

mod calendar;
mod list;
#[cfg(test)]
mod restart_tests;
mod runs;
pub(crate) mod spec;
pub(crate) mod state;

use std::collections::{BTreeMap, BTreeSet, HashMap};

pub(crate) use spec::CompiledSpec;
pub(crate) use state::{Action, BufferedStart, ScheduleState};

use crate::store::{ScheduleWrite, StoredSchedule};

/// (namespace, schedule id).
pub(crate) type ScheduleKey = (String, String);

/// A schedule in memory: its state and its compiled spec.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) state: ScheduleState,
    pub(crate) spec: CompiledSpec,
}

/// Every schedule, the ones changed since the last batch, and which schedule each running
/// scheduled workflow run belongs to.
#[derive(Debug, Default)]
pub(crate) struct Schedules {
    pub(crate) entries: BTreeMap<ScheduleKey, Entry>,
    dirty: BTreeSet<ScheduleKey>,
    /// Run id -> the schedule that started it, while it runs.
    pub(crate) by_run: HashMap<String, ScheduleKey>,
}

impl Schedules {
    /// A schedule, mutably; remembered so the next batch writes it.
    pub(crate) fn get_mut(&mut self, key: &ScheduleKey) -> Option<&mut Entry> {
        let entry = self.entries.get_mut(key)?;
        self.dirty.insert(key.clone());
        Some(entry)
    }

    pub(crate) fn insert(&mut self, key: ScheduleKey, entry: Entry) {
        self.dirty.insert(key.clone());
        self.entries.insert(key, entry);
    }

    pub(crate) fn remove(&mut self, key: &ScheduleKey) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.dirty.insert(key.clone());
        self.by_run.retain(|_, k| k != key);
        Some(entry)
    }

    /// Re-indexes the running workflows of `key`.
    pub(crate) fn index(&mut self, key: &ScheduleKey) {
        self.by_run.retain(|_, k| k != key);
        if let Some(entry) = self.entries.get(key) {
            for run in &entry.state.running {
                self.by_run.insert(run.run_id.clone(), key.clone());
            }
        }
    }

    /// The writes for every schedule changed since the last call.
    pub(crate) fn take_writes(&mut self) -> Vec<ScheduleWrite> {
        let mut writes = Vec::new();
        for key in std::mem::take(&mut self.dirty) {
            let record = match self.entries.get(&key) {
                Some(entry) => match serde_json::to_string(&entry.state) {
                    Ok(json) => Some(json),
                    Err(e) => {
                        tracing::error!(schedule_id = key.1, "cannot serialize schedule: {e}");
                        continue;
                    }
                },
                None => None,
            };
            writes.push(ScheduleWrite {
                namespace: key.0,
                schedule_id: key.1,
                record,
            });
        }
        writes
    }

    /// Rebuilds the schedules from the store; unreadable ones are logged and skipped.
    pub(crate) fn restore(stored: Vec<StoredSchedule>) -> Self {
        let mut schedules = Self::default();
        for (namespace, id, json) in stored {
            let state = match serde_json::from_str::<ScheduleState>(&json) {
                Ok(state) => state,
                Err(e) => {
                    tracing::error!(
                        namespace,
                        schedule_id = id,
                        "skipping unreadable schedule: {e}"
                    );
                    continue;
                }
            };
            let spec = match CompiledSpec::new(
                state.schedule.spec.as_ref().unwrap_or(&Default::default()),
            ) {
                Ok(spec) => spec,
                Err(e) => {
                    tracing::error!(namespace, schedule_id = id, "skipping schedule: {e}");
                    continue;
                }
            };
            let key = (namespace, id);
            schedules.entries.insert(key.clone(), Entry { state, spec });
            schedules.index(&key);
        }
        schedules
    }
}

/// Serde for protobuf messages inside the JSON records: base64 of their encoding.
pub(crate) mod proto {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(crate) fn serialize<T: prost::Message, S: Serializer>(
        value: &T,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(value.encode_to_vec()))
    }

    pub(crate) fn deserialize<'de, T: prost::Message + Default, D: Deserializer<'de>>(
        d: D,
    ) -> Result<T, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = STANDARD.decode(text).map_err(D::Error::custom)?;
        T::decode(bytes.as_slice()).map_err(D::Error::custom)
    }

    /// The same for optional messages.
    pub(crate) mod optional {
        use super::*;

        pub(crate) fn serialize<T: prost::Message, S: Serializer>(
            value: &Option<T>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => s.serialize_some(&STANDARD.encode(v.encode_to_vec())),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, T: prost::Message + Default, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<T>, D::Error> {
            let Some(text) = Option::<String>::deserialize(d)? else {
                return Ok(None);
            };
            let bytes = STANDARD.decode(text).map_err(D::Error::custom)?;
            T::decode(bytes.as_slice())
                .map(Some)
                .map_err(D::Error::custom)
        }
    }
}
