//! Batch operations: one operation (terminate, cancel, signal, update options) applied to
//! every run a visibility query matches, or to a list of executions, in the background at a
//! bounded rate (`max_operations_per_second`, 50 by default, as the real server's batcher),
//! one running job per namespace (the real server's default limit), with progress counts.
//! A batch runs the same operations as the single-run RPCs, one after another; a run that
//! is gone or already closed counts as done, as the real batcher ignores "not found".

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use temporalio_protos::temporal::api::{
    batch::v1::BatchOperationInfo,
    common::v1::{Execution, WorkflowExecution},
    enums::v1::{BatchOperationState, BatchOperationType},
    workflowservice::v1::{
        DescribeBatchOperationRequest, DescribeBatchOperationResponse, ListBatchOperationsRequest,
        ListBatchOperationsResponse, ListWorkflowExecutionsRequest,
        RequestCancelWorkflowExecutionRequest, SignalWorkflowExecutionRequest,
        StartBatchOperationRequest, StopBatchOperationRequest, TerminateWorkflowExecutionRequest,
        UpdateWorkflowExecutionOptionsRequest, start_batch_operation_request::Operation,
    },
};
use tokio::sync::watch;
use tonic::Status;

use super::{Service, visibility, workflows};
use crate::{error::EngineError, time::timestamp};

/// Operations a second when the request gives none, as the real server's batcher.
const DEFAULT_RPS: f32 = 50.0;

/// Every batch job, by (namespace, job id).
#[derive(Debug, Default)]
pub(crate) struct Batches {
    jobs: Mutex<BTreeMap<(String, String), Job>>,
}

#[derive(Debug)]
struct Job {
    info: DescribeBatchOperationResponse,
    stop: watch::Sender<bool>,
}

impl Batches {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<(String, String), Job>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(
        &self,
        namespace: &str,
        job_id: &str,
        f: impl FnOnce(&mut DescribeBatchOperationResponse),
    ) {
        if let Some(job) = self
            .lock()
            .get_mut(&(namespace.to_owned(), job_id.to_owned()))
        {
            f(&mut job.info);
        }
    }
}

/// What a job does to one run.
#[derive(Debug, Clone)]
enum Action {
    Terminate {
        identity: String,
        details: Option<temporalio_protos::temporal::api::common::v1::Payloads>,
    },
    Cancel {
        identity: String,
    },
    Signal(Box<SignalWorkflowExecutionRequest>),
    UpdateOptions(Box<UpdateWorkflowExecutionOptionsRequest>),
}

fn invalid(message: impl Into<String>) -> Status {
    Status::invalid_argument(message)
}

/// The action and its type, or why the operation is refused.
fn action(operation: Option<Operation>) -> Result<(Action, BatchOperationType, String), Status> {
    let refuse = |what: &str| {
        Status::unimplemented(format!(
            "batch {what} is not offered by this engine: run the single-run RPC per workflow instead"
        ))
    };
    Ok(match operation {
        None => {
            return Err(invalid(
                "must provide required parameters: BatchType,Reason,Namespace, AND one of (Query OR Executions OR TargetExecutions)",
            ));
        }
        Some(Operation::TerminationOperation(t)) => (
            Action::Terminate {
                identity: t.identity.clone(),
                details: t.details,
            },
            BatchOperationType::TerminateWorkflow,
            t.identity,
        ),
        Some(Operation::CancellationOperation(c)) => (
            Action::Cancel {
                identity: c.identity.clone(),
            },
            BatchOperationType::CancelWorkflow,
            c.identity,
        ),
        Some(Operation::SignalOperation(s)) => (
            Action::Signal(Box::new(SignalWorkflowExecutionRequest {
                signal_name: s.signal,
                input: s.input,
                header: s.header,
                identity: s.identity.clone(),
                ..Default::default()
            })),
            BatchOperationType::SignalWorkflow,
            s.identity,
        ),
        Some(Operation::UpdateWorkflowOptionsOperation(u)) => (
            Action::UpdateOptions(Box::new(UpdateWorkflowExecutionOptionsRequest {
                workflow_execution_options: u.workflow_execution_options,
                update_mask: u.update_mask,
                identity: u.identity.clone(),
                ..Default::default()
            })),
            BatchOperationType::UpdateWorkflowExecutionOptions,
            u.identity,
        ),
        Some(Operation::DeletionOperation(_)) => {
            return Err(refuse(
                "deletion (workflow deletion is not offered yet: issue 21)",
            ));
        }
        Some(Operation::ResetOperation(_)) => return Err(refuse("reset")),
        Some(_) => return Err(refuse("of activities")),
    })
}

// `executions` is deprecated for `target_executions`, but older clients still send it.
#[allow(deprecated)]
pub(super) fn start(svc: &Service, r: StartBatchOperationRequest) -> Result<(), Status> {
    let rt = &svc.runtime;
    rt.read(|registry| registry.namespace(&r.namespace).map(|_| ()))?;
    let has_targets = !r.visibility_query.is_empty()
        || !r.executions.is_empty()
        || !r.target_executions.is_empty();
    if r.reason.is_empty() || !has_targets {
        return Err(invalid(
            "must provide required parameters: BatchType,Reason,Namespace, AND one of (Query OR Executions OR TargetExecutions)",
        ));
    }
    if r.job_id.is_empty() {
        return Err(invalid("JobId is not set on request."));
    }
    let (action, operation_type, identity) = action(r.operation)?;
    let mut executions: Vec<WorkflowExecution> = r.executions;
    executions.extend(
        r.target_executions
            .into_iter()
            .map(|e: Execution| WorkflowExecution {
                workflow_id: e.business_id,
                run_id: e.run_id,
            }),
    );
    let rps = if r.max_operations_per_second > 0.0 {
        r.max_operations_per_second
    } else {
        DEFAULT_RPS
    };
    let (stop, stopped) = watch::channel(false);
    {
        let mut jobs = svc.batches.lock();
        let running = jobs.iter().any(|((namespace, _), job)| {
            *namespace == r.namespace && job.info.state == BatchOperationState::Running as i32
        });
        if running || jobs.contains_key(&(r.namespace.clone(), r.job_id.clone())) {
            return Err(Status::resource_exhausted(
                "Max concurrent batch operations is reached",
            ));
        }
        let info = DescribeBatchOperationResponse {
            operation_type: operation_type as i32,
            job_id: r.job_id.clone(),
            state: BatchOperationState::Running as i32,
            start_time: Some(timestamp(rt.clock.now_ms())),
            identity,
            reason: r.reason.clone(),
            query: r.visibility_query.clone(),
            ..Default::default()
        };
        jobs.insert((r.namespace.clone(), r.job_id.clone()), Job { info, stop });
    }
    tracing::info!(namespace = %r.namespace, job_id = %r.job_id, ?operation_type, "batch operation started");
    let job = Run {
        svc: svc.clone(),
        namespace: r.namespace,
        job_id: r.job_id,
        reason: r.reason,
        query: r.visibility_query,
        executions,
        action,
        interval: Duration::from_secs_f32(1.0 / rps),
    };
    tokio::spawn(job.run(stopped));
    Ok(())
}

/// One job being run.
struct Run {
    svc: Service,
    namespace: String,
    job_id: String,
    reason: String,
    query: String,
    executions: Vec<WorkflowExecution>,
    action: Action,
    interval: Duration,
}

impl Run {
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let batches = Arc::clone(&self.svc.batches);
        let targets = match self.targets().await {
            Ok(targets) => targets,
            Err(error) => {
                tracing::warn!(job_id = %self.job_id, %error, "batch operation cannot list its runs");
                self.close(BatchOperationState::Failed);
                return;
            }
        };
        let total = i64::try_from(targets.len()).unwrap_or(i64::MAX);
        batches.update(&self.namespace, &self.job_id, |info| {
            info.total_operation_count = total
        });
        let mut tick = tokio::time::interval(self.interval);
        for execution in targets {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.wait_for(|stop| *stop) => return,
                () = self.svc.runtime.shutting_down() => return,
            }
            let done = match self.apply(execution).await {
                Ok(()) | Err(EngineError::NotFound(_)) => true,
                Err(error) => {
                    tracing::debug!(job_id = %self.job_id, %error, "batch operation failed on a run");
                    false
                }
            };
            batches.update(&self.namespace, &self.job_id, |info| {
                if done {
                    info.complete_operation_count += 1;
                } else {
                    info.failure_operation_count += 1;
                }
            });
        }
        self.close(BatchOperationState::Completed);
    }

    fn close(&self, state: BatchOperationState) {
        let now = self.svc.runtime.clock.now_ms();
        self.svc
            .batches
            .update(&self.namespace, &self.job_id, |info| {
                if info.state == BatchOperationState::Running as i32 {
                    info.state = state as i32;
                    info.close_time = Some(timestamp(now));
                }
            });
        tracing::info!(job_id = %self.job_id, ?state, "batch operation closed");
    }

    /// The listed executions, or every run the query matches when the job starts.
    async fn targets(&self) -> Result<Vec<WorkflowExecution>, EngineError> {
        if self.query.is_empty() {
            return Ok(self.executions.clone());
        }
        let mut targets = Vec::new();
        let mut next_page_token = Vec::new();
        loop {
            let page = visibility::list(
                &self.svc,
                &ListWorkflowExecutionsRequest {
                    namespace: self.namespace.clone(),
                    page_size: 1000,
                    next_page_token,
                    query: self.query.clone(),
                },
            )
            .await?;
            targets.extend(
                page.executions
                    .into_iter()
                    .filter_map(|info| info.execution),
            );
            if page.next_page_token.is_empty() {
                return Ok(targets);
            }
            next_page_token = page.next_page_token;
        }
    }

    async fn apply(&self, execution: WorkflowExecution) -> Result<(), EngineError> {
        let rt = &self.svc.runtime;
        let namespace = self.namespace.clone();
        match &self.action {
            Action::Terminate { identity, details } => {
                workflows::terminate(
                    rt,
                    TerminateWorkflowExecutionRequest {
                        namespace,
                        workflow_execution: Some(execution),
                        reason: self.reason.clone(),
                        details: details.clone(),
                        identity: identity.clone(),
                        ..Default::default()
                    },
                )
                .await
            }
            Action::Cancel { identity } => {
                workflows::request_cancel(
                    rt,
                    RequestCancelWorkflowExecutionRequest {
                        namespace,
                        workflow_execution: Some(execution),
                        identity: identity.clone(),
                        reason: self.reason.clone(),
                        request_id: format!("{}-{}", self.job_id, uuid::Uuid::new_v4()),
                        ..Default::default()
                    },
                )
                .await
            }
            Action::Signal(signal) => {
                let mut request = (**signal).clone();
                request.namespace = namespace;
                request.workflow_execution = Some(execution);
                request.request_id = format!("{}-{}", self.job_id, uuid::Uuid::new_v4());
                workflows::signal(rt, request).await
            }
            Action::UpdateOptions(update) => {
                let mut request = (**update).clone();
                request.namespace = namespace;
                request.workflow_execution = Some(execution);
                workflows::update_options(rt, request).await.map(|_| ())
            }
        }
    }
}

pub(super) fn describe(
    svc: &Service,
    r: &DescribeBatchOperationRequest,
) -> Result<DescribeBatchOperationResponse, Status> {
    svc.runtime
        .read(|registry| registry.namespace(&r.namespace).map(|_| ()))?;
    if r.job_id.is_empty() {
        return Err(invalid("JobId is not set on request."));
    }
    svc.batches
        .lock()
        .get(&(r.namespace.clone(), r.job_id.clone()))
        .map(|job| job.info.clone())
        .ok_or_else(|| Status::not_found(format!("workflow not found for ID: {}", r.job_id)))
}

/// Jobs newest first.
pub(super) fn list(
    svc: &Service,
    r: &ListBatchOperationsRequest,
) -> Result<ListBatchOperationsResponse, Status> {
    svc.runtime
        .read(|registry| registry.namespace(&r.namespace).map(|_| ()))?;
    let jobs = svc.batches.lock();
    let mut infos: Vec<&DescribeBatchOperationResponse> = jobs
        .iter()
        .filter(|((namespace, _), _)| *namespace == r.namespace)
        .map(|(_, job)| &job.info)
        .collect();
    infos.sort_by(|a, b| {
        let key = |i: &DescribeBatchOperationResponse| {
            i.start_time.as_ref().map(|t| (t.seconds, t.nanos))
        };
        key(b).cmp(&key(a))
    });
    Ok(ListBatchOperationsResponse {
        operation_info: infos
            .into_iter()
            .map(|info| BatchOperationInfo {
                job_id: info.job_id.clone(),
                state: info.state,
                start_time: info.start_time,
                close_time: info.close_time,
                operation_type: info.operation_type,
            })
            .collect(),
        next_page_token: Vec::new(),
    })
}

/// Stops a running job where it is; its state becomes `FAILED`, as a terminated batch
/// workflow's does on the real server.
pub(super) fn stop(svc: &Service, r: &StopBatchOperationRequest) -> Result<(), Status> {
    svc.runtime
        .read(|registry| registry.namespace(&r.namespace).map(|_| ()))?;
    if r.job_id.is_empty() {
        return Err(invalid("JobId is not set on request."));
    }
    let now = svc.runtime.clock.now_ms();
    let mut jobs = svc.batches.lock();
    let job = jobs
        .get_mut(&(r.namespace.clone(), r.job_id.clone()))
        .ok_or_else(|| Status::not_found(format!("workflow not found for ID: {}", r.job_id)))?;
    if job.info.state != BatchOperationState::Running as i32 {
        return Err(Status::not_found("workflow execution already completed"));
    }
    job.info.state = BatchOperationState::Failed as i32;
    job.info.close_time = Some(timestamp(now));
    let _ = job.stop.send(true);
    tracing::info!(job_id = %r.job_id, reason = %r.reason, "batch operation stopped");
    Ok(())
}
