//! One workflow run: its history, its buffered events and its mutable state.
//!
//! Events go straight into history unless a workflow task is in flight (started); then they
//! are buffered and flushed, with ids assigned, when that task finishes. This is what makes
//! the worker see every event exactly once and in a consistent order.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::{
    enums::v1::WorkflowExecutionStatus,
    failure::v1::Failure,
    history::v1::{ActivityTaskScheduledEventAttributes, HistoryEvent, history_event::Attributes},
};

use crate::history::{
    lifecycle::versioning::RunVersioning, machines::activity::ActivityState,
    machines::child::ChildState, machines::query::QueryBuffer, machines::timer::TimerState,
    machines::update::UpdateState, machines::workflow_task::WorkflowTaskState,
    residency::outbox::Outbound, run::events::event, run::properties::Properties,
};

/// The serializable part of a run, persisted as one record after every change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunState {
    pub(crate) namespace: String,
    pub(crate) workflow_id: String,
    pub(crate) run_id: String,
    pub(crate) first_run_id: String,
    pub(crate) workflow_type: String,
    pub(crate) task_queue: String,
    /// A `WorkflowExecutionStatus` value.
    pub(crate) status: i32,
    pub(crate) start_time_ms: i64,
    pub(crate) close_time_ms: Option<i64>,
    pub(crate) start_request_id: String,
    pub(crate) workflow_task_timeout_ms: i64,
    pub(crate) run_timeout_ms: Option<i64>,
    /// Started event id of the last completed workflow task (0 before the first).
    pub(crate) previous_started_event_id: i64,
    pub(crate) workflow_task: Option<WorkflowTaskState>,
    pub(crate) activities: BTreeMap<i64, ActivityState>,
    pub(crate) timers: BTreeMap<String, TimerState>,
    pub(crate) cancel_requested: bool,
    pub(crate) new_run_id: Option<String>,
    /// The parent run, when this run was started by a `StartChildWorkflowExecution` command
    /// (inherited across continue-as-new).
    #[serde(default)]
    pub(crate) parent: Option<ParentRef>,
    /// Children started by this run that have not closed, by initiated event id.
    #[serde(default)]
    pub(crate) children: BTreeMap<i64, ChildState>,
    /// Updates admitted or accepted but not completed, by update id.
    #[serde(default)]
    pub(crate) updates: BTreeMap<String, UpdateState>,
    /// Admission counter, so updates go to the worker in the order they arrived.
    #[serde(default)]
    pub(crate) update_seq: u64,
    /// The worker's sticky queue that gets this run's next workflow task (with only the new
    /// events), as asked by its last completion.
    #[serde(default)]
    pub(crate) sticky: Option<StickyQueue>,
    /// Request ids of the latest signals, so a retried signal is delivered once.
    #[serde(default)]
    pub(crate) signal_request_ids: VecDeque<String>,
    /// Worker versioning: behavior, version and override (see `versioning`).
    #[serde(default)]
    pub(crate) versioning: RunVersioning,
    /// Signals this run has received, against `history.maximumSignalsPerExecution`.
    #[serde(default)]
    pub(crate) signal_count: usize,
    /// Nexus operations this run called that have not ended, by scheduled event id.
    #[serde(default)]
    pub(crate) nexus_operations:
        BTreeMap<i64, crate::history::machines::nexus::NexusOperationState>,
    /// The Nexus operations this run completes when it closes (it was started by a
    /// handler for an async operation).
    #[serde(default)]
    pub(crate) completion_callbacks: Vec<crate::history::machines::nexus::CompletionCallback>,
    /// Set when this run is a standalone activity execution (`machines/standalone`).
    #[serde(default)]
    pub(crate) standalone: Option<crate::history::machines::standalone::Standalone>,
}

/// A worker's own queue for the runs it has cached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StickyQueue {
    pub(crate) name: String,
    /// How long a task may wait there before it goes to the normal queue instead.
    pub(crate) schedule_to_start_timeout_ms: i64,
}

/// Where a child run reports when it closes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ParentRef {
    pub(crate) namespace: String,
    pub(crate) workflow_id: String,
    pub(crate) run_id: String,
    pub(crate) initiated_event_id: i64,
}

/// A run in memory: state, history, buffered events and what is not yet persisted.
#[derive(Debug, Clone)]
pub(crate) struct Execution {
    pub(in crate::history) state: RunState,
    pub(in crate::history) events: Vec<HistoryEvent>,
    pub(crate) buffered: Vec<HistoryEvent>,
    pub(crate) persisted_events: usize,
    pub(crate) dirty: bool,
    /// Work for other runs, drained by `Registry::settle` before the batch is committed.
    pub(crate) outbox: Vec<Outbound>,
    /// Queries waiting to ride on a workflow task (never persisted).
    pub(crate) queries: QueryBuffer,
    /// Why the latest updates were rejected, for callers still waiting on them (never
    /// persisted, bounded).
    pub(crate) rejected_updates: VecDeque<(String, Failure)>,
    /// The batch that last wrote this run (see `residency`).
    pub(crate) written_seq: u64,
    /// Whether the run is in the cache of closed runs.
    pub(crate) in_closed_cache: bool,
    /// Memo and search attributes, derived from history.
    pub(crate) properties: Properties,
    /// How many events `history_size_bytes` has counted, and their encoded size.
    pub(in crate::history) history_size: (usize, usize),
}

impl Execution {
    pub(crate) fn new(state: RunState) -> Self {
        Self {
            state,
            events: Vec::new(),
            buffered: Vec::new(),
            persisted_events: 0,
            dirty: true,
            outbox: Vec::new(),
            queries: QueryBuffer::default(),
            rejected_updates: VecDeque::new(),
            written_seq: 0,
            in_closed_cache: false,
            properties: Properties::default(),
            history_size: (0, 0),
        }
    }

    pub(crate) fn next_event_id(&self) -> i64 {
        i64::try_from(self.events.len()).unwrap_or(i64::MAX) + 1
    }

    pub(crate) fn is_open(&self) -> bool {
        self.state.status == WorkflowExecutionStatus::Running as i32
    }

    /// Fails with `NotFound` when the run has closed, as Temporal does for signals and
    /// cancellation of a finished workflow.
    pub(crate) fn ensure_open(&self) -> crate::error::Result<()> {
        if self.is_open() {
            Ok(())
        } else {
            Err(crate::error::EngineError::not_found(
                "workflow execution already completed",
            ))
        }
    }

    /// Whether a worker currently holds a workflow task for this run.
    pub(crate) fn task_in_flight(&self) -> bool {
        self.state
            .workflow_task
            .as_ref()
            .is_some_and(|wt| wt.started_event_id > 0)
    }

    /// Appends an event to history now and returns its id.
    pub(crate) fn append(&mut self, now_ms: i64, attributes: impl Into<Attributes>) -> i64 {
        let id = self.next_event_id();
        let attributes = attributes.into();
        self.properties.on_event(&attributes);
        self.events.push(event(id, now_ms, attributes));
        self.dirty = true;
        id
    }

    /// Appends an event, or buffers it while a workflow task is in flight. Returns the new
    /// event's id, or 0 when buffered (ids are assigned at flush).
    pub(crate) fn add_event(&mut self, now_ms: i64, attributes: impl Into<Attributes>) -> i64 {
        if self.task_in_flight() {
            self.buffered.push(event(0, now_ms, attributes.into()));
            self.dirty = true;
            0
        } else {
            self.append(now_ms, attributes)
        }
    }

    /// Moves buffered events into history, assigning ids and pointing completion events at
    /// the ids their `ActivityTaskStarted` events received. Returns whether any moved.
    pub(crate) fn flush_buffered(&mut self) -> bool {
        if self.buffered.is_empty() {
            return false;
        }
        let mut started_ids: HashMap<i64, i64> = HashMap::new();
        for mut ev in std::mem::take(&mut self.buffered) {
            let id = self.next_event_id();
            ev.event_id = id;
            ev.task_id = id;
            match ev.attributes.as_mut() {
                Some(Attributes::ActivityTaskStartedEventAttributes(a)) => {
                    started_ids.insert(a.scheduled_event_id, id);
                }
                Some(Attributes::ActivityTaskCompletedEventAttributes(a)) => {
                    fix(&started_ids, a.scheduled_event_id, &mut a.started_event_id);
                }
                Some(Attributes::ActivityTaskFailedEventAttributes(a)) => {
                    fix(&started_ids, a.scheduled_event_id, &mut a.started_event_id);
                }
                Some(Attributes::ActivityTaskTimedOutEventAttributes(a)) => {
                    fix(&started_ids, a.scheduled_event_id, &mut a.started_event_id);
                }
                Some(Attributes::ActivityTaskCanceledEventAttributes(a)) => {
                    fix(&started_ids, a.scheduled_event_id, &mut a.started_event_id);
                }
                _ => {}
            }
            self.events.push(ev);
        }
        self.dirty = true;
        true
    }

    pub(crate) fn event(&self, id: i64) -> Option<&HistoryEvent> {
        usize::try_from(id.checked_sub(1)?)
            .ok()
            .and_then(|i| self.events.get(i))
    }

    /// The `ActivityTaskScheduled` attributes of an activity.
    pub(crate) fn activity_attributes(
        &self,
        scheduled_event_id: i64,
    ) -> Option<&ActivityTaskScheduledEventAttributes> {
        match self.event(scheduled_event_id)?.attributes.as_ref()? {
            Attributes::ActivityTaskScheduledEventAttributes(a) => Some(a),
            _ => None,
        }
    }

    /// Closes the run with `status` at `now_ms`.
    pub(crate) fn close(&mut self, now_ms: i64, status: WorkflowExecutionStatus) {
        self.state.status = status as i32;
        self.state.close_time_ms = Some(now_ms);
        self.state.workflow_task = None;
        self.state.activities.clear();
        self.state.timers.clear();
        self.state.nexus_operations.clear();
        self.dirty = true;
        self.outbox.push(Outbound::Closed);
    }
}

/// In a buffered completion event, `started_event_id` first holds 0: the started event had
/// no id yet. Point it at the id assigned during the flush.
fn fix(started_ids: &HashMap<i64, i64>, scheduled_event_id: i64, started_event_id: &mut i64) {
    if let Some(id) = started_ids.get(&scheduled_event_id) {
        *started_event_id = *id;
    }
}
