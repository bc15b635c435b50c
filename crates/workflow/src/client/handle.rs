//! [`Handle`]: one workflow id, typed by its contract marker: signal, query, update, wait for
//! the result, cancel, terminate, describe.

use std::marker::PhantomData;
use std::time::Duration;

use temporalio_client::{
    Client, WorkflowCancelOptions, WorkflowDescribeOptions, WorkflowExecuteUpdateOptions,
    WorkflowGetResultOptions, WorkflowHandle, WorkflowQueryOptions, WorkflowSignalOptions,
    WorkflowTerminateOptions,
};
use temporalio_common::{
    HasWorkflowDefinition, QueryDefinition, SignalDefinition, UpdateDefinition,
};

use super::error::Context;
use super::{ClientError, ExecutionSummary, WorkflowClient, summary_from_info};

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
    pub(super) fn new(client: WorkflowClient, workflow_id: String) -> Self {
        Self {
            inner: client
                .sdk_client()
                .get_workflow_handle::<W>(workflow_id.clone()),
            client,
            workflow_id,
            _workflow: PhantomData,
        }
    }

    /// The workflow id.
    pub fn workflow_id(&self) -> &str {
        &self.workflow_id
    }

    fn context(&self) -> Context<'_> {
        self.client.context(&self.workflow_id)
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
                    .map_err(|e| self.context().interaction("signal", e))
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
                    .map_err(|e| self.context().query(&name, e))
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
                    .map_err(|e| self.context().update(&name, e))
            })
            .await
    }

    /// Waits up to `wait` for the workflow's result, following continue-as-new. Against a
    /// time-skipping test server ([`TestEnv`](crate::testing)), time skipping is unlocked while
    /// it waits, so the server jumps over the workflow's timers; `wait` is wall time.
    pub async fn result(&self, wait: Duration) -> Result<W::Output, ClientError> {
        let waiting = self.client.bounded_for("result", wait, async {
            self.inner
                .get_result(WorkflowGetResultOptions::default())
                .await
                .map_err(|e| self.context().result(e))
        });
        let outcome = match &self.client.time_lock {
            Some(lock) => lock.unlocked(waiting).await,
            None => waiting.await,
        };
        match outcome {
            Err(ClientError::NoAnswer { .. }) => {
                // Distinguish "still running" from "server down" with a cheap describe.
                self.describe().await?;
                Err(ClientError::ResultTimeout {
                    workflow_id: self.workflow_id.clone(),
                    waited: wait,
                })
            }
            other => other,
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
                    .map_err(|e| self.context().interaction("cancel", e))
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
                    .map_err(|e| self.context().interaction("terminate", e))
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
                    .map_err(|e| self.context().interaction("describe", e))?;
                let info = description
                    .raw_description
                    .workflow_execution_info
                    .as_ref()
                    .ok_or(ClientError::IncompleteAnswer {
                        operation: "describe",
                        missing: "the execution info",
                    })?;
                Ok(summary_from_info(info))
            })
            .await
    }
}
