//! Workflows and activities that exercise one Temporal feature each.
// The SDK macros generate undocumented, crate-visible marker items for each method.
#![allow(missing_docs, unreachable_pub)]

use std::time::Duration;

use temporalio_common::{MemoValue, search_attributes::SearchAttributeKey};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{
    ActivityExecutionError, ActivityOptions, ChildWorkflowOptions, ContinueAsNewOptions,
    ParentClosePolicy, SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult,
    WorkflowTermination,
};
use temporalio_workflow::common::RetryPolicy;

pub struct SuiteActivities;

#[activities]
impl SuiteActivities {
    /// Fails until attempt `succeed_on`, then returns the attempt number.
    #[activity]
    pub async fn flaky(ctx: ActivityContext, succeed_on: u32) -> Result<u32, ActivityError> {
        let attempt = ctx.info().attempt;
        if attempt < succeed_on {
            return Err(anyhow_like(format!("attempt {attempt} fails on purpose")));
        }
        Ok(attempt)
    }

    /// Leaves its completion to a client (async completion): hands its task token over
    /// under `key`.
    #[activity]
    pub async fn parked(ctx: ActivityContext, key: String) -> Result<String, ActivityError> {
        if let Ok(mut parked) = PARKED.lock() {
            parked.push((key, ctx.info().task_token.clone()));
        }
        Err(ActivityError::WillCompleteAsync)
    }

    /// Sleeps for `millis`, longer than its start-to-close timeout allows.
    #[activity]
    pub async fn sleepy(_ctx: ActivityContext, millis: u64) -> Result<(), ActivityError> {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        Ok(())
    }

    /// Heartbeats steps 0..10 with the step as details. The first attempt stops heartbeating
    /// after step 3 (as if stuck), so the heartbeat timeout fires; the retry resumes from the
    /// last recorded details. Returns (attempt, step it resumed from).
    #[activity]
    pub async fn resumable(ctx: ActivityContext, _input: ()) -> Result<(u32, u32), ActivityError> {
        let resumed_from: u32 = ctx.heartbeat_details().deserialize()?.unwrap_or(0);
        let attempt = ctx.info().attempt;
        for step in resumed_from..10 {
            ctx.record_heartbeat(step).await?;
            if attempt == 1 && step == 3 {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok((attempt, resumed_from))
    }
}

/// Task tokens of parked activities, by the key their workflow passed them.
pub static PARKED: std::sync::Mutex<Vec<(String, Vec<u8>)>> = std::sync::Mutex::new(Vec::new());

/// The token `parked` stored for `key`, once it has.
pub fn parked_token(key: &str) -> Option<Vec<u8>> {
    PARKED
        .lock()
        .ok()?
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, token)| token.clone())
}

fn anyhow_like(message: String) -> ActivityError {
    ActivityError::application(temporalio_sdk::ApplicationFailure::new(message))
}

/// Returns its input.
#[workflow]
#[derive(Default)]
pub struct Echo;

#[workflow_methods]
impl Echo {
    #[run(name = "Echo")]
    pub async fn run(_ctx: &mut WorkflowContext<Self>, input: String) -> WorkflowResult<String> {
        Ok(input)
    }
}

/// Sums signalled numbers until told to finish; answers queries and updates meanwhile.
#[workflow]
#[derive(Default)]
pub struct Accumulator {
    total: i64,
    done: bool,
}

#[workflow_methods]
impl Accumulator {
    #[run(name = "Accumulator")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, start: i64) -> WorkflowResult<i64> {
        ctx.state_mut(|s| s.total += start);
        ctx.wait_condition(|s: &Self| s.done).await?;
        Ok(ctx.state(|s| s.total))
    }

    #[signal(name = "add")]
    pub fn add(&mut self, _ctx: &mut SyncWorkflowContext<Self>, amount: i64) {
        self.total += amount;
    }

    #[signal(name = "finish")]
    pub fn finish(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _unit: ()) {
        self.done = true;
    }

    #[query(name = "total")]
    pub fn total(&self, _ctx: &WorkflowContextView) -> i64 {
        self.total
    }

    #[update_validator(set)]
    fn validate_set(
        &self,
        _ctx: &WorkflowContextView,
        value: &i64,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if *value < 0 {
            return Err("total must not be negative".into());
        }
        Ok(())
    }

    /// Sets the total; returns the previous one.
    #[update(name = "set")]
    pub fn set(&mut self, _ctx: &mut SyncWorkflowContext<Self>, value: i64) -> i64 {
        std::mem::replace(&mut self.total, value)
    }
}

/// Sleeps on a durable timer, then returns how long the workflow clock moved (ms).
#[workflow]
#[derive(Default)]
pub struct Sleeper;

#[workflow_methods]
impl Sleeper {
    #[run(name = "Sleeper")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, millis: u64) -> WorkflowResult<u64> {
        let before = ctx.workflow_time();
        ctx.timer(Duration::from_millis(millis)).await;
        let after = ctx.workflow_time();
        let moved = match (before, after) {
            (Some(b), Some(a)) => a
                .duration_since(b)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            _ => 0,
        };
        Ok(moved)
    }
}

/// Calls `flaky` with server-side retries; returns the attempt that succeeded.
#[workflow]
#[derive(Default)]
pub struct Retrier;

#[workflow_methods]
impl Retrier {
    #[run(name = "Retrier")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, succeed_on: u32) -> WorkflowResult<u32> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(5))
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_millis(100))
                    .backoff_coefficient(1.0)
                    .maximum_attempts(10)
                    .build(),
            )
            .build();
        Ok(ctx
            .execute_activity(SuiteActivities::flaky, succeed_on, options)
            .await?)
    }
}

/// Runs `sleepy` past its start-to-close timeout for two attempts; returns how the activity
/// failed.
#[workflow]
#[derive(Default)]
pub struct TimesOut;

#[workflow_methods]
impl TimesOut {
    #[run(name = "TimesOut")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _input: ()) -> WorkflowResult<String> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_millis(500))
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_millis(100))
                    .maximum_attempts(2)
                    .build(),
            )
            .build();
        match ctx
            .execute_activity(SuiteActivities::sleepy, 5_000u64, options)
            .await
        {
            Ok(()) => Ok("completed".to_owned()),
            Err(ActivityExecutionError::Failed(e)) => Ok(match e.as_timeout() {
                Some(timeout) => format!("timed out: {:?}", timeout.timeout_type()),
                None => format!("failed: {}", e.failure().message),
            }),
            Err(other) => Ok(format!("other: {other}")),
        }
    }
}

/// Runs `resumable` with a heartbeat timeout; returns (attempt, resumed_from).
#[workflow]
#[derive(Default)]
pub struct Heartbeater;

#[workflow_methods]
impl Heartbeater {
    #[run(name = "Heartbeater")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _input: ()) -> WorkflowResult<(u32, u32)> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(60))
            .heartbeat_timeout(Duration::from_secs(1))
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_millis(100))
                    .maximum_attempts(3)
                    .build(),
            )
            .build();
        Ok(ctx
            .execute_activity(SuiteActivities::resumable, (), options)
            .await?)
    }
}

/// Starts `Echo` as a child and returns its result, prefixed.
#[workflow]
#[derive(Default)]
pub struct Parent;

#[workflow_methods]
impl Parent {
    #[run(name = "Parent")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: String) -> WorkflowResult<String> {
        let child_id = format!("{}-child", ctx.workflow_id());
        let child = ctx
            .start_child_workflow(
                Echo::run,
                input,
                ChildWorkflowOptions::workflow_id(child_id),
            )
            .await?;
        let out = child.result().await?;
        Ok(format!("child said {out}"))
    }
}

/// Starts three `Patient` children, `<id>-abandon`, `<id>-cancel` and `<id>-terminate`, one
/// per parent-close policy, then completes and leaves them to their policies.
#[workflow]
#[derive(Default)]
pub struct Leaver;

#[workflow_methods]
impl Leaver {
    #[run(name = "Leaver")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _input: ()) -> WorkflowResult<u32> {
        let policies = [
            ("abandon", ParentClosePolicy::Abandon),
            ("cancel", ParentClosePolicy::RequestCancel),
            ("terminate", ParentClosePolicy::Terminate),
        ];
        let mut started = 0;
        for (suffix, policy) in policies {
            let options = ChildWorkflowOptions::builder()
                .workflow_id(format!("{}-{suffix}", ctx.workflow_id()))
                .parent_close_policy(policy)
                .build();
            ctx.start_child_workflow(Patient::run, (), options).await?;
            started += 1;
        }
        Ok(started)
    }
}

/// Continues as new until the counter reaches 3, then returns it.
#[workflow]
#[derive(Default)]
pub struct Counter;

#[workflow_methods]
impl Counter {
    #[run(name = "Counter")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, n: u32) -> WorkflowResult<u32> {
        if n < 3 {
            ctx.continue_as_new(n + 1, ContinueAsNewOptions::default())?;
        }
        Ok(n)
    }
}

/// Waits on a long timer; on cancellation, ends cancelled.
#[workflow]
#[derive(Default)]
pub struct Patient;

#[workflow_methods]
impl Patient {
    #[run(name = "Patient")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _input: ()) -> WorkflowResult<()> {
        ctx.timer(Duration::from_secs(3600)).await;
        if ctx.cancellation_token().is_cancelled() {
            return Err(WorkflowTermination::cancelled());
        }
        Ok(())
    }
}

/// Registers every suite workflow and activity on a worker.
/// The custom search attributes the visibility tests register.
pub const STAGE: SearchAttributeKey<String> = SearchAttributeKey::keyword("CustKw");
pub const COUNT: SearchAttributeKey<i64> = SearchAttributeKey::int("CustInt");

/// Sets its stage and count as search attributes, notes itself in its memo, then waits to
/// be told to finish. (The SDK's `value_unset` sends a payload without an encoding, which
/// the real server refuses; the engine's unit tests cover unsetting.)
#[workflow]
#[derive(Default)]
pub struct Tagger {
    done: bool,
}

#[workflow_methods]
impl Tagger {
    #[run(name = "Tagger")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, stage: String) -> WorkflowResult<()> {
        ctx.upsert_search_attributes([STAGE.value_set(stage), COUNT.value_set(7)]);
        ctx.upsert_memo([
            (
                "note",
                Some(MemoValue::new("set by the workflow".to_owned())),
            ),
            ("gone", None),
        ])?;
        ctx.wait_condition(|s: &Self| s.done).await?;
        Ok(())
    }

    #[signal(name = "finish")]
    pub fn finish(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _unit: ()) {
        self.done = true;
    }
}

/// Sleeps 1 ms at a time until the server suggests continuing as new (at most `limit`
/// times); returns how many timers it took, or `limit` + 1 when no suggestion came.
#[workflow]
#[derive(Default)]
pub struct Suggested;

#[workflow_methods]
impl Suggested {
    #[run(name = "Suggested")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, limit: u32) -> WorkflowResult<u32> {
        for timers in 0..=limit {
            if ctx.continue_as_new_suggested() {
                return Ok(timers);
            }
            ctx.timer(Duration::from_millis(1)).await;
        }
        Ok(limit + 1)
    }
}

/// Runs `parked` (activity id `park`, one attempt) and reports how it ended.
#[workflow]
#[derive(Default)]
pub struct AwaitsAsync;

#[workflow_methods]
impl AwaitsAsync {
    #[run(name = "AwaitsAsync")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, key: String) -> WorkflowResult<String> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
            .activity_id("park".to_owned())
            .retry_policy(RetryPolicy::builder().maximum_attempts(1).build())
            .build();
        Ok(
            match ctx
                .execute_activity(SuiteActivities::parked, key, options)
                .await
            {
                Ok(result) => format!("completed: {result}"),
                Err(ActivityExecutionError::Cancelled(_)) => "cancelled".to_owned(),
                Err(e) => format!("failed: {e}"),
            },
        )
    }
}

/// Naps on a timer with a summary.
#[workflow]
#[derive(Default)]
pub struct Summarized;

#[workflow_methods]
impl Summarized {
    #[run(name = "Summarized")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _input: ()) -> WorkflowResult<()> {
        let nap = temporalio_sdk::TimerOptions::builder(Duration::from_millis(1))
            .summary("nap".to_owned())
            .build();
        ctx.timer(nap).await;
        Ok(())
    }
}

pub fn register(
    options: &mut temporalio_sdk::WorkerOptions,
) -> Result<(), temporalio_sdk::WorkflowRegistrationError> {
    options
        .register_workflow::<Echo>()?
        .register_workflow::<Accumulator>()?
        .register_workflow::<Sleeper>()?
        .register_workflow::<Retrier>()?
        .register_workflow::<TimesOut>()?
        .register_workflow::<Heartbeater>()?
        .register_workflow::<Parent>()?
        .register_workflow::<Counter>()?
        .register_workflow::<Patient>()?
        .register_workflow::<Leaver>()?
        .register_workflow::<Tagger>()?
        .register_workflow::<Suggested>()?
        .register_workflow::<AwaitsAsync>()?
        .register_workflow::<Summarized>()?
        .register_activities(SuiteActivities);
    Ok(())
}
