//! Visibility queries every store answers itself (SQLite and PostgreSQL in SQL over indexed
//! columns, lowered once in `store/sql.rs`; the memory store in Rust), so listing and
//! counting closed runs costs what the page costs, not what the number of closed runs
//! costs. A filter with no column here (custom search attributes, `IN`, ...) is filtered by
//! the engine over [`super::Store::closed_infos`] instead.

use prost::Message;
use temporalio_protos::temporal::api::workflow::v1::WorkflowExecutionInfo;

use crate::time::timestamp_ms;

/// A column of a closed run that a condition can look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    WorkflowId,
    WorkflowType,
    /// A `WorkflowExecutionStatus` value.
    Status,
    StartMs,
    CloseMs,
}

/// The comparison is the query language's own (one type from the parser to the SQL).
pub(crate) use crate::visibility::Cmp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Text(String),
    Int(i64),
}

/// A condition over [`Column`]s, as the visibility query language has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cond {
    Compare(Column, Cmp, Value),
    /// Inclusive on both ends.
    Between(Column, Value, Value),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

/// Closed runs of a namespace that match `cond`, ordered by (start time, run id).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClosedQuery {
    pub(crate) namespace: String,
    pub(crate) cond: Option<Cond>,
    /// Runs the caller already has (in memory): left out.
    pub(crate) exclude: Vec<String>,
    /// Only runs after this (start ms, run id) in the order asked for.
    pub(crate) after: Option<(i64, String)>,
    pub(crate) ascending: bool,
    /// At most this many rows (ignored by counts).
    pub(crate) limit: usize,
}

/// What a closed run's visibility record says, for the indexed columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Columns {
    pub(crate) workflow_type: String,
    pub(crate) status: i32,
    pub(crate) start_ms: i64,
    pub(crate) close_ms: Option<i64>,
}

impl Columns {
    /// Decodes a prost-encoded `WorkflowExecutionInfo`.
    pub(crate) fn of(info: &[u8]) -> Option<Self> {
        let info = WorkflowExecutionInfo::decode(info).ok()?;
        Some(Self {
            workflow_type: info.r#type.map(|t| t.name).unwrap_or_default(),
            status: info.status,
            start_ms: info.start_time.as_ref().map_or(0, timestamp_ms),
            close_ms: info.close_time.as_ref().map(timestamp_ms),
        })
    }
}
