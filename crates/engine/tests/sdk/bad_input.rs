//! Malformed and unknown requests get the real Temporal server's gRPC status codes, and the
//! engine keeps serving afterwards.

use std::time::Duration;

use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_common::protos::temporal::api::{
    command::v1::{Command, ScheduleActivityTaskCommandAttributes, command},
    common::v1::{ActivityType, Payload, Payloads, WorkflowExecution, WorkflowType},
    enums::v1::{CommandType, WorkflowIdConflictPolicy},
    taskqueue::v1::TaskQueue,
    workflowservice::v1::{
        DescribeWorkflowExecutionRequest, ListWorkflowExecutionsRequest,
        PollActivityTaskQueueRequest, PollWorkflowTaskQueueRequest,
        RespondActivityTaskCompletedRequest, RespondWorkflowTaskCompletedRequest,
        SignalWorkflowExecutionRequest, StartWorkflowExecutionRequest,
        TerminateWorkflowExecutionRequest,
    },
};
use temporalio_sdk::WorkerOptions;
use tonic::Code;

use crate::{
    harness::{self, TestEngine},
    workflows::Echo,
};

fn code<T>(result: Result<tonic::Response<T>, tonic::Status>) -> (Code, String) {
    match result {
        Ok(_) => (Code::Ok, String::new()),
        Err(status) => (status.code(), status.message().to_owned()),
    }
}

fn start_request(id: &str, queue: &str) -> StartWorkflowExecutionRequest {
    StartWorkflowExecutionRequest {
        namespace: "default".into(),
        workflow_id: id.into(),
        workflow_type: Some(WorkflowType {
            name: "Echo".into(),
        }),
        task_queue: task_queue(queue),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    }
}

fn task_queue(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.into(),
        ..Default::default()
    })
}

fn poll_workflow(queue: &str) -> PollWorkflowTaskQueueRequest {
    PollWorkflowTaskQueueRequest {
        namespace: "default".into(),
        task_queue: task_queue(queue),
        identity: "bad-input".into(),
        ..Default::default()
    }
}

fn poll_activity(queue: &str) -> PollActivityTaskQueueRequest {
    PollActivityTaskQueueRequest {
        namespace: "default".into(),
        task_queue: task_queue(queue),
        identity: "bad-input".into(),
        ..Default::default()
    }
}

fn big_payloads() -> Payloads {
    Payloads {
        payloads: vec![Payload {
            metadata: [("encoding".to_owned(), b"binary/plain".to_vec())].into(),
            data: vec![7; 2 * 1024 * 1024 + 1024],
            ..Default::default()
        }],
    }
}

#[tokio::test]
async fn bad_requests_get_real_status_codes_and_engine_keeps_serving() {
    let t = TestEngine::start("bad-input").await;
    let mut service = t.client.connection().workflow_service();

    let execution = |id: &str| {
        Some(WorkflowExecution {
            workflow_id: id.into(),
            run_id: String::new(),
        })
    };

    // Namespaces.
    let mut missing_ns = start_request("bad-1", &t.queue);
    missing_ns.namespace = String::new();
    let (c, _) = code(
        service
            .start_workflow_execution(tonic::Request::new(missing_ns))
            .await,
    );
    assert_eq!(c, Code::InvalidArgument, "missing namespace");
    let mut unknown_ns = start_request("bad-1", &t.queue);
    unknown_ns.namespace = "no-such-namespace".into();
    let (c, _) = code(
        service
            .start_workflow_execution(tonic::Request::new(unknown_ns))
            .await,
    );
    assert_eq!(c, Code::NotFound, "unknown namespace");

    // Start validation.
    let (c, _) = code(
        service
            .start_workflow_execution(tonic::Request::new(start_request("", &t.queue)))
            .await,
    );
    assert_eq!(c, Code::InvalidArgument, "empty workflow id");
    let mut no_type = start_request("bad-1", &t.queue);
    no_type.workflow_type = None;
    let (c, _) = code(
        service
            .start_workflow_execution(tonic::Request::new(no_type))
            .await,
    );
    assert_eq!(c, Code::InvalidArgument, "missing workflow type");
    let mut no_queue = start_request("bad-1", &t.queue);
    no_queue.task_queue = None;
    let (c, _) = code(
        service
            .start_workflow_execution(tonic::Request::new(no_queue))
            .await,
    );
    assert_eq!(c, Code::InvalidArgument, "missing task queue");

    // Unknown workflows.
    let (c, _) = code(
        service
            .describe_workflow_execution(tonic::Request::new(DescribeWorkflowExecutionRequest {
                namespace: "default".into(),
                execution: execution("nobody"),
            }))
            .await,
    );
    assert_eq!(c, Code::NotFound, "describe unknown");
    let (c, _) = code(
        service
            .signal_workflow_execution(tonic::Request::new(SignalWorkflowExecutionRequest {
                namespace: "default".into(),
                workflow_execution: execution("nobody"),
                signal_name: "poke".into(),
                request_id: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            }))
            .await,
    );
    assert_eq!(c, Code::NotFound, "signal unknown");
    let (c, _) = code(
        service
            .terminate_workflow_execution(tonic::Request::new(TerminateWorkflowExecutionRequest {
                namespace: "default".into(),
                workflow_execution: execution("nobody"),
                ..Default::default()
            }))
            .await,
    );
    assert_eq!(c, Code::NotFound, "terminate unknown");

    // A running id with conflict policy FAIL.
    let (c, _) = code(
        service
            .start_workflow_execution(tonic::Request::new(start_request("bad-running", &t.queue)))
            .await,
    );
    assert_eq!(c, Code::Ok);
    let mut again = start_request("bad-running", &t.queue);
    again.workflow_id_conflict_policy = WorkflowIdConflictPolicy::Fail as i32;
    let (c, _) = code(
        service
            .start_workflow_execution(tonic::Request::new(again))
            .await,
    );
    assert_eq!(c, Code::AlreadyExists, "conflict policy FAIL");

    // Oversized payloads.
    let mut big = start_request("bad-big", &t.queue);
    big.input = Some(big_payloads());
    let (c, m) = code(
        service
            .start_workflow_execution(tonic::Request::new(big))
            .await,
    );
    assert_eq!(c, Code::InvalidArgument, "oversized start input");
    assert!(m.contains("Blob data size exceeds limit"), "{m}");
    let (c, m) = code(
        service
            .signal_workflow_execution(tonic::Request::new(SignalWorkflowExecutionRequest {
                namespace: "default".into(),
                workflow_execution: execution("bad-running"),
                signal_name: "poke".into(),
                input: Some(big_payloads()),
                request_id: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            }))
            .await,
    );
    assert_eq!(c, Code::InvalidArgument, "oversized signal input");
    assert!(m.contains("Blob data size exceeds limit"), "{m}");

    // Garbage task tokens.
    for token in [Vec::new(), b"garbage".to_vec()] {
        let (c, _) = code(
            service
                .respond_activity_task_completed(tonic::Request::new(
                    RespondActivityTaskCompletedRequest {
                        namespace: "default".into(),
                        task_token: token.clone(),
                        ..Default::default()
                    },
                ))
                .await,
        );
        assert_eq!(c, Code::InvalidArgument, "activity token {token:?}");
        let (c, _) = code(
            service
                .respond_workflow_task_completed(tonic::Request::new(
                    RespondWorkflowTaskCompletedRequest {
                        namespace: "default".into(),
                        task_token: token.clone(),
                        ..Default::default()
                    },
                ))
                .await,
        );
        assert_eq!(c, Code::InvalidArgument, "workflow token {token:?}");
    }

    // Stale tokens: an activity completed twice.
    let task = service
        .poll_workflow_task_queue(tonic::Request::new(poll_workflow(&t.queue)))
        .await
        .unwrap_or_else(|e| panic!("poll workflow task: {e}"))
        .into_inner();
    assert!(!task.task_token.is_empty(), "a workflow task");
    let schedule = Command {
        command_type: CommandType::ScheduleActivityTask as i32,
        attributes: Some(command::Attributes::ScheduleActivityTaskCommandAttributes(
            ScheduleActivityTaskCommandAttributes {
                activity_id: "1".into(),
                activity_type: Some(ActivityType { name: "act".into() }),
                task_queue: task_queue(&t.queue),
                start_to_close_timeout: Some(prost_wkt_types::Duration {
                    seconds: 30,
                    nanos: 0,
                }),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    service
        .respond_workflow_task_completed(tonic::Request::new(RespondWorkflowTaskCompletedRequest {
            namespace: "default".into(),
            task_token: task.task_token.clone(),
            commands: vec![schedule],
            identity: "bad-input".into(),
            ..Default::default()
        }))
        .await
        .unwrap_or_else(|e| panic!("schedule activity: {e}"));
    let activity = service
        .poll_activity_task_queue(tonic::Request::new(poll_activity(&t.queue)))
        .await
        .unwrap_or_else(|e| panic!("poll activity: {e}"))
        .into_inner();
    assert!(!activity.task_token.is_empty(), "an activity task");
    let complete = || RespondActivityTaskCompletedRequest {
        namespace: "default".into(),
        task_token: activity.task_token.clone(),
        identity: "bad-input".into(),
        ..Default::default()
    };
    let (c, _) = code(
        service
            .respond_activity_task_completed(tonic::Request::new(complete()))
            .await,
    );
    assert_eq!(c, Code::Ok);
    let (c, _) = code(
        service
            .respond_activity_task_completed(tonic::Request::new(complete()))
            .await,
    );
    assert_eq!(c, Code::NotFound, "activity completed twice");

    // Stale tokens: a workflow task of a closed workflow.
    let task = service
        .poll_workflow_task_queue(tonic::Request::new(poll_workflow(&t.queue)))
        .await
        .unwrap_or_else(|e| panic!("poll workflow task: {e}"))
        .into_inner();
    assert!(!task.task_token.is_empty(), "a second workflow task");
    service
        .terminate_workflow_execution(tonic::Request::new(TerminateWorkflowExecutionRequest {
            namespace: "default".into(),
            workflow_execution: execution("bad-running"),
            ..Default::default()
        }))
        .await
        .unwrap_or_else(|e| panic!("terminate: {e}"));
    let (c, _) = code(
        service
            .respond_workflow_task_completed(tonic::Request::new(
                RespondWorkflowTaskCompletedRequest {
                    namespace: "default".into(),
                    task_token: task.task_token.clone(),
                    identity: "bad-input".into(),
                    ..Default::default()
                },
            ))
            .await,
    );
    assert_eq!(c, Code::NotFound, "task of a closed workflow");

    // An invalid visibility query.
    let (c, m) = code(
        service
            .list_workflow_executions(tonic::Request::new(ListWorkflowExecutionsRequest {
                namespace: "default".into(),
                query: "WorkflowId = ".into(),
                ..Default::default()
            }))
            .await,
    );
    assert_eq!(c, Code::InvalidArgument, "invalid query");
    assert!(m.starts_with("invalid query"), "{m}");

    // The engine still serves normal work.
    let ok_queue = harness::task_queue("bad-input-ok");
    let options = WorkerOptions::new(&ok_queue)
        .register_workflow::<Echo>()
        .unwrap_or_else(|e| panic!("register: {e}"))
        .build();
    let mut worker = t.worker_with(options);
    let result = harness::with_worker(&mut worker, Duration::from_secs(60), async {
        t.client
            .start_workflow(
                Echo::run,
                "still-fine".to_owned(),
                WorkflowStartOptions::new(&ok_queue, "bad-input-ok").build(),
            )
            .await
            .unwrap_or_else(|e| panic!("start: {e}"))
            .get_result(WorkflowGetResultOptions::default())
            .await
            .unwrap_or_else(|e| panic!("result: {e}"))
    })
    .await;
    assert_eq!(result, "still-fine");
    drop(service);
    t.shutdown().await;
}
