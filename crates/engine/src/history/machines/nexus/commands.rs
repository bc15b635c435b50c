//! The commands of a caller's workflow task that drive the Nexus operation machine:
//! `ScheduleNexusOperation` (to the endpoint's worker target, its timeouts capped as the
//! real server caps them) and `RequestCancelNexusOperation`, with the checks that fail the
//! workflow task first; and the pending operations describe lists.

use std::collections::HashMap;

use temporalio_protos::temporal::api::{
    command::v1::{Command, ScheduleNexusOperationCommandAttributes, command::Attributes as C},
    enums::v1::WorkflowTaskFailedCause,
    history::v1::{
        NexusOperationCancelRequestedEventAttributes, NexusOperationScheduledEventAttributes,
    },
    workflow::v1::PendingNexusOperationInfo,
};

use super::{
    CancelPhase, CancelState, Delivery, NexusAnswer, NexusOperationState, NexusPhase, handler,
};
use crate::history::{Effects, Execution, Registry};
use crate::{
    nexus::endpoints::{EndpointRecord, Target},
    time::{duration, duration_ms},
};

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
