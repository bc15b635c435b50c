//! Reading one workflow: its history (paged, optionally long-polled, optionally only the
//! close event) and its description.

use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution,
    enums::v1::HistoryEventFilterType,
    history::v1::History,
    workflowservice::v1::{
        DescribeWorkflowExecutionRequest, DescribeWorkflowExecutionResponse,
        GetWorkflowExecutionHistoryRequest, GetWorkflowExecutionHistoryResponse,
    },
};
use tokio::time::Instant;

use super::Service;
use crate::{
    error::{EngineError, Result},
    history::{Execution, run::events::is_close_event},
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
    let deadline = Instant::now() + svc.history_long_poll;
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
    // An empty page with a token to poll on with, as the real server answers when its
    // long poll expires (waiting for the close event too).
    Ok(GetWorkflowExecutionHistoryResponse {
        history: Some(History::default()),
        next_page_token: page_token(from),
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
            .history()
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
        .min(exec.history().len());
    let end = (start + page).min(exec.history().len());
    if start == end && wait && exec.is_open() {
        return None;
    }
    let next = i64::try_from(end).unwrap_or(i64::MAX) + 1;
    let next_page_token = if end < exec.history().len() || (wait && exec.is_open()) {
        page_token(next)
    } else {
        Vec::new()
    };
    Some(GetWorkflowExecutionHistoryResponse {
        history: Some(History {
            events: exec.history()[start..end].to_vec(),
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
        Ok(registry.describe(registry.run(&run_id)?))
    })
}
