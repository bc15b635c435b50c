//! Worker RPCs: long polls for workflow and activity tasks, and the responses to them.

use std::time::Duration;

use temporalio_protos::temporal::api::{
    command::v1::command::Attributes,
    deployment::v1::WorkerDeploymentOptions,
    enums::v1::{QueryResultType, TaskQueueKind, WorkerVersioningMode},
    taskqueue::v1::TaskQueue,
    workflowservice::v1::{
        PollActivityTaskQueueRequest, PollActivityTaskQueueResponse, PollWorkflowTaskQueueRequest,
        PollWorkflowTaskQueueResponse, RecordActivityTaskHeartbeatByIdRequest,
        RecordActivityTaskHeartbeatByIdResponse, RecordActivityTaskHeartbeatRequest,
        RecordActivityTaskHeartbeatResponse, ResetStickyTaskQueueRequest,
        RespondActivityTaskCanceledByIdRequest, RespondActivityTaskCanceledRequest,
        RespondActivityTaskCompletedByIdRequest, RespondActivityTaskCompletedRequest,
        RespondActivityTaskFailedByIdRequest, RespondActivityTaskFailedRequest,
        RespondQueryTaskCompletedRequest, RespondWorkflowTaskCompletedRequest,
        RespondWorkflowTaskCompletedResponse, RespondWorkflowTaskFailedRequest,
        ShutdownWorkerRequest,
    },
};
use tokio::time::Instant;

use super::{Service, deployments};
use crate::{
    error::{EngineError, Result},
    history::{
        ActivityRef, Effects, Poller, QueueKind, Registry, TargetVersion, Task, WorkflowTaskRef,
        run::token::TaskToken,
    },
    matching::{QueueKey, Worker},
    runtime::{EngineRuntime, QueryOutcome, SeenPoller},
    time::now_ms,
};

/// The rate a poller reports when its worker sets none: the real server's default.
const DEFAULT_POLLER_RATE: f64 = 100_000.0;

/// The queue a poll names, once its namespace is known to exist.
fn poll_key(
    rt: &EngineRuntime,
    namespace: &str,
    queue: Option<&TaskQueue>,
    kind: QueueKind,
) -> Result<QueueKey> {
    rt.read(|registry| registry.namespace(namespace).map(|_| ()))?;
    let name = queue
        .map(|q| q.name.as_str())
        .filter(|q| !q.is_empty())
        .ok_or_else(|| EngineError::invalid("TaskQueue is not set on request."))?;
    Ok(QueueKey {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        kind,
    })
}

pub(super) async fn poll_workflow_task(
    svc: &Service,
    r: PollWorkflowTaskQueueRequest,
) -> Result<PollWorkflowTaskQueueResponse> {
    let rt = &svc.runtime;
    let key = poll_key(rt, &r.namespace, r.task_queue.as_ref(), QueueKind::Workflow)?;
    let target = |queue: &str, workflow_id: &str| {
        deployments::target_version(rt, &key.namespace, queue, workflow_id)
    };
    let poller = Poller {
        identity: &r.identity,
        sticky: r
            .task_queue
            .as_ref()
            .is_some_and(|q| q.kind == TaskQueueKind::Sticky as i32),
        build_id: unversioned_build_id(&r),
        target: Some(TargetVersion(&target)),
    };
    let worker = deployments::poller(rt, &key, r.deployment_options.as_ref(), poller.sticky);
    let deadline = Instant::now() + svc.long_poll;
    let seen = seen_poller(rt, &r.identity, None, r.deployment_options.clone());
    loop {
        let Some(task) = poll_queue(rt, &key, &worker, seen.clone(), deadline).await else {
            return Ok(PollWorkflowTaskQueueResponse::default());
        };
        let response = match task {
            Task::Workflow {
                run_id,
                scheduled_event_id,
            } => rt.execute_unacknowledged(|registry, now, fx| {
                Ok(registry.start_workflow_task(&run_id, scheduled_event_id, &poller, now, fx))
            })?,
            Task::Query { query_id } => query_task(rt, &query_id),
            Task::Activity { .. } | Task::Nexus { .. } => None,
        };
        if let Some(mut response) = response {
            response.queries.retain(|id, _| rt.queries.is_waiting(id));
            response.backlog_count_hint =
                i64::try_from(rt.matching.backlog(&key)).unwrap_or(i64::MAX);
            return Ok(response);
        }
    }
}

/// The build id an unversioned worker polls with (deployment options, else the deprecated
/// capabilities or binary checksum, which the SDKs send it in when the server does not
/// advertise build-id versioning); empty for a versioned worker, whose version the task's
/// completion records.
#[allow(deprecated)]
fn unversioned_build_id(r: &PollWorkflowTaskQueueRequest) -> &str {
    match r.deployment_options.as_ref() {
        Some(o) if o.worker_versioning_mode == WorkerVersioningMode::Versioned as i32 => "",
        Some(o) if !o.build_id.is_empty() => &o.build_id,
        _ => r
            .worker_version_capabilities
            .as_ref()
            .map(|c| c.build_id.as_str())
            .filter(|b| !b.is_empty())
            .unwrap_or(&r.binary_checksum),
    }
}

/// A legacy query task for a query still waiting for its answer.
fn query_task(rt: &EngineRuntime, query_id: &str) -> Option<PollWorkflowTaskQueueResponse> {
    let (run_id, query) = rt.queries.get(query_id)?;
    rt.read(|registry| {
        // Queries may target closed runs, which may have left memory since.
        registry.load(&run_id).then_some(())?;
        Some(registry.run(&run_id).ok()?.query_task(query_id, query))
    })
}

fn workflow_token(bytes: &[u8]) -> Result<(String, i64, i64)> {
    match TaskToken::decode(bytes)? {
        TaskToken::Workflow {
            run_id,
            scheduled_event_id,
            started_event_id,
        } => Ok((run_id, scheduled_event_id, started_event_id)),
        _ => Err(EngineError::invalid("not a workflow task token")),
    }
}

fn activity_token(bytes: &[u8]) -> Result<(String, i64, i32)> {
    match TaskToken::decode(bytes)? {
        // Event ids start at 1; the engine never hands out a token naming another.
        TaskToken::Activity {
            run_id,
            scheduled_event_id,
            attempt,
        } if scheduled_event_id >= 1 => Ok((run_id, scheduled_event_id, attempt)),
        TaskToken::Activity { .. } => Err(EngineError::invalid("Error deserializing task token.")),
        _ => Err(EngineError::invalid("not an activity task token")),
    }
}

/// Runs `op` on the started workflow task that `token` names.
async fn on_workflow_task<T>(
    rt: &EngineRuntime,
    token: &[u8],
    op: impl FnOnce(&mut Registry, &WorkflowTaskRef<'_>, i64, &mut Effects) -> Result<T>,
) -> Result<T> {
    let (run_id, scheduled_event_id, started_event_id) = workflow_token(token)?;
    let task = WorkflowTaskRef {
        run_id: &run_id,
        scheduled_event_id,
        started_event_id,
    };
    rt.execute(|registry, now, fx| op(registry, &task, now, fx))
        .await
}

/// `RespondWorkflowTaskCompleted`; answers with the activity tasks it started eagerly.
pub(super) async fn complete_workflow_task(
    rt: &EngineRuntime,
    r: RespondWorkflowTaskCompletedRequest,
) -> Result<RespondWorkflowTaskCompletedResponse> {
    let token = r.task_token.clone();
    let mut r = r;
    no_eager_past_rate_limits(rt, &token, &mut r);
    let completion = on_workflow_task(rt, &token, |registry, task, now, fx| {
        registry.complete_workflow_task(task, r, now, fx)
    })
    .await?;
    for (query_id, answer) in completion.query_results {
        let outcome = if answer.result_type == QueryResultType::Answered as i32 {
            QueryOutcome::Answered(answer.answer)
        } else {
            QueryOutcome::Failed(failure_message(answer.failure, answer.error_message))
        };
        rt.queries.answer(&query_id, outcome);
    }
    Ok(RespondWorkflowTaskCompletedResponse {
        activity_tasks: completion.activity_tasks,
        ..Default::default()
    })
}

/// Activities bound for a rate-limited queue are not started eagerly: their tasks go
/// through the queue, whose limit paces them (as the dev server does).
fn no_eager_past_rate_limits(
    rt: &EngineRuntime,
    token: &[u8],
    r: &mut RespondWorkflowTaskCompletedRequest,
) {
    let Ok((run_id, _, _)) = workflow_token(token) else {
        return;
    };
    let Some(own_queue) = rt.read(|registry| {
        let run = registry.run(&run_id).ok()?;
        Some(run.task_queue().to_owned())
    }) else {
        return;
    };
    let namespace = r.namespace.clone();
    for command in &mut r.commands {
        let Some(Attributes::ScheduleActivityTaskCommandAttributes(a)) = &mut command.attributes
        else {
            continue;
        };
        let queue = a
            .task_queue
            .as_ref()
            .map(|q| q.name.clone())
            .filter(|q| !q.is_empty())
            .unwrap_or_else(|| own_queue.clone());
        let key = QueueKey {
            namespace: namespace.clone(),
            name: queue,
            kind: QueueKind::Activity,
        };
        if a.request_eager_execution && rt.task_queues.rate_limit(&key).is_some() {
            a.request_eager_execution = false;
        }
    }
}

/// A failed query's message: the failure's, or the legacy error message.
fn failure_message(
    failure: Option<temporalio_protos::temporal::api::failure::v1::Failure>,
    error_message: String,
) -> String {
    failure
        .map(|f| f.message)
        .filter(|m| !m.is_empty())
        .unwrap_or(error_message)
}

pub(super) async fn fail_workflow_task(
    rt: &EngineRuntime,
    r: RespondWorkflowTaskFailedRequest,
) -> Result<()> {
    on_workflow_task(rt, &r.task_token, |registry, task, now, fx| {
        registry.fail_workflow_task(task, r.cause, r.failure, &r.identity, now, fx)
    })
    .await
}

pub(super) fn complete_query_task(
    rt: &EngineRuntime,
    r: RespondQueryTaskCompletedRequest,
) -> Result<()> {
    let TaskToken::Query { query_id } = TaskToken::decode(&r.task_token)? else {
        return Err(EngineError::invalid("not a query task token"));
    };
    let limits = rt.read(|registry| registry.limits);
    let outcome = if r.completed_type == QueryResultType::Answered as i32 {
        match limits.check_blob(r.query_result.as_ref()) {
            Ok(()) => QueryOutcome::Answered(r.query_result),
            // As the real server does: the caller is told the answer was too large.
            Err(e) => QueryOutcome::Failed(e.to_string()),
        }
    } else {
        QueryOutcome::Failed(failure_message(r.failure, r.error_message))
    };
    if rt.queries.answer(&query_id, outcome) {
        Ok(())
    } else {
        Err(EngineError::not_found(
            "query not found or already timed out",
        ))
    }
}

pub(super) async fn poll_activity_task(
    svc: &Service,
    r: PollActivityTaskQueueRequest,
) -> Result<PollActivityTaskQueueResponse> {
    let rt = &svc.runtime;
    let key = poll_key(rt, &r.namespace, r.task_queue.as_ref(), QueueKind::Activity)?;
    let worker = deployments::poller(rt, &key, r.deployment_options.as_ref(), false);
    let deadline = Instant::now() + svc.long_poll;
    let rate = r
        .task_queue_metadata
        .as_ref()
        .and_then(|m| m.max_tasks_per_second);
    let seen = seen_poller(rt, &r.identity, rate, r.deployment_options.clone());
    loop {
        let Some(task) = poll_queue(rt, &key, &worker, seen.clone(), deadline).await else {
            return Ok(PollActivityTaskQueueResponse::default());
        };
        let Task::Activity {
            run_id,
            scheduled_event_id,
            attempt,
        } = task
        else {
            continue;
        };
        let started = rt.execute_unacknowledged(|registry, now, fx| {
            Ok(registry.start_activity(&run_id, scheduled_event_id, attempt, &r.identity, now, fx))
        })?;
        if let Some(response) = started {
            return Ok(response);
        }
    }
}

/// A poller as describe shows it; a rate the worker did not give is the real server's
/// default.
fn seen_poller(
    rt: &EngineRuntime,
    identity: &str,
    rate: Option<f64>,
    deployment: Option<WorkerDeploymentOptions>,
) -> SeenPoller {
    SeenPoller {
        identity: identity.to_owned(),
        last_access_ms: rt.clock.now_ms(),
        rate_per_second: rate.unwrap_or(DEFAULT_POLLER_RATE),
        deployment,
    }
}

/// One long poll of `key`: records the poller, waits until the queue's rate limit allows
/// one more dispatch, then for a task, and counts the dispatch against the limit.
async fn poll_queue(
    rt: &EngineRuntime,
    key: &QueueKey,
    worker: &Worker,
    poller: SeenPoller,
    deadline: Instant,
) -> Option<Task> {
    rt.task_queues.polled(key, poller);
    while let Err(wait_ms) = rt.task_queues.admit(key, now_ms()) {
        let wait = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0));
        let until = (Instant::now() + wait).min(deadline);
        tokio::select! {
            () = tokio::time::sleep_until(until) => {}
            () = rt.shutting_down() => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
    }
    let task = rt
        .matching
        .poll(key, worker, deadline, rt.shutting_down())
        .await;
    if task.is_some() {
        rt.task_queues.dispatched(key, now_ms());
        rt.task_queues.spend(key, now_ms());
    }
    task
}

/// Runs `op` on the activity attempt that `token` names.
async fn on_activity<T>(
    rt: &EngineRuntime,
    token: &[u8],
    op: impl FnOnce(&mut Registry, &ActivityRef<'_>, i64, &mut Effects) -> Result<T>,
) -> Result<T> {
    let (run_id, scheduled_event_id, attempt) = activity_token(token)?;
    let activity = ActivityRef {
        run_id: &run_id,
        scheduled_event_id,
        attempt,
    };
    rt.execute(|registry, now, fx| op(registry, &activity, now, fx))
        .await
}

/// A worker's answer to an activity task.
pub(super) enum ActivityAnswer {
    Completed(RespondActivityTaskCompletedRequest),
    /// Boxed: a failure with its details is several times the size of the others.
    Failed(Box<RespondActivityTaskFailedRequest>),
    Canceled(RespondActivityTaskCanceledRequest),
}

/// `RespondActivityTaskCompleted`, `RespondActivityTaskFailed`, `RespondActivityTaskCanceled`.
pub(super) async fn answer_activity(rt: &EngineRuntime, answer: ActivityAnswer) -> Result<()> {
    let token = match &answer {
        ActivityAnswer::Completed(r) => r.task_token.clone(),
        ActivityAnswer::Failed(r) => r.task_token.clone(),
        ActivityAnswer::Canceled(r) => r.task_token.clone(),
    };
    on_activity(rt, &token, |registry, activity, now, fx| match answer {
        ActivityAnswer::Completed(r) => {
            registry.complete_activity(activity, r.result, &r.identity, now, fx)
        }
        ActivityAnswer::Failed(r) => {
            let r = *r;
            let failure = r.failure.unwrap_or_default();
            let details = r.last_heartbeat_details;
            registry.fail_activity(activity, failure, details, &r.identity, now, fx)
        }
        ActivityAnswer::Canceled(r) => {
            registry.cancel_activity(activity, r.details, &r.identity, now, fx)
        }
    })
    .await
}

pub(super) async fn heartbeat(
    rt: &EngineRuntime,
    r: RecordActivityTaskHeartbeatRequest,
) -> Result<RecordActivityTaskHeartbeatResponse> {
    let answer = on_activity(rt, &r.task_token, |registry, activity, now, fx| {
        registry.heartbeat_activity(activity, r.details, now, fx)
    })
    .await?;
    Ok(RecordActivityTaskHeartbeatResponse {
        cancel_requested: answer.cancel_requested,
        activity_paused: answer.paused,
        activity_reset: answer.reset,
    })
}

/// The activity a `...ById` request names instead of handing back its task token (an empty
/// run id means the workflow's latest run).
struct ById<'a> {
    namespace: &'a str,
    workflow_id: &'a str,
    run_id: &'a str,
    activity_id: &'a str,
}

impl<'a> ById<'a> {
    fn new(
        namespace: &'a str,
        workflow_id: &'a str,
        run_id: &'a str,
        activity_id: &'a str,
    ) -> Self {
        Self {
            namespace,
            workflow_id,
            run_id,
            activity_id,
        }
    }
}

/// Runs `op` on the current attempt of the activity `id` names, as its worker would.
/// With no workflow id, `id` names a standalone activity: one that `finishes` is answered
/// even before a worker took it, as on the real server.
async fn on_activity_by_id<T>(
    rt: &EngineRuntime,
    id: ById<'_>,
    finishes: bool,
    op: impl FnOnce(&mut Registry, &ActivityRef<'_>, i64, &mut Effects) -> Result<T>,
) -> Result<T> {
    rt.execute(|registry, now, fx| {
        let (run_id, scheduled_event_id, attempt) = if id.workflow_id.is_empty() {
            registry.standalone_by_id(id.namespace, id.run_id, id.activity_id, finishes, now)?
        } else {
            registry.activity_by_id(id.namespace, id.workflow_id, id.run_id, id.activity_id)?
        };
        let activity = ActivityRef {
            run_id: &run_id,
            scheduled_event_id,
            attempt,
        };
        op(registry, &activity, now, fx)
    })
    .await
}

/// `RespondActivityTaskCompletedById`: completes the activity's current attempt, as its
/// worker would.
pub(super) async fn complete_activity_by_id(
    rt: &EngineRuntime,
    r: RespondActivityTaskCompletedByIdRequest,
) -> Result<()> {
    let id = ById::new(&r.namespace, &r.workflow_id, &r.run_id, &r.activity_id);
    on_activity_by_id(rt, id, true, |registry, activity, now, fx| {
        registry.complete_activity(activity, r.result, &r.identity, now, fx)
    })
    .await
}

pub(super) async fn fail_activity_by_id(
    rt: &EngineRuntime,
    r: RespondActivityTaskFailedByIdRequest,
) -> Result<()> {
    let failure = r.failure.unwrap_or_default();
    let id = ById::new(&r.namespace, &r.workflow_id, &r.run_id, &r.activity_id);
    on_activity_by_id(rt, id, true, |registry, activity, now, fx| {
        let details = r.last_heartbeat_details;
        registry.fail_activity(activity, failure, details, &r.identity, now, fx)
    })
    .await
}

pub(super) async fn cancel_activity_by_id(
    rt: &EngineRuntime,
    r: RespondActivityTaskCanceledByIdRequest,
) -> Result<()> {
    let id = ById::new(&r.namespace, &r.workflow_id, &r.run_id, &r.activity_id);
    on_activity_by_id(rt, id, true, |registry, activity, now, fx| {
        registry.cancel_activity(activity, r.details, &r.identity, now, fx)
    })
    .await
}

pub(super) async fn heartbeat_by_id(
    rt: &EngineRuntime,
    r: RecordActivityTaskHeartbeatByIdRequest,
) -> Result<RecordActivityTaskHeartbeatByIdResponse> {
    let id = ById::new(&r.namespace, &r.workflow_id, &r.run_id, &r.activity_id);
    let answer = on_activity_by_id(rt, id, false, |registry, activity, now, fx| {
        registry.heartbeat_activity(activity, r.details, now, fx)
    })
    .await?;
    Ok(RecordActivityTaskHeartbeatByIdResponse {
        cancel_requested: answer.cancel_requested,
        activity_paused: answer.paused,
        activity_reset: answer.reset,
    })
}

pub(super) async fn reset_sticky(rt: &EngineRuntime, r: ResetStickyTaskQueueRequest) -> Result<()> {
    let execution = r
        .execution
        .ok_or_else(|| EngineError::invalid("Execution is not set on request."))?;
    rt.execute(|registry, now, fx| {
        let run_id = registry
            .resolve(&r.namespace, &execution.workflow_id, &execution.run_id)?
            .to_owned();
        registry.reset_sticky(&run_id, now, fx);
        Ok(())
    })
    .await
}

/// `ShutdownWorker`: the worker's sticky queue gets no more polls, so its runs' tasks go to
/// the normal queues at once instead of after the sticky timeout.
pub(super) async fn shutdown_worker(rt: &EngineRuntime, r: ShutdownWorkerRequest) -> Result<()> {
    if let Some(heartbeat) = r.worker_heartbeat.clone() {
        rt.workers
            .record(&r.namespace, heartbeat, rt.clock.now_ms());
    }
    if r.sticky_task_queue.is_empty() {
        return Ok(());
    }
    rt.execute(|registry, now, fx| {
        registry.release_sticky_queue(&r.namespace, &r.sticky_task_queue, now, fx);
        Ok(())
    })
    .await
}
