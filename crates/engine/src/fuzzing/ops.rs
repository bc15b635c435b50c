//! The operations a chunk of fuzz input can ask for, and the call each one makes.

use std::sync::{Arc, Mutex};

use prost::Message;
use temporalio_protos::temporal::api::{
    command::v1::command::Attributes as C,
    enums::v1::TaskQueueKind,
    taskqueue::v1::TaskQueue,
    workflowservice::v1::{
        CountWorkflowExecutionsRequest, DescribeNamespaceRequest, DescribeWorkflowExecutionRequest,
        GetWorkflowExecutionHistoryRequest, ListNamespacesRequest, ListWorkflowExecutionsRequest,
        PollActivityTaskQueueRequest, PollActivityTaskQueueResponse,
        PollWorkflowExecutionUpdateRequest, PollWorkflowTaskQueueRequest,
        PollWorkflowTaskQueueResponse, QueryWorkflowRequest, RecordActivityTaskHeartbeatRequest,
        RegisterNamespaceRequest, RequestCancelWorkflowExecutionRequest,
        ResetStickyTaskQueueRequest, RespondActivityTaskCanceledRequest,
        RespondActivityTaskCompletedRequest, RespondActivityTaskFailedRequest,
        RespondQueryTaskCompletedRequest, RespondWorkflowTaskCompletedRequest,
        RespondWorkflowTaskFailedRequest, ShutdownWorkerRequest,
        SignalWithStartWorkflowExecutionRequest, SignalWorkflowExecutionRequest,
        StartWorkflowExecutionRequest, TerminateWorkflowExecutionRequest,
        UpdateWorkflowExecutionRequest,
    },
};
use tonic::Request;

use super::{Caller, Seen, Work, check_numbering};
use crate::{
    engine::DEFAULT_NAMESPACE, generated::workflowservice::workflow_service_server::WorkflowService,
};

/// What a chunk does, by `op & 0x1f`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Op {
    Start = 0,
    Signal,
    SignalWithStart,
    Query,
    Update,
    PollUpdate,
    RequestCancel,
    Terminate,
    Describe,
    History,
    List,
    Count,
    /// `ListWorkflowExecutions` in `default` with the body as the query.
    ListQuery,
    /// `CountWorkflowExecutions` in `default` with the body as the query.
    CountQuery,
    PollWorkflowTask,
    CompleteWorkflowTask,
    FailWorkflowTask,
    PollActivityTask,
    CompleteActivity,
    FailActivity,
    CancelActivity,
    Heartbeat,
    CompleteQueryTask,
    RegisterNamespace,
    DescribeNamespace,
    ListNamespaces,
    ResetSticky,
    ShutdownWorker,
    /// Poll a workflow task from a known queue, answer it with the
    /// `RespondWorkflowTaskCompletedRequest` in the body after its first byte (the first
    /// byte picks where to start looking).
    WorkflowTurn,
    /// Poll an activity task from a known queue; body `[start, action, request..]`, the
    /// action picks complete, fail, cancel or heartbeat.
    ActivityTurn,
    /// Sleep `body[0] % 3` ms (0: only yield), so timers can fire.
    Sleep,
    /// Restart the engine from its store.
    Restart,
}

impl Op {
    const ALL: [Op; 32] = [
        Op::Start,
        Op::Signal,
        Op::SignalWithStart,
        Op::Query,
        Op::Update,
        Op::PollUpdate,
        Op::RequestCancel,
        Op::Terminate,
        Op::Describe,
        Op::History,
        Op::List,
        Op::Count,
        Op::ListQuery,
        Op::CountQuery,
        Op::PollWorkflowTask,
        Op::CompleteWorkflowTask,
        Op::FailWorkflowTask,
        Op::PollActivityTask,
        Op::CompleteActivity,
        Op::FailActivity,
        Op::CancelActivity,
        Op::Heartbeat,
        Op::CompleteQueryTask,
        Op::RegisterNamespace,
        Op::DescribeNamespace,
        Op::ListNamespaces,
        Op::ResetSticky,
        Op::ShutdownWorker,
        Op::WorkflowTurn,
        Op::ActivityTurn,
        Op::Sleep,
        Op::Restart,
    ];

    pub(super) fn from_byte(byte: u8) -> Op {
        Self::ALL[usize::from(byte & 0x1f)]
    }
}

macro_rules! rpc {
    ($caller:expr, $method:ident, $request:expr) => {{
        let caller = $caller.clone();
        let request = $request;
        Box::pin(async move {
            let _ = caller
                .call(caller.service.$method(Request::new(request)))
                .await;
        }) as Work
    }};
}

/// The call `op` makes with `body`, or `None` when the body does not decode.
pub(super) fn work(op: Op, svc: &Caller, seen: &Arc<Mutex<Seen>>, body: &[u8]) -> Option<Work> {
    let seen = Arc::clone(seen);
    Some(match op {
        Op::Start => {
            let r = StartWorkflowExecutionRequest::decode(body).ok()?;
            let mut s = Seen::lock(&seen);
            s.namespace(&r.namespace);
            s.queue(r.task_queue.as_ref().map_or("", |q| q.name.as_str()));
            rpc!(svc, start_workflow_execution, r)
        }
        Op::SignalWithStart => {
            let r = SignalWithStartWorkflowExecutionRequest::decode(body).ok()?;
            let mut s = Seen::lock(&seen);
            s.namespace(&r.namespace);
            s.queue(r.task_queue.as_ref().map_or("", |q| q.name.as_str()));
            rpc!(svc, signal_with_start_workflow_execution, r)
        }
        Op::Signal => rpc!(
            svc,
            signal_workflow_execution,
            SignalWorkflowExecutionRequest::decode(body).ok()?
        ),
        Op::Query => rpc!(
            svc,
            query_workflow,
            QueryWorkflowRequest::decode(body).ok()?
        ),
        Op::Update => rpc!(
            svc,
            update_workflow_execution,
            UpdateWorkflowExecutionRequest::decode(body).ok()?
        ),
        Op::PollUpdate => rpc!(
            svc,
            poll_workflow_execution_update,
            PollWorkflowExecutionUpdateRequest::decode(body).ok()?
        ),
        Op::RequestCancel => rpc!(
            svc,
            request_cancel_workflow_execution,
            RequestCancelWorkflowExecutionRequest::decode(body).ok()?
        ),
        Op::Terminate => rpc!(
            svc,
            terminate_workflow_execution,
            TerminateWorkflowExecutionRequest::decode(body).ok()?
        ),
        Op::Describe => rpc!(
            svc,
            describe_workflow_execution,
            DescribeWorkflowExecutionRequest::decode(body).ok()?
        ),
        Op::History => {
            let r = GetWorkflowExecutionHistoryRequest::decode(body).ok()?;
            let svc = svc.clone();
            Box::pin(async move {
                let answer = svc
                    .call(svc.service.get_workflow_execution_history(Request::new(r)))
                    .await;
                if let Some(history) = answer.and_then(|a| a.history) {
                    check_numbering(&history.events);
                }
            })
        }
        Op::List => rpc!(
            svc,
            list_workflow_executions,
            ListWorkflowExecutionsRequest::decode(body).ok()?
        ),
        Op::Count => rpc!(
            svc,
            count_workflow_executions,
            CountWorkflowExecutionsRequest::decode(body).ok()?
        ),
        Op::ListQuery => rpc!(
            svc,
            list_workflow_executions,
            ListWorkflowExecutionsRequest {
                namespace: DEFAULT_NAMESPACE.to_owned(),
                query: String::from_utf8_lossy(body).into_owned(),
                ..Default::default()
            }
        ),
        Op::CountQuery => rpc!(
            svc,
            count_workflow_executions,
            CountWorkflowExecutionsRequest {
                namespace: DEFAULT_NAMESPACE.to_owned(),
                query: String::from_utf8_lossy(body).into_owned(),
            }
        ),
        Op::PollWorkflowTask => {
            let r = PollWorkflowTaskQueueRequest::decode(body).ok()?;
            let svc = svc.clone();
            Box::pin(async move {
                poll_workflow(&svc, &seen, r).await;
            })
        }
        Op::CompleteWorkflowTask => {
            let mut r = RespondWorkflowTaskCompletedRequest::decode(body).ok()?;
            let mut s = Seen::lock(&seen);
            r.task_token = s.resolve_token(r.task_token);
            remember_completion(&mut s, &r);
            rpc!(svc, respond_workflow_task_completed, r)
        }
        Op::FailWorkflowTask => {
            let mut r = RespondWorkflowTaskFailedRequest::decode(body).ok()?;
            r.task_token = Seen::lock(&seen).resolve_token(r.task_token);
            rpc!(svc, respond_workflow_task_failed, r)
        }
        Op::PollActivityTask => {
            let r = PollActivityTaskQueueRequest::decode(body).ok()?;
            let svc = svc.clone();
            Box::pin(async move {
                poll_activity(&svc, &seen, r).await;
            })
        }
        Op::CompleteActivity => {
            let mut r = RespondActivityTaskCompletedRequest::decode(body).ok()?;
            r.task_token = Seen::lock(&seen).resolve_token(r.task_token);
            rpc!(svc, respond_activity_task_completed, r)
        }
        Op::FailActivity => {
            let mut r = RespondActivityTaskFailedRequest::decode(body).ok()?;
            r.task_token = Seen::lock(&seen).resolve_token(r.task_token);
            rpc!(svc, respond_activity_task_failed, r)
        }
        Op::CancelActivity => {
            let mut r = RespondActivityTaskCanceledRequest::decode(body).ok()?;
            r.task_token = Seen::lock(&seen).resolve_token(r.task_token);
            rpc!(svc, respond_activity_task_canceled, r)
        }
        Op::Heartbeat => {
            let mut r = RecordActivityTaskHeartbeatRequest::decode(body).ok()?;
            r.task_token = Seen::lock(&seen).resolve_token(r.task_token);
            rpc!(svc, record_activity_task_heartbeat, r)
        }
        Op::CompleteQueryTask => {
            let mut r = RespondQueryTaskCompletedRequest::decode(body).ok()?;
            r.task_token = Seen::lock(&seen).resolve_token(r.task_token);
            rpc!(svc, respond_query_task_completed, r)
        }
        Op::RegisterNamespace => {
            let r = RegisterNamespaceRequest::decode(body).ok()?;
            Seen::lock(&seen).namespace(&r.namespace);
            rpc!(svc, register_namespace, r)
        }
        Op::DescribeNamespace => rpc!(
            svc,
            describe_namespace,
            DescribeNamespaceRequest::decode(body).ok()?
        ),
        Op::ListNamespaces => rpc!(
            svc,
            list_namespaces,
            ListNamespacesRequest::decode(body).ok()?
        ),
        Op::ResetSticky => rpc!(
            svc,
            reset_sticky_task_queue,
            ResetStickyTaskQueueRequest::decode(body).ok()?
        ),
        Op::ShutdownWorker => rpc!(
            svc,
            shutdown_worker,
            ShutdownWorkerRequest::decode(body).ok()?
        ),
        Op::WorkflowTurn => {
            let (start, request) = body.split_first().map_or((0, body), |(s, r)| (*s, r));
            let r = RespondWorkflowTaskCompletedRequest::decode(request).unwrap_or_default();
            let svc = svc.clone();
            Box::pin(async move { workflow_turn(&svc, &seen, start, r).await })
        }
        Op::ActivityTurn => {
            let (start, action, request) = match body {
                [s, a, rest @ ..] => (*s, *a, rest),
                [s] => (*s, 0, &[][..]),
                [] => (0, 0, &[][..]),
            };
            let request = request.to_vec();
            let svc = svc.clone();
            Box::pin(async move { activity_turn(&svc, &seen, start, action, request).await })
        }
        // The session handles these itself.
        Op::Sleep | Op::Restart => return None,
    })
}

/// Remembers the queues a completion names, so later turns poll them.
fn remember_completion(seen: &mut Seen, r: &RespondWorkflowTaskCompletedRequest) {
    if let Some(q) = r
        .sticky_attributes
        .as_ref()
        .and_then(|s| s.worker_task_queue.as_ref())
    {
        seen.sticky_queue(&q.name);
    }
    for command in &r.commands {
        let queue = match &command.attributes {
            Some(C::ScheduleActivityTaskCommandAttributes(a)) => a.task_queue.as_ref(),
            Some(C::StartChildWorkflowExecutionCommandAttributes(a)) => a.task_queue.as_ref(),
            Some(C::ContinueAsNewWorkflowExecutionCommandAttributes(a)) => a.task_queue.as_ref(),
            _ => None,
        };
        if let Some(q) = queue {
            seen.queue(&q.name);
        }
    }
}

/// Polls for a workflow task; remembers its token and checks its history.
async fn poll_workflow(
    svc: &Caller,
    seen: &Mutex<Seen>,
    r: PollWorkflowTaskQueueRequest,
) -> Option<PollWorkflowTaskQueueResponse> {
    let task = svc
        .call(svc.service.poll_workflow_task_queue(Request::new(r)))
        .await
        .filter(|t| !t.task_token.is_empty())?;
    if let Some(history) = task.history.as_ref() {
        check_numbering(&history.events);
    }
    Seen::lock(seen).token(&task.task_token);
    Some(task)
}

/// Polls for an activity task; remembers its token.
async fn poll_activity(
    svc: &Caller,
    seen: &Mutex<Seen>,
    r: PollActivityTaskQueueRequest,
) -> Option<PollActivityTaskQueueResponse> {
    let task = svc
        .call(svc.service.poll_activity_task_queue(Request::new(r)))
        .await
        .filter(|t| !t.task_token.is_empty())?;
    Seen::lock(seen).token(&task.task_token);
    Some(task)
}

fn queue(name: String, sticky: bool) -> TaskQueue {
    TaskQueue {
        name,
        kind: if sticky {
            TaskQueueKind::Sticky as i32
        } else {
            TaskQueueKind::Normal as i32
        },
        normal_name: String::new(),
    }
}

/// Takes a workflow task from the first known queue (from `start` on) that has one, and
/// completes it with `r`, pointed at the task: its token, its queries, its updates.
async fn workflow_turn(
    svc: &Caller,
    seen: &Mutex<Seen>,
    start: u8,
    mut r: RespondWorkflowTaskCompletedRequest,
) {
    let targets: Vec<_> = {
        let s = Seen::lock(seen);
        let normal = s.poll_targets(false).into_iter().map(|t| (t, false));
        normal
            .chain(s.poll_targets(true).into_iter().map(|t| (t, true)))
            .collect()
    };
    let n = targets.len();
    for i in 0..n {
        let ((namespace, name), sticky) = targets[(usize::from(start) + i) % n].clone();
        let poll = PollWorkflowTaskQueueRequest {
            namespace: namespace.clone(),
            task_queue: Some(queue(name, sticky)),
            identity: "fuzz".into(),
            ..Default::default()
        };
        let Some(task) = poll_workflow(svc, seen, poll).await else {
            continue;
        };
        r.task_token = task.task_token;
        if r.namespace.is_empty() {
            r.namespace = namespace;
        }
        // Query ids are random: answer the task's queries in order of id instead.
        if !r.query_results.is_empty() {
            let mut ids: Vec<_> = task.queries.into_keys().collect();
            ids.sort();
            let mut answers: Vec<_> = std::mem::take(&mut r.query_results).into_iter().collect();
            answers.sort_by(|a, b| a.0.cmp(&b.0));
            r.query_results = answers
                .into_iter()
                .enumerate()
                .map(|(i, (id, answer))| (ids.get(i).cloned().unwrap_or(id), answer))
                .collect();
        }
        for (i, message) in r.messages.iter_mut().enumerate() {
            if message.protocol_instance_id.is_empty()
                && let Some(delivered) = task.messages.get(i % task.messages.len().max(1))
            {
                message.protocol_instance_id = delivered.protocol_instance_id.clone();
            }
        }
        remember_completion(&mut Seen::lock(seen), &r);
        let _ = svc
            .call(svc.service.respond_workflow_task_completed(Request::new(r)))
            .await;
        return;
    }
}

/// Takes an activity task from the first known queue (from `start` on) that has one, and
/// answers it: `action % 4` picks complete, fail, cancel or heartbeat, with the request
/// decoded from `body` (or the default one).
async fn activity_turn(svc: &Caller, seen: &Mutex<Seen>, start: u8, action: u8, body: Vec<u8>) {
    let targets = Seen::lock(seen).poll_targets(false);
    let n = targets.len();
    for i in 0..n {
        let (namespace, name) = targets[(usize::from(start) + i) % n].clone();
        let poll = PollActivityTaskQueueRequest {
            namespace: namespace.clone(),
            task_queue: Some(queue(name, false)),
            identity: "fuzz".into(),
            ..Default::default()
        };
        let Some(task) = poll_activity(svc, seen, poll).await else {
            continue;
        };
        let token = task.task_token;
        macro_rules! answer {
            ($request:ty, $method:ident) => {{
                let mut r = <$request>::decode(body.as_slice()).unwrap_or_default();
                r.task_token = token;
                r.namespace = namespace;
                let _ = svc.call(svc.service.$method(Request::new(r))).await;
            }};
        }
        match action % 4 {
            0 => answer!(
                RespondActivityTaskCompletedRequest,
                respond_activity_task_completed
            ),
            1 => answer!(
                RespondActivityTaskFailedRequest,
                respond_activity_task_failed
            ),
            2 => answer!(
                RespondActivityTaskCanceledRequest,
                respond_activity_task_canceled
            ),
            _ => answer!(
                RecordActivityTaskHeartbeatRequest,
                record_activity_task_heartbeat
            ),
        }
        return;
    }
}
