//! Workloads 1, 2 and 4: a workflow that returns its input, one activity, ten sequential
//! activities.
// The SDK macros generate undocumented, crate-visible marker items for each method.
#![allow(missing_docs, unreachable_pub)]

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

use super::activities::{BenchActivities, activity_options};

/// Workload 1: a workflow that returns its input.
#[workflow]
#[derive(Default)]
pub struct EchoWorkflow;

#[workflow_methods]
impl EchoWorkflow {
    #[run(name = "BenchEcho")]
    pub async fn run(_ctx: &mut WorkflowContext<Self>, input: u64) -> WorkflowResult<u64> {
        Ok(input)
    }
}

/// Workload 2: one activity.
#[workflow]
#[derive(Default)]
pub struct OneActivity;

#[workflow_methods]
impl OneActivity {
    #[run(name = "BenchOneActivity")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: u64) -> WorkflowResult<u64> {
        Ok(ctx
            .execute_activity(BenchActivities::echo, input, activity_options())
            .await?)
    }
}

/// Workload 4: ten sequential activities.
#[workflow]
#[derive(Default)]
pub struct TenActivities;

#[workflow_methods]
impl TenActivities {
    #[run(name = "BenchTenActivities")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: u64) -> WorkflowResult<u64> {
        let mut value = input;
        for _ in 0..10 {
            value = ctx
                .execute_activity(BenchActivities::echo, value, activity_options())
                .await?;
        }
        Ok(value)
    }
}
