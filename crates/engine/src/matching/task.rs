//! What a task queue holds: a [`Task`] handed to a poller, on a queue of one [`QueueKind`].
//! The history layer creates tasks (as effects) and matching hands them out, so the type
//! lives here, below both.

/// Which kind of task queue a task goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum QueueKind {
    /// Workflow tasks and query tasks.
    Workflow,
    /// Activity tasks.
    Activity,
    /// Nexus tasks: start and cancel requests for operation handlers.
    Nexus,
}

/// A task handed to a poller. The poll handler re-validates it against the execution, so a
/// stale task (the workflow moved on) is skipped, never wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Task {
    /// A scheduled workflow task.
    Workflow {
        run_id: String,
        scheduled_event_id: i64,
    },
    /// A query waiting in the runtime's query table.
    Query { query_id: String },
    /// A scheduled activity attempt.
    Activity {
        run_id: String,
        scheduled_event_id: i64,
        attempt: i32,
    },
    /// A Nexus operation's start request (or, with `cancel`, its cancel request) of this
    /// attempt.
    Nexus {
        run_id: String,
        scheduled_event_id: i64,
        attempt: i32,
        cancel: bool,
    },
}
