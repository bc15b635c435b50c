//! The Nexus operation machine, one per `ScheduleNexusOperation` command of a caller's run,
//! keyed by its scheduled event id.
//!
//! Start: scheduled (a start request waits on the endpoint's Nexus task queue) ->
//! dispatched (a handler worker holds it, for at most [`REQUEST_TIMEOUT_MS`]) -> completed
//! or failed at once (a sync answer, an operation error, a non-retryable handler error), or
//! started (an async answer: the operation token), or backing off (a retryable handler
//! error or a lost request) and scheduled again. A started operation ends through the
//! completion callback of the workflow behind it (`callbacks`). A cancel request waits until
//! the operation has started, then goes to the handler the same way (scheduled ->
//! dispatched -> delivered, or backing off, or failed). Schedule-to-close,
//! schedule-to-start and start-to-close timeouts end the operation as timed out. The
//! worker's side (the tasks, the answers) is `handler`.

mod callbacks;
mod handler;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use prost::Message;
use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::{
    command::v1::{Command, ScheduleNexusOperationCommandAttributes, command::Attributes as C},
    enums::v1::{
        NexusOperationCancellationState, PendingNexusOperationState, TimeoutType,
        WorkflowTaskFailedCause,
    },
    failure::v1::{Failure, NexusOperationFailureInfo, TimeoutFailureInfo, failure::FailureInfo},
    history::v1::{
        NexusOperationCancelRequestedEventAttributes, NexusOperationScheduledEventAttributes,
        NexusOperationTimedOutEventAttributes, history_event::Attributes,
    },
    workflow::v1::{NexusOperationCancellationInfo, PendingNexusOperationInfo},
};

pub(crate) use callbacks::{CompletionCallback, completion_callbacks};
pub(crate) use handler::NexusAnswer;
pub(crate) use handler::task_failure as nexus_task_failure;

use crate::history::{Effects, Execution, QueueKind, Registry, Task, TimerKey};
use crate::{
    nexus::endpoints::{EndpointRecord, Target},
    time::{duration, duration_ms, timestamp},
};

/// How long a handler worker may hold a request before it is retried (the real server's
/// default `component.nexusoperations.request.timeout`).
pub(crate) const REQUEST_TIMEOUT_MS: i64 = 10_000;
/// Retry backoff: the first interval, doubled per attempt, capped.
const INITIAL_BACKOFF_MS: i64 = 1_000;
const MAX_BACKOFF_MS: i64 = 60_000;

/// Which Nexus deadline a timer enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum NexusTimer {
    ScheduleToClose,
    ScheduleToStart,
    StartToClose,
    /// A handler held the start request of this attempt too long.
    Request,
    /// The start backoff of this attempt has elapsed.
    Retry,
    /// A handler held the cancel request of this cancel attempt too long.
    CancelRequest,
    /// The cancel backoff of this cancel attempt has elapsed.
    CancelRetry,
}

/// Where a request to the handler stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Delivery {
    /// Waiting on the Nexus task queue for a handler worker.
    Scheduled,
    /// A handler worker holds it since `at_ms`.
    Dispatched { at_ms: i64 },
    /// A failed attempt; the next one is scheduled at `next_ms`.
    BackingOff { next_ms: i64 },
}

/// Where an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum NexusPhase {
    /// Its start request is on its way (see [`Delivery`]).
    Starting(Delivery),
    /// The handler answered asynchronously: the operation runs until its callback.
    Started,
}

/// Where a cancel request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum CancelPhase {
    /// The operation has not started yet: the request goes out once it has.
    Waiting,
    Delivering(Delivery),
    /// The handler accepted it; the outcome comes through the callback.
    Delivered,
    Failed,
}

/// A cancel request of an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CancelState {
    pub(crate) requested_event_id: i64,
    pub(crate) requested_ms: i64,
    pub(crate) attempt: i32,
    pub(crate) phase: CancelPhase,
    /// Prost-encoded `Failure` of the last failed attempt.
    pub(crate) last_failure: Option<Vec<u8>>,
}

/// A pending Nexus operation of a caller's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NexusOperationState {
    pub(crate) scheduled_event_id: i64,
    pub(crate) endpoint: String,
    pub(crate) endpoint_id: String,
    pub(crate) service: String,
    pub(crate) operation: String,
    pub(crate) request_id: String,
    /// The handler's namespace and Nexus task queue (the endpoint's worker target).
    pub(crate) handler_namespace: String,
    pub(crate) handler_queue: String,
    pub(crate) scheduled_ms: i64,
    pub(crate) schedule_to_close_ms: Option<i64>,
    pub(crate) schedule_to_start_ms: Option<i64>,
    pub(crate) start_to_close_ms: Option<i64>,
    pub(crate) started_ms: Option<i64>,
    pub(crate) attempt: i32,
    pub(crate) phase: NexusPhase,
    pub(crate) operation_token: String,
    /// Prost-encoded `Failure` of the last failed attempt, and when it ended.
    pub(crate) last_failure: Option<Vec<u8>>,
    pub(crate) last_attempt_ms: Option<i64>,
    pub(crate) cancel: Option<CancelState>,
}

impl NexusOperationState {
    /// The failure the caller sees, wrapping `cause` (the real server's shape, which still
    /// fills the deprecated `operation_id`).
    #[allow(deprecated)]
    pub(crate) fn failure(&self, cause: Failure) -> Failure {
        Failure {
            message: "nexus operation completed unsuccessfully".to_owned(),
            failure_info: Some(FailureInfo::NexusOperationExecutionFailureInfo(
                NexusOperationFailureInfo {
                    scheduled_event_id: self.scheduled_event_id,
                    endpoint: self.endpoint.clone(),
                    service: self.service.clone(),
                    operation: self.operation.clone(),
                    operation_id: self.operation_token.clone(),
                    operation_token: self.operation_token.clone(),
                },
            )),
            cause: Some(Box::new(cause)),
            ..Default::default()
        }
    }

    fn timer(&self, run_id: &str, attempt: i32, timer: NexusTimer) -> TimerKey {
        TimerKey::Nexus {
            run_id: run_id.to_owned(),
            scheduled_event_id: self.scheduled_event_id,
            attempt,
            timer,
        }
    }

    /// The deadlines that apply now, with the timers that enforce them.
    fn deadlines(&self) -> Vec<(i64, NexusTimer)> {
        let mut deadlines = Vec::new();
        if let Some(ms) = self.schedule_to_close_ms {
            deadlines.push((self.scheduled_ms + ms, NexusTimer::ScheduleToClose));
        }
        match (
            self.started_ms,
            self.schedule_to_start_ms,
            self.start_to_close_ms,
        ) {
            (None, Some(ms), _) => {
                deadlines.push((self.scheduled_ms + ms, NexusTimer::ScheduleToStart));
            }
            (Some(started), _, Some(ms)) => {
                deadlines.push((started + ms, NexusTimer::StartToClose));
            }
            _ => {}
        }
        deadlines
    }

    /// The effects that keep the operation moving from its current state: its deadlines,
    /// and the request that is due, in flight or backing off. Also used after a restart: a
    /// request a handler held then is retried once its request timeout has passed, unless
    /// the handler (still running) answers first.
    pub(crate) fn arm(&self, run_id: &str, fx: &mut Effects) {
        for (at, timer) in self.deadlines() {
            fx.timer(at, self.timer(run_id, self.attempt, timer));
        }
        if let NexusPhase::Starting(delivery) = self.phase {
            self.arm_delivery(run_id, delivery, false, self.attempt, fx);
        }
        if let Some(CancelState {
            phase: CancelPhase::Delivering(delivery),
            attempt,
            ..
        }) = self.cancel
        {
            self.arm_delivery(run_id, delivery, true, attempt, fx);
        }
    }

    /// Whether a request of this operation waits for a handler or is held by one (work in
    /// flight, which holds a time-skipping clock).
    pub(crate) fn in_flight(&self) -> bool {
        let busy = |d: Delivery| !matches!(d, Delivery::BackingOff { .. });
        matches!(self.phase, NexusPhase::Starting(d) if busy(d))
            || matches!(self.cancel.as_ref().map(|c| c.phase), Some(CancelPhase::Delivering(d)) if busy(d))
    }

    fn arm_delivery(
        &self,
        run_id: &str,
        delivery: Delivery,
        cancel: bool,
        attempt: i32,
        fx: &mut Effects,
    ) {
        let (request, retry) = if cancel {
            (NexusTimer::CancelRequest, NexusTimer::CancelRetry)
        } else {
            (NexusTimer::Request, NexusTimer::Retry)
        };
        match delivery {
            Delivery::Scheduled => self.dispatch(run_id, attempt, cancel, fx),
            Delivery::Dispatched { at_ms } => {
                fx.timer(
                    at_ms + REQUEST_TIMEOUT_MS,
                    self.timer(run_id, attempt, request),
                );
            }
            Delivery::BackingOff { next_ms } => {
                fx.timer(next_ms, self.timer(run_id, attempt, retry));
            }
        }
    }

    fn dispatch(&self, run_id: &str, attempt: i32, cancel: bool, fx: &mut Effects) {
        fx.dispatch(
            &self.handler_namespace,
            &self.handler_queue,
            QueueKind::Nexus,
            Task::Nexus {
                run_id: run_id.to_owned(),
                scheduled_event_id: self.scheduled_event_id,
                attempt,
                cancel,
            },
            Default::default(),
        );
    }

    /// Whether `timer` (of `attempt`) still applies.
    pub(crate) fn timer_is_live(&self, attempt: i32, timer: NexusTimer) -> bool {
        match timer {
            NexusTimer::ScheduleToClose => true,
            NexusTimer::ScheduleToStart => self.started_ms.is_none(),
            NexusTimer::StartToClose => self.started_ms.is_some(),
            NexusTimer::Request => {
                attempt == self.attempt
                    && matches!(
                        self.phase,
                        NexusPhase::Starting(Delivery::Dispatched { .. })
                    )
            }
            NexusTimer::Retry => {
                attempt == self.attempt
                    && matches!(
                        self.phase,
                        NexusPhase::Starting(Delivery::BackingOff { .. })
                    )
            }
            NexusTimer::CancelRequest | NexusTimer::CancelRetry => {
                self.cancel.as_ref().is_some_and(|c| {
                    c.attempt == attempt
                        && matches!(
                            (timer, c.phase),
                            (
                                NexusTimer::CancelRequest,
                                CancelPhase::Delivering(Delivery::Dispatched { .. })
                            ) | (
                                NexusTimer::CancelRetry,
                                CancelPhase::Delivering(Delivery::BackingOff { .. })
                            )
                        )
                })
            }
        }
    }

    /// The operation as `DescribeWorkflowExecution` lists it.
    #[allow(deprecated)]
    pub(crate) fn pending_info(&self) -> PendingNexusOperationInfo {
        let (state, next) = match self.phase {
            NexusPhase::Started => (PendingNexusOperationState::Started, None),
            NexusPhase::Starting(Delivery::BackingOff { next_ms }) => {
                (PendingNexusOperationState::BackingOff, Some(next_ms))
            }
            NexusPhase::Starting(_) => (PendingNexusOperationState::Scheduled, None),
        };
        let failure =
            |bytes: &Option<Vec<u8>>| bytes.as_deref().and_then(|b| Failure::decode(b).ok());
        let cancellation_info = self.cancel.as_ref().map(|c| {
            let (state, next) = match c.phase {
                CancelPhase::Waiting
                | CancelPhase::Delivering(Delivery::Scheduled)
                | CancelPhase::Delivering(Delivery::Dispatched { .. }) => {
                    (NexusOperationCancellationState::Scheduled, None)
                }
                CancelPhase::Delivering(Delivery::BackingOff { next_ms }) => {
                    (NexusOperationCancellationState::BackingOff, Some(next_ms))
                }
                CancelPhase::Delivered => (NexusOperationCancellationState::Succeeded, None),
                CancelPhase::Failed => (NexusOperationCancellationState::Failed, None),
            };
            NexusOperationCancellationInfo {
                requested_time: Some(timestamp(c.requested_ms)),
                state: state as i32,
                attempt: c.attempt,
                last_attempt_failure: failure(&c.last_failure),
                next_attempt_schedule_time: next.map(timestamp),
                ..Default::default()
            }
        });
        PendingNexusOperationInfo {
            endpoint: self.endpoint.clone(),
            service: self.service.clone(),
            operation: self.operation.clone(),
            operation_id: self.operation_token.clone(),
            schedule_to_close_timeout: self.schedule_to_close_ms.map(duration),
            scheduled_time: Some(timestamp(self.scheduled_ms)),
            state: state as i32,
            attempt: self.attempt,
            last_attempt_complete_time: self.last_attempt_ms.map(timestamp),
            last_attempt_failure: failure(&self.last_failure),
            next_attempt_schedule_time: next.map(timestamp),
            cancellation_info,
            scheduled_event_id: self.scheduled_event_id,
            blocked_reason: String::new(),
            operation_token: self.operation_token.clone(),
            schedule_to_start_timeout: self.schedule_to_start_ms.map(duration),
            start_to_close_timeout: self.start_to_close_ms.map(duration),
        }
    }
}

/// The backoff before retry number `attempt` (2 for the first retry).
pub(crate) fn backoff_ms(attempt: i32) -> i64 {
    let doublings = u32::try_from(attempt.saturating_sub(2))
        .unwrap_or(0)
        .min(16);
    (INITIAL_BACKOFF_MS << doublings).min(MAX_BACKOFF_MS)
}

impl Execution {
    /// `ScheduleNexusOperation`, to the worker target of `endpoint` (checked to exist by
    /// the completion before anything changed).
    pub(crate) fn schedule_nexus_operation(
        &mut self,
        mut a: ScheduleNexusOperationCommandAttributes,
        endpoint: &EndpointRecord,
        completed_id: i64,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        // As the real server: the run timeout caps the operation's, which caps the others.
        let run_timeout = self.state.run_timeout_ms.filter(|ms| *ms > 0);
        let mut schedule_to_close =
            duration_ms(a.schedule_to_close_timeout.as_ref()).filter(|ms| *ms > 0);
        if let Some(run) = run_timeout
            && schedule_to_close.is_none_or(|ms| ms > run)
        {
            schedule_to_close = Some(run);
            a.schedule_to_close_timeout = Some(duration(run));
        }
        let cap = |field: &mut Option<prost_wkt_types::Duration>| {
            let ms = duration_ms(field.as_ref()).filter(|ms| *ms > 0)?;
            match schedule_to_close {
                Some(limit) if ms > limit => {
                    *field = Some(duration(limit));
                    Some(limit)
                }
                _ => Some(ms),
            }
        };
        let schedule_to_start = cap(&mut a.schedule_to_start_timeout);
        let start_to_close = cap(&mut a.start_to_close_timeout);
        let request_id = uuid::Uuid::new_v4().to_string();
        let nexus_header = a
            .nexus_header
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        let scheduled_event_id = self.append(
            now_ms,
            NexusOperationScheduledEventAttributes {
                endpoint: a.endpoint.clone(),
                service: a.service.clone(),
                operation: a.operation.clone(),
                input: a.input,
                schedule_to_close_timeout: a.schedule_to_close_timeout,
                nexus_header,
                workflow_task_completed_event_id: completed_id,
                request_id: request_id.clone(),
                endpoint_id: endpoint.id.clone(),
                schedule_to_start_timeout: a.schedule_to_start_timeout,
                start_to_close_timeout: a.start_to_close_timeout,
            },
        );
        let (handler_namespace, handler_queue) = match &endpoint.target {
            Target::Worker {
                namespace,
                task_queue,
            } => (namespace.clone(), task_queue.clone()),
            Target::External { .. } => (String::new(), String::new()),
        };
        let op = NexusOperationState {
            scheduled_event_id,
            endpoint: a.endpoint,
            endpoint_id: endpoint.id.clone(),
            service: a.service,
            operation: a.operation,
            request_id,
            handler_namespace,
            handler_queue,
            scheduled_ms: now_ms,
            schedule_to_close_ms: schedule_to_close,
            schedule_to_start_ms: schedule_to_start,
            start_to_close_ms: start_to_close,
            started_ms: None,
            attempt: 1,
            phase: NexusPhase::Starting(Delivery::Scheduled),
            operation_token: String::new(),
            last_failure: None,
            last_attempt_ms: None,
            cancel: None,
        };
        let run_id = self.state.run_id.clone();
        if op.handler_queue.is_empty() {
            // An external endpoint: this engine does not call out over HTTP.
            let failure = handler::handler_failure(
                "NOT_IMPLEMENTED",
                "this engine does not forward Nexus operations to external endpoints",
            );
            self.state.nexus_operations.insert(scheduled_event_id, op);
            self.resolve_nexus(scheduled_event_id, NexusAnswer::Failed(failure), now_ms, fx);
            return;
        }
        op.arm(&run_id, fx);
        self.state.nexus_operations.insert(scheduled_event_id, op);
    }

    /// `RequestCancelNexusOperation`: recorded now, sent to the handler once the operation
    /// has started.
    pub(crate) fn request_cancel_nexus_operation(
        &mut self,
        scheduled_event_id: i64,
        completed_id: i64,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let requested_event_id = self.append(
            now_ms,
            NexusOperationCancelRequestedEventAttributes {
                scheduled_event_id,
                workflow_task_completed_event_id: completed_id,
            },
        );
        let run_id = self.state.run_id.clone();
        let Some(op) = self.state.nexus_operations.get_mut(&scheduled_event_id) else {
            return;
        };
        let phase = if op.phase == NexusPhase::Started {
            CancelPhase::Delivering(Delivery::Scheduled)
        } else {
            CancelPhase::Waiting
        };
        op.cancel = Some(CancelState {
            requested_event_id,
            requested_ms: now_ms,
            attempt: 1,
            phase,
            last_failure: None,
        });
        if phase != CancelPhase::Waiting {
            op.dispatch(&run_id, 1, true, fx);
        }
    }

    /// Pending Nexus operations, as describe lists them.
    pub(crate) fn pending_nexus_operations(&self) -> Vec<PendingNexusOperationInfo> {
        self.state
            .nexus_operations
            .values()
            .map(NexusOperationState::pending_info)
            .collect()
    }
}

/// Refuses a Nexus command that cannot be applied to `exec`, with the real server's cause
/// and message: an endpoint not registered (`endpoints` holds those the completion names),
/// a cancel of an operation that is not pending or already being cancelled.
pub(crate) fn check_nexus(
    command: &Command,
    exec: &Execution,
    endpoints: &HashMap<String, EndpointRecord>,
) -> Result<(), (WorkflowTaskFailedCause, String)> {
    match &command.attributes {
        Some(C::ScheduleNexusOperationCommandAttributes(a))
            if !endpoints.contains_key(&a.endpoint) =>
        {
            Err((
                WorkflowTaskFailedCause::BadScheduleNexusOperationAttributes,
                format!("endpoint {:?} not found", a.endpoint),
            ))
        }
        Some(C::RequestCancelNexusOperationCommandAttributes(a)) => {
            let sev = a.scheduled_event_id;
            let message = match exec.state.nexus_operations.get(&sev) {
                None => format!(
                    "requested cancelation for a non-existing or already completed operation with scheduled event ID of {sev}"
                ),
                Some(op) if op.cancel.is_some() => format!(
                    "cancelation was already requested for an operation with scheduled event ID {sev}"
                ),
                Some(_) => return Ok(()),
            };
            Err((
                WorkflowTaskFailedCause::BadRequestCancelNexusOperationAttributes,
                message,
            ))
        }
        _ => Ok(()),
    }
}

impl Registry {
    /// The registered endpoints that `commands` schedule operations on, by name.
    pub(crate) fn nexus_endpoints_named(
        &self,
        commands: &[Command],
    ) -> HashMap<String, EndpointRecord> {
        commands
            .iter()
            .filter_map(|c| match &c.attributes {
                Some(C::ScheduleNexusOperationCommandAttributes(a)) => self
                    .nexus_endpoints
                    .by_name(&a.endpoint)
                    .map(|e| (a.endpoint.clone(), e.clone())),
                _ => None,
            })
            .collect()
    }
}

impl Registry {
    /// A Nexus operation's timer fired.
    pub(crate) fn on_nexus_timer(
        &mut self,
        run_id: &str,
        scheduled_event_id: i64,
        attempt: i32,
        timer: NexusTimer,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let Some(exec) = self.touch(run_id) else {
            return;
        };
        if !exec.is_open() {
            return;
        }
        let Some(op) = exec.state.nexus_operations.get_mut(&scheduled_event_id) else {
            return;
        };
        if !op.timer_is_live(attempt, timer) {
            return;
        }
        let timeout_type = match timer {
            NexusTimer::ScheduleToClose => TimeoutType::ScheduleToClose,
            NexusTimer::ScheduleToStart => TimeoutType::ScheduleToStart,
            NexusTimer::StartToClose => TimeoutType::StartToClose,
            NexusTimer::Request => {
                let failure = handler::handler_failure("UPSTREAM_TIMEOUT", "request timed out");
                exec.retry_nexus(scheduled_event_id, false, failure, now_ms, fx);
                return;
            }
            NexusTimer::CancelRequest => {
                let failure = handler::handler_failure("UPSTREAM_TIMEOUT", "request timed out");
                exec.retry_nexus(scheduled_event_id, true, failure, now_ms, fx);
                return;
            }
            NexusTimer::Retry => {
                op.phase = NexusPhase::Starting(Delivery::Scheduled);
                op.dispatch(run_id, op.attempt, false, fx);
                exec.dirty = true;
                return;
            }
            NexusTimer::CancelRetry => {
                if let Some(cancel) = op.cancel.as_mut() {
                    cancel.phase = CancelPhase::Delivering(Delivery::Scheduled);
                    let attempt = cancel.attempt;
                    op.dispatch(run_id, attempt, true, fx);
                }
                exec.dirty = true;
                return;
            }
        };
        let Some(op) = exec.state.nexus_operations.remove(&scheduled_event_id) else {
            return;
        };
        let failure = op.failure(Failure {
            message: "operation timed out".to_owned(),
            failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
                timeout_type: timeout_type as i32,
                last_heartbeat_details: None,
            })),
            ..Default::default()
        });
        exec.add_event(
            now_ms,
            Attributes::NexusOperationTimedOutEventAttributes(
                NexusOperationTimedOutEventAttributes {
                    scheduled_event_id,
                    failure: Some(failure),
                    request_id: op.request_id,
                },
            ),
        );
        exec.ensure_workflow_task(now_ms, fx);
    }
}
