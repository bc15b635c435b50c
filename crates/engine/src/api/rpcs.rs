//! The table of every RPC of `WorkflowService`, `OperatorService` and `TestService` with
//! what the engine does with it: serves it, refuses it as the dev server (Temporal Server
//! 1.32, `temporal server start-dev` with its default dynamic config) refuses it, or declines
//! it with a clear error where the engine has no such thing; none answers `UNIMPLEMENTED`
//! unless the dev server does. Refusals are built here from the table,
//! so what `docs/rpcs.md` says is what the handlers answer; the test beside this file checks
//! the table against the services' descriptors (an RPC added to the protos fails it), writes
//! the markdown, and calls every RPC on the engine and every refused one on the dev server.

use tonic::{Code, Status};

use crate::{error::Result, runtime::EngineRuntime};

/// What the engine does with one RPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Answered by the handler `api/mod.rs` names.
    Served,
    /// Refused with the dev server's code and message (`{namespace}` stands for the
    /// request's namespace), after the namespace is checked, as the dev server does.
    Refused {
        code: Code,
        message: &'static str,
        why: &'static str,
    },
    /// Refused with the engine's own code and message where the dev server serves it: the
    /// engine has no such thing (`why` says what).
    Declined {
        code: Code,
        message: &'static str,
        why: &'static str,
    },
}

use Offer::{Declined, Refused, Served};

const V01_OFF: &str =
    "Worker versioning v0.1 (Version Set-based, deprecated) is disabled on this namespace.";
const V01_WHY: &str =
    "deprecated worker versioning v0.1, off by default (`frontend.workerVersioningDataAPIs`)";
const V02_OFF: &str =
    "Worker versioning v0.2 (Rules-based, deprecated) is disabled on this namespace.";
const V02_WHY: &str =
    "deprecated worker versioning v0.2, off by default (`frontend.workerVersioningRuleAPIs`)";
const DEPLOYMENTS_GONE: &str =
    "Deployments are deprecated and no longer supported, use Worker Deployments instead";
const DEPLOYMENTS_WHY: &str = "the experimental deployments API, replaced by worker deployments";
const WORKER_CONFIG_WHY: &str = "worker commands are off in the dev server";
const PAUSE_WHY: &str = "workflow pause is off in the dev server (per namespace)";
const RULES_WHY: &str = "workflow rules are off in the dev server";
const STANDALONE_NEXUS: Offer = Refused {
    code: Code::Unimplemented,
    message: "Standalone Nexus operation is disabled",
    why: "standalone Nexus operations are off in the dev server",
};

/// Every RPC, in the services' proto order (the test checks it against the descriptors).
pub(crate) const RPCS: &[(&str, &str, Offer)] = &[
    ("WorkflowService", "RegisterNamespace", Served),
    ("WorkflowService", "DescribeNamespace", Served),
    ("WorkflowService", "ListNamespaces", Served),
    ("WorkflowService", "UpdateNamespace", Served),
    ("WorkflowService", "DeprecateNamespace", Served),
    ("WorkflowService", "StartWorkflowExecution", Served),
    ("WorkflowService", "ExecuteMultiOperation", Served),
    ("WorkflowService", "GetWorkflowExecutionHistory", Served),
    (
        "WorkflowService",
        "GetWorkflowExecutionHistoryReverse",
        Served,
    ),
    ("WorkflowService", "PollWorkflowTaskQueue", Served),
    ("WorkflowService", "RespondWorkflowTaskCompleted", Served),
    ("WorkflowService", "RespondWorkflowTaskFailed", Served),
    ("WorkflowService", "PollActivityTaskQueue", Served),
    ("WorkflowService", "RecordActivityTaskHeartbeat", Served),
    ("WorkflowService", "RecordActivityTaskHeartbeatById", Served),
    ("WorkflowService", "RespondActivityTaskCompleted", Served),
    (
        "WorkflowService",
        "RespondActivityTaskCompletedById",
        Served,
    ),
    ("WorkflowService", "RespondActivityTaskFailed", Served),
    ("WorkflowService", "RespondActivityTaskFailedById", Served),
    ("WorkflowService", "RespondActivityTaskCanceled", Served),
    ("WorkflowService", "RespondActivityTaskCanceledById", Served),
    ("WorkflowService", "RequestCancelWorkflowExecution", Served),
    ("WorkflowService", "SignalWorkflowExecution", Served),
    (
        "WorkflowService",
        "SignalWithStartWorkflowExecution",
        Served,
    ),
    ("WorkflowService", "ResetWorkflowExecution", Served),
    ("WorkflowService", "TerminateWorkflowExecution", Served),
    ("WorkflowService", "DeleteWorkflowExecution", Served),
    ("WorkflowService", "ListOpenWorkflowExecutions", Served),
    ("WorkflowService", "ListClosedWorkflowExecutions", Served),
    ("WorkflowService", "ListWorkflowExecutions", Served),
    (
        "WorkflowService",
        "ListArchivedWorkflowExecutions",
        Refused {
            code: Code::InvalidArgument,
            message: "Cluster is not configured for visibility archival.",
            why: "archival is off in the dev server and absent here",
        },
    ),
    ("WorkflowService", "ScanWorkflowExecutions", Served),
    ("WorkflowService", "CountWorkflowExecutions", Served),
    ("WorkflowService", "GetSearchAttributes", Served),
    ("WorkflowService", "RespondQueryTaskCompleted", Served),
    ("WorkflowService", "ResetStickyTaskQueue", Served),
    ("WorkflowService", "ShutdownWorker", Served),
    ("WorkflowService", "QueryWorkflow", Served),
    ("WorkflowService", "DescribeWorkflowExecution", Served),
    ("WorkflowService", "DescribeTaskQueue", Served),
    ("WorkflowService", "GetClusterInfo", Served),
    ("WorkflowService", "GetSystemInfo", Served),
    ("WorkflowService", "ListTaskQueuePartitions", Served),
    ("WorkflowService", "CreateSchedule", Served),
    ("WorkflowService", "DescribeSchedule", Served),
    ("WorkflowService", "UpdateSchedule", Served),
    ("WorkflowService", "PatchSchedule", Served),
    ("WorkflowService", "ListScheduleMatchingTimes", Served),
    ("WorkflowService", "DeleteSchedule", Served),
    ("WorkflowService", "ListSchedules", Served),
    ("WorkflowService", "CountSchedules", Served),
    (
        "WorkflowService",
        "UpdateWorkerBuildIdCompatibility",
        Refused {
            code: Code::PermissionDenied,
            message: V01_OFF,
            why: V01_WHY,
        },
    ),
    (
        "WorkflowService",
        "GetWorkerBuildIdCompatibility",
        Refused {
            code: Code::PermissionDenied,
            message: V01_OFF,
            why: V01_WHY,
        },
    ),
    (
        "WorkflowService",
        "UpdateWorkerVersioningRules",
        Refused {
            code: Code::PermissionDenied,
            message: V02_OFF,
            why: V02_WHY,
        },
    ),
    (
        "WorkflowService",
        "GetWorkerVersioningRules",
        Refused {
            code: Code::PermissionDenied,
            message: V02_OFF,
            why: V02_WHY,
        },
    ),
    (
        "WorkflowService",
        "GetWorkerTaskReachability",
        Refused {
            code: Code::PermissionDenied,
            message: V02_OFF,
            why: V02_WHY,
        },
    ),
    (
        "WorkflowService",
        "DescribeDeployment",
        Refused {
            code: Code::Unimplemented,
            message: DEPLOYMENTS_GONE,
            why: DEPLOYMENTS_WHY,
        },
    ),
    ("WorkflowService", "DescribeWorkerDeploymentVersion", Served),
    (
        "WorkflowService",
        "ListDeployments",
        Refused {
            code: Code::Unimplemented,
            message: DEPLOYMENTS_GONE,
            why: DEPLOYMENTS_WHY,
        },
    ),
    (
        "WorkflowService",
        "GetDeploymentReachability",
        Refused {
            code: Code::Unimplemented,
            message: DEPLOYMENTS_GONE,
            why: DEPLOYMENTS_WHY,
        },
    ),
    (
        "WorkflowService",
        "GetCurrentDeployment",
        Refused {
            code: Code::Unimplemented,
            message: DEPLOYMENTS_GONE,
            why: DEPLOYMENTS_WHY,
        },
    ),
    (
        "WorkflowService",
        "SetCurrentDeployment",
        Refused {
            code: Code::Unimplemented,
            message: DEPLOYMENTS_GONE,
            why: DEPLOYMENTS_WHY,
        },
    ),
    (
        "WorkflowService",
        "SetWorkerDeploymentCurrentVersion",
        Served,
    ),
    ("WorkflowService", "DescribeWorkerDeployment", Served),
    ("WorkflowService", "DeleteWorkerDeployment", Served),
    ("WorkflowService", "DeleteWorkerDeploymentVersion", Served),
    (
        "WorkflowService",
        "SetWorkerDeploymentRampingVersion",
        Served,
    ),
    ("WorkflowService", "ListWorkerDeployments", Served),
    ("WorkflowService", "CreateWorkerDeployment", Served),
    ("WorkflowService", "CreateWorkerDeploymentVersion", Served),
    (
        "WorkflowService",
        "UpdateWorkerDeploymentVersionComputeConfig",
        Served,
    ),
    (
        "WorkflowService",
        "ValidateWorkerDeploymentVersionComputeConfig",
        Served,
    ),
    (
        "WorkflowService",
        "UpdateWorkerDeploymentVersionMetadata",
        Served,
    ),
    ("WorkflowService", "SetWorkerDeploymentManager", Served),
    ("WorkflowService", "UpdateWorkflowExecution", Served),
    ("WorkflowService", "PollWorkflowExecutionUpdate", Served),
    ("WorkflowService", "StartBatchOperation", Served),
    ("WorkflowService", "StopBatchOperation", Served),
    ("WorkflowService", "DescribeBatchOperation", Served),
    ("WorkflowService", "ListBatchOperations", Served),
    ("WorkflowService", "PollNexusTaskQueue", Served),
    ("WorkflowService", "RespondNexusTaskCompleted", Served),
    ("WorkflowService", "RespondNexusTaskFailed", Served),
    ("WorkflowService", "UpdateActivityOptions", Served),
    ("WorkflowService", "UpdateWorkflowExecutionOptions", Served),
    ("WorkflowService", "PauseActivity", Served),
    ("WorkflowService", "UnpauseActivity", Served),
    ("WorkflowService", "ResetActivity", Served),
    (
        "WorkflowService",
        "CreateWorkflowRule",
        Refused {
            code: Code::Unimplemented,
            message: "method CreateWorkflowRule not supported",
            why: RULES_WHY,
        },
    ),
    (
        "WorkflowService",
        "DescribeWorkflowRule",
        Refused {
            code: Code::Unimplemented,
            message: "method DescribeWorkflowRule not supported",
            why: RULES_WHY,
        },
    ),
    (
        "WorkflowService",
        "DeleteWorkflowRule",
        Refused {
            code: Code::Unimplemented,
            message: "method DeleteWorkflowRule not supported",
            why: RULES_WHY,
        },
    ),
    (
        "WorkflowService",
        "ListWorkflowRules",
        Refused {
            code: Code::Unimplemented,
            message: "method ListWorkflowRules not supported",
            why: RULES_WHY,
        },
    ),
    (
        "WorkflowService",
        "TriggerWorkflowRule",
        Refused {
            code: Code::Unimplemented,
            message: "method TriggerWorkflowRule not supported",
            why: RULES_WHY,
        },
    ),
    ("WorkflowService", "RecordWorkerHeartbeat", Served),
    ("WorkflowService", "ListWorkers", Served),
    ("WorkflowService", "CountWorkers", Served),
    ("WorkflowService", "UpdateTaskQueueConfig", Served),
    (
        "WorkflowService",
        "FetchWorkerConfig",
        Refused {
            code: Code::Unimplemented,
            message: "FetchWorkerConfig command is not enabled.",
            why: WORKER_CONFIG_WHY,
        },
    ),
    (
        "WorkflowService",
        "UpdateWorkerConfig",
        Refused {
            code: Code::Unimplemented,
            message: "UpdateWorkerConfig command is not enabled.",
            why: WORKER_CONFIG_WHY,
        },
    ),
    ("WorkflowService", "DescribeWorker", Served),
    (
        "WorkflowService",
        "PauseWorkflowExecution",
        Refused {
            code: Code::Unimplemented,
            message: "workflow pause is not enabled for namespace: {namespace}",
            why: PAUSE_WHY,
        },
    ),
    ("WorkflowService", "UnpauseWorkflowExecution", Served),
    ("WorkflowService", "StartActivityExecution", Served),
    (
        "WorkflowService",
        "StartNexusOperationExecution",
        STANDALONE_NEXUS,
    ),
    ("WorkflowService", "DescribeActivityExecution", Served),
    (
        "WorkflowService",
        "DescribeNexusOperationExecution",
        STANDALONE_NEXUS,
    ),
    ("WorkflowService", "PollActivityExecution", Served),
    (
        "WorkflowService",
        "PollNexusOperationExecution",
        STANDALONE_NEXUS,
    ),
    ("WorkflowService", "ListActivityExecutions", Served),
    (
        "WorkflowService",
        "ListNexusOperationExecutions",
        STANDALONE_NEXUS,
    ),
    ("WorkflowService", "CountActivityExecutions", Served),
    (
        "WorkflowService",
        "CountNexusOperationExecutions",
        STANDALONE_NEXUS,
    ),
    ("WorkflowService", "RequestCancelActivityExecution", Served),
    (
        "WorkflowService",
        "RequestCancelNexusOperationExecution",
        STANDALONE_NEXUS,
    ),
    ("WorkflowService", "TerminateActivityExecution", Served),
    ("WorkflowService", "DeleteActivityExecution", Served),
    ("WorkflowService", "PauseActivityExecution", Served),
    ("WorkflowService", "ResetActivityExecution", Served),
    ("WorkflowService", "UnpauseActivityExecution", Served),
    ("WorkflowService", "UpdateActivityExecutionOptions", Served),
    (
        "WorkflowService",
        "TerminateNexusOperationExecution",
        STANDALONE_NEXUS,
    ),
    (
        "WorkflowService",
        "DeleteNexusOperationExecution",
        STANDALONE_NEXUS,
    ),
    (
        "WorkflowService",
        "PollWorkflowExecutionTimeSkipping",
        Refused {
            code: Code::Unimplemented,
            message: "The Time-Skipping feature is not enabled for namespace.",
            why: "per-workflow time skipping (`TimeSkippingConfig`) is off in the dev server; the engine's time skipping is the test server's `TestService`",
        },
    ),
    ("OperatorService", "AddSearchAttributes", Served),
    ("OperatorService", "RemoveSearchAttributes", Served),
    ("OperatorService", "ListSearchAttributes", Served),
    ("OperatorService", "DeleteNamespace", Served),
    (
        "OperatorService",
        "AddOrUpdateRemoteCluster",
        Declined {
            code: Code::FailedPrecondition,
            message: "The engine is one cluster and does not replicate: a remote cluster cannot be added.",
            why: "no multi-cluster replication",
        },
    ),
    (
        "OperatorService",
        "RemoveRemoteCluster",
        Refused {
            code: Code::NotFound,
            message: "The cluster to be deleted cannot be found in clusters cache.",
            why: "no remote cluster is ever added",
        },
    ),
    ("OperatorService", "ListClusters", Served),
    ("OperatorService", "GetNexusEndpoint", Served),
    ("OperatorService", "CreateNexusEndpoint", Served),
    ("OperatorService", "UpdateNexusEndpoint", Served),
    ("OperatorService", "DeleteNexusEndpoint", Served),
    ("OperatorService", "ListNexusEndpoints", Served),
    ("TestService", "LockTimeSkipping", Served),
    ("TestService", "UnlockTimeSkipping", Served),
    ("TestService", "Sleep", Served),
    ("TestService", "SleepUntil", Served),
    ("TestService", "UnlockTimeSkippingWithSleep", Served),
    ("TestService", "GetCurrentTime", Served),
];

/// The refusal of `method`, as the table gives it, after checking `namespace` as the dev
/// server does first (empty: `INVALID_ARGUMENT`; unknown: `NOT_FOUND`).
pub(crate) fn refuse(rt: &EngineRuntime, method: &str, namespace: &str) -> Result<Status> {
    rt.read(|registry| registry.namespace(namespace).map(|_| ()))?;
    Ok(refusal(method, namespace))
}

/// The status the table says `method` is refused with, for `namespace`.
pub(crate) fn refusal(method: &str, namespace: &str) -> Status {
    match RPCS.iter().find(|(_, name, _)| *name == method) {
        Some((_, _, Refused { code, message, .. } | Declined { code, message, .. })) => {
            Status::new(*code, message.replace("{namespace}", namespace))
        }
        _ => Status::internal(format!("{method} is not a refused RPC in api/rpcs.rs")),
    }
}

/// The table as markdown (`docs/rpcs.md`).
#[cfg(test)]
fn markdown() -> String {
    let mut out = String::from(
        "# Every RPC and what the engine does with it\n\n\
         Generated by `cargo test -p workflow-engine rpc_table` from the table in \
         `crates/engine/src/api/rpcs.rs` (set `UPDATE_RPC_TABLE=1` to rewrite this file); the \
         test fails when an RPC is added to the protos or changes status. \
         *served*: answered by the engine; *refused*: refused as the dev server (Temporal \
         Server 1.32, `temporal server start-dev`, default dynamic config) refuses it, with its \
         code and message; *declined*: refused with a clear error where the dev server serves \
         it, because the engine has no such thing.\n",
    );
    let mut service = "";
    let mut counts = (0, 0, 0);
    for (name, method, offer) in RPCS {
        if *name != service {
            service = name;
            out.push_str(&format!(
                "\n## {service}\n\n| RPC | status | why |\n|---|---|---|\n"
            ));
        }
        let (status, why) = match offer {
            Served => {
                counts.0 += 1;
                ("served".to_owned(), String::new())
            }
            Refused { code, message, why } => {
                counts.1 += 1;
                (
                    format!("refused `{code:?}`: \"{message}\""),
                    (*why).to_owned(),
                )
            }
            Declined { code, message, why } => {
                counts.2 += 1;
                (
                    format!("declined `{code:?}`: \"{message}\""),
                    (*why).to_owned(),
                )
            }
        };
        out.push_str(&format!("| {method} | {status} | {why} |\n"));
    }
    out.push_str(&format!(
        "\n{} RPCs: {} served, {} refused as the dev server refuses them, {} declined.\n",
        RPCS.len(),
        counts.0,
        counts.1,
        counts.2
    ));
    out
}

#[cfg(test)]
#[path = "rpcs_tests.rs"]
mod tests;
