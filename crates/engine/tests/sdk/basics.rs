//! Connecting, and a workflow that returns its input.

use std::time::Duration;

use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeNamespaceRequest;

use crate::{
    harness::{self, TestEngine},
    workflows::Echo,
};

#[tokio::test]
async fn client_connects_and_sees_default_namespace() {
    let t = TestEngine::start("connect").await;
    let capabilities = t.client.connection().capabilities().cloned();
    assert!(capabilities.is_some_and(|c| c.signal_and_query_header && c.supports_schedules));
    let mut service = t.client.connection().workflow_service();
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
    t.shutdown().await;
}

#[tokio::test]
async fn workflow_returns_its_input() {
    let t = TestEngine::start("echo").await;
    let mut worker = t.worker(|o| o.register_workflow::<Echo>());
    let result = harness::with_worker(&mut worker, Duration::from_secs(30), async {
        t.execute(Echo::run, "hello engine".to_owned(), "echo-1")
            .await
    })
    .await;
    assert_eq!(result, "hello engine");
    t.shutdown().await;
}
