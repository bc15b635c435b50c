//! Retention and deletion: `DeleteWorkflowExecution` (an open run is terminated first),
//! `UpdateNamespace` (retention, description, owner, data; what the server refuses),
//! `OperatorService.DeleteNamespace` (the name can be registered again) and a namespace's
//! retention deleting its closed runs. Raw requests through the SDK client, so every field
//! and status is what the server answers.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use prost_wkt_types::Duration as ProtoDuration;
use temporalio_client::grpc::{OperatorService, WorkflowService};
use temporalio_client::tonic::{Code, IntoRequest, Status};
use temporalio_protos::temporal::api::{
    common::v1::{WorkflowExecution, WorkflowType},
    namespace::v1::{NamespaceConfig, UpdateNamespaceInfo},
    operatorservice::v1::DeleteNamespaceRequest,
    taskqueue::v1::TaskQueue,
    workflowservice::v1::{
        DeleteWorkflowExecutionRequest, DescribeNamespaceRequest, DescribeNamespaceResponse,
        DescribeWorkflowExecutionRequest, GetWorkflowExecutionHistoryRequest,
        ListNamespacesRequest, ListWorkflowExecutionsRequest, RegisterNamespaceRequest,
        StartWorkflowExecutionRequest, TerminateWorkflowExecutionRequest, UpdateNamespaceRequest,
    },
};
use workflow::WorkflowClient;

use super::{id, with_worker, with_worker_on};

/// The dev server's answer to a retention under its minimum (one hour by default).
const BAD_RETENTION: &str = "A valid retention period is not set on request.";

fn service(client: &WorkflowClient) -> temporalio_client::Client {
    client.sdk_client().clone()
}

fn hours(h: i64) -> ProtoDuration {
    ProtoDuration {
        seconds: h * 3600,
        nanos: 0,
    }
}

async fn register(client: &WorkflowClient, name: &str, retention: ProtoDuration) {
    let request = RegisterNamespaceRequest {
        namespace: name.to_owned(),
        workflow_execution_retention_period: Some(retention),
        ..Default::default()
    };
    WorkflowService::register_namespace(&mut service(client), request.into_request())
        .await
        .unwrap_or_else(|e| panic!("register {name}: {e}"));
}

async fn describe_namespace(
    client: &WorkflowClient,
    name: &str,
) -> Result<DescribeNamespaceResponse, Status> {
    let request = DescribeNamespaceRequest {
        namespace: name.to_owned(),
        ..Default::default()
    };
    WorkflowService::describe_namespace(&mut service(client), request.into_request())
        .await
        .map(|r| r.into_inner())
}

/// Starts a workflow no worker polls for, so it stays running; returns its run id.
async fn start(client: &WorkflowClient, namespace: &str, workflow_id: &str) -> String {
    let request = StartWorkflowExecutionRequest {
        namespace: namespace.to_owned(),
        workflow_id: workflow_id.to_owned(),
        workflow_type: Some(WorkflowType {
            name: "Idle".to_owned(),
        }),
        task_queue: Some(TaskQueue {
            name: format!("idle-{}", uuid::Uuid::new_v4()),
            ..Default::default()
        }),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    WorkflowService::start_workflow_execution(&mut service(client), request.into_request())
        .await
        .unwrap_or_else(|e| panic!("start {workflow_id}: {e}"))
        .into_inner()
        .run_id
}

fn execution(workflow_id: &str) -> Option<WorkflowExecution> {
    Some(WorkflowExecution {
        workflow_id: workflow_id.to_owned(),
        run_id: String::new(),
    })
}

async fn terminate(client: &WorkflowClient, namespace: &str, workflow_id: &str) {
    let request = TerminateWorkflowExecutionRequest {
        namespace: namespace.to_owned(),
        workflow_execution: execution(workflow_id),
        reason: "closed for the test".to_owned(),
        ..Default::default()
    };
    WorkflowService::terminate_workflow_execution(&mut service(client), request.into_request())
        .await
        .unwrap_or_else(|e| panic!("terminate {workflow_id}: {e}"));
}

async fn delete(client: &WorkflowClient, namespace: &str, workflow_id: &str) -> Result<(), Status> {
    let request = DeleteWorkflowExecutionRequest {
        namespace: namespace.to_owned(),
        workflow_execution: execution(workflow_id),
    };
    WorkflowService::delete_workflow_execution(&mut service(client), request.into_request())
        .await
        .map(|_| ())
}

async fn describe(
    client: &WorkflowClient,
    namespace: &str,
    workflow_id: &str,
) -> Result<i32, Status> {
    let request = DescribeWorkflowExecutionRequest {
        namespace: namespace.to_owned(),
        execution: execution(workflow_id),
    };
    WorkflowService::describe_workflow_execution(&mut service(client), request.into_request())
        .await
        .map(|r| {
            r.into_inner()
                .workflow_execution_info
                .map_or(0, |info| info.status)
        })
}

async fn history(
    client: &WorkflowClient,
    namespace: &str,
    workflow_id: &str,
) -> Result<usize, Status> {
    let request = GetWorkflowExecutionHistoryRequest {
        namespace: namespace.to_owned(),
        execution: execution(workflow_id),
        ..Default::default()
    };
    WorkflowService::get_workflow_execution_history(&mut service(client), request.into_request())
        .await
        .map(|r| r.into_inner().history.map_or(0, |h| h.events.len()))
}

async fn listed(client: &WorkflowClient, namespace: &str, workflow_id: &str) -> usize {
    let request = ListWorkflowExecutionsRequest {
        namespace: namespace.to_owned(),
        query: format!("WorkflowId = '{workflow_id}'"),
        ..Default::default()
    };
    WorkflowService::list_workflow_executions(&mut service(client), request.into_request())
        .await
        .unwrap_or_else(|e| panic!("list {workflow_id}: {e}"))
        .into_inner()
        .executions
        .len()
}

/// Waits up to `within` for `check` to hold (the real server deletes and lists a moment
/// after it answers); fails with `what` otherwise.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Gone from describe, history and list.
async fn assert_gone(client: &WorkflowClient, namespace: &str, workflow_id: &str) {
    let described = describe(client, namespace, workflow_id)
        .await
        .expect_err("describe finds a deleted run");
    assert_eq!(described.code(), Code::NotFound, "describe: {described:?}");
    let read = history(client, namespace, workflow_id)
        .await
        .expect_err("history of a deleted run");
    assert_eq!(read.code(), Code::NotFound, "history: {read:?}");
    eventually(Duration::from_secs(30), "the list drops it", || async {
        listed(client, namespace, workflow_id).await == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_workflow_execution_removes_open_and_closed_runs() {
    with_worker(|client| async move {
        let ns = "default";
        let (open, closed, kept) = (id("del-open"), id("del-closed"), id("del-kept"));
        for workflow_id in [&open, &closed, &kept] {
            start(&client, ns, workflow_id).await;
        }
        terminate(&client, ns, &closed).await;

        // An open run is terminated, then deleted.
        delete(&client, ns, &open).await.unwrap();
        delete(&client, ns, &closed).await.unwrap();
        // The real server deletes an open run at once and a closed one some 30 s after it
        // answers (the engine: both at once).
        for workflow_id in [&open, &closed] {
            eventually(Duration::from_secs(60), workflow_id, || async {
                describe(&client, ns, workflow_id).await.is_err()
            })
            .await;
        }
        assert_gone(&client, ns, &open).await;
        assert_gone(&client, ns, &closed).await;
        assert_eq!(describe(&client, ns, &kept).await.unwrap(), 1, "running");
        assert!(history(&client, ns, &kept).await.unwrap() > 0);

        // Deleting what is gone, or never was, is NOT_FOUND.
        for workflow_id in [&open, &id("never")] {
            let again = delete(&client, ns, workflow_id).await.unwrap_err();
            assert_eq!(again.code(), Code::NotFound, "{again:?}");
        }
        // The id can be used again.
        start(&client, ns, &open).await;
        assert_eq!(describe(&client, ns, &open).await.unwrap(), 1);
        terminate(&client, ns, &open).await;
        terminate(&client, ns, &kept).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_namespace_changes_what_describe_reads_back() {
    with_worker(|client| async move {
        let name = id("upd");
        register(&client, &name, hours(24)).await;
        let update = |info: Option<UpdateNamespaceInfo>, retention: Option<ProtoDuration>| {
            let request = UpdateNamespaceRequest {
                namespace: name.clone(),
                update_info: info,
                config: retention.map(|r| NamespaceConfig {
                    workflow_execution_retention_ttl: Some(r),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let mut service = service(&client);
            async move {
                WorkflowService::update_namespace(&mut service, request.into_request())
                    .await
                    .map(|r| r.into_inner())
            }
        };
        let data = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let answer = update(
            Some(UpdateNamespaceInfo {
                description: "orders of the shop".to_owned(),
                owner_email: "ops@example.com".to_owned(),
                data: data(&[("team", "shop"), ("tier", "1")]),
                ..Default::default()
            }),
            Some(hours(72)),
        )
        .await
        .unwrap();
        let info = answer.namespace_info.unwrap_or_default();
        assert_eq!(info.name, name);
        assert_eq!(info.description, "orders of the shop");
        let retention = |config: Option<NamespaceConfig>| {
            config
                .and_then(|c| c.workflow_execution_retention_ttl)
                .map(|d| d.seconds)
        };
        assert_eq!(retention(answer.config), Some(72 * 3600));

        // Data merges key by key; fields left empty stay as they were.
        update(
            Some(UpdateNamespaceInfo {
                data: data(&[("tier", "2")]),
                ..Default::default()
            }),
            None,
        )
        .await
        .unwrap();
        let described = describe_namespace(&client, &name).await.unwrap();
        let info = described.namespace_info.unwrap_or_default();
        assert_eq!(info.description, "orders of the shop");
        assert_eq!(info.owner_email, "ops@example.com");
        assert_eq!(info.data, data(&[("team", "shop"), ("tier", "2")]));
        assert_eq!(retention(described.config), Some(72 * 3600));

        // What the server refuses: a retention under its minimum (one hour), an unknown
        // namespace.
        for short in [
            ProtoDuration {
                seconds: 3599,
                nanos: 0,
            },
            ProtoDuration {
                seconds: 10,
                nanos: 0,
            },
        ] {
            let refused = update(None, Some(short)).await.unwrap_err();
            assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
            assert_eq!(refused.message(), BAD_RETENTION);
        }
        let refused = WorkflowService::register_namespace(
            &mut service(&client),
            RegisterNamespaceRequest {
                namespace: id("short"),
                workflow_execution_retention_period: Some(ProtoDuration {
                    seconds: 60,
                    nanos: 0,
                }),
                ..Default::default()
            }
            .into_request(),
        )
        .await
        .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert_eq!(refused.message(), BAD_RETENTION);
        assert_eq!(
            retention(describe_namespace(&client, &name).await.unwrap().config),
            Some(72 * 3600),
            "a refused update changes nothing"
        );
        let unknown = id("unknown");
        let missing = WorkflowService::update_namespace(
            &mut service(&client),
            UpdateNamespaceRequest {
                namespace: unknown.clone(),
                ..Default::default()
            }
            .into_request(),
        )
        .await
        .unwrap_err();
        assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
        assert_eq!(
            missing.message(),
            format!("Namespace {unknown} is not found.")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_namespace_removes_it_and_the_name_comes_free() {
    with_worker(|client| async move {
        let name = id("gone");
        register(&client, &name, hours(24)).await;
        let workflow_id = id("in-gone");
        start(&client, &name, &workflow_id).await;
        let response = OperatorService::delete_namespace(
            &mut service(&client),
            DeleteNamespaceRequest {
                namespace: name.clone(),
                ..Default::default()
            }
            .into_request(),
        )
        .await
        .unwrap()
        .into_inner();
        assert!(
            response
                .deleted_namespace
                .starts_with(&format!("{name}-deleted-")),
            "{response:?}"
        );
        let missing = describe_namespace(&client, &name).await.unwrap_err();
        assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
        assert_eq!(missing.message(), format!("Namespace {name} is not found."));
        let listed = WorkflowService::list_namespaces(
            &mut service(&client),
            ListNamespacesRequest::default().into_request(),
        )
        .await
        .unwrap()
        .into_inner();
        assert!(
            !listed
                .namespaces
                .iter()
                .any(|n| n.namespace_info.as_ref().is_some_and(|i| i.name == name)),
            "listed after delete"
        );
        // Deleting what is gone, or never was, is refused.
        for missing in [name.clone(), id("never")] {
            let again = OperatorService::delete_namespace(
                &mut service(&client),
                DeleteNamespaceRequest {
                    namespace: missing.clone(),
                    ..Default::default()
                }
                .into_request(),
            )
            .await
            .unwrap_err();
            // NOT_FOUND, or INVALID_ARGUMENT while the real server still holds the namespace
            // as deleted.
            assert!(
                matches!(again.code(), Code::NotFound | Code::InvalidArgument),
                "{again:?}"
            );
            assert!(
                again
                    .message()
                    .to_lowercase()
                    .starts_with(&format!("namespace {missing} is not found")),
                "{again:?}"
            );
        }

        // The name can be registered again, as a new namespace.
        register(&client, &name, hours(48)).await;
        let described = describe_namespace(&client, &name).await.unwrap();
        assert_eq!(
            described
                .config
                .and_then(|c| c.workflow_execution_retention_ttl)
                .map(|d| d.seconds),
            Some(48 * 3600)
        );
    })
    .await;
}

/// A retention of seconds, allowed by lowering the server's minimum (dynamic config, as on
/// the real server; its timer jitter made short too): closed runs go, open ones stay, and a
/// run keeps the retention it closed under.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_closed_runs_and_keeps_open_ones() {
    const ARGS: &[&str] = &[
        "--dynamic-config-value",
        "system.namespaceMinRetentionLocal=\"1s\"",
        "--dynamic-config-value",
        "history.retentionTimerJitterDuration=\"1s\"",
    ];
    with_worker_on(ARGS, |client| async move {
        let name = id("short");
        register(
            &client,
            &name,
            ProtoDuration {
                seconds: 2,
                nanos: 0,
            },
        )
        .await;
        let (closed, open) = (id("expires"), id("stays"));
        start(&client, &name, &closed).await;
        start(&client, &name, &open).await;
        terminate(&client, &name, &closed).await;
        eventually(
            Duration::from_secs(30),
            "the closed run expires",
            || async { describe(&client, &name, &closed).await.is_err() },
        )
        .await;
        assert_gone(&client, &name, &closed).await;
        assert_eq!(describe(&client, &name, &open).await.unwrap(), 1, "running");
        terminate(&client, &name, &open).await;
        a_run_keeps_the_retention_it_closed_under(&client, &name).await;
    })
    .await;
}

/// The real server fixes a closed run's deletion time when it closes (close time plus the
/// retention then): a later `UpdateNamespace` changes it for runs that close after, not
/// for those already closed, whether it shortens or lengthens it.
async fn a_run_keeps_the_retention_it_closed_under(client: &WorkflowClient, name: &str) {
    // The real server's history service reads the namespace from a cache refreshed every
    // 2 s (`system.namespaceCacheRefreshInterval`): a run closed sooner after an update may
    // still close under the retention before it.
    const CACHE: Duration = Duration::from_secs(3);
    let set_retention = |ttl: ProtoDuration| {
        let request = UpdateNamespaceRequest {
            namespace: name.to_owned(),
            config: Some(NamespaceConfig {
                workflow_execution_retention_ttl: Some(ttl),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut service = service(client);
        async move {
            WorkflowService::update_namespace(&mut service, request.into_request())
                .await
                .unwrap_or_else(|e| panic!("update the retention: {e}"));
        }
    };
    let seconds = |seconds| ProtoDuration { seconds, nanos: 0 };
    let close = |workflow_id: String| async move {
        start(client, name, &workflow_id).await;
        terminate(client, name, &workflow_id).await;
    };
    let (kept, short, late) = (id("kept"), id("short"), id("late"));

    set_retention(hours(1)).await;
    tokio::time::sleep(CACHE).await;
    close(kept.clone()).await;
    set_retention(seconds(2)).await;
    tokio::time::sleep(CACHE).await;
    close(short.clone()).await;
    eventually(
        Duration::from_secs(30),
        "the run closed under 2 s expires",
        || async { describe(client, name, &short).await.is_err() },
    )
    .await;
    // Closed earlier, but under an hour's retention: still there.
    let kept_id = kept.as_str();
    let kept_status = |stage: &'static str| async move {
        describe(client, name, kept_id)
            .await
            .unwrap_or_else(|e| panic!("{stage}: the run closed under an hour is gone: {e}"))
    };
    assert_eq!(kept_status("shortened").await, 5, "terminated, and kept");

    // Closed under 2 s, then the retention lengthened: it goes after 2 s all the same.
    close(late.clone()).await;
    set_retention(hours(1)).await;
    eventually(
        Duration::from_secs(30),
        "the run closed under 2 s expires",
        || async { describe(client, name, &late).await.is_err() },
    )
    .await;
    assert_eq!(kept_status("lengthened").await, 5);
}
