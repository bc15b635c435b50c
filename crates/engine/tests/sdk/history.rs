//! History paging, long polls for the close event, describe, list and count.

use std::time::Duration;

use temporalio_client::WorkflowGetResultOptions;
use temporalio_common::protos::temporal::api::{
    common::v1::WorkflowExecution,
    enums::v1::{EventType, HistoryEventFilterType},
    workflowservice::v1::{
        CountWorkflowExecutionsRequest, GetWorkflowExecutionHistoryRequest,
        ListWorkflowExecutionsRequest,
    },
};

use crate::{
    harness::{self, TestEngine},
    workflows::ManyTimers,
};

#[tokio::test]
async fn history_pages_list_and_count() {
    let t = TestEngine::start("paging").await;
    let mut worker = t.worker(|o| o.register_workflow::<ManyTimers>());
    let run_id = harness::with_worker(&mut worker, Duration::from_secs(60), async {
        let handle = t.start_workflow(ManyTimers::run, 20, "paging-1").await;
        let result = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .unwrap_or_else(|e| panic!("result: {e}"));
        assert_eq!(result, 20);
        handle.run_id().unwrap_or_default().to_owned()
    })
    .await;

    let mut service = t.client.connection().workflow_service();
    let execution = WorkflowExecution {
        workflow_id: "paging-1".into(),
        run_id,
    };
    let mut events = Vec::new();
    let mut token = Vec::new();
    let mut pages = 0;
    loop {
        let page = service
            .get_workflow_execution_history(tonic::Request::new(
                GetWorkflowExecutionHistoryRequest {
                    namespace: "default".into(),
                    execution: Some(execution.clone()),
                    maximum_page_size: 10,
                    next_page_token: token,
                    ..Default::default()
                },
            ))
            .await
            .unwrap_or_else(|e| panic!("history: {e}"))
            .into_inner();
        pages += 1;
        events.extend(page.history.map(|h| h.events).unwrap_or_default());
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert!(pages > 5, "20 timers make well over 50 events");
    for (index, event) in events.iter().enumerate() {
        assert_eq!(event.event_id, i64::try_from(index).unwrap_or(0) + 1);
    }
    let last = events.last().map(|e| e.event_type);
    assert_eq!(last, Some(EventType::WorkflowExecutionCompleted as i32));

    let close = service
        .get_workflow_execution_history(tonic::Request::new(GetWorkflowExecutionHistoryRequest {
            namespace: "default".into(),
            execution: Some(execution.clone()),
            wait_new_event: true,
            history_event_filter_type: HistoryEventFilterType::CloseEvent as i32,
            ..Default::default()
        }))
        .await
        .unwrap_or_else(|e| panic!("close event: {e}"))
        .into_inner();
    let close_events = close.history.map(|h| h.events).unwrap_or_default();
    assert_eq!(close_events.len(), 1);
    assert_eq!(
        close_events.first().map(|e| e.event_id),
        events.last().map(|e| e.event_id)
    );

    let listed = service
        .list_workflow_executions(tonic::Request::new(ListWorkflowExecutionsRequest {
            namespace: "default".into(),
            query: "WorkflowId = 'paging-1'".into(),
            ..Default::default()
        }))
        .await
        .unwrap_or_else(|e| panic!("list: {e}"))
        .into_inner();
    assert_eq!(listed.executions.len(), 1);
    let counted = service
        .count_workflow_executions(tonic::Request::new(CountWorkflowExecutionsRequest {
            namespace: "default".into(),
            query: "ExecutionStatus = 'Running'".into(),
        }))
        .await
        .unwrap_or_else(|e| panic!("count: {e}"))
        .into_inner();
    assert_eq!(counted.count, 0);
    drop(service);
    t.shutdown().await;
}
