//! PostgreSQL restarted under load (`pg_ctl stop -m immediate`, then start): while it is
//! down the engine answers `Unavailable` within a bounded time, it reconnects on its own, no
//! acknowledged start is lost, and the workflows carry on.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use temporalio_client::{
    WorkflowGetResultOptions, WorkflowStartOptions, request_extensions::NoRetryOnMatching,
};
use temporalio_common::protos::temporal::api::{
    common::v1::{Payload, Payloads, WorkflowType},
    taskqueue::v1::TaskQueue,
    workflowservice::v1::StartWorkflowExecutionRequest,
};
use temporalio_sdk::WorkerOptions;
use tonic::Code;

use crate::{
    harness::{self, TestDb},
    workflows::{Greet, Greetings, Sleeper},
};

/// How long a request may wait for a database that is down before hearing `Unavailable`.
const BOUND: Duration = Duration::from_secs(10);

fn greet_request(
    id: &str,
    queue: &str,
    request_id: &str,
) -> tonic::Request<StartWorkflowExecutionRequest> {
    let mut request = tonic::Request::new(StartWorkflowExecutionRequest {
        namespace: "default".into(),
        workflow_id: id.into(),
        workflow_type: Some(WorkflowType {
            name: "Greet".into(),
        }),
        task_queue: Some(TaskQueue {
            name: queue.into(),
            ..Default::default()
        }),
        input: Some(Payloads {
            payloads: vec![Payload {
                metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
                data: format!("\"{id}\"").into_bytes(),
                ..Default::default()
            }],
        }),
        request_id: request_id.into(),
        ..Default::default()
    });
    // The client would retry Unavailable on its own; this test wants to see it.
    request.extensions_mut().insert(NoRetryOnMatching {
        predicate: |status| status.code() == Code::Unavailable,
    });
    request
}

#[tokio::test]
async fn postgres_restarted_under_load_loses_no_acknowledged_change() {
    let mut db = TestDb::postgres();
    let engine = harness::start(db.apply(harness::options())).await;
    let client = harness::connect(engine.address()).await;
    let queue = harness::task_queue("pg-restart");
    let runtime = harness::runtime();
    let options = WorkerOptions::new(&queue)
        .register_workflow::<Greet>()
        .unwrap_or_else(|e| panic!("register: {e}"))
        .register_workflow::<Sleeper>()
        .unwrap_or_else(|e| panic!("register: {e}"))
        .register_activities(Greetings)
        .build();
    let mut worker = harness::worker(&runtime, &client, options);
    let TestDb::Postgres(server, _) = &mut db else {
        panic!("not a PostgreSQL test database");
    };
    harness::with_worker(&mut worker, Duration::from_secs(120), async {
        // Timers pending across the outage.
        for i in 0..5 {
            let id = format!("sleep-{i}");
            client
                .start_workflow(
                    Sleeper::run,
                    3000,
                    WorkflowStartOptions::new(&queue, &id).build(),
                )
                .await
                .unwrap_or_else(|e| panic!("start {id}: {e}"));
        }
        // Load: workflows started one after another until told to stop; the ones whose
        // start was acknowledged must all complete.
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let load = {
            let (client, queue, acknowledged) =
                (client.clone(), queue.clone(), Arc::clone(&acknowledged));
            tokio::spawn(async move {
                let mut i = 0;
                while !*stopped.borrow_and_update() {
                    let id = format!("load-{i}");
                    i += 1;
                    let started = client
                        .start_workflow(
                            Greet::run,
                            id.clone(),
                            WorkflowStartOptions::new(&queue, &id).build(),
                        )
                        .await;
                    if started.is_ok() {
                        acknowledged
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(id);
                    }
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(800)).await;

        server.stop_immediate();
        let service = client.connection().workflow_service();
        let asked = Instant::now();
        let during = service
            .clone()
            .start_workflow_execution(greet_request("during", &queue, "during-request"))
            .await;
        let waited = asked.elapsed();
        match during {
            Err(status) => assert_eq!(status.code(), Code::Unavailable, "{status}"),
            Ok(_) => panic!("a start was acknowledged while PostgreSQL was down"),
        }
        assert!(waited < BOUND, "Unavailable took {waited:?}");

        server.start_again();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let _ = stop.send(true);
        load.await.unwrap_or_else(|e| panic!("load task: {e}"));

        // The start that heard Unavailable was kept and written once PostgreSQL was back:
        // the same request id is recognised.
        service
            .clone()
            .start_workflow_execution(greet_request("during", &queue, "during-request"))
            .await
            .unwrap_or_else(|e| panic!("retrying the start after the restart: {e}"));

        let mut ids = acknowledged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        assert!(ids.len() >= 5, "too little load: {ids:?}");
        ids.push("during".into());
        for id in &ids {
            let result = client
                .get_workflow_handle::<Greet>(id.as_str())
                .get_result(WorkflowGetResultOptions::default())
                .await
                .unwrap_or_else(|e| panic!("result of {id}: {e}"));
            assert_eq!(result, format!("Hello, {id}!"));
        }
        for i in 0..5 {
            let id = format!("sleep-{i}");
            let result = client
                .get_workflow_handle::<Sleeper>(id.as_str())
                .get_result(WorkflowGetResultOptions::default())
                .await
                .unwrap_or_else(|e| panic!("result of {id}: {e}"));
            assert_eq!(result, "woke up");
        }
    })
    .await;
    drop(worker);
    drop(client);
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
}
