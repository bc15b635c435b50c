//! Schedules against runs: the schedule RPCs' operations, and carrying out what a
//! schedule's state machine (`schedule::state`) decides — starting the scheduled workflow,
//! cancelling or terminating the ones an overlap policy displaces — in the same operation
//! that advances the schedule, so both are committed together. A durable timer per schedule
//! wakes it at its next time; a scheduled run's close wakes it too (buffered starts, the
//! last completion result).

use std::collections::HashMap;

use temporalio_protos::temporal::api::{
    common::v1::{Payload, Payloads, SearchAttributes, WorkflowExecution},
    enums::v1::{
        ScheduleOverlapPolicy, TaskQueueKind, WorkflowExecutionStatus, WorkflowIdConflictPolicy,
        WorkflowIdReusePolicy,
    },
    failure::v1::Failure,
    history::v1::history_event::Attributes,
    schedule::v1::{
        Schedule, ScheduleActionResult, ScheduleInfo, SchedulePatch, SchedulePolicies,
        ScheduleState as ProtoState, schedule_action,
    },
    workflowservice::v1::{CreateScheduleRequest, DescribeScheduleResponse, UpdateScheduleRequest},
};

use crate::{
    error::{EngineError, Result},
    history::{Effects, NewRun, Registry, TimerKey, rules::search_attributes},
    schedule::{
        Action, BufferedStart, CompiledSpec, Entry, ScheduleKey, ScheduleState, spec,
        state::DEFAULT_CATCHUP_WINDOW_MS,
    },
    time::{duration, timestamp, timestamp_ms},
};

/// Future action times describe shows.
const DESCRIBE_FUTURE: usize = 10;

pub(super) fn key(namespace: &str, schedule_id: &str) -> ScheduleKey {
    (namespace.to_owned(), schedule_id.to_owned())
}

pub(super) fn not_found(schedule_id: &str) -> EngineError {
    EngineError::not_found(format!("schedule {schedule_id:?} not found"))
}

/// The schedule as stored: spec canonical, policies and state filled in as the real server
/// shows them; with its compiled spec.
fn prepare(schedule: Option<Schedule>) -> Result<(Schedule, CompiledSpec)> {
    let mut schedule =
        schedule.ok_or_else(|| EngineError::invalid("Schedule is not set on request."))?;
    let canonical = spec::canonicalize(&schedule.spec.take().unwrap_or_default())
        .map_err(|e| EngineError::invalid(e.to_string()))?;
    let compiled =
        CompiledSpec::new(&canonical).map_err(|e| EngineError::invalid(e.to_string()))?;
    schedule.spec = Some(canonical);
    let policies = schedule
        .policies
        .get_or_insert_with(SchedulePolicies::default);
    if policies.overlap_policy == ScheduleOverlapPolicy::Unspecified as i32 {
        policies.overlap_policy = ScheduleOverlapPolicy::Skip as i32;
    }
    if policies.catchup_window.is_none() {
        policies.catchup_window = Some(duration(DEFAULT_CATCHUP_WINDOW_MS));
    }
    schedule.state.get_or_insert_with(ProtoState::default);
    let Some(schedule_action::Action::StartWorkflow(start)) =
        schedule.action.as_mut().and_then(|a| a.action.as_mut())
    else {
        return Err(EngineError::invalid(
            "Schedule action is not set: give it a start_workflow action.",
        ));
    };
    let fields = [
        (start.workflow_id.is_empty(), "WorkflowId"),
        (
            start
                .workflow_type
                .as_ref()
                .is_none_or(|t| t.name.is_empty()),
            "WorkflowType",
        ),
        (
            start.task_queue.as_ref().is_none_or(|q| q.name.is_empty()),
            "TaskQueue",
        ),
    ];
    if let Some((_, name)) = fields.iter().find(|(missing, _)| *missing) {
        return Err(EngineError::invalid(format!(
            "{name} is not set on the schedule's start_workflow action."
        )));
    }
    if let Some(queue) = start.task_queue.as_mut()
        && queue.kind == TaskQueueKind::Unspecified as i32
    {
        queue.kind = TaskQueueKind::Normal as i32;
    }
    Ok((schedule, compiled))
}

/// RFC 3339 in UTC: whole seconds for workflow ids, as the real server forms them.
fn rfc3339_seconds(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms.div_euclid(1000) * 1000)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn search_attribute(kind: &str, json: String) -> Payload {
    Payload {
        metadata: HashMap::from([
            ("encoding".to_owned(), b"json/plain".to_vec()),
            ("type".to_owned(), kind.as_bytes().to_vec()),
        ]),
        data: json.into_bytes(),
        ..Default::default()
    }
}

fn conflict_token(token: i64) -> Vec<u8> {
    token.to_be_bytes().to_vec()
}

/// What a closed run ended with: (status, result, failure).
fn outcome(
    events: &[temporalio_protos::temporal::api::history::v1::HistoryEvent],
) -> (Option<Payloads>, Option<Failure>) {
    match events.last().and_then(|e| e.attributes.as_ref()) {
        Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => (a.result.clone(), None),
        Some(Attributes::WorkflowExecutionFailedEventAttributes(a)) => (None, a.failure.clone()),
        _ => (None, None),
    }
}

impl Registry {
    pub(crate) fn create_schedule(
        &mut self,
        request: CreateScheduleRequest,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<Vec<u8>> {
        self.namespace(&request.namespace)?;
        if request.schedule_id.is_empty() {
            return Err(EngineError::invalid("ScheduleId is not set on request."));
        }
        let key = key(&request.namespace, &request.schedule_id);
        if self.schedules.entries.contains_key(&key) {
            return Err(EngineError::ScheduleExists(request.schedule_id));
        }
        let (mut schedule, spec) = prepare(request.schedule)?;
        let search_attributes =
            self.typed_attributes(&request.namespace, &mut schedule, request.search_attributes)?;
        let state = ScheduleState {
            namespace: request.namespace,
            schedule_id: request.schedule_id,
            schedule,
            memo: request.memo,
            search_attributes,
            create_time_ms: now_ms,
            conflict_token: 1,
            last_processed_ms: now_ms,
            ..Default::default()
        };
        self.schedules.insert(key.clone(), Entry { state, spec });
        if let Some(patch) = request.initial_patch {
            self.apply_patch(&key, patch, now_ms);
        }
        self.step_schedule(&key, now_ms, fx);
        Ok(conflict_token(1))
    }

    /// The schedule's own `attributes` and its workflow action's, checked and typed.
    fn typed_attributes(
        &self,
        namespace: &str,
        schedule: &mut Schedule,
        attributes: Option<SearchAttributes>,
    ) -> Result<Option<SearchAttributes>> {
        let custom = &self.namespace(namespace)?.search_attributes;
        let typed =
            |a| search_attributes::typed(a, namespace, custom).map_err(EngineError::invalid);
        if let Some(schedule_action::Action::StartWorkflow(start)) =
            schedule.action.as_mut().and_then(|a| a.action.as_mut())
        {
            start.search_attributes = typed(start.search_attributes.take())?;
        }
        typed(attributes)
    }

    pub(crate) fn describe_schedule(
        &self,
        namespace: &str,
        schedule_id: &str,
        now_ms: i64,
    ) -> Result<DescribeScheduleResponse> {
        self.namespace(namespace)?;
        let entry = self
            .schedules
            .entries
            .get(&key(namespace, schedule_id))
            .ok_or_else(|| not_found(schedule_id))?;
        let s = &entry.state;
        let info = ScheduleInfo {
            action_count: s.action_count,
            missed_catchup_window: s.missed_catchup_window,
            overlap_skipped: s.overlap_skipped,
            buffer_dropped: s.buffer_dropped,
            buffer_size: i64::try_from(s.buffer.len()).unwrap_or(i64::MAX),
            running_workflows: s
                .running
                .iter()
                .map(|r| WorkflowExecution {
                    workflow_id: r.workflow_id.clone(),
                    run_id: r.run_id.clone(),
                })
                .collect(),
            recent_actions: recent_actions(s, s.recent.len()),
            future_action_times: future(entry, now_ms, DESCRIBE_FUTURE),
            create_time: Some(timestamp(s.create_time_ms)),
            update_time: s.update_time_ms.map(timestamp),
            ..Default::default()
        };
        Ok(DescribeScheduleResponse {
            schedule: Some(s.schedule.clone()),
            info: Some(info),
            memo: s.memo.clone(),
            search_attributes: s.search_attributes.clone(),
            conflict_token: conflict_token(s.conflict_token),
        })
    }

    pub(crate) fn update_schedule(
        &mut self,
        request: UpdateScheduleRequest,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<()> {
        self.namespace(&request.namespace)?;
        let key = key(&request.namespace, &request.schedule_id);
        let entry = self
            .schedules
            .entries
            .get(&key)
            .ok_or_else(|| not_found(&request.schedule_id))?;
        if !request.conflict_token.is_empty()
            && request.conflict_token != conflict_token(entry.state.conflict_token)
        {
            return Err(EngineError::FailedPrecondition(
                "mismatched conflict token: the schedule changed since it was described; describe it again and retry".into(),
            ));
        }
        let (mut schedule, spec) = prepare(request.schedule)?;
        let search_attributes =
            self.typed_attributes(&request.namespace, &mut schedule, request.search_attributes)?;
        // What came due under the old spec is taken first.
        self.step_schedule(&key, now_ms, fx);
        let Some(entry) = self.schedules.get_mut(&key) else {
            return Err(not_found(&request.schedule_id));
        };
        entry.state.schedule = schedule;
        entry.spec = spec;
        entry.state.update_time_ms = Some(now_ms);
        entry.state.conflict_token += 1;
        entry.state.last_processed_ms = entry.state.last_processed_ms.max(now_ms);
        if search_attributes.is_some() {
            entry.state.search_attributes = search_attributes;
        }
        self.step_schedule(&key, now_ms, fx);
        Ok(())
    }

    pub(crate) fn patch_schedule(
        &mut self,
        namespace: &str,
        schedule_id: &str,
        patch: SchedulePatch,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<()> {
        self.namespace(namespace)?;
        let key = key(namespace, schedule_id);
        if !self.schedules.entries.contains_key(&key) {
            return Err(not_found(schedule_id));
        }
        self.step_schedule(&key, now_ms, fx);
        self.apply_patch(&key, patch, now_ms);
        self.step_schedule(&key, now_ms, fx);
        Ok(())
    }

    fn apply_patch(&mut self, key: &ScheduleKey, patch: SchedulePatch, now_ms: i64) {
        let Some(entry) = self.schedules.get_mut(key) else {
            return;
        };
        let state = &mut entry.state;
        if let Some(trigger) = patch.trigger_immediately {
            let nominal = trigger.scheduled_time.as_ref().map_or(now_ms, timestamp_ms);
            state.add_manual(nominal, now_ms, trigger.overlap_policy);
        }
        for backfill in patch.backfill_request {
            let start = backfill.start_time.as_ref().map_or(now_ms, timestamp_ms);
            let end = backfill.end_time.as_ref().map_or(now_ms, timestamp_ms);
            let mut after = start - 1;
            while let Some(due) = entry.spec.next(after) {
                if due.nominal_ms > end {
                    break;
                }
                state.add_manual(due.nominal_ms, due.nominal_ms, backfill.overlap_policy);
                after = due.nominal_ms;
            }
        }
        let proto = state.schedule.state.get_or_insert_with(ProtoState::default);
        if !patch.pause.is_empty() {
            proto.paused = true;
            proto.notes = patch.pause;
        }
        if !patch.unpause.is_empty() {
            proto.paused = false;
            proto.notes = patch.unpause;
        }
    }

    pub(crate) fn delete_schedule(&mut self, namespace: &str, schedule_id: &str) -> Result<()> {
        self.namespace(namespace)?;
        self.schedules
            .remove(&key(namespace, schedule_id))
            .map(|_| ())
            .ok_or_else(|| not_found(schedule_id))
    }

    /// A schedule's timer fired.
    pub(crate) fn on_schedule_timer(&mut self, key: &ScheduleKey, now_ms: i64, fx: &mut Effects) {
        self.step_schedule(key, now_ms, fx);
    }

    /// A run closed: if a schedule started it, the schedule records how it ended and takes
    /// what was waiting behind it.
    pub(crate) fn on_scheduled_run_closed(&mut self, run_id: &str, now_ms: i64, fx: &mut Effects) {
        let Some(key) = self.schedules.by_run.get(run_id).cloned() else {
            return;
        };
        let Ok(exec) = self.run(run_id) else {
            return;
        };
        let status = WorkflowExecutionStatus::try_from(exec.status())
            .unwrap_or(WorkflowExecutionStatus::Unspecified);
        let (result, failure) = outcome(exec.history());
        let new_run_id = exec.new_run_id().map(str::to_owned);
        if let Some(entry) = self.schedules.get_mut(&key) {
            entry
                .state
                .on_closed(run_id, status, result, failure, new_run_id.as_deref());
        }
        self.schedules.index(&key);
        self.step_schedule(&key, now_ms, fx);
    }

    /// Timers for every schedule after a restart: one that missed its time fires now.
    pub(crate) fn schedule_recovery_effects(&self, now_ms: i64, fx: &mut Effects) {
        for (key, entry) in &self.schedules.entries {
            let next = entry
                .spec
                .next(entry.state.last_processed_ms)
                .map(|d| d.actual_ms);
            let at = if entry.state.buffer.is_empty() {
                next
            } else {
                Some(now_ms)
            };
            if let Some(at) = at {
                fx.timer(
                    at,
                    TimerKey::Schedule {
                        namespace: key.0.clone(),
                        schedule_id: key.1.clone(),
                    },
                );
            }
        }
    }

    /// Advances a schedule to `now_ms`: takes the times due, carries out its actions and
    /// arms its timer for the next time.
    fn step_schedule(&mut self, key: &ScheduleKey, now_ms: i64, fx: &mut Effects) {
        let Some(entry) = self.schedules.get_mut(key) else {
            return;
        };
        let next = entry.state.process_until(&entry.spec, now_ms);
        let actions = entry.state.take_actions();
        let identity = format!("temporal-scheduler-{}-{}", key.0, key.1);
        for action in actions {
            match action {
                Action::Start(start) => self.start_scheduled(key, &start, &identity, now_ms, fx),
                Action::Cancel(run) => {
                    let reason = "cancelled by the schedule's overlap policy";
                    if let Err(e) = self.request_cancel(&run.run_id, reason, &identity, now_ms, fx)
                    {
                        tracing::debug!(run_id = run.run_id, "schedule cancel: {e}");
                    }
                }
                Action::Terminate(run) => {
                    let reason = "terminated by the schedule's overlap policy";
                    match self.terminate(&run.run_id, reason, None, &identity, now_ms, fx) {
                        Ok(()) => {
                            if let Some(entry) = self.schedules.get_mut(key) {
                                entry.state.set_recent_status(
                                    &run.run_id,
                                    WorkflowExecutionStatus::Terminated,
                                );
                            }
                        }
                        Err(e) => tracing::debug!(run_id = run.run_id, "schedule terminate: {e}"),
                    }
                }
            }
        }
        self.schedules.index(key);
        if let Some(at) = next {
            fx.timer(
                at,
                TimerKey::Schedule {
                    namespace: key.0.clone(),
                    schedule_id: key.1.clone(),
                },
            );
        }
    }

    /// Starts the scheduled workflow for `start`: its id is the action's plus the nominal
    /// time, so the same time never starts twice.
    fn start_scheduled(
        &mut self,
        key: &ScheduleKey,
        start: &BufferedStart,
        identity: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let Some(entry) = self.schedules.entries.get(key) else {
            return;
        };
        let state = &entry.state;
        let Some(schedule_action::Action::StartWorkflow(info)) = state
            .schedule
            .action
            .as_ref()
            .and_then(|a| a.action.clone())
        else {
            return;
        };
        let workflow_id = format!("{}-{}", info.workflow_id, rfc3339_seconds(start.nominal_ms));
        let mut attributes = info.search_attributes.clone().unwrap_or_default();
        attributes.indexed_fields.insert(
            "TemporalScheduledById".into(),
            search_attribute(
                "Keyword",
                serde_json::Value::from(key.1.clone()).to_string(),
            ),
        );
        let scheduled_time = jiff::Timestamp::from_millisecond(start.nominal_ms)
            .map(|t| t.to_string())
            .unwrap_or_default();
        attributes.indexed_fields.insert(
            "TemporalScheduledStartTime".into(),
            search_attribute(
                "Datetime",
                serde_json::Value::from(scheduled_time).to_string(),
            ),
        );
        let run = NewRun {
            namespace: key.0.clone(),
            workflow_id: workflow_id.clone(),
            workflow_type: info.workflow_type.map(|t| t.name).unwrap_or_default(),
            task_queue: info.task_queue.map(|q| q.name).unwrap_or_default(),
            input: info.input,
            execution_timeout: info.workflow_execution_timeout,
            run_timeout: info.workflow_run_timeout,
            workflow_task_timeout: info.workflow_task_timeout,
            identity: identity.to_owned(),
            request_id: format!("schedule/{}/{}/{}", key.0, key.1, start.nominal_ms),
            header: info.header,
            memo: info.memo,
            search_attributes: Some(SearchAttributes {
                indexed_fields: attributes.indexed_fields,
            }),
            retry_policy: info.retry_policy,
            reuse_policy: WorkflowIdReusePolicy::AllowDuplicate as i32,
            conflict_policy: WorkflowIdConflictPolicy::Fail as i32,
            last_completion_result: state.last_completion_result.clone(),
            continued_failure: state.continued_failure.clone(),
            user_metadata: info.user_metadata,
            priority: info.priority,
            ..Default::default()
        };
        match self.start_workflow(run, now_ms, fx) {
            Ok(started) => {
                if let Some(entry) = self.schedules.get_mut(key) {
                    entry
                        .state
                        .started(start, &workflow_id, &started.run_id, now_ms);
                }
            }
            Err(e) => tracing::warn!(
                schedule_id = key.1,
                workflow_id,
                "the schedule could not start its workflow: {e}"
            ),
        }
    }
}

pub(super) fn recent_actions(s: &ScheduleState, count: usize) -> Vec<ScheduleActionResult> {
    s.recent
        .iter()
        .skip(s.recent.len().saturating_sub(count))
        .map(|a| ScheduleActionResult {
            schedule_time: Some(timestamp(a.schedule_ms)),
            actual_time: Some(timestamp(a.actual_ms)),
            start_workflow_result: Some(WorkflowExecution {
                workflow_id: a.workflow_id.clone(),
                run_id: a.run_id.clone(),
            }),
            start_workflow_status: a.status,
        })
        .collect()
}

pub(super) fn future(entry: &Entry, now_ms: i64, count: usize) -> Vec<prost_wkt_types::Timestamp> {
    entry
        .state
        .future_times(&entry.spec, now_ms, count)
        .into_iter()
        .map(timestamp)
        .collect()
}
