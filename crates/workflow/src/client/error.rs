//! The client's error type and the one mapping from the SDK's errors to it: each cause is
//! its own variant, and the error that told us keeps riding along as the `source`.

use std::error::Error;
use std::time::Duration;

use temporalio_client::errors::{
    ClientError as SdkClientError, WorkflowGetResultError, WorkflowInteractionError,
    WorkflowQueryError, WorkflowStartError, WorkflowUpdateError,
};
use temporalio_client::tonic::{Code, Status};
use temporalio_common::data_converters::PayloadConversionError;
use temporalio_common::error::IncomingError;

use super::status_name;

/// A failed client operation. Each variant's doc says what the caller should do.
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
    /// Temporal refused the connection or dropped the call: retry later.
    #[error("Temporal at {address} is unavailable: {}", .status.message())]
    Unavailable {
        /// The configured server address.
        address: String,
        /// What the server or the transport answered.
        #[source]
        status: Box<Status>,
    },
    /// Temporal did not answer within the operation's limit (`temporal.request_timeout`):
    /// retry later.
    #[error("Temporal at {address} is unavailable: no answer within {limit:?}")]
    NoAnswer {
        /// The configured server address.
        address: String,
        /// The operation that got no answer (`start`, `signal`, `query`, ...).
        operation: &'static str,
        /// How long it waited.
        limit: Duration,
    },
    /// The workflow did not finish within the wait that was asked for; it is still running.
    #[error("workflow {workflow_id:?} did not finish within {waited:?}")]
    ResultTimeout {
        /// The workflow id.
        workflow_id: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The workflow failed; `failure` is what its code raised.
    #[error("workflow {workflow_id:?} failed: {failure}")]
    WorkflowFailed {
        /// The workflow id.
        workflow_id: String,
        /// The workflow's failure.
        #[source]
        failure: Box<IncomingError>,
    },
    /// The workflow closed without a result and without a failure of its own.
    #[error("workflow {workflow_id:?} {outcome}")]
    WorkflowClosed {
        /// The workflow id.
        workflow_id: String,
        /// How it closed: `cancelled`, `terminated`, `timed out`.
        outcome: &'static str,
    },
    /// The query could not be answered (its handler failed, no such query, ...).
    #[error("query {query:?} on workflow {workflow_id:?} failed: {}", .status.message())]
    QueryFailed {
        /// The workflow id.
        workflow_id: String,
        /// The query name.
        query: String,
        /// The server's answer.
        #[source]
        status: Box<Status>,
    },
    /// The server refused to run the query because of the workflow's status.
    #[error("query {query:?} on workflow {workflow_id:?} was rejected: the workflow is {status}")]
    QueryRejected {
        /// The workflow id.
        workflow_id: String,
        /// The query name.
        query: String,
        /// The workflow's status (`Completed`, `Failed`, ...).
        status: &'static str,
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
    /// The server refused the request as invalid (bad query syntax, bad id...): fix the
    /// request.
    #[error("invalid request: {}", .0.message())]
    InvalidRequest(#[source] Box<Status>),
    /// A payload could not be converted to or from its contract type: the two sides of the
    /// contract disagree.
    #[error("cannot convert a payload: {0}")]
    Payload(#[source] PayloadConversionError),
    /// Any other server error.
    #[error("Temporal error ({:?}): {}", .0.code(), .0.message())]
    Server(#[source] Box<Status>),
    /// The server answered without a part the library needs.
    #[error("{operation}: Temporal answered without {missing}")]
    IncompleteAnswer {
        /// The operation.
        operation: &'static str,
        /// What was missing.
        missing: &'static str,
    },
    /// An SDK error the library does not classify.
    #[error("{operation} failed: {source}")]
    Sdk {
        /// The operation.
        operation: &'static str,
        /// The SDK's error.
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },
}

impl ClientError {
    /// Whether Temporal could not be reached or did not answer: the operation may be retried.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::NoAnswer { .. })
    }
}

/// What an error is about: which server, which workflow.
pub(super) struct Context<'a> {
    pub(super) address: &'a str,
    pub(super) workflow_id: &'a str,
}

impl Context<'_> {
    fn not_found(&self) -> ClientError {
        ClientError::NotFound {
            workflow_id: self.workflow_id.to_owned(),
        }
    }

    pub(super) fn status(&self, status: Status) -> ClientError {
        match status.code() {
            Code::NotFound => self.not_found(),
            Code::AlreadyExists => ClientError::AlreadyStarted {
                workflow_id: self.workflow_id.to_owned(),
                run_id: None,
            },
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
                ClientError::Unavailable {
                    address: self.address.to_owned(),
                    status: Box::new(status),
                }
            }
            Code::InvalidArgument => ClientError::InvalidRequest(Box::new(status)),
            _ => ClientError::Server(Box::new(status)),
        }
    }

    pub(super) fn start(&self, operation: &'static str, error: WorkflowStartError) -> ClientError {
        match error {
            WorkflowStartError::AlreadyStarted { run_id, .. } => ClientError::AlreadyStarted {
                workflow_id: self.workflow_id.to_owned(),
                run_id,
            },
            WorkflowStartError::PayloadConversion(e) => ClientError::Payload(e),
            WorkflowStartError::Rpc(status) => self.status(status),
            other => sdk(operation, other),
        }
    }

    pub(super) fn list(&self, error: SdkClientError) -> ClientError {
        match error {
            SdkClientError::Rpc(status) => self.status(status),
            SdkClientError::PayloadConversion(e) => ClientError::Payload(e),
            other => sdk("list", other),
        }
    }

    pub(super) fn interaction(
        &self,
        operation: &'static str,
        error: WorkflowInteractionError,
    ) -> ClientError {
        match error {
            WorkflowInteractionError::NotFound(_) => self.not_found(),
            WorkflowInteractionError::Rpc(status) => self.status(status),
            WorkflowInteractionError::PayloadConversion(e) => ClientError::Payload(e),
            WorkflowInteractionError::Other(source) => ClientError::Sdk { operation, source },
            other => sdk(operation, other),
        }
    }

    pub(super) fn query(&self, query: &str, error: WorkflowQueryError) -> ClientError {
        match error {
            WorkflowQueryError::NotFound(_) => self.not_found(),
            WorkflowQueryError::Rpc(status)
                if matches!(
                    status.code(),
                    Code::InvalidArgument | Code::FailedPrecondition | Code::Internal
                ) =>
            {
                ClientError::QueryFailed {
                    workflow_id: self.workflow_id.to_owned(),
                    query: query.to_owned(),
                    status: Box::new(status),
                }
            }
            WorkflowQueryError::Rpc(status) => self.status(status),
            WorkflowQueryError::Rejected { status } => ClientError::QueryRejected {
                workflow_id: self.workflow_id.to_owned(),
                query: query.to_owned(),
                status: status_name(status.map_or(0, |s| s as i32)),
            },
            WorkflowQueryError::PayloadConversion(e) => ClientError::Payload(e),
            WorkflowQueryError::Other(source) => ClientError::Sdk {
                operation: "query",
                source,
            },
            other => sdk("query", other),
        }
    }

    pub(super) fn update(&self, update: &str, error: WorkflowUpdateError) -> ClientError {
        match error {
            WorkflowUpdateError::NotFound(_) => self.not_found(),
            WorkflowUpdateError::Failed(failure) => ClientError::UpdateRejected {
                workflow_id: self.workflow_id.to_owned(),
                update: update.to_owned(),
                message: failure.message,
            },
            WorkflowUpdateError::Rpc(status) => self.status(status),
            WorkflowUpdateError::PayloadConversion(e) => ClientError::Payload(e),
            WorkflowUpdateError::Other(source) => ClientError::Sdk {
                operation: "update",
                source,
            },
            other => sdk("update", other),
        }
    }

    pub(super) fn result(&self, error: WorkflowGetResultError) -> ClientError {
        let closed = |outcome| ClientError::WorkflowClosed {
            workflow_id: self.workflow_id.to_owned(),
            outcome,
        };
        match error {
            WorkflowGetResultError::Failed(failure) => ClientError::WorkflowFailed {
                workflow_id: self.workflow_id.to_owned(),
                failure,
            },
            WorkflowGetResultError::Cancelled { .. } => closed("cancelled"),
            WorkflowGetResultError::Terminated { .. } => closed("terminated"),
            WorkflowGetResultError::TimedOut => closed("timed out"),
            WorkflowGetResultError::NotFound(_) => self.not_found(),
            WorkflowGetResultError::Rpc(status) => self.status(status),
            WorkflowGetResultError::PayloadConversion(e) => ClientError::Payload(e),
            WorkflowGetResultError::Other(source) => ClientError::Sdk {
                operation: "result",
                source,
            },
            other => sdk("result", other),
        }
    }
}

fn sdk(operation: &'static str, error: impl Error + Send + Sync + 'static) -> ClientError {
    ClientError::Sdk {
        operation,
        source: Box::new(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTEXT: Context<'static> = Context {
        address: "127.0.0.1:7233",
        workflow_id: "order-1",
    };

    #[test]
    fn statuses_map_to_what_the_caller_should_do() {
        assert!(matches!(
            CONTEXT.status(Status::not_found("gone")),
            ClientError::NotFound { workflow_id } if workflow_id == "order-1"
        ));
        let down = CONTEXT.status(Status::unavailable("connection refused"));
        assert!(down.is_unavailable(), "{down:?}");
        assert_eq!(
            down.to_string(),
            "Temporal at 127.0.0.1:7233 is unavailable: connection refused"
        );
        let source = down.source().map(ToString::to_string).unwrap_or_default();
        assert!(source.contains("connection refused"), "{source}");
        let bad = CONTEXT.status(Status::invalid_argument("bad query"));
        assert_eq!(bad.to_string(), "invalid request: bad query");
        assert!(matches!(
            CONTEXT.status(Status::permission_denied("no")),
            ClientError::Server(status) if status.code() == Code::PermissionDenied
        ));
    }

    #[test]
    fn no_answer_reads_as_unavailable() {
        let error = ClientError::NoAnswer {
            address: "127.0.0.1:7233".to_owned(),
            operation: "start",
            limit: Duration::from_secs(10),
        };
        assert!(error.is_unavailable());
        assert_eq!(
            error.to_string(),
            "Temporal at 127.0.0.1:7233 is unavailable: no answer within 10s"
        );
    }

    #[test]
    fn a_failing_query_handler_keeps_the_status() {
        let error = CONTEXT.query(
            "status",
            WorkflowQueryError::Rpc(Status::invalid_argument("handler panicked")),
        );
        assert_eq!(
            error.to_string(),
            "query \"status\" on workflow \"order-1\" failed: handler panicked"
        );
        assert!(error.source().is_some());
    }
}
