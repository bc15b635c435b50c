//! Workflow updates: accepted and completed, rejected by a validator, answered later by an
//! async handler, de-duplicated by update id, refused on a closed workflow.

use std::time::Duration;

use temporalio_client::{
    RpcOptions, WorkflowExecuteUpdateOptions, WorkflowGetResultOptions, WorkflowQueryOptions,
    WorkflowSignalOptions, WorkflowStartUpdateOptions, errors::WorkflowUpdateError,
};
use temporalio_common::protos::temporal::api::{
    common::v1::WorkflowExecution, enums::v1::EventType,
    workflowservice::v1::GetWorkflowExecutionHistoryRequest,
};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    SyncWorkflowContext, WorkerOptions, WorkflowContext, WorkflowContextView, WorkflowResult,
};

use crate::harness::{self, TestEngine};

/// Holds a number that updates change, until signalled to finish.
#[workflow]
#[derive(Default)]
pub struct Register {
    value: i64,
    changes: u32,
    done: bool,
}

#[workflow_methods]
impl Register {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _input: ()) -> WorkflowResult<(i64, u32)> {
        ctx.wait_condition(|s| s.done).await?;
        Ok(ctx.state(|s| (s.value, s.changes)))
    }

    #[signal]
    pub fn finish(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _input: ()) {
        self.done = true;
    }

    #[query]
    pub fn value(&self, _ctx: &WorkflowContextView) -> i64 {
        self.value
    }

    #[update_validator(set)]
    fn validate_set(
        &self,
        _ctx: &WorkflowContextView,
        value: &i64,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if *value < 0 {
            return Err("negative values are not allowed".into());
        }
        Ok(())
    }

    /// Sets the value; returns the previous one.
    #[update]
    pub fn set(&mut self, _ctx: &mut SyncWorkflowContext<Self>, value: i64) -> i64 {
        self.changes += 1;
        std::mem::replace(&mut self.value, value)
    }

    /// Waits `millis` on a durable timer, then adds one; returns the new value.
    #[update]
    pub async fn slow_increment(ctx: &mut WorkflowContext<Self>, millis: u64) -> i64 {
        ctx.timer(Duration::from_millis(millis)).await;
        ctx.state_mut(|s| {
            s.changes += 1;
            s.value += 1;
            s.value
        })
    }
}

fn options(queue: &str) -> WorkerOptions {
    WorkerOptions::new(queue)
        .register_workflow::<Register>()
        .unwrap_or_else(|e| panic!("register: {e}"))
        .build()
}

#[tokio::test]
async fn updates_are_accepted_completed_rejected_and_deduplicated() {
    let t = TestEngine::start("updates").await;
    let mut worker = t.worker_with(options(&t.queue));
    let (result, run_id) = harness::with_worker(&mut worker, Duration::from_secs(60), async {
        let handle = t.start_workflow(Register::run, (), "register-1").await;
        let with_id = || {
            WorkflowExecuteUpdateOptions::builder()
                .update_id("set-7".to_owned())
                .build()
        };
        let previous = handle
            .execute_update(Register::set, 7, with_id())
            .await
            .unwrap_or_else(|e| panic!("update: {e}"));
        assert_eq!(previous, 0);
        let again = handle
            .execute_update(Register::set, 7, with_id())
            .await
            .unwrap_or_else(|e| panic!("repeated update: {e}"));
        assert_eq!(
            again, 0,
            "the same update id answers with the first outcome"
        );

        let rejected = handle
            .execute_update(Register::set, -1, WorkflowExecuteUpdateOptions::default())
            .await;
        match rejected {
            Err(WorkflowUpdateError::Failed(failure)) => {
                assert!(failure.message.contains("negative"), "{failure:?}");
            }
            other => panic!("expected a rejection, got {other:?}"),
        }

        let slow = handle
            .start_update(
                Register::slow_increment,
                300,
                WorkflowStartUpdateOptions::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("start update: {e}"));
        let value_while_running = handle
            .query(Register::value, (), WorkflowQueryOptions::default())
            .await
            .unwrap_or_else(|e| panic!("query: {e}"));
        assert_eq!(value_while_running, 7, "accepted, not yet completed");
        let incremented = slow
            .get_result(RpcOptions::default())
            .await
            .unwrap_or_else(|e| panic!("update result: {e}"));
        assert_eq!(incremented, 8);

        handle
            .signal(Register::finish, (), WorkflowSignalOptions::default())
            .await
            .unwrap_or_else(|e| panic!("signal: {e}"));
        let result = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .unwrap_or_else(|e| panic!("result: {e}"));
        let closed = handle
            .execute_update(Register::set, 1, WorkflowExecuteUpdateOptions::default())
            .await;
        assert!(
            matches!(closed, Err(WorkflowUpdateError::NotFound(_))),
            "an update on a closed workflow: {closed:?}"
        );
        (result, handle.run_id().unwrap_or_default().to_owned())
    })
    .await;
    assert_eq!(
        result,
        (8, 2),
        "one set (the repeat and the rejection did not run)"
    );

    let mut service = t.client.connection().workflow_service();
    let history = service
        .get_workflow_execution_history(tonic::Request::new(GetWorkflowExecutionHistoryRequest {
            namespace: "default".into(),
            execution: Some(WorkflowExecution {
                workflow_id: "register-1".into(),
                run_id,
            }),
            ..Default::default()
        }))
        .await
        .unwrap_or_else(|e| panic!("history: {e}"))
        .into_inner()
        .history
        .unwrap_or_default();
    let count = |kind: EventType| {
        history
            .events
            .iter()
            .filter(|e| e.event_type == kind as i32)
            .count()
    };
    assert_eq!(count(EventType::WorkflowExecutionUpdateAccepted), 2);
    assert_eq!(count(EventType::WorkflowExecutionUpdateCompleted), 2);
    t.shutdown().await;
}
