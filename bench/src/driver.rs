//! The load generator: runs `count` operations, `concurrency` at a time, times each one
//! from its start to its end, and reports every completion as it happens (the soak uses
//! that to cut its slices). The first failure stops the batch.

use std::future::Future;
use std::time::Instant;

use futures::StreamExt;

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
