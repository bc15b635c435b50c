//! Listing and counting workflows. Open runs (and recently closed ones) are in memory; the
//! other closed runs are read from the store's visibility records, outside the engine's
//! lock. Pages are keyset cursors over (start time, run id), so workflows started between
//! pages neither repeat nor shift results. A store that filters itself (PostgreSQL, in SQL)
//! is asked for one page or for counts only, so the cost follows the page, not the number
//! of closed runs; otherwise every stored closed run is read and filtered here.

use std::collections::{BTreeMap, HashSet};

use prost::Message;
use temporalio_protos::temporal::api::{
    common::v1::{Payload, WorkflowExecution},
    workflow::v1::WorkflowExecutionInfo,
    workflowservice::v1::{
        CountWorkflowExecutionsRequest, CountWorkflowExecutionsResponse,
        ListWorkflowExecutionsRequest, ListWorkflowExecutionsResponse,
        count_workflow_executions_response::AggregationGroup,
    },
};

use super::Service;
use crate::visibility::{Filter, Visible, invalid, status_name};
use crate::{
    error::{EngineError, Result},
    history::Execution,
    store::{ClosedInfo, visibility::ClosedQuery},
    time::timestamp_ms,
};

const MAX_PAGE: usize = 1000;

impl Visible for Execution {
    fn workflow_id(&self) -> &str {
        self.workflow_id()
    }
    fn run_id(&self) -> &str {
        self.run_id()
    }
    fn workflow_type(&self) -> &str {
        self.workflow_type()
    }
    fn task_queue(&self) -> &str {
        self.task_queue()
    }
    fn status(&self) -> i32 {
        self.status()
    }
    fn start_ms(&self) -> i64 {
        self.start_time_ms()
    }
    fn close_ms(&self) -> Option<i64> {
        self.close_time_ms()
    }
    fn history_length(&self) -> Option<i64> {
        self.close_time_ms()
            .map(|_| i64::try_from(self.history().len()).unwrap_or(i64::MAX))
    }
    fn parent(&self) -> Option<WorkflowExecution> {
        self.parent_execution()
    }
    fn root(&self) -> Option<WorkflowExecution> {
        self.root_execution()
    }
    fn search_attribute(&self, name: &str) -> Option<&Payload> {
        self.search_attribute(name)
    }
}

impl Visible for WorkflowExecutionInfo {
    fn workflow_id(&self) -> &str {
        self.execution
            .as_ref()
            .map_or("", |e| e.workflow_id.as_str())
    }
    fn run_id(&self) -> &str {
        self.execution.as_ref().map_or("", |e| e.run_id.as_str())
    }
    fn workflow_type(&self) -> &str {
        self.r#type.as_ref().map_or("", |t| t.name.as_str())
    }
    fn task_queue(&self) -> &str {
        &self.task_queue
    }
    fn status(&self) -> i32 {
        self.status
    }
    fn start_ms(&self) -> i64 {
        self.start_time.as_ref().map_or(0, timestamp_ms)
    }
    fn close_ms(&self) -> Option<i64> {
        self.close_time.as_ref().map(timestamp_ms)
    }
    fn history_length(&self) -> Option<i64> {
        self.close_time.as_ref().map(|_| self.history_length)
    }
    fn parent(&self) -> Option<WorkflowExecution> {
        self.parent_execution.clone()
    }
    fn root(&self) -> Option<WorkflowExecution> {
        self.root_execution.clone()
    }
    fn search_attribute(&self, name: &str) -> Option<&Payload> {
        self.search_attributes
            .as_ref()
            .and_then(|s| s.indexed_fields.get(name))
    }
}

/// A run that matched, with its sort key (start time, run id).
struct Row {
    key: (i64, String),
    info: WorkflowExecutionInfo,
}

impl Row {
    fn new(info: WorkflowExecutionInfo) -> Self {
        let run_id = info
            .execution
            .as_ref()
            .map(|e| e.run_id.clone())
            .unwrap_or_default();
        Self {
            key: (info.start_ms(), run_id),
            info,
        }
    }
}

/// Runs in memory that `filter` accepts, and the ids of every run in memory.
fn memory_rows(
    svc: &Service,
    namespace: &str,
    filter: &Filter,
) -> Result<(Vec<Row>, HashSet<String>)> {
    svc.runtime.read(|registry| {
        registry.namespace(namespace)?;
        let mut in_memory = HashSet::new();
        let mut rows = Vec::new();
        for exec in registry.runs_in(namespace) {
            in_memory.insert(exec.run_id().to_owned());
            if filter.matches(exec) {
                rows.push(Row::new(registry.execution_info(exec)));
            }
        }
        Ok::<_, EngineError>((rows, in_memory))
    })
}

/// Runs a store read off the async threads.
async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> std::result::Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|e| EngineError::Storage(format!("visibility scan stopped: {e}")))?
        .map_err(EngineError::store)
}

/// What to ask a filtering store for: closed runs matching `filter` that are not in memory.
fn closed_query(
    namespace: &str,
    filter: &Filter,
    in_memory: &HashSet<String>,
) -> Option<ClosedQuery> {
    Some(ClosedQuery {
        namespace: namespace.to_owned(),
        cond: filter.store_cond().ok()?,
        exclude: in_memory.iter().cloned().collect(),
        ascending: filter.ascending,
        ..ClosedQuery::default()
    })
}

fn decode_rows(stored: Vec<ClosedInfo>, filter: &Filter, rows: &mut Vec<Row>) {
    for closed in stored {
        match WorkflowExecutionInfo::decode(closed.info.as_slice()) {
            Ok(info) if filter.matches(&info) => rows.push(Row::new(info)),
            Ok(_) => {}
            Err(e) => {
                tracing::error!(run_id = closed.run_id, "unreadable visibility record: {e}")
            }
        }
    }
}

/// Every run of `namespace` that `filter` accepts (for a store that filters itself: only
/// the stored ones of the page after `after`, at most `limit`), in no particular order.
async fn matching_runs(
    svc: &Service,
    namespace: &str,
    filter: &Filter,
    page: Option<(Option<(i64, String)>, usize)>,
) -> Result<Vec<Row>> {
    let (mut rows, in_memory) = memory_rows(svc, namespace, filter)?;
    if let (Some(mut query), Some((after, limit))) =
        (closed_query(namespace, filter, &in_memory), page)
    {
        query.after = after;
        query.limit = limit;
        let runtime = std::sync::Arc::clone(&svc.runtime);
        if let Some(stored) = blocking(move || runtime.query_stored_closed_runs(&query)).await? {
            decode_rows(stored, filter, &mut rows);
            return Ok(rows);
        }
    }
    // A closed run leaves memory only once it is durable, so every run is in one of the
    // two sets; one in both (it closed after the snapshot above) counts once.
    let runtime = std::sync::Arc::clone(&svc.runtime);
    let namespace = namespace.to_owned();
    let stored = blocking(move || runtime.stored_closed_runs(&namespace)).await?;
    let stored = stored
        .into_iter()
        .filter(|closed| !in_memory.contains(&closed.run_id))
        .collect();
    decode_rows(stored, filter, &mut rows);
    Ok(rows)
}

/// `query` parsed against the custom search attributes of `namespace`.
fn parse(svc: &Service, namespace: &str, query: &str) -> Result<Filter> {
    let custom = svc.runtime.read(|registry| {
        registry
            .namespace(namespace)
            .map(|n| n.search_attributes.clone())
    })?;
    Filter::parse(query, &custom)
}

/// The position after the last run of a page: its start time and run id.
pub(super) fn encode_token((start_ms, run_id): &(i64, String)) -> Vec<u8> {
    let mut token = start_ms.to_be_bytes().to_vec();
    token.extend_from_slice(run_id.as_bytes());
    token
}

pub(super) fn decode_token(token: &[u8]) -> Result<Option<(i64, String)>> {
    if token.is_empty() {
        return Ok(None);
    }
    let malformed = || EngineError::invalid("malformed next page token");
    let (time, run_id) = token.split_at_checked(8).ok_or_else(malformed)?;
    let time = i64::from_be_bytes(time.try_into().map_err(|_| malformed())?);
    let run_id = String::from_utf8(run_id.to_vec()).map_err(|_| malformed())?;
    Ok(Some((time, run_id)))
}

pub(super) async fn list(
    svc: &Service,
    r: &ListWorkflowExecutionsRequest,
) -> Result<ListWorkflowExecutionsResponse> {
    let filter = parse(svc, &r.namespace, &r.query)?;
    if filter.group_by_status {
        return Err(invalid(
            "GROUP BY is only supported on CountWorkflowExecutions",
        ));
    }
    let after = decode_token(&r.next_page_token)?;
    let page = usize::try_from(r.page_size)
        .ok()
        .filter(|p| *p > 0)
        .map_or(MAX_PAGE, |p| p.min(MAX_PAGE));
    let order = |a: &(i64, String), b: &(i64, String)| {
        if filter.ascending { a.cmp(b) } else { b.cmp(a) }
    };
    let mut rows: Vec<Row> =
        matching_runs(svc, &r.namespace, &filter, Some((after.clone(), page + 1)))
            .await?
            .into_iter()
            .filter(|row| after.as_ref().is_none_or(|a| order(&row.key, a).is_gt()))
            .collect();
    rows.sort_by(|a, b| order(&a.key, &b.key));
    let more = rows.len() > page;
    rows.truncate(page);
    let next_page_token = match rows.last() {
        Some(last) if more => encode_token(&last.key),
        _ => Vec::new(),
    };
    Ok(ListWorkflowExecutionsResponse {
        executions: rows.into_iter().map(|row| row.info).collect(),
        next_page_token,
    })
}

pub(super) async fn count(
    svc: &Service,
    r: &CountWorkflowExecutionsRequest,
) -> Result<CountWorkflowExecutionsResponse> {
    let filter = parse(svc, &r.namespace, &r.query)?;
    let mut groups: BTreeMap<i32, i64> = BTreeMap::new();
    if let Some(counted) = count_in_store(svc, &r.namespace, &filter).await? {
        groups = counted;
    } else {
        for row in &matching_runs(svc, &r.namespace, &filter, None).await? {
            *groups.entry(row.info.status).or_default() += 1;
        }
    }
    let total = groups.values().sum();
    let groups = if filter.group_by_status {
        groups
            .into_iter()
            .map(|(status, count)| AggregationGroup {
                group_values: vec![json_string(status_name(status))],
                count,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(CountWorkflowExecutionsResponse {
        count: total,
        groups,
    })
}

/// Counts by status from memory plus the store's own count of the rest; `None` if the
/// store cannot count.
async fn count_in_store(
    svc: &Service,
    namespace: &str,
    filter: &Filter,
) -> Result<Option<BTreeMap<i32, i64>>> {
    let (rows, in_memory) = memory_rows(svc, namespace, filter)?;
    let Some(query) = closed_query(namespace, filter, &in_memory) else {
        return Ok(None);
    };
    let runtime = std::sync::Arc::clone(&svc.runtime);
    let Some(stored) = blocking(move || runtime.count_stored_closed_runs(&query)).await? else {
        return Ok(None);
    };
    let mut groups: BTreeMap<i32, i64> = BTreeMap::new();
    for row in &rows {
        *groups.entry(row.info.status).or_default() += 1;
    }
    for (status, count) in stored {
        *groups.entry(status).or_default() += count;
    }
    Ok(Some(groups))
}

pub(super) fn json_string(value: &str) -> Payload {
    Payload {
        metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
        data: format!("\"{value}\"").into_bytes(),
        ..Default::default()
    }
}
