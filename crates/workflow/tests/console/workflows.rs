//! Workflows that leave work pending, for the console to show: an activity between failed
//! attempts, and a child that waits.
// The SDK macros generate undocumented, crate-visible marker items for each method.
#![allow(missing_docs, unreachable_pub)]

use std::time::Duration;

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ActivityOptions, ChildWorkflowOptions, WorkflowContext, WorkflowResult};
use temporalio_workflow::common::RetryPolicy;

use crate::suite::{Patient, SuiteActivities};

/// Calls `flaky`, which never succeeds here, with two attempts 1.5 s apart; so it fails.
#[workflow]
#[derive(Default)]
pub struct Stubborn;

#[workflow_methods]
impl Stubborn {
    #[run(name = "Stubborn")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _input: ()) -> WorkflowResult<u32> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(5))
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_millis(1_500))
                    .backoff_coefficient(1.0)
                    .maximum_attempts(2)
                    .build(),
            )
            .build();
        Ok(ctx
            .execute_activity(SuiteActivities::flaky, 100u32, options)
            .await?)
    }
}

/// Starts a `Patient` child `<id>-child` and waits for it.
#[workflow]
#[derive(Default)]
pub struct Guardian;

#[workflow_methods]
impl Guardian {
    #[run(name = "Guardian")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _input: ()) -> WorkflowResult<()> {
        let child_id = format!("{}-child", ctx.workflow_id());
        let child = ctx
            .start_child_workflow(
                Patient::run,
                (),
                ChildWorkflowOptions::workflow_id(child_id),
            )
            .await?;
        child.result().await?;
        Ok(())
    }
}

/// Registers the behaviour suite's workflows and these.
pub fn register(
    options: &mut temporalio_sdk::WorkerOptions,
) -> Result<(), temporalio_sdk::WorkflowRegistrationError> {
    crate::suite::register(options)?;
    options
        .register_workflow::<Stubborn>()?
        .register_workflow::<Guardian>()?;
    Ok(())
}
