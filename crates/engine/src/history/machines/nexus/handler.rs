//! The handler worker's side of the Nexus operation machine: the start and cancel requests
//! handed out by `PollNexusTaskQueue`, and their answers (`RespondNexusTaskCompleted`,
//! `RespondNexusTaskFailed`) turned into the operation's events.

use std::collections::HashMap;

use temporalio_protos::temporal::api::{
    common::v1::Payload,
    enums::v1::NexusHandlerErrorRetryBehavior,
    failure::v1::{
        ApplicationFailureInfo, CanceledFailureInfo, Failure, NexusHandlerFailureInfo,
        failure::FailureInfo,
    },
    history::v1::{
        NexusOperationCancelRequestCompletedEventAttributes,
        NexusOperationCancelRequestFailedEventAttributes, NexusOperationCanceledEventAttributes,
        NexusOperationCompletedEventAttributes, NexusOperationFailedEventAttributes,
        NexusOperationStartedEventAttributes, history_event::Attributes,
    },
    nexus::v1::{
        self as nexus, CancelOperationRequest, StartOperationRequest, request,
        response::Variant as ResponseVariant, start_operation_response::Variant as StartVariant,
    },
    workflowservice::v1::PollNexusTaskQueueResponse,
};

use super::{CancelPhase, Delivery, NexusPhase, NexusTimer, REQUEST_TIMEOUT_MS, backoff_ms};
use crate::history::{Effects, Execution, Registry, run::token::TaskToken};
use crate::{
    error::{EngineError, Result},
    nexus::token::{CALLBACK_TOKEN_HEADER, CallbackToken, SYSTEM_CALLBACK_URL},
    time::timestamp,
};

/// How an operation's start (or the workflow behind it) ended, for the caller.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NexusAnswer {
    Completed(Option<Payload>),
    /// Asynchronous: the handler's token for the operation.
    Started(String),
    /// Failed, with the cause the caller sees.
    Failed(Failure),
    Canceled(Failure),
}

/// A Nexus handler error as a Temporal failure.
pub(crate) fn handler_failure(kind: &str, message: &str) -> Failure {
    Failure {
        message: message.to_owned(),
        failure_info: Some(FailureInfo::NexusHandlerFailureInfo(
            NexusHandlerFailureInfo {
                r#type: kind.to_owned(),
                retry_behavior: NexusHandlerErrorRetryBehavior::Unspecified as i32,
            },
        )),
        ..Default::default()
    }
}

/// Whether a handler error may be retried: its explicit retry behavior, else its type (the
/// Nexus specification's table).
fn retryable(failure: &Failure) -> bool {
    let Some(FailureInfo::NexusHandlerFailureInfo(info)) = &failure.failure_info else {
        return true;
    };
    match NexusHandlerErrorRetryBehavior::try_from(info.retry_behavior) {
        Ok(NexusHandlerErrorRetryBehavior::Retryable) => return true,
        Ok(NexusHandlerErrorRetryBehavior::NonRetryable) => return false,
        _ => {}
    }
    !matches!(
        info.r#type.as_str(),
        "BAD_REQUEST"
            | "UNAUTHENTICATED"
            | "UNAUTHORIZED"
            | "NOT_FOUND"
            | "NOT_IMPLEMENTED"
            | "CONFLICT"
    )
}

/// A Nexus (wire format) failure as a Temporal failure.
fn from_nexus_failure(failure: Option<&nexus::Failure>) -> Failure {
    let Some(f) = failure else {
        return Failure::default();
    };
    Failure {
        message: f.message.clone(),
        stack_trace: f.stack_trace.clone(),
        cause: f
            .cause
            .as_deref()
            .map(|c| Box::new(from_nexus_failure(Some(c)))),
        ..Default::default()
    }
}

/// The failure a `RespondNexusTaskFailed` carries, in either wire format.
pub(crate) fn task_failure(
    failure: Option<Failure>,
    error: Option<&nexus::HandlerError>,
) -> Failure {
    if let Some(failure) = failure {
        return failure;
    }
    let Some(error) = error else {
        return handler_failure("INTERNAL", "the handler failed without saying why");
    };
    let mut failure = from_nexus_failure(error.failure.as_ref());
    failure.failure_info = Some(FailureInfo::NexusHandlerFailureInfo(
        NexusHandlerFailureInfo {
            r#type: error.error_type.clone(),
            retry_behavior: error.retry_behavior,
        },
    ));
    failure
}

/// A start answer as the operation's outcome (`None`: no answer in it).
fn start_answer(variant: StartVariant) -> NexusAnswer {
    match variant {
        StartVariant::SyncSuccess(sync) => NexusAnswer::Completed(sync.payload),
        #[allow(deprecated)]
        StartVariant::AsyncSuccess(started) => {
            NexusAnswer::Started(if started.operation_token.is_empty() {
                started.operation_id
            } else {
                started.operation_token
            })
        }
        #[allow(deprecated)]
        StartVariant::OperationError(error) => {
            let mut cause = from_nexus_failure(error.failure.as_ref());
            if error.operation_state == "canceled" {
                cause.failure_info = Some(FailureInfo::CanceledFailureInfo(
                    CanceledFailureInfo::default(),
                ));
                NexusAnswer::Canceled(cause)
            } else {
                cause.failure_info = Some(FailureInfo::ApplicationFailureInfo(
                    ApplicationFailureInfo {
                        r#type: "OperationError".to_owned(),
                        non_retryable: true,
                        ..Default::default()
                    },
                ));
                NexusAnswer::Failed(cause)
            }
        }
        StartVariant::Failure(failure) => {
            if matches!(
                failure.failure_info,
                Some(FailureInfo::CanceledFailureInfo(_))
            ) {
                NexusAnswer::Canceled(failure)
            } else {
                NexusAnswer::Failed(failure)
            }
        }
    }
}

fn stale() -> EngineError {
    EngineError::not_found("Nexus task not found or already completed")
}

/// A link to the scheduled event, as the real server sends it to the handler.
fn scheduled_link(namespace: &str, workflow_id: &str, run_id: &str, event_id: i64) -> nexus::Link {
    let escape = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    nexus::Link {
        url: format!(
            "temporal:///namespaces/{}/workflows/{}/{}/history?eventID={event_id}&eventType=NexusOperationScheduled&referenceType=EventReference",
            escape(namespace),
            escape(workflow_id),
            escape(run_id),
        ),
        r#type: "temporal.api.common.v1.Link.WorkflowEvent".to_owned(),
    }
}

impl Execution {
    /// Ends or advances operation `scheduled_event_id` with `answer`.
    pub(crate) fn resolve_nexus(
        &mut self,
        scheduled_event_id: i64,
        answer: NexusAnswer,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let run_id = self.state.run_id.clone();
        if let NexusAnswer::Started(token) = answer {
            let Some(op) = self.state.nexus_operations.get_mut(&scheduled_event_id) else {
                return;
            };
            if op.phase == NexusPhase::Started {
                return;
            }
            op.phase = NexusPhase::Started;
            op.started_ms = Some(now_ms);
            op.operation_token = token.clone();
            if let Some(cancel) = op
                .cancel
                .as_mut()
                .filter(|c| c.phase == CancelPhase::Waiting)
            {
                cancel.phase = CancelPhase::Delivering(Delivery::Scheduled);
            }
            let (op, request_id) = (op.clone(), op.request_id.clone());
            op.arm(&run_id, fx);
            #[allow(deprecated)]
            let started = NexusOperationStartedEventAttributes {
                scheduled_event_id,
                operation_id: token.clone(),
                request_id,
                operation_token: token,
            };
            self.add_event(
                now_ms,
                Attributes::NexusOperationStartedEventAttributes(started),
            );
            self.ensure_workflow_task(now_ms, fx);
            return;
        }
        let Some(op) = self.state.nexus_operations.remove(&scheduled_event_id) else {
            return;
        };
        // Cancelled while the handler's answer to the cancel request is still on its way (it
        // cancelled the workflow, which closed first): the request evidently got through.
        if let (NexusAnswer::Canceled(_), Some(cancel)) = (&answer, &op.cancel)
            && matches!(
                cancel.phase,
                CancelPhase::Delivering(Delivery::Dispatched { .. })
            )
        {
            self.add_event(
                now_ms,
                Attributes::NexusOperationCancelRequestCompletedEventAttributes(
                    NexusOperationCancelRequestCompletedEventAttributes {
                        requested_event_id: cancel.requested_event_id,
                        workflow_task_completed_event_id: 0,
                        scheduled_event_id,
                    },
                ),
            );
        }
        let request_id = op.request_id.clone();
        let attributes = match answer {
            NexusAnswer::Completed(result) => Attributes::NexusOperationCompletedEventAttributes(
                NexusOperationCompletedEventAttributes {
                    scheduled_event_id,
                    result,
                    request_id,
                },
            ),
            NexusAnswer::Failed(cause) => Attributes::NexusOperationFailedEventAttributes(
                NexusOperationFailedEventAttributes {
                    scheduled_event_id,
                    failure: Some(op.failure(cause)),
                    request_id,
                },
            ),
            NexusAnswer::Canceled(cause) => Attributes::NexusOperationCanceledEventAttributes(
                NexusOperationCanceledEventAttributes {
                    scheduled_event_id,
                    failure: Some(op.failure(cause)),
                    request_id,
                },
            ),
            NexusAnswer::Started(_) => return,
        };
        self.add_event(now_ms, attributes);
        self.ensure_workflow_task(now_ms, fx);
    }

    /// A start (or, with `cancel`, a cancel) attempt failed with a retryable `failure`: back
    /// off and try again.
    pub(crate) fn retry_nexus(
        &mut self,
        scheduled_event_id: i64,
        cancel: bool,
        failure: Failure,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        use prost::Message;
        let run_id = self.state.run_id.clone();
        let Some(op) = self.state.nexus_operations.get_mut(&scheduled_event_id) else {
            return;
        };
        let encoded = Some(failure.encode_to_vec());
        let (attempt, next_ms, timer) = if cancel {
            let Some(c) = op.cancel.as_mut() else {
                return;
            };
            c.attempt = c.attempt.saturating_add(1);
            c.last_failure = encoded;
            let next_ms = now_ms + backoff_ms(c.attempt);
            c.phase = CancelPhase::Delivering(Delivery::BackingOff { next_ms });
            (c.attempt, next_ms, NexusTimer::CancelRetry)
        } else {
            op.attempt = op.attempt.saturating_add(1);
            op.last_failure = encoded;
            op.last_attempt_ms = Some(now_ms);
            let next_ms = now_ms + backoff_ms(op.attempt);
            op.phase = NexusPhase::Starting(Delivery::BackingOff { next_ms });
            (op.attempt, next_ms, NexusTimer::Retry)
        };
        fx.timer(next_ms, op.timer(&run_id, attempt, timer));
        self.dirty = true;
    }
}

/// What a Nexus task token names: (run id, scheduled event id, attempt, cancel).
type NexusRef = (String, i64, i32, bool);

fn nexus_token(bytes: &[u8]) -> Result<NexusRef> {
    match TaskToken::decode(bytes)? {
        TaskToken::Nexus {
            run_id,
            scheduled_event_id,
            attempt,
            cancel,
        } => Ok((run_id, scheduled_event_id, attempt, cancel)),
        _ => Err(EngineError::invalid("not a Nexus task token")),
    }
}

impl Registry {
    /// Hands a due start or cancel request to a poller. `None` when the task is stale.
    pub(crate) fn start_nexus_task(
        &mut self,
        (run_id, scheduled_event_id, attempt, cancel): NexusRef,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Option<PollNexusTaskQueueResponse> {
        let exec = self.touch(&run_id)?;
        if !exec.is_open() {
            return None;
        }
        let (namespace, workflow_id) =
            (exec.state.namespace.clone(), exec.state.workflow_id.clone());
        let op = exec.state.nexus_operations.get_mut(&scheduled_event_id)?;
        if cancel {
            let c = op.cancel.as_mut()?;
            if c.attempt != attempt || c.phase != CancelPhase::Delivering(Delivery::Scheduled) {
                return None;
            }
            c.phase = CancelPhase::Delivering(Delivery::Dispatched { at_ms: now_ms });
        } else {
            if op.attempt != attempt || op.phase != NexusPhase::Starting(Delivery::Scheduled) {
                return None;
            }
            op.phase = NexusPhase::Starting(Delivery::Dispatched { at_ms: now_ms });
        }
        let op = op.clone();
        exec.dirty = true;
        let timer = if cancel {
            NexusTimer::CancelRequest
        } else {
            NexusTimer::Request
        };
        fx.timer(
            now_ms + REQUEST_TIMEOUT_MS,
            op.timer(&run_id, attempt, timer),
        );
        let scheduled = match exec.event(scheduled_event_id)?.attributes.as_ref()? {
            Attributes::NexusOperationScheduledEventAttributes(a) => a.clone(),
            _ => return None,
        };
        let mut header: HashMap<String, String> = scheduled.nexus_header.clone();
        header.insert(
            "request-timeout".to_owned(),
            format!("{REQUEST_TIMEOUT_MS}ms"),
        );
        if let Some(ms) = op.schedule_to_close_ms {
            let left = (op.scheduled_ms + ms - now_ms).max(0);
            header
                .entry("operation-timeout".to_owned())
                .or_insert(format!("{left}ms"));
        }
        let variant = if cancel {
            request::Variant::CancelOperation(
                #[allow(deprecated)]
                CancelOperationRequest {
                    service: op.service.clone(),
                    operation: op.operation.clone(),
                    operation_id: op.operation_token.clone(),
                    operation_token: op.operation_token.clone(),
                },
            )
        } else {
            let token = CallbackToken {
                namespace: namespace.clone(),
                workflow_id: workflow_id.clone(),
                run_id: run_id.clone(),
                scheduled_event_id,
                request_id: op.request_id.clone(),
            };
            request::Variant::StartOperation(StartOperationRequest {
                service: op.service.clone(),
                operation: op.operation.clone(),
                request_id: op.request_id.clone(),
                callback: SYSTEM_CALLBACK_URL.to_owned(),
                payload: scheduled.input.clone(),
                callback_header: HashMap::from([(
                    CALLBACK_TOKEN_HEADER.to_owned(),
                    token.encode(),
                )]),
                links: vec![scheduled_link(
                    &namespace,
                    &workflow_id,
                    &run_id,
                    scheduled_event_id,
                )],
            })
        };
        let token = TaskToken::Nexus {
            run_id,
            scheduled_event_id,
            attempt,
            cancel,
        };
        Some(PollNexusTaskQueueResponse {
            task_token: token.encode(),
            request: Some(nexus::Request {
                header,
                scheduled_time: Some(timestamp(now_ms)),
                capabilities: Some(request::Capabilities {
                    temporal_failure_responses: true,
                }),
                variant: Some(variant),
                endpoint: op.endpoint.clone(),
            }),
            ..Default::default()
        })
    }

    /// The dispatched request a token names, checked to be still in flight.
    fn dispatched(&mut self, token: &[u8]) -> Result<(String, i64, bool)> {
        let (run_id, scheduled_event_id, attempt, cancel) = nexus_token(token)?;
        let exec = self.run_mut(&run_id).map_err(|_| stale())?;
        let op = exec
            .state
            .nexus_operations
            .get(&scheduled_event_id)
            .filter(|_| exec.is_open())
            .ok_or_else(stale)?;
        let live = if cancel {
            op.cancel.as_ref().is_some_and(|c| {
                c.attempt == attempt
                    && matches!(
                        c.phase,
                        CancelPhase::Delivering(Delivery::Dispatched { .. })
                    )
            })
        } else {
            op.attempt == attempt
                && matches!(op.phase, NexusPhase::Starting(Delivery::Dispatched { .. }))
        };
        if !live {
            return Err(stale());
        }
        Ok((run_id, scheduled_event_id, cancel))
    }

    /// `RespondNexusTaskCompleted`.
    pub(crate) fn complete_nexus_task(
        &mut self,
        token: &[u8],
        response: Option<nexus::Response>,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<()> {
        let (run_id, scheduled_event_id, cancel) = self.dispatched(token)?;
        let exec = self.run_mut(&run_id)?;
        let variant = response.and_then(|r| r.variant);
        match (cancel, variant) {
            (false, Some(ResponseVariant::StartOperation(start))) => {
                let answer = match start.variant {
                    Some(variant) => start_answer(variant),
                    None => {
                        return Err(EngineError::invalid(
                            "StartOperationResponse has no outcome",
                        ));
                    }
                };
                exec.resolve_nexus(scheduled_event_id, answer, now_ms, fx);
            }
            (true, Some(ResponseVariant::CancelOperation(_))) => {
                let Some(op) = exec.state.nexus_operations.get_mut(&scheduled_event_id) else {
                    return Err(stale());
                };
                let Some(c) = op.cancel.as_mut() else {
                    return Err(stale());
                };
                c.phase = CancelPhase::Delivered;
                let requested_event_id = c.requested_event_id;
                exec.dirty = true;
                exec.add_event(
                    now_ms,
                    Attributes::NexusOperationCancelRequestCompletedEventAttributes(
                        NexusOperationCancelRequestCompletedEventAttributes {
                            requested_event_id,
                            workflow_task_completed_event_id: 0,
                            scheduled_event_id,
                        },
                    ),
                );
                exec.ensure_workflow_task(now_ms, fx);
            }
            _ => {
                return Err(EngineError::invalid(
                    "the response does not answer the task's request (start or cancel)",
                ));
            }
        }
        Ok(())
    }

    /// `RespondNexusTaskFailed`: a handler error, retried unless it says otherwise.
    pub(crate) fn fail_nexus_task(
        &mut self,
        token: &[u8],
        failure: Failure,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<()> {
        let (run_id, scheduled_event_id, cancel) = self.dispatched(token)?;
        let exec = self.run_mut(&run_id)?;
        if retryable(&failure) {
            exec.retry_nexus(scheduled_event_id, cancel, failure, now_ms, fx);
            return Ok(());
        }
        if !cancel {
            exec.resolve_nexus(scheduled_event_id, NexusAnswer::Failed(failure), now_ms, fx);
            return Ok(());
        }
        let Some(c) = exec
            .state
            .nexus_operations
            .get_mut(&scheduled_event_id)
            .and_then(|op| op.cancel.as_mut())
        else {
            return Err(stale());
        };
        c.phase = CancelPhase::Failed;
        let requested_event_id = c.requested_event_id;
        exec.dirty = true;
        exec.add_event(
            now_ms,
            Attributes::NexusOperationCancelRequestFailedEventAttributes(
                NexusOperationCancelRequestFailedEventAttributes {
                    requested_event_id,
                    workflow_task_completed_event_id: 0,
                    failure: Some(failure),
                    scheduled_event_id,
                },
            ),
        );
        exec.ensure_workflow_task(now_ms, fx);
        Ok(())
    }
}
