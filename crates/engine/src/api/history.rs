//! Reading one workflow: its history (paged, optionally long-polled, optionally only the
//! close event) and its description.

use temporalio_protos::temporal::api::{
    common::v1::{ActivityType, WorkflowExecution},
    enums::v1::{HistoryEventFilterType, PendingActivityState, PendingWorkflowTaskState},
    history::v1::History,
    workflow::v1::{
        PendingActivityInfo, PendingChildExecutionInfo, PendingWorkflowTaskInfo,
        WorkflowExecutionConfig,
    },
    workflowservice::v1::{
        DescribeWorkflowExecutionRequest, DescribeWorkflowExecutionResponse,
        GetWorkflowExecutionHistoryRequest, GetWorkflowExecutionHistoryResponse,
    },
};
use tokio::time::Instant;

use super::Service;
use crate::{
    error::{EngineError, Result},
    history::{
        Execution, activity::ActivityPhase, events::is_close_event, workflow_task::normal_queue,
    },
    time::{duration, timestamp},
};

const MAX_PAGE: usize = 1000;

fn page_token(next_event_id: i64) -> Vec<u8> {
    next_event_id.to_be_bytes().to_vec()
}

fn parse_token(token: &[u8]) -> Result<i64> {
    if token.is_empty() {
        return Ok(1);
    }
    let bytes: [u8; 8] = token
        .try_into()
        .map_err(|_| EngineError::invalid("malformed next page token"))?;
    Ok(i64::from_be_bytes(bytes).max(1))
}

pub(super) async fn get_history(
    svc: &Service,
    r: GetWorkflowExecutionHistoryRequest,
) -> Result<GetWorkflowExecutionHistoryResponse> {
    let rt = &svc.runtime;
    let execution: WorkflowExecution = r
        .execution
        .clone()
        .ok_or_else(|| EngineError::invalid("Execution is not set on request."))?;
    let page = usize::try_from(r.maximum_page_size)
        .ok()
        .filter(|p| *p > 0)
        .map_or(MAX_PAGE, |p| p.min(MAX_PAGE));
    let from = parse_token(&r.next_page_token)?;
    let close_only = r.history_event_filter_type == HistoryEventFilterType::CloseEvent as i32;
    let deadline = Instant::now() + svc.long_poll;
    let run_id = rt.read(|registry| {
        registry.resolve(&r.namespace, &execution.workflow_id, &execution.run_id)
    })?;
    let watch = rt.watchers.watch(&run_id);
    loop {
        // Armed before reading, so a change between the read and the wait is not missed.
        let changed = watch.changed();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let answer = rt.read(|registry| {
            registry.load(&run_id);
            let exec = registry.run(&run_id)?;
            Ok::<_, EngineError>(read_page(exec, from, page, close_only, r.wait_new_event))
        })?;
        if let Some(response) = answer {
            return Ok(response);
        }
        tokio::select! {
            () = &mut changed => {}
            () = tokio::time::sleep_until(deadline) => break,
            () = rt.shutting_down() => break,
        }
    }
    let next_page_token = if close_only {
        Vec::new()
    } else {
        page_token(from)
    };
    Ok(GetWorkflowExecutionHistoryResponse {
        history: Some(History::default()),
        next_page_token,
        ..Default::default()
    })
}

/// One page of history, or `None` when the caller long-polls and nothing new exists yet.
fn read_page(
    exec: &Execution,
    from: i64,
    page: usize,
    close_only: bool,
    wait: bool,
) -> Option<GetWorkflowExecutionHistoryResponse> {
    if close_only {
        if exec.is_open() {
            return (!wait).then(GetWorkflowExecutionHistoryResponse::default);
        }
        let close = exec
            .events
            .iter()
            .rev()
            .find(|e| is_close_event(e))
            .cloned();
        return Some(GetWorkflowExecutionHistoryResponse {
            history: Some(History {
                events: close.into_iter().collect(),
            }),
            ..Default::default()
        });
    }
    let start = usize::try_from(from - 1)
        .unwrap_or(0)
        .min(exec.events.len());
    let end = (start + page).min(exec.events.len());
    if start == end && wait && exec.is_open() {
        return None;
    }
    let next = i64::try_from(end).unwrap_or(i64::MAX) + 1;
    let next_page_token = if end < exec.events.len() || (wait && exec.is_open()) {
        page_token(next)
    } else {
        Vec::new()
    };
    Some(GetWorkflowExecutionHistoryResponse {
        history: Some(History {
            events: exec.events[start..end].to_vec(),
        }),
        next_page_token,
        ..Default::default()
    })
}

pub(super) fn describe(
    svc: &Service,
    r: &DescribeWorkflowExecutionRequest,
) -> Result<DescribeWorkflowExecutionResponse> {
    let execution = r
        .execution
        .as_ref()
        .ok_or_else(|| EngineError::invalid("Execution is not set on request."))?;
    svc.runtime.read(|registry| {
        let run_id = registry.resolve(&r.namespace, &execution.workflow_id, &execution.run_id)?;
        let exec = registry.run(&run_id)?;
        Ok(DescribeWorkflowExecutionResponse {
            execution_config: Some(WorkflowExecutionConfig {
                task_queue: Some(normal_queue(&exec.state.task_queue)),
                workflow_run_timeout: exec.state.run_timeout_ms.map(duration),
                default_workflow_task_timeout: Some(duration(exec.state.workflow_task_timeout_ms)),
                ..Default::default()
            }),
            workflow_execution_info: Some(registry.execution_info(exec)),
            pending_activities: exec
                .state
                .activities
                .values()
                .map(|a| pending_activity(exec, a))
                .collect(),
            pending_children: exec
                .state
                .children
                .iter()
                .map(|(initiated_id, child)| PendingChildExecutionInfo {
                    workflow_id: child.workflow_id.clone(),
                    run_id: child.run_id.clone().unwrap_or_default(),
                    workflow_type_name: child.workflow_type.clone(),
                    initiated_id: *initiated_id,
                    parent_close_policy: child.parent_close_policy,
                })
                .collect(),
            pending_workflow_task: exec.state.workflow_task.as_ref().map(|wt| {
                PendingWorkflowTaskInfo {
                    state: if wt.started_event_id > 0 {
                        PendingWorkflowTaskState::Started as i32
                    } else {
                        PendingWorkflowTaskState::Scheduled as i32
                    },
                    scheduled_time: Some(timestamp(wt.scheduled_time_ms)),
                    original_scheduled_time: Some(timestamp(wt.scheduled_time_ms)),
                    started_time: (wt.started_event_id > 0).then(|| timestamp(wt.started_time_ms)),
                    attempt: wt.attempt,
                }
            }),
            ..Default::default()
        })
    })
}

fn pending_activity(
    exec: &Execution,
    a: &crate::history::activity::ActivityState,
) -> PendingActivityInfo {
    use prost::Message;
    let attributes = exec.activity_attributes(a.scheduled_event_id);
    let state = match (a.phase, a.cancel_requested_event_id) {
        (_, Some(_)) => PendingActivityState::CancelRequested,
        (ActivityPhase::Started, None) => PendingActivityState::Started,
        _ => PendingActivityState::Scheduled,
    };
    PendingActivityInfo {
        activity_id: a.activity_id.clone(),
        activity_type: attributes
            .and_then(|x| x.activity_type.clone())
            .or_else(|| Some(ActivityType::default())),
        state: state as i32,
        heartbeat_details: a
            .heartbeat_details
            .as_deref()
            .and_then(|b| temporalio_protos::temporal::api::common::v1::Payloads::decode(b).ok()),
        last_heartbeat_time: (a.last_heartbeat_ms > 0).then(|| timestamp(a.last_heartbeat_ms)),
        last_started_time: (a.started_time_ms > 0).then(|| timestamp(a.started_time_ms)),
        attempt: a.attempt,
        maximum_attempts: attributes
            .and_then(|x| x.retry_policy.as_ref())
            .map_or(0, |p| p.maximum_attempts),
        scheduled_time: Some(timestamp(a.scheduled_time_ms)),
        last_failure: a
            .last_failure
            .as_deref()
            .and_then(|b| temporalio_protos::temporal::api::failure::v1::Failure::decode(b).ok()),
        last_worker_identity: a.identity.clone(),
        next_attempt_schedule_time: (a.phase == ActivityPhase::Backoff)
            .then(|| timestamp(a.attempt_scheduled_time_ms)),
        ..Default::default()
    }
}
