//! Per-execution state: every workflow run's history and mutable state, owned by one
//! [`Registry`] and mutated synchronously under one lock.
//!
//! Operations take `&mut Registry`, the current time and an [`Effects`] collector; they
//! change state and describe what must happen next (dispatch a task, arm a timer) as data.
//! The runtime persists the changed runs, then executes the effects.
//!
//! The code is in rooms; each state machine keeps its states, transitions (`on_<event>`)
//! and unit tests (on `testing`) together:
//! - `run`: the run record (`execution`), its `events`, `properties` (memo and search
//!   attributes, derived from history), task `token`s, `persist` (what to write) and
//!   `view` (what the API layer may read of a run);
//! - `machines`: `workflow_task`, `activity` (with its timeouts, retries, pause and
//!   options), `timer`, `child` (child workflows), `external` (signalling and cancelling
//!   other workflows), `update` (workflow updates), `query` (queries riding on workflow
//!   tasks), `sticky` (sticky task queues), `eager` (eager workflow start and activities),
//!   `nexus` (Nexus operations a run calls, and the completion callbacks of runs that
//!   handlers started);
//! - `completion`: a worker's decisions (`RespondWorkflowTaskCompleted`), validated,
//!   checked against the size and pending-work limits, then applied;
//! - `lifecycle`: `start` (new runs, id conflict and reuse, signal-with-start),
//!   `update_with_start`, `chain` (what follows a closing run: a retry or the next cron
//!   run), `retry` (retry policies), `cron`, `reset` (`ResetWorkflowExecution`), `control`
//!   (signal, cancel, terminate), `outbox` (carrying out work that crosses runs),
//!   `versioning` and `versioning_override`;
//! - `rules`: `limits` (the real server's size and count limits), `search_attributes`
//!   (their types and checks), `namespace`;
//! - `residency`: which runs stay in memory, `recovery` (rebuilding effects after a
//!   restart) and `pending` (work in flight, which holds a time-skipping clock);
//! - `effects`: what a transition asks of the outside world, as data;
//! - `settings`: server-wide settings that task queues and batch jobs keep durable.

mod completion;
pub(crate) mod effects;
pub(crate) mod lifecycle;
pub(crate) mod machines;
mod residency;
pub(crate) mod rules;
pub(crate) mod run;
pub(crate) mod settings;
#[cfg(test)]
mod testing;

use std::collections::{BTreeMap, HashMap, HashSet};

pub(crate) use effects::{Effect, Effects, TimerKey};
pub(crate) use lifecycle::control::Signal;
pub(crate) use lifecycle::reset::ResetRequest;
pub(crate) use lifecycle::start::NewRun;
pub(crate) use lifecycle::update_with_start::UpdateWithStart;
pub(crate) use lifecycle::versioning_override::ExecutionOptionsUpdate;
pub(crate) use machines::activity::{ActivityRef, OptionsUpdate, Pause, Restart, Target};
pub(crate) use machines::nexus::{completion_callbacks, nexus_task_failure};
pub(crate) use machines::update::UpdateStatus;
pub(crate) use machines::workflow_task::{Poller, TargetVersion, WorkflowTaskRef};
pub(crate) use residency::DEFAULT_CLOSED_RUNS_IN_MEMORY;
pub use rules::limits::Limits;
pub(crate) use rules::limits::SuggestContinueAsNew;
pub(crate) use rules::namespace::{NamespaceRecord, RetentionWindow};
pub(crate) use run::execution::Execution;

use crate::error::{EngineError, Result};
pub(crate) use crate::matching::{QueueKind, Task};

/// All namespaces, the open runs and a few recently closed ones (the rest of the closed
/// runs are read back from the store on demand: see `residency`).
#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(in crate::history) namespaces: BTreeMap<String, NamespaceRecord>,
    pub(in crate::history) namespaces_dirty: bool,
    pub(in crate::history) runs: HashMap<String, Execution>,
    /// The latest run of each (namespace, workflow id) whose latest run is in memory.
    pub(in crate::history) current: HashMap<(String, String), String>,
    /// Runs handed out mutably since the last batch: the only ones that may need writing.
    pub(in crate::history) touched: HashSet<String>,
    residency: residency::Residency,
    /// When a workflow task suggests continue-as-new.
    pub(crate) suggest_continue_as_new: rules::limits::SuggestContinueAsNew,
    /// Every schedule (`schedules`).
    pub(crate) schedules: crate::schedule::Schedules,
    /// The blob, history and pending-work limits.
    pub(crate) limits: Limits,
    /// Runs deleted since the last batch (`retention`).
    pub(in crate::history) deleted_runs: Vec<String>,
    /// Namespaces deleted since the last batch (`retention`).
    pub(in crate::history) deleted_namespaces: Vec<String>,
    /// The Nexus endpoints (server-wide).
    pub(crate) nexus_endpoints: crate::nexus::Endpoints,
    /// Server-wide settings of task queues and batch jobs (`settings`).
    pub(crate) settings: settings::Settings,
}

impl Registry {
    pub(crate) fn run(&self, run_id: &str) -> Result<&Execution> {
        self.runs
            .get(run_id)
            .ok_or_else(|| EngineError::not_found(format!("workflow run {run_id} not found")))
    }

    pub(crate) fn run_mut(&mut self, run_id: &str) -> Result<&mut Execution> {
        self.touch(run_id)
            .ok_or_else(|| EngineError::not_found(format!("workflow run {run_id} not found")))
    }

    /// A run, mutably; remembered so the next batch persists its changes.
    pub(crate) fn touch(&mut self, run_id: &str) -> Option<&mut Execution> {
        let exec = self.runs.get_mut(run_id)?;
        if !self.touched.contains(run_id) {
            self.touched.insert(run_id.to_owned());
        }
        Some(exec)
    }

    /// The newest run of a workflow id, loaded into memory; `None` if there is none.
    pub(crate) fn current_run(&mut self, namespace: &str, workflow_id: &str) -> Option<String> {
        let key = (namespace.to_owned(), workflow_id.to_owned());
        if let Some(run_id) = self.current.get(&key) {
            return Some(run_id.clone());
        }
        let run_id = self.load_latest(namespace, workflow_id)?;
        self.current.insert(key, run_id.clone());
        Some(run_id)
    }

    /// The run named by a namespace, workflow id and optional run id (empty: the latest),
    /// loaded into memory.
    pub(crate) fn resolve(
        &mut self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> Result<String> {
        self.namespace(namespace)?;
        let not_found = || {
            EngineError::not_found(format!(
                "workflow execution not found for workflow ID \"{workflow_id}\" and run ID \"{run_id}\""
            ))
        };
        if run_id.is_empty() {
            // The real server's words when no run of the workflow id exists.
            return self.current_run(namespace, workflow_id).ok_or_else(|| {
                EngineError::not_found(format!("workflow not found for ID: {workflow_id}"))
            });
        }
        if !self.load(run_id) {
            return Err(not_found());
        }
        match self.runs.get(run_id) {
            Some(exec)
                if exec.state.namespace == namespace && exec.state.workflow_id == workflow_id =>
            {
                Ok(run_id.to_owned())
            }
            _ => Err(not_found()),
        }
    }

    /// Like [`Registry::resolve`], but the run must still be open.
    pub(crate) fn resolve_open(
        &mut self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> Result<String> {
        let run_id = self.resolve(namespace, workflow_id, run_id)?;
        if self.run(&run_id)?.is_open() {
            Ok(run_id)
        } else {
            Err(EngineError::not_found(
                "workflow execution already completed",
            ))
        }
    }
}

impl Registry {
    /// A durable timer fired; the owning state machine decides whether it still applies.
    pub(crate) fn on_timer(&mut self, timer: TimerKey, now_ms: i64, fx: &mut Effects) {
        match timer {
            TimerKey::User { run_id, timer_id } => {
                self.on_user_timer(&run_id, &timer_id, now_ms, fx)
            }
            TimerKey::WorkflowTaskTimeout {
                run_id,
                scheduled_event_id,
            } => self.on_workflow_task_timeout(&run_id, scheduled_event_id, now_ms, fx),
            TimerKey::WorkflowTaskBackoff {
                run_id,
                scheduled_event_id,
            } => self.on_workflow_task_backoff(&run_id, scheduled_event_id, now_ms, fx),
            TimerKey::Activity {
                run_id,
                scheduled_event_id,
                attempt,
                timeout,
            } => {
                let activity = ActivityRef {
                    run_id: &run_id,
                    scheduled_event_id,
                    attempt,
                };
                self.on_activity_timeout(&activity, timeout, now_ms, fx);
            }
            TimerKey::ActivityRetry {
                run_id,
                scheduled_event_id,
                attempt,
            } => {
                let activity = ActivityRef {
                    run_id: &run_id,
                    scheduled_event_id,
                    attempt,
                };
                self.on_activity_retry(&activity, now_ms, fx);
            }
            TimerKey::RunTimeout { run_id } => self.on_run_timeout(&run_id, now_ms, fx),
            TimerKey::StickyScheduleToStart {
                run_id,
                scheduled_event_id,
            } => self.on_sticky_timeout(&run_id, scheduled_event_id, now_ms, fx),
            TimerKey::Schedule {
                namespace,
                schedule_id,
            } => self.on_schedule_timer(&(namespace, schedule_id), now_ms, fx),
            TimerKey::Nexus {
                run_id,
                scheduled_event_id,
                attempt,
                timer,
            } => self.on_nexus_timer(&run_id, scheduled_event_id, attempt, timer, now_ms, fx),
        }
    }
}
