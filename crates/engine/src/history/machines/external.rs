//! Reaching other workflows from a workflow: `SignalExternalWorkflowExecution` and
//! `RequestCancelExternalWorkflowExecution` (which is also how a parent cancels a child).
//!
//! The command records an `...Initiated` event; when the completion settles the signal or
//! cancel request is delivered and the sender gets `ExternalWorkflowExecutionSignaled` /
//! `ExternalWorkflowExecutionCancelRequested`, or a `...Failed` event when the target does
//! not exist or has closed.

// `namespace` and `control` are deprecated in the protocol, but SDKs still send them and
// Temporal still copies them from command to events; so do we.
#![allow(deprecated)]

use temporalio_protos::temporal::api::{
    command::v1::{
        RequestCancelExternalWorkflowExecutionCommandAttributes,
        SignalExternalWorkflowExecutionCommandAttributes,
    },
    common::v1::WorkflowExecution,
    enums::v1::{
        CancelExternalWorkflowExecutionFailedCause, SignalExternalWorkflowExecutionFailedCause,
    },
    history::v1::{
        ExternalWorkflowExecutionCancelRequestedEventAttributes,
        ExternalWorkflowExecutionSignaledEventAttributes,
        RequestCancelExternalWorkflowExecutionFailedEventAttributes,
        RequestCancelExternalWorkflowExecutionInitiatedEventAttributes,
        SignalExternalWorkflowExecutionFailedEventAttributes,
        SignalExternalWorkflowExecutionInitiatedEventAttributes, history_event::Attributes,
    },
};

use crate::history::{Effects, Execution, Registry, Signal, lifecycle::outbox::Outbound};

/// A command that reaches another workflow.
pub(crate) enum ExternalCommand {
    Signal(SignalExternalWorkflowExecutionCommandAttributes),
    Cancel(RequestCancelExternalWorkflowExecutionCommandAttributes),
}

impl Execution {
    /// `SignalExternalWorkflowExecution` or `RequestCancelExternalWorkflowExecution`:
    /// records the initiated event; the outbox delivers it in the same operation.
    pub(crate) fn initiate_external(
        &mut self,
        command: ExternalCommand,
        namespace_id: String,
        completed_id: i64,
        now_ms: i64,
    ) {
        let event: Attributes = match command {
            ExternalCommand::Signal(a) => SignalExternalWorkflowExecutionInitiatedEventAttributes {
                workflow_task_completed_event_id: completed_id,
                namespace: self.target_namespace(a.namespace),
                namespace_id,
                workflow_execution: a.execution,
                signal_name: a.signal_name,
                input: a.input,
                control: a.control,
                child_workflow_only: a.child_workflow_only,
                header: a.header,
            }
            .into(),
            ExternalCommand::Cancel(a) => {
                RequestCancelExternalWorkflowExecutionInitiatedEventAttributes {
                    workflow_task_completed_event_id: completed_id,
                    namespace: self.target_namespace(a.namespace),
                    namespace_id,
                    workflow_execution: Some(WorkflowExecution {
                        workflow_id: a.workflow_id,
                        run_id: a.run_id,
                    }),
                    control: a.control,
                    child_workflow_only: a.child_workflow_only,
                    reason: a.reason,
                }
                .into()
            }
        };
        let initiated_event_id = self.append(now_ms, event);
        self.outbox.push(Outbound::External { initiated_event_id });
    }

    fn target_namespace(&self, namespace: String) -> String {
        if namespace.is_empty() {
            self.state.namespace.clone()
        } else {
            namespace
        }
    }

    fn initiated(&self, id: i64) -> Option<Attributes> {
        self.event(id)?.attributes.clone()
    }
}

impl Registry {
    /// Delivers what a `SignalExternalWorkflowExecutionInitiated` or
    /// `RequestCancelExternalWorkflowExecutionInitiated` event of run `sender` asks for, and
    /// tells the sender how it went.
    pub(in crate::history) fn deliver_initiated(
        &mut self,
        sender: &str,
        initiated_event_id: i64,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let Some(exec) = self.runs.get(sender) else {
            return;
        };
        let Some(initiated) = exec.initiated(initiated_event_id) else {
            return;
        };
        let identity = format!("workflow {}", exec.state.workflow_id);
        let event = match initiated {
            Attributes::SignalExternalWorkflowExecutionInitiatedEventAttributes(a) => {
                self.signal_external(sender, initiated_event_id, a, identity, now_ms, fx)
            }
            Attributes::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(a) => {
                self.cancel_external(sender, initiated_event_id, a, &identity, now_ms, fx)
            }
            _ => return,
        };
        self.wake_sender(sender, event, now_ms, fx);
    }

    /// Signals the target; the sender's `ExternalWorkflowExecutionSignaled` or
    /// `SignalExternalWorkflowExecutionFailed` event.
    fn signal_external(
        &mut self,
        sender: &str,
        initiated_event_id: i64,
        a: SignalExternalWorkflowExecutionInitiatedEventAttributes,
        identity: String,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Attributes {
        let target = a.workflow_execution.clone().unwrap_or_default();
        let signal = Signal {
            name: a.signal_name,
            input: a.input,
            identity,
            header: a.header,
            request_id: uuid::Uuid::new_v4().to_string(),
        };
        let delivered = self.deliver_external(
            sender,
            "signal",
            &a.namespace,
            &target,
            |registry, run_id| registry.signal(run_id, signal, now_ms, fx),
        );
        if delivered {
            ExternalWorkflowExecutionSignaledEventAttributes {
                initiated_event_id,
                namespace: a.namespace,
                namespace_id: a.namespace_id,
                workflow_execution: Some(target),
                control: a.control,
            }
            .into()
        } else {
            SignalExternalWorkflowExecutionFailedEventAttributes {
                cause: SignalExternalWorkflowExecutionFailedCause::ExternalWorkflowExecutionNotFound
                    as i32,
                workflow_task_completed_event_id: a.workflow_task_completed_event_id,
                namespace: a.namespace,
                namespace_id: a.namespace_id,
                workflow_execution: Some(target),
                initiated_event_id,
                control: a.control,
            }
            .into()
        }
    }

    /// Asks the target to cancel; the sender's `ExternalWorkflowExecutionCancelRequested`
    /// or `RequestCancelExternalWorkflowExecutionFailed` event.
    fn cancel_external(
        &mut self,
        sender: &str,
        initiated_event_id: i64,
        a: RequestCancelExternalWorkflowExecutionInitiatedEventAttributes,
        identity: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Attributes {
        let target = a.workflow_execution.clone().unwrap_or_default();
        let delivered = self.deliver_external(
            sender,
            "cancel request",
            &a.namespace,
            &target,
            |registry, run_id| registry.request_cancel(run_id, &a.reason, identity, now_ms, fx),
        );
        if delivered {
            ExternalWorkflowExecutionCancelRequestedEventAttributes {
                initiated_event_id,
                namespace: a.namespace,
                namespace_id: a.namespace_id,
                workflow_execution: Some(target),
            }
            .into()
        } else {
            RequestCancelExternalWorkflowExecutionFailedEventAttributes {
                cause: CancelExternalWorkflowExecutionFailedCause::ExternalWorkflowExecutionNotFound
                    as i32,
                workflow_task_completed_event_id: a.workflow_task_completed_event_id,
                namespace: a.namespace,
                namespace_id: a.namespace_id,
                workflow_execution: Some(target),
                initiated_event_id,
                control: a.control,
            }
            .into()
        }
    }

    /// Runs `deliver` on the open run `target` names; false (and logged) when there is none
    /// or it refuses.
    fn deliver_external(
        &mut self,
        sender: &str,
        what: &str,
        namespace: &str,
        target: &WorkflowExecution,
        deliver: impl FnOnce(&mut Self, &str) -> crate::error::Result<()>,
    ) -> bool {
        let delivered = self
            .resolve_open(namespace, &target.workflow_id, &target.run_id)
            .and_then(|run_id| deliver(self, &run_id));
        if let Err(e) = &delivered {
            tracing::debug!(
                run_id = sender,
                workflow_id = target.workflow_id,
                "external {what} not delivered: {e}"
            );
        }
        delivered.is_ok()
    }

    fn wake_sender(&mut self, sender: &str, event: Attributes, now_ms: i64, fx: &mut Effects) {
        let Some(exec) = self.touch(sender) else {
            return;
        };
        if !exec.is_open() {
            return;
        }
        exec.add_event(now_ms, event);
        exec.ensure_workflow_task(now_ms, fx);
        fx.history_changed();
    }
}
