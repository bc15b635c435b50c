//! Server traits generated from the SDK's own service descriptors (see `build.rs`).
#![allow(missing_docs, unreachable_pub, clippy::all)]

/// `temporal.api.workflowservice.v1`: the `WorkflowService` server trait.
pub(crate) mod workflowservice {
    tonic::include_proto!("temporal.api.workflowservice.v1");
}

/// `temporal.api.operatorservice.v1`: the `OperatorService` server trait.
pub(crate) mod operatorservice {
    tonic::include_proto!("temporal.api.operatorservice.v1");
}

/// `temporal.api.testservice.v1`: the `TestService` server trait (time skipping).
pub(crate) mod testservice {
    tonic::include_proto!("temporal.api.testservice.v1");
}
