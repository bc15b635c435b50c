//! The real server's per-workflow limits: blob and memo sizes, history length and size,
//! work pending per run and signals per run, with its defaults, dynamic config keys,
//! statuses and messages.
//!
//! Blob and memo sizes are checked where a request or command carries one (a request is
//! refused with `InvalidArgument`; an activity result or failure becomes a server failure;
//! an oversized command fails the workflow task and terminates the run). The pending-work
//! limits fail the workflow task with their own cause. A run whose history grows past the
//! error limits is terminated by `history-service`, checked after every operation.

use prost::Message;
use temporalio_protos::temporal::api::{
    common::v1::{Memo, Payloads},
    enums::v1::{SuggestContinueAsNewReason, WorkflowTaskFailedCause},
    failure::v1::Failure,
};

use crate::error::{EngineError, Result};
use crate::history::{Effects, Execution, NewRun, Registry};

/// The limits one engine enforces on every run, with the real server's defaults. Each has
/// the dynamic config key (`--dynamic-config-value KEY=VALUE`) of the real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// `limit.blobSize.error`: a payload (input, result, failure, signal) larger than this
    /// is refused. Default 2 MiB.
    pub blob_size_error: usize,
    /// `limit.blobSize.warn`: larger payloads are logged; as on the real server, a payload
    /// is only refused when it is over both limits. Default 512 KiB.
    pub blob_size_warn: usize,
    /// `limit.memoSize.error`: a larger memo is refused. Default 2 MiB.
    pub memo_size_error: usize,
    /// `limit.memoSize.warn`: a memo is only refused when over both. Default 2 KiB.
    pub memo_size_warn: usize,
    /// `limit.historyCount.error`: a run with more events is terminated. Default 51,200.
    pub history_count_error: usize,
    /// `limit.historySize.error`: a run whose history is larger (bytes) is terminated.
    /// Default 50 MiB.
    pub history_size_error: usize,
    /// `limit.numPendingActivities.error`: activities in flight per run. Default 2,000.
    pub pending_activities: usize,
    /// `limit.numPendingChildExecutions.error`: open children per run. Default 2,000.
    pub pending_child_workflows: usize,
    /// `limit.numPendingSignals.error`: signals to other workflows in flight. Default 2,000.
    pub pending_signals: usize,
    /// `limit.numPendingCancelRequests.error`: cancel requests to other workflows in
    /// flight. Default 2,000.
    pub pending_cancel_requests: usize,
    /// `history.maximumSignalsPerExecution`: signals one run may receive. Default 10,000.
    pub signals_per_execution: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            blob_size_error: 2 * 1024 * 1024,
            blob_size_warn: 512 * 1024,
            memo_size_error: 2 * 1024 * 1024,
            memo_size_warn: 2 * 1024,
            history_count_error: 50 * 1024,
            history_size_error: 50 * 1024 * 1024,
            pending_activities: 2000,
            pending_child_workflows: 2000,
            pending_signals: 2000,
            pending_cancel_requests: 2000,
            signals_per_execution: 10_000,
        }
    }
}

/// The real server's message for a refused blob.
pub(crate) const BLOB_TOO_LARGE: &str = "Blob data size exceeds limit.";
/// The real server's message for a refused memo.
pub(crate) const MEMO_TOO_LARGE: &str = "Memo size exceeds limit.";
/// The real server's message when a run has had all the signals it may receive.
pub(crate) const TOO_MANY_SIGNALS: &str = "exceeded workflow execution limit for signal events";
/// The real server's failure for an activity result over the blob limit.
pub(crate) const RESULT_TOO_LARGE: &str = "Complete result exceeds size limit.";
/// The real server's failure for an activity failure over the blob limit.
pub(crate) const FAILURE_TOO_LARGE: &str = "Failure exceeds size limit.";
/// Who terminates a run past a limit, as on the real server.
pub(crate) const HISTORY_SERVICE: &str = "history-service";

impl Limits {
    /// Sets the limit named by a dynamic config key; `Ok(false)` when the key is not a
    /// limit (the caller decides what to do with it).
    pub fn set(&mut self, key: &str, value: usize) -> bool {
        let target = match key {
            "limit.blobSize.error" => &mut self.blob_size_error,
            "limit.blobSize.warn" => &mut self.blob_size_warn,
            "limit.memoSize.error" => &mut self.memo_size_error,
            "limit.memoSize.warn" => &mut self.memo_size_warn,
            "limit.historyCount.error" => &mut self.history_count_error,
            "limit.historySize.error" => &mut self.history_size_error,
            "limit.numPendingActivities.error" => &mut self.pending_activities,
            "limit.numPendingChildExecutions.error" => &mut self.pending_child_workflows,
            "limit.numPendingSignals.error" => &mut self.pending_signals,
            "limit.numPendingCancelRequests.error" => &mut self.pending_cancel_requests,
            "history.maximumSignalsPerExecution" => &mut self.signals_per_execution,
            _ => return false,
        };
        *target = value;
        true
    }

    /// Whether a blob of `size` bytes is refused: over the warn and the error limit.
    pub(crate) fn blob_too_large(&self, size: usize) -> bool {
        over(size, self.blob_size_warn, self.blob_size_error)
    }

    /// Whether a memo of `size` bytes is refused.
    pub(crate) fn memo_too_large(&self, size: usize) -> bool {
        over(size, self.memo_size_warn, self.memo_size_error)
    }

    /// Refuses a request payload over the blob limit, with the real server's status.
    pub(crate) fn check_blob(&self, payloads: Option<&Payloads>) -> Result<()> {
        if self.blob_too_large(payloads.map_or(0, Message::encoded_len)) {
            return Err(EngineError::invalid(BLOB_TOO_LARGE));
        }
        Ok(())
    }

    /// Refuses a memo over the memo limit.
    pub(crate) fn check_memo(&self, memo: Option<&Memo>) -> Result<()> {
        if self.memo_too_large(memo.map_or(0, Message::encoded_len)) {
            return Err(EngineError::invalid(MEMO_TOO_LARGE));
        }
        Ok(())
    }

    /// Refuses a start whose input or memo is too large.
    pub(crate) fn check_new_run(&self, run: &NewRun) -> Result<()> {
        self.check_blob(run.input.as_ref())?;
        self.check_memo(run.memo.as_ref())
    }

    /// A failure from the server itself: what an oversized activity result or failure is
    /// replaced with (non-retryable), or why a workflow task failed.
    pub(crate) fn server_failure(
        message: &str,
        cause: Option<Failure>,
        non_retryable: bool,
    ) -> Failure {
        use temporalio_protos::temporal::api::failure::v1::{
            ServerFailureInfo, failure::FailureInfo,
        };
        Failure {
            message: message.to_owned(),
            source: "Server".to_owned(),
            cause: cause.map(Box::new),
            failure_info: Some(FailureInfo::ServerFailureInfo(ServerFailureInfo {
                non_retryable,
            })),
            ..Default::default()
        }
    }
}

/// A failure cut down to about `max` bytes, as the real server keeps an oversized one:
/// message, source and stack trace (shortened), without details or causes.
pub(crate) fn truncate(failure: Failure, max: usize) -> Failure {
    fn cut(text: &str, budget: &mut usize) -> String {
        let mut end = text.len().min(*budget);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        *budget -= end;
        text[..end].to_owned()
    }
    let mut budget = max;
    let message = cut(&failure.message, &mut budget);
    let source = cut(&failure.source, &mut budget);
    let stack_trace = cut(&failure.stack_trace, &mut budget);
    Failure {
        message,
        source,
        stack_trace,
        ..Default::default()
    }
}

fn over(size: usize, warn: usize, error: usize) -> bool {
    if size > warn {
        tracing::warn!(size, warn, "blob data size exceeds the warning limit");
        size > error
    } else {
        false
    }
}

/// A limit a workflow task's commands break, in command order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Breach {
    pub(crate) cause: WorkflowTaskFailedCause,
    /// The real server's message: the cause's short name, then what broke.
    pub(crate) message: String,
    /// Whether the run is terminated too (an oversized payload), not only the task failed.
    pub(crate) terminates: bool,
}

impl Breach {
    pub(crate) fn new(cause: WorkflowTaskFailedCause, what: &str, terminates: bool) -> Self {
        Self {
            cause,
            // The real server writes the cause as its Go name: `PendingActivitiesLimitExceeded`.
            message: format!("{cause:?}: {what}"),
            terminates,
        }
    }

    /// The pending-work limit `limit` of `resource` reached with `pending` in flight.
    pub(crate) fn pending(
        cause: WorkflowTaskFailedCause,
        resource: &str,
        pending: usize,
        limit: usize,
    ) -> Self {
        let what = format!(
            "the number of {resource}, {pending}, has reached the per-workflow limit of {limit}"
        );
        Self::new(cause, &what, false)
    }
}

impl Execution {
    /// The encoded size of the history so far, counted once per event.
    pub(crate) fn history_size_bytes(&mut self) -> usize {
        let (counted, bytes) = self.history_size;
        let added: usize = self
            .events
            .get(counted..)
            .unwrap_or_default()
            .iter()
            .map(prost::Message::encoded_len)
            .sum();
        self.history_size = (self.events.len(), bytes + added);
        self.history_size.1
    }

    /// The real server's reason for terminating this run past a history limit, if any.
    fn history_breach(&mut self, limits: &Limits) -> Option<&'static str> {
        if !self.is_open() {
            return None;
        }
        if self.history_size_bytes() > limits.history_size_error {
            return Some("Workflow history size exceeds limit.");
        }
        let count = self.events.len() + self.buffered.len();
        (count > limits.history_count_error).then_some("Workflow history count exceeds limit.")
    }
}

impl Registry {
    /// Terminates every run this operation touched whose history is past an error limit,
    /// as the real server does. Returns whether any was.
    pub(crate) fn enforce_history_limits(&mut self, now_ms: i64, fx: &mut Effects) -> bool {
        let limits = self.limits;
        let breached: Vec<(String, &'static str)> = self
            .touched
            .iter()
            .filter_map(|run_id| {
                let exec = self.runs.get_mut(run_id)?;
                let reason = exec.history_breach(&limits)?;
                Some((run_id.clone(), reason))
            })
            .collect();
        for (run_id, reason) in &breached {
            tracing::warn!(run_id, reason, "terminating a run past a history limit");
            if let Err(e) = self.terminate(run_id, reason, None, HISTORY_SERVICE, now_ms, fx) {
                tracing::error!(run_id, "could not terminate a run past a limit: {e}");
            }
        }
        !breached.is_empty()
    }
}

/// The history length and size at which a workflow task tells the worker to continue as
/// new: the dev server's dynamic config `limit.historyCount.suggestContinueAsNew` and
/// `limit.historySize.suggestContinueAsNew`, with the real server's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SuggestContinueAsNew {
    pub(crate) events: i64,
    pub(crate) bytes: i64,
}

impl Default for SuggestContinueAsNew {
    fn default() -> Self {
        Self {
            events: 4 * 1024,
            bytes: 4 * 1024 * 1024,
        }
    }
}

impl SuggestContinueAsNew {
    /// Why a run with `events` events of `bytes` bytes so far should continue as new.
    pub(in crate::history) fn reasons(self, events: i64, bytes: i64) -> Vec<i32> {
        let mut reasons = Vec::new();
        if bytes >= self.bytes {
            reasons.push(SuggestContinueAsNewReason::HistorySizeTooLarge as i32);
        }
        if events >= self.events {
            reasons.push(SuggestContinueAsNewReason::TooManyHistoryEvents as i32);
        }
        reasons
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_is_refused_only_over_both_limits() {
        let mut limits = Limits::default();
        assert!(!limits.blob_too_large(2 * 1024 * 1024));
        assert!(limits.blob_too_large(2 * 1024 * 1024 + 1));
        // The real server checks the error limit only past the warn limit.
        assert!(limits.set("limit.blobSize.error", 10));
        assert!(!limits.blob_too_large(100));
        assert!(limits.set("limit.blobSize.warn", 10));
        assert!(limits.blob_too_large(100));
        assert!(!limits.set("limit.unknown", 1));
    }

    #[test]
    fn a_pending_breach_names_the_cause_and_the_limit() {
        let breach = Breach::pending(
            WorkflowTaskFailedCause::PendingActivitiesLimitExceeded,
            "pending activities",
            2,
            2,
        );
        assert_eq!(
            breach.message,
            "PendingActivitiesLimitExceeded: the number of pending activities, 2, has reached the per-workflow limit of 2"
        );
        assert!(!breach.terminates);
    }

    #[test]
    fn continue_as_new_is_suggested_at_either_limit() {
        let limits = SuggestContinueAsNew {
            events: 10,
            bytes: 1000,
        };
        assert!(limits.reasons(9, 999).is_empty());
        assert_eq!(
            limits.reasons(10, 0),
            [SuggestContinueAsNewReason::TooManyHistoryEvents as i32]
        );
        assert_eq!(
            limits.reasons(0, 1000),
            [SuggestContinueAsNewReason::HistorySizeTooLarge as i32]
        );
        assert_eq!(limits.reasons(10, 1000).len(), 2);
    }
}
