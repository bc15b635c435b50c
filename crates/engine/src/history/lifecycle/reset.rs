//! `ResetWorkflowExecution`: a new run that continues a run's history from one of its
//! workflow tasks, as the real server's workflow resetter does.
//!
//! The reset point is the id of a `WorkflowTaskCompleted`, `WorkflowTaskFailed` or
//! `WorkflowTaskTimedOut` event (the task's `WorkflowTaskStarted` must precede it), or of a
//! `WorkflowTaskStarted` event. The new run gets every event before the point, then (for a
//! started point) a `WorkflowTaskStarted` by `history-service`, then `WorkflowTaskFailed`
//! with cause `RESET_WORKFLOW`, the reason as its failure message and the base and new run
//! ids; then the signals the base received after the point (unless `reset_reapply_type` is
//! `NONE` or signals are excluded), then a new workflow task. Activities and timers pending
//! at the point start again; the workflow's current run, if open, is terminated with the
//! reason by `history-service`. Children or external requests before the point are refused
//! (this engine cannot rebuild them).

use temporalio_protos::temporal::api::{
    enums::v1::{ResetReapplyExcludeType, ResetReapplyType, WorkflowTaskFailedCause},
    failure::v1::{Failure, ResetWorkflowFailureInfo, failure::FailureInfo},
    history::v1::{
        HistoryEvent, WorkflowTaskFailedEventAttributes, WorkflowTaskStartedEventAttributes,
        history_event::Attributes as A,
    },
    workflow::v1::{ResetPointInfo, ResetPoints},
};

use crate::history::{
    Effects, Execution, Registry, TimerKey, machines::activity::ActivityState,
    machines::timer::TimerState, run::properties::Properties,
};
use crate::{
    error::{EngineError, Result},
    time::duration_ms,
};

/// Who the real server names as the author of the events a reset writes.
const HISTORY_SERVICE: &str = "history-service";

/// What a reset asks for.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResetRequest {
    pub(crate) namespace: String,
    pub(crate) workflow_id: String,
    /// The base run (empty: the latest).
    pub(crate) run_id: String,
    pub(crate) reason: String,
    pub(crate) workflow_task_finish_event_id: i64,
    /// A `ResetReapplyType` value.
    pub(crate) reapply_type: i32,
    /// `ResetReapplyExcludeType` values.
    pub(crate) reapply_exclude_types: Vec<i32>,
}

impl ResetRequest {
    fn reapplies_signals(&self) -> bool {
        self.reapply_type != ResetReapplyType::None as i32
            && !self
                .reapply_exclude_types
                .contains(&(ResetReapplyExcludeType::Signal as i32))
    }
}

/// How many base events the new run keeps, and the scheduled event id of the task to fail
/// (plus whether its started event must be written).
struct Point {
    keep: usize,
    scheduled_event_id: i64,
    write_started: bool,
}

fn invalid_point(id: i64) -> EngineError {
    EngineError::invalid(format!(
        "workflow_task_finish_event_id {id} is not a WorkflowTaskCompleted, WorkflowTaskFailed, \
         WorkflowTaskTimedOut or WorkflowTaskStarted event of the run: pick one of those ids \
         from its history"
    ))
}

fn reset_point(base: &Execution, id: i64) -> Result<Point> {
    let keep = usize::try_from(id.saturating_sub(1)).map_err(|_| invalid_point(id))?;
    let started_scheduled = |event: Option<&HistoryEvent>| match event?.attributes.as_ref()? {
        A::WorkflowTaskStartedEventAttributes(a) => Some(a.scheduled_event_id),
        _ => None,
    };
    let point = base.event(id).and_then(|e| e.attributes.as_ref());
    match point {
        Some(
            A::WorkflowTaskCompletedEventAttributes(_)
            | A::WorkflowTaskFailedEventAttributes(_)
            | A::WorkflowTaskTimedOutEventAttributes(_),
        ) => Ok(Point {
            keep,
            scheduled_event_id: started_scheduled(base.event(id - 1))
                .ok_or_else(|| invalid_point(id))?,
            write_started: false,
        }),
        Some(A::WorkflowTaskStartedEventAttributes(a)) => Ok(Point {
            keep,
            scheduled_event_id: a.scheduled_event_id,
            write_started: true,
        }),
        _ => Err(invalid_point(id)),
    }
}

impl Registry {
    /// Resets a run (see the module docs); returns the new run's id.
    pub(crate) fn reset_workflow(
        &mut self,
        r: ResetRequest,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<String> {
        if r.workflow_id.is_empty() {
            return Err(EngineError::invalid("WorkflowId is not set on request."));
        }
        let base_id = self.resolve(&r.namespace, &r.workflow_id, &r.run_id)?;
        let base = self.run(&base_id)?;
        let point = reset_point(base, r.workflow_task_finish_event_id)?;
        let prefix = base.events.get(..point.keep).unwrap_or_default().to_vec();
        refuse_unsupported(&prefix)?;
        let signals: Vec<A> = if r.reapplies_signals() {
            base.events
                .iter()
                .skip(point.keep)
                .chain(base.buffered.iter())
                .filter_map(|e| match &e.attributes {
                    Some(a @ A::WorkflowExecutionSignaledEventAttributes(_)) => Some(a.clone()),
                    _ => None,
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut state = base.state.clone();
        if let Some(current) = self.current_run(&r.namespace, &r.workflow_id)
            && self.run(&current)?.is_open()
        {
            self.terminate(&current, &r.reason, None, HISTORY_SERVICE, now_ms, fx)?;
        }

        let new_run_id = super::start::new_run_id();
        state.run_id = new_run_id.clone();
        state.status =
            temporalio_protos::temporal::api::enums::v1::WorkflowExecutionStatus::Running as i32;
        state.start_time_ms = now_ms;
        state.close_time_ms = None;
        state.workflow_task = None;
        state.new_run_id = None;
        state.children = Default::default();
        state.updates = Default::default();
        state.sticky = None;
        state.signal_request_ids = Default::default();
        state.previous_started_event_id = 0;
        state.cancel_requested = prefix.iter().any(|e| {
            matches!(
                e.attributes,
                Some(A::WorkflowExecutionCancelRequestedEventAttributes(_))
            )
        });
        let (activities, timers) = pending_at(&prefix, now_ms);
        state.activities = activities;
        state.timers = timers;
        let mut exec = Execution::new(state);
        exec.properties = Properties::from_events(&prefix);
        exec.events = prefix;

        let started_event_id = if point.write_started {
            exec.append(
                now_ms,
                WorkflowTaskStartedEventAttributes {
                    scheduled_event_id: point.scheduled_event_id,
                    identity: HISTORY_SERVICE.to_owned(),
                    request_id: "emptyUuid".to_owned(),
                    ..Default::default()
                },
            )
        } else {
            i64::try_from(point.keep).unwrap_or(0)
        };
        exec.append(
            now_ms,
            WorkflowTaskFailedEventAttributes {
                scheduled_event_id: point.scheduled_event_id,
                started_event_id,
                cause: WorkflowTaskFailedCause::ResetWorkflow as i32,
                failure: Some(Failure {
                    message: r.reason.clone(),
                    failure_info: Some(FailureInfo::ResetWorkflowFailureInfo(
                        ResetWorkflowFailureInfo::default(),
                    )),
                    ..Default::default()
                }),
                identity: HISTORY_SERVICE.to_owned(),
                base_run_id: base_id.clone(),
                new_run_id: new_run_id.clone(),
                ..Default::default()
            },
        );
        for signal in signals {
            exec.append(now_ms, signal);
        }
        exec.schedule_workflow_task(now_ms, 1, fx);
        arm_pending(&exec, fx);
        tracing::info!(
            workflow_id = r.workflow_id,
            base_run_id = base_id,
            new_run_id,
            point = r.workflow_task_finish_event_id,
            "workflow reset"
        );
        fx.history_changed();
        self.current
            .insert((r.namespace, r.workflow_id), new_run_id.clone());
        self.touched.insert(new_run_id.clone());
        self.runs.insert(new_run_id.clone(), exec);
        Ok(new_run_id)
    }
}

impl Execution {
    /// The run's reset points, as describe shows them (`auto_reset_points`): the real
    /// server keeps the first completed workflow task of each worker build id; this engine
    /// records no build ids, so that is the run's first completed workflow task.
    pub(crate) fn reset_points(&self) -> Option<ResetPoints> {
        let first = self.events.iter().find(|e| {
            matches!(
                e.attributes,
                Some(A::WorkflowTaskCompletedEventAttributes(_))
            )
        })?;
        Some(ResetPoints {
            points: vec![ResetPointInfo {
                run_id: self.state.run_id.clone(),
                first_workflow_task_completed_id: first.event_id,
                create_time: first.event_time,
                resettable: true,
                ..Default::default()
            }],
        })
    }
}

/// Children and external requests cannot be rebuilt from history here.
fn refuse_unsupported(prefix: &[HistoryEvent]) -> Result<()> {
    let unsupported = prefix.iter().any(|e| {
        matches!(
            e.attributes,
            Some(
                A::StartChildWorkflowExecutionInitiatedEventAttributes(_)
                    | A::SignalExternalWorkflowExecutionInitiatedEventAttributes(_)
                    | A::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(_)
            )
        )
    });
    if unsupported {
        return Err(EngineError::invalid(
            "this engine cannot reset to a point after child workflows or external signals or \
             cancellations were initiated: pick an earlier workflow task",
        ));
    }
    Ok(())
}

/// The activities and timers started before the reset point and not resolved by then; they
/// start again from now, as the real server reschedules them.
fn pending_at(
    prefix: &[HistoryEvent],
    now_ms: i64,
) -> (
    std::collections::BTreeMap<i64, ActivityState>,
    std::collections::BTreeMap<String, TimerState>,
) {
    let mut activities = std::collections::BTreeMap::new();
    let mut timers = std::collections::BTreeMap::new();
    for e in prefix {
        match &e.attributes {
            Some(A::ActivityTaskScheduledEventAttributes(a)) => {
                let task_queue = a.task_queue.as_ref().map(|q| q.name.clone());
                activities.insert(
                    e.event_id,
                    ActivityState::scheduled(
                        e.event_id,
                        a.activity_id.clone(),
                        task_queue.unwrap_or_default(),
                        now_ms,
                    ),
                );
            }
            Some(A::ActivityTaskCompletedEventAttributes(a)) => {
                activities.remove(&a.scheduled_event_id);
            }
            Some(A::ActivityTaskFailedEventAttributes(a)) => {
                activities.remove(&a.scheduled_event_id);
            }
            Some(A::ActivityTaskTimedOutEventAttributes(a)) => {
                activities.remove(&a.scheduled_event_id);
            }
            Some(A::ActivityTaskCanceledEventAttributes(a)) => {
                activities.remove(&a.scheduled_event_id);
            }
            Some(A::ActivityTaskCancelRequestedEventAttributes(a)) => {
                if let Some(activity) = activities.get_mut(&a.scheduled_event_id) {
                    activity.cancel_requested_event_id = Some(e.event_id);
                }
            }
            Some(A::TimerStartedEventAttributes(a)) => {
                let after = duration_ms(a.start_to_fire_timeout.as_ref()).unwrap_or(0);
                timers.insert(
                    a.timer_id.clone(),
                    TimerState {
                        started_event_id: e.event_id,
                        fire_at_ms: now_ms.saturating_add(after),
                    },
                );
            }
            Some(A::TimerFiredEventAttributes(a)) => {
                timers.remove(&a.timer_id);
            }
            Some(A::TimerCanceledEventAttributes(a)) => {
                timers.remove(&a.timer_id);
            }
            _ => {}
        }
    }
    (activities, timers)
}

/// Puts the new run's pending activities on their queues and arms its timers.
fn arm_pending(exec: &Execution, fx: &mut Effects) {
    for activity in exec.state.activities.values() {
        exec.arm_activity(activity, fx);
    }
    for (timer_id, timer) in &exec.state.timers {
        fx.timer(
            timer.fire_at_ms,
            TimerKey::User {
                run_id: exec.state.run_id.clone(),
                timer_id: timer_id.clone(),
            },
        );
    }
    if let Some(timeout) = exec.state.run_timeout_ms {
        fx.timer(
            exec.state.start_time_ms.saturating_add(timeout),
            TimerKey::RunTimeout {
                run_id: exec.state.run_id.clone(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::{
        command::v1::{
            CompleteWorkflowExecutionCommandAttributes, StartTimerCommandAttributes,
            command::Attributes as C,
        },
        enums::v1::{EventType, WorkflowExecutionStatus},
    };

    use super::*;
    use crate::history::{Signal, testing};

    fn signal(registry: &mut Registry, run_id: &str, name: &str) {
        let signal = Signal {
            name: name.into(),
            input: None,
            identity: "client".into(),
            header: None,
            request_id: uuid::Uuid::new_v4().to_string(),
        };
        let done = registry.signal(run_id, signal, testing::NOW, &mut Effects::default());
        assert!(done.is_ok(), "{done:?}");
    }

    fn reset(registry: &mut Registry, run_id: &str, point: i64, reapply: i32) -> Result<String> {
        let r = ResetRequest {
            namespace: "default".into(),
            workflow_id: "reset".into(),
            run_id: run_id.into(),
            reason: "because".into(),
            workflow_task_finish_event_id: point,
            reapply_type: reapply,
            reapply_exclude_types: vec![],
        };
        let mut fx = Effects::default();
        let new = registry.reset_workflow(r, testing::NOW, &mut fx);
        registry.settle(testing::NOW, &mut fx);
        new
    }

    fn timer(id: &str) -> C {
        C::StartTimerCommandAttributes(StartTimerCommandAttributes {
            timer_id: id.into(),
            start_to_fire_timeout: Some(prost_wkt_types::Duration {
                seconds: 60,
                nanos: 0,
            }),
        })
    }

    /// 1 started, 2 scheduled, 3 started, 4 completed, 5 timer, 6 signal "a", 7 scheduled,
    /// 8 started, 9 completed, 10 closed.
    fn finished_run(registry: &mut Registry) -> String {
        let run_id = testing::start(registry, "reset");
        testing::decide(registry, &run_id, vec![timer("t")]);
        signal(registry, &run_id, "a");
        let complete = C::CompleteWorkflowExecutionCommandAttributes(
            CompleteWorkflowExecutionCommandAttributes::default(),
        );
        testing::decide(registry, &run_id, vec![complete]);
        run_id
    }

    #[test]
    fn a_reset_to_a_completed_task_fails_it_reapplies_signals_and_restarts_timers() {
        let mut registry = testing::registry();
        let base = finished_run(&mut registry);
        let new = reset(&mut registry, &base, 4, 0).unwrap_or_else(|e| panic!("{e}"));
        use EventType as E;
        assert_eq!(
            testing::event_types(&registry, &new),
            [
                E::WorkflowExecutionStarted,
                E::WorkflowTaskScheduled,
                E::WorkflowTaskStarted,
                E::WorkflowTaskFailed,
                E::WorkflowExecutionSignaled,
                E::WorkflowTaskScheduled
            ]
        );
        let exec = registry.run(&new).unwrap_or_else(|e| panic!("{e}"));
        match exec.event(4).and_then(|e| e.attributes.as_ref()) {
            Some(A::WorkflowTaskFailedEventAttributes(a)) => {
                assert_eq!(a.cause, WorkflowTaskFailedCause::ResetWorkflow as i32);
                assert_eq!((a.scheduled_event_id, a.started_event_id), (2, 3));
                assert_eq!(
                    (a.base_run_id.as_str(), a.new_run_id.as_str()),
                    (base.as_str(), new.as_str())
                );
                assert_eq!(
                    a.failure.as_ref().map(|f| f.message.as_str()),
                    Some("because")
                );
            }
            other => panic!("event 4: {other:?}"),
        }
        assert!(
            exec.state.timers.is_empty(),
            "the timer came after the point"
        );
        assert_eq!(registry.current_run("default", "reset"), Some(new));
        let base_points = registry.run(&base).ok().and_then(Execution::reset_points);
        let ids: Vec<_> = base_points
            .map(|p| {
                p.points
                    .iter()
                    .map(|p| p.first_workflow_task_completed_id)
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(ids, [4], "one build id: the first completed task");
    }

    #[test]
    fn a_reset_to_a_started_task_writes_its_started_event_and_none_skips_signals() {
        let mut registry = testing::registry();
        let base = finished_run(&mut registry);
        let new = reset(&mut registry, &base, 8, ResetReapplyType::None as i32)
            .unwrap_or_else(|e| panic!("{e}"));
        use EventType as E;
        let types = testing::event_types(&registry, &new);
        assert_eq!(
            types[7..],
            [
                E::WorkflowTaskStarted,
                E::WorkflowTaskFailed,
                E::WorkflowTaskScheduled
            ]
        );
        let exec = registry.run(&new).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            exec.state.timers.len(),
            1,
            "the timer pending at the point restarts"
        );
        match exec.event(8).and_then(|e| e.attributes.as_ref()) {
            Some(A::WorkflowTaskStartedEventAttributes(a)) => {
                assert_eq!(
                    (a.scheduled_event_id, a.identity.as_str()),
                    (7, HISTORY_SERVICE)
                );
            }
            other => panic!("event 8: {other:?}"),
        }
    }

    #[test]
    fn a_running_base_is_terminated_and_a_bad_point_is_refused() {
        let mut registry = testing::registry();
        let base = testing::start(&mut registry, "reset");
        testing::decide(&mut registry, &base, vec![timer("t")]);
        for bad in [1, 2, 5, 99] {
            let refused = reset(&mut registry, &base, bad, 0);
            assert!(refused.is_err(), "point {bad}");
        }
        let new = reset(&mut registry, &base, 4, 0).unwrap_or_else(|e| panic!("{e}"));
        let old = registry.run(&base).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(old.state.status, WorkflowExecutionStatus::Terminated as i32);
        assert!(registry.run(&new).is_ok_and(|e| e.is_open()));
    }
}
