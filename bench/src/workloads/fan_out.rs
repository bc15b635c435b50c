//! Workload 6: one workflow starts [`FAN_OUT`] activities at once and joins them all.
// The SDK macros generate undocumented, crate-visible marker items for each method.
#![allow(missing_docs, unreachable_pub)]

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::workflows::join_all;
use temporalio_sdk::{WorkflowContext, WorkflowResult};

use super::activities::{BenchActivities, activity_options};

/// Activities per workflow.
pub(crate) const FAN_OUT: u64 = 100;

#[workflow]
#[derive(Default)]
pub struct FanOut;

#[workflow_methods]
impl FanOut {
    #[run(name = "BenchFanOut")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: u64) -> WorkflowResult<u64> {
        let calls = (0..FAN_OUT).map(|i| {
            ctx.execute_activity(
                BenchActivities::echo,
                input.wrapping_add(i),
                activity_options(),
            )
        });
        let mut sum = 0u64;
        for result in join_all(calls).await {
            sum = sum.wrapping_add(result?);
        }
        Ok(sum)
    }
}
