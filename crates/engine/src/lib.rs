//! The embedded engine: a Temporal-compatible `WorkflowService` gRPC server, in Rust, on
//! SQLite. The official Temporal SDKs and CLI talk to it unchanged; it is what lets the
//! Workflow Library's demo mode run engine, worker, client and API in one process. For
//! anything beyond one machine, point the same code at a real Temporal cluster instead.
//!
//! Most code wants the `workflow` crate, which starts this engine for demo mode; use this
//! crate directly to embed or run the engine yourself (the `workflow-engine` binary does).
//!
//! ```no_run
//! use workflow_engine::{Engine, EngineOptions};
//!
//! # async fn demo() -> Result<(), workflow_engine::EngineError> {
//! let options = EngineOptions::new("127.0.0.1:0".parse().expect("address"))
//!     .with_database("engine.db");
//! let engine = Engine::start(options).await?;
//! println!("connect a Temporal client to {}", engine.address());
//! engine.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! Requests flow `api` -> `runtime` -> `history` -> `store`, with `matching` beside them and
//! `visibility` and `schedule` used by them:
//!
//! - `api`: thin gRPC handlers, one module per RPC family (`api/mod.rs` is the table of
//!   every RPC), one error-to-status mapping. Handlers read runs only through
//!   `history/run/view.rs`. `api/in_process.rs` is the in-process transport: a client in
//!   the same process hands each RPC by name to the same handlers
//!   ([`EngineHandle::in_process`]), no socket; the TCP listener is optional
//!   ([`EngineOptions::without_listener`]).
//! - `runtime`: `EngineRuntime` runs each operation under one lock, settles the work it
//!   causes in other runs, commits it all at once, then executes its effects; drives
//!   durable timers on the one clock (wall time plus what time skipping skipped); runs
//!   queries (`runtime/queries.rs`); deletes closed runs past their namespace's retention
//!   (`runtime/retention.rs`).
//! - `history`: the `Registry` of runs, mutated synchronously; work for other runs goes to
//!   an outbox settled in the same operation; effects come out as data. Its rooms:
//!   - `run/`: the run record (`execution.rs`), its events, properties (memo and search
//!     attributes), task tokens, what is persisted, and the read-only views `api` uses;
//!   - `machines/`: one state machine per entity, each with its states, transitions and
//!     unit tests: `workflow_task.rs`, `activity/` (timeouts, pause, options, the worker's
//!     side), `timer.rs`, `child.rs`, `external.rs`, `update.rs`, `query.rs`, `sticky.rs`,
//!     `eager.rs`, `nexus/`, `standalone/` (standalone activity executions: hidden runs
//!     around one activity; `view.rs` what describe and list show);
//!   - `completion/`: `RespondWorkflowTaskCompleted` in phases: `commands.rs` (the entry
//!     point), `validate.rs`, `command_limits.rs`, `apply.rs`;
//!   - `lifecycle/`: `start.rs`, `update_with_start.rs`, `chain.rs` (retry or cron run
//!     after a close), `retry.rs`, `cron.rs`, `reset.rs`, `control.rs` (signal, cancel,
//!     terminate), `delete.rs` (deleting runs and namespaces), `versioning.rs` and
//!     `versioning_override.rs`;
//!   - `rules/`: `limits.rs` (the real server's limits), `search_attributes.rs`,
//!     `namespace.rs`;
//!   - `residency/`: which runs stay in memory (`mod.rs`), `recovery.rs` after a restart,
//!     `pending.rs` (work that holds a time-skipping clock), `outbox.rs` (cross-run work);
//!   - `effects.rs` (what a transition asks of the outside world), `settings.rs`
//!     (server-wide settings of task queue configs and batch jobs, written with the batch
//!     that changed them) and `testing.rs`.
//! - `matching`: task queues (normal and sticky) and long polls; `matching/task.rs` is the
//!   task a queue holds, and `matching/deployments/` (worker deployment versions and
//!   routing) resolves which pollers a task is for.
//! - `visibility`: the list/count query language: `lexer.rs`, `parser.rs`, `eval.rs` (over
//!   a run in memory) and `lower.rs` (to a condition a store evaluates in SQL).
//! - `schedule`: schedules' specs (which times they match, in their time zone), their
//!   durable state machine, and `schedule/runs.rs`, which starts, cancels and terminates
//!   the workflows they decide on.
//! - `nexus`: the server-wide part of Nexus: the endpoint registry and the completion
//!   callback token; the per-run operation machine is `history/machines/nexus/`.
//! - Around them: `engine` (`Engine`, its options and start-up), `error` (`EngineError` and
//!   its statuses), `security` (TLS, mutual TLS, API keys), `time` (timestamps and
//!   durations), `generated` (the server traits built from the SDK's protos) and `fuzzing`
//!   (entry points for the fuzzer, with the `fuzzing` feature).
//! - `store`: persistence behind a trait: in memory, SQLite (`store/sqlite.rs`, one
//!   writer thread) or PostgreSQL (`store/postgres/`), with `store/visibility.rs` the
//!   conditions a store may evaluate itself.
//!
//! From an RPC to its state machine (paths under `history/` unless named):
//!
//! | RPCs | handler | state machine |
//! |---|---|---|
//! | start, signal-with-start | `api/workflows.rs` | `lifecycle/start.rs` |
//! | update-with-start (`ExecuteMultiOperation`) | `api/multi.rs` | `lifecycle/update_with_start.rs` |
//! | signal, request cancel, terminate | `api/workflows.rs` | `lifecycle/control.rs` |
//! | reset | `api/workflows.rs` | `lifecycle/reset.rs` |
//! | delete workflow, update and delete namespace | `api/retention.rs` | `lifecycle/delete.rs`, `rules/namespace.rs`; the retention sweep in `runtime/retention.rs` |
//! | poll / complete / fail workflow task | `api/tasks.rs` | `machines/workflow_task.rs`, `completion/`, `machines/eager.rs` (then `activity`, `timer`, `child`, `external`, `update` per command) |
//! | poll / complete / fail / cancel activity, heartbeat | `api/tasks.rs` | `machines/activity/worker.rs`, `machines/activity/timeouts.rs` |
//! | pause, unpause, reset, update options of an activity | `api/activity_control.rs` | `machines/activity/pause.rs`, `machines/activity/options.rs` |
//! | query workflow, respond query task | `api/queries.rs`, `api/tasks.rs` | `runtime/queries.rs`, `machines/query.rs` |
//! | update workflow, poll update | `api/updates.rs` | `machines/update.rs` |
//! | reset sticky queue, shutdown worker | `api/tasks.rs` | `machines/sticky.rs` |
//! | get history, describe | `api/history.rs` | `run/view.rs` |
//! | list, count | `api/visibility.rs` | `visibility/`, `run/view.rs`, `store` |
//! | namespaces, search attributes | `api/namespaces.rs`, `api/operator.rs` | `rules/namespace.rs`, `rules/search_attributes.rs` |
//! | worker deployments (describe, list, set current / ramping, delete; create, version metadata, manager, compute config) | `api/deployments.rs` | `matching/deployments/registry.rs`, `matching/deployments/routing.rs`, `matching/deployments/manage.rs` |
//! | update workflow execution options (versioning override) | `api/workflows.rs` | `lifecycle/versioning_override.rs`, `lifecycle/versioning.rs` |
//! | test service (time skipping) | `api/test_service.rs` | `runtime/clock.rs` |
//! | standalone activities (start, describe, poll, list, count, request cancel, terminate, delete; pause, unpause, reset, update options in `api/activity_control.rs`) | `api/standalone.rs` | `machines/standalone/` (then `machines/activity/` for the attempt) |
//! | Nexus endpoints (create, get, list, update, delete), poll / complete / fail Nexus task | `api/nexus.rs` | `nexus/endpoints.rs`, `machines/nexus/` (the operation machine, its handler side, completion callbacks) |
//! | cluster info, all search attributes, history newest first, list open / closed, scan, count schedules | `api/reads.rs` | `run/view.rs` |
//! | describe task queue, list partitions, update task queue config | `api/task_queues.rs` | `runtime/task_queues.rs` |
//! | batch operations (start, describe, list, stop) | `api/batch/` | those of the operation; jobs kept in `history/settings.rs` |
//! | worker heartbeats, list / count / describe workers | `api/workers.rs` | `runtime/workers.rs` |
//! | RPCs refused as the dev server refuses them | `api/rpcs.rs` (the table of every RPC, `docs/rpcs.md`) | none |
//! | schedules (create, describe, update, patch, list, delete, matching times) | `api/schedules.rs` | `schedule/runs.rs`, `schedule/state.rs`, `schedule/spec.rs`, `visibility/schedules.rs` (list's query) |
//!
//! Durable timers fire through `runtime/timers.rs` into the machine's `on_<timer>` handler
//! (`on_activity_timeout`, `on_workflow_task_timeout`, `on_user_timer`, ...).
//!
//! # Differences from the real Temporal server
//!
//! The real server is the oracle (the library's behavioural suite runs against both). The
//! known differences, none of which the official SDKs depend on for correctness, are the
//! table in `docs/differences.md` (feature, real server, engine, what a user notices).

mod api;
#[cfg(test)]
mod docs_tests;
mod engine;
mod error;
/// Fuzzing entry points: arbitrary bytes as request sequences against an in-memory engine.
/// Only with the `fuzzing` feature (the fuzz target and the seeds test turn it on).
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod generated;
mod history;
mod matching;
mod nexus;
mod runtime;
mod schedule;
mod security;
mod store;
mod time;
mod visibility;

pub use api::{InProcess, InProcessReply};
pub use engine::{
    DEFAULT_NAMESPACE, Engine, EngineHandle, EngineOptions, is_postgres_url, redact_database_url,
    serve,
};
pub use error::EngineError;
pub use history::Limits;
pub use runtime::TimeSkipping;
pub use security::{EngineTls, SecurityError};
