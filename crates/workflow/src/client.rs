//! The client facade that the API layer uses: typed by contract markers, bounded in time,
//! with errors an HTTP layer can map without knowing gRPC.
//!
//! Every operation is limited by `temporal.request_timeout`, so a server that is down
//! answers [`ClientError::Unavailable`] instead of hanging a request handler.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use temporalio_client::errors::{
    WorkflowGetResultError, WorkflowInteractionError, WorkflowQueryError, WorkflowStartError,
    WorkflowUpdateError,
};
use temporalio_client::tonic::{Code, Status};
use temporalio_client::{
    Client, WorkflowCancelOptions, WorkflowDescribeOptions, WorkflowExecuteUpdateOptions,
    WorkflowGetResultOptions, WorkflowHandle, WorkflowIdConflictPolicy, WorkflowIdReusePolicy,
    WorkflowListOptions, WorkflowQueryOptions, WorkflowSignalOptions, WorkflowStartOptions,
    WorkflowTerminateOptions,
};
use temporalio_common::{
    HasWorkflowDefinition, QueryDefinition, SignalDefinition, UpdateDefinition,
};

use crate::metrics::Metrics;
use crate::time_lock::TimeLock;

/// A failed client operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No such workflow: answer "not found" to the caller.
    #[error("workflow {workflow_id:?} not found")]
    NotFound {
        /// The workflow id that was asked for.
        workflow_id: String,
    },
    /// A workflow with this id is already running and the conflict policy is `Fail`.
    #[error("workflow {workflow_id:?} is already running")]
    AlreadyStarted {
        /// The workflow id.
        workflow_id: String,
        /// The running execution's run id, when the server said.
        run_id: Option<String>,
    },
    /// Temporal did not answer in time or refused the connection: retry later.
    #[error("Temporal at {address} is unavailable: {message}")]
    Unavailable {
        /// The configured server address.
        address: String,
        /// What went wrong.
        message: String,
    },
    /// The workflow did not finish within the wait that was asked for; it is still running.
    #[error("workflow {workflow_id:?} did not finish within {waited:?}")]
    ResultTimeout {
        /// The workflow id.
        workflow_id: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The workflow closed without a result (failed, cancelled, terminated, timed out).
    #[error("workflow {workflow_id:?} {outcome}: {message}")]
    WorkflowClosed {
        /// The workflow id.
        workflow_id: String,
        /// How it closed: `failed`, `cancelled`, `terminated`, `timed out`.
        outcome: &'static str,
        /// Detail from the failure, if any.
        message: String,
    },
    /// The workflow refused the query (e.g. its handler failed or it is closed).
    #[error("query {query:?} on workflow {workflow_id:?} failed: {message}")]
    QueryFailed {
        /// The workflow id.
        workflow_id: String,
        /// The query name.
        query: String,
        /// Why.
        message: String,
    },
    /// The workflow rejected the update in its validator, or the handler failed.
    #[error("update {update:?} on workflow {workflow_id:?} was rejected: {message}")]
    UpdateRejected {
        /// The workflow id.
        workflow_id: String,
        /// The update name.
        update: String,
        /// The workflow's reason.
        message: String,
    },
    /// The request is invalid (bad payload, bad query syntax...): fix the request.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Any other server error.
    #[error("Temporal error ({code:?}): {message}")]
    Server {
        /// The gRPC status code.
        code: Code,
        /// The server's message.
        message: String,
    },
}

/// How to start a workflow when one with the same id may already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
        }
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
                    .map_err(|e| self.start_error(&workflow_id, e))
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
                .map_err(|e| self.start_error(&workflow_id, e))
        })
        .await?;
        Ok(self.handle(workflow_id))
    }

    /// A handle to the latest run of the workflow with this id.
    pub fn handle<W: HasWorkflowDefinition>(&self, workflow_id: impl Into<String>) -> Handle<W> {
        let workflow_id = workflow_id.into();
        Handle {
            inner: self.inner.get_workflow_handle::<W>(workflow_id.clone()),
            client: self.clone(),
            workflow_id,
            _workflow: PhantomData,
        }
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
                let execution = item.map_err(|e| match e {
                    temporalio_client::errors::ClientError::Rpc(status) => {
                        self.status_error("", status)
                    }
                    other => ClientError::InvalidRequest(other.to_string()),
                })?;
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
            .build()
    }

    fn start_error(&self, workflow_id: &str, error: WorkflowStartError) -> ClientError {
        match error {
            WorkflowStartError::AlreadyStarted { run_id, .. } => ClientError::AlreadyStarted {
                workflow_id: workflow_id.to_owned(),
                run_id,
            },
            WorkflowStartError::PayloadConversion(e) => ClientError::InvalidRequest(e.to_string()),
            WorkflowStartError::Rpc(status) => self.status_error(workflow_id, status),
            other => ClientError::InvalidRequest(other.to_string()),
        }
    }

    fn status_error(&self, workflow_id: &str, status: Status) -> ClientError {
        match status.code() {
            Code::NotFound => ClientError::NotFound {
                workflow_id: workflow_id.to_owned(),
            },
            Code::AlreadyExists => ClientError::AlreadyStarted {
                workflow_id: workflow_id.to_owned(),
                run_id: None,
            },
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
                ClientError::Unavailable {
                    address: self.address.clone(),
                    message: status.message().to_owned(),
                }
            }
            Code::InvalidArgument => ClientError::InvalidRequest(status.message().to_owned()),
            code => ClientError::Server {
                code,
                message: status.message().to_owned(),
            },
        }
    }

    fn interaction_error(&self, workflow_id: &str, error: WorkflowInteractionError) -> ClientError {
        match error {
            WorkflowInteractionError::NotFound(_) => ClientError::NotFound {
                workflow_id: workflow_id.to_owned(),
            },
            WorkflowInteractionError::Rpc(status) => self.status_error(workflow_id, status),
            WorkflowInteractionError::PayloadConversion(e) => {
                ClientError::InvalidRequest(e.to_string())
            }
            other => ClientError::Server {
                code: Code::Internal,
                message: other.to_string(),
            },
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

    async fn bounded_for<T>(
        &self,
        operation: &'static str,
        limit: Duration,
        call: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        let started = Instant::now();
        let result = match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Unavailable {
                address: self.address.clone(),
                message: format!("no answer within {limit:?}"),
            }),
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(ClientError::Unavailable { .. }) => "unavailable",
            Err(_) => "error",
        };
        self.metrics
            .record_client_call(operation, outcome, started.elapsed());
        if let Err(ClientError::Unavailable { message, .. }) = &result {
            tracing::warn!(operation, address = %self.address, %message, "Temporal unavailable");
        }
        result
    }
}

/// A handle to one workflow id, typed by its contract marker.
pub struct Handle<W: HasWorkflowDefinition> {
    inner: WorkflowHandle<Client, W>,
    client: WorkflowClient,
    workflow_id: String,
    _workflow: PhantomData<W>,
}

impl<W: HasWorkflowDefinition> std::fmt::Debug for Handle<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("workflow_id", &self.workflow_id)
            .finish_non_exhaustive()
    }
}

impl<W: HasWorkflowDefinition> Handle<W> {
    /// The workflow id.
    pub fn workflow_id(&self) -> &str {
        &self.workflow_id
    }

    /// Sends a signal.
    pub async fn signal<S>(&self, signal: S, input: S::Input) -> Result<(), ClientError>
    where
        S: SignalDefinition<Workflow = W::Run>,
        S::Input: Send,
    {
        self.client
            .bounded("signal", async {
                self.inner
                    .signal(signal, input, WorkflowSignalOptions::default())
                    .await
                    .map_err(|e| self.client.interaction_error(&self.workflow_id, e))
            })
            .await
    }

    /// Runs a query on a worker and returns its answer.
    pub async fn query<Q>(&self, query: Q, input: Q::Input) -> Result<Q::Output, ClientError>
    where
        Q: QueryDefinition<Workflow = W::Run>,
        Q::Input: Send,
    {
        let name = query.name().to_owned();
        self.client
            .bounded("query", async {
                self.inner
                    .query(query, input, WorkflowQueryOptions::default())
                    .await
                    .map_err(|e| match e {
                        WorkflowQueryError::NotFound(_) => ClientError::NotFound {
                            workflow_id: self.workflow_id.clone(),
                        },
                        WorkflowQueryError::Rpc(status)
                            if matches!(
                                status.code(),
                                Code::InvalidArgument | Code::FailedPrecondition | Code::Internal
                            ) =>
                        {
                            ClientError::QueryFailed {
                                workflow_id: self.workflow_id.clone(),
                                query: name.clone(),
                                message: status.message().to_owned(),
                            }
                        }
                        WorkflowQueryError::Rpc(status) => {
                            self.client.status_error(&self.workflow_id, status)
                        }
                        other => ClientError::QueryFailed {
                            workflow_id: self.workflow_id.clone(),
                            query: name.clone(),
                            message: other.to_string(),
                        },
                    })
            })
            .await
    }

    /// Sends an update and waits for its result.
    pub async fn update<U>(&self, update: U, input: U::Input) -> Result<U::Output, ClientError>
    where
        U: UpdateDefinition<Workflow = W::Run>,
        U::Input: Send,
        U::Output: 'static,
    {
        let name = update.name().to_owned();
        self.client
            .bounded("update", async {
                self.inner
                    .execute_update(update, input, WorkflowExecuteUpdateOptions::default())
                    .await
                    .map_err(|e| match e {
                        WorkflowUpdateError::NotFound(_) => ClientError::NotFound {
                            workflow_id: self.workflow_id.clone(),
                        },
                        WorkflowUpdateError::Failed(failure) => ClientError::UpdateRejected {
                            workflow_id: self.workflow_id.clone(),
                            update: name.clone(),
                            message: failure.message.clone(),
                        },
                        WorkflowUpdateError::Rpc(status) => {
                            self.client.status_error(&self.workflow_id, status)
                        }
                        other => ClientError::UpdateRejected {
                            workflow_id: self.workflow_id.clone(),
                            update: name.clone(),
                            message: other.to_string(),
                        },
                    })
            })
            .await
    }

    /// Waits up to `wait` for the workflow's result, following continue-as-new. Against a
    /// time-skipping test server ([`crate::testing::TestEnv`]), time skipping is unlocked while
    /// it waits, so the server jumps over the workflow's timers; `wait` is wall time.
    pub async fn result(&self, wait: Duration) -> Result<W::Output, ClientError> {
        let workflow_id = self.workflow_id.clone();
        let waiting = self.client.bounded_for("result", wait, async {
            self.inner
                .get_result(WorkflowGetResultOptions::default())
                .await
                .map_err(|e| self.result_error(e))
        });
        let outcome = match &self.client.time_lock {
            Some(lock) => lock.unlocked(waiting).await,
            None => waiting.await,
        };
        match outcome {
            Err(ClientError::Unavailable { message, .. }) if message.starts_with("no answer") => {
                // Distinguish "still running" from "server down" with a cheap describe.
                self.describe().await?;
                Err(ClientError::ResultTimeout {
                    workflow_id,
                    waited: wait,
                })
            }
            other => other,
        }
    }

    fn result_error(&self, error: WorkflowGetResultError) -> ClientError {
        let closed = |outcome, message: String| ClientError::WorkflowClosed {
            workflow_id: self.workflow_id.clone(),
            outcome,
            message,
        };
        match error {
            WorkflowGetResultError::Failed(e) => closed("failed", e.to_string()),
            WorkflowGetResultError::Cancelled { .. } => closed("cancelled", String::new()),
            WorkflowGetResultError::Terminated { .. } => closed("terminated", String::new()),
            WorkflowGetResultError::TimedOut => closed("timed out", String::new()),
            WorkflowGetResultError::NotFound(_) => ClientError::NotFound {
                workflow_id: self.workflow_id.clone(),
            },
            WorkflowGetResultError::Rpc(status) => {
                self.client.status_error(&self.workflow_id, status)
            }
            other => ClientError::Server {
                code: Code::Internal,
                message: other.to_string(),
            },
        }
    }

    /// Requests cancellation; the workflow decides how to wind down.
    pub async fn cancel(&self, reason: impl Into<String>) -> Result<(), ClientError> {
        let options = WorkflowCancelOptions::builder()
            .reason(reason.into())
            .build();
        self.client
            .bounded("cancel", async {
                self.inner
                    .cancel(options)
                    .await
                    .map_err(|e| self.client.interaction_error(&self.workflow_id, e))
            })
            .await
    }

    /// Terminates the workflow at once, without running any of its code.
    pub async fn terminate(&self, reason: impl Into<String>) -> Result<(), ClientError> {
        let options = WorkflowTerminateOptions::builder()
            .reason(reason.into())
            .build();
        self.client
            .bounded("terminate", async {
                self.inner
                    .terminate(options)
                    .await
                    .map_err(|e| self.client.interaction_error(&self.workflow_id, e))
            })
            .await
    }

    /// Describes the latest run.
    pub async fn describe(&self) -> Result<ExecutionSummary, ClientError> {
        self.client
            .bounded("describe", async {
                let description = self
                    .inner
                    .describe(WorkflowDescribeOptions::default())
                    .await
                    .map_err(|e| self.client.interaction_error(&self.workflow_id, e))?;
                let info = description
                    .raw_description
                    .workflow_execution_info
                    .as_ref()
                    .ok_or_else(|| ClientError::Server {
                        code: Code::Internal,
                        message: "describe returned no execution info".to_owned(),
                    })?;
                Ok(summary_from_info(info))
            })
            .await
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
