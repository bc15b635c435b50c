//! The activity machine's unit tests: retries, timeouts, stale attempts and cancellation.

use temporalio_protos::temporal::api::{
    command::v1::command::Attributes as C,
    common::v1::ActivityType,
    common::v1::RetryPolicy,
    enums::v1::{EventType, RetryState},
    history::v1::history_event::Attributes as A,
};

use super::*;
use crate::history::{
    Registry,
    testing::{self, NOW},
};

const RUN: &str = "activity-run";

/// A run whose first workflow task scheduled one activity with these timeouts (ms) and
/// retry policy; returns (registry, run id, scheduled event id).
fn scheduled(
    start_to_close: Option<i64>,
    schedule_to_close: Option<i64>,
    retry_policy: Option<RetryPolicy>,
) -> (Registry, String, i64) {
    let mut registry = testing::registry();
    let run_id = testing::start(&mut registry, RUN);
    let command = ScheduleActivityTaskCommandAttributes {
        activity_id: "a".into(),
        activity_type: Some(ActivityType { name: "Act".into() }),
        start_to_close_timeout: start_to_close.map(duration),
        schedule_to_close_timeout: schedule_to_close.map(duration),
        retry_policy,
        ..Default::default()
    };
    testing::decide(
        &mut registry,
        &run_id,
        vec![C::ScheduleActivityTaskCommandAttributes(command)],
    );
    let scheduled_event_id = registry
        .run(&run_id)
        .ok()
        .and_then(|e| e.state.activities.keys().next().copied())
        .unwrap_or_else(|| panic!("no activity scheduled"));
    (registry, run_id, scheduled_event_id)
}

fn activity<'a>(registry: &'a Registry, run_id: &str, id: i64) -> Option<&'a ActivityState> {
    registry
        .run(run_id)
        .ok()
        .and_then(|e| e.state.activities.get(&id))
}

fn start(registry: &mut Registry, run_id: &str, id: i64, attempt: i32, now: i64) -> Effects {
    let mut fx = Effects::default();
    let started = registry.start_activity(run_id, id, attempt, "worker", now, &mut fx);
    assert!(started.is_some(), "attempt {attempt} starts");
    fx
}

/// The id and attributes of the run's last event of type `kind`.
fn last_event(registry: &Registry, run_id: &str, kind: EventType) -> Option<(i64, Attributes)> {
    let exec = registry.run(run_id).ok()?;
    let event = exec
        .events
        .iter()
        .rev()
        .find(|e| e.event_type == kind as i32)?;
    Some((event.event_id, event.attributes.clone()?))
}

#[test]
fn a_start_to_close_timeout_retries_after_the_backoff_without_history() {
    let (mut registry, run_id, id) = scheduled(Some(10_000), None, None);
    let fx = start(&mut registry, &run_id, id, 1, NOW);
    assert!(
        testing::timers(&fx)
            .iter()
            .any(|(at, t)| *at == NOW + 10_000
                && matches!(
                    t,
                    TimerKey::Activity {
                        attempt: 1,
                        timeout: ActivityTimeout::StartToClose,
                        ..
                    }
                )),
        "start-to-close timer armed: {fx:?}"
    );
    let events_before = testing::event_types(&registry, &run_id);
    let r = testing::attempt(&run_id, id, 1);
    let mut fx = Effects::default();
    registry.on_activity_timeout(&r, ActivityTimeout::StartToClose, NOW + 10_000, &mut fx);
    let a = activity(&registry, &run_id, id).unwrap_or_else(|| panic!("still pending"));
    assert_eq!((a.phase, a.attempt), (ActivityPhase::Backoff, 2));
    // The default policy's first backoff is 1 s.
    assert_eq!(a.attempt_scheduled_time_ms, NOW + 11_000);
    assert_eq!(
        testing::timers(&fx),
        [(
            NOW + 11_000,
            TimerKey::ActivityRetry {
                run_id: run_id.clone(),
                scheduled_event_id: id,
                attempt: 2
            }
        )]
    );
    assert_eq!(testing::event_types(&registry, &run_id), events_before);

    let mut fx = Effects::default();
    let r2 = ActivityRef { attempt: 2, ..r };
    registry.on_activity_retry(&r2, NOW + 11_000, &mut fx);
    assert_eq!(
        activity(&registry, &run_id, id).map(|a| a.phase),
        Some(ActivityPhase::Scheduled)
    );
    assert_eq!(
        testing::dispatched(&fx),
        [Task::Activity {
            run_id: run_id.clone(),
            scheduled_event_id: id,
            attempt: 2
        }]
    );
}

#[test]
fn stale_attempts_and_early_timers_change_nothing() {
    let (mut registry, run_id, id) = scheduled(Some(10_000), None, None);
    start(&mut registry, &run_id, id, 1, NOW);
    let attempt1 = testing::attempt(&run_id, id, 1);
    // A timer that fires before the deadline (a restart re-arms them all) is ignored.
    let mut fx = Effects::default();
    registry.on_activity_timeout(
        &attempt1,
        ActivityTimeout::StartToClose,
        NOW + 9_999,
        &mut fx,
    );
    assert_eq!(
        activity(&registry, &run_id, id).map(|a| (a.phase, a.attempt)),
        Some((ActivityPhase::Started, 1))
    );
    registry.on_activity_timeout(
        &attempt1,
        ActivityTimeout::StartToClose,
        NOW + 10_000,
        &mut fx,
    );
    registry.on_activity_retry(
        &ActivityRef {
            attempt: 2,
            ..attempt1
        },
        NOW + 11_000,
        &mut fx,
    );
    start(&mut registry, &run_id, id, 2, NOW + 11_000);

    // Attempt 1's worker answers late; its timers fire late: all refused or ignored.
    let late = registry.complete_activity(&attempt1, None, "w", NOW + 12_000, &mut fx);
    assert!(matches!(late, Err(EngineError::NotFound(_))), "{late:?}");
    registry.on_activity_timeout(
        &attempt1,
        ActivityTimeout::StartToClose,
        NOW + 30_000,
        &mut fx,
    );
    assert!(
        registry
            .start_activity(&run_id, id, 1, "worker", NOW + 12_000, &mut fx)
            .is_none(),
        "the task of attempt 1 is stale"
    );
    assert_eq!(
        activity(&registry, &run_id, id).map(|a| (a.phase, a.attempt)),
        Some((ActivityPhase::Started, 2))
    );
}

#[test]
fn schedule_to_close_resolves_the_activity_as_timed_out() {
    let (mut registry, run_id, id) = scheduled(None, Some(5_000), None);
    let r = testing::attempt(&run_id, id, 1);
    let mut fx = Effects::default();
    registry.on_activity_timeout(&r, ActivityTimeout::ScheduleToClose, NOW + 5_000, &mut fx);
    assert!(activity(&registry, &run_id, id).is_none(), "resolved");
    let Some((_, A::ActivityTaskTimedOutEventAttributes(timed_out))) =
        last_event(&registry, &run_id, EventType::ActivityTaskTimedOut)
    else {
        panic!(
            "no timed-out event: {:?}",
            testing::event_types(&registry, &run_id)
        );
    };
    assert_eq!(timed_out.retry_state, RetryState::Timeout as i32);
    assert_eq!(timed_out.started_event_id, 0, "it never started");
    assert!(
        registry
            .run(&run_id)
            .is_ok_and(|e| e.state.workflow_task.is_some()),
        "the workflow gets a task to see it"
    );
}

#[test]
fn the_last_allowed_attempt_fails_the_activity_with_its_started_event() {
    let policy = RetryPolicy {
        maximum_attempts: 2,
        ..Default::default()
    };
    let (mut registry, run_id, id) = scheduled(Some(10_000), None, Some(policy));
    let failure = Failure {
        message: "boom".into(),
        ..Default::default()
    };
    let mut fx = Effects::default();
    start(&mut registry, &run_id, id, 1, NOW);
    let r1 = testing::attempt(&run_id, id, 1);
    let failed = registry.fail_activity(&r1, failure.clone(), None, "w", NOW, &mut fx);
    assert!(failed.is_ok(), "{failed:?}");
    assert_eq!(
        activity(&registry, &run_id, id).map(|a| (a.phase, a.attempt)),
        Some((ActivityPhase::Backoff, 2))
    );
    let r2 = ActivityRef { attempt: 2, ..r1 };
    registry.on_activity_retry(&r2, NOW + 1_000, &mut fx);
    start(&mut registry, &run_id, id, 2, NOW + 1_000);
    let failed = registry.fail_activity(&r2, failure, None, "w", NOW + 1_500, &mut fx);
    assert!(failed.is_ok(), "{failed:?}");
    // Only the final attempt is written: one started event, then the failure.
    let types = testing::event_types(&registry, &run_id);
    let started = types
        .iter()
        .filter(|t| **t == EventType::ActivityTaskStarted)
        .count();
    assert_eq!(started, 1, "{types:?}");
    let Some((started_id, A::ActivityTaskStartedEventAttributes(s))) =
        last_event(&registry, &run_id, EventType::ActivityTaskStarted)
    else {
        panic!("no started event: {types:?}");
    };
    assert_eq!(s.attempt, 2);
    let Some((_, A::ActivityTaskFailedEventAttributes(f))) =
        last_event(&registry, &run_id, EventType::ActivityTaskFailed)
    else {
        panic!("no failed event: {types:?}");
    };
    assert_eq!(f.retry_state, RetryState::MaximumAttemptsReached as i32);
    assert_eq!(f.started_event_id, started_id);
}

fn cancel(id: i64) -> C {
    C::RequestCancelActivityTaskCommandAttributes(
        temporalio_protos::temporal::api::command::v1::RequestCancelActivityTaskCommandAttributes {
            scheduled_event_id: id,
        },
    )
}

#[test]
fn a_cancel_of_an_activity_that_finished_meanwhile_is_recorded_before_its_outcome() {
    let (mut registry, run_id, id) = scheduled(Some(10_000), None, None);
    start(&mut registry, &run_id, id, 1, NOW);
    let signal = crate::history::Signal {
        name: "s".into(),
        ..Default::default()
    };
    registry
        .signal(&run_id, signal, NOW, &mut Effects::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let task = testing::take_task(&mut registry, &run_id);
    let r = testing::attempt(&run_id, id, 1);
    registry
        .complete_activity(&r, None, "worker", NOW, &mut Effects::default())
        .unwrap_or_else(|e| panic!("{e}"));
    testing::complete(&mut registry, &task, vec![cancel(id)], vec![]);
    let types = testing::event_types(&registry, &run_id);
    let tail: Vec<_> = types.iter().rev().take(4).rev().copied().collect();
    assert_eq!(
        tail,
        [
            EventType::ActivityTaskCancelRequested,
            EventType::ActivityTaskStarted,
            EventType::ActivityTaskCompleted,
            EventType::WorkflowTaskScheduled,
        ]
    );
}

#[test]
fn an_unstarted_activity_is_canceled_after_the_completions_events_or_not_if_it_closes() {
    let (mut registry, run_id, id) = scheduled(Some(10_000), None, None);
    let timer = C::StartTimerCommandAttributes(
        temporalio_protos::temporal::api::command::v1::StartTimerCommandAttributes {
            timer_id: "t".into(),
            start_to_fire_timeout: Some(duration(1000)),
        },
    );
    let signal = crate::history::Signal {
        name: "s".into(),
        ..Default::default()
    };
    registry
        .signal(&run_id, signal, NOW, &mut Effects::default())
        .unwrap_or_else(|e| panic!("{e}"));
    testing::decide(&mut registry, &run_id, vec![cancel(id), timer]);
    let types = testing::event_types(&registry, &run_id);
    let tail: Vec<_> = types.iter().rev().take(4).rev().copied().collect();
    // Buffered: after the completion's other events.
    assert_eq!(
        tail,
        [
            EventType::ActivityTaskCancelRequested,
            EventType::TimerStarted,
            EventType::ActivityTaskCanceled,
            EventType::WorkflowTaskScheduled,
        ]
    );

    let (mut registry, run_id, id) = scheduled(Some(10_000), None, None);
    let signal = crate::history::Signal {
        name: "s".into(),
        ..Default::default()
    };
    registry
        .signal(&run_id, signal, NOW, &mut Effects::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let complete = C::CompleteWorkflowExecutionCommandAttributes(Default::default());
    testing::decide(&mut registry, &run_id, vec![cancel(id), complete]);
    let types = testing::event_types(&registry, &run_id);
    assert_eq!(
        types.iter().rev().take(2).copied().collect::<Vec<_>>(),
        [
            EventType::WorkflowExecutionCompleted,
            EventType::ActivityTaskCancelRequested
        ]
    );
}
