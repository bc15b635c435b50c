//! Timers, signals and queries, cancellation, termination and id conflicts.

use std::time::Duration;

use temporalio_client::{
    WorkflowCancelOptions, WorkflowDescribeOptions, WorkflowGetResultOptions, WorkflowQueryOptions,
    WorkflowSignalOptions, WorkflowStartOptions, WorkflowTerminateOptions,
};

use crate::{
    harness::{self, TestEngine},
    workflows::{Cancellable, Counter, Echo, Patient, Sleeper},
};

#[tokio::test]
async fn timer_fires_and_workflow_completes() {
    let t = TestEngine::start("timer").await;
    let mut worker = t.worker(|o| o.register_workflow::<Sleeper>());
    let started = std::time::Instant::now();
    let result = harness::with_worker(&mut worker, Duration::from_secs(30), async {
        t.execute(Sleeper::run, 1000, "timer-1").await
    })
    .await;
    assert_eq!(result, "woke up");
    assert!(started.elapsed() >= Duration::from_millis(1000));
    t.shutdown().await;
}

#[tokio::test]
async fn signals_change_state_that_queries_read() {
    let t = TestEngine::start("counter").await;
    let mut worker = t.worker(|o| o.register_workflow::<Counter>());
    let (seen, result) = harness::with_worker(&mut worker, Duration::from_secs(60), async {
        let handle = t.start_workflow(Counter::run, 5, "counter-1").await;
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
    t.shutdown().await;
}

#[tokio::test]
async fn cancel_reaches_a_heartbeating_activity() {
    let t = TestEngine::start("cancel").await;
    let mut worker = t.worker(|o| {
        Ok(o.register_workflow::<Cancellable>()?
            .register_activities(Patient))
    });
    let result = harness::with_worker(&mut worker, Duration::from_secs(60), async {
        let handle = t.start_workflow(Cancellable::run, (), "cancel-1").await;
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
    t.shutdown().await;
}

#[tokio::test]
async fn terminate_closes_a_running_workflow() {
    let t = TestEngine::start("terminate").await;
    let mut worker = t.worker(|o| o.register_workflow::<Sleeper>());
    let outcome = harness::with_worker(&mut worker, Duration::from_secs(30), async {
        let handle = t.start_workflow(Sleeper::run, 600_000, "terminate-1").await;
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
    t.shutdown().await;
}

#[tokio::test]
async fn starting_a_running_workflow_id_again_conflicts() {
    let t = TestEngine::start("conflict").await;
    let first = t
        .client
        .start_workflow(
            Echo::run,
            "one".to_owned(),
            WorkflowStartOptions::new(&t.queue, "same-id").build(),
        )
        .await
        .unwrap_or_else(|e| panic!("first start: {e}"));
    let second = t
        .client
        .start_workflow(
            Echo::run,
            "two".to_owned(),
            WorkflowStartOptions::new(&t.queue, "same-id").build(),
        )
        .await;
    let error = second.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        error.to_lowercase().contains("already"),
        "expected an already-started error, got {error:?}"
    );
    assert!(first.run_id().is_some());
    t.shutdown().await;
}
