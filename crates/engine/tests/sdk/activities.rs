//! Activities: one that succeeds, one that fails twice and is retried by the server.

use std::{sync::Arc, time::Duration};

use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_sdk::WorkerOptions;

use crate::{
    harness,
    workflows::{Flaky, Greet, Greetings, Retrying},
};

#[tokio::test]
async fn activity_result_reaches_the_workflow() {
    let engine = harness::start(harness::options()).await;
    let client = harness::connect(engine.address()).await;
    let runtime = harness::runtime();
    let queue = harness::task_queue("greet");
    let options = WorkerOptions::new(&queue)
        .register_workflow::<Greet>()
        .unwrap_or_else(|e| panic!("register: {e}"))
        .register_activities(Greetings)
        .build();
    let mut worker = harness::worker(&runtime, &client, options);
    let result = harness::with_worker(&mut worker, Duration::from_secs(30), async {
        let handle = client
            .start_workflow(
                Greet::run,
                "Ada".to_owned(),
                WorkflowStartOptions::new(&queue, "greet-1").build(),
            )
            .await
            .unwrap_or_else(|e| panic!("start: {e}"));
        handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .unwrap_or_else(|e| panic!("result: {e}"))
    })
    .await;
    assert_eq!(result, "Hello, Ada!");
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
}

#[tokio::test]
async fn failing_activity_is_retried_by_the_server() {
    let engine = harness::start(harness::options()).await;
    let client = harness::connect(engine.address()).await;
    let runtime = harness::runtime();
    let queue = harness::task_queue("flaky");
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let flaky = Flaky {
        attempts: Arc::clone(&attempts),
    };
    let options = WorkerOptions::new(&queue)
        .register_workflow::<Retrying>()
        .unwrap_or_else(|e| panic!("register: {e}"))
        .register_activities(flaky)
        .build();
    let mut worker = harness::worker(&runtime, &client, options);
    let result = harness::with_worker(&mut worker, Duration::from_secs(30), async {
        let handle = client
            .start_workflow(
                Retrying::run,
                (),
                WorkflowStartOptions::new(&queue, "flaky-1").build(),
            )
            .await
            .unwrap_or_else(|e| panic!("start: {e}"));
        handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .unwrap_or_else(|e| panic!("result: {e}"))
    })
    .await;
    assert_eq!(result, 3);
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 3);
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
}
