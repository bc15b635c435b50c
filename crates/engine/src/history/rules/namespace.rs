//! Namespaces: registered once, described and listed, with the custom search attributes
//! registered in each. `default` always exists.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::enums::v1::IndexedValueType;

use crate::error::{EngineError, Result};
use crate::history::{
    Registry,
    rules::search_attributes::{system_type, type_name},
};

/// A registered namespace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NamespaceRecord {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) description: String,
    pub(crate) owner_email: String,
    /// Whole days, as records before `retention_ms` kept it (read when that is absent).
    pub(crate) retention_days: i64,
    /// How long a closed run is kept, in milliseconds.
    #[serde(default)]
    pub(crate) retention_ms: Option<i64>,
    /// The retentions in force before the current one, oldest first: a run keeps the
    /// retention of the moment it closed, as on the real server (which fixes a closed run's
    /// deletion time when it closes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) earlier_retentions: Vec<EarlierRetention>,
    /// The namespace's free-form data (`UpdateNamespaceInfo.data`).
    #[serde(default)]
    pub(crate) data: BTreeMap<String, String>,
    /// Custom search attributes: name to `IndexedValueType` value.
    #[serde(default)]
    pub(crate) search_attributes: super::search_attributes::Custom,
    /// `DeprecateNamespace` was called: no new workflows start in it.
    #[serde(default)]
    pub(crate) deprecated: bool,
}

impl NamespaceRecord {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            id: uuid::Uuid::new_v4().to_string(),
            description: String::new(),
            owner_email: String::new(),
            retention_days: 1,
            retention_ms: None,
            earlier_retentions: Vec::new(),
            data: Default::default(),
            search_attributes: Default::default(),
            deprecated: false,
        }
    }
}

impl NamespaceRecord {
    /// How long a closed run of this namespace is kept, in milliseconds.
    pub(crate) fn retention_ms(&self) -> i64 {
        self.retention_ms
            .unwrap_or_else(|| self.retention_days.saturating_mul(86_400_000))
    }

    pub(crate) fn set_retention_ms(&mut self, ms: i64) {
        self.retention_ms = Some(ms);
        self.retention_days = ms / 86_400_000;
    }

    /// Changes the retention at `now_ms` (`UpdateNamespace`): runs that closed before keep
    /// the one they closed under.
    pub(crate) fn change_retention(&mut self, ms: i64, now_ms: i64) {
        let before = self.retention_ms();
        if before == ms {
            return;
        }
        self.earlier_retentions.push(EarlierRetention {
            until_ms: now_ms,
            retention_ms: before,
        });
        self.set_retention_ms(ms);
    }

    /// Which runs expire by which retention, by close time in milliseconds, oldest first;
    /// the last window (the current retention) is open-ended.
    pub(crate) fn retention_windows(&self) -> Vec<RetentionWindow> {
        let mut from = i64::MIN;
        let mut windows = Vec::with_capacity(self.earlier_retentions.len() + 1);
        for earlier in &self.earlier_retentions {
            windows.push(RetentionWindow {
                closed: from..earlier.until_ms,
                retention_ms: earlier.retention_ms,
            });
            from = earlier.until_ms;
        }
        windows.push(RetentionWindow {
            closed: from..i64::MAX,
            retention_ms: self.retention_ms(),
        });
        windows
    }

    /// Drops the earlier retentions up to the one that ended at `until_ms`: the sweep
    /// found all their runs due and gone, and no run can close in them any more.
    pub(crate) fn drop_retentions_until(&mut self, until_ms: i64) {
        self.earlier_retentions.retain(|e| e.until_ms > until_ms);
    }
}

/// A retention that applied to the runs that closed before `until_ms` (after the previous
/// one's `until_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EarlierRetention {
    pub(crate) until_ms: i64,
    pub(crate) retention_ms: i64,
}

/// The runs of a namespace that closed in `closed` are kept for `retention_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RetentionWindow {
    pub(crate) closed: std::ops::Range<i64>,
    pub(crate) retention_ms: i64,
}

impl RetentionWindow {
    /// The close times whose runs are due at `now_ms`: in the window and more than the
    /// retention ago.
    pub(crate) fn due(&self, now_ms: i64) -> std::ops::Range<i64> {
        let end = self
            .closed
            .end
            .min(now_ms.saturating_sub(self.retention_ms));
        self.closed.start..end.max(self.closed.start)
    }

    /// Whether every run of the window is due at `now_ms` (and no run can close in it).
    pub(crate) fn all_due(&self, now_ms: i64) -> bool {
        self.closed.end <= now_ms.saturating_sub(self.retention_ms)
    }
}

impl Registry {
    /// The namespace's id, or empty when it is unknown.
    pub(crate) fn namespace_id(&self, namespace: &str) -> String {
        self.namespaces
            .get(namespace)
            .map(|n| n.id.clone())
            .unwrap_or_default()
    }

    /// `name`, unless it is deprecated: refused then as the real server refuses starting
    /// a workflow in it.
    pub(crate) fn registered_namespace(&self, name: &str) -> Result<&NamespaceRecord> {
        let record = self.namespace(name)?;
        if record.deprecated {
            return Err(EngineError::FailedPrecondition(
                "Namespace has invalid state: Deprecated. Must be Registered.".into(),
            ));
        }
        Ok(record)
    }

    /// Marks `name` deprecated (`DeprecateNamespace`): its runs carry on, new ones are
    /// refused.
    pub(crate) fn deprecate_namespace(&mut self, name: &str) -> Result<()> {
        self.namespace(name)?;
        if let Some(record) = self.namespaces.get_mut(name) {
            record.deprecated = true;
            self.namespaces_dirty = true;
        }
        Ok(())
    }

    pub(crate) fn namespace(&self, name: &str) -> Result<&NamespaceRecord> {
        if name.is_empty() {
            // The real server's namespace validator says exactly this.
            return Err(EngineError::invalid("Namespace is empty."));
        }
        self.namespaces
            .get(name)
            .ok_or_else(|| EngineError::not_found(format!("Namespace {name} is not found.")))
    }

    /// Every namespace, by name.
    pub(crate) fn namespaces(&self) -> &BTreeMap<String, NamespaceRecord> {
        &self.namespaces
    }

    /// The namespace whose id is `id`, with the real server's words when there is none.
    pub(crate) fn namespace_by_id(&self, id: &str) -> Result<&NamespaceRecord> {
        self.namespaces
            .values()
            .find(|n| n.id == id)
            .ok_or_else(|| EngineError::not_found(format!("Namespace {id} is not found.")))
    }

    /// Stores `record` in place of the namespace of its name; written with the next batch.
    pub(crate) fn put_namespace(&mut self, record: NamespaceRecord) {
        self.namespaces.insert(record.name.clone(), record);
        self.namespaces_dirty = true;
    }

    /// Registers `record`; fails if its name is taken.
    pub(crate) fn register_namespace(&mut self, record: NamespaceRecord) -> Result<()> {
        if record.name.is_empty() {
            return Err(EngineError::invalid(
                "Namespace name is not set on request.",
            ));
        }
        if self.namespaces.contains_key(&record.name) {
            return Err(EngineError::NamespaceExists(record.name));
        }
        self.namespaces.insert(record.name.clone(), record);
        self.namespaces_dirty = true;
        Ok(())
    }

    /// Makes sure `name` exists (used for `default` and `--namespace`).
    /// Creates `name` with a retention of `retention_ms` unless it exists.
    pub(crate) fn ensure_namespace(&mut self, name: &str, retention_ms: i64) {
        if !self.namespaces.contains_key(name) {
            let mut record = NamespaceRecord::new(name);
            record.set_retention_ms(retention_ms);
            self.namespaces.insert(name.to_owned(), record);
            self.namespaces_dirty = true;
        }
    }
}

/// How many custom attributes of each type a namespace may have: the columns the real
/// server's SQLite visibility store has for them, so what works here works there.
fn limit(ty: IndexedValueType) -> usize {
    match ty {
        IndexedValueType::Keyword => 10,
        _ => 3,
    }
}

impl Registry {
    /// Registers custom search attributes, all or none. One already registered is left as
    /// it is.
    pub(crate) fn add_search_attributes(
        &mut self,
        namespace: &str,
        attributes: &HashMap<String, i32>,
    ) -> Result<()> {
        let record = self.namespace(namespace)?;
        let mut custom = record.search_attributes.clone();
        let mut names: Vec<&String> = attributes.keys().collect();
        names.sort();
        for name in names {
            let ty = IndexedValueType::try_from(attributes[name])
                .ok()
                .filter(|t| *t != IndexedValueType::Unspecified)
                .ok_or_else(|| {
                    EngineError::invalid(format!(
                        "Unknown search attribute type {} for {name}: use one of Keyword, Text, Int, Double, Bool, Datetime, KeywordList.",
                        attributes[name]
                    ))
                })?;
            if name.is_empty() {
                return Err(EngineError::invalid("Search attribute name is empty."));
            }
            if system_type(name).is_some() {
                return Err(EngineError::invalid(format!(
                    "Search attribute {name} is reserved by system."
                )));
            }
            // As on the real server, a name already registered keeps its type, whatever
            // the request says.
            if custom.contains_key(name) {
                continue;
            }
            let of_type = custom.values().filter(|t| **t == ty as i32).count();
            if of_type >= limit(ty) {
                return Err(EngineError::invalid(format!(
                    "Unable to create search attributes: cannot have more than {} search attribute of type {}.",
                    limit(ty),
                    type_name(ty)
                )));
            }
            custom.insert(name.clone(), ty as i32);
        }
        if let Some(record) = self.namespaces.get_mut(namespace) {
            record.search_attributes = custom;
        }
        self.namespaces_dirty = true;
        Ok(())
    }

    /// Unregisters custom search attributes; names that are not registered are ignored, as
    /// on the real server.
    pub(crate) fn remove_search_attributes(
        &mut self,
        namespace: &str,
        names: &[String],
    ) -> Result<()> {
        self.namespace(namespace)?;
        if let Some(system) = names.iter().find(|n| system_type(n).is_some()) {
            return Err(EngineError::invalid(format!(
                "Unable to remove non-custom search attributes: {system}."
            )));
        }
        if let Some(record) = self.namespaces.get_mut(namespace) {
            for name in names {
                record.search_attributes.remove(name);
            }
        }
        self.namespaces_dirty = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(registry: &mut Registry, name: &str, ty: IndexedValueType) -> Result<()> {
        registry.add_search_attributes("default", &[(name.to_owned(), ty as i32)].into())
    }

    #[test]
    fn search_attributes_register_like_the_real_server() {
        let mut registry = Registry::default();
        registry.ensure_namespace("default", 86_400_000);
        assert!(add(&mut registry, "Color", IndexedValueType::Keyword).is_ok());
        assert!(add(&mut registry, "Color", IndexedValueType::Keyword).is_ok());
        assert!(add(&mut registry, "Color", IndexedValueType::Int).is_ok());
        assert_eq!(
            registry.namespaces["default"]
                .search_attributes
                .get("Color"),
            Some(&(IndexedValueType::Keyword as i32))
        );
        assert!(add(&mut registry, "WorkflowId", IndexedValueType::Keyword).is_err());
        for n in 0..3 {
            assert!(add(&mut registry, &format!("Int{n}"), IndexedValueType::Int).is_ok());
        }
        let err = add(&mut registry, "Int3", IndexedValueType::Int).map(|_| ());
        assert!(matches!(err, Err(EngineError::InvalidArgument(m)) if m.contains("more than 3")));
        assert!(
            registry
                .remove_search_attributes("default", &["Int0".into(), "Nope".into()])
                .is_ok()
        );
        assert!(add(&mut registry, "Int3", IndexedValueType::Int).is_ok());
        assert!(
            registry
                .remove_search_attributes("default", &["RunId".into()])
                .is_err()
        );
    }

    /// A run keeps the retention it closed under: a change applies to runs that close
    /// after it, and an earlier retention goes once its runs are all swept.
    #[test]
    fn a_retention_change_applies_to_runs_that_close_after_it() {
        let hour = 3_600_000;
        let mut record = NamespaceRecord::new("ns");
        record.set_retention_ms(hour);
        record.change_retention(2_000, 10_000);
        record.change_retention(2_000, 11_000);
        record.change_retention(5 * hour, 20_000);
        let windows = record.retention_windows();
        assert_eq!(
            windows,
            vec![
                RetentionWindow {
                    closed: i64::MIN..10_000,
                    retention_ms: hour
                },
                RetentionWindow {
                    closed: 10_000..20_000,
                    retention_ms: 2_000
                },
                RetentionWindow {
                    closed: 20_000..i64::MAX,
                    retention_ms: 5 * hour
                },
            ]
        );
        // At 21 s: runs closed under the 2 s retention before 19 s are due; under the hour,
        // those closed an hour before (none here).
        assert_eq!(windows[1].due(21_000), 10_000..19_000);
        assert_eq!(windows[0].due(21_000), i64::MIN..21_000 - hour);
        assert!(windows[2].due(21_000).is_empty());
        assert!(!windows[1].all_due(21_000) && windows[1].all_due(22_000));

        record.drop_retentions_until(10_000);
        assert_eq!(record.earlier_retentions.len(), 1);
        assert_eq!(record.retention_windows()[0].closed, i64::MIN..20_000);
        // A record written before earlier retentions existed reads back with none.
        let old = r#"{"name":"ns","id":"i","description":"","owner_email":"","retention_days":1}"#;
        let read: NamespaceRecord = serde_json::from_str(old).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read.retention_windows().len(), 1);
    }
}
