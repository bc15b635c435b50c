//! Queries see every event sent before them, even while a workflow task is in flight: a
//! query that finds a task pending rides on it instead of reading older state.

use std::time::Duration;

use temporalio_client::{
    WorkflowGetResultOptions, WorkflowQueryOptions, WorkflowSignalOptions, WorkflowStartOptions,
};
use temporalio_sdk::WorkerOptions;

use crate::{harness, workflows::Counter};

#[tokio::test]
async fn a_query_right_after_a_signal_sees_it() {
    let engine = harness::start(harness::options()).await;
    let client = harness::connect(engine.address()).await;
    let runtime = harness::runtime();
    let queue = harness::task_queue("read-your-signals");
    let options = WorkerOptions::new(&queue)
        .register_workflow::<Counter>()
        .unwrap_or_else(|e| panic!("register: {e}"))
        .build();
    let mut worker = harness::worker(&runtime, &client, options);
    let rounds = 15;
    let seen = harness::with_worker(&mut worker, Duration::from_secs(60), async {
        let handle = client
            .start_workflow(
                Counter::run,
                rounds,
                WorkflowStartOptions::new(&queue, "ryw-1").build(),
            )
            .await
            .unwrap_or_else(|e| panic!("start: {e}"));
        let mut seen = Vec::new();
        for _ in 0..rounds {
            handle
                .signal(Counter::add, 1, WorkflowSignalOptions::default())
                .await
                .unwrap_or_else(|e| panic!("signal: {e}"));
            seen.push(
                handle
                    .query(Counter::count, (), WorkflowQueryOptions::default())
                    .await
                    .unwrap_or_else(|e| panic!("query: {e}")),
            );
        }
        let total = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .unwrap_or_else(|e| panic!("result: {e}"));
        assert_eq!(total, rounds);
        seen
    })
    .await;
    assert_eq!(seen, (1..=rounds).collect::<Vec<_>>());
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
}
