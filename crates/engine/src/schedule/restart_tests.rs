//! A schedule survives an engine restart on SQLite: a time that came due while the engine
//! was down fires once after the restart (the catch-up window allows it), and a second
//! restart fires nothing again.

use std::{path::Path, sync::Arc, time::Duration};

use temporalio_protos::temporal::api::{
    common::v1::WorkflowType,
    schedule::v1::{IntervalSpec, Schedule, ScheduleAction, ScheduleSpec, schedule_action},
    taskqueue::v1::TaskQueue,
    workflow::v1::NewWorkflowExecutionInfo,
    workflowservice::v1::{CreateScheduleRequest, DescribeScheduleResponse},
};
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    engine::{self, EngineOptions},
    runtime::{self, EngineRuntime},
    store::{SqliteStore, Store, conformance::remove_database},
    time::{duration, now_ms, timestamp},
};

struct Live {
    runtime: Arc<EngineRuntime>,
    stop: watch::Sender<bool>,
    timers: JoinHandle<()>,
}

async fn start(path: &Path) -> Live {
    // The previous engine's store closes once its last task lets go of it.
    let mut opened = SqliteStore::open(path);
    for _ in 0..50 {
        if opened.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        opened = SqliteStore::open(path);
    }
    let store: Arc<dyn Store> = Arc::new(opened.unwrap_or_else(|e| panic!("open: {e}")));
    let (stop, stopped) = watch::channel(false);
    let prepared = engine::recover(store, &EngineOptions::default(), stopped)
        .await
        .unwrap_or_else(|e| panic!("recover: {e}"));
    let timers = runtime::spawn_timer_driver(Arc::clone(&prepared.runtime));
    Live {
        runtime: prepared.runtime,
        stop,
        timers,
    }
}

async fn stop(live: Live) {
    let _ = live.stop.send(true);
    let _ = live.timers.await;
}

fn describe(live: &Live) -> DescribeScheduleResponse {
    let now = live.runtime.clock.now_ms();
    live.runtime
        .read(|registry| registry.describe_schedule("default", "nightly", now))
        .unwrap_or_else(|e| panic!("describe: {e}"))
}

fn action_count(live: &Live) -> i64 {
    describe(live).info.map_or(0, |i| i.action_count)
}

#[tokio::test]
async fn a_schedule_survives_a_restart_and_fires_a_missed_time_once() {
    let path = std::env::temp_dir().join(format!("engine-schedule-{}.db", uuid::Uuid::new_v4()));
    // One time only, about 1.5 s from now, on a whole second.
    let due_ms = (now_ms() + 1_500).div_euclid(1000) * 1000 + 1000;
    let schedule = Schedule {
        spec: Some(ScheduleSpec {
            interval: vec![IntervalSpec {
                interval: Some(duration(1_000)),
                phase: None,
            }],
            start_time: Some(timestamp(due_ms)),
            end_time: Some(timestamp(due_ms)),
            ..Default::default()
        }),
        action: Some(ScheduleAction {
            action: Some(schedule_action::Action::StartWorkflow(
                NewWorkflowExecutionInfo {
                    workflow_id: "nightly-run".into(),
                    workflow_type: Some(WorkflowType {
                        name: "Nightly".into(),
                    }),
                    task_queue: Some(TaskQueue {
                        name: "nightly".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )),
        }),
        ..Default::default()
    };
    let first = start(&path).await;
    let request = CreateScheduleRequest {
        namespace: "default".into(),
        schedule_id: "nightly".into(),
        schedule: Some(schedule),
        ..Default::default()
    };
    first
        .runtime
        .execute(|registry, now, fx| registry.create_schedule(request, now, fx))
        .await
        .unwrap_or_else(|e| panic!("create: {e}"));
    assert_eq!(action_count(&first), 0);
    stop(first).await;

    // Down past the due time.
    let wait = u64::try_from(due_ms + 300 - now_ms()).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let second = start(&path).await;
    for _ in 0..50 {
        if action_count(&second) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let described = describe(&second);
    let info = described.info.unwrap_or_default();
    assert_eq!(
        info.action_count, 1,
        "the missed time fired after the restart"
    );
    assert_eq!(info.missed_catchup_window, 0);
    let stamp = jiff::Timestamp::from_millisecond(due_ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    let workflow_id = format!("nightly-run-{stamp}");
    let fired: Vec<String> = info
        .recent_actions
        .iter()
        .filter_map(|a| a.start_workflow_result.as_ref())
        .map(|r| r.workflow_id.clone())
        .collect();
    assert_eq!(fired, vec![workflow_id.clone()]);
    let started = second
        .runtime
        .read(|registry| registry.resolve("default", &workflow_id, "").is_ok());
    assert!(started, "the scheduled workflow {workflow_id} exists");
    stop(second).await;

    // Another restart: the time is processed, nothing fires twice.
    let third = start(&path).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(action_count(&third), 1);
    stop(third).await;
    remove_database(&path);
}
