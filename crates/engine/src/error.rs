//! The engine's error type. Handlers map it to a gRPC status in one place
//! (`api::status`), so every variant says what the caller should do.

/// Everything that can go wrong inside the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The request is malformed or names something unsupported; fix the request.
    #[error("{0}")]
    InvalidArgument(String),
    /// The namespace, workflow, task or query does not exist (any more); do not retry.
    #[error("{0}")]
    NotFound(String),
    /// The request does not fit the state it names (an activity already paused by
    /// another request, a stale deployment conflict token); look at that state first.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A workflow with this id is already running; use its run id or pick another id.
    #[error("Workflow execution is already running. WorkflowId: {workflow_id}, RunId: {run_id}.")]
    AlreadyStarted {
        /// The workflow id that is taken.
        workflow_id: String,
        /// The running execution's run id.
        run_id: String,
        /// The request id that started the running execution.
        start_request_id: String,
    },
    /// A standalone activity with this id is running (or the id reuse policy refuses a
    /// closed one); use its run id or pick another id.
    #[error("activity execution already started")]
    ActivityAlreadyStarted {
        /// The execution's run id.
        run_id: String,
        /// The request id that started it.
        start_request_id: String,
    },
    /// The namespace is already registered; use it.
    #[error("Namespace already exists: {0}")]
    NamespaceExists(String),
    /// Something with this name exists already (a Nexus endpoint); use it or pick another
    /// name.
    #[error("{0}")]
    AlreadyExists(String),
    /// A schedule with this id exists in the namespace; pick another id or delete it.
    #[error("schedule with this ID is already registered: {0}")]
    ScheduleExists(String),
    /// The worker's query handler failed; the message says why.
    #[error("{0}")]
    QueryFailed(String),
    /// No worker answered in time; retry later or check that a worker polls the queue.
    #[error("{0}")]
    Timeout(String),
    /// A multi-operation (update-with-start) could not be executed: one operation failed and
    /// the others were aborted; each operation's outcome says which and why.
    #[error("{message}")]
    MultiOperation {
        /// The real server's summary ("Update-with-Start could not be executed.").
        message: String,
        /// One outcome per operation of the request, in request order.
        operations: Vec<OperationOutcome>,
    },
    /// Persistence failed; the request was not acknowledged and may be retried.
    #[error("storage: {0}")]
    Storage(String),
    /// The database cannot be reached right now; retry later. A change that was asked for
    /// may still be written once the database is back.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The listener cannot be secured as asked (a TLS or API key file): the message names
    /// the file and the fix.
    #[error(transparent)]
    Security(#[from] crate::security::SecurityError),
    /// The engine's disk is full: the change is kept and written once there is room. Free
    /// space on the database's disk; retrying the request is safe.
    #[error("{0}")]
    DiskFull(String),
    /// Binding or serving the socket failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The engine's task panicked or was cancelled before it finished.
    #[error("engine task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The gRPC transport failed while serving.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// What became of one operation of a refused multi-operation request.
#[derive(Debug)]
#[non_exhaustive]
pub enum OperationOutcome {
    /// It succeeded (the start, when only the update afterwards failed).
    Succeeded,
    /// It was not run because another operation failed.
    Aborted,
    /// It failed for this reason.
    Failed(Box<EngineError>),
}

impl EngineError {
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    pub(crate) fn invalid(what: impl Into<String>) -> Self {
        Self::InvalidArgument(what.into())
    }

    /// A store failure: `Unavailable` while the database is out of reach (the caller may
    /// retry), `Storage` otherwise.
    pub(crate) fn store(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(_) => Self::Unavailable(e.to_string()),
            crate::store::StoreError::DiskFull { .. } => Self::DiskFull(e.to_string()),
            other => Self::Storage(other.to_string()),
        }
    }
}

impl From<crate::matching::deployments::DeploymentsError> for EngineError {
    fn from(e: crate::matching::deployments::DeploymentsError) -> Self {
        use crate::matching::deployments::DeploymentsError as D;
        match e {
            D::NotFound(m) => Self::NotFound(m),
            D::Conflict(m) => Self::FailedPrecondition(m),
            D::Invalid(m) => Self::InvalidArgument(m),
            D::Exists(m) => Self::AlreadyExists(m),
        }
    }
}

impl From<crate::nexus::EndpointError> for EngineError {
    fn from(e: crate::nexus::EndpointError) -> Self {
        use crate::nexus::EndpointError as E;
        match e {
            E::Invalid(m) => Self::InvalidArgument(m),
            E::NotFound(m) => Self::NotFound(m),
            E::Exists(m) => Self::AlreadyExists(m),
            E::Precondition(m) => Self::FailedPrecondition(m),
        }
    }
}

/// Shorthand for engine results.
pub(crate) type Result<T, E = EngineError> = std::result::Result<T, E>;
