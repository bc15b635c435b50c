//! The rest of the read side: cluster info and the one cluster, every search attribute the
//! engine knows, a history newest first, the list RPCs that predate the query language
//! (open, closed, scan) answered as list queries, and counting schedules.

use prost_wkt_types::Timestamp;
use temporalio_protos::temporal::api::{
    enums::v1::WorkflowExecutionStatus,
    filter::v1::StartTimeFilter,
    history::v1::History,
    operatorservice::v1::{ClusterMetadata, ListClustersResponse},
    workflowservice::v1::{
        CountSchedulesRequest, CountSchedulesResponse, GetClusterInfoResponse,
        GetSearchAttributesResponse, GetWorkflowExecutionHistoryReverseRequest,
        GetWorkflowExecutionHistoryReverseResponse, ListClosedWorkflowExecutionsRequest,
        ListClosedWorkflowExecutionsResponse, ListOpenWorkflowExecutionsRequest,
        ListOpenWorkflowExecutionsResponse, ListSchedulesRequest, ListWorkflowExecutionsRequest,
        ScanWorkflowExecutionsRequest, ScanWorkflowExecutionsResponse,
        list_closed_workflow_executions_request::Filters as ClosedFilters,
        list_open_workflow_executions_request::Filters as OpenFilters,
    },
};

use super::{Service, namespaces::SERVER_VERSION, visibility};
use crate::{
    error::{EngineError, Result},
    history::rules::search_attributes::SYSTEM,
    runtime::EngineRuntime,
};

/// The one cluster this engine is, named as the dev server names its own.
const CLUSTER_NAME: &str = "active";
/// A fixed id: the engine is always the same one cluster.
const CLUSTER_ID: &str = "00000000-0000-4000-8000-000000000001";
const MAX_HISTORY_PAGE: usize = 1000;

pub(super) fn cluster_info() -> GetClusterInfoResponse {
    let clients = [
        ("temporal-ui", "<3.0.0"),
        ("temporal-typescript", "<2.0.0"),
        ("temporal-server", "<2.0.0"),
        ("temporal-php", "<2.0.0"),
        ("temporal-java", "<2.0.0"),
        ("temporal-go", "<2.0.0"),
        ("temporal-cli", "<2.0.0"),
        ("Nexus-go-sdk", "<2.0.0"),
    ];
    GetClusterInfoResponse {
        supported_clients: clients
            .iter()
            .map(|(client, range)| ((*client).to_owned(), (*range).to_owned()))
            .collect(),
        server_version: SERVER_VERSION.to_owned(),
        cluster_id: CLUSTER_ID.to_owned(),
        cluster_name: CLUSTER_NAME.to_owned(),
        history_shard_count: 1,
        persistence_store: "sqlite".to_owned(),
        visibility_store: "sqlite".to_owned(),
        initial_failover_version: 1,
        failover_version_increment: 10,
        ..Default::default()
    }
}

pub(super) fn list_clusters(svc: &Service) -> ListClustersResponse {
    ListClustersResponse {
        clusters: vec![ClusterMetadata {
            cluster_name: CLUSTER_NAME.to_owned(),
            cluster_id: CLUSTER_ID.to_owned(),
            address: svc.address.clone(),
            initial_failover_version: 1,
            history_shard_count: 1,
            is_connection_enabled: true,
            ..Default::default()
        }],
        next_page_token: Vec::new(),
    }
}

/// The system attributes and every namespace's custom ones (the request names no
/// namespace; the dev server answers its cluster-wide set).
pub(super) fn search_attributes(rt: &EngineRuntime) -> GetSearchAttributesResponse {
    rt.read(|registry| {
        let mut keys: std::collections::HashMap<String, i32> = registry
            .namespaces()
            .values()
            .flat_map(|record| record.search_attributes.iter())
            .map(|(name, ty)| (name.clone(), *ty))
            .collect();
        keys.extend(
            SYSTEM
                .iter()
                .map(|(name, ty)| ((*name).to_owned(), *ty as i32)),
        );
        GetSearchAttributesResponse { keys }
    })
}

/// A history newest first: the page token is the id of the event to continue below.
pub(super) fn history_reverse(
    rt: &EngineRuntime,
    r: &GetWorkflowExecutionHistoryReverseRequest,
) -> Result<GetWorkflowExecutionHistoryReverseResponse> {
    let execution = r
        .execution
        .as_ref()
        .ok_or_else(|| EngineError::invalid("Execution is not set on request."))?;
    let page = usize::try_from(r.maximum_page_size)
        .ok()
        .filter(|p| *p > 0)
        .map_or(MAX_HISTORY_PAGE, |p| p.min(MAX_HISTORY_PAGE));
    let below = match r.next_page_token.as_slice() {
        [] => None,
        token => Some(
            <[u8; 8]>::try_from(token)
                .map(u64::from_be_bytes)
                .map_err(|_| EngineError::invalid("malformed next page token"))?,
        ),
    };
    rt.read(|registry| {
        let run_id = registry.resolve(&r.namespace, &execution.workflow_id, &execution.run_id)?;
        registry.load(&run_id);
        let events = registry.run(&run_id)?.history();
        let end = below
            .and_then(|id| usize::try_from(id.saturating_sub(1)).ok())
            .map_or(events.len(), |end| end.min(events.len()));
        let start = end.saturating_sub(page);
        let next_page_token = if start > 0 {
            u64::try_from(start + 1)
                .unwrap_or(u64::MAX)
                .to_be_bytes()
                .to_vec()
        } else {
            Vec::new()
        };
        Ok(GetWorkflowExecutionHistoryReverseResponse {
            history: Some(History {
                events: events[start..end].iter().rev().cloned().collect(),
            }),
            next_page_token,
        })
    })
}

pub(super) async fn list_open(
    svc: &Service,
    r: ListOpenWorkflowExecutionsRequest,
) -> Result<ListOpenWorkflowExecutionsResponse> {
    let mut terms = vec!["ExecutionStatus = 'Running'".to_owned()];
    terms.extend(time_terms("StartTime", r.start_time_filter.as_ref()));
    terms.extend(match r.filters {
        Some(OpenFilters::ExecutionFilter(f)) => execution_terms(&f.workflow_id, &f.run_id),
        Some(OpenFilters::TypeFilter(f)) => vec![equals("WorkflowType", &f.name)],
        None => Vec::new(),
    });
    let listed = list(
        svc,
        r.namespace,
        r.maximum_page_size,
        r.next_page_token,
        &terms,
    )
    .await?;
    Ok(ListOpenWorkflowExecutionsResponse {
        executions: listed.executions,
        next_page_token: listed.next_page_token,
    })
}

/// Closed runs; the time filter applies to their close time, as on the real server.
pub(super) async fn list_closed(
    svc: &Service,
    r: ListClosedWorkflowExecutionsRequest,
) -> Result<ListClosedWorkflowExecutionsResponse> {
    let mut terms = vec!["ExecutionStatus != 'Running'".to_owned()];
    terms.extend(time_terms("CloseTime", r.start_time_filter.as_ref()));
    terms.extend(match r.filters {
        Some(ClosedFilters::ExecutionFilter(f)) => execution_terms(&f.workflow_id, &f.run_id),
        Some(ClosedFilters::TypeFilter(f)) => vec![equals("WorkflowType", &f.name)],
        Some(ClosedFilters::StatusFilter(f)) => {
            vec![equals("ExecutionStatus", status_name(f.status)?)]
        }
        None => Vec::new(),
    });
    let listed = list(
        svc,
        r.namespace,
        r.maximum_page_size,
        r.next_page_token,
        &terms,
    )
    .await?;
    Ok(ListClosedWorkflowExecutionsResponse {
        executions: listed.executions,
        next_page_token: listed.next_page_token,
    })
}

pub(super) async fn scan(
    svc: &Service,
    r: ScanWorkflowExecutionsRequest,
) -> Result<ScanWorkflowExecutionsResponse> {
    let listed = visibility::list(
        svc,
        &ListWorkflowExecutionsRequest {
            namespace: r.namespace,
            page_size: r.page_size,
            next_page_token: r.next_page_token,
            query: r.query,
        },
    )
    .await?;
    Ok(ScanWorkflowExecutionsResponse {
        executions: listed.executions,
        next_page_token: listed.next_page_token,
    })
}

/// How many schedules of a namespace its query matches, as `ListSchedules` filters them.
pub(super) fn count_schedules(
    rt: &EngineRuntime,
    r: &CountSchedulesRequest,
) -> Result<CountSchedulesResponse> {
    let now = rt.clock.now_ms();
    rt.read(|registry| {
        let custom = &registry.namespace(&r.namespace)?.search_attributes;
        let filter = crate::visibility::ScheduleFilter::parse(&r.query, custom)?;
        let all = registry.list_schedules(
            &ListSchedulesRequest {
                namespace: r.namespace.clone(),
                maximum_page_size: i32::MAX - 1,
                ..Default::default()
            },
            now,
            &|id, paused, attributes| filter.matches(id, paused, attributes),
        )?;
        Ok(CountSchedulesResponse {
            count: i64::try_from(all.schedules.len()).unwrap_or(i64::MAX),
            groups: Vec::new(),
        })
    })
}

async fn list(
    svc: &Service,
    namespace: String,
    page_size: i32,
    next_page_token: Vec<u8>,
    terms: &[String],
) -> Result<temporalio_protos::temporal::api::workflowservice::v1::ListWorkflowExecutionsResponse> {
    visibility::list(
        svc,
        &ListWorkflowExecutionsRequest {
            namespace,
            page_size,
            next_page_token,
            query: terms.join(" AND "),
        },
    )
    .await
}

/// A status as the query language names it.
fn status_name(status: i32) -> Result<&'static str> {
    use WorkflowExecutionStatus as S;
    Ok(match S::try_from(status) {
        Ok(S::Running) => "Running",
        Ok(S::Completed) => "Completed",
        Ok(S::Failed) => "Failed",
        Ok(S::Canceled) => "Canceled",
        Ok(S::Terminated) => "Terminated",
        Ok(S::ContinuedAsNew) => "ContinuedAsNew",
        Ok(S::TimedOut) => "TimedOut",
        _ => {
            return Err(EngineError::invalid(format!(
                "StatusFilter.status {status} is not a closed workflow execution status: give one of COMPLETED, FAILED, CANCELED, TERMINATED, CONTINUED_AS_NEW, TIMED_OUT"
            )));
        }
    })
}

fn equals(attribute: &str, value: &str) -> String {
    format!("{attribute} = '{}'", value.replace('\'', "''"))
}

fn execution_terms(workflow_id: &str, run_id: &str) -> Vec<String> {
    let mut terms = vec![equals("WorkflowId", workflow_id)];
    if !run_id.is_empty() {
        terms.push(equals("RunId", run_id));
    }
    terms
}

fn time_terms(attribute: &str, filter: Option<&StartTimeFilter>) -> Vec<String> {
    let Some(filter) = filter else {
        return Vec::new();
    };
    let mut terms = Vec::new();
    if let Some(earliest) = filter.earliest_time.as_ref().and_then(rfc3339) {
        terms.push(format!("{attribute} >= '{earliest}'"));
    }
    if let Some(latest) = filter.latest_time.as_ref().and_then(rfc3339) {
        terms.push(format!("{attribute} <= '{latest}'"));
    }
    terms
}

fn rfc3339(t: &Timestamp) -> Option<String> {
    jiff::Timestamp::new(t.seconds, t.nanos)
        .ok()
        .map(|time| time.to_string())
}
