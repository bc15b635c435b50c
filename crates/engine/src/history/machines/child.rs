//! Child workflows: initiated by a parent's `StartChildWorkflowExecution` command, started
//! (or refused, when the workflow id is taken) while the parent's completion settles,
//! reported back to the parent when they close, and subject to the parent-close policy when
//! the parent closes first.
//!
//! Parent events: `StartChildWorkflowExecutionInitiated` -> `ChildWorkflowExecutionStarted`
//! | `StartChildWorkflowExecutionFailed`, then one of `ChildWorkflowExecution{Completed,
//! Failed, Canceled, Terminated, TimedOut}`, each waking the parent with a workflow task.

// `namespace` and `control` are deprecated in the protocol, but SDKs still send them and
// Temporal still copies them from command to events; so do we.
#![allow(deprecated)]

use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::{
    command::v1::StartChildWorkflowExecutionCommandAttributes,
    common::v1::{Priority, WorkflowExecution, WorkflowType},
    enums::v1::{ParentClosePolicy, StartChildWorkflowExecutionFailedCause},
    history::v1::{
        ChildWorkflowExecutionCanceledEventAttributes,
        ChildWorkflowExecutionCompletedEventAttributes,
        ChildWorkflowExecutionFailedEventAttributes, ChildWorkflowExecutionStartedEventAttributes,
        ChildWorkflowExecutionTerminatedEventAttributes,
        ChildWorkflowExecutionTimedOutEventAttributes,
        StartChildWorkflowExecutionFailedEventAttributes,
        StartChildWorkflowExecutionInitiatedEventAttributes, history_event::Attributes,
    },
};

use crate::error::EngineError;
use crate::history::{
    Effects, Execution, NewRun, Registry, lifecycle::outbox::Outbound,
    machines::workflow_task::normal_queue, run::execution::ParentRef,
};

/// A child workflow initiated by this run. Its start options live in the
/// `StartChildWorkflowExecutionInitiated` event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChildState {
    pub(crate) namespace: String,
    pub(crate) workflow_id: String,
    pub(crate) workflow_type: String,
    /// Set once the child has started.
    pub(crate) run_id: Option<String>,
    pub(crate) started_event_id: i64,
    /// A `ParentClosePolicy` value.
    pub(crate) parent_close_policy: i32,
}

const CLOSED_BY_PARENT: &str = "by parent close policy";

impl Execution {
    /// `StartChildWorkflowExecution`: record the intent; the start itself happens when the
    /// completion settles.
    pub(crate) fn initiate_child(
        &mut self,
        a: StartChildWorkflowExecutionCommandAttributes,
        namespace_id: String,
        completed_id: i64,
        now_ms: i64,
    ) {
        let namespace = if a.namespace.is_empty() {
            self.state.namespace.clone()
        } else {
            a.namespace
        };
        let task_queue = a
            .task_queue
            .as_ref()
            .map(|q| q.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.state.task_queue.clone());
        let workflow_type = a.workflow_type.clone().unwrap_or_default();
        let initiated_event_id = self.append(
            now_ms,
            StartChildWorkflowExecutionInitiatedEventAttributes {
                namespace: namespace.clone(),
                namespace_id,
                workflow_id: a.workflow_id.clone(),
                workflow_type: Some(workflow_type.clone()),
                task_queue: Some(normal_queue(&task_queue)),
                input: a.input,
                workflow_execution_timeout: a.workflow_execution_timeout,
                workflow_run_timeout: a.workflow_run_timeout,
                workflow_task_timeout: a.workflow_task_timeout,
                parent_close_policy: a.parent_close_policy,
                control: a.control,
                workflow_task_completed_event_id: completed_id,
                workflow_id_reuse_policy: a.workflow_id_reuse_policy,
                retry_policy: a.retry_policy,
                cron_schedule: a.cron_schedule,
                header: a.header,
                memo: a.memo,
                search_attributes: a.search_attributes,
                priority: a.priority,
                ..Default::default()
            },
        );
        self.state.children.insert(
            initiated_event_id,
            ChildState {
                namespace,
                workflow_id: a.workflow_id,
                workflow_type: workflow_type.name,
                run_id: None,
                started_event_id: 0,
                parent_close_policy: a.parent_close_policy,
            },
        );
        self.outbox
            .push(Outbound::StartChild { initiated_event_id });
    }

    fn initiated_child(
        &self,
        initiated_event_id: i64,
    ) -> Option<&StartChildWorkflowExecutionInitiatedEventAttributes> {
        match self.event(initiated_event_id)?.attributes.as_ref()? {
            Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(a) => Some(a),
            _ => None,
        }
    }
}

impl Registry {
    /// Starts the child a parent initiated and tells the parent how that went.
    pub(in crate::history) fn start_child(
        &mut self,
        parent_run_id: &str,
        initiated_event_id: i64,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let Some(parent) = self.runs.get(parent_run_id) else {
            return;
        };
        let Some(a) = parent.initiated_child(initiated_event_id).cloned() else {
            return;
        };
        let spec = NewRun {
            namespace: a.namespace.clone(),
            workflow_id: a.workflow_id.clone(),
            workflow_type: a
                .workflow_type
                .as_ref()
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            task_queue: a
                .task_queue
                .as_ref()
                .map(|q| q.name.clone())
                .unwrap_or_default(),
            input: a.input.clone(),
            execution_timeout: a.workflow_execution_timeout,
            run_timeout: a.workflow_run_timeout,
            workflow_task_timeout: a.workflow_task_timeout,
            request_id: uuid::Uuid::new_v4().to_string(),
            header: a.header.clone(),
            memo: a.memo.clone(),
            search_attributes: a.search_attributes.clone(),
            retry_policy: a.retry_policy.clone(),
            reuse_policy: a.workflow_id_reuse_policy,
            priority: inherited_priority(a.priority.as_ref(), parent.started_priority()),
            parent: Some(ParentRef {
                namespace: parent.state.namespace.clone(),
                workflow_id: parent.state.workflow_id.clone(),
                run_id: parent_run_id.to_owned(),
                initiated_event_id,
            }),
            ..Default::default()
        };
        let started = self.start_workflow(spec, now_ms, fx);
        let namespace_id = self.namespace_id(&a.namespace);
        let Some(parent) = self.touch(parent_run_id) else {
            return;
        };
        match started {
            Ok(started) => {
                tracing::debug!(
                    workflow_id = a.workflow_id,
                    run_id = started.run_id,
                    parent_run_id,
                    "child workflow started"
                );
                if let Some(child) = parent.state.children.get_mut(&initiated_event_id) {
                    child.run_id = Some(started.run_id.clone());
                }
                parent.dirty = true;
                if !parent.is_open() {
                    return;
                }
                let started_event_id = parent.add_event(
                    now_ms,
                    ChildWorkflowExecutionStartedEventAttributes {
                        namespace: a.namespace,
                        namespace_id,
                        initiated_event_id,
                        workflow_execution: Some(WorkflowExecution {
                            workflow_id: a.workflow_id,
                            run_id: started.run_id,
                        }),
                        workflow_type: a.workflow_type,
                        header: a.header,
                    },
                );
                if let Some(child) = parent.state.children.get_mut(&initiated_event_id) {
                    child.started_event_id = started_event_id;
                }
            }
            Err(e) => {
                let cause = match e {
                    EngineError::AlreadyStarted { .. } => {
                        StartChildWorkflowExecutionFailedCause::WorkflowAlreadyExists
                    }
                    EngineError::NotFound(_) => {
                        StartChildWorkflowExecutionFailedCause::NamespaceNotFound
                    }
                    _ => StartChildWorkflowExecutionFailedCause::Unspecified,
                };
                tracing::debug!(
                    workflow_id = a.workflow_id,
                    parent_run_id,
                    "child workflow not started: {e}"
                );
                parent.state.children.remove(&initiated_event_id);
                parent.dirty = true;
                if !parent.is_open() {
                    return;
                }
                parent.add_event(
                    now_ms,
                    StartChildWorkflowExecutionFailedEventAttributes {
                        namespace: a.namespace,
                        namespace_id,
                        workflow_id: a.workflow_id,
                        workflow_type: a.workflow_type,
                        cause: cause as i32,
                        control: a.control,
                        initiated_event_id,
                        workflow_task_completed_event_id: a.workflow_task_completed_event_id,
                    },
                );
            }
        }
        parent.ensure_workflow_task(now_ms, fx);
        fx.history_changed();
    }

    /// A run closed: if it is a child (and did not continue as new), add the matching
    /// `ChildWorkflowExecution*` event to its open parent and wake the parent.
    pub(in crate::history) fn report_to_parent(
        &mut self,
        run_id: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let Some(exec) = self.runs.get(run_id) else {
            return;
        };
        let Some(parent_ref) = exec.state.parent.clone() else {
            return;
        };
        let Some(close) = exec
            .events
            .last()
            .and_then(|e| e.attributes.clone())
            // A run that a retry (or cron run) follows does not report: the last one does.
            .filter(|_| !exec.is_open() && exec.state.new_run_id.is_none())
        else {
            return;
        };
        let execution = Some(exec.workflow_execution());
        let workflow_type = Some(WorkflowType {
            name: exec.state.workflow_type.clone(),
        });
        let namespace = exec.state.namespace.clone();
        let namespace_id = self.namespace_id(&namespace);
        let Some(parent) = self.touch(&parent_ref.run_id) else {
            return;
        };
        if !parent.is_open() {
            return;
        }
        let initiated_event_id = parent_ref.initiated_event_id;
        let Some(child) = parent.state.children.get(&initiated_event_id) else {
            return;
        };
        let started_event_id = child.started_event_id;
        // Every `ChildWorkflowExecution*` event names the child the same way.
        macro_rules! child_event {
            ($event:ident { $($field:ident: $value:expr),* $(,)? }) => {
                $event {
                    namespace,
                    namespace_id,
                    workflow_execution: execution,
                    workflow_type,
                    initiated_event_id,
                    started_event_id,
                    $($field: $value,)*
                }
                .into()
            };
        }
        let event: Attributes = match close {
            Attributes::WorkflowExecutionCompletedEventAttributes(c) => {
                child_event!(ChildWorkflowExecutionCompletedEventAttributes { result: c.result })
            }
            Attributes::WorkflowExecutionFailedEventAttributes(c) => {
                child_event!(ChildWorkflowExecutionFailedEventAttributes {
                    failure: c.failure,
                    retry_state: c.retry_state,
                })
            }
            Attributes::WorkflowExecutionCanceledEventAttributes(c) => {
                child_event!(ChildWorkflowExecutionCanceledEventAttributes { details: c.details })
            }
            Attributes::WorkflowExecutionTerminatedEventAttributes(_) => {
                child_event!(ChildWorkflowExecutionTerminatedEventAttributes {})
            }
            Attributes::WorkflowExecutionTimedOutEventAttributes(c) => {
                child_event!(ChildWorkflowExecutionTimedOutEventAttributes {
                    retry_state: c.retry_state,
                })
            }
            // Continued as new: the next run reports instead.
            _ => return,
        };
        parent.state.children.remove(&initiated_event_id);
        parent.add_event(now_ms, event);
        parent.ensure_workflow_task(now_ms, fx);
        fx.history_changed();
    }

    /// A parent closed: terminate, cancel or abandon its open children per their policy.
    pub(in crate::history) fn apply_parent_close_policies(
        &mut self,
        run_id: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let Some(exec) = self.touch(run_id) else {
            return;
        };
        if exec.state.children.is_empty() {
            return;
        }
        let children = std::mem::take(&mut exec.state.children);
        exec.dirty = true;
        for child in children.into_values() {
            let Some(target) = self
                .current
                .get(&(child.namespace.clone(), child.workflow_id.clone()))
                .cloned()
            else {
                continue;
            };
            let ours = self.runs.get(&target).is_some_and(|c| {
                c.is_open() && c.state.parent.as_ref().is_some_and(|p| p.run_id == run_id)
            });
            if !ours {
                continue;
            }
            let policy = ParentClosePolicy::try_from(child.parent_close_policy)
                .unwrap_or(ParentClosePolicy::Terminate);
            let applied = match policy {
                ParentClosePolicy::Abandon => Ok(()),
                ParentClosePolicy::RequestCancel => {
                    self.request_cancel(&target, CLOSED_BY_PARENT, "", now_ms, fx)
                }
                ParentClosePolicy::Terminate | ParentClosePolicy::Unspecified => {
                    self.terminate(&target, CLOSED_BY_PARENT, None, "", now_ms, fx)
                }
            };
            if let Err(e) = applied {
                tracing::warn!(
                    workflow_id = child.workflow_id,
                    run_id = target,
                    "parent close policy not applied: {e}"
                );
            }
        }
    }
}

/// A child's priority: each field the start command sets, else its parent's, as on the real
/// server (the initiated event keeps the command's own).
fn inherited_priority(own: Option<&Priority>, parent: Option<Priority>) -> Option<Priority> {
    let Some(parent) = parent else {
        return own.cloned();
    };
    let own = own.cloned().unwrap_or_default();
    Some(Priority {
        priority_key: if own.priority_key != 0 {
            own.priority_key
        } else {
            parent.priority_key
        },
        fairness_key: if own.fairness_key.is_empty() {
            parent.fairness_key
        } else {
            own.fairness_key
        },
        fairness_weight: if own.fairness_weight != 0.0 {
            own.fairness_weight
        } else {
            parent.fairness_weight
        },
    })
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::{
        command::v1::{CompleteWorkflowExecutionCommandAttributes, command::Attributes as C},
        enums::v1::{EventType as E, WorkflowExecutionStatus},
    };

    use super::*;
    use crate::history::testing::{complete, event_types, registry, start, take_task};

    fn start_child(workflow_id: &str) -> C {
        C::StartChildWorkflowExecutionCommandAttributes(
            StartChildWorkflowExecutionCommandAttributes {
                workflow_id: workflow_id.into(),
                workflow_type: Some(WorkflowType { name: "Kid".into() }),
                ..Default::default()
            },
        )
    }

    fn done() -> C {
        C::CompleteWorkflowExecutionCommandAttributes(
            CompleteWorkflowExecutionCommandAttributes::default(),
        )
    }

    fn status(registry: &mut Registry, workflow_id: &str) -> Option<WorkflowExecutionStatus> {
        let run_id = registry.resolve("default", workflow_id, "").ok()?;
        WorkflowExecutionStatus::try_from(registry.run(&run_id).ok()?.state.status).ok()
    }

    #[test]
    fn the_child_starts_and_its_completion_wakes_the_parent() {
        let mut registry = registry();
        let parent = start(&mut registry, "parent");
        let task = take_task(&mut registry, &parent);
        complete(&mut registry, &task, vec![start_child("kid")], vec![]);
        let kid = registry
            .resolve("default", "kid", "")
            .unwrap_or_else(|e| panic!("no child: {e}"));
        let parent_ref = registry.run(&kid).ok().and_then(|k| k.state.parent.clone());
        assert_eq!(parent_ref.map(|p| p.run_id), Some(parent.clone()));
        assert!(event_types(&registry, &parent).ends_with(&[
            E::StartChildWorkflowExecutionInitiated,
            E::ChildWorkflowExecutionStarted,
            E::WorkflowTaskScheduled,
        ]));

        let kid_task = take_task(&mut registry, &kid);
        complete(&mut registry, &kid_task, vec![done()], vec![]);
        assert!(event_types(&registry, &parent).ends_with(&[E::ChildWorkflowExecutionCompleted,]));
        let pending = registry.run(&parent).map(|p| p.state.children.len());
        assert_eq!(pending.ok(), Some(0));
    }

    #[test]
    fn a_taken_id_fails_the_start() {
        let mut registry = registry();
        start(&mut registry, "kid");
        let parent = start(&mut registry, "parent");
        let task = take_task(&mut registry, &parent);
        complete(&mut registry, &task, vec![start_child("kid")], vec![]);
        let failed = registry.run(&parent).ok().and_then(|p| {
            p.events.iter().find_map(|e| match &e.attributes {
                Some(Attributes::StartChildWorkflowExecutionFailedEventAttributes(a)) => {
                    Some(a.cause)
                }
                _ => None,
            })
        });
        assert_eq!(
            failed,
            Some(StartChildWorkflowExecutionFailedCause::WorkflowAlreadyExists as i32)
        );
    }

    #[test]
    fn a_closing_parent_terminates_its_children_by_default() {
        let mut registry = registry();
        let parent = start(&mut registry, "parent");
        let task = take_task(&mut registry, &parent);
        complete(&mut registry, &task, vec![start_child("kid")], vec![]);
        let task = take_task(&mut registry, &parent);
        complete(&mut registry, &task, vec![done()], vec![]);
        assert_eq!(
            status(&mut registry, "parent"),
            Some(WorkflowExecutionStatus::Completed)
        );
        assert_eq!(
            status(&mut registry, "kid"),
            Some(WorkflowExecutionStatus::Terminated)
        );
    }

    #[test]
    fn a_child_takes_each_priority_field_it_does_not_set_from_its_parent() {
        let parent = Priority {
            priority_key: 2,
            fairness_key: "a".into(),
            fairness_weight: 2.5,
        };
        let own = Priority {
            priority_key: 4,
            ..Default::default()
        };
        assert_eq!(
            super::inherited_priority(Some(&own), Some(parent.clone())),
            Some(Priority {
                priority_key: 4,
                fairness_key: "a".into(),
                fairness_weight: 2.5,
            })
        );
        assert_eq!(
            super::inherited_priority(None, Some(parent.clone())),
            Some(parent)
        );
        assert_eq!(super::inherited_priority(Some(&own), None), Some(own));
        assert_eq!(super::inherited_priority(None, None), None);
    }
}
