//! The library's behavioural suite: every client operation and the Temporal features an
//! integration relies on, through the library's own client and worker hosting, against a
//! real backend.
//!
//! The backend is one fixture, [`Backend::start`]: the real Temporal dev server by default;
//! `WORKFLOW_TEST_BACKEND` selects another, so the same suite can prove another engine by
//! changing only the address. `WORKFLOW_TEST_BACKEND=embedded` runs the embedded engine in
//! this process without a listener, reached through the in-process transport
//! ([`App::start_on`]): the same suite then proves that transport against the network one.

mod async_activities;
mod conflict;
mod dynamic_config;
mod eager;
mod in_process;
mod retention;
mod start_options;
mod visibility;
mod workflows;

use std::future::Future;
use std::time::Duration;

use workflow::{
    App, ClientError, Config, IdConflict, IdReuse, Role, Services, StartOptions, WorkflowClient,
};
use workflow_testkit::Backend;

use workflows::{
    Accumulator, Counter, Echo, Heartbeater, Leaver, Parent, Patient, Retrier, Sleeper, TimesOut,
};

const WAIT: Duration = Duration::from_secs(30);

/// Starts the backend and a worker with the suite's workflows on a fresh task queue, runs
/// `body` with a client, then shuts the worker down.
async fn with_worker<F, Fut>(body: F)
where
    F: FnOnce(WorkflowClient) -> Fut,
    Fut: Future<Output = ()>,
{
    with_worker_on(&[], body).await;
}

/// [`with_worker`] on a backend started with extra server arguments.
async fn with_worker_on<F, Fut>(server_args: &'static [&'static str], body: F)
where
    F: FnOnce(WorkflowClient) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut config = Config {
        role: Role::Worker,
        ..Config::default()
    };
    config.temporal.task_queue = format!("suite-{}", uuid::Uuid::new_v4());
    config.health.listen = "127.0.0.1:0".parse().expect("socket address");
    config.worker.shutdown_grace_period = Duration::from_secs(2);
    let (app, backend) = if workflow_testkit::in_process_backend() {
        let engine = in_process::start(server_args).await;
        let app = App::start_on(config, &engine)
            .await
            .expect("connect in process");
        (app, Started::InProcess(engine))
    } else {
        let backend = tokio::task::spawn_blocking(|| Backend::start_with(server_args))
            .await
            .expect("start the backend");
        config.temporal.address = backend.address();
        let app = App::start(config).await.expect("connect to the backend");
        (app, Started::Network(backend))
    };
    let client = app.client();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let test = async move {
        body(client).await;
        let _ = done_tx.send(());
    };
    let host = app.run_until(Services::new().worker(workflows::register), async {
        let _ = done_rx.await;
    });
    let ((), hosted) = tokio::join!(test, host);
    hosted.expect("worker ran and shut down cleanly");
    match backend {
        Started::Network(backend) => drop(backend),
        Started::InProcess(engine) => engine.shutdown().await.expect("the engine stops"),
    }
}

/// The backend a test runs on: a server process, or the engine in this process.
enum Started {
    Network(Backend),
    InProcess(workflow_engine::EngineHandle),
}

fn id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_and_result() {
    with_worker(|client| async move {
        let handle = client
            .start(
                Echo::run,
                id("echo"),
                "hello".to_owned(),
                StartOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(handle.result(WAIT).await.unwrap(), "hello");
        let summary = handle.describe().await.unwrap();
        assert_eq!(summary.status, "Completed");
        assert_eq!(summary.workflow_type, "Echo");
        assert_eq!(summary.task_queue, client.task_queue());
        assert!(summary.close_time_ms >= summary.start_time_ms);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_query_update() {
    with_worker(|client| async move {
        let handle = client
            .start(Accumulator::run, id("acc"), 10, StartOptions::default())
            .await
            .unwrap();
        handle.signal(Accumulator::add, 5).await.unwrap();
        handle.signal(Accumulator::add, 7).await.unwrap();
        assert_eq!(handle.query(Accumulator::total, ()).await.unwrap(), 22);
        assert_eq!(handle.update(Accumulator::set, 100).await.unwrap(), 22);
        let rejected = handle.update(Accumulator::set, -1).await.unwrap_err();
        assert!(
            matches!(&rejected, ClientError::UpdateRejected { message, .. } if message.contains("must not be negative")),
            "{rejected:?}"
        );
        assert_eq!(handle.query(Accumulator::total, ()).await.unwrap(), 100);
        handle.signal(Accumulator::finish, ()).await.unwrap();
        assert_eq!(handle.result(WAIT).await.unwrap(), 100);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_with_start_delivers_before_the_first_task() {
    with_worker(|client| async move {
        let workflow_id = id("sws");
        let handle = client
            .signal_with_start(
                Accumulator::run,
                &workflow_id,
                1,
                Accumulator::add,
                2,
                StartOptions::default(),
            )
            .await
            .unwrap();
        // A second signal-with-start on the running workflow only signals.
        client
            .signal_with_start(
                Accumulator::run,
                &workflow_id,
                1000,
                Accumulator::add,
                3,
                StartOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(handle.query(Accumulator::total, ()).await.unwrap(), 6);
        handle.signal(Accumulator::finish, ()).await.unwrap();
        assert_eq!(handle.result(WAIT).await.unwrap(), 6);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_timer_fires() {
    with_worker(|client| async move {
        let started = std::time::Instant::now();
        let handle = client
            .start(Sleeper::run, id("sleep"), 1_500, StartOptions::default())
            .await
            .unwrap();
        let moved = handle.result(WAIT).await.unwrap();
        assert!(moved >= 1_500, "workflow clock moved {moved} ms");
        assert!(started.elapsed() >= Duration::from_millis(1_500));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_retries_on_the_server() {
    with_worker(|client| async move {
        let handle = client
            .start(Retrier::run, id("retry"), 3, StartOptions::default())
            .await
            .unwrap();
        assert_eq!(
            handle.result(WAIT).await.unwrap(),
            3,
            "succeeded on the third attempt"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_start_to_close_timeout() {
    with_worker(|client| async move {
        let handle = client
            .start(TimesOut::run, id("timeout"), (), StartOptions::default())
            .await
            .unwrap();
        let outcome = handle.result(WAIT).await.unwrap();
        assert!(
            outcome.contains("timed out") && outcome.contains("StartToClose"),
            "{outcome}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_timeout_and_details_resume() {
    with_worker(|client| async move {
        let handle = client
            .start(Heartbeater::run, id("hb"), (), StartOptions::default())
            .await
            .unwrap();
        let (attempt, resumed_from) = handle.result(WAIT).await.unwrap();
        assert_eq!(attempt, 2, "the heartbeat timeout ended attempt 1");
        assert!(
            resumed_from >= 2,
            "attempt 2 resumed from the heartbeat details, got {resumed_from}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_workflow() {
    with_worker(|client| async move {
        let parent_id = id("parent");
        let handle = client
            .start(
                Parent::run,
                &parent_id,
                "hi".to_owned(),
                StartOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(handle.result(WAIT).await.unwrap(), "child said hi");
        let child = client
            .handle::<Echo>(format!("{parent_id}-child"))
            .describe()
            .await
            .unwrap();
        assert_eq!(child.status, "Completed");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parent_close_policies_reach_the_children() {
    with_worker(|client| async move {
        let parent_id = id("leaver");
        let handle = client
            .start(Leaver::run, &parent_id, (), StartOptions::default())
            .await
            .unwrap();
        assert_eq!(handle.result(WAIT).await.unwrap(), 3);
        let status = |suffix: &str| {
            let child = client.handle::<Patient>(format!("{parent_id}-{suffix}"));
            async move { child.describe().await.unwrap().status }
        };
        let mut statuses = Vec::new();
        for _ in 0..100 {
            statuses = vec![
                status("abandon").await,
                status("cancel").await,
                status("terminate").await,
            ];
            if statuses == ["Running", "Canceled", "Terminated"] {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(statuses, ["Running", "Canceled", "Terminated"]);
        client
            .handle::<Patient>(format!("{parent_id}-abandon"))
            .terminate("done")
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_sees_every_signal_sent_before_it() {
    with_worker(|client| async move {
        let handle = client
            .start(Accumulator::run, id("ryw"), 0, StartOptions::default())
            .await
            .unwrap();
        for expected in 1..=10 {
            handle.signal(Accumulator::add, 1).await.unwrap();
            assert_eq!(
                handle.query(Accumulator::total, ()).await.unwrap(),
                expected
            );
        }
        handle.signal(Accumulator::finish, ()).await.unwrap();
        assert_eq!(handle.result(WAIT).await.unwrap(), 10);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_as_new_is_followed() {
    with_worker(|client| async move {
        let workflow_id = id("can");
        let handle = client
            .start(Counter::run, &workflow_id, 0, StartOptions::default())
            .await
            .unwrap();
        assert_eq!(handle.result(WAIT).await.unwrap(), 3);
        // Four runs (0, 1, 2, 3) share the id: three continued as new, the last completed.
        let query = format!("WorkflowId = '{workflow_id}'");
        let mut statuses = Vec::new();
        for _ in 0..50 {
            let runs = client.list(query.clone(), 10).await.unwrap();
            statuses = runs.into_iter().map(|r| r.status).collect::<Vec<_>>();
            statuses.sort();
            if statuses.len() == 4 && !statuses.iter().any(|s| s == "Running") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            statuses,
            [
                "Completed",
                "ContinuedAsNew",
                "ContinuedAsNew",
                "ContinuedAsNew"
            ]
        );
        assert_eq!(handle.describe().await.unwrap().status, "Completed");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_terminate() {
    with_worker(|client| async move {
        let cancelled = client
            .start(Patient::run, id("cancel"), (), StartOptions::default())
            .await
            .unwrap();
        let terminated = client
            .start(Patient::run, id("term"), (), StartOptions::default())
            .await
            .unwrap();
        cancelled.cancel("test").await.unwrap();
        terminated.terminate("test").await.unwrap();
        let c = cancelled.result(WAIT).await.unwrap_err();
        assert!(
            matches!(
                c,
                ClientError::WorkflowClosed {
                    outcome: "cancelled",
                    ..
                }
            ),
            "{c:?}"
        );
        let t = terminated.result(WAIT).await.unwrap_err();
        assert!(
            matches!(
                t,
                ClientError::WorkflowClosed {
                    outcome: "terminated",
                    ..
                }
            ),
            "{t:?}"
        );
        assert_eq!(cancelled.describe().await.unwrap().status, "Canceled");
        assert_eq!(terminated.describe().await.unwrap().status, "Terminated");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_conflict_and_reuse_policies() {
    with_worker(|client| async move {
        let workflow_id = id("conflict");
        let first = client
            .start(Accumulator::run, &workflow_id, 1, StartOptions::default())
            .await
            .unwrap();
        let again = client
            .start(Accumulator::run, &workflow_id, 1, StartOptions::default())
            .await;
        assert!(
            matches!(again, Err(ClientError::AlreadyStarted { .. })),
            "Fail policy"
        );
        let existing = StartOptions {
            id_conflict: IdConflict::UseExisting,
            ..StartOptions::default()
        };
        client
            .start(Accumulator::run, &workflow_id, 1, existing)
            .await
            .expect("UseExisting returns the open run");
        first.signal(Accumulator::finish, ()).await.unwrap();
        assert_eq!(first.result(WAIT).await.unwrap(), 1);

        let reject = StartOptions {
            id_reuse: IdReuse::RejectDuplicate,
            ..StartOptions::default()
        };
        let reused = client
            .start(Accumulator::run, &workflow_id, 1, reject)
            .await;
        assert!(
            matches!(reused, Err(ClientError::AlreadyStarted { .. })),
            "RejectDuplicate: {reused:?}"
        );
        let allow = StartOptions {
            id_reuse: IdReuse::AllowDuplicate,
            ..StartOptions::default()
        };
        let second = client
            .start(Accumulator::run, &workflow_id, 2, allow)
            .await
            .expect("AllowDuplicate starts a new run");
        assert_eq!(second.describe().await.unwrap().status, "Running");
        second.terminate("done").await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_list_and_not_found() {
    with_worker(|client| async move {
        let workflow_id = id("listed");
        let handle = client
            .start(
                Echo::run,
                &workflow_id,
                "x".to_owned(),
                StartOptions::default(),
            )
            .await
            .unwrap();
        handle.result(WAIT).await.unwrap();
        let query = format!("WorkflowId = '{workflow_id}'");
        let mut listed = Vec::new();
        for _ in 0..50 {
            listed = client.list(query.clone(), 10).await.unwrap();
            if listed.iter().any(|e| e.status == "Completed") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0].workflow_id, workflow_id);
        assert_eq!(listed[0].workflow_type, "Echo");

        let missing = client.handle::<Echo>("no-such-workflow");
        assert!(matches!(
            missing.describe().await,
            Err(ClientError::NotFound { .. })
        ));
        assert!(matches!(
            client
                .handle::<Accumulator>("no-such-workflow")
                .signal(Accumulator::add, 1)
                .await,
            Err(ClientError::NotFound { .. })
        ));
        let bad = client.list("WorkflowId = ", 10).await;
        assert!(
            matches!(bad, Err(ClientError::InvalidRequest(_))),
            "{bad:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_wait_is_bounded() {
    with_worker(|client| async move {
        let handle = client
            .start(Patient::run, id("wait"), (), StartOptions::default())
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let outcome = handle.result(Duration::from_millis(500)).await;
        assert!(
            matches!(outcome, Err(ClientError::ResultTimeout { .. })),
            "{outcome:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        handle.terminate("done").await.unwrap();
    })
    .await;
}
