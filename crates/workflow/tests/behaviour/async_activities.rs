//! Activities completed outside a worker: the worker's activity says it will complete
//! asynchronously, then a client heartbeats, completes, fails or cancels it, by task token
//! or by workflow and activity id.

use std::time::Duration;

use temporalio_client::{ActivityIdentifier, AsyncActivityHandle, Client, RpcOptions};
use temporalio_common::{HasWorkflowDefinition, protos::TaskToken};
use workflow::{Handle, StartOptions, WorkflowClient};

use super::workflows::{AwaitsAsync, parked_token};
use super::{WAIT, id, with_worker};

/// Starts `AwaitsAsync` and waits until its activity has parked; returns the handle and the
/// activity's task token.
async fn park<W>(client: &WorkflowClient, workflow: W) -> (Handle<W>, String, Vec<u8>)
where
    W: HasWorkflowDefinition<Input = String>,
{
    let workflow_id = id("async");
    let handle = client
        .start(
            workflow,
            &workflow_id,
            workflow_id.clone(),
            StartOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("start: {e}"));
    let mut token = None;
    workflow_testkit::wait_until("the activity to park", Duration::from_secs(20), || {
        token = parked_token(&workflow_id);
        std::future::ready(token.is_some())
    })
    .await;
    (handle, workflow_id, token.unwrap_or_default())
}

fn activity(
    client: &WorkflowClient,
    identifier: ActivityIdentifier,
) -> AsyncActivityHandle<Client> {
    AsyncActivityHandle::new(client.sdk_client().clone(), identifier)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activities_complete_outside_the_worker() {
    with_worker(|client| async move {
        // By task token: heartbeat, then complete.
        let (handle, _, token) = park(&client, AwaitsAsync::run).await;
        let by_token = activity(
            &client,
            ActivityIdentifier::TaskToken(TaskToken::from(token)),
        );
        let beat = by_token
            .heartbeat(Some("halfway".to_owned()), RpcOptions::default())
            .await
            .unwrap();
        assert!(!beat.cancel_requested);
        by_token
            .complete(Some("done by token".to_owned()), RpcOptions::default())
            .await
            .unwrap();
        assert_eq!(
            handle.result(WAIT).await.unwrap(),
            "completed: done by token"
        );
        // Completing it again finds nothing.
        let again = by_token
            .complete(Some("twice".to_owned()), RpcOptions::default())
            .await
            .unwrap_err();
        assert!(again.to_string().contains("not found"), "{again}");

        // By workflow and activity id: heartbeat, then complete.
        let (handle, workflow_id, _) = park(&client, AwaitsAsync::run).await;
        let by_id = activity(
            &client,
            ActivityIdentifier::by_id_workflow(&workflow_id, "", "park"),
        );
        by_id
            .heartbeat(Some(1u32), RpcOptions::default())
            .await
            .unwrap();
        by_id
            .complete(Some("done by id".to_owned()), RpcOptions::default())
            .await
            .unwrap();
        assert_eq!(handle.result(WAIT).await.unwrap(), "completed: done by id");

        // Failed by id.
        let (handle, workflow_id, _) = park(&client, AwaitsAsync::run).await;
        activity(
            &client,
            ActivityIdentifier::by_id_workflow(&workflow_id, "", "park"),
        )
        .fail(
            temporalio_sdk::ApplicationFailure::new("refused outside"),
            None::<()>,
            RpcOptions::default(),
        )
        .await
        .unwrap();
        let outcome = handle.result(WAIT).await.unwrap();
        assert!(outcome.starts_with("failed: "), "{outcome}");

        // Reporting it cancelled when the workflow did not ask is refused; it stays open.
        let (handle, workflow_id, _) = park(&client, AwaitsAsync::run).await;
        let by_id = activity(
            &client,
            ActivityIdentifier::by_id_workflow(&workflow_id, "", "park"),
        );
        let refused = by_id
            .report_cancelation(Some("gave up".to_owned()), RpcOptions::default())
            .await
            .unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("without activity being request canceled first"),
            "{refused}"
        );
        by_id
            .complete(Some("still open".to_owned()), RpcOptions::default())
            .await
            .unwrap();
        assert_eq!(handle.result(WAIT).await.unwrap(), "completed: still open");

        // An unknown activity id is not found.
        let missing = activity(
            &client,
            ActivityIdentifier::by_id_workflow(&workflow_id, "", "nope"),
        )
        .complete(Some(()), RpcOptions::default())
        .await
        .unwrap_err();
        assert!(
            missing.to_string().to_lowercase().contains("not found"),
            "{missing}"
        );
    })
    .await;
}
