//! Worker RPCs of the heartbeat family: `RecordWorkerHeartbeat` keeps each worker's latest
//! heartbeat (the namespace's `worker_heartbeats` capability tells the SDKs to send them),
//! `ListWorkers` and `CountWorkers` (filtered by `Attribute = 'value'` terms joined by
//! AND over the attributes the proto names) and `DescribeWorker`.

use temporalio_protos::temporal::api::{
    enums::v1::WorkerStatus,
    worker::v1::{WorkerHeartbeat, WorkerInfo, WorkerListInfo},
    workflowservice::v1::{
        CountWorkersRequest, CountWorkersResponse, DescribeWorkerRequest, DescribeWorkerResponse,
        ListWorkersRequest, ListWorkersResponse, RecordWorkerHeartbeatRequest,
    },
};

use crate::{
    error::{EngineError, Result},
    runtime::EngineRuntime,
};

fn namespace(rt: &EngineRuntime, namespace: &str) -> Result<()> {
    rt.read(|registry| registry.namespace(namespace).map(|_| ()))
}

pub(super) fn record(rt: &EngineRuntime, r: RecordWorkerHeartbeatRequest) -> Result<()> {
    namespace(rt, &r.namespace)?;
    let now = rt.clock.now_ms();
    for heartbeat in r.worker_heartbeat {
        rt.workers.record(&r.namespace, heartbeat, now);
    }
    Ok(())
}

/// One `Attribute = 'value'` term of a workers query.
struct Term {
    attribute: String,
    value: String,
}

/// `Attribute = 'value' AND ...`; an empty query keeps every worker.
fn parse(query: &str) -> Result<Vec<Term>> {
    let query = query.trim();
    if query.is_empty() {
        return Ok(Vec::new());
    }
    let invalid = |term: &str| {
        EngineError::invalid(format!(
            "workers query term {term:?} is not understood: write Attribute = 'value' terms joined by AND (WorkerInstanceKey, WorkerIdentity, HostName, TaskQueue, DeploymentName, BuildId, SdkName, SdkVersion, Status)"
        ))
    };
    let mut terms = Vec::new();
    let lower = query.to_ascii_lowercase();
    let mut rest = (query, lower.as_str());
    loop {
        let (term, next) = match rest.1.find(" and ") {
            Some(at) => (&rest.0[..at], Some((&rest.0[at + 5..], &rest.1[at + 5..]))),
            None => (rest.0, None),
        };
        let (attribute, value) = term.split_once('=').ok_or_else(|| invalid(term))?;
        let value = value.trim();
        let unquoted = value
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
            .ok_or_else(|| invalid(term))?;
        terms.push(Term {
            attribute: attribute.trim().to_owned(),
            value: unquoted.to_owned(),
        });
        match next {
            Some(next) => rest = next,
            None => break,
        }
    }
    for term in &terms {
        if attribute(&WorkerHeartbeat::default(), &term.attribute).is_none() {
            return Err(invalid(&term.attribute));
        }
    }
    Ok(terms)
}

/// A heartbeat's value of a query attribute.
fn attribute(w: &WorkerHeartbeat, name: &str) -> Option<String> {
    let version = w.deployment_version.as_ref();
    Some(match name {
        "WorkerInstanceKey" => w.worker_instance_key.clone(),
        "WorkerIdentity" => w.worker_identity.clone(),
        "HostName" => w
            .host_info
            .as_ref()
            .map(|h| h.host_name.clone())
            .unwrap_or_default(),
        "TaskQueue" => w.task_queue.clone(),
        "DeploymentName" => version
            .map(|v| v.deployment_name.clone())
            .unwrap_or_default(),
        "BuildId" => version.map(|v| v.build_id.clone()).unwrap_or_default(),
        "SdkName" => w.sdk_name.clone(),
        "SdkVersion" => w.sdk_version.clone(),
        "Status" => WorkerStatus::try_from(w.status)
            .map(|s| {
                s.as_str_name()
                    .trim_start_matches("WORKER_STATUS_")
                    .to_owned()
            })
            .unwrap_or_default(),
        _ => return None,
    })
}

fn matching(rt: &EngineRuntime, ns: &str, query: &str) -> Result<Vec<WorkerHeartbeat>> {
    namespace(rt, ns)?;
    let terms = parse(query)?;
    Ok(rt.workers.list(ns, rt.clock.now_ms(), |w| {
        terms
            .iter()
            .all(|t| attribute(w, &t.attribute).is_some_and(|v| v.eq_ignore_ascii_case(&t.value)))
    }))
}

fn list_info(w: &WorkerHeartbeat) -> WorkerListInfo {
    let host = w.host_info.clone().unwrap_or_default();
    WorkerListInfo {
        worker_instance_key: w.worker_instance_key.clone(),
        worker_identity: w.worker_identity.clone(),
        task_queue: w.task_queue.clone(),
        deployment_version: w.deployment_version.clone(),
        sdk_name: w.sdk_name.clone(),
        sdk_version: w.sdk_version.clone(),
        status: w.status,
        start_time: w.start_time,
        host_name: host.host_name,
        worker_grouping_key: host.worker_grouping_key,
        process_id: host.process_id,
        plugins: w.plugins.clone(),
        ..Default::default()
    }
}

/// Every matching worker on one page (a namespace has few).
#[allow(deprecated)]
pub(super) fn list(rt: &EngineRuntime, r: &ListWorkersRequest) -> Result<ListWorkersResponse> {
    let workers = matching(rt, &r.namespace, &r.query)?;
    Ok(ListWorkersResponse {
        workers: workers.iter().map(list_info).collect(),
        workers_info: workers
            .into_iter()
            .map(|w| WorkerInfo {
                worker_heartbeat: Some(w),
            })
            .collect(),
        next_page_token: Vec::new(),
    })
}

pub(super) fn count(rt: &EngineRuntime, r: &CountWorkersRequest) -> Result<CountWorkersResponse> {
    let workers = matching(rt, &r.namespace, &r.query)?;
    Ok(CountWorkersResponse {
        count: i64::try_from(workers.len()).unwrap_or(i64::MAX),
    })
}

pub(super) fn describe(
    rt: &EngineRuntime,
    r: &DescribeWorkerRequest,
) -> Result<DescribeWorkerResponse> {
    namespace(rt, &r.namespace)?;
    let worker = rt
        .workers
        .get(&r.namespace, &r.worker_instance_key, rt.clock.now_ms())
        .ok_or_else(|| {
            EngineError::not_found(format!("Worker {} not found", r.worker_instance_key))
        })?;
    Ok(DescribeWorkerResponse {
        worker_info: Some(WorkerInfo {
            worker_heartbeat: Some(worker),
        }),
    })
}
