//! Sticky task queues. A worker that caches a run names its own queue when it completes a
//! workflow task; the run's next task goes there and carries only the events since the
//! worker's last task. If no sticky poller takes it within the worker's schedule-to-start
//! timeout, or the worker resets stickiness or shuts down, the task goes to the normal
//! queue (with full history) instead. Failed and timed-out tasks always use the normal
//! queue.

use temporalio_protos::temporal::api::taskqueue::v1::StickyExecutionAttributes;

use crate::history::{Effects, Execution, Registry, run::execution::StickyQueue};
use crate::time::duration_ms;

/// Used when a worker names a sticky queue without a timeout.
const DEFAULT_STICKY_TIMEOUT_MS: i64 = 5_000;

impl Execution {
    /// Records where the worker that just completed a task wants the next one.
    pub(crate) fn set_sticky(&mut self, attributes: Option<&StickyExecutionAttributes>) {
        self.state.sticky = attributes.and_then(|a| {
            let name = a.worker_task_queue.as_ref()?.name.clone();
            (!name.is_empty()).then(|| StickyQueue {
                name,
                schedule_to_start_timeout_ms: duration_ms(a.schedule_to_start_timeout.as_ref())
                    .unwrap_or(DEFAULT_STICKY_TIMEOUT_MS),
            })
        });
    }

    /// Forgets the sticky queue; a scheduled task that went there goes to the normal queue.
    fn unstick(&mut self, now_ms: i64, fx: &mut Effects) {
        if self.state.sticky.take().is_none() {
            return;
        }
        self.dirty = true;
        let waiting = self
            .state
            .workflow_task
            .as_ref()
            .is_some_and(|wt| wt.started_event_id == 0 && wt.dispatch_at_ms.is_none());
        if self.is_open() && waiting {
            self.dispatch_workflow_task(now_ms, fx);
        }
    }
}

impl Registry {
    /// A task waited on a sticky queue past its schedule-to-start timeout.
    pub(crate) fn on_sticky_timeout(
        &mut self,
        run_id: &str,
        scheduled_event_id: i64,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let Some(exec) = self.runs.get(run_id) else {
            return;
        };
        let still_waiting = exec.state.workflow_task.as_ref().is_some_and(|wt| {
            wt.scheduled_event_id == scheduled_event_id && wt.started_event_id == 0
        });
        if !still_waiting || exec.state.sticky.is_none() {
            return;
        }
        if let Some(exec) = self.touch(run_id) {
            tracing::debug!(
                workflow_id = exec.state.workflow_id,
                run_id,
                "sticky queue did not pick up the workflow task in time"
            );
            exec.unstick(now_ms, fx);
        }
    }

    /// `ResetStickyTaskQueue`: the worker evicted the run from its cache.
    pub(crate) fn reset_sticky(&mut self, run_id: &str, now_ms: i64, fx: &mut Effects) {
        if let Some(exec) = self.touch(run_id) {
            exec.unstick(now_ms, fx);
        }
    }

    /// A worker with sticky queue `queue` shut down: its runs go back to the normal queues.
    pub(crate) fn release_sticky_queue(
        &mut self,
        namespace: &str,
        queue: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let runs: Vec<String> = self
            .runs
            .values()
            .filter(|e| {
                e.state.namespace == namespace
                    && e.state.sticky.as_ref().is_some_and(|s| s.name == queue)
            })
            .map(|e| e.state.run_id.clone())
            .collect();
        for run_id in runs {
            self.reset_sticky(&run_id, now_ms, fx);
        }
    }
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;

    use super::*;
    use crate::{
        history::{
            Effect, Task,
            testing::{NOW, registry, start, take_task},
        },
        time::duration,
    };

    fn queues(fx: &Effects) -> Vec<String> {
        fx.0.iter()
            .filter_map(|e| match e {
                Effect::Dispatch {
                    queue,
                    task: Task::Workflow { .. },
                    ..
                } => Some(queue.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_sticky_task_moves_to_the_normal_queue_after_its_timeout() {
        let mut registry = registry();
        let run = start(&mut registry, "wf");
        take_task(&mut registry, &run);
        let exec = registry.run_mut(&run).unwrap_or_else(|e| panic!("{e}"));
        exec.set_sticky(Some(&StickyExecutionAttributes {
            worker_task_queue: Some(TaskQueue {
                name: "worker-1".into(),
                ..Default::default()
            }),
            schedule_to_start_timeout: Some(duration(500)),
        }));
        exec.state.workflow_task = None;
        let mut fx = Effects::default();
        exec.schedule_workflow_task(NOW, 1, &mut fx);
        assert_eq!(queues(&fx), ["worker-1"]);
        let scheduled = exec
            .state
            .workflow_task
            .as_ref()
            .map_or(0, |wt| wt.scheduled_event_id);

        let mut fx = Effects::default();
        registry.on_sticky_timeout(&run, scheduled, NOW + 500, &mut fx);
        assert_eq!(queues(&fx), ["q"]);
        let mut again = Effects::default();
        registry.on_sticky_timeout(&run, scheduled, NOW + 600, &mut again);
        assert!(queues(&again).is_empty(), "moved once");
    }
}
