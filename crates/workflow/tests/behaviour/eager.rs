//! Eager workflow start through the library: the client shares its connection with the
//! worker of the same process, so a start that finds the worker polling gets the first
//! workflow task in its response (the started event says `eager_execution_accepted`, and the
//! task is started at once, for the client's identity).

use temporalio_client::grpc::WorkflowService;
use temporalio_client::tonic::IntoRequest;
use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution,
    enums::v1::EventType,
    history::v1::{HistoryEvent, history_event::Attributes},
    workflowservice::v1::GetWorkflowExecutionHistoryRequest,
};
use workflow::{StartOptions, WorkflowClient};

use super::workflows::Echo;
use super::{WAIT, id, with_worker};

async fn history(client: &WorkflowClient, workflow_id: &str) -> Vec<HistoryEvent> {
    let request = GetWorkflowExecutionHistoryRequest {
        namespace: "default".to_owned(),
        execution: Some(WorkflowExecution {
            workflow_id: workflow_id.to_owned(),
            run_id: String::new(),
        }),
        ..Default::default()
    };
    WorkflowService::get_workflow_execution_history(
        &mut client.sdk_client().clone(),
        request.into_request(),
    )
    .await
    .unwrap_or_else(|e| panic!("history: {e}"))
    .into_inner()
    .history
    .unwrap_or_default()
    .events
}

fn accepted(events: &[HistoryEvent]) -> bool {
    matches!(
        events.first().and_then(|e| e.attributes.as_ref()),
        Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) if a.eager_execution_accepted
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_with_a_local_worker_gets_its_first_task_eagerly() {
    with_worker(|client| async move {
        // The worker starts polling beside the test body: the first starts may find no
        // free local slot and go through the queue, as the SDK intends.
        for attempt in 0..20 {
            let workflow_id = id("eager");
            let handle = client
                .start(
                    Echo::run,
                    &workflow_id,
                    "hi".to_owned(),
                    StartOptions::default(),
                )
                .await
                .unwrap_or_else(|e| panic!("start: {e}"));
            assert_eq!(
                handle.result(WAIT).await.unwrap_or_else(|e| panic!("{e}")),
                "hi"
            );
            let events = history(&client, &workflow_id).await;
            if !accepted(&events) {
                tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                continue;
            }
            let types: Vec<_> = events.iter().take(3).map(|e| e.event_type).collect();
            assert_eq!(
                types,
                [
                    EventType::WorkflowExecutionStarted as i32,
                    EventType::WorkflowTaskScheduled as i32,
                    EventType::WorkflowTaskStarted as i32
                ]
            );
            return;
        }
        panic!("no start was eager in 20 tries");
    })
    .await;
}
