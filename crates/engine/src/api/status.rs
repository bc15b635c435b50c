//! The one mapping from [`EngineError`] to a gRPC status. Input errors are shown as they
//! are; storage and internal errors are logged and shown generically.

use prost::Message;
use temporalio_protos::{
    google::rpc::Status as RpcStatus,
    temporal::api::errordetails::v1::{
        NamespaceAlreadyExistsFailure, WorkflowExecutionAlreadyStartedFailure,
    },
};
use tonic::{Code, Status};

use crate::error::EngineError;

impl From<EngineError> for Status {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::InvalidArgument(m) => Status::invalid_argument(m),
            EngineError::NotFound(m) => Status::not_found(m),
            EngineError::QueryFailed(m) => Status::invalid_argument(m),
            EngineError::Timeout(m) => Status::deadline_exceeded(m),
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
            EngineError::NamespaceExists(_) => with_detail(
                Code::AlreadyExists,
                error.to_string(),
                "temporal.api.errordetails.v1.NamespaceAlreadyExistsFailure",
                NamespaceAlreadyExistsFailure::default().encode_to_vec(),
            ),
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
        details: vec![prost_wkt_types::Any {
            type_url: format!("type.googleapis.com/{type_name}"),
            value,
        }],
    };
    Status::with_details(code, message, details.encode_to_vec().into())
}
