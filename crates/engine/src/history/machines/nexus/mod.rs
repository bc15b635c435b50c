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
mod commands;
mod handler;
#[cfg(test)]
mod tests;

use prost::Message;
use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::{
    enums::v1::{NexusOperationCancellationState, PendingNexusOperationState, TimeoutType},
    failure::v1::{Failure, NexusOperationFailureInfo, TimeoutFailureInfo, failure::FailureInfo},
    history::v1::{NexusOperationTimedOutEventAttributes, history_event::Attributes},
    workflow::v1::{NexusOperationCancellationInfo, PendingNexusOperationInfo},
};

pub(crate) use callbacks::{CompletionCallback, completion_callbacks};
pub(crate) use commands::check_nexus;
pub(crate) use handler::NexusAnswer;
pub(crate) use handler::task_failure as nexus_task_failure;

use crate::history::{Effects, QueueKind, Registry, Task, TimerKey};
use crate::time::{duration, timestamp};

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
