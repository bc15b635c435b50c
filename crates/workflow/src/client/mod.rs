//! The client facade that the API layer uses: typed by contract markers, bounded in time,
//! with errors an HTTP layer can map without knowing gRPC.
//!
//! Every operation is limited by `temporal.request_timeout`, so a server that is down
//! answers [`ClientError::NoAnswer`] instead of hanging a request handler.
//!
//! [`WorkflowClient`] (here) starts and lists workflows; [`Handle`] (`handle.rs`) acts on one;
//! [`ClientError`] and the one mapping from the SDK's errors to it live in `error.rs`.

mod error;
mod handle;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use temporalio_client::{
    Client, WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowListOptions,
    WorkflowStartOptions,
};
use temporalio_common::{HasWorkflowDefinition, SignalDefinition};

use crate::metrics::Metrics;
use crate::time_lock::TimeLock;
use error::Context;

pub use error::ClientError;
pub use handle::Handle;

/// How to start a workflow when one with the same id may already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IdConflict {
    /// Fail with [`ClientError::AlreadyStarted`] if a run with this id is open.
    #[default]
    Fail,
    /// Return the open run instead of starting a new one (idempotent start).
    UseExisting,
    /// Terminate the open run and start a new one.
    TerminateExisting,
}

/// Whether the id of a closed workflow may be used again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IdReuse {
    /// Allow a new run after any closed run (the server's default).
    #[default]
    AllowDuplicate,
    /// Allow a new run only if the last one did not complete successfully.
    AllowDuplicateFailedOnly,
    /// Never reuse the id.
    RejectDuplicate,
}

/// Options for starting a workflow.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// What to do when a run with the same id is open.
    pub id_conflict: IdConflict,
    /// Whether a closed run's id may be reused.
    pub id_reuse: IdReuse,
    /// Limit on the whole execution, including retries and continue-as-new.
    pub execution_timeout: Option<Duration>,
    /// Task queue, when not the configured one.
    pub task_queue: Option<String>,
}

/// A summary of one workflow execution, as `describe` and `list` return it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExecutionSummary {
    /// The workflow id.
    pub workflow_id: String,
    /// The run id.
    pub run_id: String,
    /// The workflow type name.
    pub workflow_type: String,
    /// `Running`, `Completed`, `Failed`, `Canceled`, `Terminated`, `ContinuedAsNew`,
    /// `TimedOut`.
    pub status: String,
    /// Start time, in milliseconds since the Unix epoch.
    pub start_time_ms: Option<u64>,
    /// Close time, in milliseconds since the Unix epoch, once closed.
    pub close_time_ms: Option<u64>,
    /// The task queue it runs on.
    pub task_queue: String,
    /// Number of history events.
    pub history_length: u64,
}

/// The library's client: cheap to clone, safe to share between request handlers.
#[derive(Clone)]
pub struct WorkflowClient {
    inner: Client,
    task_queue: String,
    address: String,
    request_timeout: Duration,
    metrics: Metrics,
    /// Against a time-skipping test server: the lock that result waits release.
    time_lock: Option<Arc<TimeLock>>,
    /// Whether starts ask for eager execution.
    eager_start: bool,
}

impl WorkflowClient {
    pub(crate) fn new(
        inner: Client,
        task_queue: String,
        address: String,
        request_timeout: Duration,
        metrics: Metrics,
    ) -> Self {
        Self {
            inner,
            task_queue,
            address,
            request_timeout,
            metrics,
            time_lock: None,
            eager_start: true,
        }
    }

    /// Whether starts ask for eager execution (`worker.eager_execution`).
    pub(crate) fn with_eager_start(mut self, eager: bool) -> Self {
        self.eager_start = eager;
        self
    }

    /// This client's result waits release `lock` while they wait (the test environment's).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn with_time_lock(mut self, lock: Arc<TimeLock>) -> Self {
        self.time_lock = Some(lock);
        self
    }

    /// The SDK client underneath, for what the facade does not cover.
    pub fn sdk_client(&self) -> &Client {
        &self.inner
    }

    /// The task queue workflows are started on by default.
    pub fn task_queue(&self) -> &str {
        &self.task_queue
    }

    /// Starts workflow `W` with id `workflow_id`. With [`IdConflict::UseExisting`] a repeated
    /// start returns a handle to the open run, which makes the call idempotent.
    pub async fn start<W>(
        &self,
        workflow: W,
        workflow_id: impl Into<String>,
        input: W::Input,
        options: StartOptions,
    ) -> Result<Handle<W>, ClientError>
    where
        W: HasWorkflowDefinition,
        W::Input: Send,
    {
        let workflow_id = workflow_id.into();
        let workflow_type = workflow.name().to_owned();
        let start_options = self.start_options(&workflow_id, &options);
        let result = self
            .bounded("start", async {
                self.inner
                    .start_workflow(workflow, input, start_options)
                    .await
                    .map_err(|e| self.context(&workflow_id).start("start", e))
            })
            .await;
        result?;
        self.metrics.record_workflow_started(&workflow_type);
        tracing::debug!(%workflow_id, %workflow_type, task_queue = %self.task_queue, "workflow started");
        Ok(self.handle(workflow_id))
    }

    /// Signals workflow `W`, starting it first if no run with this id is open. The signal
    /// reaches the workflow before its first task. `options.id_conflict` does not apply: an
    /// open run is always signalled.
    pub async fn signal_with_start<W, S>(
        &self,
        workflow: W,
        workflow_id: impl Into<String>,
        input: W::Input,
        signal: S,
        signal_input: S::Input,
        options: StartOptions,
    ) -> Result<Handle<W>, ClientError>
    where
        W: HasWorkflowDefinition,
        W::Input: Send,
        S: SignalDefinition<Workflow = W::Run>,
        S::Input: Send,
    {
        let workflow_id = workflow_id.into();
        let options = StartOptions {
            id_conflict: IdConflict::UseExisting,
            ..options
        };
        let start_options = self.start_options(&workflow_id, &options);
        self.bounded("signal_with_start", async {
            self.inner
                .signal_with_start_workflow(workflow, input, signal, signal_input, start_options)
                .await
                .map_err(|e| self.context(&workflow_id).start("signal_with_start", e))
        })
        .await?;
        Ok(self.handle(workflow_id))
    }

    /// A handle to the latest run of the workflow with this id.
    pub fn handle<W: HasWorkflowDefinition>(&self, workflow_id: impl Into<String>) -> Handle<W> {
        Handle::new(self.clone(), workflow_id.into())
    }

    /// Lists executions matching a visibility query (empty: all), newest first, at most `limit`.
    pub async fn list(
        &self,
        query: impl Into<String>,
        limit: usize,
    ) -> Result<Vec<ExecutionSummary>, ClientError> {
        let query = query.into();
        self.bounded("list", async {
            let mut stream = self
                .inner
                .list_workflows(query, WorkflowListOptions::builder().limit(limit).build());
            let mut out = Vec::new();
            while let Some(item) = stream.next().await {
                let execution = item.map_err(|e| self.context("").list(e))?;
                out.push(summary_from_info(execution.raw()));
            }
            Ok(out)
        })
        .await
    }

    fn start_options(&self, workflow_id: &str, options: &StartOptions) -> WorkflowStartOptions {
        let task_queue = options
            .task_queue
            .clone()
            .unwrap_or_else(|| self.task_queue.clone());
        WorkflowStartOptions::new(task_queue, workflow_id)
            .id_conflict_policy(match options.id_conflict {
                IdConflict::Fail => WorkflowIdConflictPolicy::Fail,
                IdConflict::UseExisting => WorkflowIdConflictPolicy::UseExisting,
                IdConflict::TerminateExisting => WorkflowIdConflictPolicy::TerminateExisting,
            })
            .id_reuse_policy(match options.id_reuse {
                IdReuse::AllowDuplicate => WorkflowIdReusePolicy::AllowDuplicate,
                IdReuse::AllowDuplicateFailedOnly => {
                    WorkflowIdReusePolicy::AllowDuplicateFailedOnly
                }
                IdReuse::RejectDuplicate => WorkflowIdReusePolicy::RejectDuplicate,
            })
            .maybe_execution_timeout(options.execution_timeout)
            // Eager start: when a worker of this process polls the task queue and has a free
            // slot, the first workflow task comes back in the start response (one round trip
            // less); the SDK drops the request otherwise.
            .enable_eager_workflow_start(self.eager_start)
            .build()
    }

    fn context<'a>(&'a self, workflow_id: &'a str) -> Context<'a> {
        Context {
            address: &self.address,
            workflow_id,
        }
    }

    /// Runs one operation under the request timeout and records its outcome and latency.
    async fn bounded<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        self.bounded_for(operation, self.request_timeout, call)
            .await
    }

    /// Like [`WorkflowClient::bounded`], under `limit`; no answer by then is
    /// [`ClientError::NoAnswer`].
    async fn bounded_for<T>(
        &self,
        operation: &'static str,
        limit: Duration,
        call: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        let started = Instant::now();
        let result = match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::NoAnswer {
                address: self.address.clone(),
                operation,
                limit,
            }),
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) if e.is_unavailable() => "unavailable",
            Err(_) => "error",
        };
        self.metrics
            .record_client_call(operation, outcome, started.elapsed());
        if let Err(e) = &result
            && e.is_unavailable()
        {
            tracing::warn!(operation, address = %self.address, error = %e, "Temporal unavailable");
        }
        result
    }
}

fn summary_from_info(
    info: &temporalio_protos::temporal::api::workflow::v1::WorkflowExecutionInfo,
) -> ExecutionSummary {
    let execution = info.execution.clone().unwrap_or_default();
    ExecutionSummary {
        workflow_id: execution.workflow_id,
        run_id: execution.run_id,
        workflow_type: info
            .r#type
            .as_ref()
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        status: status_name(info.status).to_owned(),
        start_time_ms: info
            .start_time
            .as_ref()
            .and_then(|t| epoch_ms(t.seconds, t.nanos)),
        close_time_ms: info
            .close_time
            .as_ref()
            .and_then(|t| epoch_ms(t.seconds, t.nanos)),
        task_queue: info.task_queue.clone(),
        history_length: u64::try_from(info.history_length).unwrap_or(0),
    }
}

fn epoch_ms(seconds: i64, nanos: i32) -> Option<u64> {
    let ms = seconds
        .checked_mul(1000)?
        .checked_add(i64::from(nanos) / 1_000_000)?;
    u64::try_from(ms).ok()
}

/// The status name Temporal's UI and CLI use, from the raw proto value.
pub fn status_name(raw_status: i32) -> &'static str {
    use temporalio_protos::temporal::api::enums::v1::WorkflowExecutionStatus as S;
    match S::try_from(raw_status) {
        Ok(S::Running) => "Running",
        Ok(S::Completed) => "Completed",
        Ok(S::Failed) => "Failed",
        Ok(S::Canceled) => "Canceled",
        Ok(S::Terminated) => "Terminated",
        Ok(S::ContinuedAsNew) => "ContinuedAsNew",
        Ok(S::TimedOut) => "TimedOut",
        Ok(S::Paused) => "Paused",
        _ => "Unspecified",
    }
}
