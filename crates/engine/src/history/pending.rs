//! Pending work, which holds a time-skipping clock at wall pace: a workflow task scheduled
//! or started (not one waiting out a retry backoff), an activity scheduled or started (not
//! one waiting out a retry backoff). Children start and external signals are delivered
//! inside the operation that asked for them, so they are never pending between operations.
//! The Java test server takes a time lock for the same things.

use super::{Registry, activity::ActivityPhase};

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
                task || activity
            })
            .map(|exec| exec.state.run_id.as_str())
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

    use super::super::testing::{complete, registry, start, take_task};
    use crate::time::duration;

    #[test]
    fn a_workflow_task_holds_the_clock_until_it_completes_with_a_timer() {
        let mut registry = registry();
        assert_eq!(registry.pending_work(), None);
        let run_id = start(&mut registry, "wf");
        assert_eq!(registry.pending_work(), Some(run_id.as_str()));
        let task = take_task(&mut registry, &run_id);
        assert_eq!(registry.pending_work(), Some(run_id.as_str()));
        let timer = C::StartTimerCommandAttributes(StartTimerCommandAttributes {
            timer_id: "t".into(),
            start_to_fire_timeout: Some(duration(3_600_000)),
        });
        complete(&mut registry, &task, vec![timer], vec![]);
        assert_eq!(registry.pending_work(), None, "only a timer is left");
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
