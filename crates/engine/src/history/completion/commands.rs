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
    command::v1::{Command, command::Attributes as C},
    common::v1::WorkerVersionStamp,
    failure::v1::Failure,
    history::v1::WorkflowTaskCompletedEventAttributes,
    query::v1::WorkflowQueryResult,
    workflowservice::v1::{PollActivityTaskQueueResponse, RespondWorkflowTaskCompletedRequest},
};

use super::{
    apply::{Context, apply},
    validate::{check_search_attributes, validate},
};
use crate::history::machines::nexus::check_nexus;
use crate::history::{
    Effects, Limits, NewRun, Registry,
    completion::command_limits,
    lifecycle::versioning::worker_version,
    machines::workflow_task::{WorkflowTaskRef, task_not_found},
    rules::limits::{Breach, HISTORY_SERVICE},
};
use crate::{
    error::{EngineError, Result},
    matching::deployments::Version,
};

/// What applying one command asks of the completion as a whole.
pub(in crate::history) enum Applied {
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
        let stamp = build_id_stamp(&request);
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
                worker_deployment_name: request
                    .deployment_options
                    .as_ref()
                    .map(|o| o.deployment_name.clone())
                    .unwrap_or_default(),
                deployment_version: worker_version.as_ref().map(Version::to_proto),
                #[allow(deprecated)]
                worker_version: stamp,
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

/// The build id a completion reports (its deployment options', else the deprecated stamp's
/// or binary checksum), as the real server records it on `WorkflowTaskCompleted` for
/// versioned and unversioned workers alike; the SDKs read their current build id from it.
#[allow(deprecated)]
fn build_id_stamp(request: &RespondWorkflowTaskCompletedRequest) -> Option<WorkerVersionStamp> {
    let build_id = request
        .deployment_options
        .as_ref()
        .map(|o| o.build_id.as_str())
        .filter(|b| !b.is_empty())
        .or_else(|| {
            request
                .worker_version_stamp
                .as_ref()
                .map(|s| s.build_id.as_str())
                .filter(|b| !b.is_empty())
        })
        .unwrap_or(&request.binary_checksum);
    if build_id.is_empty() {
        return None;
    }
    Some(WorkerVersionStamp {
        build_id: build_id.to_owned(),
        ..Default::default()
    })
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
        use temporalio_protos::temporal::api::enums::v1::WorkflowTaskFailedCause as F;
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
