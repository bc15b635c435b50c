//! Signal-with-start on a running workflow under each id conflict policy, sent as a raw
//! `SignalWithStartWorkflowExecutionRequest` (the facade always asks for `UseExisting`).

use temporalio_client::tonic;
use temporalio_common::protos::temporal::api::{
    common::v1::{Payload, Payloads, WorkflowType},
    enums::v1::WorkflowIdConflictPolicy,
    taskqueue::v1::TaskQueue,
    workflowservice::v1::SignalWithStartWorkflowExecutionRequest,
};
use workflow::{StartOptions, WorkflowClient};

use crate::{WAIT, id, with_worker, workflows::Accumulator};

fn json(value: i64) -> Option<Payloads> {
    Some(Payloads {
        payloads: vec![Payload {
            metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
            data: value.to_string().into_bytes(),
            ..Default::default()
        }],
    })
}

/// Signal-with-start of `Accumulator` (start value `start`, signal `add(amount)`).
async fn signal_with_start(
    client: &WorkflowClient,
    workflow_id: &str,
    start: i64,
    amount: i64,
    policy: WorkflowIdConflictPolicy,
) -> Result<(String, bool), tonic::Status> {
    let request = SignalWithStartWorkflowExecutionRequest {
        namespace: "default".into(),
        workflow_id: workflow_id.into(),
        workflow_type: Some(WorkflowType {
            name: "Accumulator".into(),
        }),
        task_queue: Some(TaskQueue {
            name: client.task_queue().into(),
            ..Default::default()
        }),
        input: json(start),
        identity: "behaviour-suite".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        signal_name: "add".into(),
        signal_input: json(amount),
        workflow_id_conflict_policy: policy as i32,
        ..Default::default()
    };
    let mut service = client.sdk_client().connection().workflow_service();
    let response = service
        .signal_with_start_workflow_execution(tonic::Request::new(request))
        .await?
        .into_inner();
    Ok((response.run_id, response.started))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_with_start_honours_the_conflict_policy() {
    with_worker(|client| async move {
        let workflow_id = id("sws-conflict");
        let first = client
            .start(Accumulator::run, &workflow_id, 1, StartOptions::default())
            .await
            .unwrap();
        let first_run = first.describe().await.unwrap().run_id;

        let refused =
            signal_with_start(&client, &workflow_id, 0, 10, WorkflowIdConflictPolicy::Fail)
                .await
                .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
        assert!(
            refused
                .message()
                .contains("is not supported for this operation"),
            "{refused:?}"
        );
        assert_eq!(first.query(Accumulator::total, ()).await.unwrap(), 1);

        // Unspecified and UseExisting signal the running run.
        for policy in [
            WorkflowIdConflictPolicy::Unspecified,
            WorkflowIdConflictPolicy::UseExisting,
        ] {
            let (run_id, started) = signal_with_start(&client, &workflow_id, 0, 2, policy)
                .await
                .unwrap();
            assert_eq!((run_id.as_str(), started), (first_run.as_str(), false));
        }
        assert_eq!(first.query(Accumulator::total, ()).await.unwrap(), 5);

        let (second_run, started) = signal_with_start(
            &client,
            &workflow_id,
            100,
            20,
            WorkflowIdConflictPolicy::TerminateExisting,
        )
        .await
        .unwrap();
        assert!(started, "TerminateExisting starts a new run");
        assert_ne!(second_run, first_run);
        let second = client.handle::<Accumulator>(&workflow_id);
        assert_eq!(second.describe().await.unwrap().run_id, second_run);
        assert_eq!(second.query(Accumulator::total, ()).await.unwrap(), 120);
        let listed = client
            .list(format!("WorkflowId = '{workflow_id}'"), 10)
            .await
            .unwrap();
        let statuses: Vec<_> = listed
            .iter()
            .map(|e| (e.run_id == first_run, e.status.as_str()))
            .collect();
        assert!(
            statuses.contains(&(true, "Terminated")),
            "the first run was terminated: {listed:?}"
        );
        second.signal(Accumulator::finish, ()).await.unwrap();
        assert_eq!(second.result(WAIT).await.unwrap(), 120);
    })
    .await;
}
