//! Persistence, on SQLite and on PostgreSQL: a workflow waiting on a timer survives an
//! engine restart, and closed workflows that left memory stay readable.

use std::time::Duration;

use temporalio_client::{
    Client, WorkflowFetchHistoryOptions, WorkflowGetResultOptions, WorkflowStartOptions,
};
use temporalio_common::protos::temporal::api::{
    common::v1::WorkflowExecution,
    enums::v1::{EventType, WorkflowExecutionStatus},
    workflow::v1::WorkflowExecutionInfo,
    workflowservice::v1::{CountWorkflowExecutionsRequest, DescribeWorkflowExecutionRequest},
};
use temporalio_sdk::WorkerOptions;

use crate::{
    harness,
    workflows::{Echo, Sleeper},
};

#[tokio::test]
async fn pending_timer_survives_restart() {
    pending_timer_survives_restart_on(harness::TestDb::sqlite("engine-restart")).await;
}

#[tokio::test]
async fn pending_timer_survives_restart_on_postgres() {
    pending_timer_survives_restart_on(harness::TestDb::postgres()).await;
}

async fn pending_timer_survives_restart_on(db: harness::TestDb) {
    let queue = harness::task_queue("restart");

    let engine = harness::start(db.apply(harness::options())).await;
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

    let engine = harness::start(db.apply(harness::options())).await;
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
}

async fn count(client: &Client, query: &str) -> i64 {
    client
        .connection()
        .workflow_service()
        .count_workflow_executions(tonic::Request::new(CountWorkflowExecutionsRequest {
            namespace: "default".into(),
            query: query.into(),
        }))
        .await
        .unwrap_or_else(|e| panic!("count {query:?}: {e}"))
        .into_inner()
        .count
}

async fn describe(client: &Client, workflow_id: &str) -> WorkflowExecutionInfo {
    client
        .connection()
        .workflow_service()
        .describe_workflow_execution(tonic::Request::new(DescribeWorkflowExecutionRequest {
            namespace: "default".into(),
            execution: Some(WorkflowExecution {
                workflow_id: workflow_id.into(),
                run_id: String::new(),
            }),
        }))
        .await
        .unwrap_or_else(|e| panic!("describe {workflow_id}: {e}"))
        .into_inner()
        .workflow_execution_info
        .unwrap_or_else(|| panic!("describe {workflow_id}: no info"))
}

/// With room for only two closed runs in memory, every completed workflow stays readable
/// (result, describe, list, count, id reuse), before and after a restart.
#[tokio::test]
async fn closed_workflows_leave_memory_and_stay_readable() {
    closed_workflows_leave_memory_and_stay_readable_on(harness::TestDb::sqlite("engine-evict"))
        .await;
}

#[tokio::test]
async fn closed_workflows_leave_memory_and_stay_readable_on_postgres() {
    closed_workflows_leave_memory_and_stay_readable_on(harness::TestDb::postgres()).await;
}

async fn closed_workflows_leave_memory_and_stay_readable_on(db: harness::TestDb) {
    const RUNS: usize = 12;
    let options = || db.apply(harness::options()).with_closed_runs_in_memory(2);
    let queue = harness::task_queue("evict");
    let runtime = harness::runtime();

    let engine = harness::start(options()).await;
    let client = harness::connect(engine.address()).await;
    let worker_options = WorkerOptions::new(&queue)
        .register_workflow::<Echo>()
        .unwrap_or_else(|e| panic!("register: {e}"))
        .build();
    let mut worker = harness::worker(&runtime, &client, worker_options);
    harness::with_worker(&mut worker, Duration::from_secs(60), async {
        for i in 0..RUNS {
            let id = format!("evict-{i}");
            let handle = client
                .start_workflow(
                    Echo::run,
                    id.clone(),
                    WorkflowStartOptions::new(&queue, &id).build(),
                )
                .await
                .unwrap_or_else(|e| panic!("start {id}: {e}"));
            let out = handle
                .get_result(WorkflowGetResultOptions::default())
                .await
                .unwrap_or_else(|e| panic!("result {id}: {e}"));
            assert_eq!(out, id);
        }
    })
    .await;
    drop(worker);

    let check = |client: Client| async move {
        assert_eq!(count(&client, "").await, RUNS as i64);
        assert_eq!(
            count(&client, "ExecutionStatus = 'Completed'").await,
            RUNS as i64
        );
        assert_eq!(count(&client, "WorkflowId = 'evict-0'").await, 1);
        let info = describe(&client, "evict-0").await;
        assert_eq!(info.status, WorkflowExecutionStatus::Completed as i32);
        assert_eq!(info.history_length, 5);
        let result = client
            .get_workflow_handle::<Echo>("evict-0")
            .get_result(WorkflowGetResultOptions::default())
            .await
            .unwrap_or_else(|e| panic!("result of an evicted run: {e}"));
        assert_eq!(result, "evict-0");
        let mut reject = WorkflowStartOptions::new("q", "evict-1").build();
        reject.id_reuse_policy = temporalio_client::WorkflowIdReusePolicy::RejectDuplicate;
        let refused = client
            .start_workflow(Echo::run, String::new(), reject)
            .await;
        assert!(
            refused.is_err(),
            "a closed run still blocks RejectDuplicate"
        );
    };
    check(client.clone()).await;
    drop(client);
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));

    let engine = harness::start(options()).await;
    check(harness::connect(engine.address()).await).await;
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
}

/// A namespace's custom search attributes, and a run's search attributes and memo, survive
/// a restart (the attribute is registered only by the first engine).
#[tokio::test]
async fn search_attributes_and_memo_survive_restart() {
    use temporalio_common::protos::temporal::api::{
        common::v1::{Memo, Payload, SearchAttributes, WorkflowType},
        enums::v1::IndexedValueType,
        operatorservice::v1::ListSearchAttributesRequest,
        taskqueue::v1::TaskQueue,
        workflowservice::v1::StartWorkflowExecutionRequest,
    };
    let json = |text: &str| Payload {
        metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
        data: text.as_bytes().to_vec(),
        ..Default::default()
    };
    let path = std::env::temp_dir().join(format!("engine-sa-{}.db", uuid::Uuid::new_v4()));
    let options = harness::options()
        .with_database(&path)
        .with_search_attribute("Color", IndexedValueType::Keyword);
    let engine = harness::start(options).await;
    let client = harness::connect(engine.address()).await;
    client
        .connection()
        .workflow_service()
        .start_workflow_execution(tonic::Request::new(StartWorkflowExecutionRequest {
            namespace: "default".into(),
            workflow_id: "colored".into(),
            workflow_type: Some(WorkflowType {
                name: "Idle".into(),
            }),
            task_queue: Some(TaskQueue {
                name: harness::task_queue("sa-restart"),
                ..Default::default()
            }),
            search_attributes: Some(SearchAttributes {
                indexed_fields: [("Color".to_owned(), json("\"red\""))].into(),
            }),
            memo: Some(Memo {
                fields: [("note".to_owned(), json("\"kept\""))].into(),
            }),
            ..Default::default()
        }))
        .await
        .unwrap_or_else(|e| panic!("start: {e}"));
    drop(client);
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));

    let engine = harness::start(harness::options().with_database(&path)).await;
    let client = harness::connect(engine.address()).await;
    let custom = client
        .connection()
        .operator_service()
        .list_search_attributes(tonic::Request::new(ListSearchAttributesRequest {
            namespace: "default".into(),
        }))
        .await
        .unwrap_or_else(|e| panic!("list search attributes: {e}"))
        .into_inner()
        .custom_attributes;
    assert_eq!(
        custom.get("Color"),
        Some(&(IndexedValueType::Keyword as i32))
    );
    let info = describe(&client, "colored").await;
    let color = info
        .search_attributes
        .and_then(|s| s.indexed_fields.get("Color").cloned())
        .map(|p| String::from_utf8_lossy(&p.data).into_owned());
    assert_eq!(color.as_deref(), Some("\"red\""));
    let note = info
        .memo
        .and_then(|m| m.fields.get("note").cloned())
        .map(|p| String::from_utf8_lossy(&p.data).into_owned());
    assert_eq!(note.as_deref(), Some("\"kept\""));
    assert_eq!(count(&client, "Color = 'red'").await, 1);
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
    harness::remove_database(&path);
}
