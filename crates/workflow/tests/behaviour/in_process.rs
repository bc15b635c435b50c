//! The `embedded` backend (the engine started in this process with no listener, given the
//! server arguments the suite's tests pass to the other backends), and the in-process
//! transport held against the network one on a single engine that has both.

use std::time::Duration;

use prost::Message;
use temporalio_client::grpc::WorkflowService;
use temporalio_client::tonic::codegen::{Bytes, http::HeaderMap};
use temporalio_client::tonic::{Code, IntoRequest, Status};
use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions, Url};
use temporalio_protos::temporal::api::common::v1::{WorkflowExecution, WorkflowType};
use temporalio_protos::temporal::api::enums::v1::IndexedValueType;
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::workflowservice::v1::{
    DescribeNamespaceRequest, GetSystemInfoResponse, GetWorkflowExecutionHistoryRequest,
    PollWorkflowTaskQueueRequest, PollWorkflowTaskQueueResponse, StartWorkflowExecutionRequest,
    StartWorkflowExecutionResponse,
};
use workflow::{App, Config, Role};
use workflow_engine::{Engine, EngineHandle, EngineOptions};

/// Starts the engine without a listener, with `server_args` (the subset of the dev server's
/// flags the suite uses) applied.
pub(super) async fn start(server_args: &[&str]) -> EngineHandle {
    let mut options = EngineOptions::default()
        .without_listener()
        .with_long_poll_timeout(Duration::from_secs(60));
    for pair in server_args.chunks(2) {
        options = match pair {
            ["--search-attribute", value] => {
                let (name, ty) = value.split_once('=').expect("NAME=TYPE");
                options.with_search_attribute(name, attribute_type(ty))
            }
            ["--dynamic-config-value", value] => match value.split_once('=') {
                Some(("limit.historyCount.suggestContinueAsNew", n)) => {
                    options.suggest_continue_as_new_events = n.parse().expect("a count");
                    options
                }
                Some(("system.namespaceMinRetentionLocal", duration)) => {
                    options.min_retention =
                        humantime::parse_duration(duration.trim_matches('"')).expect("a duration");
                    options
                }
                // The engine's sweeper has no jitter: the engine binary ignores this key too.
                Some(("history.retentionTimerJitterDuration", _)) => options,
                _ => panic!("the embedded backend does not apply {value:?} yet: add it here"),
            },
            other => panic!("the embedded backend does not take {other:?} yet: add it here"),
        };
    }
    let engine = Engine::start(options).await.expect("start the engine");
    assert_eq!(engine.listener(), None, "no listener");
    engine
}

fn attribute_type(name: &str) -> IndexedValueType {
    match name {
        "Keyword" => IndexedValueType::Keyword,
        "KeywordList" => IndexedValueType::KeywordList,
        "Text" => IndexedValueType::Text,
        "Int" => IndexedValueType::Int,
        "Double" => IndexedValueType::Double,
        "Bool" => IndexedValueType::Bool,
        "Datetime" => IndexedValueType::Datetime,
        other => panic!("unknown search attribute type {other:?}"),
    }
}

/// One engine, listening and reached in process at once, with API keys: the same calls
/// through the official client over TCP and over the in-process transport get the same
/// answers (error codes, messages and details; a deadline; a missing key), and a poll
/// dropped by its caller leaves nothing behind on either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_calls_answer_as_network_calls_do() {
    let dir = workflow_testkit::test_dir!("in-process-transport");
    let keys = dir.path().join("keys.txt");
    std::fs::write(&keys, format!("{KEY}\n")).expect("write the key file");
    let options = EngineOptions::new(([127, 0, 0, 1], 0).into()).with_api_key_file(&keys);
    let engine = Engine::start(options).await.expect("start the engine");
    let address = engine.listener().expect("the engine listens");
    let url = Url::parse(&format!("http://{address}")).expect("url");
    let connection = Connection::connect(
        ConnectionOptions::new(url)
            .identity("transport-test".to_owned())
            .api_key(KEY.to_owned())
            .build(),
    )
    .await
    .expect("connect over TCP");
    let network = Client::new(connection, ClientOptions::new("default").build()).expect("client");
    let mut config = Config {
        role: Role::Api,
        ..Config::default()
    };
    config.temporal.api_key = Some(KEY.to_owned());
    config.health.listen = "127.0.0.1:0".parse().expect("socket address");
    config.console.enabled = Some(false);
    let app = App::start_on(config, &engine)
        .await
        .expect("connect in process");
    let in_process = app.client().sdk_client().clone();
    let clients = [("TCP", network), ("in process", in_process)];

    let queue = format!("transport-{}", uuid::Uuid::new_v4());
    let workflow_id = format!("twice-{}", uuid::Uuid::new_v4());
    start_workflow(&clients[0].1, &workflow_id, &queue)
        .await
        .expect("the first start");
    let refusals: Vec<_> = futures::future::join_all(
        clients
            .iter()
            .map(|(_, client)| start_workflow(client, &workflow_id, &queue)),
    )
    .await
    .into_iter()
    .map(|answer| status_of(answer.expect_err("the id is taken")))
    .collect();
    assert_eq!(refusals[0].0, Code::AlreadyExists, "{refusals:?}");
    assert!(!refusals[0].2.is_empty(), "the refusal carries details");
    assert_eq!(refusals[0], refusals[1], "an error with details");

    let history = GetWorkflowExecutionHistoryRequest {
        namespace: "default".to_owned(),
        execution: Some(WorkflowExecution {
            workflow_id: workflow_id.clone(),
            run_id: String::new(),
        }),
        wait_new_event: true,
        ..Default::default()
    };
    let mut waits = Vec::new();
    for (name, client) in &clients {
        let first = WorkflowService::get_workflow_execution_history(
            &mut client.clone(),
            history.clone().into_request(),
        )
        .await
        .expect("the events so far");
        let mut request = GetWorkflowExecutionHistoryRequest {
            next_page_token: first.into_inner().next_page_token,
            ..history.clone()
        }
        .into_request();
        request.set_timeout(Duration::from_millis(300));
        let answer = tokio::time::timeout(
            Duration::from_secs(30),
            WorkflowService::get_workflow_execution_history(&mut client.clone(), request),
        )
        .await
        .unwrap_or_else(|_| panic!("{name}: the deadline was not kept"));
        waits.push(status_of(
            answer.expect_err("nothing new before the deadline"),
        ));
    }
    assert_eq!(waits[0], waits[1], "a deadline that passes");

    for (name, client) in &clients {
        let queue = format!("dropped-poll-{}", uuid::Uuid::new_v4());
        let dropped = tokio::time::timeout(Duration::from_millis(300), poll(client, &queue)).await;
        assert!(dropped.is_err(), "{name}: no task yet, the poll waits");
        // Over TCP the server learns of the drop from a reset stream a moment later; a task
        // matched before that waits for its workflow task timeout (10 s). In process the
        // drop is seen at once.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let id = format!("after-a-dropped-poll-{}", uuid::Uuid::new_v4());
        start_workflow(client, &id, &queue).await.expect("start");
        let task = tokio::time::timeout(Duration::from_secs(5), poll(client, &queue))
            .await
            .unwrap_or_else(|_| panic!("{name}: the task went to the dropped poll"))
            .expect("poll");
        assert_eq!(
            task.workflow_execution.map(|e| e.workflow_id),
            Some(id),
            "{name}"
        );
    }

    let mut refused = Vec::new();
    for (_, client) in &clients {
        client.connection().set_api_key(None);
        let request = DescribeNamespaceRequest {
            namespace: "default".to_owned(),
            ..Default::default()
        };
        let answer =
            WorkflowService::describe_namespace(&mut client.clone(), request.into_request()).await;
        refused.push(status_of(answer.expect_err("no key")));
    }
    assert_eq!(refused[0].0, Code::Unauthenticated, "{refused:?}");
    assert_eq!(refused[0], refused[1], "a call without a key");
    drop(app);
    engine.shutdown().await.expect("the engine stops");
}

/// The engine's own entry, called as the client's service override calls it: routing by
/// name, and the refusals tonic's server gives (unknown RPC, undecodable or oversized
/// message), then `UNAVAILABLE` once the engine has stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_entry_routes_by_name_and_refuses_as_tonic_does() {
    const WORKFLOW_SERVICE: &str = "temporal.api.workflowservice.v1.WorkflowService";
    let mut options = EngineOptions::default().without_listener();
    options.max_request_bytes = 64;
    let engine = Engine::start(options).await.expect("start the engine");
    let entry = engine.in_process();
    let call = |service: &str, method: &str, message: Bytes| {
        entry.call(service, method, HeaderMap::new(), message)
    };
    let reply = call(WORKFLOW_SERVICE, "GetSystemInfo", Bytes::new())
        .await
        .expect("GetSystemInfo");
    let info = GetSystemInfoResponse::decode(reply.message.as_slice()).expect("decode");
    assert!(info.capabilities.is_some(), "{info:?}");
    for (service, method) in [
        (WORKFLOW_SERVICE, "NoSuchRpc"),
        ("no.Such", "GetSystemInfo"),
    ] {
        let status = call(service, method, Bytes::new())
            .await
            .expect_err("unknown");
        assert_eq!(status.code(), Code::Unimplemented, "{service}/{method}");
    }
    let garbage = Bytes::from_static(&[0xff; 8]);
    let status = call(WORKFLOW_SERVICE, "GetSystemInfo", garbage)
        .await
        .expect_err("not a message");
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    let large = Bytes::from(vec![0; 65]);
    let status = call(WORKFLOW_SERVICE, "GetSystemInfo", large)
        .await
        .expect_err("too large");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    engine.shutdown().await.expect("the engine stops");
    let status = call(WORKFLOW_SERVICE, "GetSystemInfo", Bytes::new())
        .await
        .expect_err("stopped");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

const KEY: &str = "in-process-test-key-1234";

/// What a client can tell of a status.
fn status_of(status: Status) -> (Code, String, Vec<u8>) {
    (
        status.code(),
        status.message().to_owned(),
        status.details().to_vec(),
    )
}

async fn start_workflow(
    client: &Client,
    workflow_id: &str,
    queue: &str,
) -> Result<StartWorkflowExecutionResponse, Status> {
    let request = StartWorkflowExecutionRequest {
        namespace: "default".to_owned(),
        workflow_id: workflow_id.to_owned(),
        workflow_type: Some(WorkflowType {
            name: "Echo".to_owned(),
        }),
        task_queue: Some(TaskQueue {
            name: queue.to_owned(),
            ..Default::default()
        }),
        request_id: uuid::Uuid::new_v4().to_string(),
        identity: "transport-test".to_owned(),
        ..Default::default()
    };
    WorkflowService::start_workflow_execution(&mut client.clone(), request.into_request())
        .await
        .map(|response| response.into_inner())
}

async fn poll(client: &Client, queue: &str) -> Result<PollWorkflowTaskQueueResponse, Status> {
    let request = PollWorkflowTaskQueueRequest {
        namespace: "default".to_owned(),
        task_queue: Some(TaskQueue {
            name: queue.to_owned(),
            ..Default::default()
        }),
        identity: "transport-test".to_owned(),
        ..Default::default()
    };
    WorkflowService::poll_workflow_task_queue(&mut client.clone(), request.into_request())
        .await
        .map(|response| response.into_inner())
}
