//! The workloads: one workflow type each, the smallest code that exercises one path, and
//! the client side of one run of each. Workload 5 (the orders flow) is not hosted here: it
//! goes through the orders binaries' HTTP API (`crate::orders`).

mod activities;
mod basic;
mod fan_out;
mod signal_timer;
mod wait;

use std::time::{Duration, Instant};

use workflow::{StartOptions, WorkflowClient};

use activities::BenchActivities;
pub(crate) use basic::EchoWorkflow as Echo;
use basic::{EchoWorkflow, OneActivity, TenActivities};
pub(crate) use fan_out::FAN_OUT;
use fan_out::FanOut;
use signal_timer::SignalTimer;
pub(crate) use signal_timer::TIMER;
pub(crate) use wait::WaitSignal;

/// How long the client waits for one workflow's result before calling it stuck.
const RESULT_WAIT: Duration = Duration::from_secs(120);

/// A workload the harness can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Workload {
    /// 1: a workflow that returns its input.
    Echo,
    /// 2: one activity.
    OneActivity,
    /// 3: wait for a signal, sleep a durable timer; the client queries once.
    SignalTimerQuery,
    /// 4: ten sequential activities.
    TenActivities,
    /// 5: the orders flow through the orders HTTP API.
    Orders,
    /// 6: a fan-out of [`FAN_OUT`] activities joined in one workflow.
    FanOut,
}

impl Workload {
    pub(crate) fn parse(number: &str) -> Option<Self> {
        match number.trim() {
            "1" => Some(Self::Echo),
            "2" => Some(Self::OneActivity),
            "3" => Some(Self::SignalTimerQuery),
            "4" => Some(Self::TenActivities),
            "5" => Some(Self::Orders),
            "6" => Some(Self::FanOut),
            _ => None,
        }
    }

    pub(crate) fn number(self) -> u8 {
        match self {
            Self::Echo => 1,
            Self::OneActivity => 2,
            Self::SignalTimerQuery => 3,
            Self::TenActivities => 4,
            Self::Orders => 5,
            Self::FanOut => 6,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Echo => "1 echo",
            Self::OneActivity => "2 one activity",
            Self::SignalTimerQuery => "3 signal+10ms timer+query",
            Self::TenActivities => "4 ten activities",
            Self::Orders => "5 orders (HTTP)",
            Self::FanOut => "6 fan-out 100",
        }
    }

    /// Whether the bench worker hosts it (all but the orders flow).
    pub(crate) fn hosted(self) -> bool {
        self != Self::Orders
    }

    /// Runs one workflow of this workload from start to result.
    pub(crate) async fn run_one(self, client: &WorkflowClient, input: u64) -> anyhow::Result<()> {
        self.run_one_timing_start(client, input).await.map(|_| ())
    }

    /// Runs one workflow of this workload from start to result; returns how long its start
    /// took to be answered.
    pub(crate) async fn run_one_timing_start(
        self,
        client: &WorkflowClient,
        input: u64,
    ) -> anyhow::Result<Duration> {
        let id = format!("bench-{}", uuid::Uuid::new_v4());
        let options = StartOptions::default();
        let began = Instant::now();
        let started = match self {
            Self::Echo => {
                let h = client.start(EchoWorkflow::run, id, input, options).await?;
                let started = began.elapsed();
                h.result(RESULT_WAIT).await?;
                started
            }
            Self::OneActivity => {
                let h = client.start(OneActivity::run, id, input, options).await?;
                let started = began.elapsed();
                h.result(RESULT_WAIT).await?;
                started
            }
            Self::SignalTimerQuery => {
                let h = client.start(SignalTimer::run, id, input, options).await?;
                let started = began.elapsed();
                h.signal(SignalTimer::release, ()).await?;
                h.query(SignalTimer::phase, ()).await?;
                h.result(RESULT_WAIT).await?;
                started
            }
            Self::TenActivities => {
                let h = client.start(TenActivities::run, id, input, options).await?;
                let started = began.elapsed();
                h.result(RESULT_WAIT).await?;
                started
            }
            Self::FanOut => {
                let h = client.start(FanOut::run, id, input, options).await?;
                let started = began.elapsed();
                h.result(RESULT_WAIT).await?;
                started
            }
            Self::Orders => {
                anyhow::bail!("workload 5 runs through the orders HTTP API, not the bench worker")
            }
        };
        Ok(started)
    }
}

/// Registers every hosted workload on a worker.
pub(crate) fn register(
    options: &mut temporalio_sdk::WorkerOptions,
) -> Result<(), temporalio_sdk::WorkflowRegistrationError> {
    options
        .register_workflow::<EchoWorkflow>()?
        .register_workflow::<OneActivity>()?
        .register_workflow::<SignalTimer>()?
        .register_workflow::<TenActivities>()?
        .register_workflow::<FanOut>()?
        .register_workflow::<WaitSignal>()?
        .register_activities(BenchActivities);
    Ok(())
}
