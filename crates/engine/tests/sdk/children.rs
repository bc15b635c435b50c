//! Child workflows and reaching other workflows: results, start failures, cancelling a
//! child, parent-close policies, external signals.

use std::time::Duration;

use temporalio_client::{
    Client, WorkflowDescribeOptions, WorkflowExecutionStatus, WorkflowGetResultOptions,
    WorkflowTerminateOptions,
};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ChildWorkflowCancellationType, ChildWorkflowExecutionError, ChildWorkflowOptions,
    ChildWorkflowStartError, ParentClosePolicy, SignalWorkflowOptions, WorkerOptions,
    WorkflowContext, WorkflowResult, WorkflowTermination,
};

use crate::{
    harness::{self, TestEngine},
    workflows::{Counter, Echo},
};

/// Runs `Echo` as a child and returns its answer.
#[workflow]
#[derive(Default)]
pub struct EchoParent;

#[workflow_methods]
impl EchoParent {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, child_id: String) -> WorkflowResult<String> {
        let child = ctx
            .start_child_workflow(
                Echo::run,
                "hello".to_owned(),
                ChildWorkflowOptions::workflow_id(child_id),
            )
            .await;
        match child {
            Ok(child) => Ok(format!("child said {}", child.result().await?)),
            Err(ChildWorkflowStartError::StartFailed { cause, .. }) => {
                Ok(format!("start failed: {cause:?}"))
            }
            Err(e) => Ok(format!("other start error: {e}")),
        }
    }
}

/// Waits an hour unless cancelled.
#[workflow]
#[derive(Default)]
pub struct Napper;

#[workflow_methods]
impl Napper {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _input: ()) -> WorkflowResult<()> {
        ctx.timer(Duration::from_secs(3600)).await;
        if ctx.cancellation_token().is_cancelled() {
            return Err(WorkflowTermination::cancelled());
        }
        Ok(())
    }
}

/// Starts a `Napper` child, cancels it and reports how it ended.
#[workflow]
#[derive(Default)]
pub struct CancellingParent;

#[workflow_methods]
impl CancellingParent {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, child_id: String) -> WorkflowResult<String> {
        let options = ChildWorkflowOptions::builder()
            .workflow_id(child_id)
            .cancel_type(ChildWorkflowCancellationType::WaitCancellationCompleted)
            .build();
        let child = ctx.start_child_workflow(Napper::run, (), options).await?;
        ctx.timer(Duration::from_millis(200)).await;
        child.cancel("changed my mind".to_owned());
        match child.result().await {
            Ok(()) => Ok("completed".to_owned()),
            Err(ChildWorkflowExecutionError::Failed(e)) => Ok(format!("child ended: {e}")),
            Err(e) => Ok(format!("other: {e}")),
        }
    }
}

/// Starts one `Napper` child per parent-close policy (ids `<prefix>-terminate`, `-cancel`,
/// `-abandon`), then completes and leaves them to their policies.
#[workflow]
#[derive(Default)]
pub struct LeavingParent;

#[workflow_methods]
impl LeavingParent {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, prefix: String) -> WorkflowResult<u32> {
        let policies = [
            ("terminate", ParentClosePolicy::Terminate),
            ("cancel", ParentClosePolicy::RequestCancel),
            ("abandon", ParentClosePolicy::Abandon),
        ];
        let mut started = 0;
        for (suffix, policy) in policies {
            let options = ChildWorkflowOptions::builder()
                .workflow_id(format!("{prefix}-{suffix}"))
                .parent_close_policy(policy)
                .build();
            ctx.start_child_workflow(Napper::run, (), options).await?;
            started += 1;
        }
        Ok(started)
    }
}

/// Signals `Counter::add` to the workflow `target`, then to a workflow that does not exist;
/// returns whether each signal was delivered.
#[workflow]
#[derive(Default)]
pub struct Signaller;

#[workflow_methods]
impl Signaller {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        target: String,
    ) -> WorkflowResult<(bool, bool)> {
        let first = ctx
            .external_workflow(target, None)
            .signal(Counter::add, 5, SignalWorkflowOptions::default())
            .await;
        let second = ctx
            .external_workflow("no-such-workflow", None)
            .signal(Counter::add, 5, SignalWorkflowOptions::default())
            .await;
        Ok((first.is_ok(), second.is_ok()))
    }
}

fn worker_options(queue: &str) -> temporalio_sdk::WorkerOptions {
    WorkerOptions::new(queue)
        .register_workflow::<Echo>()
        .and_then(|o| o.register_workflow::<EchoParent>())
        .and_then(|o| o.register_workflow::<Napper>())
        .and_then(|o| o.register_workflow::<CancellingParent>())
        .and_then(|o| o.register_workflow::<LeavingParent>())
        .and_then(|o| o.register_workflow::<Signaller>())
        .and_then(|o| o.register_workflow::<Counter>())
        .unwrap_or_else(|e| panic!("register: {e}"))
        .build()
}

async fn status_of(client: &Client, workflow_id: &str) -> WorkflowExecutionStatus {
    client
        .get_workflow_handle::<Napper>(workflow_id)
        .describe(WorkflowDescribeOptions::default())
        .await
        .unwrap_or_else(|e| panic!("describe {workflow_id}: {e}"))
        .status()
}

#[tokio::test]
async fn child_result_reaches_the_parent_and_a_taken_id_fails_the_start() {
    let t = TestEngine::start("children").await;
    let mut worker = t.worker_with(worker_options(&t.queue));
    harness::with_worker(&mut worker, Duration::from_secs(60), async {
        let parent = t
            .start_workflow(EchoParent::run, "kid".to_owned(), "parent-1")
            .await;
        let result = parent
            .get_result(WorkflowGetResultOptions::default())
            .await
            .unwrap_or_else(|e| panic!("result: {e}"));
        assert_eq!(result, "child said hello");
        let child = t
            .client
            .get_workflow_handle::<Echo>("kid")
            .describe(WorkflowDescribeOptions::default())
            .await
            .unwrap_or_else(|e| panic!("describe child: {e}"));
        assert_eq!(child.status(), WorkflowExecutionStatus::Completed);
        assert_eq!(child.parent_id(), Some("parent-1"));
        assert_eq!(child.parent_run_id(), parent.run_id());

        let squatter = t.start_workflow(Counter::run, 100, "taken").await;
        let refused = t
            .execute(EchoParent::run, "taken".to_owned(), "parent-2")
            .await;
        assert_eq!(refused, "start failed: WorkflowAlreadyExists");
        squatter
            .terminate(WorkflowTerminateOptions::default())
            .await
            .unwrap_or_else(|e| panic!("terminate: {e}"));
    })
    .await;
    t.shutdown().await;
}

#[tokio::test]
async fn a_parent_cancels_its_child() {
    let t = TestEngine::start("cancel-child").await;
    let mut worker = t.worker_with(worker_options(&t.queue));
    harness::with_worker(&mut worker, Duration::from_secs(60), async {
        let result = t
            .execute(CancellingParent::run, "napper-1".to_owned(), "canceller")
            .await;
        assert!(result.starts_with("child ended"), "{result}");
        assert_eq!(
            status_of(&t.client, "napper-1").await,
            WorkflowExecutionStatus::Canceled
        );
    })
    .await;
    t.shutdown().await;
}

#[tokio::test]
async fn parent_close_policies_apply_when_the_parent_completes() {
    let t = TestEngine::start("policies").await;
    let mut worker = t.worker_with(worker_options(&t.queue));
    harness::with_worker(&mut worker, Duration::from_secs(60), async {
        let started = t
            .execute(LeavingParent::run, "left".to_owned(), "leaver")
            .await;
        assert_eq!(started, 3);
        assert_eq!(
            status_of(&t.client, "left-terminate").await,
            WorkflowExecutionStatus::Terminated
        );
        harness::eventually(Duration::from_secs(20), || async {
            status_of(&t.client, "left-cancel").await == WorkflowExecutionStatus::Canceled
        })
        .await;
        assert_eq!(
            status_of(&t.client, "left-abandon").await,
            WorkflowExecutionStatus::Running
        );
        t.client
            .get_workflow_handle::<Napper>("left-abandon")
            .terminate(WorkflowTerminateOptions::default())
            .await
            .unwrap_or_else(|e| panic!("terminate: {e}"));
    })
    .await;
    t.shutdown().await;
}

#[tokio::test]
async fn a_workflow_signals_another_and_learns_of_a_missing_one() {
    let t = TestEngine::start("external").await;
    let mut worker = t.worker_with(worker_options(&t.queue));
    harness::with_worker(&mut worker, Duration::from_secs(60), async {
        let counter = t.start_workflow(Counter::run, 5, "signalled").await;
        let delivered = t
            .execute(Signaller::run, "signalled".to_owned(), "signaller")
            .await;
        assert_eq!(delivered, (true, false));
        let counted = counter
            .get_result(WorkflowGetResultOptions::default())
            .await
            .unwrap_or_else(|e| panic!("result: {e}"));
        assert_eq!(counted, 5);
    })
    .await;
    t.shutdown().await;
}
