//! Start options the library's facade does not expose, through the SDK client or raw: the
//! start delay, on start and on signal-with-start (a signal does not cut it short: the real
//! server's behaviour, whatever the proto's comment says); user metadata (summary and
//! details) on the workflow and its timers; priorities.

use std::time::{Duration, Instant};

use temporalio_client::grpc::WorkflowService;
use temporalio_client::tonic::IntoRequest;
use temporalio_protos::temporal::api::{
    common::v1::{Payload, Payloads, WorkflowExecution, WorkflowType},
    enums::v1::WorkflowExecutionStatus,
    taskqueue::v1::TaskQueue,
    workflow::v1::WorkflowExecutionInfo,
    workflowservice::v1::{
        DescribeWorkflowExecutionRequest, SignalWithStartWorkflowExecutionRequest,
        SignalWorkflowExecutionRequest, StartWorkflowExecutionRequest,
    },
};
use workflow::WorkflowClient;

use super::workflows::Summarized;
use super::{id, with_worker};

const NAMESPACE: &str = "default";

fn input() -> Option<Payloads> {
    Some(Payloads {
        payloads: vec![Payload {
            metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
            data: b"\"late\"".to_vec(),
            ..Default::default()
        }],
    })
}

fn delay(seconds: i64) -> Option<prost_wkt_types::Duration> {
    Some(prost_wkt_types::Duration { seconds, nanos: 0 })
}

fn ms(t: Option<&prost_wkt_types::Timestamp>) -> i64 {
    t.map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos / 1_000_000))
}

/// `Echo` with a start delay, on the suite's task queue.
fn delayed_start(
    client: &WorkflowClient,
    workflow_id: &str,
    seconds: i64,
) -> StartWorkflowExecutionRequest {
    StartWorkflowExecutionRequest {
        namespace: NAMESPACE.to_owned(),
        workflow_id: workflow_id.to_owned(),
        workflow_type: Some(WorkflowType {
            name: "Echo".to_owned(),
        }),
        task_queue: Some(TaskQueue {
            name: client.task_queue().to_owned(),
            ..Default::default()
        }),
        input: input(),
        request_id: uuid::Uuid::new_v4().to_string(),
        workflow_start_delay: delay(seconds),
        ..Default::default()
    }
}

async fn describe(client: &WorkflowClient, workflow_id: &str) -> WorkflowExecutionInfo {
    let request = DescribeWorkflowExecutionRequest {
        namespace: NAMESPACE.to_owned(),
        execution: Some(WorkflowExecution {
            workflow_id: workflow_id.to_owned(),
            run_id: String::new(),
        }),
    };
    WorkflowService::describe_workflow_execution(
        &mut client.sdk_client().clone(),
        request.into_request(),
    )
    .await
    .unwrap_or_else(|e| panic!("describe: {e}"))
    .into_inner()
    .workflow_execution_info
    .unwrap_or_default()
}

/// Waits for the run to complete; returns how long after its start it closed (server ms).
async fn completed_after(client: &WorkflowClient, workflow_id: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = describe(client, workflow_id).await;
        if info.status == WorkflowExecutionStatus::Completed as i32 {
            return ms(info.close_time.as_ref()) - ms(info.start_time.as_ref());
        }
        assert!(
            Instant::now() < deadline,
            "{workflow_id} did not complete: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_delay_holds_the_first_task() {
    with_worker(|client| async move {
        let mut service = client.sdk_client().clone();
        // Start: the first task waits two seconds.
        let delayed = id("delayed");
        WorkflowService::start_workflow_execution(
            &mut service,
            delayed_start(&client, &delayed, 2).into_request(),
        )
        .await
        .unwrap();
        let info = describe(&client, &delayed).await;
        assert_eq!(
            ms(info.execution_time.as_ref()) - ms(info.start_time.as_ref()),
            2000,
            "execution time is the start plus the delay"
        );
        assert!(completed_after(&client, &delayed).await >= 2000);

        // Signal-with-start: its own signal waits with the first task.
        let sws = id("delayed-sws");
        let start = delayed_start(&client, &sws, 2);
        let request = SignalWithStartWorkflowExecutionRequest {
            namespace: start.namespace,
            workflow_id: start.workflow_id,
            workflow_type: start.workflow_type,
            task_queue: start.task_queue,
            input: start.input,
            request_id: start.request_id,
            signal_name: "ignored".to_owned(),
            workflow_start_delay: start.workflow_start_delay,
            ..Default::default()
        };
        WorkflowService::signal_with_start_workflow_execution(&mut service, request.into_request())
            .await
            .unwrap();
        assert!(completed_after(&client, &sws).await >= 2000);

        // A signal during a long delay waits with the first task.
        let woken = id("delayed-signal");
        WorkflowService::start_workflow_execution(
            &mut service,
            delayed_start(&client, &woken, 60).into_request(),
        )
        .await
        .unwrap();
        let signal = SignalWorkflowExecutionRequest {
            namespace: NAMESPACE.to_owned(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: woken.clone(),
                run_id: String::new(),
            }),
            signal_name: "wake".to_owned(),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        };
        WorkflowService::signal_workflow_execution(&mut service, signal.into_request())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let info = describe(&client, &woken).await;
        assert_eq!(
            info.status,
            WorkflowExecutionStatus::Running as i32,
            "{info:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_details_and_priority_are_kept() {
    use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
    use temporalio_common::Priority;
    use temporalio_protos::temporal::api::{
        enums::v1::EventType, workflowservice::v1::GetWorkflowExecutionHistoryRequest,
    };
    with_worker(|client| async move {
        let workflow_id = id("summarized");
        let options = WorkflowStartOptions::new(client.task_queue(), &workflow_id)
            .static_summary("a summary".to_owned())
            .static_details("some details".to_owned())
            .priority(Priority::builder().priority_key(3).build())
            .build();
        let handle = client
            .sdk_client()
            .start_workflow(Summarized::run, (), options)
            .await
            .unwrap();
        handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .unwrap();
        let text = |p: Option<&Payload>| p.map(|p| String::from_utf8_lossy(&p.data).into_owned());
        let request = DescribeWorkflowExecutionRequest {
            namespace: NAMESPACE.to_owned(),
            execution: Some(WorkflowExecution {
                workflow_id: workflow_id.clone(),
                run_id: String::new(),
            }),
        };
        let described = WorkflowService::describe_workflow_execution(
            &mut client.sdk_client().clone(),
            request.into_request(),
        )
        .await
        .unwrap()
        .into_inner();
        let metadata = described
            .execution_config
            .and_then(|c| c.user_metadata)
            .unwrap_or_default();
        assert_eq!(
            text(metadata.summary.as_ref()).as_deref(),
            Some("\"a summary\"")
        );
        assert_eq!(
            text(metadata.details.as_ref()).as_deref(),
            Some("\"some details\"")
        );
        let priority = described
            .workflow_execution_info
            .and_then(|i| i.priority)
            .unwrap_or_default();
        assert_eq!(priority.priority_key, 3);

        let request = GetWorkflowExecutionHistoryRequest {
            namespace: NAMESPACE.to_owned(),
            execution: Some(WorkflowExecution {
                workflow_id,
                run_id: String::new(),
            }),
            ..Default::default()
        };
        let history = WorkflowService::get_workflow_execution_history(
            &mut client.sdk_client().clone(),
            request.into_request(),
        )
        .await
        .unwrap()
        .into_inner()
        .history
        .unwrap_or_default();
        let timer = history
            .events
            .iter()
            .find(|e| e.event_type == EventType::TimerStarted as i32)
            .and_then(|e| e.user_metadata.clone())
            .unwrap_or_default();
        assert_eq!(text(timer.summary.as_ref()).as_deref(), Some("\"nap\""));
    })
    .await;
}
