//! Seed inputs: short scripts that walk the engine through whole workflows (start, worker
//! turns with commands, activities, timers, signals, updates, queries, children,
//! continue-as-new, sticky queues, restarts), so the fuzzer starts deep in the state
//! machines instead of at request validation.

use prost::Message;
use temporalio_protos::temporal::api::{
    command::v1::{
        CancelTimerCommandAttributes, CancelWorkflowExecutionCommandAttributes, Command,
        CompleteWorkflowExecutionCommandAttributes,
        ContinueAsNewWorkflowExecutionCommandAttributes, FailWorkflowExecutionCommandAttributes,
        ModifyWorkflowPropertiesCommandAttributes, ProtocolMessageCommandAttributes,
        RecordMarkerCommandAttributes, RequestCancelActivityTaskCommandAttributes,
        RequestCancelExternalWorkflowExecutionCommandAttributes,
        ScheduleActivityTaskCommandAttributes, SignalExternalWorkflowExecutionCommandAttributes,
        StartChildWorkflowExecutionCommandAttributes, StartTimerCommandAttributes,
        UpsertWorkflowSearchAttributesCommandAttributes, command::Attributes,
    },
    common::v1::{
        ActivityType, Memo, Payload, Payloads, RetryPolicy, SearchAttributes, WorkflowExecution,
        WorkflowType,
    },
    enums::v1::{CommandType, QueryResultType, UpdateWorkflowExecutionLifecycleStage},
    failure::v1::Failure,
    protocol::v1::Message as ProtocolMessage,
    query::v1::WorkflowQuery,
    taskqueue::v1::{StickyExecutionAttributes, TaskQueue},
    update::v1::{Acceptance, Input, Meta, Outcome, Request, Response, WaitPolicy, outcome},
    workflowservice::v1::{
        DescribeNamespaceRequest, DescribeWorkflowExecutionRequest,
        GetWorkflowExecutionHistoryRequest, ListNamespacesRequest, PollWorkflowTaskQueueRequest,
        QueryWorkflowRequest, RecordActivityTaskHeartbeatRequest, RegisterNamespaceRequest,
        RequestCancelWorkflowExecutionRequest, ResetStickyTaskQueueRequest,
        RespondActivityTaskCompletedRequest, RespondActivityTaskFailedRequest,
        RespondQueryTaskCompletedRequest, RespondWorkflowTaskCompletedRequest,
        RespondWorkflowTaskFailedRequest, ShutdownWorkerRequest,
        SignalWithStartWorkflowExecutionRequest, SignalWorkflowExecutionRequest,
        StartWorkflowExecutionRequest, TerminateWorkflowExecutionRequest,
        UpdateWorkflowExecutionRequest,
    },
};

use super::ops::Op;
use crate::time::duration;

const NS: &str = "default";
const QUEUE: &str = "q";
const TYPE: &str = "wf";

/// Named inputs for [`super::run_requests`] that reach deep into the engine; the fuzzer's
/// starting corpus (`crates/engine/fuzz/seeds`) is these, written out.
pub fn seed_inputs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("complete", complete()),
        ("activity", activity()),
        ("activity_retry", activity_retry()),
        ("timer_signal_cancel", timer_signal_cancel()),
        ("update_query", update_query()),
        ("child_continue_restart", child_continue_restart()),
        ("sticky", sticky()),
        ("task_failures", task_failures()),
        ("namespaces", namespaces()),
        ("timeouts", timeouts()),
        ("externals", externals()),
        ("huge_durations", huge_durations()),
        ("forged_tokens", forged_tokens()),
        ("bad_requests", bad_requests()),
    ]
}

/// Builds an input chunk by chunk.
#[derive(Default)]
struct Script(Vec<u8>);

impl Script {
    fn raw(mut self, op: u8, body: &[u8]) -> Self {
        let len = u16::try_from(body.len()).unwrap_or(u16::MAX);
        self.0.push(op);
        self.0.extend_from_slice(&len.to_le_bytes());
        self.0.extend_from_slice(&body[..usize::from(len)]);
        self
    }

    fn op(self, op: Op, body: &[u8]) -> Self {
        self.raw(op as u8, body)
    }

    fn msg(self, op: Op, message: &impl Message) -> Self {
        self.op(op, &message.encode_to_vec())
    }

    /// `op` in the background: it may wait while later chunks answer it.
    fn background(self, op: Op, message: &impl Message) -> Self {
        self.raw(op as u8 | 0x80, &message.encode_to_vec())
    }

    /// A worker turn: take a workflow task, answer with `commands`.
    fn turn(self, commands: Vec<Command>) -> Self {
        self.turn_with(
            0,
            RespondWorkflowTaskCompletedRequest {
                commands,
                identity: "seed".into(),
                ..Default::default()
            },
        )
    }

    fn turn_with(self, start: u8, completion: RespondWorkflowTaskCompletedRequest) -> Self {
        let mut body = vec![start];
        body.extend(completion.encode_to_vec());
        self.op(Op::WorkflowTurn, &body)
    }

    fn activity_turn(self, action: u8, answer: &impl Message) -> Self {
        let mut body = vec![0, action];
        body.extend(answer.encode_to_vec());
        self.op(Op::ActivityTurn, &body)
    }

    fn sleep(self, ms: u8) -> Self {
        self.op(Op::Sleep, &[ms])
    }

    fn done(self) -> Vec<u8> {
        self.0
    }
}

fn payloads(data: &str) -> Option<Payloads> {
    Some(Payloads {
        payloads: vec![Payload {
            metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
            data: data.as_bytes().to_vec(),
            ..Default::default()
        }],
    })
}

fn queue(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.into(),
        ..Default::default()
    })
}

fn execution(workflow_id: &str) -> Option<WorkflowExecution> {
    Some(WorkflowExecution {
        workflow_id: workflow_id.into(),
        run_id: String::new(),
    })
}

fn start(workflow_id: &str) -> StartWorkflowExecutionRequest {
    StartWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_id: workflow_id.into(),
        workflow_type: Some(WorkflowType { name: TYPE.into() }),
        task_queue: queue(QUEUE),
        input: payloads("1"),
        workflow_task_timeout: Some(duration(10_000)),
        identity: "seed".into(),
        request_id: format!("req-{workflow_id}"),
        ..Default::default()
    }
}

fn command(command_type: CommandType, attributes: impl Into<Attributes>) -> Command {
    Command {
        command_type: command_type as i32,
        attributes: Some(attributes.into()),
        ..Default::default()
    }
}

fn complete_workflow() -> Command {
    command(
        CommandType::CompleteWorkflowExecution,
        CompleteWorkflowExecutionCommandAttributes {
            result: payloads("\"done\""),
        },
    )
}

fn schedule_activity(activity_id: &str, retry: Option<RetryPolicy>) -> Command {
    command(
        CommandType::ScheduleActivityTask,
        ScheduleActivityTaskCommandAttributes {
            activity_id: activity_id.into(),
            activity_type: Some(ActivityType { name: "act".into() }),
            task_queue: queue(QUEUE),
            input: payloads("2"),
            start_to_close_timeout: Some(duration(10_000)),
            heartbeat_timeout: Some(duration(5_000)),
            retry_policy: retry,
            ..Default::default()
        },
    )
}

fn history(workflow_id: &str) -> GetWorkflowExecutionHistoryRequest {
    GetWorkflowExecutionHistoryRequest {
        namespace: NS.into(),
        execution: execution(workflow_id),
        ..Default::default()
    }
}

fn describe(workflow_id: &str) -> DescribeWorkflowExecutionRequest {
    DescribeWorkflowExecutionRequest {
        namespace: NS.into(),
        execution: execution(workflow_id),
    }
}

fn signal(workflow_id: &str, name: &str) -> SignalWorkflowExecutionRequest {
    SignalWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_execution: execution(workflow_id),
        signal_name: name.into(),
        input: payloads("3"),
        identity: "seed".into(),
        ..Default::default()
    }
}

fn complete() -> Vec<u8> {
    Script::default()
        .msg(Op::Start, &start("wf-1"))
        .turn(vec![complete_workflow()])
        .msg(Op::History, &history("wf-1"))
        .msg(Op::Describe, &describe("wf-1"))
        .op(
            Op::ListQuery,
            b"WorkflowId = 'wf-1' AND ExecutionStatus = 'Completed' ORDER BY StartTime",
        )
        .op(
            Op::CountQuery,
            b"WorkflowType = 'wf' OR CloseTime > '2020-01-01T00:00:00Z'",
        )
        .done()
}

fn activity() -> Vec<u8> {
    Script::default()
        .msg(Op::Start, &start("wf-a"))
        .turn(vec![schedule_activity("a1", None)])
        .activity_turn(3, &RespondActivityTaskCompletedRequest::default())
        .msg(
            Op::CompleteActivity,
            &RespondActivityTaskCompletedRequest {
                task_token: vec![0],
                result: payloads("4"),
                identity: "seed".into(),
                namespace: NS.into(),
                ..Default::default()
            },
        )
        .msg(Op::Describe, &describe("wf-a"))
        .turn(vec![complete_workflow()])
        .msg(Op::History, &history("wf-a"))
        .done()
}

fn activity_retry() -> Vec<u8> {
    let retry = RetryPolicy {
        initial_interval: Some(duration(1)),
        backoff_coefficient: 1.0,
        maximum_attempts: 3,
        ..Default::default()
    };
    let failure = RespondActivityTaskFailedRequest {
        failure: Some(Failure {
            message: "boom".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut script = Script::default()
        .msg(Op::Start, &start("wf-r"))
        .turn(vec![schedule_activity("a1", Some(retry))]);
    // Three attempts fail. Each retry waits out its 1 ms backoff on the engine's timer task,
    // which a loaded machine may run a little late: keep turning until all three are
    // through (a turn with no task waiting does nothing).
    for _ in 0..30 {
        script = script.activity_turn(1, &failure).sleep(2);
    }
    script
        .turn(vec![command(
            CommandType::FailWorkflowExecution,
            FailWorkflowExecutionCommandAttributes {
                failure: Some(Failure {
                    message: "gave up".into(),
                    ..Default::default()
                }),
            },
        )])
        .done()
}

fn timer_signal_cancel() -> Vec<u8> {
    Script::default()
        .msg(Op::Start, &start("wf-t"))
        .turn(vec![command(
            CommandType::StartTimer,
            StartTimerCommandAttributes {
                timer_id: "t1".into(),
                start_to_fire_timeout: Some(duration(1)),
            },
        )])
        .sleep(2)
        .msg(Op::Signal, &signal("wf-t", "sig"))
        .turn(vec![])
        .msg(
            Op::RequestCancel,
            &RequestCancelWorkflowExecutionRequest {
                namespace: NS.into(),
                workflow_execution: execution("wf-t"),
                reason: "seed".into(),
                ..Default::default()
            },
        )
        .turn(vec![command(
            CommandType::CancelWorkflowExecution,
            CancelWorkflowExecutionCommandAttributes { details: None },
        )])
        .msg(Op::History, &history("wf-t"))
        .done()
}

fn update_query() -> Vec<u8> {
    let meta = Meta {
        update_id: "u1".into(),
        identity: "seed".into(),
    };
    let request = Request {
        meta: Some(meta.clone()),
        input: Some(Input {
            name: "set".into(),
            args: payloads("5"),
            ..Default::default()
        }),
        ..Default::default()
    };
    let update = UpdateWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_execution: execution("wf-u"),
        wait_policy: Some(WaitPolicy {
            lifecycle_stage: UpdateWorkflowExecutionLifecycleStage::Completed as i32,
        }),
        request: Some(request.clone()),
        ..Default::default()
    };
    let acceptance = Acceptance {
        accepted_request_message_id: "u1/request".into(),
        accepted_request_sequencing_event_id: 0,
        accepted_request: Some(request),
    };
    let response = Response {
        meta: Some(meta),
        outcome: Some(Outcome {
            value: Some(outcome::Value::Success(payloads("6").unwrap_or_default())),
        }),
    };
    let message = |id: &str, type_name: &str, value: Vec<u8>| ProtocolMessage {
        id: id.into(),
        protocol_instance_id: "u1".into(),
        body: Some(prost_wkt_types::Any {
            type_url: format!("type.googleapis.com/temporal.api.update.v1.{type_name}"),
            value,
        }),
        sequencing_id: None,
    };
    let protocol = |id: &str| {
        command(
            CommandType::ProtocolMessage,
            ProtocolMessageCommandAttributes {
                message_id: id.into(),
            },
        )
    };
    let query = QueryWorkflowRequest {
        namespace: NS.into(),
        execution: execution("wf-u"),
        query: Some(WorkflowQuery {
            query_type: "state".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    Script::default()
        .msg(Op::Start, &start("wf-u"))
        .turn(vec![])
        .background(Op::Update, &update)
        .turn_with(
            0,
            RespondWorkflowTaskCompletedRequest {
                commands: vec![protocol("u1/accept"), protocol("u1/complete")],
                messages: vec![
                    message("u1/accept", "Acceptance", acceptance.encode_to_vec()),
                    message("u1/complete", "Response", response.encode_to_vec()),
                ],
                ..Default::default()
            },
        )
        .background(Op::Query, &query)
        .msg(
            Op::PollWorkflowTask,
            &PollWorkflowTaskQueueRequest {
                namespace: NS.into(),
                task_queue: queue(QUEUE),
                identity: "seed".into(),
                ..Default::default()
            },
        )
        .msg(
            Op::CompleteQueryTask,
            &RespondQueryTaskCompletedRequest {
                task_token: vec![0],
                completed_type: QueryResultType::Answered as i32,
                query_result: payloads("7"),
                namespace: NS.into(),
                ..Default::default()
            },
        )
        .msg(Op::Update, &update)
        .done()
}

fn child_continue_restart() -> Vec<u8> {
    Script::default()
        .msg(Op::Start, &start("wf-p"))
        .turn(vec![command(
            CommandType::StartChildWorkflowExecution,
            StartChildWorkflowExecutionCommandAttributes {
                workflow_id: "wf-c".into(),
                workflow_type: Some(WorkflowType { name: TYPE.into() }),
                task_queue: queue(QUEUE),
                ..Default::default()
            },
        )])
        .turn(vec![])
        .turn(vec![])
        .op(Op::Restart, &[])
        .msg(Op::Signal, &signal("wf-p", "go"))
        .turn(vec![command(
            CommandType::ContinueAsNewWorkflowExecution,
            ContinueAsNewWorkflowExecutionCommandAttributes {
                workflow_type: Some(WorkflowType { name: TYPE.into() }),
                task_queue: queue(QUEUE),
                input: payloads("8"),
                ..Default::default()
            },
        )])
        .turn(vec![complete_workflow()])
        .msg(
            Op::Terminate,
            &TerminateWorkflowExecutionRequest {
                namespace: NS.into(),
                workflow_execution: execution("wf-c"),
                reason: "seed".into(),
                ..Default::default()
            },
        )
        .op(Op::Restart, &[])
        .msg(Op::Describe, &describe("wf-p"))
        .msg(Op::History, &history("wf-c"))
        .done()
}

fn sticky() -> Vec<u8> {
    let sticky = RespondWorkflowTaskCompletedRequest {
        sticky_attributes: Some(StickyExecutionAttributes {
            worker_task_queue: queue("sticky-1"),
            schedule_to_start_timeout: Some(duration(5_000)),
        }),
        ..Default::default()
    };
    Script::default()
        .msg(Op::Start, &start("wf-s"))
        .turn_with(0, sticky.clone())
        .msg(Op::Signal, &signal("wf-s", "a"))
        .turn_with(1, sticky)
        .msg(
            Op::ResetSticky,
            &ResetStickyTaskQueueRequest {
                namespace: NS.into(),
                execution: execution("wf-s"),
            },
        )
        .msg(
            Op::ShutdownWorker,
            &ShutdownWorkerRequest {
                namespace: NS.into(),
                sticky_task_queue: "sticky-1".into(),
                ..Default::default()
            },
        )
        .msg(Op::Signal, &signal("wf-s", "b"))
        .turn(vec![complete_workflow()])
        .done()
}

fn task_failures() -> Vec<u8> {
    let poll = PollWorkflowTaskQueueRequest {
        namespace: NS.into(),
        task_queue: queue(QUEUE),
        identity: "seed".into(),
        ..Default::default()
    };
    let fail = RespondWorkflowTaskFailedRequest {
        task_token: vec![0],
        failure: Some(Failure {
            message: "nondeterminism".into(),
            ..Default::default()
        }),
        namespace: NS.into(),
        ..Default::default()
    };
    Script::default()
        .msg(Op::Start, &start("wf-f"))
        .msg(Op::PollWorkflowTask, &poll)
        .msg(Op::FailWorkflowTask, &fail)
        .msg(Op::PollWorkflowTask, &poll)
        .msg(Op::FailWorkflowTask, &fail)
        .msg(
            Op::CompleteWorkflowTask,
            &RespondWorkflowTaskCompletedRequest {
                task_token: vec![0, 0, 1],
                commands: vec![complete_workflow()],
                namespace: NS.into(),
                ..Default::default()
            },
        )
        .msg(Op::FailWorkflowTask, &fail)
        .done()
}

fn namespaces() -> Vec<u8> {
    Script::default()
        .msg(
            Op::RegisterNamespace,
            &RegisterNamespaceRequest {
                namespace: "ns2".into(),
                workflow_execution_retention_period: Some(duration(86_400_000)),
                ..Default::default()
            },
        )
        .msg(
            Op::DescribeNamespace,
            &DescribeNamespaceRequest {
                namespace: "ns2".into(),
                ..Default::default()
            },
        )
        .msg(Op::ListNamespaces, &ListNamespacesRequest::default())
        .msg(
            Op::SignalWithStart,
            &SignalWithStartWorkflowExecutionRequest {
                namespace: "ns2".into(),
                workflow_id: "wf-n".into(),
                workflow_type: Some(WorkflowType { name: TYPE.into() }),
                task_queue: queue("q2"),
                signal_name: "go".into(),
                request_id: "req-n".into(),
                ..Default::default()
            },
        )
        .turn(vec![complete_workflow()])
        .op(Op::CountQuery, b"ExecutionStatus = 'Running'")
        .done()
}

fn timeouts() -> Vec<u8> {
    let mut request = start("wf-to");
    request.workflow_run_timeout = Some(duration(2));
    request.workflow_task_timeout = Some(duration(1));
    Script::default()
        .msg(Op::Start, &request)
        .msg(
            Op::PollWorkflowTask,
            &PollWorkflowTaskQueueRequest {
                namespace: NS.into(),
                task_queue: queue(QUEUE),
                ..Default::default()
            },
        )
        .sleep(2)
        .sleep(2)
        .msg(Op::History, &history("wf-to"))
        .done()
}

/// Two workflows acting on each other and on their own timers and activities.
fn externals() -> Vec<u8> {
    let payload = || payloads("9").and_then(|p| p.payloads.into_iter().next());
    Script::default()
        .msg(Op::Start, &start("wf-x1"))
        .msg(Op::Start, &start("wf-x2"))
        .turn(vec![
            command(
                CommandType::StartTimer,
                StartTimerCommandAttributes {
                    timer_id: "t1".into(),
                    start_to_fire_timeout: Some(duration(60_000)),
                },
            ),
            schedule_activity("a1", None),
        ])
        .turn(vec![
            command(
                CommandType::SignalExternalWorkflowExecution,
                SignalExternalWorkflowExecutionCommandAttributes {
                    execution: execution("wf-x1"),
                    signal_name: "ping".into(),
                    input: payloads("10"),
                    ..Default::default()
                },
            ),
            command(
                CommandType::RequestCancelExternalWorkflowExecution,
                RequestCancelExternalWorkflowExecutionCommandAttributes {
                    workflow_id: "wf-x1".into(),
                    reason: "seed".into(),
                    ..Default::default()
                },
            ),
            command(
                CommandType::RecordMarker,
                RecordMarkerCommandAttributes {
                    marker_name: "m".into(),
                    details: [("data".to_owned(), payloads("11").unwrap_or_default())].into(),
                    ..Default::default()
                },
            ),
            command(
                CommandType::UpsertWorkflowSearchAttributes,
                UpsertWorkflowSearchAttributesCommandAttributes {
                    // A system attribute workflows may set: custom ones must be registered.
                    search_attributes: Some(SearchAttributes {
                        indexed_fields: payloads("[\"seed-1\"]")
                            .and_then(|p| p.payloads.into_iter().next())
                            .map(|p| ("TemporalChangeVersion".to_owned(), p))
                            .into_iter()
                            .collect(),
                    }),
                },
            ),
            command(
                CommandType::ModifyWorkflowProperties,
                ModifyWorkflowPropertiesCommandAttributes {
                    upserted_memo: Some(Memo {
                        fields: payload().map(|p| ("m".to_owned(), p)).into_iter().collect(),
                    }),
                },
            ),
        ])
        .turn(vec![
            command(
                CommandType::CancelTimer,
                CancelTimerCommandAttributes {
                    timer_id: "t1".into(),
                },
            ),
            command(
                CommandType::RequestCancelActivityTask,
                RequestCancelActivityTaskCommandAttributes {
                    scheduled_event_id: 6,
                },
            ),
        ])
        .activity_turn(2, &RespondActivityTaskCompletedRequest::default())
        .turn(vec![complete_workflow()])
        .turn(vec![complete_workflow()])
        .msg(Op::History, &history("wf-x1"))
        .msg(Op::History, &history("wf-x2"))
        .done()
}

/// Durations of `i64::MAX` seconds everywhere a request or command may carry one: deadlines
/// computed from them once overflowed (found with this harness).
fn huge_durations() -> Vec<u8> {
    let forever = || {
        Some(prost_wkt_types::Duration {
            seconds: i64::MAX,
            nanos: 999_999_999,
        })
    };
    let mut request = start("wf-h");
    request.workflow_run_timeout = forever();
    request.workflow_execution_timeout = forever();
    request.workflow_task_timeout = forever();
    let retry = RetryPolicy {
        initial_interval: forever(),
        backoff_coefficient: 1e300,
        ..Default::default()
    };
    let activity = command(
        CommandType::ScheduleActivityTask,
        ScheduleActivityTaskCommandAttributes {
            activity_id: "a1".into(),
            activity_type: Some(ActivityType { name: "act".into() }),
            task_queue: queue(QUEUE),
            schedule_to_close_timeout: forever(),
            schedule_to_start_timeout: forever(),
            start_to_close_timeout: forever(),
            heartbeat_timeout: forever(),
            retry_policy: Some(retry),
            ..Default::default()
        },
    );
    let timer = command(
        CommandType::StartTimer,
        StartTimerCommandAttributes {
            timer_id: "t1".into(),
            start_to_fire_timeout: forever(),
        },
    );
    let fail = RespondActivityTaskFailedRequest {
        failure: Some(Failure {
            message: "again".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    Script::default()
        .msg(
            Op::RegisterNamespace,
            &RegisterNamespaceRequest {
                namespace: "ns-h".into(),
                workflow_execution_retention_period: forever(),
                ..Default::default()
            },
        )
        .msg(
            Op::DescribeNamespace,
            &DescribeNamespaceRequest {
                namespace: "ns-h".into(),
                ..Default::default()
            },
        )
        .msg(Op::Start, &request)
        .turn_with(
            0,
            RespondWorkflowTaskCompletedRequest {
                commands: vec![activity, timer],
                sticky_attributes: Some(StickyExecutionAttributes {
                    worker_task_queue: queue("sticky-h"),
                    schedule_to_start_timeout: forever(),
                }),
                ..Default::default()
            },
        )
        .activity_turn(1, &fail)
        .msg(Op::Signal, &signal("wf-h", "s"))
        .turn_with(1, RespondWorkflowTaskCompletedRequest::default())
        .op(Op::Restart, &[])
        .msg(Op::Describe, &describe("wf-h"))
        .done()
}

/// Answers with tokens whose ids are stale or extreme (`[i, a, b, _]`, see the module
/// docs): a heartbeat naming event `i64::MIN` once overflowed (found with this harness).
fn forged_tokens() -> Vec<u8> {
    let poll = PollWorkflowTaskQueueRequest {
        namespace: NS.into(),
        task_queue: queue(QUEUE),
        ..Default::default()
    };
    Script::default()
        .msg(Op::Start, &start("wf-k"))
        .turn(vec![schedule_activity("a1", None)])
        .activity_turn(3, &RespondActivityTaskCompletedRequest::default())
        .msg(
            Op::Heartbeat,
            &RecordActivityTaskHeartbeatRequest {
                task_token: vec![0, 0, 2, 0],
                ..Default::default()
            },
        )
        .msg(
            Op::CompleteActivity,
            &RespondActivityTaskCompletedRequest {
                task_token: vec![0, 1, 3, 0],
                ..Default::default()
            },
        )
        .msg(
            Op::CompleteActivity,
            &RespondActivityTaskCompletedRequest {
                task_token: vec![0, 0, 0x80],
                ..Default::default()
            },
        )
        .msg(Op::Signal, &signal("wf-k", "s"))
        .msg(Op::PollWorkflowTask, &poll)
        .msg(
            Op::CompleteWorkflowTask,
            &RespondWorkflowTaskCompletedRequest {
                task_token: vec![0, 2, 3, 0],
                commands: vec![complete_workflow()],
                ..Default::default()
            },
        )
        .msg(
            Op::FailWorkflowTask,
            &RespondWorkflowTaskFailedRequest {
                task_token: vec![0, 5, 4, 0],
                ..Default::default()
            },
        )
        .msg(
            Op::CompleteWorkflowTask,
            &RespondWorkflowTaskCompletedRequest {
                task_token: vec![0],
                commands: vec![complete_workflow()],
                ..Default::default()
            },
        )
        .done()
}

fn bad_requests() -> Vec<u8> {
    Script::default()
        .msg(Op::Start, &StartWorkflowExecutionRequest::default())
        .msg(Op::Query, &QueryWorkflowRequest::default())
        .msg(
            Op::History,
            &GetWorkflowExecutionHistoryRequest {
                namespace: NS.into(),
                execution: execution("nope"),
                next_page_token: vec![1, 2, 3],
                ..Default::default()
            },
        )
        .op(Op::ListQuery, b"WorkflowId = ")
        .op(Op::CountQuery, b"((StartTime BETWEEN '1' AND")
        .op(Op::CompleteWorkflowTask, &[0x0a, 0x03, b'{', b'}', b'x'])
        .raw(0xff, &[])
        .done()
}
