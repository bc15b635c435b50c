//! A run's life from outside its machines: `start` (new runs, id conflict and reuse,
//! signal-with-start, continue-as-new), `update_with_start`, `chain` (what follows a
//! closing run: a retry or the next cron run), `retry` (retry policies), `cron` (cron
//! schedules), `reset` (`ResetWorkflowExecution`), `control` (signal, cancel, terminate, the
//! run timeout), `delete` (deleting runs and namespaces: `DeleteWorkflowExecution`,
//! `DeleteNamespace`, retention), `outbox` (work that crosses runs: a child started, another
//! workflow signalled or cancelled, a parent told of a close, settled in the same
//! operation), `versioning` (a run's worker versioning and route) and
//! `versioning_override` (`UpdateWorkflowExecutionOptions`).

pub(in crate::history) mod chain;
pub(in crate::history) mod control;
pub(in crate::history) mod cron;
pub(in crate::history) mod delete;
pub(in crate::history) mod outbox;
pub(in crate::history) mod reset;
pub(in crate::history) mod retry;
pub(in crate::history) mod start;
pub(crate) mod update_with_start;
pub(crate) mod versioning;
pub(in crate::history) mod versioning_override;
