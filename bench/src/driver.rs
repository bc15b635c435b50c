//! The load generator: runs `count` operations, `concurrency` at a time, times each one
//! from its start to its end, and reports every completion as it happens (the soak uses
//! that to cut its slices). The first failure stops the batch.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::StreamExt;
use temporalio_common::protos::temporal::api::workflowservice::v1::{
    CountWorkflowExecutionsRequest, ListWorkflowExecutionsRequest,
};

use crate::args::Plan;
use crate::proc_stats::cpu_seconds_all;

/// Runs `one(0)` .. `one(count - 1)`, `concurrency` in flight; calls `on_done(n, ms)` for the
/// n-th completion (1-based); returns each latency in milliseconds, in completion order.
pub(crate) async fn run<F, Fut>(
    count: usize,
    concurrency: usize,
    one: F,
    mut on_done: impl FnMut(usize, f64),
) -> anyhow::Result<Vec<f64>>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let one = &one;
    let mut stream = futures::stream::iter(0..count)
        .map(|i| async move {
            let started = Instant::now();
            one(i as u64).await?;
            Ok::<f64, anyhow::Error>(started.elapsed().as_secs_f64() * 1000.0)
        })
        .buffer_unordered(concurrency.max(1));
    let mut latencies = Vec::with_capacity(count);
    while let Some(result) = stream.next().await {
        let ms = result?;
        latencies.push(ms);
        on_done(latencies.len(), ms);
    }
    Ok(latencies)
}

/// What one measured batch took and cost.
pub(crate) struct Batch {
    /// Each operation's latency in milliseconds, in completion order.
    pub(crate) latencies: Vec<f64>,
    /// Wall time of the whole batch.
    pub(crate) wall: Duration,
    /// CPU seconds each watched group of processes spent during the batch, in the order given.
    pub(crate) cpu: Vec<f64>,
    /// How much the database grew during the batch, in bytes.
    pub(crate) db_growth: u64,
}

/// Runs `plan.warmup` operations of `one` unmeasured, then `plan.count` measured ones (both
/// `plan.concurrency` at a time), reading the CPU time of each group in `watched` and
/// `database_bytes` around the measured batch only.
pub(crate) async fn measured_batch<F, Fut>(
    plan: Plan,
    one: F,
    watched: &[&[u32]],
    database_bytes: impl Fn() -> u64,
) -> anyhow::Result<Batch>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    run(plan.warmup, plan.concurrency, &one, |_, _| {}).await?;
    let cpu_before: Vec<f64> = watched.iter().map(|pids| cpu_seconds_all(pids)).collect();
    let db_before = database_bytes();
    let started = Instant::now();
    let latencies = run(plan.count, plan.concurrency, &one, |_, _| {}).await?;
    let wall = started.elapsed();
    let cpu = watched
        .iter()
        .zip(cpu_before)
        .map(|(pids, before)| cpu_seconds_all(pids) - before)
        .collect();
    Ok(Batch {
        latencies,
        wall,
        cpu,
        db_growth: database_bytes().saturating_sub(db_before),
    })
}

/// The value at quantile `q` (0..=1) of sorted values; 0 when empty.
pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Sorted copy.
pub(crate) fn sorted(values: &[f64]) -> Vec<f64> {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    values
}

/// Awaits `call`, adds how long it took (milliseconds) to `times`, and returns its answer.
pub(crate) async fn timed<T>(
    times: &mut Vec<f64>,
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> anyhow::Result<T> {
    let started = Instant::now();
    let answer = call.await?.into_inner();
    times.push(ms_since(started));
    Ok(answer)
}

/// Milliseconds since `started`.
pub(crate) fn ms_since(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// A page of `page_size` of the default namespace's workflows that match `query` (empty:
/// all of them).
pub(crate) fn list_page(
    page_size: i32,
    query: &str,
) -> tonic::Request<ListWorkflowExecutionsRequest> {
    tonic::Request::new(ListWorkflowExecutionsRequest {
        namespace: "default".into(),
        page_size,
        query: query.into(),
        ..Default::default()
    })
}

/// A count of all the default namespace's workflows.
pub(crate) fn count_all() -> tonic::Request<CountWorkflowExecutionsRequest> {
    tonic::Request::new(CountWorkflowExecutionsRequest {
        namespace: "default".into(),
        query: String::new(),
    })
}
