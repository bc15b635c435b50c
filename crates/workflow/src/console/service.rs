//! The console's calls to Temporal: the raw `WorkflowService` RPCs of the library's own SDK
//! client, so the console works against the embedded engine, the dev server and a cluster
//! alike, and sees what the typed facade hides (pending activities, every event, any payload
//! encoding). Each call is bounded by `temporal.request_timeout`.

use std::future::Future;
use std::time::Duration;

use temporalio_client::grpc::WorkflowService;
use temporalio_client::tonic::{IntoRequest, Status};
use temporalio_client::{Client, NamespacedClient};
use temporalio_protos::temporal::api::common::v1::{Payloads, WorkflowExecution};
use temporalio_protos::temporal::api::history::v1::HistoryEvent;
use temporalio_protos::temporal::api::query::v1::WorkflowQuery;
use temporalio_protos::temporal::api::workflow::v1::WorkflowExecutionInfo;
use temporalio_protos::temporal::api::workflowservice::v1::{
    CountWorkflowExecutionsRequest, DescribeNamespaceRequest, DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse, GetWorkflowExecutionHistoryRequest,
    ListWorkflowExecutionsRequest, QueryWorkflowRequest, RequestCancelWorkflowExecutionRequest,
    SignalWorkflowExecutionRequest, TerminateWorkflowExecutionRequest,
};

use super::error::ConsoleError;
use super::payload;

/// The most events the console reads of one history (a page of a huge history is enough to
/// see what is going on; the event list says when it stopped).
pub(crate) const MAX_EVENTS: usize = 5_000;
const IDENTITY: &str = "workflow-console";

/// One page of a list.
pub(crate) struct Page {
    pub(crate) executions: Vec<WorkflowExecutionInfo>,
    pub(crate) next_page_token: Vec<u8>,
}

/// A history as far as it was read.
pub(crate) struct History {
    pub(crate) events: Vec<HistoryEvent>,
    /// Whether the history has more events than [`MAX_EVENTS`].
    pub(crate) truncated: bool,
}

/// The raw calls, on the library's connected client.
#[derive(Clone)]
pub(crate) struct Service {
    client: Client,
    address: String,
    timeout: Duration,
}

impl Service {
    pub(crate) fn new(client: Client, address: String, timeout: Duration) -> Self {
        Self {
            client,
            address,
            timeout,
        }
    }

    fn namespace(&self) -> String {
        NamespacedClient::namespace(&self.client)
    }

    async fn call<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, Status>>,
    ) -> Result<T, ConsoleError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(status)) => Err(ConsoleError::from_status(&status, what, &self.address)),
            Err(_) => Err(ConsoleError::Unavailable {
                address: self.address.clone(),
                message: format!("no answer within {:?}", self.timeout),
            }),
        }
    }

    /// How long the namespace keeps a closed workflow before deleting it; `None` when the
    /// server does not say.
    pub(crate) async fn retention(&self) -> Result<Option<Duration>, ConsoleError> {
        let request = DescribeNamespaceRequest {
            namespace: self.namespace(),
            ..Default::default()
        };
        let mut client = self.client.clone();
        let response = self
            .call("namespace", async move {
                WorkflowService::describe_namespace(&mut client, request.into_request()).await
            })
            .await?
            .into_inner();
        Ok(response
            .config
            .and_then(|c| c.workflow_execution_retention_ttl)
            .and_then(|d| u64::try_from(d.seconds).ok())
            .filter(|s| *s > 0)
            .map(Duration::from_secs))
    }

    pub(crate) async fn list(
        &self,
        query: &str,
        page_size: i32,
        next_page_token: Vec<u8>,
    ) -> Result<Page, ConsoleError> {
        let request = ListWorkflowExecutionsRequest {
            namespace: self.namespace(),
            page_size,
            next_page_token,
            query: query.to_owned(),
        };
        let mut client = self.client.clone();
        let response = self
            .call("workflows", async move {
                WorkflowService::list_workflow_executions(&mut client, request.into_request()).await
            })
            .await?
            .into_inner();
        Ok(Page {
            executions: response.executions,
            next_page_token: response.next_page_token,
        })
    }

    pub(crate) async fn count(&self, query: &str) -> Result<i64, ConsoleError> {
        let request = CountWorkflowExecutionsRequest {
            namespace: self.namespace(),
            query: query.to_owned(),
        };
        let mut client = self.client.clone();
        let response = self
            .call("workflows", async move {
                WorkflowService::count_workflow_executions(&mut client, request.into_request())
                    .await
            })
            .await?;
        Ok(response.into_inner().count)
    }

    /// How many executions there are of each status (`GROUP BY ExecutionStatus`).
    pub(crate) async fn count_by_status(&self) -> Result<Vec<(String, i64)>, ConsoleError> {
        let request = CountWorkflowExecutionsRequest {
            namespace: self.namespace(),
            query: "GROUP BY ExecutionStatus".to_owned(),
        };
        let mut client = self.client.clone();
        let response = self
            .call("workflows", async move {
                WorkflowService::count_workflow_executions(&mut client, request.into_request())
                    .await
            })
            .await?
            .into_inner();
        Ok(response
            .groups
            .iter()
            .map(|g| {
                let status = match g.group_values.first().map(payload::decode) {
                    Some(serde_json::Value::String(s)) => s,
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                (status, g.count)
            })
            .collect())
    }

    pub(crate) async fn describe(
        &self,
        workflow_id: &str,
        run_id: &str,
    ) -> Result<DescribeWorkflowExecutionResponse, ConsoleError> {
        let request = DescribeWorkflowExecutionRequest {
            namespace: self.namespace(),
            execution: Some(execution(workflow_id, run_id)),
        };
        let mut client = self.client.clone();
        let response = self
            .call(&format!("workflow {workflow_id:?}"), async move {
                WorkflowService::describe_workflow_execution(&mut client, request.into_request())
                    .await
            })
            .await?;
        Ok(response.into_inner())
    }

    pub(crate) async fn history(
        &self,
        workflow_id: &str,
        run_id: &str,
    ) -> Result<History, ConsoleError> {
        let mut events = Vec::new();
        let mut next_page_token = Vec::new();
        loop {
            let request = GetWorkflowExecutionHistoryRequest {
                namespace: self.namespace(),
                execution: Some(execution(workflow_id, run_id)),
                maximum_page_size: 1000,
                next_page_token: std::mem::take(&mut next_page_token),
                ..Default::default()
            };
            let mut client = self.client.clone();
            let response = self
                .call(&format!("workflow {workflow_id:?}"), async move {
                    WorkflowService::get_workflow_execution_history(
                        &mut client,
                        request.into_request(),
                    )
                    .await
                })
                .await?
                .into_inner();
            events.extend(response.history.map(|h| h.events).unwrap_or_default());
            next_page_token = response.next_page_token;
            if events.len() >= MAX_EVENTS {
                events.truncate(MAX_EVENTS);
                return Ok(History {
                    events,
                    truncated: !next_page_token.is_empty(),
                });
            }
            if next_page_token.is_empty() {
                return Ok(History {
                    events,
                    truncated: false,
                });
            }
        }
    }

    pub(crate) async fn query(
        &self,
        workflow_id: &str,
        run_id: &str,
        name: &str,
        args: &serde_json::Value,
    ) -> Result<serde_json::Value, ConsoleError> {
        let request = QueryWorkflowRequest {
            namespace: self.namespace(),
            execution: Some(execution(workflow_id, run_id)),
            query: Some(WorkflowQuery {
                query_type: name.to_owned(),
                query_args: payload::encode_args(args),
                header: None,
            }),
            query_reject_condition: 0,
        };
        let mut client = self.client.clone();
        let response = self
            .call(&format!("workflow {workflow_id:?}"), async move {
                WorkflowService::query_workflow(&mut client, request.into_request()).await
            })
            .await?
            .into_inner();
        if let Some(rejected) = response.query_rejected {
            return Err(ConsoleError::Conflict(format!(
                "query {name:?} rejected: the workflow is {}",
                crate::client::status_name(rejected.status)
            )));
        }
        Ok(payload::decode_all(response.query_result.as_ref()))
    }

    pub(crate) async fn signal(
        &self,
        workflow_id: &str,
        run_id: &str,
        name: &str,
        input: Option<Payloads>,
    ) -> Result<(), ConsoleError> {
        let request = SignalWorkflowExecutionRequest {
            namespace: self.namespace(),
            workflow_execution: Some(execution(workflow_id, run_id)),
            signal_name: name.to_owned(),
            input,
            identity: IDENTITY.to_owned(),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        };
        let mut client = self.client.clone();
        self.call(&format!("workflow {workflow_id:?}"), async move {
            WorkflowService::signal_workflow_execution(&mut client, request.into_request()).await
        })
        .await?;
        Ok(())
    }

    pub(crate) async fn cancel(
        &self,
        workflow_id: &str,
        run_id: &str,
        reason: &str,
    ) -> Result<(), ConsoleError> {
        let request = RequestCancelWorkflowExecutionRequest {
            namespace: self.namespace(),
            workflow_execution: Some(execution(workflow_id, run_id)),
            identity: IDENTITY.to_owned(),
            request_id: uuid::Uuid::new_v4().to_string(),
            reason: reason.to_owned(),
            ..Default::default()
        };
        let mut client = self.client.clone();
        self.call(&format!("workflow {workflow_id:?}"), async move {
            WorkflowService::request_cancel_workflow_execution(&mut client, request.into_request())
                .await
        })
        .await?;
        Ok(())
    }

    pub(crate) async fn terminate(
        &self,
        workflow_id: &str,
        run_id: &str,
        reason: &str,
    ) -> Result<(), ConsoleError> {
        let request = TerminateWorkflowExecutionRequest {
            namespace: self.namespace(),
            workflow_execution: Some(execution(workflow_id, run_id)),
            reason: reason.to_owned(),
            identity: IDENTITY.to_owned(),
            ..Default::default()
        };
        let mut client = self.client.clone();
        self.call(&format!("workflow {workflow_id:?}"), async move {
            WorkflowService::terminate_workflow_execution(&mut client, request.into_request()).await
        })
        .await?;
        Ok(())
    }
}

fn execution(workflow_id: &str, run_id: &str) -> WorkflowExecution {
    WorkflowExecution {
        workflow_id: workflow_id.to_owned(),
        run_id: run_id.to_owned(),
    }
}
