//! Timers, signals and queries, cancellation, termination and id conflicts.

use std::time::Duration;

use temporalio_client::{
    WorkflowCancelOptions, WorkflowDescribeOptions, WorkflowGetResultOptions, WorkflowQueryOptions,
    WorkflowSignalOptions, WorkflowStartOptions, WorkflowTerminateOptions,
};
use temporalio_sdk::WorkerOptions;

use crate::{
    harness,
    workflows::{Cancellable, Counter, Echo, Patient, Sleeper},
};

#[tokio::test]
async fn timer_fires_and_workflow_completes() {
    let engine = harness::start(harness::options()).await;
    let client = harness::connect(engine.address()).await;
    let runtime = harness::runtime();
    let queue = harness::task_queue("timer");
    let options = WorkerOptions::new(&queue)
        .register_workflow::<Sleeper>()
        .unwrap_or_else(|e| panic!("register: {e}"))
        .build();
    let mut worker = harness::worker(&runtime, &client, options);
    let started = std::time::Instant::now();
    let result = harness::with_worker(&mut worker, Duration::from_secs(30), async {
        let handle = client
            .start_workflow(
                Sleeper::run,
                1000,
                WorkflowStartOptions::new(&queue, "timer-1").build(),
            )
            .await
            .unwrap_or_else(|e| panic!("start: {e}"));
        handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .unwrap_or_else(|e| panic!("result: {e}"))
    })
    .await;
    assert_eq!(result, "woke up");
    assert!(started.elapsed() >= Duration::from_millis(1000));
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
}

#[tokio::test]
async fn signals_change_state_that_queries_read() {
    let engine = harness::start(harness::options()).await;
    let client = harness::connect(engine.address()).await;
    let runtime = harness::runtime();
    let queue = harness::task_queue("counter");
    let options = WorkerOptions::new(&queue)
        .register_workflow::<Counter>()
        .unwrap_or_else(|e| panic!("register: {e}"))
        .build();
    let mut worker = harness::worker(&runtime, &client, options);
    let (seen, result) = harness::with_worker(&mut worker, Duration::from_secs(60), async {
        let handle = client
            .start_workflow(
                Counter::run,
                5,
                WorkflowStartOptions::new(&queue, "counter-1").build(),
            )
            .await
            .unwrap_or_else(|e| panic!("start: {e}"));
        handle
            .signal(Counter::add, 2, WorkflowSignalOptions::default())
            .await
            .unwrap_or_else(|e| panic!("signal: {e}"));
        let mut seen = 0;
        for _ in 0..50 {
            seen = handle
                .query(Counter::count, (), WorkflowQueryOptions::default())
                .await
                .unwrap_or_else(|e| panic!("query: {e}"));
            if seen == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        handle
            .signal(Counter::add, 3, WorkflowSignalOptions::default())
            .await
            .unwrap_or_else(|e| panic!("signal: {e}"));
        let result = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .unwrap_or_else(|e| panic!("result: {e}"));
        let after = handle
            .query(Counter::count, (), WorkflowQueryOptions::default())
            .await
            .unwrap_or_else(|e| panic!("query after close: {e}"));
        assert_eq!(after, 5);
        (seen, result)
    })
    .await;
    assert_eq!(seen, 2);
    assert_eq!(result, 5);
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
}

#[tokio::test]
async fn cancel_reaches_a_heartbeating_activity() {
    let engine = harness::start(harness::options()).await;
    let client = harness::connect(engine.address()).await;
    let runtime = harness::runtime();
    let queue = harness::task_queue("cancel");
    let options = WorkerOptions::new(&queue)
        .register_workflow::<Cancellable>()
        .unwrap_or_else(|e| panic!("register: {e}"))
        .register_activities(Patient)
        .build();
    let mut worker = harness::worker(&runtime, &client, options);
    let result = harness::with_worker(&mut worker, Duration::from_secs(60), async {
        let handle = client
            .start_workflow(
                Cancellable::run,
                (),
                WorkflowStartOptions::new(&queue, "cancel-1").build(),
            )
            .await
            .unwrap_or_else(|e| panic!("start: {e}"));
        tokio::time::sleep(Duration::from_millis(800)).await;
        handle
            .cancel(WorkflowCancelOptions::default())
            .await
            .unwrap_or_else(|e| panic!("cancel: {e}"));
        handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .unwrap_or_else(|e| panic!("result: {e}"))
    })
    .await;
    assert_eq!(result, "cleaned up");
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
}

#[tokio::test]
async fn terminate_closes_a_running_workflow() {
    let engine = harness::start(harness::options()).await;
    let client = harness::connect(engine.address()).await;
    let runtime = harness::runtime();
    let queue = harness::task_queue("terminate");
    let options = WorkerOptions::new(&queue)
        .register_workflow::<Sleeper>()
        .unwrap_or_else(|e| panic!("register: {e}"))
        .build();
    let mut worker = harness::worker(&runtime, &client, options);
    let outcome = harness::with_worker(&mut worker, Duration::from_secs(30), async {
        let handle = client
            .start_workflow(
                Sleeper::run,
                600_000,
                WorkflowStartOptions::new(&queue, "terminate-1").build(),
            )
            .await
            .unwrap_or_else(|e| panic!("start: {e}"));
        tokio::time::sleep(Duration::from_millis(300)).await;
        handle
            .terminate(WorkflowTerminateOptions::builder().reason("enough").build())
            .await
            .unwrap_or_else(|e| panic!("terminate: {e}"));
        let result = handle.get_result(WorkflowGetResultOptions::default()).await;
        assert!(result.is_err(), "a terminated workflow has no result");
        handle
            .describe(WorkflowDescribeOptions::default())
            .await
            .unwrap_or_else(|e| panic!("describe: {e}"))
    })
    .await;
    assert_eq!(format!("{:?}", outcome.status()), "Terminated");
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
}

#[tokio::test]
async fn starting_a_running_workflow_id_again_conflicts() {
    let engine = harness::start(harness::options()).await;
    let client = harness::connect(engine.address()).await;
    let queue = harness::task_queue("conflict");
    let first = client
        .start_workflow(
            Echo::run,
            "one".to_owned(),
            WorkflowStartOptions::new(&queue, "same-id").build(),
        )
        .await
        .unwrap_or_else(|e| panic!("first start: {e}"));
    let second = client
        .start_workflow(
            Echo::run,
            "two".to_owned(),
            WorkflowStartOptions::new(&queue, "same-id").build(),
        )
        .await;
    let error = second.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        error.to_lowercase().contains("already"),
        "expected an already-started error, got {error:?}"
    );
    assert!(first.run_id().is_some());
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
}
