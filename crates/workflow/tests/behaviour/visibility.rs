//! Visibility: custom search attributes (registered through the operator service, set at
//! start and by the workflow, typed, queried), system attributes in queries, memo in
//! describe and list. Raw `WorkflowService` / `OperatorService` requests through the SDK
//! client, so every field is what the server answers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use temporalio_client::grpc::{OperatorService, WorkflowService};
use temporalio_client::tonic::{Code, IntoRequest, Status};
use temporalio_protos::temporal::api::{
    common::v1::{Memo, Payload, SearchAttributes, WorkflowExecution, WorkflowType},
    enums::v1::IndexedValueType,
    operatorservice::v1::{
        AddSearchAttributesRequest, ListSearchAttributesRequest, RemoveSearchAttributesRequest,
    },
    taskqueue::v1::TaskQueue,
    workflow::v1::WorkflowExecutionInfo,
    workflowservice::v1::{
        CountWorkflowExecutionsRequest, CountWorkflowExecutionsResponse,
        DescribeWorkflowExecutionRequest, ListWorkflowExecutionsRequest,
        StartWorkflowExecutionRequest, TerminateWorkflowExecutionRequest,
    },
};
use workflow::{StartOptions, WorkflowClient};

use super::workflows::Tagger;
use super::{WAIT, id, with_worker, with_worker_on};

const NAMESPACE: &str = "default";

fn json(text: &str) -> Payload {
    Payload {
        metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
        data: text.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn fields(pairs: &[(&str, &str)]) -> HashMap<String, Payload> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), json(value)))
        .collect()
}

async fn register(
    client: &WorkflowClient,
    attributes: &[(&str, IndexedValueType)],
) -> Result<(), Status> {
    let request = AddSearchAttributesRequest {
        search_attributes: attributes
            .iter()
            .map(|(name, ty)| ((*name).to_owned(), *ty as i32))
            .collect(),
        namespace: NAMESPACE.to_owned(),
    };
    OperatorService::add_search_attributes(&mut client.sdk_client().clone(), request.into_request())
        .await
        .map(|_| ())
}

async fn custom_attributes(client: &WorkflowClient) -> HashMap<String, i32> {
    let request = ListSearchAttributesRequest {
        namespace: NAMESPACE.to_owned(),
    };
    let response = OperatorService::list_search_attributes(
        &mut client.sdk_client().clone(),
        request.into_request(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .into_inner();
    assert_eq!(
        response.system_attributes.get("TaskQueue"),
        Some(&(IndexedValueType::Keyword as i32))
    );
    response.custom_attributes
}

/// Starts a workflow no worker polls for, so it stays running.
async fn start(
    client: &WorkflowClient,
    workflow_id: &str,
    task_queue: &str,
    attributes: &[(&str, &str)],
    memo: &[(&str, &str)],
) -> Result<String, Status> {
    let request = StartWorkflowExecutionRequest {
        namespace: NAMESPACE.to_owned(),
        workflow_id: workflow_id.to_owned(),
        workflow_type: Some(WorkflowType {
            name: "Idle".to_owned(),
        }),
        task_queue: Some(TaskQueue {
            name: task_queue.to_owned(),
            ..Default::default()
        }),
        request_id: uuid::Uuid::new_v4().to_string(),
        search_attributes: (!attributes.is_empty()).then(|| SearchAttributes {
            indexed_fields: fields(attributes),
        }),
        memo: (!memo.is_empty()).then(|| Memo {
            fields: fields(memo),
        }),
        ..Default::default()
    };
    WorkflowService::start_workflow_execution(
        &mut client.sdk_client().clone(),
        request.into_request(),
    )
    .await
    .map(|r| r.into_inner().run_id)
}

async fn describe(client: &WorkflowClient, workflow_id: &str) -> WorkflowExecutionInfo {
    let request = DescribeWorkflowExecutionRequest {
        namespace: NAMESPACE.to_owned(),
        execution: Some(WorkflowExecution {
            workflow_id: workflow_id.to_owned(),
            run_id: String::new(),
        }),
    };
    WorkflowService::describe_workflow_execution(
        &mut client.sdk_client().clone(),
        request.into_request(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .into_inner()
    .workflow_execution_info
    .unwrap_or_default()
}

async fn list(client: &WorkflowClient, query: &str) -> Result<Vec<WorkflowExecutionInfo>, Status> {
    let request = ListWorkflowExecutionsRequest {
        namespace: NAMESPACE.to_owned(),
        query: query.to_owned(),
        ..Default::default()
    };
    WorkflowService::list_workflow_executions(
        &mut client.sdk_client().clone(),
        request.into_request(),
    )
    .await
    .map(|r| r.into_inner().executions)
}

async fn count(client: &WorkflowClient, query: &str) -> CountWorkflowExecutionsResponse {
    let request = CountWorkflowExecutionsRequest {
        namespace: NAMESPACE.to_owned(),
        query: query.to_owned(),
    };
    WorkflowService::count_workflow_executions(
        &mut client.sdk_client().clone(),
        request.into_request(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .into_inner()
}

/// The workflow ids `query` lists, sorted, once they stop changing into `expected`
/// (visibility on the real server is eventually consistent).
async fn assert_lists(client: &WorkflowClient, query: &str, expected: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut ids: Vec<String> = list(client, query)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"))
            .into_iter()
            .filter_map(|info| info.execution.map(|e| e.workflow_id))
            .collect();
        ids.sort();
        if ids == expected || Instant::now() > deadline {
            assert_eq!(ids, expected, "{query}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn payload_text(payload: Option<&Payload>) -> String {
    payload.map_or_else(String::new, |p| {
        String::from_utf8_lossy(&p.data).into_owned()
    })
}

fn type_metadata(payload: Option<&Payload>) -> String {
    payload
        .and_then(|p| p.metadata.get("type"))
        .map_or_else(String::new, |t| String::from_utf8_lossy(t).into_owned())
}

const ALL_TYPES: [(&str, IndexedValueType); 7] = [
    ("CustKw", IndexedValueType::Keyword),
    ("CustInt", IndexedValueType::Int),
    ("CustKl", IndexedValueType::KeywordList),
    ("CustText", IndexedValueType::Text),
    ("CustDt", IndexedValueType::Datetime),
    ("CustD", IndexedValueType::Double),
    ("CustB", IndexedValueType::Bool),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_search_attributes_register_type_and_query() {
    with_worker(|client| async move {
        register(&client, &ALL_TYPES).await.unwrap();
        // Registering a name again is accepted and changes nothing; a system name is refused.
        register(&client, &[("CustKw", IndexedValueType::Int)])
            .await
            .unwrap();
        let reserved = register(&client, &[("WorkflowId", IndexedValueType::Keyword)])
            .await
            .unwrap_err();
        assert_eq!(reserved.code(), Code::InvalidArgument, "{reserved:?}");
        assert!(
            reserved.message().contains("reserved by system"),
            "{reserved:?}"
        );
        let custom = custom_attributes(&client).await;
        for (name, ty) in ALL_TYPES {
            assert_eq!(custom.get(name), Some(&(ty as i32)), "{name} in {custom:?}");
        }

        let prefix = id("vis");
        let (w1, w2, w3) = (
            format!("{prefix}-1"),
            format!("{prefix}-2"),
            format!("{prefix}-3"),
        );
        let queue = format!("{prefix}-queue");
        start(
            &client,
            &w1,
            &queue,
            &[
                ("CustKw", "\"alpha\""),
                ("CustInt", "5"),
                ("CustKl", "[\"a\",\"b\"]"),
                ("CustText", "\"hello big world\""),
                ("CustDt", "\"2024-01-02T03:04:05Z\""),
                ("CustD", "1.5"),
                ("CustB", "true"),
            ],
            &[("note", "\"first\"")],
        )
        .await
        .unwrap();
        start(
            &client,
            &w2,
            "other-queue",
            &[("CustKw", "\"beta\""), ("CustInt", "10")],
            &[],
        )
        .await
        .unwrap();
        start(&client, &w3, &queue, &[], &[]).await.unwrap();

        let undefined = start(&client, &id("bad"), &queue, &[("Undefined", "\"x\"")], &[])
            .await
            .unwrap_err();
        assert_eq!(undefined.code(), Code::InvalidArgument, "{undefined:?}");
        assert!(
            undefined
                .message()
                .contains("no mapping defined for search attribute Undefined"),
            "{undefined:?}"
        );
        let mistyped = start(&client, &id("bad"), &queue, &[("CustInt", "\"five\"")], &[])
            .await
            .unwrap_err();
        assert_eq!(mistyped.code(), Code::InvalidArgument, "{mistyped:?}");
        assert!(
            mistyped
                .message()
                .contains("invalid value for search attribute CustInt of type Int"),
            "{mistyped:?}"
        );

        // Describe returns the memo and the attributes, each tagged with its type.
        let info = describe(&client, &w1).await;
        let memo = info.memo.unwrap_or_default().fields;
        assert_eq!(payload_text(memo.get("note")), "\"first\"");
        let attributes = info.search_attributes.unwrap_or_default().indexed_fields;
        assert_eq!(payload_text(attributes.get("CustInt")), "5");
        assert_eq!(type_metadata(attributes.get("CustInt")), "Int");
        assert_eq!(type_metadata(attributes.get("CustKl")), "KeywordList");
        assert_eq!(type_metadata(attributes.get("CustDt")), "Datetime");

        let in_test = format!("WorkflowId STARTS_WITH '{prefix}'");
        for (condition, expected) in [
            ("CustKw = 'alpha'", vec![w1.as_str()]),
            ("CustInt > 6", vec![&w2]),
            ("CustInt >= 5 AND CustInt < 10", vec![&w1]),
            ("CustInt BETWEEN 1 AND 6", vec![&w1]),
            ("CustKl = 'a'", vec![&w1]),
            ("CustKl = 'c'", vec![]),
            ("CustKl IN ('b', 'z')", vec![&w1]),
            ("CustText = 'big'", vec![&w1]),
            ("CustText = 'bi'", vec![]),
            ("CustDt > '2024-01-01T00:00:00Z'", vec![&w1]),
            ("CustD > 1.2", vec![&w1]),
            ("CustB = true", vec![&w1]),
            ("CustKw IS NULL", vec![&w3]),
            ("CustKw NOT IN ('alpha')", vec![&w2]),
            ("CustKw STARTS_WITH 'al'", vec![&w1]),
            ("CustKw != 'alpha'", vec![&w2]),
        ] {
            let query = format!("{in_test} AND {condition}");
            assert_lists(&client, &query, &expected).await;
        }
        // System attributes.
        assert_lists(&client, &format!("TaskQueue = '{queue}'"), &[&w1, &w3]).await;
        assert_lists(
            &client,
            &format!("WorkflowId IN ('{w1}', '{w2}')"),
            &[&w1, &w2],
        )
        .await;
        assert_lists(
            &client,
            &format!("{in_test} AND WorkflowId NOT STARTS_WITH '{w1}'"),
            &[&w2, &w3],
        )
        .await;
        assert_lists(&client, &format!("RootWorkflowId = '{w1}'"), &[&w1]).await;
        assert_lists(
            &client,
            &format!("{in_test} AND ParentWorkflowId IS NULL"),
            &[&w1, &w2, &w3],
        )
        .await;
        // List carries the memo too.
        let listed = list(&client, &format!("WorkflowId = '{w1}'"))
            .await
            .unwrap();
        let memo = listed
            .first()
            .and_then(|i| i.memo.clone())
            .unwrap_or_default();
        assert_eq!(payload_text(memo.fields.get("note")), "\"first\"");

        for (bad, says) in [
            (
                "CustInt = '5'",
                "invalid value type for search attribute CustInt of type Int",
            ),
            (
                "CustText > 'a'",
                "operator '>' not supported for Text type search attribute",
            ),
            (
                "CustKl STARTS_WITH 'a'",
                "operator 'STARTS_WITH' not supported for KeywordList",
            ),
            ("Undefined = 'x'", "invalid search attribute: Undefined"),
        ] {
            let error = list(&client, bad).await.unwrap_err();
            assert_eq!(error.code(), Code::InvalidArgument, "{bad}: {error:?}");
            assert!(error.message().contains(says), "{bad}: {error:?}");
        }

        let terminate = TerminateWorkflowExecutionRequest {
            namespace: NAMESPACE.to_owned(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: w2.clone(),
                run_id: String::new(),
            }),
            reason: "test".to_owned(),
            ..Default::default()
        };
        WorkflowService::terminate_workflow_execution(
            &mut client.sdk_client().clone(),
            terminate.into_request(),
        )
        .await
        .unwrap();
        // A closed run keeps its attributes.
        assert_lists(
            &client,
            &format!("{in_test} AND ExecutionStatus = 'Terminated' AND CustInt = 10"),
            &[&w2],
        )
        .await;
        let grouped = count(&client, &format!("{in_test} GROUP BY ExecutionStatus")).await;
        assert_eq!(grouped.count, 3);
        let mut groups: Vec<(String, i64)> = grouped
            .groups
            .iter()
            .map(|g| (payload_text(g.group_values.first()), g.count))
            .collect();
        groups.sort();
        assert_eq!(
            groups,
            [
                ("\"Running\"".to_owned(), 2),
                ("\"Terminated\"".to_owned(), 1)
            ]
        );

        let remove = RemoveSearchAttributesRequest {
            search_attributes: vec!["CustB".to_owned()],
            namespace: NAMESPACE.to_owned(),
        };
        OperatorService::remove_search_attributes(
            &mut client.sdk_client().clone(),
            remove.into_request(),
        )
        .await
        .unwrap();
        let custom = custom_attributes(&client).await;
        assert!(
            !custom.contains_key("CustB") && custom.contains_key("CustKw"),
            "{custom:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_upserts_its_search_attributes_and_memo() {
    with_worker(|client| async move {
        register(&client, &ALL_TYPES[..2]).await.unwrap();
        let workflow_id = id("tagger");
        let options = StartOptions::default();
        let handle = client
            .start(Tagger::run, &workflow_id, "stage-2".to_owned(), options)
            .await
            .unwrap();
        let query = format!("WorkflowId = '{workflow_id}' AND CustKw = 'stage-2'");
        assert_lists(&client, &query, &[&workflow_id]).await;
        let info = describe(&client, &workflow_id).await;
        let attributes = info.search_attributes.unwrap_or_default().indexed_fields;
        assert_eq!(payload_text(attributes.get("CustKw")), "\"stage-2\"");
        assert_eq!(type_metadata(attributes.get("CustKw")), "Keyword");
        assert_eq!(payload_text(attributes.get("CustInt")), "7");
        let memo = info.memo.unwrap_or_default().fields;
        assert_eq!(payload_text(memo.get("note")), "\"set by the workflow\"");
        assert!(!memo.contains_key("gone"), "{memo:?}");
        handle.signal(Tagger::finish, ()).await.unwrap();
        handle.result(WAIT).await.unwrap();
        let closed = format!("{query} AND ExecutionStatus = 'Completed'");
        assert_lists(&client, &closed, &[&workflow_id]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_attributes_registered_on_the_command_line() {
    const ARGS: &[&str] = &[
        "--search-attribute",
        "CustKw=Keyword",
        "--search-attribute",
        "CustTags=KeywordList",
    ];
    with_worker_on(ARGS, |client| async move {
        let custom = custom_attributes(&client).await;
        assert_eq!(
            custom.get("CustKw"),
            Some(&(IndexedValueType::Keyword as i32))
        );
        assert_eq!(
            custom.get("CustTags"),
            Some(&(IndexedValueType::KeywordList as i32))
        );
        let workflow_id = id("cli-attributes");
        start(
            &client,
            &workflow_id,
            "idle",
            &[("CustTags", "[\"x\"]")],
            &[],
        )
        .await
        .unwrap();
        let query = format!("WorkflowId = '{workflow_id}' AND CustTags = 'x'");
        assert_lists(&client, &query, &[&workflow_id]).await;
    })
    .await;
}
