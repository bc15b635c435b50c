//! The workloads: one workflow type each, the smallest code that exercises one path.
// The SDK macros generate undocumented, crate-visible marker items for each method.
#![allow(missing_docs, unreachable_pub)]

use std::time::Duration;

use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowResult};

pub struct BenchActivities;

#[activities]
impl BenchActivities {
    /// Returns its input.
    #[activity]
    pub async fn echo(_ctx: ActivityContext, input: u64) -> Result<u64, ActivityError> {
        Ok(input)
    }
}

fn activity_options() -> ActivityOptions {
    ActivityOptions::start_to_close_timeout(Duration::from_secs(30))
}

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

/// Registers every workload on a worker.
pub fn register(
    options: &mut temporalio_sdk::WorkerOptions,
) -> Result<(), temporalio_sdk::WorkflowRegistrationError> {
    options
        .register_workflow::<EchoWorkflow>()?
        .register_workflow::<OneActivity>()?
        .register_workflow::<TenActivities>()?
        .register_activities(BenchActivities);
    Ok(())
}

/// A workload the harness can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// 1: a workflow that returns its input.
    Echo,
    /// 2: one activity.
    OneActivity,
    /// 4: ten sequential activities.
    TenActivities,
}

impl Workload {
    pub fn parse(number: &str) -> Option<Self> {
        match number.trim() {
            "1" => Some(Self::Echo),
            "2" => Some(Self::OneActivity),
            "4" => Some(Self::TenActivities),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Echo => "1 echo",
            Self::OneActivity => "2 one activity",
            Self::TenActivities => "4 ten activities",
        }
    }
}
