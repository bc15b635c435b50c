//! `RespondWorkflowTaskCompleted`: apply a worker's commands to its run.
//!
//! The commands are validated first and applied in order after `WorkflowTaskCompleted`; a
//! close command ends the list. A command the engine cannot accept fails the task with a
//! cause (and the call with `InvalidArgument`), as Temporal does. If new events or updates
//! arrived while the worker was deciding to close the run, the task fails with
//! `UNHANDLED_COMMAND` instead, so the worker sees them first. Protocol messages (updates)
//! are applied where their `ProtocolMessage` command stands, the others after the commands.

use std::collections::{HashMap, HashSet};

use temporalio_protos::temporal::api::{
    command::v1::{
        Command, ContinueAsNewWorkflowExecutionCommandAttributes, command::Attributes as C,
    },
    common::v1::WorkflowType,
    enums::v1::{
        ContinueAsNewInitiator, ContinueAsNewVersioningBehavior, WorkflowExecutionStatus,
        WorkflowTaskFailedCause,
    },
    failure::v1::Failure,
    history::v1::{
        MarkerRecordedEventAttributes, UpsertWorkflowSearchAttributesEventAttributes,
        WorkflowExecutionCanceledEventAttributes, WorkflowExecutionCompletedEventAttributes,
        WorkflowExecutionContinuedAsNewEventAttributes, WorkflowExecutionFailedEventAttributes,
        WorkflowPropertiesModifiedEventAttributes, WorkflowTaskCompletedEventAttributes,
    },
    protocol::v1::Message as ProtocolMessage,
    query::v1::WorkflowQueryResult,
    workflowservice::v1::{PollActivityTaskQueueResponse, RespondWorkflowTaskCompletedRequest},
};

use super::nexus::check_nexus;
use super::{
    Effects, Execution, Limits, NewRun, Registry,
    chain::Outcome,
    command_limits,
    external::ExternalCommand,
    limits::{Breach, HISTORY_SERVICE},
    search_attributes,
    versioning::worker_version,
    workflow_task::{WorkflowTaskRef, normal_queue, task_not_found},
};
use crate::{
    deployments::Version,
    error::{EngineError, Result},
    time::duration_ms,
};

/// What applying one command asks of the completion as a whole.
pub(super) enum Applied {
    Done,
    NeedsWorkflowTask,
    /// The run closed and this one follows it: continue-as-new, a retry or a cron run.
    NextRun(Box<NewRun>),
}

/// Answers to queries that rode on the task, by query id.
pub(crate) type QueryResults = HashMap<String, WorkflowQueryResult>;

/// What a completed workflow task gives back: the worker's answers to the queries that
/// rode on it, and the activities it asked to run eagerly, already started.
#[derive(Debug, Default)]
pub(crate) struct Completion {
    pub(crate) query_results: QueryResults,
    pub(crate) activity_tasks: Vec<PollActivityTaskQueueResponse>,
}

impl Registry {
    /// Completes the started workflow task `task` with the worker's commands. Returns the
    /// worker's answers to the queries that rode on the task and the activity tasks it asked
    /// for eagerly.
    pub(crate) fn complete_workflow_task(
        &mut self,
        task: &WorkflowTaskRef<'_>,
        mut request: RespondWorkflowTaskCompletedRequest,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<Completion> {
        let query_results = std::mem::take(&mut request.query_results);
        let namespace = self.run(task.run_id)?.state.namespace.clone();
        let namespace_id = self.namespace_id(&namespace);
        let custom = self.namespace(&namespace)?.search_attributes.clone();
        let limits = self.limits;
        let endpoints = self.nexus_endpoints_named(&request.commands);
        let exec = self.run_mut(task.run_id)?;
        if exec
            .started_task(task.scheduled_event_id, task.started_event_id)
            .is_none()
        {
            return Err(task_not_found());
        }
        let checked = request.commands.iter().try_for_each(|command| {
            validate(command)?;
            check_nexus(command, exec, &endpoints)?;
            check_search_attributes(command, &namespace, &custom)
        });
        if let Err((cause, message)) = checked {
            tracing::warn!(
                workflow_id = exec.state.workflow_id,
                run_id = task.run_id,
                "failing workflow task: {message}"
            );
            let failure = Failure {
                message: message.clone(),
                source: "Server".to_owned(),
                ..Default::default()
            };
            self.fail_workflow_task(
                task,
                cause as i32,
                Some(failure),
                &request.identity,
                now_ms,
                fx,
            )?;
            return Err(EngineError::invalid(message));
        }
        if let Some(breach) = command_limits::check(exec, &request.commands, &limits) {
            return self.fail_on_limit(task, breach, &request.identity, now_ms, fx);
        }
        let closes = request.commands.iter().any(is_close_command);
        if closes && (!exec.buffered.is_empty() || exec.has_undelivered_updates()) {
            self.fail_unhandled_command(task, &request.identity, now_ms, fx)?;
            return Ok(Completion {
                query_results,
                ..Default::default()
            });
        }
        let worker_version = worker_version(request.deployment_options.as_ref());
        let completed_id = exec.append(
            now_ms,
            WorkflowTaskCompletedEventAttributes {
                scheduled_event_id: task.scheduled_event_id,
                started_event_id: task.started_event_id,
                identity: request.identity.clone(),
                sdk_metadata: request.sdk_metadata.clone(),
                metering_metadata: request.metering_metadata,
                versioning_behavior: worker_version
                    .as_ref()
                    .map_or(0, |_| request.versioning_behavior),
                worker_deployment_name: worker_version
                    .as_ref()
                    .map(|v| v.deployment.clone())
                    .unwrap_or_default(),
                deployment_version: worker_version.as_ref().map(Version::to_proto),
                ..Default::default()
            },
        );
        exec.state
            .versioning
            .task_completed(request.versioning_behavior, worker_version);
        exec.state.previous_started_event_id = task.started_event_id;
        exec.state.workflow_task = None;
        exec.set_sticky(request.sticky_attributes.as_ref());
        let mut new_task = request.force_create_new_workflow_task;
        let mut continue_as_new = None;
        let mut inbox = request.messages;
        let mut eager = Vec::new();
        let context = Context {
            namespace_id: &namespace_id,
            completed_id,
            now_ms,
            endpoints: &endpoints,
        };
        for command in request.commands {
            if !exec.is_open() {
                tracing::warn!(
                    run_id = task.run_id,
                    "ignoring commands after a close command"
                );
                break;
            }
            // The command's summary and details go on the event it records, as on the real
            // server (a timer's summary on its `TimerStarted`, and so on).
            let user_metadata = command.user_metadata.clone();
            let first_new_event = exec.events.len();
            let wants_eager = requests_eager_execution(&command);
            let applied = apply(exec, command, &mut inbox, &context, fx);
            if let Some(event) = exec.events.get_mut(first_new_event) {
                if event.user_metadata.is_none() {
                    event.user_metadata = user_metadata;
                }
                if wants_eager {
                    eager.push(event.event_id);
                }
            }
            match applied {
                Applied::Done => {}
                Applied::NeedsWorkflowTask => new_task = true,
                Applied::NextRun(spec) => continue_as_new = Some(spec),
            }
        }
        for message in inbox {
            exec.on_protocol_message(message, completed_id, now_ms);
        }
        if !exec.is_open() {
            // What the commands buffered (an unstarted activity's cancellation) goes with
            // the run's close, as on the real server.
            exec.buffered.clear();
        }
        if exec.is_open() {
            new_task |= exec.flush_buffered();
            new_task |= exec.has_undelivered_updates();
            if new_task {
                exec.schedule_workflow_task(now_ms, 1, fx);
            }
        }
        let answered: HashSet<String> = query_results.keys().cloned().collect();
        exec.after_task_completed(&answered, fx);
        fx.history_changed();
        if let Some(spec) = continue_as_new {
            self.create_run(*spec, now_ms, fx);
        }
        let activity_tasks =
            self.start_activities_eagerly(task.run_id, &eager, &request.identity, now_ms, fx);
        Ok(Completion {
            query_results,
            activity_tasks,
        })
    }
}

/// A `ScheduleActivityTask` command that asks for its first attempt in the response.
fn requests_eager_execution(command: &Command) -> bool {
    matches!(
        &command.attributes,
        Some(C::ScheduleActivityTaskCommandAttributes(a)) if a.request_eager_execution
    )
}

impl Registry {
    /// Fails the task for a broken limit (and terminates the run for an oversized
    /// payload), as the real server does; the worker is told why with `InvalidArgument`.
    fn fail_on_limit(
        &mut self,
        task: &WorkflowTaskRef<'_>,
        breach: Breach,
        identity: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<Completion> {
        tracing::warn!(
            run_id = task.run_id,
            "failing workflow task: {}",
            breach.message
        );
        let failure = Limits::server_failure(&breach.message, None, false);
        self.fail_workflow_task(
            task,
            breach.cause as i32,
            Some(failure),
            identity,
            now_ms,
            fx,
        )?;
        if breach.terminates {
            self.terminate(
                task.run_id,
                &breach.message,
                None,
                HISTORY_SERVICE,
                now_ms,
                fx,
            )?;
        }
        Err(EngineError::invalid(breach.message))
    }
}

/// What every command of one completion shares.
struct Context<'a> {
    namespace_id: &'a str,
    completed_id: i64,
    now_ms: i64,
    /// The Nexus endpoints the completion's commands name, by name.
    endpoints: &'a HashMap<String, crate::nexus::endpoints::EndpointRecord>,
}

fn is_close_command(command: &Command) -> bool {
    matches!(
        command.attributes,
        Some(
            C::CompleteWorkflowExecutionCommandAttributes(_)
                | C::FailWorkflowExecutionCommandAttributes(_)
                | C::CancelWorkflowExecutionCommandAttributes(_)
                | C::ContinueAsNewWorkflowExecutionCommandAttributes(_)
        )
    )
}

type Invalid = (WorkflowTaskFailedCause, String);

fn invalid(cause: WorkflowTaskFailedCause, message: &str) -> Result<(), Invalid> {
    Err((cause, message.to_owned()))
}

/// Rejects commands this engine cannot apply, before anything changes.
fn validate(command: &Command) -> Result<(), Invalid> {
    use WorkflowTaskFailedCause as F;
    match &command.attributes {
        Some(C::ScheduleActivityTaskCommandAttributes(a)) => {
            let cause = F::BadScheduleActivityAttributes;
            if a.activity_id.is_empty() {
                return invalid(cause, "ActivityId is not set on command.");
            }
            if a.activity_type.as_ref().is_none_or(|t| t.name.is_empty()) {
                return invalid(cause, "ActivityType is not set on command.");
            }
            if duration_ms(a.start_to_close_timeout.as_ref()).is_none()
                && duration_ms(a.schedule_to_close_timeout.as_ref()).is_none()
            {
                return invalid(
                    cause,
                    "A valid StartToClose or ScheduleToCloseTimeout is not set on command.",
                );
            }
            Ok(())
        }
        Some(C::StartTimerCommandAttributes(a)) if a.timer_id.is_empty() => {
            invalid(F::BadStartTimerAttributes, "TimerId is not set on command.")
        }
        Some(C::StartChildWorkflowExecutionCommandAttributes(a)) => {
            let cause = F::BadStartChildExecutionAttributes;
            if a.workflow_id.is_empty() {
                return invalid(cause, "Required field WorkflowId is not set on command.");
            }
            if a.workflow_type.as_ref().is_none_or(|t| t.name.is_empty()) {
                return invalid(cause, "Required field WorkflowType is not set on command.");
            }
            Ok(())
        }
        Some(C::SignalExternalWorkflowExecutionCommandAttributes(a)) => {
            let cause = F::BadSignalWorkflowExecutionAttributes;
            if a.execution
                .as_ref()
                .is_none_or(|e| e.workflow_id.is_empty())
            {
                return invalid(cause, "WorkflowId is not set on command.");
            }
            if a.signal_name.is_empty() {
                return invalid(cause, "SignalName is not set on command.");
            }
            Ok(())
        }
        Some(C::RequestCancelExternalWorkflowExecutionCommandAttributes(a))
            if a.workflow_id.is_empty() =>
        {
            invalid(
                F::BadRequestCancelExternalWorkflowExecutionAttributes,
                "WorkflowId is not set on command.",
            )
        }
        Some(_) => Ok(()),
        None => invalid(F::Unspecified, "Command attributes are not set."),
    }
}

/// The search attributes a command sets must be registered and typed right, or the task
/// fails with `BAD_SEARCH_ATTRIBUTES`.
fn check_search_attributes(
    command: &Command,
    namespace: &str,
    custom: &search_attributes::Custom,
) -> Result<(), Invalid> {
    let attributes = match &command.attributes {
        Some(C::UpsertWorkflowSearchAttributesCommandAttributes(a)) => &a.search_attributes,
        Some(C::StartChildWorkflowExecutionCommandAttributes(a)) => &a.search_attributes,
        Some(C::ContinueAsNewWorkflowExecutionCommandAttributes(a)) => &a.search_attributes,
        _ => return Ok(()),
    };
    match attributes {
        Some(a) => search_attributes::check(&a.indexed_fields, namespace, custom)
            .map_err(|message| (WorkflowTaskFailedCause::BadSearchAttributes, message)),
        None => Ok(()),
    }
}

/// Takes the protocol message `id` out of the completion's messages.
fn take_message(inbox: &mut Vec<ProtocolMessage>, id: &str) -> Option<ProtocolMessage> {
    let at = inbox.iter().position(|m| m.id == id)?;
    Some(inbox.remove(at))
}

fn apply(
    exec: &mut Execution,
    command: Command,
    inbox: &mut Vec<ProtocolMessage>,
    cx: &Context<'_>,
    fx: &mut Effects,
) -> Applied {
    let (completed_id, now_ms) = (cx.completed_id, cx.now_ms);
    let Some(attributes) = command.attributes else {
        return Applied::Done;
    };
    match attributes {
        C::StartChildWorkflowExecutionCommandAttributes(a) => {
            exec.initiate_child(a, cx.namespace_id.to_owned(), completed_id, now_ms);
            Applied::Done
        }
        C::SignalExternalWorkflowExecutionCommandAttributes(a) => {
            let command = ExternalCommand::Signal(a);
            exec.initiate_external(command, cx.namespace_id.to_owned(), completed_id, now_ms);
            Applied::Done
        }
        C::RequestCancelExternalWorkflowExecutionCommandAttributes(a) => {
            let command = ExternalCommand::Cancel(a);
            exec.initiate_external(command, cx.namespace_id.to_owned(), completed_id, now_ms);
            Applied::Done
        }
        C::ProtocolMessageCommandAttributes(a) => {
            match take_message(inbox, &a.message_id) {
                Some(message) => exec.on_protocol_message(message, completed_id, now_ms),
                None => tracing::warn!(
                    run_id = exec.state.run_id,
                    message_id = a.message_id,
                    "ProtocolMessage command names no message of the completion"
                ),
            }
            Applied::Done
        }
        C::ScheduleNexusOperationCommandAttributes(a) => {
            if let Some(endpoint) = cx.endpoints.get(&a.endpoint) {
                exec.schedule_nexus_operation(a, endpoint, completed_id, now_ms, fx);
            }
            Applied::Done
        }
        C::RequestCancelNexusOperationCommandAttributes(a) => {
            exec.request_cancel_nexus_operation(a.scheduled_event_id, completed_id, now_ms, fx);
            Applied::Done
        }
        C::ScheduleActivityTaskCommandAttributes(a) => {
            exec.schedule_activity(a, completed_id, now_ms, fx);
            Applied::Done
        }
        C::RequestCancelActivityTaskCommandAttributes(a) => {
            if exec.request_cancel_activity(a.scheduled_event_id, completed_id, now_ms) {
                Applied::NeedsWorkflowTask
            } else {
                Applied::Done
            }
        }
        C::StartTimerCommandAttributes(a) => {
            exec.start_timer(a, completed_id, now_ms, fx);
            Applied::Done
        }
        C::CancelTimerCommandAttributes(a) => {
            exec.cancel_timer(&a.timer_id, completed_id, now_ms);
            Applied::Done
        }
        C::CompleteWorkflowExecutionCommandAttributes(a) => {
            let follow = exec.follow(Outcome::Completed(a.result.as_ref()), now_ms);
            exec.append(
                now_ms,
                WorkflowExecutionCompletedEventAttributes {
                    result: a.result,
                    workflow_task_completed_event_id: completed_id,
                    new_execution_run_id: follow.new_run_id(),
                },
            );
            exec.close_in_chain(now_ms, WorkflowExecutionStatus::Completed, follow.next)
        }
        C::FailWorkflowExecutionCommandAttributes(a) => {
            let failure = a.failure.clone().unwrap_or_default();
            let follow = exec.follow(Outcome::Failed(&failure), now_ms);
            exec.append(
                now_ms,
                WorkflowExecutionFailedEventAttributes {
                    failure: a.failure,
                    retry_state: follow.retry_state as i32,
                    workflow_task_completed_event_id: completed_id,
                    new_execution_run_id: follow.new_run_id(),
                },
            );
            exec.close_in_chain(now_ms, WorkflowExecutionStatus::Failed, follow.next)
        }
        C::CancelWorkflowExecutionCommandAttributes(a) => {
            exec.append(
                now_ms,
                WorkflowExecutionCanceledEventAttributes {
                    workflow_task_completed_event_id: completed_id,
                    details: a.details,
                },
            );
            exec.close(now_ms, WorkflowExecutionStatus::Canceled);
            Applied::Done
        }
        C::ContinueAsNewWorkflowExecutionCommandAttributes(a) => {
            let spec = continue_as_new(exec, a, completed_id, now_ms);
            Applied::NextRun(Box::new(spec))
        }
        C::RecordMarkerCommandAttributes(a) => {
            exec.append(
                now_ms,
                MarkerRecordedEventAttributes {
                    marker_name: a.marker_name,
                    details: a.details,
                    workflow_task_completed_event_id: completed_id,
                    header: a.header,
                    failure: a.failure,
                },
            );
            Applied::Done
        }
        C::UpsertWorkflowSearchAttributesCommandAttributes(a) => {
            exec.append(
                now_ms,
                UpsertWorkflowSearchAttributesEventAttributes {
                    workflow_task_completed_event_id: completed_id,
                    search_attributes: a.search_attributes,
                },
            );
            Applied::Done
        }
        C::ModifyWorkflowPropertiesCommandAttributes(a) => {
            exec.append(
                now_ms,
                WorkflowPropertiesModifiedEventAttributes {
                    workflow_task_completed_event_id: completed_id,
                    upserted_memo: a.upserted_memo,
                },
            );
            Applied::Done
        }
    }
}

/// Closes `exec` as continued-as-new and describes the run that follows it.
fn continue_as_new(
    exec: &mut Execution,
    a: ContinueAsNewWorkflowExecutionCommandAttributes,
    completed_id: i64,
    now_ms: i64,
) -> NewRun {
    let workflow_type = a
        .workflow_type
        .as_ref()
        .map(|t| t.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| exec.state.workflow_type.clone());
    let task_queue = a
        .task_queue
        .as_ref()
        .map(|q| q.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| exec.state.task_queue.clone());
    let run_timeout = a
        .workflow_run_timeout
        .or_else(|| exec.state.run_timeout_ms.map(crate::time::duration));
    let task_timeout = a
        .workflow_task_timeout
        .or_else(|| Some(crate::time::duration(exec.state.workflow_task_timeout_ms)));
    // Unless the command sets them, the next run keeps the memo and search attributes.
    let memo = a.memo.clone().or_else(|| exec.properties.memo());
    let search_attributes = a
        .search_attributes
        .clone()
        .or_else(|| exec.properties.search_attributes());
    let new_run_id = uuid::Uuid::new_v4().to_string();
    let spec = NewRun {
        run_id: Some(new_run_id.clone()),
        namespace: exec.state.namespace.clone(),
        workflow_id: exec.state.workflow_id.clone(),
        workflow_type: workflow_type.clone(),
        task_queue: task_queue.clone(),
        input: a.input.clone(),
        run_timeout,
        workflow_task_timeout: task_timeout,
        header: a.header.clone(),
        memo: memo.clone(),
        search_attributes: search_attributes.clone(),
        retry_policy: a.retry_policy.clone(),
        continued_from: Some((exec.state.run_id.clone(), exec.state.first_run_id.clone())),
        last_completion_result: a.last_completion_result.clone(),
        continued_failure: a.failure.clone(),
        parent: exec.state.parent.clone(),
        versioning: exec.state.versioning.continued(
            task_queue == exec.state.task_queue,
            a.initial_versioning_behavior == ContinueAsNewVersioningBehavior::AutoUpgrade as i32,
        ),
        initiator: ContinueAsNewInitiator::Workflow as i32,
        // The execution timeout spans the whole chain, as on the real server.
        execution_timeout: exec
            .started_attributes()
            .and_then(|s| s.workflow_execution_timeout),
        expiration_ms: exec.expiration_ms(),
        ..Default::default()
    };
    exec.append(
        now_ms,
        WorkflowExecutionContinuedAsNewEventAttributes {
            new_execution_run_id: new_run_id.clone(),
            workflow_type: Some(WorkflowType {
                name: workflow_type,
            }),
            task_queue: Some(normal_queue(&task_queue)),
            input: a.input,
            workflow_run_timeout: run_timeout,
            workflow_task_timeout: task_timeout,
            workflow_task_completed_event_id: completed_id,
            backoff_start_interval: a.backoff_start_interval,
            initiator: a.initiator,
            last_completion_result: a.last_completion_result,
            header: a.header,
            memo,
            search_attributes,
            ..Default::default()
        },
    );
    exec.close(now_ms, WorkflowExecutionStatus::ContinuedAsNew);
    exec.state.new_run_id = Some(new_run_id);
    spec
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::{
        command::v1::{
            CompleteWorkflowExecutionCommandAttributes, ScheduleActivityTaskCommandAttributes,
            SignalExternalWorkflowExecutionCommandAttributes, StartTimerCommandAttributes,
        },
        common::v1::WorkflowExecution,
        enums::v1::EventType,
        history::v1::history_event::Attributes as A,
    };

    use super::*;
    use crate::{
        history::{
            Signal,
            testing::{self, NOW},
        },
        time::duration,
    };

    fn timer(id: &str) -> C {
        C::StartTimerCommandAttributes(StartTimerCommandAttributes {
            timer_id: id.into(),
            start_to_fire_timeout: Some(duration(1_000)),
        })
    }

    fn complete_workflow() -> C {
        C::CompleteWorkflowExecutionCommandAttributes(CompleteWorkflowExecutionCommandAttributes {
            result: None,
        })
    }

    #[test]
    fn an_invalid_command_fails_the_task_and_applies_none_of_them() {
        use WorkflowTaskFailedCause as F;
        let cases = [
            (
                C::ScheduleActivityTaskCommandAttributes(ScheduleActivityTaskCommandAttributes {
                    activity_id: "a".into(),
                    ..Default::default()
                }),
                F::BadScheduleActivityAttributes,
                "ActivityType is not set on command.",
            ),
            (
                timer(""),
                F::BadStartTimerAttributes,
                "TimerId is not set on command.",
            ),
            (
                C::SignalExternalWorkflowExecutionCommandAttributes(
                    SignalExternalWorkflowExecutionCommandAttributes {
                        execution: Some(WorkflowExecution {
                            workflow_id: "other".into(),
                            run_id: String::new(),
                        }),
                        ..Default::default()
                    },
                ),
                F::BadSignalWorkflowExecutionAttributes,
                "SignalName is not set on command.",
            ),
        ];
        for (i, (bad, cause, message)) in cases.into_iter().enumerate() {
            let mut registry = testing::registry();
            let run_id = testing::start(&mut registry, &format!("invalid-{i}"));
            let task = testing::take_task(&mut registry, &run_id);
            let mut fx = Effects::default();
            let outcome = testing::try_complete(
                &mut registry,
                &task,
                vec![timer("fine"), bad],
                vec![],
                &mut fx,
            );
            assert!(
                matches!(&outcome, Err(EngineError::InvalidArgument(m)) if m == message),
                "{outcome:?}"
            );
            let exec = registry.run(&run_id).unwrap_or_else(|e| panic!("{e}"));
            let failed = exec.events.iter().find_map(|e| match &e.attributes {
                Some(A::WorkflowTaskFailedEventAttributes(f)) => Some(f.cause),
                _ => None,
            });
            assert_eq!(failed, Some(cause as i32), "case {i}");
            assert!(
                exec.state.timers.is_empty(),
                "the valid timer was not started"
            );
            assert_eq!(
                exec.state.workflow_task.as_ref().map(|wt| wt.attempt),
                Some(2),
                "the task is retried"
            );
        }
    }

    #[test]
    fn closing_while_a_signal_waits_fails_the_task_as_unhandled_command() {
        let mut registry = testing::registry();
        let run_id = testing::start(&mut registry, "unhandled");
        let task = testing::take_task(&mut registry, &run_id);
        let signal = Signal {
            name: "late".into(),
            input: None,
            identity: String::new(),
            header: None,
            request_id: String::new(),
        };
        let signaled = registry.signal(&run_id, signal, NOW, &mut Effects::default());
        assert!(signaled.is_ok(), "{signaled:?}");
        testing::complete(&mut registry, &task, vec![complete_workflow()], vec![]);
        let exec = registry.run(&run_id).unwrap_or_else(|e| panic!("{e}"));
        assert!(exec.is_open(), "the run did not close");
        let types = testing::event_types(&registry, &run_id);
        assert_eq!(
            types[3..],
            [
                EventType::WorkflowTaskFailed,
                EventType::WorkflowExecutionSignaled,
                EventType::WorkflowTaskScheduled
            ]
        );
    }

    #[test]
    fn commands_after_a_close_command_are_ignored() {
        let mut registry = testing::registry();
        let run_id = testing::start(&mut registry, "after-close");
        testing::decide(
            &mut registry,
            &run_id,
            vec![complete_workflow(), timer("t")],
        );
        let types = testing::event_types(&registry, &run_id);
        assert_eq!(types.last(), Some(&EventType::WorkflowExecutionCompleted));
        assert!(!types.contains(&EventType::TimerStarted), "{types:?}");
    }
}
