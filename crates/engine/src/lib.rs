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
//! Requests flow `api` -> `runtime` -> `history` -> `store`, with `matching` beside them:
//!
//! - `api`: thin gRPC handlers, one module per RPC family (`api/mod.rs` is the table of
//!   every RPC), one error-to-status mapping. Handlers read runs only through
//!   `history/view.rs`. `api/in_process.rs` is the in-process transport: a client in the
//!   same process hands each RPC by name to the same handlers ([`EngineHandle::in_process`]),
//!   no socket; the TCP listener is optional ([`EngineOptions::without_listener`]).
//! - `runtime`: `EngineRuntime` runs each operation under one lock, settles the work it
//!   causes in other runs, commits it all at once, then executes its effects; drives
//!   durable timers on the one clock (wall time plus what time skipping skipped); runs
//!   queries (`runtime/queries.rs`).
//! - `history`: per-run state machines, one file each with its states, transitions and unit
//!   tests, mutated synchronously; work for other runs goes to an outbox settled in the same
//!   operation; effects come out as data.
//! - `matching`: task queues (normal and sticky) and long polls, with `deployments`
//!   (worker deployment versions and routing) resolving which pollers a task is for.
//! - `schedule`: schedules' specs (which times they match, in their time zone) and their
//!   durable state machine; `history/schedules.rs` starts the workflows they decide on.
//! - `store`: persistence behind a trait: in memory, or SQLite with one writer thread.
//!
//! From an RPC to its state machine:
//!
//! | RPCs | handler | state machine |
//! |---|---|---|
//! | start, signal-with-start | `api/workflows.rs` | `history/start.rs` |
//! | signal, request cancel, terminate | `api/workflows.rs` | `history/control.rs` |
//! | reset | `api/workflows.rs` | `history/reset.rs` |
//! | poll / complete / fail workflow task | `api/tasks.rs` | `history/workflow_task.rs`, `history/commands.rs`, `history/eager.rs` (then `activity`, `timer`, `child`, `external`, `update` per command) |
//! | poll / complete / fail / cancel activity, heartbeat | `api/tasks.rs` | `history/activity.rs`, `history/activity/timeouts.rs` |
//! | query workflow, respond query task | `api/queries.rs`, `api/tasks.rs` | `runtime/queries.rs`, `history/query.rs` |
//! | update workflow, poll update | `api/updates.rs` | `history/update.rs` |
//! | reset sticky queue, shutdown worker | `api/tasks.rs` | `history/sticky.rs` |
//! | get history, describe | `api/history.rs` | `history/view.rs` |
//! | list, count | `api/visibility/` | `history/view.rs`, `store` |
//! | namespaces | `api/namespaces.rs` | `history/namespace.rs` |
//! | worker deployments (describe, list, set current / ramping, delete) | `api/deployments.rs` | `deployments/registry.rs`, `deployments/routing.rs` |
//! | update workflow execution options (versioning override) | `api/workflows.rs` | `history/options.rs`, `history/versioning.rs` |
//! | test service (time skipping) | `api/test_service.rs` | `runtime/clock.rs` |
//! | schedules (create, describe, update, patch, list, delete, matching times) | `api/schedules.rs` | `history/schedules.rs`, `schedule/state.rs`, `schedule/spec.rs` |
//!
//! Durable timers fire through `runtime/timers.rs` into the machine's `on_<timer>` handler
//! (`on_activity_timeout`, `on_workflow_task_timeout`, `on_user_timer`, ...).
//!
//! # Differences from the real Temporal server
//!
//! The real server is the oracle (the library's behavioural suite runs against both). Known
//! differences, none of which the official SDKs depend on for correctness:
//!
//! - Every failed workflow task attempt is written to history; tasks that only carry an
//!   update or a query write task events (the real server's speculative tasks leave none).
//! - Update rejections are kept in memory only (the last 64 per run); an update waits at most
//!   one long poll (60 s); admitted updates are not carried over continue-as-new.
//! - Update-with-start (`ExecuteMultiOperation`): the start response carries no link; an
//!   admitted update aborted by its workflow closing is reported as the update's failure
//!   (`NOT_FOUND`) instead of the real server's one internal retry and then `ABORTED`.
//! - Schedules are kept as records of their own, not as workflows: no
//!   `temporal-sys-scheduler` workflow shows in lists. `ListSchedules` ignores its `query`
//!   and lists a namespace's schedules by id, at once (the real server's list follows
//!   visibility, a moment later); the schedule's own search attributes are returned as
//!   given (no `TemporalSchedulePaused`). A time is processed when it comes due (the real
//!   server's scheduler wakes a little later); `CANCEL_OTHER` asks for cancellation and
//!   starts the buffered action once the workflow closes, `TERMINATE_OTHER` terminates and
//!   starts at once. Jitter is a deterministic share of the jitter window per nominal time.
//! - A child starts inside the parent's completion, so `ChildWorkflowExecutionStarted` may
//!   follow the next `WorkflowTaskScheduled`; a child's retry policy is applied, its cron
//!   schedule is not.
//! - Query tasks always use the normal queue; a sticky timeout moves the task without a
//!   timeout event; stickiness is dropped on restart.
//! - Workflow retry policies and cron schedules are applied as on the real server (a retried
//!   or cron run's `WorkflowTaskScheduled` is written at its start, like a start delay's,
//!   see below). Cron schedules take robfig's five fields and descriptors in UTC (parsed by
//!   `croner`, which also takes its own extensions such as `L` and `#`); a `CRON_TZ=` or
//!   `TZ=` prefix is refused. Priorities are recorded
//!   (started and scheduled events, describe, activity tasks) but do not order dispatch.
//!   Eager workflow start and eager activities are always on, as in the dev server (the
//!   dynamic config `system.enableEagerWorkflowStart` and
//!   `system.enableActivityEagerExecution` are not read); eager start is not offered on
//!   update-with-start. A start delay
//!   (`workflow_start_delay`, also on signal-with-start) holds the first workflow task, but
//!   its `WorkflowTaskScheduled` is written at the start (the real server writes it when the
//!   delay ends); signals meanwhile wait with it, as on the real server.
//! - The visibility query language covers comparisons, BETWEEN, `[NOT] IN`,
//!   `[NOT] STARTS_WITH`, `IS [NOT] NULL`, AND/OR and parentheses over the system attributes
//!   a run has (WorkflowId, RunId, WorkflowType, TaskQueue, ExecutionStatus, StartTime,
//!   ExecutionTime, CloseTime, ExecutionDuration, HistoryLength, Parent/Root ids) and every
//!   custom or settable system search attribute; it also takes `ORDER BY StartTime` (which
//!   the real server's SQLite store rejects). Default order is StartTime descending.
//!   Datetime values compare at millisecond precision; Text matches whole words (the real
//!   server uses SQLite's full-text index). Search attribute values have no size limit.
//! - Worker deployments (versions, routing config) are kept in memory only: after a restart
//!   they come back as pollers poll again, with no current version until one is set again
//!   (runs keep their own pinned version, which is persisted). A version's status is
//!   `DRAINING` once it leaves current or ramping and never becomes `DRAINED` (no drainage
//!   check); describe shows no drainage info, task queue stats or version metadata, and
//!   deleting a version does not check for pollers or pinned runs. Ramping is deterministic
//!   by workflow id, with FNV-1a instead of the real server's farmhash, so one id may fall on
//!   the other side of a ramp; ramping to "unversioned" is not offered. Routing changes
//!   apply at once (`routing_config_update_state` is always `COMPLETED`). Workflow tasks do
//!   not report `target_worker_deployment_version_changed`; continue-as-new's initial
//!   behavior `AUTO_UPGRADE` is honoured, the inherited auto-upgrade info is not recorded.
//!   `UpdateWorkflowExecutionOptions` takes only `versioning_override`. An eager start's
//!   first task goes to the starter whatever its version; a reset run starts unversioned.
//! - `ResetWorkflowExecution` refuses a point after child workflows or external signals or
//!   cancellations were initiated (their state is not rebuilt from history); updates
//!   accepted before the point are dropped, and only signals are reapplied (not updates);
//!   `request_id` does not de-duplicate a repeated reset; the reset points in describe are
//!   the run's first completed workflow task only (no build ids are recorded), and a reset
//!   run does not inherit its base run's points.
//! - The real server's limits are enforced (see [`Limits`]), with these differences: a run
//!   pushed past the history length or size limit keeps the change that pushed it before it
//!   is terminated (the real server drops that change first), and its size counts the
//!   encoded events; signals and cancel requests to other workflows are delivered within
//!   the completion that sends them, so only those of one completion count as pending;
//!   an update's arguments are not checked (the real server bounds updates in flight,
//!   `history.maxInFlightUpdates` and `history.maxInFlightUpdatePayloads`, which this engine
//!   does not); heartbeat details and search attributes have no size limit; a request over
//!   the gRPC limit is refused `OUT_OF_RANGE` (tonic's status), not `RESOURCE_EXHAUSTED`.
//! - Activities can be paused, unpaused, reset and have their options updated from outside
//!   (`PauseActivity`, `UnpauseActivity`, `ResetActivity`, `UpdateActivityOptions`;
//!   heartbeats then answer `activity_paused` or `activity_reset`). Updated priorities are
//!   recorded but, as all priorities here, do not order dispatch; a reset asked to clear the
//!   heartbeat details of a running attempt leaves them; a reset or an unpause that resets
//!   the attempts of a running attempt leaves its timeout timers keyed to the old attempt
//!   (the real server re-arms them). Standalone activities do not exist.
//! - Of the dynamic config (`--dynamic-config-value`), only the limits' keys (see
//!   [`Limits::set`]) and `limit.historyCount.suggestContinueAsNew` and
//!   `limit.historySize.suggestContinueAsNew` are honoured; sizes count the encoded events
//!   (the real server counts its stored blobs, a little more). Other keys are accepted and
//!   ignored.
//! - Security is one listener-wide gate: TLS, mutual TLS (any certificate the client CA
//!   signed) and API keys from a file (any listed key may do anything); the real server's
//!   authorizer and claim mapper (per-namespace roles, JWTs) are not offered, and the keys
//!   file is read once at start. A full disk under SQLite is answered `RESOURCE_EXHAUSTED`
//!   with the change kept in memory and written once there is room.
//! - No retention: closed workflows stay in the database until it is deleted (they leave
//!   memory once durable, beyond a small cache; see `EngineOptions::closed_runs_in_memory`).
//! - It also serves the Java test server's `TestService` (time skipping, see
//!   [`TimeSkipping`]), which the real server does not. Compared with the Java test server:
//!   one clock for the whole server (no per-workflow `TimeSkippingConfig` yet); the clock is
//!   persisted with a database file and survives a restart; updates, list and count work
//!   under time skipping; `SleepUntil` a time already passed returns at once, as the proto
//!   says; an unbalanced unlock is `UNKNOWN`, as the Java server's unhandled exception gives.

mod api;
mod deployments;
mod engine;
mod error;
/// Fuzzing entry points: arbitrary bytes as request sequences against an in-memory engine.
/// Only with the `fuzzing` feature (the fuzz target and the seeds test turn it on).
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod generated;
mod history;
mod matching;
mod runtime;
mod schedule;
mod security;
mod store;
mod time;

pub use api::{InProcess, InProcessReply};
pub use engine::{
    DEFAULT_NAMESPACE, Engine, EngineHandle, EngineOptions, is_postgres_url, redact_database_url,
    serve,
};
pub use error::EngineError;
pub use history::Limits;
pub use runtime::TimeSkipping;
pub use security::{EngineTls, SecurityError};
