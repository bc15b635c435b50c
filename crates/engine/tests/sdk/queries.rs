//! Queries see every event sent before them, even while a workflow task is in flight: a
//! query that finds a task pending rides on it instead of reading older state.

use std::time::Duration;

use temporalio_client::{WorkflowGetResultOptions, WorkflowQueryOptions, WorkflowSignalOptions};

use crate::{
    harness::{self, TestEngine},
    workflows::Counter,
};

#[tokio::test]
async fn a_query_right_after_a_signal_sees_it() {
    let t = TestEngine::start("read-your-signals").await;
    let mut worker = t.worker(|o| o.register_workflow::<Counter>());
    let rounds = 15;
    let seen = harness::with_worker(&mut worker, Duration::from_secs(60), async {
        let handle = t.start_workflow(Counter::run, rounds, "ryw-1").await;
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
    t.shutdown().await;
}
