//! Work that crosses runs: starting a child, signalling or cancelling another workflow,
//! and telling a parent (and the children) that a run closed.
//!
//! A run's own state machines only record what they want (`Outbound` items on the run);
//! [`Registry::settle`] then carries them out against the other runs in the same operation,
//! before the batch is committed. So a parent's command and its effect on the child become
//! durable together, and nothing is lost to a crash in between.

use crate::history::{Effects, Registry};

/// One piece of cross-run work a run asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outbound {
    /// Start the child whose `StartChildWorkflowExecutionInitiated` event has this id.
    StartChild { initiated_event_id: i64 },
    /// Deliver the signal or cancel request of this
    /// `SignalExternalWorkflowExecutionInitiated` or
    /// `RequestCancelExternalWorkflowExecutionInitiated` event.
    External { initiated_event_id: i64 },
    /// The run closed: report to its parent, apply its children's parent-close policies and
    /// release the queries waiting on it.
    Closed,
}

/// A bound on cascades (a parent close terminating children whose closes terminate theirs):
/// far beyond any real tree depth, it only stops a bug from spinning forever.
const MAX_ROUNDS: usize = 10_000;

impl Registry {
    /// Carries out every run's outbound work, including work that this work causes.
    pub(crate) fn settle(&mut self, now_ms: i64, fx: &mut Effects) {
        for _ in 0..MAX_ROUNDS {
            let mut pending = Vec::new();
            for run_id in &self.touched {
                if let Some(exec) = self.runs.get_mut(run_id)
                    && !exec.outbox.is_empty()
                {
                    pending.push((run_id.clone(), std::mem::take(&mut exec.outbox)));
                }
            }
            if pending.is_empty() {
                return;
            }
            for (run_id, items) in pending {
                for item in items {
                    self.deliver(&run_id, item, now_ms, fx);
                }
            }
        }
        tracing::error!("cross-run work did not settle; dropping the rest");
    }

    fn deliver(&mut self, run_id: &str, item: Outbound, now_ms: i64, fx: &mut Effects) {
        match item {
            Outbound::StartChild { initiated_event_id } => {
                self.start_child(run_id, initiated_event_id, now_ms, fx);
            }
            Outbound::External { initiated_event_id } => {
                self.deliver_initiated(run_id, initiated_event_id, now_ms, fx);
            }
            Outbound::Closed => {
                self.report_to_parent(run_id, now_ms, fx);
                self.apply_parent_close_policies(run_id, now_ms, fx);
                self.release_queries(run_id, fx);
                self.deliver_nexus_callbacks(run_id, now_ms, fx);
                self.on_scheduled_run_closed(run_id, now_ms, fx);
            }
        }
    }
}
