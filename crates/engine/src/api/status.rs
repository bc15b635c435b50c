//! The one mapping from [`EngineError`] to a gRPC status. Input errors are shown as they
//! are; storage and internal errors are logged and shown generically.

use prost::Message;
use temporalio_protos::{
    google::rpc::Status as RpcStatus,
    temporal::api::{
        enums::v1::{ResourceExhaustedCause, ResourceExhaustedScope},
        errordetails::v1::{
            ActivityExecutionAlreadyStartedFailure, MultiOperationExecutionFailure,
            NamespaceAlreadyExistsFailure, ResourceExhaustedFailure,
            WorkflowExecutionAlreadyStartedFailure,
            multi_operation_execution_failure::OperationStatus,
        },
    },
};
use tonic::{Code, Status};

use crate::error::{EngineError, OperationOutcome};

impl From<EngineError> for Status {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::InvalidArgument(m) => Status::invalid_argument(m),
            EngineError::NotFound(m) => Status::not_found(m),
            EngineError::QueryFailed(m) => Status::invalid_argument(m),
            EngineError::Timeout(m) => Status::deadline_exceeded(m),
            EngineError::Unavailable(m) => Status::unavailable(m),
            // As the real server answers its store's disk guard: the cause says it is storage,
            // the scope that it is the whole system. (Go clients, the CLI among them, retry
            // RESOURCE_EXHAUSTED whatever its detail, until their deadline.)
            EngineError::DiskFull(m) => with_detail(
                Code::ResourceExhausted,
                m,
                "temporal.api.errordetails.v1.ResourceExhaustedFailure",
                ResourceExhaustedFailure {
                    cause: ResourceExhaustedCause::PersistenceStorageLimit as i32,
                    scope: ResourceExhaustedScope::System as i32,
                }
                .encode_to_vec(),
            ),
            EngineError::AlreadyStarted {
                ref run_id,
                ref start_request_id,
                ..
            } => {
                let detail = WorkflowExecutionAlreadyStartedFailure {
                    start_request_id: start_request_id.clone(),
                    run_id: run_id.clone(),
                    ..Default::default()
                };
                with_detail(
                    Code::AlreadyExists,
                    error.to_string(),
                    "temporal.api.errordetails.v1.WorkflowExecutionAlreadyStartedFailure",
                    detail.encode_to_vec(),
                )
            }
            EngineError::ActivityAlreadyStarted {
                ref run_id,
                ref start_request_id,
            } => {
                let detail = ActivityExecutionAlreadyStartedFailure {
                    start_request_id: start_request_id.clone(),
                    run_id: run_id.clone(),
                };
                with_detail(
                    Code::AlreadyExists,
                    error.to_string(),
                    "temporal.api.errordetails.v1.ActivityExecutionAlreadyStartedFailure",
                    detail.encode_to_vec(),
                )
            }
            EngineError::NamespaceExists(_) => with_detail(
                Code::AlreadyExists,
                error.to_string(),
                "temporal.api.errordetails.v1.NamespaceAlreadyExistsFailure",
                NamespaceAlreadyExistsFailure::default().encode_to_vec(),
            ),
            // The real server's schedules are workflows: an id taken answers as one.
            EngineError::ScheduleExists(_) => with_detail(
                Code::AlreadyExists,
                error.to_string(),
                "temporal.api.errordetails.v1.WorkflowExecutionAlreadyStartedFailure",
                WorkflowExecutionAlreadyStartedFailure::default().encode_to_vec(),
            ),
            EngineError::FailedPrecondition(m) => Status::failed_precondition(m),
            EngineError::AlreadyExists(m) => Status::already_exists(m),
            EngineError::MultiOperation {
                message,
                operations,
            } => multi_operation(message, operations),
            other => {
                tracing::error!("internal error: {other}");
                Status::internal("internal engine error; see the engine log")
            }
        }
    }
}

/// A status carrying one typed detail, the way Temporal's Go server encodes them.
fn with_detail(code: Code, message: String, type_name: &str, value: Vec<u8>) -> Status {
    let details = RpcStatus {
        code: code as i32,
        message: message.clone(),
        details: vec![any(type_name, value)],
    };
    Status::with_details(code, message, details.encode_to_vec().into())
}

/// A refused multi-operation, encoded as the Go server's `MultiOperationExecution` error: the
/// status takes the code of the first operation that failed (not aborted), and the detail
/// lists every operation's own status.
fn multi_operation(message: String, operations: Vec<OperationOutcome>) -> Status {
    let mut code = None;
    let statuses = operations
        .into_iter()
        .map(|op| match op {
            OperationOutcome::Succeeded => OperationStatus::default(),
            OperationOutcome::Aborted => OperationStatus {
                code: Code::Aborted as i32,
                message: "Operation was aborted.".into(),
                // An empty message (not in the generated protos): its encoding is empty.
                details: vec![any(
                    "temporal.api.failure.v1.MultiOperationExecutionAborted",
                    Vec::new(),
                )],
            },
            OperationOutcome::Failed(error) => {
                let status = Status::from(*error);
                code.get_or_insert(status.code());
                let details = RpcStatus::decode(status.details())
                    .map(|s| s.details)
                    .unwrap_or_default();
                OperationStatus {
                    code: status.code() as i32,
                    message: status.message().to_owned(),
                    details,
                }
            }
        })
        .collect();
    let failure = MultiOperationExecutionFailure { statuses };
    with_detail(
        code.unwrap_or(Code::Aborted),
        message,
        "temporal.api.errordetails.v1.MultiOperationExecutionFailure",
        failure.encode_to_vec(),
    )
}

fn any(type_name: &str, value: Vec<u8>) -> prost_wkt_types::Any {
    prost_wkt_types::Any {
        type_url: format!("type.googleapis.com/{type_name}"),
        value,
    }
}
