//! Workload 3: a signal, a durable timer and a query. The workflow waits for the `release`
//! signal, then sleeps [`TIMER`]; the client signals right after the start and queries the
//! phase once before it asks for the result, so the latency includes the timer.
// The SDK macros generate undocumented, crate-visible marker items for each method.
#![allow(missing_docs, unreachable_pub)]

use std::time::Duration;

use serde::{Deserialize, Serialize};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult};

/// The durable timer the workflow sleeps after the signal.
pub(crate) const TIMER: Duration = Duration::from_millis(10);

/// Where the workflow is, as the `phase` query answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    #[default]
    AwaitingSignal,
    Sleeping,
}

#[workflow]
#[derive(Default)]
pub struct SignalTimer {
    released: bool,
    phase: Phase,
}

#[workflow_methods]
impl SignalTimer {
    #[run(name = "BenchSignalTimer")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: u64) -> WorkflowResult<u64> {
        ctx.wait_condition(|s: &Self| s.released).await?;
        ctx.state_mut(|s| s.phase = Phase::Sleeping);
        ctx.timer(TIMER).await;
        Ok(input)
    }

    #[signal(name = "release")]
    pub fn release(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _unit: ()) {
        self.released = true;
    }

    #[query(name = "phase")]
    pub fn phase(&self, _ctx: &WorkflowContextView) -> Phase {
        self.phase
    }
}
