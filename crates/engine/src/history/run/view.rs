//! Read-only views of runs, for the API layer: what describe, list, polls and queries show
//! of a run. `api/` reads runs only through these, never their fields.

use temporalio_protos::temporal::api::{
    common::v1::{ActivityType, Payload, SearchAttributes, WorkflowExecution, WorkflowType},
    enums::v1::{PendingActivityState, PendingWorkflowTaskState},
    history::v1::HistoryEvent,
    workflow::v1::{
        PendingActivityInfo, PendingChildExecutionInfo, PendingWorkflowTaskInfo,
        WorkflowExecutionConfig, WorkflowExecutionInfo,
        pending_activity_info::{
            PauseInfo,
            pause_info::{Manual, PausedBy},
        },
    },
    workflowservice::v1::DescribeWorkflowExecutionResponse,
};

use crate::history::{
    Execution, Registry,
    machines::activity::{ActivityPhase, ActivityState},
    machines::workflow_task::normal_queue,
    rules::search_attributes,
};
use crate::time::{duration, timestamp};

impl Execution {
    /// The run's workflow id and run id.
    pub(crate) fn workflow_execution(&self) -> WorkflowExecution {
        WorkflowExecution {
            workflow_id: self.state.workflow_id.clone(),
            run_id: self.state.run_id.clone(),
        }
    }

    /// The root of this run's parent chain, when it is a child.
    pub(crate) fn root_execution(&self) -> Option<WorkflowExecution> {
        self.events.first().and_then(|e| match &e.attributes {
            Some(
                temporalio_protos::temporal::api::history::v1::history_event::Attributes::WorkflowExecutionStartedEventAttributes(a),
            ) => a.root_workflow_execution.clone(),
            _ => None,
        })
        .or_else(|| Some(self.workflow_execution()))
    }

    pub(crate) fn workflow_id(&self) -> &str {
        &self.state.workflow_id
    }

    pub(crate) fn run_id(&self) -> &str {
        &self.state.run_id
    }

    /// The first run of its continue-as-new chain.
    pub(crate) fn first_run_id(&self) -> &str {
        &self.state.first_run_id
    }

    pub(crate) fn workflow_type(&self) -> &str {
        &self.state.workflow_type
    }

    pub(crate) fn task_queue(&self) -> &str {
        &self.state.task_queue
    }

    /// A `WorkflowExecutionStatus` value.
    pub(crate) fn status(&self) -> i32 {
        self.state.status
    }

    pub(crate) fn start_time_ms(&self) -> i64 {
        self.state.start_time_ms
    }

    pub(crate) fn close_time_ms(&self) -> Option<i64> {
        self.state.close_time_ms
    }

    /// The run that continued this one (continue-as-new, a retry, the next cron run).
    pub(crate) fn new_run_id(&self) -> Option<&str> {
        self.state.new_run_id.as_deref()
    }

    /// The events written so far (not those buffered behind a workflow task in flight).
    pub(crate) fn history(&self) -> &[HistoryEvent] {
        &self.events
    }

    /// The parent run, when a `StartChildWorkflowExecution` command started this one.
    pub(crate) fn parent_execution(&self) -> Option<WorkflowExecution> {
        self.state.parent.as_ref().map(|p| WorkflowExecution {
            workflow_id: p.workflow_id.clone(),
            run_id: p.run_id.clone(),
        })
    }

    /// A search attribute the run carries now.
    pub(crate) fn search_attribute(&self, name: &str) -> Option<&Payload> {
        self.properties.search_attributes.get(name)
    }
}

impl Registry {
    /// The summary of a run that describe and list show.
    pub(crate) fn execution_info(&self, exec: &Execution) -> WorkflowExecutionInfo {
        let state = &exec.state;
        let parent_namespace_id = state
            .parent
            .as_ref()
            .map(|p| self.namespace_id(&p.namespace))
            .unwrap_or_default();
        WorkflowExecutionInfo {
            execution: Some(exec.workflow_execution()),
            r#type: Some(WorkflowType {
                name: state.workflow_type.clone(),
            }),
            start_time: Some(timestamp(state.start_time_ms)),
            close_time: state.close_time_ms.map(timestamp),
            status: state.status,
            history_length: i64::try_from(exec.events.len()).unwrap_or(i64::MAX),
            execution_time: Some(timestamp(exec.execution_time_ms())),
            task_queue: state.task_queue.clone(),
            first_run_id: state.first_run_id.clone(),
            execution_duration: state
                .close_time_ms
                .map(|close| duration(close - state.start_time_ms)),
            parent_namespace_id,
            parent_execution: state.parent.as_ref().map(|p| WorkflowExecution {
                workflow_id: p.workflow_id.clone(),
                run_id: p.run_id.clone(),
            }),
            root_execution: exec.root_execution(),
            auto_reset_points: exec.reset_points(),
            memo: exec.properties.memo(),
            priority: exec.started_priority(),
            search_attributes: self.typed_search_attributes(exec),
            ..Default::default()
        }
    }

    /// A run's search attributes with the `type` metadata the real server adds.
    fn typed_search_attributes(&self, exec: &Execution) -> Option<SearchAttributes> {
        let custom = self
            .namespaces
            .get(&exec.state.namespace)
            .map(|n| &n.search_attributes);
        let mut attributes = exec.properties.search_attributes()?;
        for (name, payload) in &mut attributes.indexed_fields {
            let ty = custom.and_then(|c| search_attributes::type_of(name, c));
            *payload = search_attributes::with_type(payload, ty);
        }
        Some(attributes)
    }

    /// The workflow runs of `namespace` in memory: every open one and the recently closed
    /// ones (standalone activities' runs are not workflows: `activities_in`).
    pub(crate) fn runs_in<'a>(&'a self, namespace: &'a str) -> impl Iterator<Item = &'a Execution> {
        self.runs
            .values()
            .filter(move |e| e.state.namespace == namespace && !e.is_standalone())
    }

    /// Every run in memory.
    pub(crate) fn runs_in_memory(&self) -> impl Iterator<Item = &Execution> {
        self.runs.values()
    }

    /// What `DescribeWorkflowExecution` shows of a run.
    pub(crate) fn describe(&self, exec: &Execution) -> DescribeWorkflowExecutionResponse {
        DescribeWorkflowExecutionResponse {
            execution_config: Some(WorkflowExecutionConfig {
                task_queue: Some(normal_queue(&exec.state.task_queue)),
                workflow_run_timeout: exec.state.run_timeout_ms.map(duration),
                default_workflow_task_timeout: Some(duration(exec.state.workflow_task_timeout_ms)),
                user_metadata: exec.events.first().and_then(|e| e.user_metadata.clone()),
                ..Default::default()
            }),
            workflow_execution_info: Some(WorkflowExecutionInfo {
                versioning_info: exec.state.versioning.info(),
                ..self.execution_info(exec)
            }),
            pending_activities: exec
                .state
                .activities
                .values()
                .map(|a| pending_activity(exec, a))
                .collect(),
            pending_nexus_operations: exec.pending_nexus_operations(),
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
        }
    }
}

fn pending_activity(exec: &Execution, a: &ActivityState) -> PendingActivityInfo {
    use prost::Message;
    let attributes = exec.activity_attributes(a.scheduled_event_id);
    let state = match (a.phase, a.cancel_requested_event_id, &a.paused) {
        (_, Some(_), _) => PendingActivityState::CancelRequested,
        (ActivityPhase::Started, None, Some(_)) => PendingActivityState::PauseRequested,
        (_, None, Some(_)) => PendingActivityState::Paused,
        (ActivityPhase::Started, None, None) => PendingActivityState::Started,
        _ => PendingActivityState::Scheduled,
    };
    let pause_info = a.paused.as_ref().map(|p| PauseInfo {
        pause_time: Some(timestamp(p.time_ms)),
        paused_by: Some(PausedBy::Manual(Manual {
            identity: p.identity.clone(),
            reason: p.reason.clone(),
        })),
    });
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
        maximum_attempts: attributes.map_or(0, |x| a.retry_policy(x).maximum_attempts),
        scheduled_time: Some(timestamp(a.scheduled_time_ms)),
        last_failure: a
            .last_failure
            .as_deref()
            .and_then(|b| temporalio_protos::temporal::api::failure::v1::Failure::decode(b).ok()),
        last_worker_identity: a.identity.clone(),
        next_attempt_schedule_time: (a.phase == ActivityPhase::Backoff)
            .then(|| timestamp(a.attempt_scheduled_time_ms)),
        paused: a.paused.is_some(),
        pause_info,
        ..Default::default()
    }
}
