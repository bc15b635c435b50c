//! Connecting, and a workflow that returns its input.

use std::time::Duration;

use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeNamespaceRequest;
use temporalio_sdk::WorkerOptions;

use crate::{harness, workflows::Echo};

#[tokio::test]
async fn client_connects_and_sees_default_namespace() {
    let engine = harness::start(harness::options()).await;
    let client = harness::connect(engine.address()).await;
    let capabilities = client.connection().capabilities().cloned();
    assert!(capabilities.is_some_and(|c| c.signal_and_query_header && !c.supports_schedules));
    let mut service = client.connection().workflow_service();
    let described = service
        .describe_namespace(tonic::Request::new(DescribeNamespaceRequest {
            namespace: "default".into(),
            ..Default::default()
        }))
        .await
        .unwrap_or_else(|e| panic!("describe namespace: {e}"))
        .into_inner();
    assert_eq!(
        described.namespace_info.map(|i| i.name).as_deref(),
        Some("default")
    );
    let missing = service
        .describe_namespace(tonic::Request::new(DescribeNamespaceRequest {
            namespace: "nope".into(),
            ..Default::default()
        }))
        .await;
    assert_eq!(missing.err().map(|s| s.code()), Some(tonic::Code::NotFound));
    drop(service);
    drop(client);
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
}

#[tokio::test]
async fn workflow_returns_its_input() {
    let engine = harness::start(harness::options()).await;
    let client = harness::connect(engine.address()).await;
    let runtime = harness::runtime();
    let queue = harness::task_queue("echo");
    let options = WorkerOptions::new(&queue)
        .register_workflow::<Echo>()
        .unwrap_or_else(|e| panic!("register: {e}"))
        .build();
    let mut worker = harness::worker(&runtime, &client, options);
    let result = harness::with_worker(&mut worker, Duration::from_secs(30), async {
        let handle = client
            .start_workflow(
                Echo::run,
                "hello engine".to_owned(),
                WorkflowStartOptions::new(&queue, "echo-1").build(),
            )
            .await
            .unwrap_or_else(|e| panic!("start: {e}"));
        handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .unwrap_or_else(|e| panic!("result: {e}"))
    })
    .await;
    assert_eq!(result, "hello engine");
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
}
