//! Effects: what a state transition asks the outside world to do once it is durable.
//! The history layer never touches queues or clocks directly; it returns these as data and
//! the runtime executes them after the store has committed.

use serde::{Deserialize, Serialize};

use crate::matching::{QueueKind, Route, Task};

/// Which activity timeout a timer enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum ActivityTimeout {
    ScheduleToStart,
    StartToClose,
    ScheduleToClose,
    Heartbeat,
}

/// A durable timer. Timers are never cancelled: on firing, the execution checks whether the
/// timer still applies (same ids, same attempt) and ignores it otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    /// A workflow's `StartTimer` command.
    User { run_id: String, timer_id: String },
    /// A started workflow task's start-to-close timeout.
    WorkflowTaskTimeout {
        run_id: String,
        scheduled_event_id: i64,
    },
    /// A workflow task attempt that waits before it is dispatched.
    WorkflowTaskBackoff {
        run_id: String,
        scheduled_event_id: i64,
    },
    /// An activity attempt's timeout.
    Activity {
        run_id: String,
        scheduled_event_id: i64,
        attempt: i32,
        timeout: ActivityTimeout,
    },
    /// An activity retry whose backoff has elapsed.
    ActivityRetry {
        run_id: String,
        scheduled_event_id: i64,
        attempt: i32,
    },
    /// The workflow run timeout.
    RunTimeout { run_id: String },
    /// A workflow task on a sticky queue waited too long: move it to the normal queue.
    StickyScheduleToStart {
        run_id: String,
        scheduled_event_id: i64,
    },
    /// A Nexus operation's deadline, request timeout or backoff (`attempt` of its start,
    /// or of its cancel request for the cancel timers).
    Nexus {
        run_id: String,
        scheduled_event_id: i64,
        attempt: i32,
        timer: crate::history::machines::nexus::NexusTimer,
    },
    /// A schedule's next time (or a missed one, after a restart).
    Schedule {
        namespace: String,
        schedule_id: String,
    },
}

/// One effect of a state transition.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    /// Put `task` on the named queue.
    Dispatch {
        namespace: String,
        queue: String,
        kind: QueueKind,
        task: Task,
        /// Where the run's versioning sends it.
        route: Route,
    },
    /// Fire `timer` at `at_ms` (epoch milliseconds).
    Timer { at_ms: i64, timer: TimerKey },
    /// History grew or the execution closed: wake history long polls.
    HistoryChanged,
}

/// The effects collected during one operation, executed in order after commit.
#[derive(Debug, Default)]
pub(crate) struct Effects(pub(crate) Vec<Effect>);

impl Effects {
    pub(crate) fn dispatch(
        &mut self,
        namespace: &str,
        queue: &str,
        kind: QueueKind,
        task: Task,
        route: Route,
    ) {
        self.0.push(Effect::Dispatch {
            namespace: namespace.to_owned(),
            queue: queue.to_owned(),
            kind,
            task,
            route,
        });
    }

    /// Takes back the dispatch of `task`: it went to a worker directly (eager execution).
    pub(crate) fn undispatch(&mut self, task: &Task) {
        self.0
            .retain(|e| !matches!(e, Effect::Dispatch { task: t, .. } if t == task));
    }

    pub(crate) fn timer(&mut self, at_ms: i64, timer: TimerKey) {
        self.0.push(Effect::Timer { at_ms, timer });
    }

    pub(crate) fn history_changed(&mut self) {
        self.0.push(Effect::HistoryChanged);
    }
}
