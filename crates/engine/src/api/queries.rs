//! `QueryWorkflow`: ask a worker to run a query handler against a workflow's state. When
//! the run has a workflow task pending, the query rides on it (and is answered in the
//! task's completion); otherwise it travels as a query task on the workflow's task queue
//! and the worker answers with `RespondQueryTaskCompleted`.

use temporalio_protos::temporal::api::{
    query::v1::QueryRejected,
    workflowservice::v1::{QueryWorkflowRequest, QueryWorkflowResponse},
};

use super::Service;
use crate::{
    error::{EngineError, Result},
    runtime::QueryAnswer,
};

pub(super) async fn query(svc: &Service, r: QueryWorkflowRequest) -> Result<QueryWorkflowResponse> {
    let execution = r
        .execution
        .ok_or_else(|| EngineError::invalid("Execution is not set on request."))?;
    let query = r
        .query
        .ok_or_else(|| EngineError::invalid("Query is not set on request."))?;
    let limits = svc.runtime.read(|registry| registry.limits);
    limits.check_blob(query.query_args.as_ref())?;
    let answer = svc
        .runtime
        .query(
            &r.namespace,
            &execution,
            query,
            r.query_reject_condition,
            svc.long_poll,
        )
        .await?;
    Ok(match answer {
        QueryAnswer::Rejected { status } => QueryWorkflowResponse {
            query_rejected: Some(QueryRejected { status }),
            ..Default::default()
        },
        QueryAnswer::Answered(result) => QueryWorkflowResponse {
            query_result: result,
            ..Default::default()
        },
    })
}
