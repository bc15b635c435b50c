//! Namespaces: registered once, described and listed. `default` always exists.

use serde::{Deserialize, Serialize};

use super::Registry;
use crate::error::{EngineError, Result};

/// A registered namespace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NamespaceRecord {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) description: String,
    pub(crate) owner_email: String,
    pub(crate) retention_days: i64,
}

impl NamespaceRecord {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            id: uuid::Uuid::new_v4().to_string(),
            description: String::new(),
            owner_email: String::new(),
            retention_days: 1,
        }
    }
}

impl Registry {
    pub(crate) fn namespace(&self, name: &str) -> Result<&NamespaceRecord> {
        if name.is_empty() {
            // The real server's namespace validator says exactly this.
            return Err(EngineError::invalid("Namespace is empty."));
        }
        self.namespaces
            .get(name)
            .ok_or_else(|| EngineError::not_found(format!("Namespace {name} is not found.")))
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
    pub(crate) fn ensure_namespace(&mut self, name: &str) {
        if !self.namespaces.contains_key(name) {
            self.namespaces
                .insert(name.to_owned(), NamespaceRecord::new(name));
            self.namespaces_dirty = true;
        }
    }
}
