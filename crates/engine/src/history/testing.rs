//! Helpers for the state machines' inline tests: a registry with one namespace, runs
//! started and workflow tasks taken and completed by hand, the way the runtime would.

use temporalio_protos::temporal::api::{
    command::v1::{Command, command::Attributes as C},
    enums::v1::EventType,
    protocol::v1::Message as ProtocolMessage,
    workflowservice::v1::{PollWorkflowTaskQueueResponse, RespondWorkflowTaskCompletedRequest},
};

use crate::history::{
    ActivityRef, Effect, Effects, NewRun, Poller, Registry, Task, TimerKey, WorkflowTaskRef,
    completion::commands::{Completion, QueryResults},
    run::token::TaskToken,
};

pub(crate) const NOW: i64 = 1_700_000_000_000;

pub(crate) fn registry() -> Registry {
    let mut registry = Registry::default();
    registry.ensure_namespace("default", 86_400_000);
    registry
}

/// Attempt `attempt` of the activity scheduled by event `scheduled_event_id` of run `run_id`.
pub(crate) fn attempt(run_id: &str, scheduled_event_id: i64, attempt: i32) -> ActivityRef<'_> {
    ActivityRef {
        run_id,
        scheduled_event_id,
        attempt,
    }
}

/// Starts workflow `workflow_id` on queue `q`; returns its run id.
pub(crate) fn start(registry: &mut Registry, workflow_id: &str) -> String {
    let spec = NewRun {
        namespace: "default".into(),
        workflow_id: workflow_id.into(),
        workflow_type: "T".into(),
        task_queue: "q".into(),
        ..Default::default()
    };
    let mut fx = Effects::default();
    let started = registry
        .start_workflow(spec, NOW, &mut fx)
        .unwrap_or_else(|e| panic!("start {workflow_id}: {e}"));
    registry.settle(NOW, &mut fx);
    started.run_id
}

/// Hands the run's scheduled workflow task to a (non-sticky) poller.
pub(crate) fn take_task(registry: &mut Registry, run_id: &str) -> PollWorkflowTaskQueueResponse {
    let scheduled = registry
        .run(run_id)
        .ok()
        .and_then(|e| e.state.workflow_task.as_ref())
        .map(|wt| wt.scheduled_event_id)
        .unwrap_or_else(|| panic!("run {run_id} has no workflow task"));
    let poller = Poller {
        identity: "worker",
        ..Default::default()
    };
    registry
        .start_workflow_task(run_id, scheduled, &poller, NOW, &mut Effects::default())
        .unwrap_or_else(|| panic!("run {run_id}: the task is stale"))
}

/// Completes `task` with `commands` and `messages`, then settles cross-run work.
pub(crate) fn complete(
    registry: &mut Registry,
    task: &PollWorkflowTaskQueueResponse,
    commands: Vec<C>,
    messages: Vec<ProtocolMessage>,
) -> (QueryResults, Effects) {
    let mut fx = Effects::default();
    let completion = try_complete(registry, task, commands, messages, &mut fx)
        .unwrap_or_else(|e| panic!("complete: {e}"));
    (completion.query_results, fx)
}

/// Like [`complete`], but returns what the completion returned.
pub(crate) fn try_complete(
    registry: &mut Registry,
    task: &PollWorkflowTaskQueueResponse,
    commands: Vec<C>,
    messages: Vec<ProtocolMessage>,
    fx: &mut Effects,
) -> crate::error::Result<Completion> {
    let TaskToken::Workflow {
        run_id,
        scheduled_event_id,
        started_event_id,
    } = TaskToken::decode(&task.task_token).unwrap_or_else(|e| panic!("token: {e}"))
    else {
        panic!("not a workflow task token");
    };
    let task = WorkflowTaskRef {
        run_id: &run_id,
        scheduled_event_id,
        started_event_id,
    };
    let request = RespondWorkflowTaskCompletedRequest {
        commands: commands
            .into_iter()
            .map(|attributes| Command {
                attributes: Some(attributes),
                ..Default::default()
            })
            .collect(),
        messages,
        ..Default::default()
    };
    let answers = registry.complete_workflow_task(&task, request, NOW, fx);
    registry.settle(NOW, fx);
    answers
}

/// The types of a run's events, in order.
pub(crate) fn event_types(registry: &Registry, run_id: &str) -> Vec<EventType> {
    registry
        .run(run_id)
        .map(|e| {
            e.events
                .iter()
                .map(|ev| EventType::try_from(ev.event_type).unwrap_or(EventType::Unspecified))
                .collect()
        })
        .unwrap_or_default()
}

/// Takes the run's workflow task and completes it with `commands`; returns the effects.
pub(crate) fn decide(registry: &mut Registry, run_id: &str, commands: Vec<C>) -> Effects {
    let task = take_task(registry, run_id);
    complete(registry, &task, commands, vec![]).1
}

/// The timers `fx` arms, in order.
pub(crate) fn timers(fx: &Effects) -> Vec<(i64, TimerKey)> {
    fx.0.iter()
        .filter_map(|e| match e {
            Effect::Timer { at_ms, timer } => Some((*at_ms, timer.clone())),
            _ => None,
        })
        .collect()
}

/// The tasks `fx` puts on queues, in order.
pub(crate) fn dispatched(fx: &Effects) -> Vec<Task> {
    fx.0.iter()
        .filter_map(|e| match e {
            Effect::Dispatch { task, .. } => Some(task.clone()),
            _ => None,
        })
        .collect()
}
