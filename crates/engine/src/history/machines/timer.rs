//! User timers: started by a `StartTimer` command, fired by the runtime's clock, canceled
//! by `CancelTimer`. A fired timer adds `TimerFired` and wakes the workflow.

use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::{
    command::v1::StartTimerCommandAttributes,
    history::v1::{
        TimerCanceledEventAttributes, TimerFiredEventAttributes, TimerStartedEventAttributes,
    },
};

use crate::history::{Effects, Execution, Registry, TimerKey};
use crate::time::duration_ms;

/// A started user timer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TimerState {
    pub(crate) started_event_id: i64,
    pub(crate) fire_at_ms: i64,
}

impl Execution {
    /// `StartTimer`.
    pub(crate) fn start_timer(
        &mut self,
        a: StartTimerCommandAttributes,
        completed_id: i64,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let fire_at_ms = now_ms + duration_ms(a.start_to_fire_timeout.as_ref()).unwrap_or(0);
        let started_event_id = self.append(
            now_ms,
            TimerStartedEventAttributes {
                timer_id: a.timer_id.clone(),
                start_to_fire_timeout: a.start_to_fire_timeout,
                workflow_task_completed_event_id: completed_id,
            },
        );
        fx.timer(
            fire_at_ms,
            TimerKey::User {
                run_id: self.state.run_id.clone(),
                timer_id: a.timer_id.clone(),
            },
        );
        self.state.timers.insert(
            a.timer_id,
            TimerState {
                started_event_id,
                fire_at_ms,
            },
        );
    }

    /// `CancelTimer`; unknown ids are ignored.
    pub(crate) fn cancel_timer(&mut self, timer_id: &str, completed_id: i64, now_ms: i64) {
        if let Some(timer) = self.state.timers.remove(timer_id) {
            self.append(
                now_ms,
                TimerCanceledEventAttributes {
                    timer_id: timer_id.to_owned(),
                    started_event_id: timer.started_event_id,
                    workflow_task_completed_event_id: completed_id,
                    identity: String::new(),
                },
            );
        }
    }
}

impl Registry {
    /// A user timer's deadline passed.
    pub(crate) fn on_user_timer(
        &mut self,
        run_id: &str,
        timer_id: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let Some(exec) = self.touch(run_id) else {
            return;
        };
        let due = exec
            .state
            .timers
            .get(timer_id)
            .is_some_and(|t| t.fire_at_ms <= now_ms);
        if !exec.is_open() || !due {
            return;
        }
        let Some(timer) = exec.state.timers.remove(timer_id) else {
            return;
        };
        exec.add_event(
            now_ms,
            TimerFiredEventAttributes {
                timer_id: timer_id.to_owned(),
                started_event_id: timer.started_event_id,
            },
        );
        exec.ensure_workflow_task(now_ms, fx);
        fx.history_changed();
    }
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::{
        command::v1::{CancelTimerCommandAttributes, command::Attributes as C},
        enums::v1::EventType,
    };

    use super::*;
    use crate::{
        history::testing::{self, NOW},
        time::duration,
    };

    fn start_timer(id: &str, ms: i64) -> C {
        C::StartTimerCommandAttributes(StartTimerCommandAttributes {
            timer_id: id.into(),
            start_to_fire_timeout: Some(duration(ms)),
        })
    }

    #[test]
    fn a_timer_fires_once_at_its_deadline_and_wakes_the_workflow() {
        let mut registry = testing::registry();
        let run_id = testing::start(&mut registry, "timer");
        let fx = testing::decide(&mut registry, &run_id, vec![start_timer("t", 5_000)]);
        let key = TimerKey::User {
            run_id: run_id.clone(),
            timer_id: "t".into(),
        };
        assert_eq!(testing::timers(&fx), [(NOW + 5_000, key)]);
        let mut fx = Effects::default();
        registry.on_user_timer(&run_id, "t", NOW + 4_999, &mut fx);
        assert_eq!(
            testing::event_types(&registry, &run_id).last(),
            Some(&EventType::TimerStarted)
        );
        registry.on_user_timer(&run_id, "t", NOW + 5_000, &mut fx);
        registry.on_user_timer(&run_id, "t", NOW + 5_001, &mut fx);
        let types = testing::event_types(&registry, &run_id);
        assert_eq!(
            types[types.len() - 2..],
            [EventType::TimerFired, EventType::WorkflowTaskScheduled]
        );
        assert_eq!(
            types
                .iter()
                .filter(|t| **t == EventType::TimerFired)
                .count(),
            1
        );
    }

    #[test]
    fn a_canceled_timer_never_fires() {
        let mut registry = testing::registry();
        let run_id = testing::start(&mut registry, "timer-cancel");
        testing::decide(&mut registry, &run_id, vec![start_timer("t", 5_000)]);
        // The workflow gets another task (as a signal would give it) and cancels the timer.
        let exec = registry
            .run_mut(&run_id)
            .unwrap_or_else(|e| panic!("run: {e}"));
        exec.ensure_workflow_task(NOW, &mut Effects::default());
        let cancel = C::CancelTimerCommandAttributes(CancelTimerCommandAttributes {
            timer_id: "t".into(),
        });
        testing::decide(&mut registry, &run_id, vec![cancel]);
        registry.on_user_timer(&run_id, "t", NOW + 5_000, &mut Effects::default());
        let types = testing::event_types(&registry, &run_id);
        assert!(types.contains(&EventType::TimerCanceled), "{types:?}");
        assert!(!types.contains(&EventType::TimerFired), "{types:?}");
    }
}
