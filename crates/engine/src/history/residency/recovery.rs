//! After a restart: turn stored state back into queued tasks and armed timers.

use crate::history::{Effects, Registry, TimerKey};

impl Registry {
    /// The effects that put every open run back in motion: scheduled tasks on their queues,
    /// timers armed at their stored deadlines (overdue ones fire at once).
    pub(crate) fn recovery_effects(&self, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        for exec in self.runs.values().filter(|e| e.is_open()) {
            let run_id = &exec.state.run_id;
            if let Some(wt) = exec.state.workflow_task.as_ref() {
                if wt.started_event_id == 0 {
                    exec.dispatch_workflow_task(now_ms, &mut fx);
                } else {
                    fx.timer(
                        wt.started_time_ms + exec.state.workflow_task_timeout_ms,
                        TimerKey::WorkflowTaskTimeout {
                            run_id: run_id.clone(),
                            scheduled_event_id: wt.scheduled_event_id,
                        },
                    );
                }
            }
            for activity in exec.state.activities.values() {
                exec.arm_activity(activity, &mut fx);
            }
            for op in exec.state.nexus_operations.values() {
                op.arm(run_id, &mut fx);
            }
            for (timer_id, timer) in &exec.state.timers {
                fx.timer(
                    timer.fire_at_ms,
                    TimerKey::User {
                        run_id: run_id.clone(),
                        timer_id: timer_id.clone(),
                    },
                );
            }
            if let Some(deadline) = exec.run_deadline_ms() {
                fx.timer(
                    deadline,
                    TimerKey::RunTimeout {
                        run_id: run_id.clone(),
                    },
                );
            }
        }
        self.schedule_recovery_effects(now_ms, &mut fx);
        fx
    }
}
