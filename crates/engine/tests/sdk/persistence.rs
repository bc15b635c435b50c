//! SQLite persistence: a workflow waiting on a timer survives an engine restart.

use std::time::Duration;

use temporalio_client::{
    WorkflowFetchHistoryOptions, WorkflowGetResultOptions, WorkflowStartOptions,
};
use temporalio_common::protos::temporal::api::enums::v1::EventType;
use temporalio_sdk::WorkerOptions;

use crate::{harness, workflows::Sleeper};

#[tokio::test]
async fn pending_timer_survives_restart() {
    let path = std::env::temp_dir().join(format!("engine-restart-{}.db", uuid::Uuid::new_v4()));
    let queue = harness::task_queue("restart");

    let engine = harness::start(harness::options().with_database(&path)).await;
    let client = harness::connect(engine.address()).await;
    let runtime = harness::runtime();
    let options = WorkerOptions::new(&queue)
        .register_workflow::<Sleeper>()
        .unwrap_or_else(|e| panic!("register: {e}"))
        .build();
    let mut worker = harness::worker(&runtime, &client, options);
    harness::with_worker(&mut worker, Duration::from_secs(30), async {
        let handle = client
            .start_workflow(
                Sleeper::run,
                3000,
                WorkflowStartOptions::new(&queue, "restart-1").build(),
            )
            .await
            .unwrap_or_else(|e| panic!("start: {e}"));
        loop {
            let events = handle
                .fetch_history(WorkflowFetchHistoryOptions::default())
                .into_events()
                .await
                .unwrap_or_else(|e| panic!("history: {e}"));
            if events
                .iter()
                .any(|e| e.event_type == EventType::TimerStarted as i32)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    drop(worker);
    drop(client);
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));

    let engine = harness::start(harness::options().with_database(&path)).await;
    let client = harness::connect(engine.address()).await;
    let options = WorkerOptions::new(&queue)
        .register_workflow::<Sleeper>()
        .unwrap_or_else(|e| panic!("register: {e}"))
        .build();
    let mut worker = harness::worker(&runtime, &client, options);
    let result = harness::with_worker(&mut worker, Duration::from_secs(30), async {
        let handle = client.get_workflow_handle::<Sleeper>("restart-1");
        handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .unwrap_or_else(|e| panic!("result after restart: {e}"))
    })
    .await;
    assert_eq!(result, "woke up");
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
