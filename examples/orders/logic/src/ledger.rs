//! The ledger: a SQLite file where activities record their side effects.
//!
//! Each effect is keyed by (order, action), so a retried activity does not record it twice;
//! the `executions` column counts how often it ran, which lets tests see at-least-once
//! execution being absorbed. Several worker processes may share one file (WAL, busy timeout).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

/// A ledger failure.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// SQLite refused: the file is unreadable, locked for too long, or corrupt.
    #[error("ledger {path}: {source}")]
    Sqlite {
        /// The ledger file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The blocking task was lost.
    #[error("ledger task failed: {0}")]
    Task(String),
}

/// One recorded side effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The order.
    pub order_id: String,
    /// What was done: `reserve`, `charge`, `refund`, `release`, `ship`.
    pub action: String,
    /// The effect's id (reservation, payment or tracking number).
    pub reference: String,
    /// How many times the activity ran to completion for this effect.
    pub executions: i64,
}

/// A handle to the ledger file. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    path: PathBuf,
    connection: Arc<Mutex<Connection>>,
}

impl Ledger {
    /// Opens (or creates) the ledger at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LedgerError> {
        let path = path.as_ref().to_path_buf();
        let wrap = |source| LedgerError::Sqlite {
            path: path.clone(),
            source,
        };
        let connection = Connection::open(&path).map_err(wrap)?;
        connection
            .busy_timeout(Duration::from_secs(10))
            .map_err(wrap)?;
        // Two processes opening a new ledger at once race on switching it to WAL, and SQLite
        // answers that race with SQLITE_BUSY at once, without its busy handler: retry.
        let mut attempts = 0;
        loop {
            match connection.execute_batch(SCHEMA) {
                Ok(()) => break,
                Err(e) if is_busy(&e) && attempts < 100 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(wrap(e)),
            }
        }
        Ok(Self {
            path,
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// Records an effect once; a repeat bumps `executions` and returns the first reference,
    /// so a retried activity gets the same answer as the first run.
    pub async fn record(
        &self,
        order_id: &str,
        action: &str,
        reference: &str,
    ) -> Result<String, LedgerError> {
        let (order_id, action, reference) =
            (order_id.to_owned(), action.to_owned(), reference.to_owned());
        self.with_connection(move |c| {
            c.execute(
                "INSERT INTO effects (order_id, action, reference) VALUES (?1, ?2, ?3)
                 ON CONFLICT (order_id, action) DO UPDATE SET executions = executions + 1",
                params![order_id, action, reference],
            )?;
            c.query_row(
                "SELECT reference FROM effects WHERE order_id = ?1 AND action = ?2",
                params![order_id, action],
                |row| row.get(0),
            )
        })
        .await
    }

    /// The reference recorded for an effect, if any.
    pub async fn find(&self, order_id: &str, action: &str) -> Result<Option<String>, LedgerError> {
        let (order_id, action) = (order_id.to_owned(), action.to_owned());
        self.with_connection(move |c| {
            c.query_row(
                "SELECT reference FROM effects WHERE order_id = ?1 AND action = ?2",
                params![order_id, action],
                |row| row.get(0),
            )
            .optional()
        })
        .await
    }

    /// Every recorded effect, ordered by order and action.
    pub async fn entries(&self) -> Result<Vec<Entry>, LedgerError> {
        self.with_connection(|c| {
            let mut stmt = c.prepare(
                "SELECT order_id, action, reference, executions FROM effects ORDER BY order_id, action",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok(Entry {
                    order_id: row.get(0)?,
                    action: row.get(1)?,
                    reference: row.get(2)?,
                    executions: row.get(3)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn with_connection<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let connection = self.connection.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let guard = match connection.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            f(&guard).map_err(|source| LedgerError::Sqlite { path, source })
        })
        .await
        .map_err(|e| LedgerError::Task(e.to_string()))?
    }
}

/// The ledger's pragmas and table, idempotent.
const SCHEMA: &str = "PRAGMA journal_mode = WAL;
     PRAGMA synchronous = NORMAL;
     CREATE TABLE IF NOT EXISTS effects (
         order_id   TEXT NOT NULL,
         action     TEXT NOT NULL,
         reference  TEXT NOT NULL,
         executions INTEGER NOT NULL DEFAULT 1,
         recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
         PRIMARY KEY (order_id, action)
     );";

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn repeats_are_counted_not_duplicated() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path().join("ledger.db")).unwrap();
        assert_eq!(
            ledger.record("o1", "charge", "pay-1").await.unwrap(),
            "pay-1"
        );
        assert_eq!(
            ledger.record("o1", "charge", "pay-2").await.unwrap(),
            "pay-1"
        );
        let entries = ledger.entries().await.unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].executions, 2);
        assert_eq!(ledger.find("o1", "refund").await.unwrap(), None);
    }
}
