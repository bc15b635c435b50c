//! Batch operations: one operation (terminate, cancel, signal, delete, reset, update
//! options: `action`) applied to every run a visibility query matches, or to a list of
//! executions, in the background at a bounded rate (`max_operations_per_second`, 50 by
//! default, as the real server's batcher), one running job per namespace (the real server's
//! default limit), with progress counts. A run that is gone counts as done, as the real
//! batcher ignores "not found"; as there, terminate, cancel, signal and update options
//! only look for running workflows. Jobs are durable (`stored`): a running one carries on
//! after a restart, and finished ones are still listed.

mod action;
mod stored;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use temporalio_protos::temporal::api::{
    batch::v1::BatchOperationInfo,
    common::v1::{Execution, WorkflowExecution},
    enums::v1::BatchOperationState,
    workflowservice::v1::{
        DescribeBatchOperationRequest, DescribeBatchOperationResponse, ListBatchOperationsRequest,
        ListBatchOperationsResponse, ListWorkflowExecutionsRequest, StartBatchOperationRequest,
        StopBatchOperationRequest,
    },
};
use tokio::sync::watch;
use tonic::Status;

use super::{Service, visibility};
use crate::{
    error::EngineError,
    history::settings::{BATCH_JOB, BATCH_TARGETS},
    time::timestamp,
};
use action::{Action, MISSING_PARAMETERS};

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
    /// The request, encoded as it is stored.
    request: String,
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

    /// The job's setting as it stands now.
    fn record(&self, namespace: &str, job_id: &str) -> Option<String> {
        self.lock()
            .get(&(namespace.to_owned(), job_id.to_owned()))
            .map(|job| stored::job_value(namespace, &job.request, &job.info))
    }
}

/// The job's settings (and its runs, once known) to write: always the job as it stands
/// when the write is taken, so writes may race without going back in time.
fn put_job(
    svc: &Service,
    namespace: &str,
    job_id: &str,
    targets: Option<&[WorkflowExecution]>,
) -> impl FnOnce(
    &mut crate::history::Registry,
    i64,
    &mut crate::history::Effects,
) -> crate::error::Result<()> {
    let batches = Arc::clone(&svc.batches);
    let (namespace, job_id) = (namespace.to_owned(), job_id.to_owned());
    let targets = targets.map(stored::targets_value);
    move |registry, _, _| {
        if let Some(value) = batches.record(&namespace, &job_id) {
            registry
                .settings
                .put(stored::job_key(&namespace, &job_id), value);
        }
        if let Some(targets) = targets {
            registry
                .settings
                .put(stored::targets_key(&namespace, &job_id), targets);
        }
        Ok(())
    }
}

/// Keeps the job durable before going on.
async fn save(
    svc: &Service,
    namespace: &str,
    job_id: &str,
    targets: Option<&[WorkflowExecution]>,
) -> crate::error::Result<()> {
    svc.runtime
        .execute(put_job(svc, namespace, job_id, targets))
        .await
}

// `executions` is deprecated for `target_executions`, but older clients still send it.
#[allow(deprecated)]
pub(super) async fn start(svc: &Service, mut r: StartBatchOperationRequest) -> Result<(), Status> {
    let rt = &svc.runtime;
    rt.read(|registry| registry.namespace(&r.namespace).map(|_| ()))?;
    let has_targets = !r.visibility_query.is_empty()
        || !r.executions.is_empty()
        || !r.target_executions.is_empty();
    if r.reason.is_empty() || !has_targets {
        return Err(Status::invalid_argument(MISSING_PARAMETERS));
    }
    if r.job_id.is_empty() {
        return Err(Status::invalid_argument("JobId is not set on request."));
    }
    let (_, operation_type, identity) = action::action(r.operation.clone())?;
    let mut executions: Vec<WorkflowExecution> = std::mem::take(&mut r.executions);
    executions.extend(
        std::mem::take(&mut r.target_executions)
            .into_iter()
            .map(|e: Execution| WorkflowExecution {
                workflow_id: e.business_id,
                run_id: e.run_id,
            }),
    );
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
        let job = Job {
            info,
            request: stored::encode_request(&r),
            stop,
        };
        jobs.insert((r.namespace.clone(), r.job_id.clone()), job);
    }
    // A list of executions is the job's runs from the start; a query's runs are listed by
    // the job.
    let targets = r.visibility_query.is_empty().then_some(executions);
    if let Err(error) = save(svc, &r.namespace, &r.job_id, targets.as_deref()).await {
        svc.batches
            .lock()
            .remove(&(r.namespace.clone(), r.job_id.clone()));
        return Err(error.into());
    }
    tracing::info!(namespace = %r.namespace, job_id = %r.job_id, ?operation_type, "batch operation started");
    spawn(svc, r, targets, stopped)?;
    Ok(())
}

/// Runs the job of `request` in the background, from its runs if they are known.
fn spawn(
    svc: &Service,
    request: StartBatchOperationRequest,
    targets: Option<Vec<WorkflowExecution>>,
    stopped: watch::Receiver<bool>,
) -> Result<(), Status> {
    let (action, _, _) = action::action(request.operation)?;
    let rps = if request.max_operations_per_second > 0.0 {
        request.max_operations_per_second
    } else {
        DEFAULT_RPS
    };
    let job = Run {
        svc: svc.clone(),
        namespace: request.namespace,
        job_id: request.job_id,
        reason: request.reason,
        query: request.visibility_query,
        action,
        interval: Duration::from_secs_f32(1.0 / rps),
    };
    tokio::spawn(job.run(targets, stopped));
    Ok(())
}

/// Reads back the jobs kept before a restart and carries on with those still running.
/// Called once, when the service is built.
pub(super) fn resume(svc: &Service) {
    let (jobs, targets) = svc.runtime.read(|registry| {
        let jobs: Vec<String> = registry
            .settings
            .under(BATCH_JOB)
            .map(|(_, value)| value.to_owned())
            .collect();
        let targets: BTreeMap<String, String> = registry
            .settings
            .under(BATCH_TARGETS)
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect();
        (jobs, targets)
    });
    for restored in jobs.iter().filter_map(|value| stored::read_job(value)) {
        let stored::Restored {
            namespace,
            request,
            info,
        } = restored;
        let job_id = info.job_id.clone();
        let running = info.state == BatchOperationState::Running as i32;
        let (stop, stopped) = watch::channel(false);
        let job = Job {
            info,
            request: stored::encode_request(&request),
            stop,
        };
        svc.batches
            .lock()
            .insert((namespace.clone(), job_id.clone()), job);
        if !running {
            continue;
        }
        let runs = targets
            .get(&format!("{namespace}\n{job_id}"))
            .and_then(|value| stored::read_targets(value));
        tracing::info!(%namespace, %job_id, "batch operation carries on after a restart");
        if let Err(error) = spawn(svc, request, runs, stopped) {
            tracing::error!(%namespace, %job_id, %error, "a stored batch operation cannot resume");
        }
    }
}

/// One job being run.
struct Run {
    svc: Service,
    namespace: String,
    job_id: String,
    reason: String,
    query: String,
    action: Action,
    interval: Duration,
}

impl Run {
    async fn run(
        self,
        targets: Option<Vec<WorkflowExecution>>,
        mut stopped: watch::Receiver<bool>,
    ) {
        let batches = Arc::clone(&self.svc.batches);
        let listed = targets.is_none();
        let targets = match targets {
            Some(targets) => targets,
            None => match self.list().await {
                Ok(targets) => targets,
                Err(error) => {
                    tracing::warn!(job_id = %self.job_id, %error, "batch operation cannot list its runs");
                    self.close(BatchOperationState::Failed).await;
                    return;
                }
            },
        };
        let total = i64::try_from(targets.len()).unwrap_or(i64::MAX);
        let mut done = 0;
        batches.update(&self.namespace, &self.job_id, |info| {
            info.total_operation_count = total;
            done = info.complete_operation_count + info.failure_operation_count;
        });
        let runs = listed.then_some(targets.as_slice());
        if let Err(error) = save(&self.svc, &self.namespace, &self.job_id, runs).await {
            tracing::warn!(job_id = %self.job_id, %error, "batch operation's runs not yet durable");
        }
        let mut tick = tokio::time::interval(self.interval);
        let skip = usize::try_from(done).unwrap_or(0);
        for execution in targets.into_iter().skip(skip) {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.wait_for(|stop| *stop) => return,
                () = self.svc.runtime.shutting_down() => return,
            }
            let applied = action::apply(
                &self.svc.runtime,
                &self.namespace,
                &self.job_id,
                &self.reason,
                &self.action,
                execution,
            )
            .await;
            let ok = match applied {
                Ok(()) | Err(EngineError::NotFound(_)) => true,
                Err(error) => {
                    tracing::debug!(job_id = %self.job_id, %error, "batch operation failed on a run");
                    false
                }
            };
            batches.update(&self.namespace, &self.job_id, |info| {
                if ok {
                    info.complete_operation_count += 1;
                } else {
                    info.failure_operation_count += 1;
                }
            });
            // Progress is written with the next commit, without waiting: after a crash
            // the job may redo the last few runs, as the real batcher after a lost
            // heartbeat.
            let _ = self.svc.runtime.execute_unacknowledged(put_job(
                &self.svc,
                &self.namespace,
                &self.job_id,
                None,
            ));
        }
        self.close(BatchOperationState::Completed).await;
    }

    async fn close(&self, state: BatchOperationState) {
        let now = self.svc.runtime.clock.now_ms();
        self.svc
            .batches
            .update(&self.namespace, &self.job_id, |info| {
                if info.state == BatchOperationState::Running as i32 {
                    info.state = state as i32;
                    info.close_time = Some(timestamp(now));
                }
            });
        if let Err(error) = save(&self.svc, &self.namespace, &self.job_id, None).await {
            tracing::warn!(job_id = %self.job_id, %error, "batch operation's close not yet durable");
        }
        tracing::info!(job_id = %self.job_id, ?state, "batch operation closed");
    }

    /// Every run the query matches when the job starts (running ones only, for the
    /// operations that apply only to them).
    async fn list(&self) -> Result<Vec<WorkflowExecution>, EngineError> {
        let query = if self.action.running_only() {
            format!("({}) AND (ExecutionStatus='Running')", self.query)
        } else {
            self.query.clone()
        };
        let mut targets = Vec::new();
        let mut next_page_token = Vec::new();
        loop {
            let page = visibility::list(
                &self.svc,
                &ListWorkflowExecutionsRequest {
                    namespace: self.namespace.clone(),
                    page_size: 1000,
                    next_page_token,
                    query: query.clone(),
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
}

pub(super) fn describe(
    svc: &Service,
    r: &DescribeBatchOperationRequest,
) -> Result<DescribeBatchOperationResponse, Status> {
    svc.runtime
        .read(|registry| registry.namespace(&r.namespace).map(|_| ()))?;
    if r.job_id.is_empty() {
        return Err(Status::invalid_argument("JobId is not set on request."));
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
pub(super) async fn stop(svc: &Service, r: &StopBatchOperationRequest) -> Result<(), Status> {
    svc.runtime
        .read(|registry| registry.namespace(&r.namespace).map(|_| ()))?;
    if r.job_id.is_empty() {
        return Err(Status::invalid_argument("JobId is not set on request."));
    }
    let now = svc.runtime.clock.now_ms();
    {
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
    }
    save(svc, &r.namespace, &r.job_id, None).await?;
    tracing::info!(job_id = %r.job_id, reason = %r.reason, "batch operation stopped");
    Ok(())
}
