//! Time skipping through `temporal.api.testservice.v1.TestService`: a 30-day timer in
//! milliseconds, the virtual clock in event timestamps and across a restart, bad input, and
//! the two command lines the SDKs launch a server binary with. Engine only: the real
//! Temporal server has no TestService (the Java test server, its oracle, is not installed).

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};
use workflow_testkit::free_port;

use temporalio_client::{
    Client, WorkflowFetchHistoryOptions, WorkflowGetResultOptions,
    grpc::{TestService, WorkflowService},
    tonic::{Code, IntoRequest},
};
use temporalio_common::protos::temporal::api::{
    testservice::v1::{
        LockTimeSkippingRequest, SleepRequest, SleepUntilRequest, UnlockTimeSkippingRequest,
    },
    workflowservice::v1::GetSystemInfoRequest,
};
use workflow_engine::TimeSkipping;

use crate::{
    harness::{self, TestEngine},
    workflows::Sleeper,
};

const DAY_MS: i64 = 86_400_000;

fn test_service(client: &Client) -> Box<dyn TestService> {
    client.connection().test_service()
}

/// The server's clock, in epoch milliseconds.
async fn now_ms(client: &Client) -> i64 {
    let time = test_service(client)
        .get_current_time(().into_request())
        .await
        .unwrap_or_else(|e| panic!("GetCurrentTime: {e}"))
        .into_inner()
        .time
        .unwrap_or_else(|| panic!("GetCurrentTime without a time"));
    time.seconds * 1000 + i64::from(time.nanos / 1_000_000)
}

fn duration(seconds: i64, nanos: i32) -> SleepRequest {
    SleepRequest {
        duration: Some(prost_wkt_types::Duration { seconds, nanos }),
    }
}

#[tokio::test]
async fn a_thirty_day_timer_fires_in_milliseconds_with_virtual_timestamps() {
    let t = TestEngine::start_with(
        "skip30",
        harness::options().with_time_skipping(TimeSkipping::Unlocked),
    )
    .await;
    let mut worker = t.worker(|o| o.register_workflow::<Sleeper>());
    let before = now_ms(&t.client).await;
    let wall = Instant::now();
    harness::with_worker(&mut worker, Duration::from_secs(30), async {
        let thirty_days = u64::try_from(30 * DAY_MS).unwrap_or(u64::MAX);
        let handle = t
            .start_workflow(Sleeper::run, thirty_days, "skip-30-days")
            .await;
        let result = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .unwrap_or_else(|e| panic!("result: {e}"));
        assert_eq!(result, "woke up");
        let events = handle
            .fetch_history(WorkflowFetchHistoryOptions::default())
            .into_events()
            .await
            .unwrap_or_else(|e| panic!("history: {e}"));
        let stamp = |e: &temporalio_common::protos::temporal::api::history::v1::HistoryEvent| {
            e.event_time
                .as_ref()
                .map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos / 1_000_000))
        };
        let first = events.first().map(stamp).unwrap_or_default();
        let last = events.last().map(stamp).unwrap_or_default();
        assert!(
            last - first >= 30 * DAY_MS,
            "the history spans {} ms, not 30 days",
            last - first
        );
    })
    .await;
    let elapsed = wall.elapsed();
    let skipped = now_ms(&t.client).await - before;
    assert!(skipped >= 30 * DAY_MS, "the clock moved {skipped} ms");
    assert!(
        elapsed < Duration::from_secs(10),
        "took {elapsed:?} of wall time"
    );
    println!("30-day timer: {elapsed:?} of wall time");
    drop(worker);
    t.shutdown().await;
}

#[tokio::test]
async fn locks_hold_the_clock_and_sleeps_skip_it() {
    let options = harness::options().with_time_skipping(TimeSkipping::Locked);
    let t = TestEngine::start_with("locks", options).await;
    let mut test = test_service(&t.client);
    let start = now_ms(&t.client).await;

    // Locked (the server starts with one lock): a sleep waits in real time.
    let wall = Instant::now();
    test.sleep(duration(0, 300_000_000).into_request())
        .await
        .unwrap_or_else(|e| panic!("Sleep: {e}"));
    assert!(
        wall.elapsed() >= Duration::from_millis(290),
        "{:?}",
        wall.elapsed()
    );
    assert!(now_ms(&t.client).await - start < DAY_MS);

    // UnlockTimeSkippingWithSleep releases the lock, skips a day, takes the lock back.
    let wall = Instant::now();
    test.unlock_time_skipping_with_sleep(duration(86_400, 0).into_request())
        .await
        .unwrap_or_else(|e| panic!("UnlockTimeSkippingWithSleep: {e}"));
    assert!(
        wall.elapsed() < Duration::from_secs(2),
        "{:?}",
        wall.elapsed()
    );
    let after_day = now_ms(&t.client).await;
    assert!(
        after_day - start >= DAY_MS,
        "moved {} ms",
        after_day - start
    );
    assert!(after_day - start < 2 * DAY_MS);

    // Locked again: time does not jump.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(now_ms(&t.client).await - after_day < 60_000);

    // Unlocked by hand, a Sleep skips; locked again, it would not.
    test.unlock_time_skipping(UnlockTimeSkippingRequest::default().into_request())
        .await
        .unwrap_or_else(|e| panic!("UnlockTimeSkipping: {e}"));
    let wall = Instant::now();
    let target = after_day + 7 * DAY_MS;
    test.sleep_until(
        SleepUntilRequest {
            timestamp: Some(prost_wkt_types::Timestamp {
                seconds: target / 1000,
                nanos: 0,
            }),
        }
        .into_request(),
    )
    .await
    .unwrap_or_else(|e| panic!("SleepUntil: {e}"));
    assert!(wall.elapsed() < Duration::from_secs(2));
    assert!(now_ms(&t.client).await >= target - 1000);
    test.lock_time_skipping(LockTimeSkippingRequest::default().into_request())
        .await
        .unwrap_or_else(|e| panic!("LockTimeSkipping: {e}"));
    t.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_status_and_the_engine_keeps_serving() {
    let options = harness::options().with_time_skipping(TimeSkipping::Unlocked);
    let t = TestEngine::start_with("bad-input", options).await;
    let mut test = test_service(&t.client);

    let unbalanced = test
        .unlock_time_skipping(UnlockTimeSkippingRequest::default().into_request())
        .await
        .err()
        .unwrap_or_else(|| panic!("an unbalanced unlock succeeded"));
    assert_eq!(unbalanced.code(), Code::Unknown, "{unbalanced:?}");
    assert!(
        unbalanced
            .message()
            .contains("Unbalanced lock and unlock calls"),
        "{unbalanced:?}"
    );
    let with_sleep = test
        .unlock_time_skipping_with_sleep(duration(1, 0).into_request())
        .await
        .err()
        .unwrap_or_else(|| panic!("an unbalanced unlock with sleep succeeded"));
    assert_eq!(with_sleep.code(), Code::Unknown, "{with_sleep:?}");

    let negative = test
        .sleep(duration(-5, 0).into_request())
        .await
        .err()
        .unwrap_or_else(|| panic!("a negative sleep succeeded"));
    assert_eq!(negative.code(), Code::InvalidArgument, "{negative:?}");
    assert!(
        negative.message().contains("duration is negative"),
        "{negative:?}"
    );
    let missing = test
        .sleep(SleepRequest::default().into_request())
        .await
        .err()
        .unwrap_or_else(|| panic!("a sleep without a duration succeeded"));
    assert_eq!(missing.code(), Code::InvalidArgument, "{missing:?}");

    // A time already passed: the proto says it returns at once, and the clock stays put.
    let before = now_ms(&t.client).await;
    let wall = Instant::now();
    test.sleep_until(
        SleepUntilRequest {
            timestamp: Some(prost_wkt_types::Timestamp {
                seconds: (before - DAY_MS) / 1000,
                nanos: 0,
            }),
        }
        .into_request(),
    )
    .await
    .unwrap_or_else(|e| panic!("SleepUntil in the past: {e}"));
    assert!(wall.elapsed() < Duration::from_millis(500));
    let after = now_ms(&t.client).await;
    assert!(
        after >= before && after - before < 60_000,
        "{before} -> {after}"
    );
    let no_time = test
        .sleep_until(SleepUntilRequest::default().into_request())
        .await
        .err()
        .unwrap_or_else(|| panic!("SleepUntil without a timestamp succeeded"));
    assert_eq!(no_time.code(), Code::InvalidArgument, "{no_time:?}");

    // Still serving, and a balanced lock/unlock works after the refusals.
    let mut workflow = t.client.clone();
    WorkflowService::get_system_info(
        &mut workflow,
        GetSystemInfoRequest::default().into_request(),
    )
    .await
    .unwrap_or_else(|e| panic!("GetSystemInfo after bad input: {e}"));
    test.lock_time_skipping(LockTimeSkippingRequest::default().into_request())
        .await
        .unwrap_or_else(|e| panic!("LockTimeSkipping: {e}"));
    test.unlock_time_skipping(UnlockTimeSkippingRequest::default().into_request())
        .await
        .unwrap_or_else(|e| panic!("UnlockTimeSkipping: {e}"));
    t.shutdown().await;
}

#[tokio::test]
async fn the_virtual_clock_survives_a_restart() {
    let path = std::env::temp_dir().join(format!("engine-clock-{}.db", uuid::Uuid::new_v4()));
    let options = || {
        harness::options()
            .with_database(&path)
            .with_time_skipping(TimeSkipping::Locked)
    };
    let engine = harness::start(options()).await;
    let client = harness::connect(engine.address()).await;
    let start = now_ms(&client).await;
    test_service(&client)
        .unlock_time_skipping_with_sleep(duration(30 * 86_400, 0).into_request())
        .await
        .unwrap_or_else(|e| panic!("UnlockTimeSkippingWithSleep: {e}"));
    let skipped = now_ms(&client).await;
    assert!(skipped - start >= 30 * DAY_MS);
    engine
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));

    let restarted = harness::start(options()).await;
    let client = harness::connect(restarted.address()).await;
    let after = now_ms(&client).await;
    assert!(
        after >= skipped,
        "the clock went back from {skipped} to {after} across the restart"
    );
    restarted
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
    harness::remove_database(&path);
}

/// Spawns the binary with `args`, connects a client, returns both.
async fn spawn(args: &[&str], port: u16) -> (tokio::process::Child, Client) {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_workflow-engine"))
        .args(args)
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn workflow-engine {args:?}: {e}"));
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(address).is_err() {
        assert!(
            Instant::now() < deadline,
            "workflow-engine {args:?} did not listen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, harness::connect(address).await)
}

#[tokio::test]
async fn the_sdk_launchers_command_lines_start_the_engine() {
    // The Java test server's form: locked, so an unlock is balanced.
    let port = free_port();
    let (mut test_server, client) = spawn(&[&port.to_string()], port).await;
    test_service(&client)
        .unlock_time_skipping(UnlockTimeSkippingRequest::default().into_request())
        .await
        .unwrap_or_else(|e| panic!("the test server did not start locked: {e}"));
    let _ = test_server.kill().await;

    // With --enable-time-skipping it starts unlocked.
    let port = free_port();
    let (mut unlocked, client) = spawn(&[&port.to_string(), "--enable-time-skipping"], port).await;
    let refused = test_service(&client)
        .unlock_time_skipping(UnlockTimeSkippingRequest::default().into_request())
        .await;
    assert_eq!(refused.err().map(|e| e.code()), Some(Code::Unknown));
    let _ = unlocked.kill().await;

    // The dev server's form, as sdk-core's TemporalDevServerConfig runs it.
    let port = free_port();
    let db = std::env::temp_dir().join(format!("engine-start-dev-{}.db", uuid::Uuid::new_v4()));
    let port_arg = port.to_string();
    let db_arg = db.display().to_string();
    let (mut dev, client) = spawn(
        &[
            "server",
            "start-dev",
            "--port",
            &port_arg,
            "--namespace",
            "default",
            "--ip",
            "127.0.0.1",
            "--log-format",
            "pretty",
            "--log-level",
            "warn",
            "--headless",
            "--dynamic-config-value",
            "frontend.enableUpdateWorkflowExecution=true",
            "--db-filename",
            &db_arg,
        ],
        port,
    )
    .await;
    let mut workflow = client.clone();
    WorkflowService::get_system_info(
        &mut workflow,
        GetSystemInfoRequest::default().into_request(),
    )
    .await
    .unwrap_or_else(|e| panic!("GetSystemInfo on start-dev: {e}"));
    let _ = dev.kill().await;
    let _ = dev.wait().await;
    harness::remove_database(&db);
}
