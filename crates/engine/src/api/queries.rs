//! `QueryWorkflow`: ask a worker to run a query handler against a workflow's state. When
//! the run has a workflow task pending, the query rides on it (and is answered in the
//! task's completion); otherwise it travels as a query task on the workflow's task queue
//! and the worker answers with `RespondQueryTaskCompleted`.

use temporalio_protos::temporal::api::{
    enums::v1::{QueryRejectCondition, WorkflowExecutionStatus},
    query::v1::QueryRejected,
    workflowservice::v1::{QueryWorkflowRequest, QueryWorkflowResponse},
};

use super::Service;
use crate::{
    error::{EngineError, Result},
    history::{QueueKind, Task},
    matching::QueueKey,
    runtime::QueryOutcome,
};

pub(super) async fn query(svc: &Service, r: QueryWorkflowRequest) -> Result<QueryWorkflowResponse> {
    let rt = &svc.runtime;
    let execution = r
        .execution
        .ok_or_else(|| EngineError::invalid("Execution is not set on request."))?;
    let query = r
        .query
        .ok_or_else(|| EngineError::invalid("Query is not set on request."))?;
    let (run_id, task_queue, status) = rt.read(|registry| {
        let run_id = registry.resolve(&r.namespace, &execution.workflow_id, &execution.run_id)?;
        let exec = registry.run(&run_id)?;
        Ok::<_, EngineError>((
            run_id.to_owned(),
            exec.state.task_queue.clone(),
            exec.state.status,
        ))
    })?;
    let running = status == WorkflowExecutionStatus::Running as i32;
    let reject = match QueryRejectCondition::try_from(r.query_reject_condition) {
        Ok(QueryRejectCondition::NotOpen) => !running,
        Ok(QueryRejectCondition::NotCompletedCleanly) => {
            !running && status != WorkflowExecutionStatus::Completed as i32
        }
        _ => false,
    };
    if reject {
        return Ok(QueryWorkflowResponse {
            query_rejected: Some(QueryRejected { status }),
            ..Default::default()
        });
    }
    let query_id = uuid::Uuid::new_v4().to_string();
    let answer = rt.queries.register(&query_id, &run_id, query.clone());
    let rides_on_task = running
        && rt
            .execute(|registry, _, _| Ok(registry.buffer_query(&run_id, &query_id, query)))
            .await?;
    if !rides_on_task {
        rt.matching.push(
            QueueKey {
                namespace: r.namespace.clone(),
                name: task_queue,
                kind: QueueKind::Workflow,
            },
            Task::Query {
                query_id: query_id.clone(),
            },
        );
    }
    let outcome = tokio::select! {
        outcome = answer => outcome.ok(),
        () = tokio::time::sleep(svc.long_poll) => None,
        () = rt.shutting_down() => None,
    };
    rt.queries.remove(&query_id);
    match outcome {
        Some(QueryOutcome::Answered(result)) => Ok(QueryWorkflowResponse {
            query_result: result,
            ..Default::default()
        }),
        Some(QueryOutcome::Failed(message)) => Err(EngineError::QueryFailed(message)),
        None => Err(EngineError::Timeout(
            "query timed out: no worker answered; is a worker polling the task queue?".into(),
        )),
    }
}
