//! The Nexus operation machine driven in memory: sync and async answers, handler errors
//! retried or not, cancellation before and after the start, timeouts, stale answers.

use temporalio_protos::temporal::api::{
    command::v1::{
        RequestCancelNexusOperationCommandAttributes, ScheduleNexusOperationCommandAttributes,
        command::Attributes as C,
    },
    common::v1::Payload,
    enums::v1::EventType,
    failure::v1::Failure,
    nexus::v1::{
        CancelOperationResponse, EndpointSpec, EndpointTarget, Response, StartOperationResponse,
        endpoint_target::{Variant as Target, Worker},
        response::Variant as R,
        start_operation_response::{Async, Sync, Variant as S},
    },
};

use super::{NexusTimer, handler::handler_failure};
use crate::history::{
    Effects, Registry, Task,
    run::token::TaskToken,
    testing::{NOW, decide, dispatched, event_types, registry, start},
};
use crate::time::duration;

fn with_endpoint() -> Registry {
    let mut registry = registry();
    let spec = EndpointSpec {
        name: "ep".into(),
        description: None,
        target: Some(EndpointTarget {
            variant: Some(Target::Worker(Worker {
                namespace: "default".into(),
                task_queue: "handlers".into(),
            })),
        }),
    };
    registry
        .nexus_endpoints
        .create(Some(&spec), |_| true, uuid::Uuid::new_v4().to_string(), NOW)
        .unwrap();
    registry
}

fn schedule(registry: &mut Registry, run_id: &str, timeout_s: i64) -> (i64, Effects) {
    let fx = decide(
        registry,
        run_id,
        vec![C::ScheduleNexusOperationCommandAttributes(
            ScheduleNexusOperationCommandAttributes {
                endpoint: "ep".into(),
                service: "svc".into(),
                operation: "op".into(),
                input: Some(Payload::default()),
                schedule_to_close_timeout: Some(duration(timeout_s * 1000)),
                ..Default::default()
            },
        )],
    );
    let sev = registry
        .run(run_id)
        .unwrap()
        .state
        .nexus_operations
        .keys()
        .copied()
        .next();
    (sev.expect("an operation"), fx)
}

fn nexus_task(fx: &Effects) -> (String, i64, i32, bool) {
    dispatched(fx)
        .into_iter()
        .find_map(|t| match t {
            Task::Nexus {
                run_id,
                scheduled_event_id,
                attempt,
                cancel,
            } => Some((run_id, scheduled_event_id, attempt, cancel)),
            _ => None,
        })
        .expect("a Nexus task")
}

fn take(registry: &mut Registry, task: (String, i64, i32, bool)) -> Vec<u8> {
    registry
        .start_nexus_task(task, NOW, &mut Effects::default())
        .expect("a live task")
        .task_token
}

/// A caller run with one operation scheduled (`timeout_s` its schedule-to-close timeout)
/// whose task the handler has taken: the registry, the run, the operation's scheduled event
/// id and the task's token.
fn taken(timeout_s: i64) -> (Registry, String, i64, Vec<u8>) {
    let mut registry = with_endpoint();
    let run = start(&mut registry, "caller");
    let (sev, fx) = schedule(&mut registry, &run, timeout_s);
    let token = take(&mut registry, nexus_task(&fx));
    (registry, run, sev, token)
}

fn answer(variant: S) -> Option<Response> {
    Some(Response {
        variant: Some(R::StartOperation(StartOperationResponse {
            variant: Some(variant),
        })),
    })
}

fn nexus_events(registry: &Registry, run_id: &str) -> Vec<EventType> {
    event_types(registry, run_id)
        .into_iter()
        .filter(|t| t.as_str_name().contains("NEXUS"))
        .collect()
}

#[test]
fn a_sync_answer_completes_the_operation_once() {
    let mut registry = with_endpoint();
    let run = start(&mut registry, "caller");
    let (_, fx) = schedule(&mut registry, &run, 30);
    let task = nexus_task(&fx);
    let token = take(&mut registry, task.clone());
    assert!(
        registry
            .start_nexus_task(task, NOW, &mut Effects::default())
            .is_none()
    );
    let sync = answer(S::SyncSuccess(Sync {
        payload: Some(Payload::default()),
        links: vec![],
    }));
    registry
        .complete_nexus_task(&token, sync.clone(), NOW, &mut Effects::default())
        .unwrap();
    assert_eq!(
        nexus_events(&registry, &run),
        [
            EventType::NexusOperationScheduled,
            EventType::NexusOperationCompleted
        ]
    );
    assert!(
        registry
            .complete_nexus_task(&token, sync, NOW, &mut Effects::default())
            .is_err()
    );
}

#[test]
fn retryable_handler_errors_back_off_and_others_fail_the_operation() {
    let (mut registry, run, sev, token) = taken(30);
    let mut fx = Effects::default();
    registry
        .fail_nexus_task(&token, handler_failure("INTERNAL", "boom"), NOW, &mut fx)
        .unwrap();
    let op = registry.run(&run).unwrap().state.nexus_operations[&sev].clone();
    assert_eq!(op.attempt, 2);
    let retry = TaskToken::decode(&token).unwrap();
    assert!(matches!(retry, TaskToken::Nexus { attempt: 1, .. }));
    assert!(
        crate::history::testing::timers(&fx)
            .iter()
            .any(|(at, t)| *at == NOW + 1_000
                && matches!(
                    t,
                    crate::history::TimerKey::Nexus {
                        timer: NexusTimer::Retry,
                        attempt: 2,
                        ..
                    }
                ))
    );
    let mut fx = Effects::default();
    registry.on_nexus_timer(&run, sev, 2, NexusTimer::Retry, NOW + 1_000, &mut fx);
    let token = take(&mut registry, nexus_task(&fx));
    registry
        .fail_nexus_task(
            &token,
            handler_failure("BAD_REQUEST", "no"),
            NOW,
            &mut Effects::default(),
        )
        .unwrap();
    assert_eq!(
        nexus_events(&registry, &run),
        [
            EventType::NexusOperationScheduled,
            EventType::NexusOperationFailed
        ]
    );
}

#[test]
fn a_cancel_waits_for_the_start_then_goes_to_the_handler() {
    let (mut registry, run, sev, token) = taken(30);
    // Something else (a signal, say) wakes the workflow before the operation has started.
    let exec = registry.run_mut(&run).unwrap();
    exec.ensure_workflow_task(NOW, &mut Effects::default());
    let fx = decide(
        &mut registry,
        &run,
        vec![C::RequestCancelNexusOperationCommandAttributes(
            RequestCancelNexusOperationCommandAttributes {
                scheduled_event_id: sev,
            },
        )],
    );
    assert!(
        dispatched(&fx)
            .iter()
            .all(|t| !matches!(t, Task::Nexus { .. }))
    );
    let started = answer(S::AsyncSuccess(Async {
        operation_token: "tok".into(),
        ..Default::default()
    }));
    let mut fx = Effects::default();
    registry
        .complete_nexus_task(&token, started, NOW, &mut fx)
        .unwrap();
    let cancel = nexus_task(&fx);
    assert!(cancel.3, "the cancel request goes out once started");
    let token = take(&mut registry, cancel);
    let cancelled = Some(Response {
        variant: Some(R::CancelOperation(CancelOperationResponse {})),
    });
    registry
        .complete_nexus_task(&token, cancelled, NOW, &mut Effects::default())
        .unwrap();
    assert_eq!(
        nexus_events(&registry, &run),
        [
            EventType::NexusOperationScheduled,
            EventType::NexusOperationCancelRequested,
            EventType::NexusOperationStarted,
            EventType::NexusOperationCancelRequestCompleted,
        ]
    );
    let op = &registry.run(&run).unwrap().state.nexus_operations[&sev];
    assert_eq!(op.operation_token, "tok");
}

#[test]
fn the_schedule_to_close_timeout_ends_it_and_stale_timers_do_nothing() {
    let mut registry = with_endpoint();
    let run = start(&mut registry, "caller");
    let (sev, fx) = schedule(&mut registry, &run, 2);
    let task = nexus_task(&fx);
    let mut fx = Effects::default();
    registry.on_nexus_timer(&run, sev, 1, NexusTimer::Retry, NOW, &mut fx);
    assert!(dispatched(&fx).is_empty());
    registry.on_nexus_timer(
        &run,
        sev,
        1,
        NexusTimer::ScheduleToClose,
        NOW + 2_000,
        &mut fx,
    );
    assert_eq!(
        nexus_events(&registry, &run),
        [
            EventType::NexusOperationScheduled,
            EventType::NexusOperationTimedOut
        ]
    );
    assert!(
        registry
            .start_nexus_task(task, NOW, &mut Effects::default())
            .is_none()
    );
}

#[test]
fn a_request_held_across_a_restart_is_retried_after_its_timeout() {
    let (mut registry, run, sev, token) = taken(60);
    let recovered = registry.recovery_effects(NOW);
    assert!(
        dispatched(&recovered)
            .iter()
            .all(|t| !matches!(t, Task::Nexus { .. }))
    );
    let request_timeout = crate::history::testing::timers(&recovered)
        .into_iter()
        .find(|(_, t)| {
            matches!(
                t,
                crate::history::TimerKey::Nexus {
                    timer: NexusTimer::Request,
                    ..
                }
            )
        });
    assert_eq!(
        request_timeout.map(|(at, _)| at),
        Some(NOW + super::REQUEST_TIMEOUT_MS)
    );
    let mut fx = Effects::default();
    let later = NOW + super::REQUEST_TIMEOUT_MS;
    registry.on_nexus_timer(&run, sev, 1, NexusTimer::Request, later, &mut fx);
    assert_eq!(
        registry.run(&run).unwrap().state.nexus_operations[&sev].attempt,
        2
    );
    // The handler's late answer to the first attempt is refused as stale.
    let sync = answer(S::SyncSuccess(Sync::default()));
    assert!(
        registry
            .complete_nexus_task(&token, sync, later, &mut Effects::default())
            .is_err()
    );
}

#[test]
fn a_cancel_whose_answer_comes_after_the_outcome_is_still_recorded_as_delivered() {
    let (mut registry, run, sev, token) = taken(30);
    let started = answer(S::AsyncSuccess(Async {
        operation_token: "tok".into(),
        ..Default::default()
    }));
    registry
        .complete_nexus_task(&token, started, NOW, &mut Effects::default())
        .unwrap();
    let fx = decide(
        &mut registry,
        &run,
        vec![C::RequestCancelNexusOperationCommandAttributes(
            RequestCancelNexusOperationCommandAttributes {
                scheduled_event_id: sev,
            },
        )],
    );
    let cancel_token = take(&mut registry, nexus_task(&fx));
    let exec = registry.run_mut(&run).unwrap();
    let cause = Failure {
        message: "operation canceled".into(),
        ..Default::default()
    };
    exec.resolve_nexus(
        sev,
        super::NexusAnswer::Canceled(cause),
        NOW,
        &mut Effects::default(),
    );
    let events = nexus_events(&registry, &run);
    assert_eq!(
        events[events.len() - 2..],
        [
            EventType::NexusOperationCancelRequestCompleted,
            EventType::NexusOperationCanceled
        ]
    );
    let late = Some(Response {
        variant: Some(R::CancelOperation(CancelOperationResponse {})),
    });
    assert!(
        registry
            .complete_nexus_task(&cancel_token, late, NOW, &mut Effects::default())
            .is_err()
    );
}
