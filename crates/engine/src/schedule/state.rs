//! One schedule's durable state and its state machine: which nominal times have been
//! processed, the starts buffered behind a running workflow, the running workflows, the
//! recent actions and the counters describe shows.
//!
//! Transitions are pure: [`ScheduleState::process_until`] takes the times that came due
//! (honouring pause, remaining actions and the catch-up window) into the buffer,
//! [`ScheduleState::take_actions`] resolves the buffer against the running workflows by
//! overlap policy into [`Action`]s for the caller to carry out, and
//! [`ScheduleState::on_closed`] records a scheduled workflow's end. The caller commits the
//! state with the workflows it started, so a time is processed (and its workflow started)
//! exactly once.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::{
    common::v1::{Memo, Payloads, SearchAttributes},
    enums::v1::{ScheduleOverlapPolicy, WorkflowExecutionStatus},
    failure::v1::Failure,
    schedule::v1::Schedule,
};

use super::{proto, spec::CompiledSpec};
use crate::time::duration_ms;

/// How many recent actions a schedule remembers (describe shows them all).
pub(crate) const RECENT_ACTIONS: usize = 10;
/// The catch-up window when the policy sets none: one year, as on the real server.
pub(crate) const DEFAULT_CATCHUP_WINDOW_MS: i64 = 365 * 24 * 3600 * 1000;
/// The shortest catch-up window the real server applies.
const MIN_CATCHUP_WINDOW_MS: i64 = 10_000;
/// At most this many due times are looked at in one step (after a long outage, older ones
/// are beyond any catch-up window that matters and are passed over uncounted).
const MAX_TIMES_PER_STEP: usize = 1000;

/// A start waiting for its turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BufferedStart {
    pub(crate) nominal_ms: i64,
    pub(crate) actual_ms: i64,
    /// A `ScheduleOverlapPolicy`, resolved (never unspecified).
    pub(crate) overlap: i32,
    /// Triggered or backfilled: runs even while paused, and uses no remaining action.
    pub(crate) manual: bool,
}

/// A workflow the schedule started that is still running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Running {
    pub(crate) workflow_id: String,
    pub(crate) run_id: String,
    #[serde(default)]
    pub(crate) cancel_requested: bool,
}

/// One action taken, for describe's recent actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RecentAction {
    pub(crate) schedule_ms: i64,
    pub(crate) actual_ms: i64,
    pub(crate) workflow_id: String,
    pub(crate) run_id: String,
    /// A `WorkflowExecutionStatus`.
    pub(crate) status: i32,
}

/// What the caller must do to the workflows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Start(BufferedStart),
    Cancel(Running),
    Terminate(Running),
}

/// A schedule as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ScheduleState {
    pub(crate) namespace: String,
    pub(crate) schedule_id: String,
    /// The schedule with its spec canonical and its policies filled in.
    #[serde(with = "proto")]
    pub(crate) schedule: Schedule,
    #[serde(with = "proto::optional", default)]
    pub(crate) memo: Option<Memo>,
    #[serde(with = "proto::optional", default)]
    pub(crate) search_attributes: Option<SearchAttributes>,
    pub(crate) create_time_ms: i64,
    pub(crate) update_time_ms: Option<i64>,
    pub(crate) conflict_token: i64,
    /// Every nominal time up to here has been processed.
    pub(crate) last_processed_ms: i64,
    pub(crate) action_count: i64,
    pub(crate) missed_catchup_window: i64,
    pub(crate) overlap_skipped: i64,
    pub(crate) buffer_dropped: i64,
    pub(crate) buffer: VecDeque<BufferedStart>,
    pub(crate) running: Vec<Running>,
    pub(crate) recent: VecDeque<RecentAction>,
    #[serde(with = "proto::optional", default)]
    pub(crate) last_completion_result: Option<Payloads>,
    #[serde(with = "proto::optional", default)]
    pub(crate) continued_failure: Option<Failure>,
}

impl ScheduleState {
    #[cfg(test)]
    pub(crate) fn paused(&self) -> bool {
        self.schedule.state.as_ref().is_some_and(|s| s.paused)
    }

    /// The schedule's overlap policy, SKIP when unset.
    pub(crate) fn overlap_policy(&self) -> i32 {
        match self.schedule.policies.as_ref().map(|p| p.overlap_policy) {
            Some(p) if p != ScheduleOverlapPolicy::Unspecified as i32 => p,
            _ => ScheduleOverlapPolicy::Skip as i32,
        }
    }

    /// `policy`, or the schedule's when unspecified.
    pub(crate) fn resolve(&self, policy: i32) -> i32 {
        if policy == ScheduleOverlapPolicy::Unspecified as i32 {
            self.overlap_policy()
        } else {
            policy
        }
    }

    fn catchup_window_ms(&self) -> i64 {
        self.schedule
            .policies
            .as_ref()
            .and_then(|p| duration_ms(p.catchup_window.as_ref()))
            .unwrap_or(DEFAULT_CATCHUP_WINDOW_MS)
            .max(MIN_CATCHUP_WINDOW_MS)
    }

    /// Whether a scheduled (not manual) action may be taken; takes one of the remaining
    /// actions when `take`.
    fn may_act(&mut self, take: bool) -> bool {
        let Some(state) = self.schedule.state.as_mut() else {
            return true;
        };
        if state.paused {
            return false;
        }
        if !state.limited_actions {
            return true;
        }
        if state.remaining_actions <= 0 {
            return false;
        }
        if take {
            state.remaining_actions -= 1;
        }
        true
    }

    /// Takes every time due by `now_ms` into the buffer; those later than the catch-up
    /// window, or while paused, are passed over. Returns the next time to look again.
    pub(crate) fn process_until(&mut self, spec: &CompiledSpec, now_ms: i64) -> Option<i64> {
        let window = self.catchup_window_ms();
        for _ in 0..MAX_TIMES_PER_STEP {
            let due = spec.next(self.last_processed_ms)?;
            if due.actual_ms > now_ms {
                return Some(due.actual_ms);
            }
            self.last_processed_ms = due.nominal_ms;
            if now_ms - due.actual_ms > window {
                self.missed_catchup_window += 1;
                continue;
            }
            if !self.may_act(true) {
                continue;
            }
            self.buffer.push_back(BufferedStart {
                nominal_ms: due.nominal_ms,
                actual_ms: due.actual_ms,
                overlap: self.overlap_policy(),
                manual: false,
            });
        }
        // Too far behind: pass over what is older than the window, uncounted.
        self.last_processed_ms = self.last_processed_ms.max(now_ms - window);
        Some(now_ms)
    }

    /// Queues manual starts (trigger, backfill), whatever the pause and limits say.
    pub(crate) fn add_manual(&mut self, nominal_ms: i64, actual_ms: i64, overlap: i32) {
        let overlap = self.resolve(overlap);
        self.buffer.push_back(BufferedStart {
            nominal_ms,
            actual_ms,
            overlap,
            manual: true,
        });
    }

    /// Resolves the buffer against the running workflows: what to start, cancel or
    /// terminate now; the rest stays buffered.
    pub(crate) fn take_actions(&mut self) -> Vec<Action> {
        use ScheduleOverlapPolicy as P;
        let mut running = !self.running.is_empty();
        let mut actions = Vec::new();
        let mut kept: VecDeque<BufferedStart> = VecDeque::new();
        let (mut cancel, mut terminate) = (false, false);
        for start in std::mem::take(&mut self.buffer) {
            if !running {
                actions.push(Action::Start(start));
                running = true;
                continue;
            }
            match P::try_from(start.overlap).unwrap_or(P::Skip) {
                P::AllowAll => actions.push(Action::Start(start)),
                // With one already waiting, the real server counts another as skipped.
                P::BufferOne => {
                    if kept.is_empty() {
                        kept.push_back(start);
                    } else {
                        self.overlap_skipped += 1;
                    }
                }
                P::BufferAll => kept.push_back(start),
                P::CancelOther => {
                    cancel = true;
                    kept = VecDeque::from([start]);
                }
                P::TerminateOther => {
                    terminate = true;
                    kept = VecDeque::from([start]);
                }
                P::Skip | P::Unspecified => self.overlap_skipped += 1,
            }
        }
        if terminate {
            for run in std::mem::take(&mut self.running) {
                actions.push(Action::Terminate(run));
            }
            // Terminating closes them at once: the kept start goes now.
            actions.extend(kept.pop_front().map(Action::Start));
        } else if cancel {
            for run in self.running.iter_mut().filter(|r| !r.cancel_requested) {
                run.cancel_requested = true;
                actions.push(Action::Cancel(run.clone()));
            }
        }
        self.buffer = kept;
        actions
    }

    /// Records a workflow started for `start`.
    pub(crate) fn started(
        &mut self,
        start: &BufferedStart,
        workflow_id: &str,
        run_id: &str,
        now_ms: i64,
    ) {
        self.action_count += 1;
        // As on the real server, workflows started under ALLOW_ALL are not watched: they
        // hold nothing up and report no result.
        if start.overlap != ScheduleOverlapPolicy::AllowAll as i32 {
            self.running.push(Running {
                workflow_id: workflow_id.to_owned(),
                run_id: run_id.to_owned(),
                cancel_requested: false,
            });
        }
        self.recent.push_back(RecentAction {
            schedule_ms: start.nominal_ms,
            actual_ms: now_ms,
            workflow_id: workflow_id.to_owned(),
            run_id: run_id.to_owned(),
            status: WorkflowExecutionStatus::Running as i32,
        });
        while self.recent.len() > RECENT_ACTIONS {
            self.recent.pop_front();
        }
    }

    /// A scheduled workflow's run closed with `status` (and its result or failure).
    /// A run its chain goes on from (continued as new, retried) is followed to `new_run_id`. Returns whether it was one of
    /// this schedule's running workflows.
    pub(crate) fn on_closed(
        &mut self,
        run_id: &str,
        status: WorkflowExecutionStatus,
        result: Option<Payloads>,
        failure: Option<Failure>,
        new_run_id: Option<&str>,
    ) -> bool {
        let Some(at) = self.running.iter().position(|r| r.run_id == run_id) else {
            self.set_recent_status(run_id, status);
            return false;
        };
        // The chain goes on (continue-as-new, a retry, the next cron run): so does the
        // workflow the schedule watches.
        if let Some(next) = new_run_id.filter(|next| !next.is_empty()) {
            self.running[at].run_id = next.to_owned();
            return true;
        }
        let run = self.running.remove(at);
        self.set_recent_status(&run.run_id, status);
        match status {
            WorkflowExecutionStatus::Completed => {
                self.last_completion_result = result;
                self.continued_failure = None;
            }
            WorkflowExecutionStatus::Failed | WorkflowExecutionStatus::TimedOut => {
                self.continued_failure = failure;
                let pause = self
                    .schedule
                    .policies
                    .as_ref()
                    .is_some_and(|p| p.pause_on_failure);
                if pause && let Some(state) = self.schedule.state.as_mut() {
                    state.paused = true;
                    state.notes = format!(
                        "paused due to workflow failure: {}: {}",
                        run.workflow_id,
                        status.as_str_name()
                    );
                }
            }
            _ => {}
        }
        true
    }

    pub(crate) fn set_recent_status(&mut self, run_id: &str, status: WorkflowExecutionStatus) {
        for action in self.recent.iter_mut().filter(|a| a.run_id == run_id) {
            action.status = status as i32;
        }
    }

    /// The next `count` times the schedule will act at, after `now_ms`.
    pub(crate) fn future_times(&self, spec: &CompiledSpec, now_ms: i64, count: usize) -> Vec<i64> {
        let limit = match self.schedule.state.as_ref() {
            Some(s) if s.limited_actions => {
                usize::try_from(s.remaining_actions.max(0)).unwrap_or(0)
            }
            _ => count,
        };
        let after = self.last_processed_ms.max(now_ms);
        spec.matching(after, i64::MAX, count.min(limit))
    }
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::schedule::v1::{
        SchedulePolicies, ScheduleSpec, ScheduleState as ProtoState,
    };

    use super::*;
    use crate::{schedule::spec::interval, time::duration};

    fn every_second() -> CompiledSpec {
        CompiledSpec::new(&ScheduleSpec {
            interval: vec![interval(1_000, 0)],
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn state(policy: ScheduleOverlapPolicy) -> ScheduleState {
        ScheduleState {
            schedule: Schedule {
                policies: Some(SchedulePolicies {
                    overlap_policy: policy as i32,
                    catchup_window: Some(duration(60_000)),
                    ..Default::default()
                }),
                state: Some(ProtoState::default()),
                ..Default::default()
            },
            last_processed_ms: 100_000,
            ..Default::default()
        }
    }

    fn start_all(s: &mut ScheduleState) -> Vec<Action> {
        let actions = s.take_actions();
        for action in &actions {
            if let Action::Start(start) = action {
                let id = format!("wf-{}", start.nominal_ms);
                s.started(start, &id, &id, start.actual_ms);
            }
        }
        actions
    }

    #[test]
    fn due_times_start_once_and_the_next_wakeup_follows() {
        let spec = every_second();
        let mut s = state(ScheduleOverlapPolicy::AllowAll);
        assert_eq!(s.process_until(&spec, 102_500), Some(103_000));
        assert_eq!(start_all(&mut s).len(), 2);
        // Processing the same time again starts nothing.
        assert_eq!(s.process_until(&spec, 102_500), Some(103_000));
        assert!(s.take_actions().is_empty());
        assert_eq!(s.action_count, 2);
        assert!(s.running.is_empty(), "ALLOW_ALL workflows are not watched");
    }

    #[test]
    fn the_catch_up_window_passes_over_old_times() {
        let spec = every_second();
        let mut s = state(ScheduleOverlapPolicy::AllowAll);
        s.process_until(&spec, 100_000 + 70_000);
        // 101..=109 s are more than 60 s late; 110..=170 s are within the window.
        assert_eq!(s.missed_catchup_window, 9);
        assert_eq!(s.buffer.len(), 61);
    }

    #[test]
    fn overlap_policies() {
        use ScheduleOverlapPolicy as P;
        let spec = every_second();
        let mut skip = state(P::Skip);
        skip.process_until(&spec, 103_000);
        assert_eq!(start_all(&mut skip).len(), 1);
        assert_eq!(skip.overlap_skipped, 2);

        let mut one = state(P::BufferOne);
        one.process_until(&spec, 103_000);
        assert_eq!(start_all(&mut one).len(), 1);
        assert_eq!((one.buffer.len(), one.overlap_skipped), (1, 1));
        assert!(one.on_closed(
            "wf-101000",
            WorkflowExecutionStatus::Completed,
            None,
            None,
            None
        ));
        assert_eq!(start_all(&mut one).len(), 1);
        assert_eq!(one.running[0].workflow_id, "wf-102000");

        let mut all = state(P::BufferAll);
        all.process_until(&spec, 103_000);
        start_all(&mut all);
        assert_eq!(all.buffer.len(), 2);

        let mut cancel = state(P::CancelOther);
        cancel.process_until(&spec, 101_000);
        start_all(&mut cancel);
        cancel.process_until(&spec, 102_000);
        let actions = cancel.take_actions();
        assert!(matches!(&actions[..], [Action::Cancel(r)] if r.run_id == "wf-101000"));
        assert!(cancel.take_actions().is_empty(), "asks once");
        cancel.on_closed(
            "wf-101000",
            WorkflowExecutionStatus::Canceled,
            None,
            None,
            None,
        );
        assert!(
            matches!(&start_all(&mut cancel)[..], [Action::Start(s)] if s.nominal_ms == 102_000)
        );

        let mut terminate = state(P::TerminateOther);
        terminate.process_until(&spec, 101_000);
        start_all(&mut terminate);
        terminate.process_until(&spec, 102_000);
        let actions = start_all(&mut terminate);
        assert!(matches!(&actions[0], Action::Terminate(r) if r.run_id == "wf-101000"));
        assert!(matches!(&actions[1], Action::Start(s) if s.nominal_ms == 102_000));
    }

    #[test]
    fn a_chain_that_goes_on_is_followed() {
        let spec = every_second();
        let mut s = state(ScheduleOverlapPolicy::Skip);
        s.process_until(&spec, 101_000);
        start_all(&mut s);
        let failed = WorkflowExecutionStatus::Failed;
        assert!(s.on_closed("wf-101000", failed, None, None, Some("retry")));
        assert_eq!(
            s.running[0].run_id, "retry",
            "the retry is still the running workflow"
        );
        assert!(s.continued_failure.is_none());
        assert!(s.on_closed(
            "retry",
            WorkflowExecutionStatus::Completed,
            None,
            None,
            None
        ));
        assert!(s.running.is_empty());
    }

    #[test]
    fn results_failures_pause_and_limits() {
        let spec = every_second();
        let mut s = state(ScheduleOverlapPolicy::BufferAll);
        if let Some(p) = s.schedule.policies.as_mut() {
            p.pause_on_failure = true;
        }
        if let Some(st) = s.schedule.state.as_mut() {
            st.limited_actions = true;
            st.remaining_actions = 2;
        }
        s.process_until(&spec, 105_000);
        assert_eq!(start_all(&mut s).len(), 1);
        assert_eq!(s.buffer.len(), 1, "two remaining actions, one at a time");
        let result = Payloads::default();
        s.on_closed(
            "wf-101000",
            WorkflowExecutionStatus::Completed,
            Some(result.clone()),
            None,
            None,
        );
        assert_eq!(s.last_completion_result, Some(result));
        assert_eq!(
            start_all(&mut s).len(),
            1,
            "the buffered one, once the first closed"
        );
        s.on_closed(
            "wf-102000",
            WorkflowExecutionStatus::Failed,
            None,
            Some(Failure::default()),
            None,
        );
        assert!(s.continued_failure.is_some());
        assert!(s.paused());
        assert!(
            s.schedule
                .state
                .as_ref()
                .is_some_and(|st| st.notes.contains("wf-102000"))
        );
        // Paused: scheduled times pass, manual ones still run.
        s.process_until(&spec, 107_000);
        assert!(s.take_actions().is_empty());
        s.add_manual(107_500, 107_500, 0);
        assert_eq!(start_all(&mut s).len(), 1);
    }
}
