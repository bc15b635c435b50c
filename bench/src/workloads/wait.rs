//! A workflow that waits for the `release` signal and then returns: the open runs of the
//! growth table, each waiting on a person.
// The SDK macros generate undocumented, crate-visible marker items for each method.
#![allow(missing_docs, unreachable_pub)]

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{SyncWorkflowContext, WorkflowContext, WorkflowResult};

/// Waits for `release`, then returns its input.
#[workflow]
#[derive(Default)]
pub struct WaitSignal {
    released: bool,
}

#[workflow_methods]
impl WaitSignal {
    #[run(name = "BenchWaitSignal")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: u64) -> WorkflowResult<u64> {
        ctx.wait_condition(|s: &Self| s.released).await?;
        Ok(input)
    }

    #[signal(name = "release")]
    pub fn release(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _unit: ()) {
        self.released = true;
    }
}
