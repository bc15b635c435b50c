//! Pending work, which holds a time-skipping clock at wall pace: a workflow task scheduled
//! or started (not one waiting out a retry backoff), an activity scheduled or started (not
//! one waiting out a retry backoff), a Nexus request waiting for or held by a handler.
//! Children start and external signals are delivered
//! inside the operation that asked for them, so they are never pending between operations.
//! The Java test server takes a time lock for the same things.
//!
//! Also which armed timers still apply: the clock's timer set keeps timers that no longer
//! do (a completed task's timeout), and the time skipper jumps only to live ones. When in
//! doubt a timer counts as live: jumping to it early is harmless, past it is not.

use crate::history::{Registry, TimerKey, machines::activity::ActivityPhase};

impl Registry {
    /// The first open run with work in flight, if any (for the time skipper, and its log).
    pub(crate) fn pending_work(&self) -> Option<&str> {
        self.runs
            .values()
            .filter(|exec| exec.is_open())
            .find(|exec| {
                let state = &exec.state;
                let task = state
                    .workflow_task
                    .as_ref()
                    .is_some_and(|wt| wt.dispatch_at_ms.is_none());
                let activity = state
                    .activities
                    .values()
                    .any(|a| a.phase != ActivityPhase::Backoff);
                let nexus = state.nexus_operations.values().any(|op| op.in_flight());
                task || activity || nexus
            })
            .map(|exec| exec.state.run_id.as_str())
    }
}

impl Registry {
    /// Whether firing `timer` would still do something (conservatively: true when unsure).
    pub(crate) fn timer_is_live(&self, timer: &TimerKey) -> bool {
        let open = |run_id: &str| self.runs.get(run_id).filter(|exec| exec.is_open());
        let task = |run_id: &str, scheduled: i64| {
            open(run_id)
                .and_then(|exec| exec.state.workflow_task.as_ref())
                .filter(|wt| wt.scheduled_event_id == scheduled)
                .map(|wt| wt.started_event_id != 0)
        };
        match timer {
            TimerKey::User { run_id, timer_id } => {
                open(run_id).is_some_and(|exec| exec.state.timers.contains_key(timer_id))
            }
            TimerKey::WorkflowTaskTimeout {
                run_id,
                scheduled_event_id,
            } => task(run_id, *scheduled_event_id) == Some(true),
            TimerKey::WorkflowTaskBackoff {
                run_id,
                scheduled_event_id,
            }
            | TimerKey::StickyScheduleToStart {
                run_id,
                scheduled_event_id,
            } => task(run_id, *scheduled_event_id) == Some(false),
            TimerKey::Activity {
                run_id,
                scheduled_event_id,
                ..
            } => open(run_id)
                .is_some_and(|exec| exec.state.activities.contains_key(scheduled_event_id)),
            TimerKey::ActivityRetry {
                run_id,
                scheduled_event_id,
                attempt,
            } => open(run_id)
                .and_then(|exec| exec.state.activities.get(scheduled_event_id))
                .is_some_and(|a| a.phase == ActivityPhase::Backoff && a.attempt == *attempt),
            TimerKey::RunTimeout { run_id } => open(run_id).is_some(),
            TimerKey::Schedule {
                namespace,
                schedule_id,
            } => self
                .schedules
                .entries
                .contains_key(&(namespace.clone(), schedule_id.clone())),
            TimerKey::Nexus {
                run_id,
                scheduled_event_id,
                attempt,
                timer,
            } => open(run_id)
                .and_then(|exec| exec.state.nexus_operations.get(scheduled_event_id))
                .is_some_and(|op| op.timer_is_live(*attempt, *timer)),
        }
    }
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::{
        command::v1::{
            ScheduleActivityTaskCommandAttributes, StartTimerCommandAttributes,
            command::Attributes as C,
        },
        common::v1::ActivityType,
        taskqueue::v1::TaskQueue,
    };

    use crate::history::TimerKey;
    use crate::history::testing::{complete, registry, start, take_task};
    use crate::time::duration;

    #[test]
    fn a_workflow_task_holds_the_clock_until_it_completes_with_a_timer_and_its_timeout_goes_stale()
    {
        let mut registry = registry();
        assert_eq!(registry.pending_work(), None);
        let run_id = start(&mut registry, "wf");
        assert_eq!(registry.pending_work(), Some(run_id.as_str()));
        let task = take_task(&mut registry, &run_id);
        assert_eq!(registry.pending_work(), Some(run_id.as_str()));
        let task_timeout = TimerKey::WorkflowTaskTimeout {
            run_id: run_id.clone(),
            scheduled_event_id: 2,
        };
        assert!(registry.timer_is_live(&task_timeout), "the task is started");
        let timer = C::StartTimerCommandAttributes(StartTimerCommandAttributes {
            timer_id: "t".into(),
            start_to_fire_timeout: Some(duration(3_600_000)),
        });
        complete(&mut registry, &task, vec![timer], vec![]);
        assert_eq!(registry.pending_work(), None, "only a timer is left");
        let user = TimerKey::User {
            run_id: run_id.clone(),
            timer_id: "t".into(),
        };
        assert!(registry.timer_is_live(&user));
        assert!(!registry.timer_is_live(&task_timeout), "the task completed");
        assert!(registry.timer_is_live(&TimerKey::RunTimeout { run_id }));
    }

    #[test]
    fn a_scheduled_activity_holds_the_clock() {
        let mut registry = registry();
        let run_id = start(&mut registry, "wf");
        let task = take_task(&mut registry, &run_id);
        let activity =
            C::ScheduleActivityTaskCommandAttributes(ScheduleActivityTaskCommandAttributes {
                activity_id: "a".into(),
                activity_type: Some(ActivityType { name: "A".into() }),
                task_queue: Some(TaskQueue {
                    name: "q".into(),
                    ..Default::default()
                }),
                start_to_close_timeout: Some(duration(10_000)),
                ..Default::default()
            });
        complete(&mut registry, &task, vec![activity], vec![]);
        assert_eq!(registry.pending_work(), Some(run_id.as_str()));
    }
}
