//! The workflows and activities the scenarios run.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use temporalio_common::RetryPolicy;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::{
    ActivityExecutionError, ActivityOptions, SyncWorkflowContext, WorkflowCancellationToken,
    WorkflowContext, WorkflowContextView, WorkflowResult,
    activities::{ActivityContext, ActivityError},
};

#[workflow]
#[derive(Default)]
pub struct Echo;

#[workflow_methods]
impl Echo {
    #[run]
    pub async fn run(_ctx: &mut WorkflowContext<Self>, input: String) -> WorkflowResult<String> {
        Ok(input)
    }
}

pub struct Greetings;

#[activities]
impl Greetings {
    #[activity]
    pub async fn greet(_ctx: ActivityContext, name: String) -> Result<String, ActivityError> {
        Ok(format!("Hello, {name}!"))
    }
}

#[workflow]
#[derive(Default)]
pub struct Greet;

#[workflow_methods]
impl Greet {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, name: String) -> WorkflowResult<String> {
        let greeting = ctx
            .execute_activity(
                Greetings::greet,
                name,
                ActivityOptions::start_to_close_timeout(Duration::from_secs(10)),
            )
            .await?;
        Ok(greeting)
    }
}

/// Fails its first two attempts.
#[derive(Default)]
pub struct Flaky {
    pub attempts: Arc<AtomicUsize>,
}

#[activities]
impl Flaky {
    #[activity]
    pub async fn sometimes(
        self: Arc<Self>,
        _ctx: ActivityContext,
        _input: (),
    ) -> Result<usize, ActivityError> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        if attempt < 3 {
            return Err(anyhow::anyhow!("attempt {attempt} fails").into());
        }
        Ok(attempt)
    }
}

#[workflow]
#[derive(Default)]
pub struct Retrying;

#[workflow_methods]
impl Retrying {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _input: ()) -> WorkflowResult<usize> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_millis(100))
                    .build(),
            )
            .build();
        Ok(ctx.execute_activity(Flaky::sometimes, (), options).await?)
    }
}

#[workflow]
#[derive(Default)]
pub struct Sleeper;

#[workflow_methods]
impl Sleeper {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, millis: u64) -> WorkflowResult<String> {
        ctx.timer(Duration::from_millis(millis)).await;
        Ok("woke up".to_owned())
    }
}

#[workflow]
#[derive(Default)]
pub struct Counter {
    count: i32,
}

#[workflow_methods]
impl Counter {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, target: i32) -> WorkflowResult<i32> {
        ctx.wait_condition(|s| s.count >= target).await?;
        Ok(ctx.state(|s| s.count))
    }

    #[signal]
    pub fn add(&mut self, _ctx: &mut SyncWorkflowContext<Self>, amount: i32) {
        self.count += amount;
    }

    #[query]
    pub fn count(&self, _ctx: &WorkflowContextView) -> i32 {
        self.count
    }
}

pub struct Patient;

#[activities]
impl Patient {
    /// Heartbeats until canceled.
    #[activity]
    pub async fn wait_for_cancel(
        ctx: ActivityContext,
        _input: (),
    ) -> Result<String, ActivityError> {
        loop {
            if ctx.is_cancelled() {
                return Err(ActivityError::cancelled());
            }
            ctx.record_heartbeat(()).await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    #[activity]
    pub async fn clean_up(_ctx: ActivityContext, _input: ()) -> Result<String, ActivityError> {
        Ok("cleaned up".to_owned())
    }
}

#[workflow]
#[derive(Default)]
pub struct Cancellable;

#[workflow_methods]
impl Cancellable {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _input: ()) -> WorkflowResult<String> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(60))
            .heartbeat_timeout(Duration::from_secs(2))
            .build();
        match ctx
            .execute_activity(Patient::wait_for_cancel, (), options)
            .await
        {
            Ok(value) => Ok(value),
            Err(ActivityExecutionError::Cancelled(_)) => {
                let cleanup = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
                    .cancellation_token(WorkflowCancellationToken::new())
                    .build();
                Ok(ctx.execute_activity(Patient::clean_up, (), cleanup).await?)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Starts `count` one-second-apart markers of history by running short timers.
#[workflow]
#[derive(Default)]
pub struct ManyTimers;

#[workflow_methods]
impl ManyTimers {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, count: u32) -> WorkflowResult<u32> {
        for _ in 0..count {
            ctx.timer(Duration::from_millis(1)).await;
        }
        Ok(count)
    }
}
