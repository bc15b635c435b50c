//! Completion callbacks: a workflow started by a Nexus handler (an async workflow-run
//! operation) carries the callback of the operation's start request. When that workflow
//! closes, the engine completes the caller's operation directly, in the same commit, with
//! the outcome the real server sends: the result, the failure, or a canceled, terminated
//! or timed-out failure. If the workflow closes before the handler's answer arrived, the
//! operation is first recorded as started with the handler's token, as the real server
//! does.

use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::{
    common::v1::Callback,
    failure::v1::{
        CanceledFailureInfo, Failure, TerminatedFailureInfo, TimeoutFailureInfo,
        failure::FailureInfo,
    },
    history::v1::history_event::Attributes,
};

use super::{NexusAnswer, NexusPhase};
use crate::history::{Effects, Execution, Registry};
use crate::nexus::token::{CALLBACK_TOKEN_HEADER, CallbackToken, SYSTEM_CALLBACK_URL};

/// The header in which a handler passes its operation token along with the callback.
const OPERATION_TOKEN_HEADER: &str = "nexus-operation-token";

/// A callback this engine delivers itself: the operation it completes, and the handler's
/// token for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CompletionCallback {
    pub(crate) token: CallbackToken,
    pub(crate) operation_token: String,
}

/// The callbacks of a start request that this engine can deliver: the system URL with a
/// token it made. Others (HTTP URLs) are not called.
pub(crate) fn completion_callbacks(callbacks: &[Callback]) -> Vec<CompletionCallback> {
    use temporalio_protos::temporal::api::common::v1::callback::Variant;
    callbacks
        .iter()
        .filter_map(|callback| match callback.variant.as_ref()? {
            Variant::Nexus(nexus) if nexus.url == SYSTEM_CALLBACK_URL => {
                let header = |name: &str| {
                    nexus
                        .header
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.clone())
                };
                Some(CompletionCallback {
                    token: CallbackToken::decode(&header(CALLBACK_TOKEN_HEADER)?)?,
                    operation_token: header(OPERATION_TOKEN_HEADER).unwrap_or_default(),
                })
            }
            _ => None,
        })
        .collect()
}

/// How a closed run ends the operation behind it (`None` while it goes on in a new run).
fn close_answer(exec: &Execution) -> Option<NexusAnswer> {
    let failure = |message: &str, info: FailureInfo| Failure {
        message: message.to_owned(),
        failure_info: Some(info),
        ..Default::default()
    };
    Some(match exec.events.last()?.attributes.as_ref()? {
        Attributes::WorkflowExecutionCompletedEventAttributes(a) => {
            NexusAnswer::Completed(a.result.as_ref().and_then(|r| r.payloads.first().cloned()))
        }
        Attributes::WorkflowExecutionFailedEventAttributes(a) => {
            NexusAnswer::Failed(a.failure.clone().unwrap_or_default())
        }
        Attributes::WorkflowExecutionCanceledEventAttributes(a) => NexusAnswer::Canceled(failure(
            "operation canceled",
            FailureInfo::CanceledFailureInfo(CanceledFailureInfo {
                details: a.details.clone(),
                ..Default::default()
            }),
        )),
        Attributes::WorkflowExecutionTerminatedEventAttributes(_) => NexusAnswer::Failed(failure(
            "operation terminated",
            FailureInfo::TerminatedFailureInfo(TerminatedFailureInfo::default()),
        )),
        Attributes::WorkflowExecutionTimedOutEventAttributes(_) => NexusAnswer::Failed(failure(
            "operation exceeded internal timeout",
            FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo::default()),
        )),
        _ => return None,
    })
}

impl Registry {
    /// Run `run_id` closed: completes the operations its completion callbacks name (those
    /// still pending in open runs; others are dropped, as a late callback is on the real
    /// server).
    pub(crate) fn deliver_nexus_callbacks(&mut self, run_id: &str, now_ms: i64, fx: &mut Effects) {
        let Some(exec) = self.runs.get(run_id) else {
            return;
        };
        if exec.state.completion_callbacks.is_empty() {
            return;
        }
        let Some(answer) = close_answer(exec) else {
            return;
        };
        for callback in exec.state.completion_callbacks.clone() {
            let token = &callback.token;
            if !self.load(&token.run_id) {
                continue;
            }
            let Some(caller) = self.touch(&token.run_id) else {
                continue;
            };
            let pending = caller.is_open()
                && caller.state.namespace == token.namespace
                && caller.state.workflow_id == token.workflow_id
                && caller
                    .state
                    .nexus_operations
                    .get(&token.scheduled_event_id)
                    .is_some_and(|op| op.request_id == token.request_id);
            if !pending {
                tracing::debug!(
                    caller_run_id = token.run_id,
                    scheduled_event_id = token.scheduled_event_id,
                    "dropping the completion of an operation no longer pending"
                );
                continue;
            }
            let sev = token.scheduled_event_id;
            let started = caller
                .state
                .nexus_operations
                .get(&sev)
                .is_some_and(|op| op.phase == NexusPhase::Started);
            if !started {
                let started = NexusAnswer::Started(callback.operation_token.clone());
                caller.resolve_nexus(sev, started, now_ms, fx);
            }
            caller.resolve_nexus(sev, answer.clone(), now_ms, fx);
        }
    }
}
